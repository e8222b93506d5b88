"""`rlit score`, `rlit rewards` and `rlit plugins` through the real CLI entry point (in process,
so temporary plugins are visible): streaming batches, columns, summary, bad input, resume."""

from __future__ import annotations

import json
import sys

import pytest

import rlit

SCORED: list[int] = []  # batch sizes the counting source saw


class Echo(rlit.RewardSource):
    name = "t-echo-len"
    description = "length of the completion in words"

    def score(self, prompts, completions, **columns):
        SCORED.append(len(completions))
        return [float(len(c.split())) for c in completions]


class MatchesRef(rlit.RewardSource):
    name = "t-matches-ref"
    description = "1.0 when the completion equals the row's 'ref'"
    columns = ("ref",)

    def __init__(self, case_sensitive: bool = True):
        self.case_sensitive = case_sensitive

    def score(self, prompts, completions, ref, **columns):
        norm = (lambda s: s) if self.case_sensitive else str.lower
        return [float(norm(c) == norm(r)) for c, r in zip(completions, ref)]


class Explodes(rlit.RewardSource):
    name = "t-explodes"
    description = "raises on the word 'boom'"

    def score(self, prompts, completions, **columns):
        if any("boom" in c for c in completions):
            raise RuntimeError("found a boom")
        return [0.0 for _ in completions]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        for cls in (Echo, MatchesRef, Explodes):
            register(cls)


@pytest.fixture
def cli(temp_plugin, monkeypatch, capsys):
    """Run `rlit ...` in process through rlit.cli.main; returns (exit code, stdout, stderr)."""
    temp_plugin(Plugin(), "score-test")
    SCORED.clear()
    for var in ("RLIT_PLUGINS_ALLOW", "RLIT_PLUGINS_BLOCK", "RLIT_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        from rlit.cli import main

        monkeypatch.setattr(sys, "argv", ["rlit", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


CONFIG = """
[[sources]]
name = "t-echo-len"
weight = 0.5

[[sources]]
name = "t-matches-ref"
weight = 2.0
options = { case_sensitive = false }
"""


def rows_file(tmp_path, lines: list[str], name: str = "rows.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def row(completion: str, ref: str = "yes", **extra) -> str:
    return json.dumps({"prompt": "Answer yes or no.", "completion": completion, "ref": ref, **extra})


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "reward.toml"
    path.write_text(CONFIG)
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_streams_batches_writes_rows_and_summary(cli, tmp_path, config):
    rows = rows_file(tmp_path, [row("Yes"), row("no"), "", row("yes it is", topic="t"), row("YES"), row("maybe so", ref="maybe so")])
    out, summary = tmp_path / "scored.jsonl", tmp_path / "summary.json"
    code, stdout, stderr = cli("score", "--config", str(config), "--input", str(rows), "--output", str(out),
                               "--batch-size", "2", "--summary-json", str(summary))
    assert code == 0, stderr
    assert SCORED == [2, 2, 1]
    scored = read_jsonl(out)
    assert [r["scores"]["t-matches-ref"] for r in scored] == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert scored[0]["reward"] == 0.5 * 1 + 2.0 * 1 and scored[2]["topic"] == "t"
    stats = json.loads(summary.read_text())
    assert stats["rows"] == 5 and sum(s["share"] for s in stats["sources"].values()) == pytest.approx(1.0)
    assert stats["sources"]["t-echo-len"]["mean"] == pytest.approx(8 / 5)
    assert "5 rows scored" in stdout and "share" in stdout and "t-matches-ref" in stdout


def test_malformed_json_exits_2_with_file_and_line_and_keeps_rows(cli, tmp_path, config):
    rows = rows_file(tmp_path, [row("yes"), row("no"), row("yes"), '{"prompt": "p", "completion": ', row("no")])
    out = tmp_path / "scored.jsonl"
    code, _, stderr = cli("score", "--config", str(config), "--input", str(rows), "--output", str(out), "--batch-size", "2")
    assert code == 2
    assert f"{rows}:4: invalid JSON" in stderr and "Traceback" not in stderr
    assert f"3 row(s) scored so far are kept in {out}.part" in stderr and not out.exists()  # no half output
    assert [r["completion"] for r in read_jsonl(tmp_path / "scored.jsonl.part")] == ["yes", "no", "yes"]
    rows.write_text(rows.read_text().replace('{"prompt": "p", "completion": \n', row("fixed") + "\n"))
    SCORED.clear()
    code, stdout, stderr = cli("score", "--config", str(config), "--input", str(rows), "--output", str(out), "--resume")
    assert code == 0, stderr
    assert SCORED == [2] and [r["completion"] for r in read_jsonl(out)] == ["yes", "no", "yes", "fixed", "no"]
    assert not (tmp_path / "scored.jsonl.part").exists()


@pytest.mark.parametrize("bad, problem", [
    ('{"prompt": "p", "ref": "x"}', "missing column 'completion' (needed by rlit score)"),
    ('{"prompt": "p", "completion": "c"}', "missing column 'ref' (needed by t-matches-ref)"),
    ('["prompt", "completion"]', "expected a JSON object, got list"),
    ('{"prompt": "p", "completion": 3, "ref": "x"}', "column 'completion' must be a string or a list of messages, got int"),
])
def test_bad_rows_exit_2_naming_file_line_and_problem(cli, tmp_path, config, bad, problem):
    rows = rows_file(tmp_path, [row("yes"), bad])
    code, _, stderr = cli("score", "--config", str(config), "--input", str(rows))
    assert code == 2 and f"{rows}:2: {problem}" in stderr


def test_failing_source_exits_2_naming_it_and_earlier_batches_stay(cli, tmp_path):
    config = tmp_path / "r.toml"
    config.write_text('[[sources]]\nname = "t-explodes"\n')
    rows = rows_file(tmp_path, [row("fine"), row("fine"), row("boom")])
    out = tmp_path / "scored.jsonl"
    code, _, stderr = cli("score", "--config", str(config), "--input", str(rows), "--output", str(out), "--batch-size", "2")
    assert code == 2 and "reward source 't-explodes': score() raised RuntimeError: found a boom" in stderr
    assert len(read_jsonl(tmp_path / "scored.jsonl.part")) == 2


def test_resume_continues_after_rows_already_written(cli, tmp_path, config):
    rows = rows_file(tmp_path, [row("yes"), row("no"), row("yes"), row("no")])
    out = tmp_path / "scored.jsonl"
    assert cli("score", "--config", str(config), "--input", str(rows), "--output", str(out))[0] == 0
    first = out.read_text().splitlines()
    out.write_text(first[0] + "\n" + first[1][:10])  # as if killed while writing row 2
    SCORED.clear()
    code, stdout, _ = cli("score", "--config", str(config), "--input", str(rows), "--output", str(out), "--resume")
    assert code == 0 and SCORED == [3] and "resumed after 1 rows" in stdout
    assert out.read_text().splitlines() == first


def test_bad_config_and_missing_input_exit_2(cli, tmp_path, config):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sources]]\nname = "t-echo-len"\nwieght = 1\n')
    rows = rows_file(tmp_path, [row("yes")])
    code, _, stderr = cli("score", "--config", str(bad), "--input", str(rows))
    assert code == 2 and "bad.toml: sources[0].wieght: unknown key" in stderr
    code, _, stderr = cli("score", "--config", str(config), "--input", str(tmp_path / "none.jsonl"))
    assert code == 2 and "none.jsonl: input file not found" in stderr


def test_rewards_and_plugins_list_json(cli):
    code, stdout, _ = cli("rewards", "--json")
    rewards = {r["name"]: r for r in json.loads(stdout)["rewards"]}
    assert code == 0
    assert rewards["t-matches-ref"] == {
        "name": "t-matches-ref", "plugin": "score-test", "distribution": None,
        "description": "1.0 when the completion equals the row's 'ref'", "higher_is_better": True,
        "options": [{"name": "case_sensitive", "type": "bool", "default": True, "required": False}],
        "columns": ["ref"], "conflicts_with": [],
    }
    code, stdout, _ = cli("plugins", "--json")
    plugins = {p["name"]: p for p in json.loads(stdout)["plugins"]}
    assert plugins["score-test"]["rewards"] == ["t-echo-len", "t-matches-ref", "t-explodes"]
    code, stdout, _ = cli("rewards")
    assert code == 0 and "t-matches-ref" in stdout and "case_sensitive" in stdout


def test_conversational_rows_and_nested_output_folder(cli, tmp_path, config):
    chat = {"prompt": [{"role": "system", "content": "terse"}, {"role": "user", "content": "yes?"}],
            "completion": [{"role": "assistant", "content": "YES"}], "ref": "yes"}
    rows = rows_file(tmp_path, [json.dumps(chat)])
    out = tmp_path / "new" / "folder" / "scored.jsonl"
    code, _, stderr = cli("score", "--config", str(config), "--input", str(rows), "--output", str(out))
    assert code == 0, stderr
    assert read_jsonl(out)[0]["scores"] == {"t-echo-len": 1.0, "t-matches-ref": 1.0}
