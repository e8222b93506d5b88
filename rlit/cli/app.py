"""The typer application and the one place where errors become exit codes."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from rlit.errors import RlitError
from rlit.plugins import PluginSettings, get_registry

app = typer.Typer(help="rlit: RL on top of instruction tuning, driven by evaluation.", no_args_is_help=True, add_completion=False)
train_app = typer.Typer(help="Training stages: sft, reward-model, preference-pairs, ppo, grpo, rloo.", no_args_is_help=True)
app.add_typer(train_app, name="train")

console = Console()
err_console = Console(stderr=True)


def log_line(message: str) -> None:
    """Print a library progress line as plain text (paths and [tables] are not rich markup)."""
    console.print(message, highlight=False, markup=False)


@app.callback()
def _global_options(
    strict_plugins: bool = typer.Option(False, "--strict-plugins", help="Fail if any plugin fails to load (env RLIT_STRICT_PLUGINS=1)."),
    allow_plugins: Optional[str] = typer.Option(None, "--allow-plugins", help="Comma-separated entry-point names to load, no others (env RLIT_PLUGINS_ALLOW)."),
    block_plugins: Optional[str] = typer.Option(None, "--block-plugins", help="Comma-separated entry-point names not to load (env RLIT_PLUGINS_BLOCK)."),
) -> None:
    settings = PluginSettings.from_env()
    if strict_plugins:
        settings.strict = True
    if allow_plugins is not None:
        settings.allow = frozenset(n.strip() for n in allow_plugins.split(",") if n.strip())
    if block_plugins is not None:
        settings.block = settings.block | {n.strip() for n in block_plugins.split(",") if n.strip()}
    get_registry(settings)


def main() -> None:
    """Console-script entry point: runs the app and maps rlit errors to exit codes."""
    try:
        app(standalone_mode=False)
    except RlitError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (typer's vendored click) carry their own message and exit code.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
