"""The reward config: every bad key is one error line naming the file and the key."""

from __future__ import annotations

import pytest

from rlit.errors import ConfigError
from rlit.rewards.config import load_reward_config

GOOD = """
normalize = "running"
clip = 5.0
cache_dir = "cache"

[[sources]]
name = "example-lowercase"
weight = 1.0
options = { min_letters = 3 }

[[sources]]
name = "example-lowercase"
label = "calm"
weight = -0.5
normalize = "none"
veto = { below = 0.2, penalty = -1.0 }
on_error = "skip"
timeout = 2.5
cache = false
"""


def write(tmp_path, text, name="reward.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_config_loads(tmp_path):
    cfg = load_reward_config(write(tmp_path, GOOD))
    assert cfg.normalize == "running" and cfg.clip == 5.0
    assert cfg.cache_dir == str(tmp_path / "cache")  # relative to the config file
    first, second = cfg.sources
    assert first.options == {"min_letters": 3} and first.key == "example-lowercase" and first.on_error == "fail"
    assert second.key == "calm" and second.veto.below == 0.2 and second.timeout == 2.5 and second.cache is False
    assert cfg.origin.endswith("reward.toml")


@pytest.mark.parametrize("change, message", [
    ('weight = 1.0', r"reward.toml: sources\[0\].weight: Input should be a valid number.*\(got 'high'\)"),
    ('options = { min_letters = 3 }', r"reward.toml: sources\[0\].wieght: unknown key; valid keys: cache, columns, completions, function, label, name"),
    ('normalize = "running"', r"reward.toml: normalize: Input should be 'none', 'batch' or 'running' \(got 'zscore'\)"),
    ('clip = 5.0', r"reward.toml: clip: Input should be greater than 0"),
    ('timeout = 2.5', r"reward.toml: sources\[1\].timeout: Input should be greater than 0"),
    ('on_error = "skip"', r"reward.toml: sources\[1\].on_error: Input should be 'fail' or 'skip'"),
    ('veto = { below = 0.2, penalty = -1.0 }', r"reward.toml: sources\[1\].veto: give exactly one of 'above' or 'below'"),
    ('label = "calm"', r"reward.toml: sources\[1\]: 'example-lowercase' appears twice; give one a distinct 'label'"),
])
def test_bad_key_names_file_and_key(tmp_path, change, message):
    replacement = {
        'weight = 1.0': 'weight = "high"',
        'options = { min_letters = 3 }': 'wieght = 2',
        'normalize = "running"': 'normalize = "zscore"',
        'clip = 5.0': 'clip = -1',
        'timeout = 2.5': 'timeout = 0',
        'on_error = "skip"': 'on_error = "ignore"',
        'veto = { below = 0.2, penalty = -1.0 }': 'veto = { above = 1, below = 0.2, penalty = -1.0 }',
        'label = "calm"': '',
    }[change]
    path = write(tmp_path, GOOD.replace(change, replacement, 1))
    with pytest.raises(ConfigError, match=message):
        load_reward_config(path)


def test_unknown_top_level_key_and_missing_sources(tmp_path):
    with pytest.raises(ConfigError, match=r"r.toml: normalise: unknown key; valid keys: cache_dir, cache_size, clip, normalize, sources"):
        load_reward_config(write(tmp_path, 'normalise = "batch"\n[[sources]]\nname = "x"\n', "r.toml"))
    with pytest.raises(ConfigError, match=r"r.toml: sources: Field required"):
        load_reward_config(write(tmp_path, 'clip = 1.0\n', "r.toml"))


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML: .*line 2"):
        load_reward_config(write(tmp_path, '[[sources]]\nname = \n', "bad.toml"))
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        load_reward_config(tmp_path / "nope.toml")


def test_dict_config_uses_origin():
    with pytest.raises(ConfigError, match=r"^trainer.toml \[reward\]: sources\[0\].name: Field required"):
        load_reward_config({"sources": [{"weight": 1}]}, origin="trainer.toml [reward]")
    assert load_reward_config({"sources": [{"name": "a"}]}).sources[0].weight == 1.0
