"""`rlit plugins`, `rlit rewards`, `rlit score` (thin: parse, call the library, render)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from rlit import atomic
from rlit.cli.app import app, console, err_console
from rlit.configfile import apply_overrides
from rlit.plugins import get_registry, load_reward
from rlit.rewards.guard import check_options, typed_options
from rlit.rewards.scoring import check_paths, score_jsonl
from rlit.testing import check_source


def _print_json(data: Any) -> None:
    # Plain print: rich's print_json would re-wrap long strings; this output is for machines.
    typer.echo(json.dumps(data, indent=2, default=repr))


# `rlit plugins` lists (as it always has); `rlit plugins check NAME` checks a source's contract.
plugins_app = typer.Typer(help="Installed plugins; `rlit plugins check NAME` checks a reward source against the contract.")
app.add_typer(plugins_app, name="plugins")


@plugins_app.callback(invoke_without_command=True)
def plugins_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List installed plugins: distribution, version, hooks, what they register, load failures."""
    if ctx.invoked_subcommand is not None:
        return
    reg = get_registry()
    data = {"plugins": [asdict(p) for p in reg.plugins.values()], "failures": [asdict(f) for f in reg.failures]}
    if as_json:
        _print_json(data)
        return
    table = Table("plugin", "distribution", "version", "hooks", "registers")
    for p in sorted(reg.plugins.values(), key=lambda p: p.name):
        registers = ", ".join([*p.rewards, *(f"prompt set {s}" for s in p.prompt_sets)])
        table.add_row(p.name, p.distribution or "-", p.version or "-", ", ".join(p.hooks), registers)
    console.print(table)
    _print_failures(reg.failures)


@plugins_app.command("check")
def plugins_check_command(
    name: str = typer.Argument(..., help="An installed reward source (see `rlit rewards`)."),
    option: list[str] = typer.Option([], "--option", "-o", metavar="KEY=VALUE",
                                     help="A constructor option (repeatable; the value is read as TOML, else as a string)."),
) -> None:
    """Check a reward source against the contract (rlit.testing.check_source): one value per row,
    finite scores, empty input, long text, determinism, picklability, typed options, columns.
    Exit 0: every check passed; 1: a check failed; 2: could not run (unknown source, bad option)."""
    cls = get_registry().source_class(name)  # an unknown name: PluginError with did-you-mean, exit 2
    options = apply_overrides({}, option)
    # Bad options are bad input (exit 2, one line naming the option), not a contract failure.
    check_options(cls, options, name)
    cls(**typed_options(cls, options, name))
    results = check_source(cls, options)
    table = Table("check", "verdict", Column("detail", overflow="fold"), title=f"reward source {name!r}")
    colour = {"pass": "green", "fail": "red", "skip": "yellow"}
    for r in results:
        table.add_row(r.name, f"[{colour[r.status]}]{r.status}[/]", r.detail)
    console.print(table, highlight=False)
    failed = [r.name for r in results if not r.ok]
    console.print(f"{name}: {len(failed)} check(s) failed ({', '.join(failed)})" if failed else f"{name}: every check passed", highlight=False)
    if failed:
        raise typer.Exit(1)


def _print_failures(failures: list) -> None:
    for f in failures:
        err_console.print(f"[red]plugin failure[/] {f.plugin} ({f.distribution or '-'}): {f.error}", highlight=False, soft_wrap=True)


def rewards_listing() -> list[dict[str, Any]]:
    """Every registered reward source with its plugin, description, options and direction."""
    reg = get_registry()
    out = []
    for name in sorted(reg.sources):
        entry = reg.sources[name]
        cls = entry.cls
        out.append({
            "name": name,
            "plugin": entry.plugin,
            "distribution": entry.distribution,
            "description": cls.description,
            "higher_is_better": cls.higher_is_better,
            "options": [asdict(o) for o in cls.options()],
            "columns": list(cls.columns),
            "conflicts_with": [o.owner() for o in reg.conflicts.get(name, [])],
        })
    return out


@app.command("rewards")
def rewards_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List reward sources: plugin, description, options (name, type, default), higher-is-better."""
    reg = get_registry()
    listing = rewards_listing()
    if as_json:
        _print_json({"rewards": listing, "failures": [asdict(f) for f in reg.failures]})
        return
    # One block per source, not a table: descriptions and option lists are long.
    for r in listing:
        direction = "higher is better" if r["higher_is_better"] else "lower is better"
        console.print(f"[bold]{r['name']}[/]  (plugin {r['plugin']}, {direction})", highlight=False)
        console.print(f"  {r['description'] or '(no description)'}", highlight=False)
        opts = ", ".join(f"{o['name']}: {o['type']}" + (" (required)" if o["required"] else f" = {o['default']!r}") for o in r["options"])
        console.print(f"  options: {opts or 'none'}", highlight=False)
        if r["columns"]:
            console.print(f"  needs columns: {', '.join(r['columns'])}", highlight=False)
    if not listing:
        console.print("no reward sources installed (see docs/plugin-guide.md)")
    _print_failures(reg.failures)


@app.command("score")
def score_command(
    config: Path = typer.Option(..., "--config", help="Reward config (TOML); see docs/reward-config.md."),
    input: Path = typer.Option(..., "--input", help="JSONL rows with 'prompt', 'completion' and any other columns."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write each row with 'scores' and 'reward' (JSONL)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Rows scored together (normalisation works per batch)."),
    resume: bool = typer.Option(False, "--resume", help="Keep the rows already in --output and continue after them."),
    summary_json: Optional[Path] = typer.Option(None, "--summary-json", help="Also write the summary statistics as JSON."),
) -> None:
    """Score a JSONL file with a reward config: per-source scores and the total for every row."""
    if resume and output is None:
        raise typer.BadParameter("--resume needs --output (the file to continue)")
    check_paths(input, output, summary_json, config)  # before loading any source: fail in a second
    with _warnings_to_stderr():
        reward = load_reward(config)
        summary = _score(reward, input, output, batch_size, resume)
    data = summary.as_dict()
    if summary_json:
        atomic.write_json(summary_json, data, indent=2)
    _print_summary(data, output)


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Source failures skipped under on_error = "skip" and cache problems are warnings of the
    "rlit.rewards" logger: show them as plain lines on stderr while the command runs."""
    logger = logging.getLogger("rlit.rewards")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger.addHandler(handler)
    saved = logger.propagate
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


def _score(reward: Any, input: Path, output: Optional[Path], batch_size: int, resume: bool) -> Any:
    columns = (TextColumn("scoring"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[rows]} rows"), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("score", total=input.stat().st_size if input.is_file() else None, rows=0)
            summary = score_jsonl(reward, input, output, batch_size, resume,
                                  on_progress=lambda done, rows: bar.update(task, completed=done, rows=rows))
    finally:
        reward.close()
    return summary


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _print_summary(data: dict[str, Any], output: Path | None) -> None:
    table = Table(Column("source", no_wrap=True), "weight", "mean", "std", "share", "scored", "unscored", "failed batches",
                  title=f"{data['rows']} rows scored")
    for name, s in data["sources"].items():
        table.add_row(name, _fmt(s["weight"]), _fmt(s["mean"]), _fmt(s["std"]), f"{s['share']:.1%}", str(s["n_scored"]),
                      str(s["n_unscored"]), str(s["failed_batches"]))
    table.add_row("[bold]total[/]", "", _fmt(data["total_mean"]), _fmt(data["total_std"]), "100%", str(data["rows"] - data["n_unscored"]), "", "")
    console.print(table)
    notes = []
    if data["skipped"]:
        notes.append(f"resumed after {data['skipped']} rows already in the output")
    for name, s in data["sources"].items():
        if s["unscored"]:  # on stderr: the few most frequent reasons; all are in --summary-json
            top = "; ".join(f"{reason} ({count})" for reason, count in list(s["unscored"].items())[:3])
            more = f"; and {len(s['unscored']) - 3} more reason(s)" if len(s["unscored"]) > 3 else ""
            err_console.print(f"{name}: {s['n_unscored']} row(s) unscored: {top}{more}", highlight=False, markup=False, soft_wrap=True)
    if data["n_vetoed"]:
        notes.append(f"{data['n_vetoed']} row(s) vetoed")
    if data["n_unscored"]:
        notes.append(f"{data['n_unscored']} row(s) that no source could score (reward null)")
    notes.append(f"{data['scores_from_cache']} score(s) from the cache, {data['scores_computed']} computed")
    if output:
        notes.append(f"wrote {output}")
    for note in notes:
        console.print(note, highlight=False, markup=False)
