"""The built-in SmolLM2: its saved copy in the rlit cache and the fingerprint stored with it."""

from __future__ import annotations

import os

import pytest

from rlit.lm.builtin import SMOLLM2, stored_fingerprint


def test_no_stored_fingerprint_for_other_models_or_dtypes():
    assert stored_fingerprint("some/folder", "float32") is None
    assert stored_fingerprint(SMOLLM2, "bfloat16") is None  # the stored hash is of the float32 weights


@pytest.mark.slow
def test_smollm2_copy_is_written_once_and_a_touched_copy_is_hashed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("RLIT_CACHE_DIR", str(tmp_path))
    from rlit.lm.generation import load_model
    from rlit.lm.loading import load_causal_lm
    from rlit.lm.fingerprint import model_fingerprint

    model, _ = load_causal_lm(SMOLLM2)  # first use: dequantises the GGUF and writes the copy
    (copy,) = list((tmp_path / "models").iterdir())  # no half-written folder left next to it
    assert (copy / "model.safetensors").is_file() and (copy / "tokenizer.json").is_file()
    real = model_fingerprint(model)
    assert stored_fingerprint(SMOLLM2, "float32") == real
    written = (copy / "model.safetensors").stat().st_mtime_ns
    assert load_model(SMOLLM2, device="cpu").fingerprint == real  # read from the copy, not rewritten
    assert (copy / "model.safetensors").stat().st_mtime_ns == written
    # A weights file changed after it was hashed: the stored hash no longer counts.
    os.utime(copy / "model.safetensors", ns=(written, written + 1))
    assert stored_fingerprint(SMOLLM2, "float32") is None
    assert load_model(SMOLLM2, device="cpu").fingerprint == real  # hashed from the loaded weights instead
