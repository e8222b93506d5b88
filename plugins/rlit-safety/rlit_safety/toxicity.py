"""The ``toxicity`` reward source: a probability in [0, 1] that a completion is toxic.

Backends:
- ``default`` (offline): alt-profanity-check's linear classifier on identity-neutralised text,
  combined with better-profanity's word list (see ``ProfanityBackend``).
- ``hf``: any Hugging Face sequence classifier, by folder or hub id (``model=...``).
- ``detoxify``: the detoxify package, when it and its weights are installed.
A backend whose package or weights are missing raises a ConfigError naming the install line; it
never scores 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from rlit.errors import ConfigError
from rlit.rewards.source import RewardSource

from rlit_safety.identity import neutralize_identity
from rlit_safety.packages import PROFANITY_INSTALL
from rlit_safety.wordlist import find_profanity

BACKENDS = ("default", "hf", "detoxify")


def looks_like_path(model: str) -> bool:
    """A local path rather than a hub id ("org/name"): absolute, relative with ./ or ~, or deeper than one slash."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


class Backend(Protocol):
    def predict(self, texts: list[str]) -> list[float]: ...

    def details(self, texts: list[str]) -> list[dict[str, Any]]: ...


class ProfanityBackend:
    """alt-profanity-check's probability, raised by listed profane words (noisy-or).

    ``p = 1 - (1 - p_classifier) * (1 - word_weight) ** n_words``: a text with no listed word keeps
    the classifier's probability; each listed word independently adds evidence. Identity terms are
    neutralised before both signals (by the source), and removed from the word list.
    """

    def __init__(self, word_weight: float = 0.5):
        try:
            from profanity_check import predict_prob
        except ImportError as exc:
            raise ConfigError(f"toxicity backend 'default' needs alt-profanity-check ({exc}); run: {PROFANITY_INSTALL}") from exc
        self._predict_prob = predict_prob
        self.word_weight = word_weight

    def classifier(self, texts: list[str]) -> list[float]:
        return [float(p) for p in self._predict_prob(texts)] if texts else []

    def predict(self, texts: list[str]) -> list[float]:
        return [row["toxicity"] for row in self.details(texts)]

    def details(self, texts: list[str]) -> list[dict[str, Any]]:
        out = []
        for text, p in zip(texts, self.classifier(texts)):
            words = find_profanity(text)
            combined = 1.0 - (1.0 - p) * (1.0 - self.word_weight) ** len(words)
            out.append({"toxicity": combined, "classifier": p, "profane_words": words})
        return out


class HFBackend:
    """A transformers sequence classifier; one label -> sigmoid, several -> the toxic label's probability."""

    def __init__(self, model: str | None, device: str = "cpu", batch_size: int = 32, max_length: int = 512, label: str | None = None):
        if not model:
            raise ConfigError("toxicity backend 'hf' needs option model = <folder or hub id of a sequence classifier>")
        if looks_like_path(model) and not Path(model).expanduser().is_dir():
            raise ConfigError(f"toxicity backend 'hf': model folder {model!r} does not exist")
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(f"toxicity backend 'hf' needs transformers ({exc}); run: pip install transformers torch") from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSequenceClassification.from_pretrained(model).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"toxicity backend 'hf': cannot load model {model!r}: {str(exc).splitlines()[0]}") from exc
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.device, self.batch_size = device, batch_size
        self.max_length = min(max_length, getattr(self.tokenizer, "model_max_length", max_length) or max_length)
        self.label_index = self._toxic_label(label)
        multi = getattr(self.model.config, "problem_type", None) == "multi_label_classification"
        self.use_sigmoid = self.model.config.num_labels == 1 or multi

    def _toxic_label(self, label: str | None) -> int:
        id2label = {int(i): str(name) for i, name in self.model.config.id2label.items()}
        if self.model.config.num_labels == 1:
            return 0
        if label is not None:
            for i, name in id2label.items():
                if name.lower() == label.lower():
                    return i
            raise ConfigError(f"toxicity backend 'hf': label {label!r} not in the model's labels {sorted(id2label.values())}")
        for i, name in id2label.items():
            if "toxic" in name.lower() and "non" not in name.lower():
                return i
        raise ConfigError(f"toxicity backend 'hf': which label is toxic? set option label to one of {sorted(id2label.values())}")

    def predict(self, texts: list[str]) -> list[float]:
        import torch

        out: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            with torch.no_grad():
                logits = self.model(**batch).logits.float()
            probs = torch.sigmoid(logits) if self.use_sigmoid else torch.softmax(logits, dim=-1)
            out.extend(probs[:, self.label_index].cpu().tolist())
        return out

    def details(self, texts: list[str]) -> list[dict[str, Any]]:
        return [{"toxicity": p} for p in self.predict(texts)]


class DetoxifyBackend:
    """The detoxify package (``model`` = original | unbiased | multilingual, or a checkpoint path)."""

    def __init__(self, model: str | None, device: str = "cpu", batch_size: int = 32):
        try:
            from detoxify import Detoxify
        except ImportError as exc:
            raise ConfigError(f"toxicity backend 'detoxify' needs the detoxify package ({exc}); run: pip install detoxify") from exc
        name = model or "original"
        kwargs = {"checkpoint": name} if name.endswith((".ckpt", ".pt", ".pth")) else {"model_type": name}
        try:
            self.model = Detoxify(device=device, **kwargs)
        except Exception as exc:  # detoxify downloads weights on first use; offline that fails in many ways
            raise ConfigError(
                f"toxicity backend 'detoxify': cannot load weights for {name!r} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "put the checkpoint in torch's hub cache or pass model = <path to .ckpt>") from exc
        self.batch_size = batch_size

    def predict(self, texts: list[str]) -> list[float]:
        out: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(float(p) for p in self.model.predict(texts[start:start + self.batch_size])["toxicity"])
        return out

    def details(self, texts: list[str]) -> list[dict[str, Any]]:
        return [{"toxicity": p} for p in self.predict(texts)]


def make_backend(backend: str, model: str | None = None, device: str = "cpu", batch_size: int = 32,
                 max_length: int = 512, label: str | None = None, word_weight: float = 0.5) -> Backend:
    if backend == "default":
        return ProfanityBackend(word_weight=word_weight)
    if backend == "hf":
        return HFBackend(model, device=device, batch_size=batch_size, max_length=max_length, label=label)
    if backend == "detoxify":
        return DetoxifyBackend(model, device=device, batch_size=batch_size)
    raise ConfigError(f"toxicity: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


class ToxicitySource(RewardSource):
    name = "toxicity"
    description = ("Probability in [0, 1] that the completion is toxic (offline classifier + word list; "
                   "identity terms neutralised, so naming an identity is not penalised)")
    higher_is_better = False

    def __init__(self, backend: str = "default", model: str | None = None, device: str = "cpu", batch_size: int = 32,
                 max_length: int = 512, label: str | None = None, neutralize_identity: bool = True, word_weight: float = 0.5,
                 extra_identity_terms: list[str] | None = None):
        """backend: default | hf | detoxify. model: folder/hub id (hf) or model type/checkpoint (detoxify).
        label: the toxic label's name for multi-label hf models. neutralize_identity: replace identity
        terms with a neutral word before scoring; extra_identity_terms: more terms to neutralise.
        word_weight: evidence per listed profane word (default backend)."""
        if not 0.0 <= word_weight < 1.0:
            raise ConfigError(f"toxicity: option word_weight must be in [0, 1), got {word_weight}")
        self.neutralize = neutralize_identity
        self.extra_terms = tuple(extra_identity_terms or ())
        self.backend = make_backend(backend, model=model, device=device, batch_size=batch_size,
                                    max_length=max_length, label=label, word_weight=word_weight)

    def _texts(self, completions: list[str]) -> list[str]:
        return [neutralize_identity(c, extra_terms=self.extra_terms) if self.neutralize else c for c in completions]

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        probs = self.backend.predict(self._texts(completions))
        # A NaN stays NaN so the composite reports it with this source's name; it is never hidden.
        return [min(1.0, max(0.0, p)) if math.isfinite(p) else p for p in probs]

    def details(self, prompts: list[str], completions: list[str], **columns: Any) -> list[dict[str, Any]]:
        return self.backend.details(self._texts(completions))
