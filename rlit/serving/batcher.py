"""One scorer thread for a composite reward, fed by many callers: concurrent requests (the HTTP
server's, or verl's per-sample calls from its thread pool) are merged into one ``score_batch``
call. Reward sources are not thread-safe and a batched call is where models earn their keep, so
every composite call happens on this one thread; callers get a ``Future`` for their own rows.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from rlit.rewards.batch import RewardBatch
from rlit.rewards.composite import CompositeReward
from rlit.serving.protocol import Rows, merge_rows

log = logging.getLogger("rlit.serving")
_STOP = object()


@dataclass
class _Job:
    rows: Rows
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """Scores ``Rows`` on one worker thread, merging queued jobs up to ``max_rows`` rows. A job is
    never split.

    How long a batch waits to fill: callers of a reward server run in a closed loop (OpenRLHF's
    rollout workers send a sample's next row when its last reward comes back), so the callers a
    batch has just answered are about to send again. The next batch therefore waits until it holds
    as many rows as were queued plus just answered, or until ``wait_fraction`` of the last
    composite call's time has passed (a few ms for rule sources, a fraction of a second for a
    model), whichever comes first; never less than ``max_wait`` seconds. Without this, the callers
    split into cohorts that alternate on the scorer, each batch half as big as it could be (with
    MiniLM, twice the padding and per-call cost per row)."""

    def __init__(self, reward: CompositeReward, max_rows: int = 256, max_wait: float = 0.002, wait_fraction: float = 0.25):
        self.reward = reward
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.wait_fraction = wait_fraction
        self.batches = 0  # composite calls made (for /health and the benchmark)
        self.rows = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._carry: _Job | None = None  # a job that did not fit the last batch
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rlit-scorer", daemon=True)
        self._thread.start()

    def submit(self, rows: Rows) -> "Future[RewardBatch]":
        """Queue ``rows``; the future gets their share of the scored batch (``RewardBatch.slice``:
        the batch's statistics, these rows' values), or the error that stopped them."""
        job = _Job(rows)
        with self._lock:  # no job may slip in behind the stop marker
            if self._closed:
                raise RuntimeError("the scorer is shut down")
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Finish every queued job, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        expect, wait = self.max_rows, self.max_wait  # after idle: the plain max_wait
        while not stopping:
            first = self._carry or self._queue.get()
            self._carry = None
            if first is _STOP:
                return
            jobs, stopping = self._gather(first, expect, wait)
            live = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # callers gone: skip
            if not live:
                continue
            t0 = time.monotonic()
            self._score(live)
            took = time.monotonic() - t0
            # Rows to wait for next time: the callers just answered (they come back) plus the
            # queue (approximate; a job of the carry counts as queued).
            answered = sum(len(j.rows) for j in live)
            queued = self._queue.qsize() + (len(self._carry.rows) if isinstance(self._carry, _Job) else 0)
            expect = min(self.max_rows, answered + queued)
            wait = max(self.max_wait, self.wait_fraction * took)

    def _gather(self, first: _Job, expect: int, wait: float) -> tuple[list[_Job], bool]:
        """Jobs for one batch: ``first``, everything queued, then more until ``expect`` rows are
        in or ``wait`` seconds have passed."""
        jobs, n = [first], len(first.rows)
        deadline = time.monotonic() + wait
        while n < self.max_rows:
            left = deadline - time.monotonic() if n < expect else 0.0
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            if n + len(job.rows) > self.max_rows:
                self._carry = job
                break
            jobs.append(job)
            n += len(job.rows)
        return jobs, False

    def _score(self, jobs: list[_Job]) -> None:
        try:
            merged = merge_rows([j.rows for j in jobs])
            res = self.reward.score_batch(merged.prompts, merged.completions, **merged.columns)
        except Exception as exc:  # noqa: BLE001 - every error goes to a caller, the thread lives on
            if len(jobs) > 1:  # find whose rows failed: one request's bad rows must not fail the others
                for job in jobs:
                    self._score([job])
                return
            jobs[0].future.set_exception(exc)
            return
        self.batches += 1
        self.rows += len(merged)
        start = 0
        for job in jobs:
            job.future.set_result(res.slice(start, start + len(job.rows)))
            start += len(job.rows)
