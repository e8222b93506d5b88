"""The whole pipeline end to end at toy scale, its resume, and its config errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlit.errors import ConfigError
from rlit.pipeline import load_pipeline_config

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "evals" / "data"


def _config(tmp_path: Path) -> Path:
    train = tmp_path / "train.jsonl"
    rows = [json.loads(line) for line in (DATA / "instructions-train.jsonl").read_text().splitlines()[:12]]
    train.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    sft = tmp_path / "sft.jsonl"
    sft.write_text("\n".join((DATA / "instructions-train-sft.jsonl").read_text().splitlines()[:32]) + "\n")
    suite = tmp_path / "heldout.toml"
    suite.write_text(f'''name = "toy-heldout"
[generation]
max_new_tokens = 8
batch_size = 8
[[evals]]
name = "ifeval-prompt-loose"
prompts = "{DATA / 'instructions-test.jsonl'}"
metric = {{ source = "ifeval", options = {{ mode = "loose" }} }}
aggregate = {{ method = "prompt_level" }}
''')
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text(f'''out_dir = "run"
[tiny]
n_layer = 1
n_embd = 32
n_head = 2
vocab_size = 400
tokenizer_files = ["sft.jsonl"]
[sft]
train_file = "sft.jsonl"
max_steps = 3
batch_size = 8
[preference_pairs]
prompts = "train.jsonl"
samples = 3
max_new_tokens = 8
reward = {{ sources = [{{ name = "length", options = {{ max = 5, unit = "chars" }} }}] }}
[reward_model]
kind = "minilm"
eval_fraction = 0.25
head_epochs = 5
[ppo.model]
device = "cpu"
[ppo.data]
train = "train.jsonl"
[ppo.generation]
max_new_tokens = 8
[ppo.ppo]
steps = 2
batch_size = 4
ppo_epochs = 1
[ppo.output]
save_every = 1
[[ppo.reward.sources]]
name = "ifeval"
options = {{ mode = "loose", reward = "fraction" }}
[[ppo.reward.sources]]
name = "reward-model"
weight = 0.1
options = {{ model = "@reward_model" }}
[heldout]
suite = "heldout.toml"
limit = 8
''')
    return cfg


def test_pipeline_runs_every_stage_and_resumes(tmp_path):
    cfg = _config(tmp_path)
    cmd = [sys.executable, "-m", "rlit", "pipeline", "--config", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "run"
    for stage in ("base", "sft", "pairs", "reward-model", "eval-before", "ppo", "eval-after"):
        assert (run / stage / "stage.json").exists(), stage
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["after"]["values"]) == {"ifeval-prompt-loose"}
    assert summary["after"]["comparison"]["ifeval-prompt-loose"]["n_pairs"] == 8
    assert "held-out evaluation" in proc.stdout
    assert (run / "eval-after" / "report.html").exists()
    # a second run finds every stage done and does no work
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout.count("done in an earlier run") == 7


def test_config_errors_name_the_file_and_key(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('out_dir = "x"\n[tiny]\nn_layers = 2\n')
    with pytest.raises(ConfigError, match=r"p.toml: .*n_layers"):
        load_pipeline_config(cfg)
    cfg.write_text('out_dir = "x"\n')
    with pytest.raises(ConfigError, match="set base_model or a \\[tiny\\] table"):
        load_pipeline_config(cfg)
    cfg.write_text('base_model = "m"\n[preference_pairs]\nprompts = "p.jsonl"\n')
    with pytest.raises(ConfigError, match="go together"):
        load_pipeline_config(cfg)


def test_reward_model_can_start_from_the_sft_model(tmp_path):
    """``base_model = "@policy"``: a transformer reward model initialised from the SFT model, then used by PPO."""
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace('kind = "minilm"', 'kind = "transformer"\nbase_model = "@policy"\nepochs = 1')
                   .replace("head_epochs = 5\n", ""))
    proc = subprocess.run([sys.executable, "-m", "rlit", "pipeline", "--config", str(cfg)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "run"
    manifest = json.loads((run / "reward-model" / "model" / "rlit-reward-model.json").read_text())
    assert manifest["kind"] == "transformer" and manifest["base_model"] == str(run / "sft" / "model")
    steps = [json.loads(line) for line in (run / "ppo" / "steps.jsonl").read_text().splitlines()]
    assert steps and all("reward-model" in s["reward/sources"] for s in steps)


def test_policy_as_reward_model_base_is_a_pipeline_only_name(tmp_path):
    from rlit.training.reward_model import load_reward_model_config

    with pytest.raises(ConfigError, match="@policy.*only works in `rlit pipeline`"):
        load_reward_model_config({"train_file": "p.jsonl", "output_dir": "o", "kind": "transformer", "base_model": "@policy"})


@pytest.mark.parametrize("name", ["quickstart/pipeline.toml", "quickstart/hacking.toml", "quickstart/longer.toml",
                                  "smollm2/pipeline.toml"])
def test_shipped_example_pipelines_load(name):
    """The example pipelines parse and validate, held-out suites included."""
    from rlit.evaluation.suite import load_suite

    cfg = load_pipeline_config(REPO / "examples" / name)
    assert cfg.ppo is not None
    if cfg.heldout is not None:
        assert load_suite(cfg.heldout.suite).evals


def test_a_ppo_typo_fails_at_load_not_after_sft(tmp_path):
    text = (REPO / "examples" / "quickstart" / "longer.toml").read_text().replace("steps = 330", "stepz = 330")
    cfg = tmp_path / "typo.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"typo.toml: \[ppo\].*stepz"):
        load_pipeline_config(cfg)


def test_reward_model_reference_needs_the_reward_model_stage(tmp_path):
    """``@reward_model`` names the reward model the run trains; without that stage it is a config error."""
    cfg = tmp_path / "p.toml"
    cfg.write_text('base_model = "m"\n[[ppo.reward.sources]]\nname = "reward-model"\noptions = { model = "@reward_model" }\n')
    with pytest.raises(ConfigError, match=r"p.toml: \[ppo.reward\] sources\[0\].options.model: '@reward_model'"):
        load_pipeline_config(cfg)


def test_every_pipeline_key_is_documented():
    """Each top-level key of a pipeline config has its row in docs/pipeline.md's key table."""
    from rlit.pipeline import PipelineConfig

    doc = (REPO / "docs" / "pipeline.md").read_text()
    table = doc[doc.index("## Keys"):doc.index("## Seeds")]
    rows = {line.split("|")[1].strip().strip("`").strip("[]") for line in table.splitlines() if line.startswith("| `")}
    assert set(PipelineConfig.model_fields) <= rows, set(PipelineConfig.model_fields) - rows
