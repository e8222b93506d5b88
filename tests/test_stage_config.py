"""The one typed layer for stage configs: finite floats, field bounds, devices, path resolution."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from rlit.configfile import POSITIVE, ConfigModel, ConfigPath, Device, ModelName, build, load_stage, resolve_model, resolve_path
from rlit.errors import ConfigError


class Inner(ConfigModel):
    rate: Annotated[float, POSITIVE] = 1.0


class Stage(ConfigModel):
    data: ConfigPath = "d.jsonl"
    model: ModelName = "org/name"
    files: list[ConfigPath] = []
    scale: float | None = None
    device: Device = "cpu"
    inner: Inner = Field(default_factory=Inner)


@pytest.mark.parametrize("data, message", [
    ({"scale": float("nan")}, r"s.toml: \[x\] scale: Input should be a finite number"),
    ({"inner": {"rate": float("inf")}}, r"inner.rate: Input should be a finite number"),
    ({"inner": {"rate": 0}}, r"inner.rate: Input should be greater than 0 \(got 0\)"),
    ({"device": "banana"}, r"device: not a device .*\(got 'banana'\)"),
])
def test_every_float_is_finite_and_bounds_hold(data, message):
    with pytest.raises(ConfigError, match=message):
        build(Stage, data, "s.toml: [x]")


def test_paths_resolve_against_the_config_folder_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "cfg" / "local-model").mkdir(parents=True)
    (tmp_path / "cfg" / "s.toml").write_text('data = "d.jsonl"\nfiles = ["a.jsonl", "/abs.jsonl"]\nmodel = "local-model"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_stage(Stage, "cfg/s.toml", "stage")
    assert cfg.data == str(tmp_path / "cfg" / "d.jsonl")
    assert cfg.files == [str(tmp_path / "cfg" / "a.jsonl"), "/abs.jsonl"]
    assert cfg.model == str(tmp_path / "cfg" / "local-model")
    assert resolve_model("org/name", tmp_path) == "org/name" and resolve_model("builtin:tiny-gpt2", tmp_path) == "builtin:tiny-gpt2"
    assert resolve_path("hf:dataset", tmp_path) == "hf:dataset"


def test_sft_config_resolves_like_every_other_stage(tmp_path, monkeypatch):
    from rlit.training.sft import SFTStageConfig

    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "sft.toml").write_text('model = "org/m"\ntrain_file = "t.jsonl"\noutput_dir = "out"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_stage(SFTStageConfig, "cfg/sft.toml", "sft")
    assert cfg.train_file == str(tmp_path / "cfg" / "t.jsonl") and cfg.output_dir == str(tmp_path / "cfg" / "out")


def test_the_ppo_key_reference_in_the_docs_is_generated_from_the_models():
    from pathlib import Path

    from rlit.training.ppo.config import config_reference

    docs = (Path(__file__).resolve().parents[1] / "docs" / "training-ppo.md").read_text(encoding="utf-8")
    assert config_reference().strip() in docs


def test_defaults_resolve_like_written_paths(tmp_path):
    cfg = build(Stage, {}, "s.toml", tmp_path)
    assert cfg.data == str(tmp_path / "d.jsonl") and cfg.model == "org/name"


@pytest.mark.parametrize("unknown, message", [
    ("named", r"^s.toml: inner: unknown key 'rte' \(did you mean 'rate'\?\); valid keys: rate$"),
    ("listed", r"^s.toml: inner.rte: unknown key; valid keys: rate; did you mean 'rate'\?$"),
    ("pydantic", r"^s.toml: inner.rte: Extra inputs are not permitted; did you mean 'rate'\?$"),
])
def test_one_formatter_names_the_unknown_key_and_the_closest_valid_one(unknown, message):
    with pytest.raises(ConfigError, match=message):
        build(Stage, {"inner": {"rte": 2.0}}, "s.toml", unknown=unknown)


def test_array_items_are_named_by_their_name_key():
    class Item(ConfigModel):
        name: str
        size: Annotated[int, POSITIVE] = 1

    class Doc(ConfigModel):
        items: list[Item]

    with pytest.raises(ConfigError, match=r"^d.toml: items\[1\] \('b'\).size: Input should be greater than 0 \(got 0\)$"):
        build(Doc, {"items": [{"name": "a"}, {"name": "b", "size": 0}]}, "d.toml", names=True)
