"""The project's own prompt sets in evals/data: structure, split hygiene, kwargs, SFT targets, red team.

The checkers are lm-eval's own (real registry, real process_results). Regeneration of the
validation split and the red-team set is compared byte for byte with the committed files.
"""

import inspect
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "evals" / "data"
sys.path.insert(0, str(ROOT / "scripts"))

import make_prompt_sets as gen  # noqa: E402
from prompt_sets import checking, vocab  # noqa: E402
from prompt_sets.instructions import conflict_map, instruction_ids  # noqa: E402
from prompt_sets.phrasings import PHRASINGS  # noqa: E402

SPLITS = ("train", "validation", "test")
ROW_KEYS = {"key", "prompt", "instruction_id_list", "kwargs", "template", "topic"}


def load(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {s: load(f"instructions-{s}.jsonl") for s in SPLITS}


def test_split_sizes_and_row_format(splits):
    assert len(splits["train"]) >= 1000
    assert len(splits["validation"]) >= 150
    assert len(splits["test"]) >= 300
    keys = [r["key"] for rows in splits.values() for r in rows]
    assert len(keys) == len(set(keys)), "keys must be unique across splits"
    for rows in splits.values():
        for r in rows:
            assert set(r) == ROW_KEYS
            assert 1 <= len(r["instruction_id_list"]) <= 3
            assert len(r["kwargs"]) == len(r["instruction_id_list"])
            assert r["prompt"].startswith(r["template"].format(topic=r["topic"]))


def test_every_instruction_type_in_every_split_many_times(splits):
    ids = instruction_ids()
    assert len(ids) == 25
    for split, rows in splits.items():
        counts = Counter(i for r in rows for i in r["instruction_id_list"])
        assert set(counts) == set(ids), f"{split} misses {set(ids) - set(counts)}"
        assert min(counts.values()) >= 8, f"{split}: {counts.most_common()[-3:]}"


def test_splits_share_no_template_no_topic(splits):
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not {r["template"] for r in splits[a]} & {r["template"] for r in splits[b]}
        assert not {r["topic"] for r in splits[a]} & {r["topic"] for r in splits[b]}
        # and no topic is contained in another split's topic ("owls" vs "snowy owls")
        for t in {r["topic"] for r in splits[a]}:
            for u in {r["topic"] for r in splits[b]}:
                assert t not in u and u not in t, (t, u)


def test_instruction_phrasings_differ_between_splits():
    for iid, by_split in PHRASINGS.items():
        seen = {}
        for split in SPLITS:
            for p in by_split[split]:
                for text in (p.values() if isinstance(p, dict) else [p]):
                    assert seen.setdefault(text, split) == split, f"{iid}: {text!r} in two splits"


def test_kwargs_are_exactly_what_the_checkers_build_from(splits):
    registry = checking.ifeval()[0].INSTRUCTION_DICT
    conflicts = conflict_map()
    for rows in splits.values():
        for r in rows:
            ids = r["instruction_id_list"]
            assert len(set(ids)) == len(ids)
            for a in ids:
                assert not (conflicts[a] - {a}) & set(ids), f"{r['key']}: {a} conflicts in {ids}"
            for iid, kw in zip(ids, r["kwargs"]):
                checker = registry[iid](iid)
                params = set(inspect.signature(checker.build_description).parameters)
                assert set(kw) == params, f"{r['key']} {iid}: {sorted(kw)} != {sorted(params)}"
                assert all(v not in (0, "", None, []) for v in kw.values()), f"{r['key']} {iid}: falsy {kw}"
                checker.build_description(**kw)
                if kw:  # the checker keeps exactly our values: no random draw replaced any
                    assert checker.get_instruction_args() == kw, f"{r['key']} {iid}"
                if iid == "keywords:letter_frequency":
                    assert kw["letter"] in "abcdefghijklmnopqrstuvwxyz"
                if iid == "combination:repeat_prompt":
                    assert r["prompt"].startswith(kw["prompt_to_repeat"])


def _pass_rate(rows: list[dict], completions: list[str]) -> float:
    ok = sum(checking.verdicts(r, c)["prompt_level_strict_acc"] for r, c in zip(rows, completions))
    return ok / len(rows)


@pytest.mark.parametrize("split", ["train", "validation"])
def test_sft_targets_follow_every_instruction(splits, split):
    sft = load(f"instructions-{split}-sft.jsonl")
    rows = splits[split]
    assert len(sft) == len(rows)
    for s, r in zip(sft, rows):
        assert set(s) == {"prompt", "completion", "instruction_id_list", "kwargs"}
        assert (s["prompt"], s["instruction_id_list"], s["kwargs"]) == (r["prompt"], r["instruction_id_list"], r["kwargs"])
    step = 1 if split == "validation" else 4  # a quarter of train keeps the test fast
    assert _pass_rate(rows[::step], [s["completion"] for s in sft[::step]]) == 1.0


def test_checkers_do_reject_mismatched_completions(splits):
    """The same checker fails most completions written for another row (the test above can fail)."""
    rows = splits["validation"]
    sft = load("instructions-validation-sft.jsonl")
    shifted = [s["completion"] for s in sft[7:] + sft[:7]]
    assert _pass_rate(rows, shifted) < 0.3  # measured: 0.085


def test_no_sft_targets_for_test_split():
    assert not (DATA / "instructions-test-sft.jsonl").exists()


def test_regeneration_is_byte_identical(tmp_path):
    rows, completions, _ = gen.generate_split("validation", gen.SIZES["validation"])
    gen.write_jsonl(tmp_path / "v.jsonl", rows)
    gen.write_jsonl(tmp_path / "v-sft.jsonl", gen.sft_rows(rows, completions))
    gen.write_jsonl(tmp_path / "red.jsonl", gen.redteam.build_rows())
    assert (tmp_path / "v.jsonl").read_bytes() == (DATA / "instructions-validation.jsonl").read_bytes()
    assert (tmp_path / "v-sft.jsonl").read_bytes() == (DATA / "instructions-validation-sft.jsonl").read_bytes()
    assert (tmp_path / "red.jsonl").read_bytes() == (DATA / "redteam.jsonl").read_bytes()


@pytest.mark.slow
def test_full_regeneration_is_byte_identical(tmp_path):
    assert gen.main(["--out", str(tmp_path)]) == 0
    for path in sorted(DATA.glob("*.jsonl")):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_data_files_stay_small():
    for path in DATA.glob("*.jsonl"):
        assert path.stat().st_size < 2_000_000, path.name


def test_redteam_rows_and_counterfactual_groups():
    rows = load("redteam.jsonl")
    assert len(rows) >= 120
    assert len({r["key"] for r in rows}) == len(rows)
    assert len({r["prompt"] for r in rows}) == len(rows)
    categories = Counter(r["category"] for r in rows)
    assert set(categories) == {"insult", "harassment", "stereotype", "profanity-bait", "demographic-generalisation"}
    groups: dict[str, list[dict]] = {}
    for r in rows:
        assert set(r) == {"key", "prompt", "category", "group", "demographic"}
        assert (r["group"] is None) == (r["demographic"] is None)
        if r["group"]:
            assert r["demographic"] in r["prompt"]
            groups.setdefault(r["group"], []).append(r)
    assert len(groups) >= 10
    for name, members in groups.items():
        demographics = [m["demographic"] for m in members]
        assert len(demographics) >= 2 and len(set(demographics)) == len(demographics), name
        # the same prompt with only the demographic term swapped
        assert len({m["prompt"].replace(m["demographic"], "{group}") for m in members}) == 1, name
        assert len({m["category"] for m in members}) == 1, name
    axes = {name.split("-", 1)[1] for name in groups}
    assert {"gender", "religion", "ethnicity", "nationality", "sexual-orientation", "age", "disability"} <= axes


def test_vocab_pools_are_disjoint_between_splits():
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not set(vocab.TOPICS[a]) & set(vocab.TOPICS[b])
        assert not {t for t, _ in vocab.TEMPLATES[a]} & {t for t, _ in vocab.TEMPLATES[b]}
        assert not set(vocab.QUESTION_TEMPLATES[a]) & set(vocab.QUESTION_TEMPLATES[b])
