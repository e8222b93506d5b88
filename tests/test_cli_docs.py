"""docs/cli.md is generated from the typer app; this fails when a command or option changed
without regenerating it (scripts/gen_cli_docs.sh)."""

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_cli_reference_is_current(tmp_path):
    out = tmp_path / "cli.md"
    subprocess.run([sys.executable, "-m", "typer", "rlit.cli", "utils", "docs", "--name", "rlit",
                    "--title", "CLI reference", "--output", str(out)], check=True, capture_output=True)
    assert out.read_text() == DOCS.read_text(), "docs/cli.md is stale: run scripts/gen_cli_docs.sh"
