"""`--set key=value`: applied to the parsed TOML before validation, errors name the --set."""

from __future__ import annotations

import pytest

from rlit.configfile import apply_overrides, load_stage, parse_set
from rlit.errors import ConfigError
from rlit.training.sft import SFTStageConfig

SFT = 'model = "org/name"\ntrain_file = "t.jsonl"\noutput_dir = "out"\n'


@pytest.mark.parametrize("item, parts, value", [
    ("ppo.learning_rate=1e-5", ["ppo", "learning_rate"], 1e-5),
    ("max_steps=3", ["max_steps"], 3),
    ("bf16=true", ["bf16"], True),
    ("model=org/name", ["model"], "org/name"),  # not TOML: kept as the string typed
    ('name="a b"', ["name"], "a b"),
    ("files=[1, 2]", ["files"], [1, 2]),
    ("x.y=", ["x", "y"], ""),
])
def test_values_parse_as_toml_else_strings(item, parts, value):
    assert parse_set(item) == (parts, value)


@pytest.mark.parametrize("item", ["noequals", "=1", "a..b=1", ".a=1"])
def test_malformed_sets_are_one_line_config_errors(item):
    with pytest.raises(ConfigError, match=r"^--set .*expected key=value"):
        parse_set(item)


def test_overrides_make_tables_and_never_touch_the_input():
    data = {"ppo": {"learning_rate": 1.0}}
    out = apply_overrides(data, ["ppo.learning_rate=2.0", "generation.max_new_tokens=8"])
    assert out == {"ppo": {"learning_rate": 2.0}, "generation": {"max_new_tokens": 8}}
    assert data == {"ppo": {"learning_rate": 1.0}}


def test_a_dotted_key_through_a_value_is_an_error():
    with pytest.raises(ConfigError, match=r"--set lr.x=1: 'lr' is not a table"):
        apply_overrides({"lr": 1.0}, ["lr.x=1"])


def test_overrides_are_validated_like_the_file_and_named(tmp_path):
    path = tmp_path / "sft.toml"
    path.write_text(SFT)
    assert load_stage(SFTStageConfig, path, "sft", ["max_steps=3"]).max_steps == 3
    with pytest.raises(ConfigError, match=r"^--set learning_rate: .*sft.toml: learning_rate: Input should be greater than 0"):
        load_stage(SFTStageConfig, path, "sft", ["learning_rate=-1"])
    with pytest.raises(ConfigError, match=r"^--set learnin_rate: .*unknown key 'learnin_rate' \(did you mean 'learning_rate'\?\)"):
        load_stage(SFTStageConfig, path, "sft", ["learnin_rate=1"])


def test_an_error_in_the_file_is_not_blamed_on_a_set(tmp_path):
    path = tmp_path / "sft.toml"
    path.write_text(SFT + "epochs = -1\n")
    with pytest.raises(ConfigError, match=r"^\S*sft.toml: epochs"):
        load_stage(SFTStageConfig, path, "sft", ["max_steps=3"])


def test_pipeline_style_file_takes_dotted_section_keys(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[sft]\n" + SFT)
    assert load_stage(SFTStageConfig, path, "sft", ["sft.max_steps=4"]).max_steps == 4


def test_ppo_set_names_the_override(tmp_path):
    from rlit.training.ppo import load_ppo_config

    path = tmp_path / "ppo.toml"
    path.write_text('[model]\npolicy = "org/p"\n[data]\ntrain = "p.jsonl"\n[reward]\n[[reward.sources]]\nname = "length"\n')
    with pytest.raises(ConfigError, match=r"^--set ppo.learning_rate: .*\[ppo\] learning_rate"):
        load_ppo_config(path, ["ppo.learning_rate=-1e-5"])


@pytest.mark.parametrize("argv", [
    ["train", "sft"], ["train", "grpo"], ["train", "rloo"], ["train", "ppo"],
    ["train", "reward-model"], ["train", "preference-pairs"], ["pipeline"],
])
def test_every_config_command_takes_set(tmp_path, capsys, argv):
    from rlit.cli.app import main

    path = tmp_path / "c.toml"
    path.write_text("")
    with pytest.raises(SystemExit) as exc:
        main([*argv, "-c", str(path), "--set", "bogus_key_xyz=1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--set bogus_key_xyz" in err and "Traceback" not in err
