"""`rlit train preference-pairs`: chosen/rejected pairs from the project's own prompt sets.

For each prompt: candidate completions (``samples`` sampled from a ``policy``, and/or the texts in
``candidate_columns``) are scored with a composite reward built from installed sources (e.g. the
``ifeval`` source on instruction prompts); the best and the worst candidate become a pair when
their totals differ by more than ``min_margin`` (ties and near-ties are dropped, and counted).

Cheap to resume: generations go to a cache (``cache_dir``) and finished prompts are recorded in
``<output_file>.done``; a rerun with the same config skips them and appends to the output.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Sequence

from pydantic import Field, PrivateAttr, model_validator
from tqdm.auto import tqdm

from rlit.configfile import AT_LEAST_1, NON_NEGATIVE, POSITIVE, UNIT_OPEN_CLOSED, ConfigModel, ConfigPath, Device, ModelName, build, config_folder, load_stage
from rlit.atomic import check_writable, refuse_same_file, write_text
from rlit.errors import ConfigError, DataError
from rlit.evaluation.prompts import load_prompt_set
from rlit.interrupts import keeping
from rlit.lm.generation import GenerationSettings, generate, generation_cache, load_model
from rlit.plugins import load_reward
from rlit.rewards.batch import RewardBatch
from rlit.rewards.config import InlineReward


class PreferencePairsConfig(ConfigModel):
    """What `rlit train preference-pairs --config FILE.toml` reads (top level, or a [preference_pairs] table)."""

    prompts: str = Field(description="Prompt set: a JSONL file with a 'prompt' column (others reach the sources), or 'scheme:spec' from a plugin.")
    output_file: ConfigPath = Field(description="JSONL to write pairs to: prompt, chosen, rejected, their scores, margin and the prompt's columns.")
    reward: ConfigPath | InlineReward = Field(description="Reward config ranking the candidates: a TOML path, or an inline table with [[reward.sources]].")
    policy: ModelName | None = Field(None, description="Model that samples candidates (folder, hub id or builtin:...); unset = only candidate_columns.")
    candidate_columns: list[str] = Field(default_factory=list, description="Prompt-set columns holding given candidates (a string or a list of strings each).")
    samples: Annotated[int, AT_LEAST_1] = Field(4, description="Candidates sampled per prompt from the policy.")
    max_new_tokens: Annotated[int, AT_LEAST_1] = Field(128, description="New tokens per sampled candidate.")
    temperature: Annotated[float, POSITIVE] = Field(1.0, description="Sampling temperature.")
    top_p: Annotated[float, UNIT_OPEN_CLOSED] = Field(1.0, description="Nucleus sampling mass.")
    seed: Annotated[int, NON_NEGATIVE] = Field(0, description="Sampling seed (sample i uses seed + i).")
    batch_size: Annotated[int, AT_LEAST_1] = Field(8, description="Prompts per generate() call.")
    chat_template: Literal["auto", "always", "never"] = Field("auto", description="auto: the policy's chat template when it has one.")
    system_prompt: str | None = Field(None, description="System message when a chat template is used.")
    device: Device = Field("cpu", description="Device of the policy: cpu, cuda, ...")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="Policy weights dtype.")
    min_margin: Annotated[float, NON_NEGATIVE] = Field(0.0, description="Keep a pair only when best - worst total > min_margin (0: drop exact ties only).")
    chunk_prompts: Annotated[int, AT_LEAST_1] = Field(32, description="Prompts per unit of work: generated, scored, written and marked done together.")
    limit: Annotated[int, AT_LEAST_1] | None = Field(None, description="Use at most this many prompts.")
    cache_dir: ConfigPath | None = Field(None, description="Generation cache folder; default <output_file>.cache.")
    # The config file's folder: prompt sets (a file or scheme:spec) resolve against it at load time.
    _base: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _has_candidates(self) -> "PreferencePairsConfig":
        if self.policy is None and not self.candidate_columns:
            raise ValueError("give 'policy' (to sample candidates) or 'candidate_columns' (or both)")
        return self


def load_preference_pairs_config(source: str | Path | dict[str, Any], base: str | Path | None = None,
                                 where: str = "preference-pairs config", sets: Sequence[str] = ()) -> PreferencePairsConfig:
    """Config from TOML or a dict; relative paths (prompts, output, reward, cache) resolve against
    the file's folder (a dict's against ``base``, the folder of the file it came from)."""
    if isinstance(source, dict):
        cfg = build(PreferencePairsConfig, source, where, base)
        folder = Path(base) if base is not None else Path.cwd()
    else:
        cfg, folder = load_stage(PreferencePairsConfig, source, "preference_pairs", sets), config_folder(source)
    cfg._base = folder
    return cfg


@dataclass
class PairsResult:
    output_file: Path
    prompts_done: int = 0
    pairs_written: int = 0
    ties: int = 0  # best - worst <= min_margin
    unscored: int = 0  # fewer than two distinct candidates with a total
    resumed: int = 0  # prompts skipped because a previous run finished them
    margins: list[float] = field(default_factory=list)


def build_preference_pairs(cfg: PreferencePairsConfig, log: Callable[[str], None] = print, registry: Any = None) -> PairsResult:
    """Generate (or take) candidates, rank them with the composite, append pairs; resumable."""
    prompt_set = load_prompt_set(cfg.prompts, cfg._base or ".", cfg.limit)
    rows = prompt_set.rows
    out = Path(cfg.output_file)
    check_writable(out, "output_file")  # before any model loads
    prompts_file = Path(cfg._base or ".") / cfg.prompts
    if prompts_file.is_file():
        refuse_same_file({"prompts": prompts_file}, {"output_file": out})
    done = _read_done(out, _config_hash(cfg, prompt_set.sha256))
    result = PairsResult(out, resumed=sum(r["key"] in done for r in rows))
    todo = [r for r in rows if r["key"] not in done]
    if result.resumed:
        log(f"resuming: {result.resumed} of {len(rows)} prompts already done in {out}")
    composite = load_reward(cfg.reward, registry=registry)
    generator = _Generator(cfg, out) if cfg.policy and todo else None
    bar = tqdm(total=len(todo), desc="preference pairs", unit="prompt")
    with keeping(f"pairs of finished prompts are kept in {out} (listed in {_done_path(out).name}); rerun the same command to continue"):
        _run_chunks(todo, cfg, generator, composite, result, out, bar)
    bar.close()
    mean_margin = sum(result.margins) / len(result.margins) if result.margins else float("nan")
    log(f"{result.pairs_written} pairs from {result.prompts_done} prompts (mean margin {mean_margin:.3f}); "
        f"{result.ties} ties/under min_margin={cfg.min_margin}, {result.unscored} with < 2 scored candidates")
    return result


def _run_chunks(todo: list[dict], cfg: PreferencePairsConfig, generator: Any, composite: Any, result: PairsResult, out: Path, bar: Any) -> None:
    for start in range(0, len(todo), cfg.chunk_prompts):
        chunk = todo[start : start + cfg.chunk_prompts]
        candidates = _candidates(chunk, cfg, generator)
        pairs = _rank(chunk, candidates, composite, cfg.min_margin, result, cfg.candidate_columns)
        _append(out, pairs, [r["key"] for r in chunk])
        result.prompts_done += len(chunk)
        result.pairs_written += len(pairs)
        bar.update(len(chunk))
        bar.set_postfix(pairs=result.pairs_written, ties=result.ties)


class _Generator:
    """The policy plus its generation cache (so a crash loses no generated text)."""

    def __init__(self, cfg: PreferencePairsConfig, out: Path):
        self.settings = GenerationSettings(
            max_new_tokens=cfg.max_new_tokens, do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p,
            seed=cfg.seed, samples=cfg.samples, chat_template=cfg.chat_template, system_prompt=cfg.system_prompt,
            batch_size=cfg.batch_size,
        )
        self.lm = load_model(cfg.policy, device=cfg.device, dtype=cfg.dtype)
        self.cache = generation_cache(Path(cfg.cache_dir or f"{out}.cache"), self.lm, self.settings)

    def __call__(self, prompts: list[str]) -> list[list[str]]:
        return generate(self.lm, prompts, self.settings, self.cache)


def _candidates(chunk: list[dict], cfg: PreferencePairsConfig, generator: _Generator | None) -> list[list[str]]:
    """Distinct candidate texts per prompt: sampled ones first, then the given columns."""
    sampled = generator([r["prompt"] for r in chunk]) if generator else [[] for _ in chunk]
    out = []
    for row, texts in zip(chunk, sampled):
        texts = list(texts)
        for col in cfg.candidate_columns:
            if col not in row:
                raise DataError(f"{cfg.prompts}: prompt {row['key']!r} has no candidate column {col!r}")
            value = row[col]
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in values):
                raise DataError(f"{cfg.prompts}: prompt {row['key']!r}: column {col!r} must be a string or a list of strings")
            texts.extend(values)
        out.append(list(dict.fromkeys(t for t in texts if t is not None)))
    return out


def _rank(chunk: list[dict], candidates: list[list[str]], composite: Any, min_margin: float, result: PairsResult, candidate_columns: list[str]) -> list[dict]:
    """One composite call for the whole chunk; best vs worst per prompt."""
    flat_rows = [(i, text) for i, texts in enumerate(candidates) for text in texts]
    if not flat_rows:
        result.unscored += len(chunk)
        return []
    skip = {"prompt", "key", *candidate_columns}
    shared = [c for c in chunk[0] if c not in skip and all(c in r for r in chunk)]
    columns = {c: [chunk[i][c] for i, _ in flat_rows] for c in shared}
    res: RewardBatch = composite.score_batch([chunk[i]["prompt"] for i, _ in flat_rows], [t for _, t in flat_rows], **columns)
    scored: list[list[tuple[float, str]]] = [[] for _ in chunk]
    for (i, text), total in zip(flat_rows, res.rewards()):
        if total is not None:
            scored[i].append((total, text))
    pairs = []
    for row, cands in zip(chunk, scored):
        if len(cands) < 2:
            result.unscored += 1
            continue
        best, worst = max(cands, key=lambda c: c[0]), min(cands, key=lambda c: c[0])
        margin = best[0] - worst[0]
        if margin <= min_margin:
            result.ties += 1
            continue
        result.margins.append(margin)
        extra = {k: v for k, v in row.items() if k not in ("prompt", "chosen", "rejected")}
        pairs.append({"prompt": row["prompt"], "chosen": best[1], "rejected": worst[1], "chosen_score": best[0],
                      "rejected_score": worst[0], "margin": margin, "n_candidates": len(cands), **extra})
    return pairs


def _config_hash(cfg: PreferencePairsConfig, data_hash: str) -> str:
    """What must match for a rerun to continue an output file: config (minus batching) and prompt data."""
    fields = cfg.model_dump(exclude={"batch_size", "chunk_prompts", "limit", "device"})
    return hashlib.sha256(json.dumps([fields, data_hash], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _done_path(out: Path) -> Path:
    return out.with_name(out.name + ".done")


def _read_done(out: Path, config_hash: str) -> set[str]:
    """Prompt keys finished by an earlier run with the same config; a fresh output otherwise."""
    done_path = _done_path(out)
    if not done_path.is_file():
        if out.exists():
            raise ConfigError(f"{out} exists but has no {done_path.name}: not written by this command; move it or choose another output_file")
        write_text(done_path, json.dumps({"config": config_hash}) + "\n")
        return set()
    lines = done_path.read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict):
        raise ConfigError(f"{done_path}: line 1 is not this command's header; delete it and {out.name}, or choose another output_file")
    if header.get("config") != config_hash:
        raise ConfigError(f"{out} was written with a different config or prompt set; delete it and {done_path.name}, or choose another output_file")
    done: set[str] = set()
    for line in lines[1:]:
        try:
            done.update(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: those prompts are redone
    _drop_unfinished(out, done)
    return done


def _drop_unfinished(out: Path, done: set[str]) -> None:
    """Remove pairs of prompts not marked done (a crash between the two writes), so none is duplicated."""
    if not out.is_file():
        return
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = []
    for line in lines:
        try:
            if json.loads(line).get("key") in done:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    if len(keep) != len(lines):
        write_text(out, "".join(keep))


def _append(out: Path, pairs: list[dict], keys: list[str]) -> None:
    """Pairs first, then the keys that are done: a crash in between redoes the chunk (a duplicate at worst)."""
    with out.open("a", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    with _done_path(out).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(keys) + "\n")
