"""The evaluation's own decode loop (finished rows leave the batch) against ``model.generate``."""

from __future__ import annotations

import pytest
import torch

from rlit.lm.decoding import decode, preallocated_cache, supports_fast_decode
from rlit.lm.generation import LoadedModel, _generate_batch
from rlit.lm.generation import GenerationSettings

PROMPTS = ["Write one line about the sea.", "Hi", "List three colours, then explain why each one matters to painters."]


@pytest.fixture(scope="module")
def tiny(tiny_policy_dir):
    from rlit.lm.loading import load_causal_lm

    model, tok = load_causal_lm(str(tiny_policy_dir))
    tok.padding_side = "left"
    return model, tok


def _batch(tok):
    return tok(PROMPTS, return_tensors="pt", padding=True)


def _hf(model, enc, new_tokens, **kwargs):
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=new_tokens, pad_token_id=model.generation_config.pad_token_id, **kwargs)
    return out[:, enc["input_ids"].shape[1]:].tolist()


def _trim(row, eos):
    """generate's row up to and including its first end-of-sequence token (it pads after it)."""
    for i, t in enumerate(row):
        if t in eos:
            return row[:i + 1]
    return row


def test_greedy_is_token_identical_to_generate_when_rows_finish_early(tiny):
    model, tok = tiny
    assert preallocated_cache(model, 20) is not None  # the loop below runs on the preallocated cache
    enc = _batch(tok)
    free = _hf(model, enc, 12, do_sample=False)
    # End-of-sequence tokens taken from the free-running greedy output, so rows stop at different
    # steps and the loop really drops rows from the batch and the cache.
    eos = [free[0][2], free[2][6]]
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = eos
    try:
        expected = [_trim(row, eos) for row in _hf(model, enc, 12, do_sample=False)]
        got = decode(model, enc["input_ids"], enc["attention_mask"], 12, eos)
    finally:
        model.generation_config.eos_token_id = saved
    assert min(map(len, got)) < max(map(len, got))  # a row left the batch while another went on
    assert got == expected


def test_sampling_matches_generate_and_is_reproducible(tiny):
    model, tok = tiny
    enc = _batch(tok)
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None  # no row finishes: generate draws for the same rows
    try:
        torch.manual_seed(5)
        expected = _hf(model, enc, 10, do_sample=True, temperature=0.7, top_p=0.9, top_k=0)
    finally:
        model.generation_config.eos_token_id = saved
    runs = [decode(model, enc["input_ids"], enc["attention_mask"], 10, [], do_sample=True, temperature=0.7,
                   top_p=0.9, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert runs[0] == runs[1] == expected
    other = decode(model, enc["input_ids"], enc["attention_mask"], 10, [], do_sample=True, temperature=0.7,
                   top_p=0.9, generator=torch.Generator().manual_seed(6))
    assert other != expected


def test_generate_batch_uses_the_loop_and_falls_back_for_extra_generation_config(tiny):
    model, tok = tiny
    lm = LoadedModel(model, tok, "tiny", "fp", "cpu")
    settings = GenerationSettings(max_new_tokens=8, chat_template="never")
    assert supports_fast_decode(model)
    fast = _generate_batch(lm, PROMPTS, settings, 0)
    enc = _batch(tok)
    assert fast == tok.batch_decode(_hf(model, enc, 8, do_sample=False), skip_special_tokens=True)
    saved = model.generation_config.repetition_penalty
    model.generation_config.repetition_penalty = 1.3  # something the own loop does not do
    try:
        assert not supports_fast_decode(model)
        penalised = _generate_batch(lm, PROMPTS, settings, 0)
        assert penalised == tok.batch_decode(_hf(model, enc, 8, do_sample=False), skip_special_tokens=True)
    finally:
        model.generation_config.repetition_penalty = saved
    assert supports_fast_decode(model)
