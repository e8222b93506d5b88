"""Hostile cases for `rlit score`: outputs that are inputs, unwritable outputs, resumes of the
wrong file, option types, malformed chat turns, broken Unicode, bad IFEval rows, a corrupt cache."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

harness = sys.modules["rlit_hostile_harness"]
Case, write, write_jsonl = harness.Case, harness.write, harness.write_jsonl

ROWS = [{"prompt": f"Say {i}.", "completion": f"I say {i} now."} for i in range(3)]
SCORE = ["score", "--config", "reward.toml", "--input", "rows.jsonl"]


def rules(folder: Path, model: Path) -> None:
    write(folder, "reward.toml", harness.RULES_REWARD)
    write_jsonl(folder, "rows.jsonl", ROWS)


def with_config(text: str):
    def setup(folder: Path, model: Path) -> None:
        rules(folder, model)
        write(folder, "reward.toml", text)
    return setup


def with_row(row: dict | str | bytes):
    """Good rows with ``row`` as line 2."""
    def setup(folder: Path, model: Path) -> None:
        rules(folder, model)
        line = row if isinstance(row, (str, bytes)) else json.dumps(row)
        good = [json.dumps(r) for r in ROWS]
        if isinstance(line, bytes):
            write(folder, "rows.jsonl", (good[0] + "\n").encode() + line + b"\n" + (good[2] + "\n").encode())
        else:
            write(folder, "rows.jsonl", f"{good[0]}\n{line}\n{good[2]}\n")
    return setup


def scored(rows: list[dict], sources: dict | None = None) -> str:
    """Rows as `rlit score` writes them (input row plus what it adds)."""
    extra = {"scores": sources or {"length": 1.0}, "reward": 1.0, "unscored": {}, "vetoed_by": None}
    return "".join(json.dumps({**r, **extra}) + "\n" for r in rows)


def with_file(name: str, text: str):
    def setup(folder: Path, model: Path) -> None:
        rules(folder, model)
        write(folder, name, text)
    return setup


def hardlink(folder: Path, model: Path) -> None:
    rules(folder, model)
    os.link(folder / "rows.jsonl", folder / "same.jsonl")


def output_folder(folder: Path, model: Path) -> None:
    rules(folder, model)
    (folder / "out.jsonl").mkdir()


def ifeval_rows(folder: Path, model: Path) -> None:
    write(folder, "reward.toml", '[[sources]]\nname = "ifeval"\noptions = { workers = 1 }\n')
    letter = {"letter": "#", "let_frequency": 1, "let_relation": "at least"}
    write_jsonl(folder, "rows.jsonl", [
        {"prompt": "p", "completion": "No commas here.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
        {"prompt": "p", "completion": "###", "instruction_id_list": ["keywords:letter_frequency"], "kwargs": [letter]},
    ])


def check_ifeval(folder: Path) -> None:
    rows = [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]
    assert rows[0]["scores"] == {"ifeval": 1.0} and rows[0]["unscored"] == {}
    assert rows[1]["scores"] == {"ifeval": None} and "kwarg 'letter'" in rows[1]["unscored"]["ifeval"]


def corrupt_cache(folder: Path, model: Path) -> None:
    rules(folder, model)
    write(folder, "reward.toml", 'cache_dir = "cache"\n' + harness.RULES_REWARD)
    write(folder, "cache/scores.sqlite", b"this is not a database" * 100)


def check_cache_rebuilt(folder: Path) -> None:
    assert (folder / "cache/scores.sqlite.corrupt").is_file() and len((folder / "out.jsonl").read_text().splitlines()) == 3


def check_part_kept(folder: Path) -> None:
    assert not (folder / "out.jsonl").exists()
    assert len((folder / "out.jsonl.part").read_text().splitlines()) == 1


def earlier_output_then_bad_row(folder: Path, model: Path) -> None:
    with_row('{"prompt": "p", "completion": ')(folder, model)
    write(folder, "out.jsonl", scored(ROWS))


OUT = ["--output", "out.jsonl"]

CASES: list[Case] = [
    # 1. An output that is an input (or another output) is refused before anything is opened.
    Case("score-output-is-input", [*SCORE, "--output", "rows.jsonl"], 2,
         r"--output rows\.jsonl is the same file as --input rows\.jsonl", rules, keep=("rows.jsonl",)),
    Case("score-output-is-input-other-spelling", [*SCORE, "--output", "{d}/sub/../rows.jsonl"], 2,
         r"--output .*sub/\.\./rows\.jsonl is the same file as --input", with_file("sub/x", ""), keep=("rows.jsonl",)),
    Case("score-output-is-hard-link-to-input", [*SCORE, "--output", "same.jsonl"], 2,
         r"--output same\.jsonl is the same file as --input rows\.jsonl", hardlink, keep=("rows.jsonl",)),
    Case("score-summary-is-input", [*SCORE, "--summary-json", "rows.jsonl"], 2,
         r"--summary-json rows\.jsonl is the same file as --input", rules, keep=("rows.jsonl",)),
    Case("score-summary-is-output", [*SCORE, *OUT, "--summary-json", "out.jsonl"], 2,
         r"--summary-json out\.jsonl is the same file as --output out\.jsonl", with_file("out.jsonl", scored(ROWS)),
         keep=("out.jsonl",)),
    Case("score-output-is-config", [*SCORE, "--output", "reward.toml"], 2,
         r"--output reward\.toml is the same file as --config", rules, keep=("reward.toml",)),
    Case("score-partial-file-is-input", ["score", "--config", "reward.toml", "--input", "out.jsonl.part", *OUT], 2,
         r"--output's partial file out\.jsonl\.part is the same file as --input",
         with_file("out.jsonl.part", "".join(json.dumps(r) + "\n" for r in ROWS)), keep=("out.jsonl.part",)),
    # 2. Outputs that cannot be written fail before any scoring.
    Case("score-output-is-folder", [*SCORE, *OUT], 2, r"--output out\.jsonl: is a folder", output_folder),
    Case("score-output-under-a-file", [*SCORE, "--output", "rows.jsonl/out.jsonl"], 2,
         r"--output rows\.jsonl/out\.jsonl: rows\.jsonl is a file, not a folder", rules, keep=("rows.jsonl",)),
    Case("score-summary-is-folder", [*SCORE, "--summary-json", "sub"], 2, r"--summary-json sub: is a folder",
         with_file("sub/x", "")),
    # 3. --resume keeps only rows that came from this input and this config.
    Case("score-resume-other-input", [*SCORE, *OUT, "--resume"], 2,
         r"out\.jsonl:1: kept row does not match .*rows\.jsonl:1 .*rerun without --resume",
         with_file("out.jsonl", scored([{"prompt": "other", "completion": "file"}])), keep=("out.jsonl",)),
    Case("score-resume-edited-input", [*SCORE, *OUT, "--resume"], 2,
         r"out\.jsonl\.part:2: kept row does not match .*rows\.jsonl:2 \(a different or edited input\)",
         with_file("out.jsonl.part", scored([ROWS[0], {**ROWS[1], "completion": "edited since"}])), keep=("out.jsonl.part",)),
    Case("score-resume-more-rows-than-input", [*SCORE, *OUT, "--resume"], 2,
         r"out\.jsonl\.part:4: kept row has no input row in rows\.jsonl",
         with_file("out.jsonl.part", scored(ROWS + ROWS[:1])), keep=("out.jsonl.part",)),
    Case("score-resume-part-not-json", [*SCORE, *OUT, "--resume"], 2,
         r"out\.jsonl\.part:1: kept line is not JSON", with_file("out.jsonl.part", "hello\n"), keep=("out.jsonl.part",)),
    Case("score-resume-other-config", [*SCORE, *OUT, "--resume"], 2,
         r"out\.jsonl\.part:1: kept row was scored by sources toxicity, this reward config has length",
         with_file("out.jsonl.part", scored(ROWS[:1], {"toxicity": 0.1})), keep=("out.jsonl.part",)),
    Case("score-resume-without-output", [*SCORE, "--resume"], 2, r"--resume needs --output", rules),
    # 4. Reward-source options are checked against the constructor's type hints.
    Case("score-option-float-for-int", SCORE, 2,
         r"reward\.toml: sources\[0\]\.options\.min: Input should be a valid integer \(got 1\.5",
         with_config('[[sources]]\nname = "length"\noptions = { min = 1.5, max = 40 }\n')),
    Case("score-option-text-for-int", SCORE, 2,
         r"reward\.toml: sources\[0\]\.options\.max: Input should be a valid integer \(got 'forty'",
         with_config('[[sources]]\nname = "length"\noptions = { min = 1, max = "forty" }\n')),
    Case("score-option-bool-for-int", SCORE, 2, r"reward\.toml: sources\[0\]\.options\.min: Input should be a valid integer \(got True",
         with_config('[[sources]]\nname = "length"\noptions = { min = true }\n')),
    Case("score-option-list-for-text", SCORE, 2, r"reward\.toml: sources\[0\]\.options\.unit: Input should be a valid string",
         with_config('[[sources]]\nname = "length"\noptions = { min = 1, unit = ["words"] }\n')),
    Case("score-option-checked-before-any-source-is-built", SCORE, 2,
         r"reward\.toml: sources\[1\]\.options\.n: Input should be a valid integer",
         with_config('[[sources]]\nname = "length"\noptions = { min = 1 }\n[[sources]]\nname = "repetition"\noptions = { n = 2.5 }\n')),
    Case("score-plugin-own-error-names-the-entry", SCORE, 2,
         r"reward\.toml: sources\[0\]: length: option 'min' \(5\) is greater than 'max'",
         with_config('[[sources]]\nname = "length"\noptions = { min = 5, max = 2 }\n')),
    # 5. Rows: chat turns must be messages; text must be valid Unicode.
    Case("score-completion-list-of-numbers", SCORE, 2, r"rows\.jsonl:2: column 'completion': item 0 is not a message",
         with_row({"prompt": "p", "completion": [1, 2]})),
    Case("score-completion-list-of-strings", SCORE, 2, r"rows\.jsonl:2: column 'completion': item 0 is not a message",
         with_row({"prompt": "p", "completion": ["a"]})),
    Case("score-prompt-list-of-other-objects", SCORE, 2, r"rows\.jsonl:2: column 'prompt': item 0 is not a message",
         with_row({"prompt": [{"x": 1}], "completion": "c"})),
    Case("score-message-role-not-text", SCORE, 2, r"rows\.jsonl:2: column 'completion': item 1 is not a message",
         with_row({"prompt": "p", "completion": [{"role": "assistant", "content": "a"}, {"role": 7, "content": "b"}]})),
    Case("score-message-content-a-number", SCORE, 2, r"rows\.jsonl:2: column 'prompt': item 0 is not a message",
         with_row({"prompt": [{"role": "user", "content": 5}], "completion": "c"})),
    Case("score-lone-surrogate", [*SCORE, *OUT], 2, r"rows\.jsonl:2: .*invalid Unicode \(lone surrogate",
         with_row({"prompt": "p", "completion": "bad \ud800 text"})),
    Case("score-not-utf8", SCORE, 2, r"rows\.jsonl:2: not UTF-8 text", with_row(b'{"prompt": "p", "completion": "\xff\xfe"}')),
    Case("score-input-is-folder", ["score", "--config", "reward.toml", "--input", "sub"], 2, r"sub: is a folder, not a file",
         with_file("sub/x", "")),
    # 6. An error mid-file keeps the scored rows in the .part and leaves an earlier output alone.
    Case("score-bad-line-keeps-scored-rows-in-part", [*SCORE, *OUT, "--batch-size", "1"], 2,
         r"rows\.jsonl:2: invalid JSON.*1 row\(s\) scored so far are kept in out\.jsonl\.part.*--resume",
         with_row('{"prompt": "p", "completion": '), check=check_part_kept),
    Case("score-bad-line-leaves-earlier-output-intact", [*SCORE, *OUT], 2, r"rows\.jsonl:2: invalid JSON",
         earlier_output_then_bad_row, keep=("out.jsonl",)),
    # 7. One bad row of real IFEval data costs that row only, with its reason.
    Case("score-ifeval-letter-not-a-z", [*SCORE, *OUT], 0,
         r"ifeval: 1 row\(s\) unscored: instruction 'keywords:letter_frequency': kwarg 'letter' is missing or out of range \(got '#'\)",
         ifeval_rows, check=check_ifeval),
    # 8. A corrupt score cache is set aside and rebuilt, not a crash.
    Case("score-corrupt-cache-file", [*SCORE, *OUT], 0, r"score cache: .*scores\.sqlite is corrupt .*starting a fresh cache",
         corrupt_cache, check=check_cache_rebuilt),
]
