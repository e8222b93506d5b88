"""Rows per second through `rlit serve` against in-process `rlit score`, same rows and sources,
in one run.

In-process: ``rlit.rewards.scoring.score_jsonl`` (what `rlit score` runs) at --batch-size. Server: the
real CLI (`rlit serve` in a subprocess, port 0) driven by --clients concurrent aiohttp clients
(one shared session each way, so this measures the server, not connection set-up):

  one-row/get_reward   one query per request, OpenRLHF's protocol, as its rollouts send
  ... --wait-fraction 0 the same without waiting for the clients just answered (the old scheduler)
  one-row, no batching the same with --max-batch-rows 1 (what micro-batching buys)
  batched/score        --batch-size rows per /score request

Each line gives the median rows/s of --repeats interleaved runs (a shared machine slows whichever
run it hits), the spread (min-max) and the mean rows per composite call the server made.

Presets: ``rules`` (the rules plugin's `length` + `repetition`: microseconds per row, so HTTP
overhead dominates) and ``minilm`` (the similarity plugin's `relevance`, MiniLM embeddings: a
model source, where a server is used in practice). The score cache is off so every row is scored.

    python benchmarks/serve_throughput.py --preset rules minilm --rows 400 --clients 32 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = {
    "rules": 'cache_size = 0\n[[sources]]\nname = "length"\noptions = { min = 5, max = 60 }\n'
             '[[sources]]\nname = "repetition"\n',
    "minilm": 'cache_size = 0\n[[sources]]\nname = "relevance"\noptions = { batch_size = 64 }\n',
}


def make_rows(n: int, tag: str = "Question", seed: int = 0) -> list[dict]:
    """Distinct rows (a source's own caches, e.g. MiniLM embeddings, must not make a run free)."""
    import random

    rng = random.Random(seed)
    words = "the a reward model policy gradient value token batch score calm quiet river stone light".split()
    return [{"prompt": f"{tag} {i}: describe the {rng.choice(words)}.",
             "completion": " ".join(rng.choice(words) for _ in range(rng.randint(10, 60)))} for i in range(n)]


WARM_ROWS = make_rows(128, "Warm-up", seed=1)


def in_process(config: Path, rows_file: Path, warm_file: Path, batch_size: int) -> float:
    from rlit.plugins import load_reward
    from rlit.rewards.scoring import score_jsonl

    reward = load_reward(config)
    score_jsonl(reward, warm_file, None, batch_size)  # warm-up on other rows: models loaded
    t0 = time.perf_counter()
    summary = score_jsonl(reward, rows_file, None, batch_size)
    return summary.rows / (time.perf_counter() - t0)


def start_server(config: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "rlit", "serve", "--config", str(config), "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"rlit serve did not start: {line}{proc.stderr.read()}")
    return proc, line.split("listening on ")[1].split()[0]


async def drive(url: str, rows: list[dict], clients: int, per_request: int) -> tuple[float, float]:
    """Rows/s of ``clients`` keep-alive clients sending ``rows``, and the mean rows per composite call."""
    import aiohttp

    chunks = [rows[i : i + per_request] for i in range(0, len(rows), per_request)]
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(0, len(WARM_ROWS), per_request):
        queue.put_nowait(WARM_ROWS[i : i + per_request])
    timeout = aiohttp.ClientTimeout(total=600)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            if per_request == 1:  # OpenRLHF: query = prompt + response (+ EOS), one per request
                r = chunk[0]
                body = {"query": [r["prompt"] + r["completion"] + "<|endoftext|>"], "prompts": [r["prompt"]], "labels": [None]}
                path = "/get_reward"
            else:
                body, path = {"rows": chunk}, "/score"
            async with session.post(url + path, json=body) as reply:
                reply.raise_for_status()
                await reply.json()

    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(min(clients, 8))))  # warm-up, other rows
        for c in chunks:
            queue.put_nowait(c)
        before = await _health(session, url)
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        rate = len(rows) / (time.perf_counter() - t0)
        after = await _health(session, url)
        calls = after["batches"] - before["batches"]
        return rate, (after["rows"] - before["rows"]) / max(calls, 1)


async def _health(session, url: str) -> dict:
    async with session.get(url + "/health") as reply:
        return await reply.json()


def through_server(config: Path, rows: list[dict], clients: int, per_request: int, *extra: str) -> tuple[float, float]:
    proc, url = start_server(config, *extra)
    try:
        return asyncio.run(drive(url, rows, clients, per_request))
    finally:
        proc.terminate()
        proc.wait(30)


def run_preset(name: str, n: int, clients: int, batch_size: int, repeats: int, tmp: Path, unbatched: bool = True) -> list[str]:
    """Each mode ``repeats`` times, interleaved, reporting the median rows/s, its spread and its
    ratio to the in-process median."""
    import statistics

    config = tmp / f"{name}.toml"
    config.write_text(PRESETS[name])
    warm_file = tmp / "warm.jsonl"
    warm_file.write_text("".join(json.dumps(r) + "\n" for r in WARM_ROWS))
    one = f"one-row /get_reward, {clients} clients"
    modes = {
        f"in-process rlit score (batch {batch_size})": lambda rows, f: (in_process(config, f, warm_file, batch_size), batch_size),
        one: lambda rows, f: through_server(config, rows, clients, 1),
        f"{one}, --wait-fraction 0": lambda rows, f: through_server(config, rows, clients, 1, "--wait-fraction", "0"),
        f"{one}, --max-batch-rows 1": lambda rows, f: through_server(config, rows, clients, 1, "--max-batch-rows", "1"),
        f"batched /score ({batch_size} rows/request), 4 clients": lambda rows, f: through_server(config, rows, 4, batch_size),
    }
    if not unbatched:  # the slowest mode (one composite call per row): skip it for a quicker run
        modes = {k: v for k, v in modes.items() if "--max-batch-rows 1" not in k}
    rates: dict[str, list[float]] = {label: [] for label in modes}
    sizes: dict[str, list[float]] = {label: [] for label in modes}
    for k in range(repeats):
        for j, (label, run) in enumerate(modes.items()):
            rows = make_rows(n, f"Run{k}.{j}", seed=10 * k + j)  # unseen rows: no cache anywhere helps
            rows_file = tmp / "rows.jsonl"
            rows_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
            rate, size = run(rows, rows_file)
            rates[label].append(rate)
            sizes[label].append(size)
    base = statistics.median(next(iter(rates.values())))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"preset {name}: {n} rows, median of {repeats} interleaved runs (spread min-max); load average after: {load}",
             f"  {'':<58} {'rows/s':>9} {'ratio':>6}  {'spread':>13}  {'µs/row':>8}  rows/call"]
    for label, v in rates.items():
        med = statistics.median(v)
        lines.append(f"  {label:<58} {med:9.1f} {med / base:5.2f}x  {min(v) / base:5.2f}-{max(v) / base:5.2f}x"
                     f"  {1e6 / med:8.0f}  {statistics.mean(sizes[label]):6.1f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", nargs="+", default=["rules", "minilm"], choices=sorted(PRESETS))
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-unbatched", action="store_true", help="skip the --max-batch-rows 1 mode (slow with a model)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "serve_throughput.txt")
    args = ap.parse_args()
    lines = [f"serve throughput, {os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.preset:
            lines += run_preset(name, args.rows, args.clients, args.batch_size, args.repeats, Path(tmp), not args.no_unbatched)
            print("\n".join(lines[-7:]), flush=True)
    from rlit.atomic import write_text

    write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
