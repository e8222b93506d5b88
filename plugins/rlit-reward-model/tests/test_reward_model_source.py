"""The `reward-model` source on real tiny models: a random GPT-2 classifier and a MiniLM head trained here."""

from __future__ import annotations

import json
import math
import random

import pytest

from rlit.errors import ConfigError

POLITE = [
    "Thank you for asking, I am happy to help with that.",
    "Certainly, here is a friendly and careful answer.",
    "I appreciate your question; let me walk you through it.",
    "Glad to help, and please ask again any time.",
    "Sure thing, thanks for your patience.",
    "What a thoughtful question, thank you.",
]
RUDE = [
    "Go away, I will not waste time on you.",
    "That is an idiotic question, stop asking.",
    "Do it yourself, nobody cares.",
    "Ugh, you again? Get lost.",
    "Shut up, that is obviously wrong.",
    "You are hopeless and annoying.",
]


@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory):
    """A MiniLM + Bradley-Terry folder trained in seconds by `rlit train reward-model` on polite vs rude."""
    from rlit.training.reward_model import load_reward_model_config, train_reward_model

    tmp = tmp_path_factory.mktemp("minilm-rm")
    rng = random.Random(1)
    with (tmp / "pairs.jsonl").open("w") as fh:
        for i in range(40):
            fh.write(json.dumps({"prompt": f"Please help with task {i}.", "chosen": rng.choice(POLITE), "rejected": rng.choice(RUDE)}) + "\n")
    cfg = load_reward_model_config({"train_file": str(tmp / "pairs.jsonl"), "output_dir": str(tmp / "rm"), "eval_fraction": 0.25,
                                    "head_epochs": 150, "features": "completion+prompt", "head": "mlp", "hidden": 32})
    train_reward_model(cfg, log=lambda m: None)
    return tmp / "rm"


def test_registered_through_its_entry_point(registry):
    entry = registry.sources["reward-model"]
    assert entry.distribution == "rlit-reward-model" and entry.plugin == "reward-model"
    assert "model" in {o.name for o in entry.cls.options() if o.required}


def test_minilm_folder_prefers_polite_on_new_phrases(registry, minilm_dir):
    source = registry.source_class("reward-model")(model=str(minilm_dir))
    assert source.kind == "minilm" and source.minilm.head_config.features == "completion+prompt"
    prompts = ["Can you help me fix my bicycle?"] * 4
    good = ["Thanks for asking! I would be glad to help you fix it.", "Of course, kindly let me explain how."]
    bad = ["Fix it yourself, stop bothering me.", "What a dumb thing to ask. Go away."]
    scores = source.score(prompts, good + bad)
    assert min(scores[:2]) > max(scores[2:])
    # TRL's calling convention: conversational completions, extra keywords ignored.
    trl = source(prompts=prompts[:1], completions=[[{"role": "assistant", "content": good[0]}]], trainer_state=None)
    assert trl == pytest.approx(scores[:1], abs=1e-5)


def test_classifier_folder_scores_are_batch_invariant(tiny_reward_dir):
    from rlit_reward_model import RewardModelSource

    prompts = ["Say something.", "", "A much longer prompt with several more words in it, to vary lengths."]
    completions = ["ok", "Hello there, how are you today?", "Fine."]
    one = RewardModelSource(str(tiny_reward_dir), batch_size=1).score(prompts, completions)
    many = RewardModelSource(str(tiny_reward_dir), batch_size=8).score(prompts, completions)
    assert len(one) == 3 and all(isinstance(x, float) and math.isfinite(x) for x in one)
    assert many == pytest.approx(one, abs=1e-4)  # padding must not change a row's score
    assert len(set(round(x, 6) for x in one)) == 3


def test_truncation_side_keeps_the_chosen_end(tiny_reward_dir):
    from rlit_reward_model import RewardModelSource

    head_a, head_b, tail = "alpha " * 40, "omega " * 40, " and the final answer, after all of that, is forty two." * 3
    left = RewardModelSource(str(tiny_reward_dir), max_length=16)  # default: truncate from the left
    a, b = left.score(["", ""], [head_a + tail, head_b + tail])
    assert a == pytest.approx(b, abs=1e-6)  # only the shared end was seen
    right = RewardModelSource(str(tiny_reward_dir), max_length=16, truncation_side="right")
    a, c = right.score(["", ""], [head_a + tail, head_a + "something else entirely"])
    assert a == pytest.approx(c, abs=1e-6)  # only the shared beginning was seen


def test_uses_its_own_chat_template_when_it_has_one(tiny_reward_dir, tmp_path):
    import shutil

    from rlit.lm.reward_model import format_texts, score_ids, tokenize
    from rlit_reward_model import RewardModelSource

    folder = tmp_path / "rm-chat"
    shutil.copytree(tiny_reward_dir, folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    source = RewardModelSource(str(folder))
    assert source.use_chat_template
    rendered = format_texts(source.tok, ["Hi"], ["Hello!"], chat_template=True)
    assert rendered == ["<user>Hi\n<assistant>Hello!\n"]
    expected = score_ids(source.model, source.tok.pad_token_id, tokenize(source.tok, rendered, 256, True).ids)
    assert source.score(["Hi"], ["Hello!"]) == pytest.approx(expected, abs=1e-6)
    plain = RewardModelSource(str(folder), chat_template="never")
    assert not plain.use_chat_template and plain.score(["Hi"], ["Hello!"]) != pytest.approx(expected, abs=1e-6)


def test_sigmoid_output(tiny_reward_dir):
    from rlit_reward_model import RewardModelSource

    logits = RewardModelSource(str(tiny_reward_dir)).score(["q", "q"], ["yes", "no"])
    probs = RewardModelSource(str(tiny_reward_dir), output="sigmoid").score(["q", "q"], ["yes", "no"])
    assert probs == pytest.approx([1 / (1 + math.exp(-x)) for x in logits])


def test_clear_errors(tmp_path):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from rlit.lm.builtin import gpt2_tokenizer
    from rlit_reward_model import RewardModelSource

    with pytest.raises(ConfigError, match="cannot load reward model"):
        RewardModelSource(str(tmp_path / "no-such-folder"))
    two = tmp_path / "two-labels"
    GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=16, n_head=2, num_labels=2, vocab_size=50257)).save_pretrained(two)
    gpt2_tokenizer().save_pretrained(two)
    with pytest.raises(ConfigError, match="num_labels=2"):
        RewardModelSource(str(two))
    with pytest.raises(ConfigError, match="truncation_side"):
        RewardModelSource(str(two), truncation_side="middle")


def test_in_a_composite(tiny_reward_dir, registry):
    from rlit.plugins import load_reward

    cr = load_reward({"sources": [{"name": "reward-model", "weight": 2.0, "options": {"model": str(tiny_reward_dir)}}]}, registry=registry)
    res = cr.score_batch(["q", "q"], ["first answer", "second answer"])
    raw = res.per_source["reward-model"]
    assert res.total == pytest.approx([2 * x for x in raw])
