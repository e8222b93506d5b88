"""The typer application and the one place where errors become exit codes."""

from __future__ import annotations

import sys
import traceback
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from rlit.errors import RlitError
from rlit import interrupts
from rlit.version import __version__
from rlit.plugins import PluginSettings, get_registry

app = typer.Typer(help="rlit: RL on top of instruction tuning, driven by evaluation.", no_args_is_help=True, add_completion=True)
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
    version: bool = typer.Option(False, "--version", is_eager=True, callback=lambda v: _version(v), help="Print rlit's version and each loaded plugin's distribution and version, then exit."),
) -> None:
    settings = PluginSettings.from_env()
    if strict_plugins:
        settings.strict = True
    if allow_plugins is not None:
        settings.allow = frozenset(n.strip() for n in allow_plugins.split(",") if n.strip())
    if block_plugins is not None:
        settings.block = settings.block | {n.strip() for n in block_plugins.split(",") if n.strip()}
    get_registry(settings)


def _version(asked: bool) -> None:
    """Eager: runs while parsing, before a command is required; plugins load with the env settings."""
    if asked:
        _print_versions(get_registry(PluginSettings.from_env()))
        raise typer.Exit(0)


def _print_versions(registry: object) -> None:
    """rlit's version, then one line per plugin that loaded (name, distribution, version)."""
    log_line(f"rlit {__version__}")
    for p in registry.plugins.values():  # type: ignore[attr-defined]
        log_line(f"  {p.name}: {p.distribution or '-'} {p.version or ''}".rstrip())
    for f in registry.failures:  # type: ignore[attr-defined]
        log_line(f"  {f.plugin}: {f.distribution or '-'} (failed to load)")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and maps every outcome to one exit code.

    0 success / pass, 1 a gate failed (evaluate and gate only), 2 could not run (bad input, broken
    plugin, unusable device or output), 130 / 143 interrupted by SIGINT / SIGTERM, with one line
    saying what was kept. Tracebacks are for bugs only.
    """
    restore = interrupts.install_handlers()
    try:
        code = app(args=argv, standalone_mode=False)
    except RlitError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except typer.Abort as exc:
        _interrupted(exc.__cause__ or exc.__context__ or KeyboardInterrupt())
    except OSError as exc:
        # The environment refused something nobody checked first (disk full, permissions).
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", 2)
    except Exception as exc:
        # Usage errors (typer's vendored click) carry their own message and exit code.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        # A bug (in rlit or a plugin): show the traceback, but never exit 1, which evaluate and
        # gate reserve for "gate failed".
        traceback.print_exc()
        _fail(f"internal error (a bug, please report it): {type(exc).__name__}: {exc}".splitlines()[0], 2)
    finally:
        restore()
    # typer returns (not raises) the code of an Exit in non-standalone mode, and 130 for an
    # interrupt it caught itself.
    if code == 130:
        _interrupted(KeyboardInterrupt())
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _interrupted(exc: BaseException) -> None:
    code, name, kept = interrupts.report(exc)
    err_console.print(f"[bold red]interrupted[/] ({name}): {escape(kept)}", highlight=False, soft_wrap=True)
    sys.exit(code)
