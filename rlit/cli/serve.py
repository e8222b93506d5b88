"""`rlit serve`: the composite reward behind an HTTP server (thin: parse, check, call the library)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from rlit import interrupts
from rlit.cli.app import app, log_line
from rlit.serving.protocol import DEFAULT_STRIP_SUFFIXES, ServeSettings


@app.command("serve")
def serve_command(
    config: Path = typer.Option(..., "--config", help="Reward config (TOML); see docs/reward-config.md."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --token."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0 = any free port, printed at start)."),
    token: Optional[str] = typer.Option(None, "--token", envvar="RLIT_SERVE_TOKEN", help="Bearer token clients must send (env RLIT_SERVE_TOKEN keeps it out of the process list)."),
    max_batch_rows: int = typer.Option(256, "--max-batch-rows", min=1, help="Rows of concurrent requests merged into one composite call."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0, help="How long the scorer waits for more requests to fill a batch (at least)."),
    wait_fraction: float = typer.Option(0.25, "--wait-fraction", min=0, max=1, help="Longest wait for the clients just answered to send again, as a fraction of the last batch's scoring time."),
    max_request_rows: int = typer.Option(1024, "--max-request-rows", min=1, help="Rows (or queries) allowed in one request."),
    max_request_bytes: int = typer.Option(8 * 1024 * 1024, "--max-request-bytes", min=1, help="Request body size limit."),
    label_column: str = typer.Option("label", "--label-column", help="Column that OpenRLHF's labels become (an object label gives one column per key)."),
    strip_suffix: Optional[List[str]] = typer.Option(None, "--strip-suffix", help="EOS/pad text stripped from the end of OpenRLHF queries (repeatable; replaces the defaults)."),
    unscored_reward: Optional[float] = typer.Option(None, "--unscored-reward", help="/get_reward: value sent for a row no source scored (default null)."),
    drain_timeout: float = typer.Option(30.0, "--drain-timeout", min=0, help="Seconds SIGTERM waits for in-flight requests."),
) -> None:
    """Serve a reward config over HTTP: POST /score, POST /get_reward (OpenRLHF), GET /health, /sources."""
    from rlit.plugins import load_reward
    from rlit.serving.run import check_host, serve

    settings = ServeSettings(
        max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms, wait_fraction=wait_fraction, max_request_rows=max_request_rows,
        max_request_bytes=max_request_bytes, token=token, label_column=label_column,
        strip_suffixes=tuple(strip_suffix) if strip_suffix else DEFAULT_STRIP_SUFFIXES, unscored_reward=unscored_reward,
    )
    check_host(host, token)  # before loading models: a refused host fails in a second
    reward = load_reward(config)
    if any((e.config.normalize or reward.config.normalize) == "batch" for e in reward.entries):
        log_line("note: normalize = \"batch\" z-scores each micro-batch, so a row's reward depends on which requests share its batch")
    logging.getLogger("rlit.serving").addHandler(logging.StreamHandler())

    def ready(url: str) -> None:
        names = ", ".join(e.name for e in reward.entries)
        # Plain echo, never wrapped: scripts read the URL from this line (with --port 0 especially).
        typer.echo(f"rlit serve: listening on {url} (sources: {names})", err=False)
        typer.echo("POST /score, POST /get_reward, GET /health, GET /sources; Ctrl-C or SIGTERM stops after the requests in flight are answered")

    try:
        with interrupts.keeping("the server stopped after answering the requests in flight; nothing else is kept"):
            serve(reward, settings, host, port, on_ready=ready, drain_timeout=drain_timeout)
    finally:
        reward.close()
