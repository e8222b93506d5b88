"""PPO checkpoints: no pickles, a corrupt newest checkpoint falls back to the one before, and
``--resume`` refuses a changed config unless the change is accepted (and then records it)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from rlit.errors import ConfigError
from rlit.training.ppo import checkpoint as ckpt

REWARD = {"sources": [{"name": "length", "options": {"min": 2, "max": 40}}]}


def _config(tmp_path, policy, **ppo):
    from rlit.training.ppo.config import ppo_config_from_dict

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say thing {i}."}) + "\n" for i in range(8)))
    return ppo_config_from_dict({
        "model": {"policy": str(policy), "device": "cpu"}, "data": {"train": str(prompts)},
        "generation": {"max_new_tokens": 4}, "ppo": {"steps": 2, "batch_size": 2, "ppo_epochs": 1, **ppo},
        "output": {"dir": str(tmp_path / "run"), "save_every": 1}, "reward": REWARD,
    }, "run.toml")


@pytest.fixture
def trained_run(tmp_path, tiny_policy_dir, registry):
    from rlit.training.ppo.trainer import train_ppo

    train_ppo(_config(tmp_path, tiny_policy_dir))
    return tmp_path


def test_codec_round_trips_optimizer_and_rng_state_without_pickle():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"optimizer": opt.state_dict(), "rng": ckpt.rng_state()}
    tensors: dict[str, torch.Tensor] = {}
    blob = json.loads(json.dumps(ckpt.encode(state, tensors)))  # must be plain JSON
    back = ckpt.decode(blob, tensors)
    assert back["optimizer"]["state"].keys() == state["optimizer"]["state"].keys()  # int keys survive
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])
    ckpt.set_rng_state(back["rng"])
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.set_rng_state(state["rng"])
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())


def test_checkpoint_holds_no_pickle_and_resume_never_unpickles(trained_run, tiny_policy_dir, monkeypatch):
    from rlit.training.ppo.trainer import PPOTrainer

    folder = trained_run / "run" / "checkpoints" / "step-000002"
    assert sorted(p.name for p in folder.iterdir()) == ["policy", "state.json", "tensors.safetensors", "training.json"]
    assert json.loads((folder / "state.json").read_text())["config"]["ppo.batch_size"] == 2

    def no_pickles(*args, **kwargs):
        raise AssertionError("torch.load called on resume")

    monkeypatch.setattr(torch, "load", no_pickles)
    trainer = PPOTrainer(_config(trained_run, tiny_policy_dir, steps=3), resume=True)
    assert trainer.step == 2


def test_corrupt_newest_checkpoint_falls_back_with_a_warning(trained_run, tiny_policy_dir, capsys):
    from rlit.training.ppo.trainer import PPOTrainer

    newest = trained_run / "run" / "checkpoints" / "step-000002" / "tensors.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated
    trainer = PPOTrainer(_config(trained_run, tiny_policy_dir, steps=3), resume=True)
    assert trainer.step == 1
    assert "skipping checkpoint step-000002" in capsys.readouterr().err


def test_no_usable_checkpoint_names_the_folder(trained_run, tiny_policy_dir):
    from rlit.training.ppo.trainer import PPOTrainer

    for folder in (trained_run / "run" / "checkpoints").glob("step-*"):
        (folder / "training.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"run/checkpoints: no usable checkpoint \(2 unreadable"):
        PPOTrainer(_config(trained_run, tiny_policy_dir, steps=3), resume=True)


def test_old_pickle_checkpoints_are_refused_not_loaded(tmp_path):
    folder = tmp_path / "checkpoints" / "step-000001"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text('{"step": 1}')
    (folder / "training.pt").write_bytes(b"\x80\x04not loaded")
    with pytest.raises(ConfigError, match="no usable checkpoint.*older rlit as a pickle"):
        ckpt.read_newest(tmp_path, warn=lambda line: None)


def test_resume_with_a_changed_key_is_refused_naming_both_values(trained_run, tiny_policy_dir):
    from rlit.training.ppo.trainer import PPOTrainer

    with pytest.raises(ConfigError, match=r"run.toml: --resume: .*\[ppo\] learning_rate: checkpoint 3e-06, config 0.01.*--accept-config-change"):
        PPOTrainer(_config(trained_run, tiny_policy_dir, steps=3, learning_rate=0.01), resume=True)
    config_json = json.loads((trained_run / "run" / "config.json").read_text())
    assert config_json["ppo"]["learning_rate"] == 3e-06  # never shows values the run does not use


def test_accepted_change_is_used_and_recorded(trained_run, tiny_policy_dir):
    from rlit.training.ppo.trainer import PPOTrainer

    trainer = PPOTrainer(_config(trained_run, tiny_policy_dir, steps=3, learning_rate=0.01), resume=True, accept_config_change=True)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 2 / 3))  # the new rate, on the schedule
    changes = json.loads((trained_run / "run" / "config-changes.json").read_text())
    assert changes == [{"step": 2, "key": "ppo.learning_rate", "checkpoint": 3e-06, "config": 0.01}]
    assert json.loads((trained_run / "run" / "config.json").read_text())["ppo"]["learning_rate"] == 0.01


def test_steps_may_change_on_resume(trained_run, tiny_policy_dir):
    from rlit.training.ppo.trainer import PPOTrainer

    assert PPOTrainer(_config(trained_run, tiny_policy_dir, steps=5), resume=True).step == 2
