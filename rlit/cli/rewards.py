"""`rlit plugins`, `rlit rewards`, `rlit score`."""

from __future__ import annotations

import json

import typer

from rlit.cli.app import app, console
from rlit.plugins import get_registry


@app.command("plugins")
def plugins_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List installed plugins: distribution, version, hooks, what they register, load failures."""
    reg = get_registry()
    data = {
        "plugins": [vars(p) for p in reg.plugins.values()],
        "failures": [vars(f) for f in reg.failures],
    }
    if as_json:
        console.print_json(json.dumps(data))
        return
    from rich.table import Table

    table = Table("plugin", "distribution", "version", "hooks", "registers")
    for p in reg.plugins.values():
        table.add_row(p.name, p.distribution or "-", p.version or "-", ", ".join(p.hooks), ", ".join(p.rewards))
    console.print(table)
    for f in reg.failures:
        console.print(f"[red]failed[/] {f.plugin} ({f.distribution or '-'}): {f.error}")
