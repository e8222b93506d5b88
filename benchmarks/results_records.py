"""Cost of the typed results records: loading and saving a large results.json with
``SuiteResults`` (pydantic records in memory) against the dict records it replaced (results.py as
of commit b49032f, read from git), side by side in one run, alternating, medians.

The file is synthetic (written here): N evals x U units, each prompt with one 200-character
completion, a comparison and a gate, like a run of ``rlit evaluate`` on a large suite.

    python benchmarks/results_records.py [--evals 6] [--units 3000] [--repeats 7] > benchmarks/results/results_records.txt
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable

from rlit.evaluation.results import SuiteResults

REFERENCE = "b49032f"


def reference_module() -> Any:
    """results.py before the typed records, as a module of its own (its gate import dropped: only
    load and save are timed). This runs this repository's own code from its git history (commit
    REFERENCE), nothing a user wrote; the benchmark is run only by hand."""
    src = subprocess.run(["git", "show", f"{REFERENCE}:rlit/evaluation/results.py"], capture_output=True, text=True,
                         check=True).stdout
    src = src.replace("from rlit.evaluation.gate import compare_eval, gate_eval, overall_verdict\n", "")
    src = src.replace("from rlit.evaluation.suite import Suite, _loc", "from rlit.configfile import key_path as _loc\nSuite = object")
    module = types.ModuleType("reference_results")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(src, "reference_results.py", "exec"), module.__dict__)
    return module


def results_doc(n_evals: int, n_units: int) -> dict[str, Any]:
    cmp = {"n_pairs": n_units, "only_current": 0, "only_baseline": 0, "diff": 0.0, "ci": [-0.1, 0.1],
           "lower": -0.05, "upper": 0.05, "alpha": 0.05}
    evals = [{"name": f"e{i}", "status": "ok", "value": 0.5, "stat": "mean", "higher_is_better": True, "ci": [0.4, 0.6],
              "n_units": n_units, "seconds": 1.0, "comparison": cmp,
              "gate": {"status": "pass", "checks": [{"check": "min", "passed": True, "message": "0.5000 >= min 0.1"}]},
              "units": [{"key": f"k{j}", "value": float(j % 2), "weight": 1.0, "category": "c"} for j in range(n_units)],
              "completions": [{"key": f"k{j}", "prompt": "p" * 80, "completions": ["c" * 200]} for j in range(n_units)]}
             for i in range(n_evals)]
    return {"format": "rlit-results/1", "suite": {"name": "bench"}, "verdict": "pass", "baseline": None,
            "manifest": {}, "evals": evals}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=6)
    ap.add_argument("--units", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    ref = reference_module()
    folder = Path(tempfile.mkdtemp())
    path = folder / "results.json"
    path.write_text(json.dumps(results_doc(args.evals, args.units)))
    typed, plain = SuiteResults.load(path), ref.SuiteResults.load(path)
    cases = {"load": (lambda: ref.SuiteResults.load(path), lambda: SuiteResults.load(path)),
             "save": (lambda: plain.save(folder / "ref.json"), lambda: typed.save(folder / "typed.json"))}
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in cases}
    for _ in range(args.repeats):  # alternating, so drift on a shared machine hits both alike
        for name, (a, b) in cases.items():
            times[name][0].append(timed(a))
            times[name][1].append(timed(b))
    same = json.loads((folder / "ref.json").read_text()) == json.loads((folder / "typed.json").read_text())
    print(f"results.json with {args.evals} evals x {args.units} units ({path.stat().st_size / 1e6:.1f} MB), "
          f"median of {args.repeats}, reference = results.py at {REFERENCE}; saved files identical: {same}")
    for name, (a, b) in times.items():
        ra, rb = statistics.median(a), statistics.median(b)
        print(f"{name}: reference {ra * 1000:.0f} ms, typed {rb * 1000:.0f} ms, typed / reference {rb / ra:.2f}")


if __name__ == "__main__":
    main()
