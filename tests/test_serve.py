"""`rlit serve`: a real uvicorn server on a free loopback port, real HTTP clients (httpx and
OpenRLHF's own aiohttp client), compared with `rlit score` on the same rows."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import rlit
from rlit.plugins import load_reward
from rlit.rewards.composite import CompositeReward
from rlit.rewards.scoring import score_jsonl
from rlit.serving.batcher import MicroBatcher
from rlit.serving.protocol import Rows, ServeSettings, completion_from_query, label_columns

ROOT = Path(__file__).resolve().parents[1]


class CharCount(rlit.RewardSource):
    """len(completion): every row's reward is distinct, so a mixed-up reply shows."""

    name = "test-charcount"
    threads: set[int] = set()
    batch_sizes: list[int] = []

    def score(self, prompts, completions, **columns):
        CharCount.threads.add(threading.get_ident())
        CharCount.batch_sizes.append(len(completions))
        return [float(len(c)) for c in completions]


class LabelMatch(rlit.RewardSource):
    """1 when the completion contains the row's ``answer`` column, else 0; no answer = None."""

    name = "test-label"
    columns = ("answer",)

    def score(self, prompts, completions, answer, **columns):
        return [None if a is None else float(str(a) in c) for c, a in zip(completions, answer)]


class Boom(rlit.RewardSource):
    """Raises on a completion containing BOOM; sleeps on SLOW (for the drain test)."""

    name = "test-boom"

    def score(self, prompts, completions, **columns):
        if any("SLOW" in c for c in completions):
            time.sleep(1.0)
        if any("BOOM" in c for c in completions):
            raise RuntimeError("boom")
        return [0.0 for _ in completions]


class Picky(rlit.RewardSource):
    """Unscorable (with a reason) for an empty completion."""

    name = "test-picky"

    def score(self, prompts, completions, **columns):
        return [rlit.Unscorable("empty completion") if not c else 1.0 for c in completions]


class _Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        for cls in (CharCount, LabelMatch, Boom, Picky):
            register(cls)


@pytest.fixture
def reg(temp_plugin):
    return temp_plugin(_Plugin(), "serve-test-plugin")


def composite(reg, *sources: dict) -> CompositeReward:
    return load_reward({"sources": list(sources)}, registry=reg)


@contextmanager
def server(reward: CompositeReward, settings: ServeSettings | None = None):
    """uvicorn serving ``reward`` on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    from rlit.serving.app import build_app
    from rlit.serving.run import bind

    sock = bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(build_app(reward, settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        assert thread.is_alive(), "server thread died"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()


ROWS = [
    {"prompt": "Say hi.", "completion": "Hi there, friend.", "answer": "friend"},
    {"prompt": "Name a colour.", "completion": "Blue.", "answer": "red"},
    {"prompt": "Count.", "completion": [{"role": "assistant", "content": "one two three"}], "answer": "two"},
]


def rlit_score_rows(reward: CompositeReward, tmp_path: Path, rows: list[dict]) -> list[dict]:
    src, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    score_jsonl(reward, src, out)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_score_endpoint_matches_rlit_score(reg, tmp_path):
    sources = ({"name": "length", "options": {"min": 2, "max": 40}}, {"name": "test-label", "weight": 2.0})
    expected = rlit_score_rows(composite(reg, *sources), tmp_path, ROWS)
    with server(composite(reg, *sources)) as url:
        reply = httpx.post(f"{url}/score", json={"rows": ROWS}).json()
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        listing = httpx.get(f"{url}/sources").json()["sources"]
    assert [r["reward"] for r in reply["rows"]] == [r["reward"] for r in expected]
    assert [r["scores"] for r in reply["rows"]] == [r["scores"] for r in expected]
    assert [s["name"] for s in listing] == ["length", "test-label"] and listing[1]["columns"] == ["answer"]


def _openrlhf_executor(url: str):
    agent = pytest.importorskip("openrlhf.utils.agent", reason="pip install --no-deps openrlhf==0.11.2 aiohttp pylatexenc")
    return agent.SingleTurnAgentExecutor(remote_rm_url=f"{url}/get_reward")


def test_openrlhf_client_gets_rlit_score_rewards(reg, tmp_path):
    sources = ({"name": "length", "options": {"min": 2, "max": 40}}, {"name": "test-label"})
    expected = rlit_score_rows(composite(reg, *sources), tmp_path, ROWS)
    with server(composite(reg, *sources), ServeSettings(label_column="answer")) as url:
        executor = _openrlhf_executor(url)
        got = []
        for row in ROWS:  # one query per request, as OpenRLHF's rollout sends
            completion = row["completion"] if isinstance(row["completion"], str) else row["completion"][0]["content"]
            query = row["prompt"] + completion + "<|endoftext|>"  # decoded with special tokens
            reply = asyncio.run(executor._fetch_rewards_via_http([query], [row["prompt"]], [row["answer"]]))[0]
            got.append(reply)
    assert [g["rewards"] for g in got] == [[r["reward"]] for r in expected]
    assert [g["scores"] for g in got] == [g["rewards"] for g in got]
    assert [g["extra_logs"]["test-label"] for g in got] == [[r["scores"]["test-label"]] for r in expected]


def test_load_16_clients_x_50_requests_nothing_lost_or_mixed(reg):
    CharCount.threads.clear()
    CharCount.batch_sizes.clear()
    with server(composite(reg, {"name": "test-charcount"})) as url:
        executor = _openrlhf_executor(url)

        async def client(c: int) -> list[tuple[str, list]]:
            out = []
            for k in range(50):
                completion = "x" * (c * 50 + k + 1)  # a distinct expected reward per request
                reply = (await executor._fetch_rewards_via_http(["P:" + completion], ["P:"], [None]))[0]
                out.append((completion, reply["rewards"]))
            return out

        async def everyone():
            return await asyncio.gather(*(client(c) for c in range(16)))

        results = [r for per_client in asyncio.run(everyone()) for r in per_client]
    assert len(results) == 800
    assert all(rewards == [float(len(completion))] for completion, rewards in results)
    assert sum(CharCount.batch_sizes) == 800  # each row scored exactly once
    assert len(CharCount.threads) == 1  # every composite call on the one scorer thread
    assert len(CharCount.batch_sizes) < 800  # concurrent requests shared composite calls


@pytest.mark.parametrize("body, status, field", [
    (b'{"rows": [', 400, None),
    (b'{"rows": []}', 422, "rows"),
    (b'{"rows": [{"prompt": "p"}]}', 422, "rows[0].completion"),
    (b'{"rows": [{"completion": 5}]}', 422, "rows[0].completion"),
    (b'{"rowz": []}', 422, "rows"),
    (b'[1, 2]', 422, None),
    (rb'{"rows": [{"completion": "\ud800"}]}', 400, None),  # a lone surrogate is not text
    (b'{"rows": [{"completion": "\xff"}]}', 400, None),  # not UTF-8
])
def test_bad_score_requests_are_4xx_naming_the_field(reg, body, status, field):
    with server(composite(reg, {"name": "length", "options": {"min": 1}})) as url:
        reply = httpx.post(f"{url}/score", content=body, headers={"content-type": "application/json"})
        assert reply.status_code == status, reply.text
        assert reply.json()["field"] == field or (field is None and reply.json()["error"])
        assert httpx.post(f"{url}/score", json={"rows": [{"completion": "ok fine"}]}).status_code == 200


def test_openrlhf_request_errors(reg):
    settings = ServeSettings(max_request_rows=2, max_request_bytes=2000)
    with server(composite(reg, {"name": "test-label"}), settings) as url:
        post = lambda body: httpx.post(f"{url}/get_reward", json=body)  # noqa: E731
        r = post({"query": ["a", "b"], "prompts": ["a"], "labels": ["x", "y"]})
        assert r.status_code == 422 and r.json()["field"] == "prompts"
        r = post({"query": ["Pabc"], "prompts": ["Q"], "labels": ["x"]})
        assert r.status_code == 422 and r.json()["field"] == "query[0]"
        r = post({"query": ["Pabc"], "prompts": ["P"], "labels": ["x"]})  # label column 'label', source needs 'answer'
        assert r.status_code == 422 and "answer" in r.json()["error"]
        r = post({"query": ["a", "b", "c"]})
        assert r.status_code == 413 and r.json()["field"] == "query"
        r = post({"query": ["a" * 5000]})
        assert r.status_code == 413 and "--max-request-bytes" in r.json()["error"]
        r = post({"query": ["Pabc"], "prompts": ["P"], "labels": [{"answer": "ab"}]})  # object label: columns
        assert r.status_code == 200 and r.json()["rewards"] == [1.0]


def test_token_required_when_set(reg):
    with server(composite(reg, {"name": "length", "options": {"min": 1}}), ServeSettings(token="s3cret")) as url:
        body = {"rows": [{"completion": "hi"}]}
        assert httpx.post(f"{url}/score", json=body).status_code == 401
        assert httpx.post(f"{url}/score", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.get(f"{url}/sources").status_code == 401
        ok = httpx.post(f"{url}/score", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["rows"][0]["reward"] == 1.0


def test_source_failure_fail_is_500_naming_source_and_does_not_sink_other_requests(reg):
    with server(composite(reg, {"name": "test-boom", "on_error": "fail"})) as url:
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda c: httpx.post(f"{url}/score", json={"rows": [{"completion": c}]}),
                                    ["BOOM", "fine", "fine", "fine", "BOOM", "fine", "fine", "fine"]))
        codes = [r.status_code for r in replies]
        assert codes == [500, 200, 200, 200, 500, 200, 200, 200]
        assert "test-boom" in replies[0].json()["error"] and replies[0].json()["field"] == "source:test-boom"
        assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_source_failure_skip_is_null_with_reason(reg):
    sources = ({"name": "test-boom", "on_error": "skip"}, {"name": "length", "options": {"min": 1}, "weight": 0.0})
    with server(composite(reg, *sources)) as url:
        row = httpx.post(f"{url}/score", json={"rows": [{"completion": "BOOM"}]}).json()["rows"][0]
        assert row["scores"]["test-boom"] is None and "boom" in row["unscored"]["test-boom"]
        settings_reply = httpx.post(f"{url}/get_reward", json={"query": ["BOOM"]}).json()
        assert settings_reply["extra_logs"]["test-boom"] == [None]


def test_unscorable_rows_carry_their_reason(reg):
    with server(composite(reg, {"name": "test-picky"})) as url:
        rows = httpx.post(f"{url}/score", json={"rows": [{"completion": ""}, {"completion": "x"}]}).json()["rows"]
    assert rows[0]["reward"] is None and rows[0]["unscored"] == {"test-picky": "empty completion"}
    assert rows[1]["reward"] == 1.0 and rows[1]["unscored"] == {}


def test_unscored_reward_fills_nulls_for_openrlhf(reg):
    with server(composite(reg, {"name": "test-label"}), ServeSettings(label_column="answer", unscored_reward=-1.0)) as url:
        reply = httpx.post(f"{url}/get_reward", json={"query": ["abc"], "labels": [None]}).json()
    assert reply["rewards"] == [-1.0] and reply["extra_logs"]["test-label"] == [-1.0]


def test_micro_batcher_keeps_jobs_whole_and_in_order(reg):
    CharCount.batch_sizes.clear()
    batcher = MicroBatcher(composite(reg, {"name": "test-charcount"}), max_rows=5, max_wait=0.05)
    futures = [batcher.submit(Rows([""] * n, ["y" * (10 * n + i) for i in range(n)])) for n in (3, 2, 4, 1)]
    results = [f.result(5) for f in futures]
    batcher.close()
    assert [r.total for r in results] == [[30.0, 31.0, 32.0], [20.0, 21.0], [40.0, 41.0, 42.0, 43.0], [10.0]]
    assert all(n <= 5 for n in CharCount.batch_sizes) and sum(CharCount.batch_sizes) == 10


def test_micro_batcher_waits_for_the_callers_it_just_answered(reg):
    """Closed-loop callers (each sends its next row when its reply comes): after the first batch,
    every batch waits (up to wait_fraction x the last call's 1 s) for all of them, instead of
    alternating between cohorts of whoever was queued at the time."""
    batcher = MicroBatcher(composite(reg, {"name": "test-boom"}), max_rows=64, max_wait=0.0, wait_fraction=1.0)

    def caller(round_trip: float) -> None:
        for k in range(3):  # distinct rows: a cached row would not take the source's time
            batcher.submit(Rows([""], [f"SLOW {round_trip} {k}"])).result(60)
            time.sleep(round_trip)  # the reply's way back and the next request's way in

    threads = [threading.Thread(target=caller, args=(0.03 * i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    batcher.close()
    assert batcher.rows == 12
    assert batcher.batches <= 4  # the first batch may hold only the first caller; then all four each time


def test_mappings():
    assert completion_from_query("P: hi A: yo</s><pad><pad>", "P: hi", ("</s>", "<pad>")) == " A: yo"
    with pytest.raises(ValueError):
        completion_from_query("other", "P: hi", ())
    assert label_columns({"a": 1, "b": 2}, "label") == {"a": 1, "b": 2}
    assert label_columns("x", "answer") == {"answer": "x"}


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlit", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_cli_refuses_open_host_without_token_and_busy_port(tmp_path):
    cfg = tmp_path / "r.toml"
    cfg.write_text('[[sources]]\nname = "length"\noptions = { min = 1 }\n')
    r = _cli("serve", "--config", str(cfg), "--host", "0.0.0.0")
    assert r.returncode == 2 and "--host 0.0.0.0" in r.stderr and "--token" in r.stderr and "Traceback" not in r.stderr
    from rlit.serving.run import bind

    busy = bind("127.0.0.1", 0)
    try:
        r = _cli("serve", "--config", str(cfg), "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert r.returncode == 2 and "cannot listen there" in r.stderr and "Traceback" not in r.stderr


def test_cli_token_from_environment(tmp_path):
    """RLIT_SERVE_TOKEN sets the token without putting it on the command line (and in `ps`)."""
    cfg = tmp_path / "r.toml"
    cfg.write_text('[[sources]]\nname = "length"\noptions = { min = 1 }\n')
    proc = subprocess.Popen([sys.executable, "-m", "rlit", "serve", "--config", str(cfg), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "RLIT_SERVE_TOKEN": "s3cret"})
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, line + proc.stderr.read()
        url = line.split("listening on ")[1].split()[0]
        assert "s3cret" not in " ".join(proc.args)
        assert httpx.get(f"{url}/sources").status_code == 401
        assert httpx.get(f"{url}/sources", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)


def test_sigterm_drains_in_flight_requests(tmp_path):
    """A request in flight when SIGTERM arrives is answered; then the process exits 143."""
    script = tmp_path / "serve_slow.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_serve import _Plugin
        from rlit.plugins import PluginSettings, get_registry
        from rlit.cli import main
        get_registry(PluginSettings.from_env()).add_plugin(_Plugin(), "serve-test-plugin")
        main(sys.argv[1:])
    """))
    cfg = tmp_path / "r.toml"
    cfg.write_text('[[sources]]\nname = "test-boom"\n')
    proc = subprocess.Popen([sys.executable, str(script), "serve", "--config", str(cfg), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, line + proc.stderr.read()
        url = line.split("listening on ")[1].split()[0]
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, f"{url}/score", json={"rows": [{"completion": "SLOW"}]}, timeout=30)
            time.sleep(0.4)  # the request is inside the slow source now
            proc.send_signal(signal.SIGTERM)
            reply = pending.result()
        assert reply.status_code == 200 and reply.json()["rows"][0]["reward"] == 0.0
        assert proc.wait(30) == 143
        assert "interrupted (SIGTERM)" in proc.stderr.read()
    finally:
        proc.kill()


def test_sources_lists_a_verl_functions_mapped_columns(tmp_path):
    from rlit.serving.app import source_listing

    (tmp_path / "fns.py").write_text("def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n"
                                     "    return float(solution_str == ground_truth)\n")
    cfg = tmp_path / "reward.toml"
    cfg.write_text('[[sources]]\nfunction = "fns.py:compute_score"\nsignature = "verl"\nname = "exact"\n'
                   '[[sources]]\nfunction = "fns.py:compute_score"\nsignature = "verl"\nname = "mapped"\ncolumns = { ground_truth = "answer" }\n')
    listing = {s["name"]: s for s in source_listing(load_reward(cfg))}
    assert listing["exact"]["columns"] == ["ground_truth"] and listing["mapped"]["columns"] == ["answer"]
