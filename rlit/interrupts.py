"""What an interrupted command says it kept, and SIGINT / SIGTERM as one kind of interrupt.

Long-running work registers one line saying what survives an interrupt and how to resume::

    with interrupts.keeping("rows scored so far are in out.jsonl.part; rerun with --resume"):
        ...

The CLI (rlit/cli/app.py) turns SIGINT and SIGTERM into exit codes 130 and 143 and prints the
innermost line registered when the interrupt arrived, so an interrupted release gate never reads
as a pass. (typer swallows KeyboardInterrupt and returns 130, so the signal and the line are
recorded here as the interrupt unwinds, not read from the exception.)
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable, Iterator

_kept: list[Callable[[], str]] = []
_last: dict[str, object] = {}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean-up runs (``finally`` blocks, partial writes)."""


@contextmanager
def keeping(message: str | Callable[[], str]) -> Iterator[None]:
    """While the block runs, an interrupt reports ``message`` (what was kept, how to resume).

    ``message`` may be a callable, evaluated when the interrupt arrives (e.g. rows done so far).
    """
    _kept.append(message if callable(message) else (lambda: message))
    try:
        yield
    except KeyboardInterrupt as exc:
        if _last.get("exc") is not exc:  # the innermost block knows best what it kept
            if "exc" in _last:  # left from an earlier interrupt that nobody reported
                _last.clear()
            _last["exc"], _last["message"] = exc, _kept[-1]()
        raise
    finally:
        _kept.pop()


def _record(signum: int) -> None:
    _last.clear()
    _last["signum"] = signum


def install_handlers() -> Callable[[], None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (``Terminated`` for SIGTERM) in the main thread,
    after recording which signal came: the default SIGTERM kills without clean-up or a word.
    Returns a function that puts the previous handlers back."""

    def on_int(signum: int, frame: object) -> None:
        _record(signum)
        raise KeyboardInterrupt()

    def on_term(signum: int, frame: object) -> None:
        _record(signum)
        raise Terminated()

    _last.clear()
    try:
        old = signal.signal(signal.SIGINT, on_int), signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (e.g. a library user's worker)
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])

    return restore


def report(exc: BaseException | None = None) -> tuple[int, str, str]:
    """(exit code, signal name, what was kept) for the interrupt that just ended a command."""
    signum = int(_last.get("signum") or (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT))
    message = str(_last.get("message") or "nothing was written")
    _last.clear()
    return 128 + signum, signal.Signals(signum).name, message
