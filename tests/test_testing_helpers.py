"""rlit.testing: temporary plugins, the pytest fixtures, the source contract check, `rlit plugins check`."""

from __future__ import annotations

import json
import math
import random

import pytest

import rlit
from rlit.plugins import get_registry
from rlit.testing import CheckResult, check_source, temporary_plugin


class Good(rlit.RewardSource):
    name = "t-good"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def score(self, prompts, completions, **columns):
        return [None if not c else self.scale * len(c) / (1 + len(c)) for c in completions]


class Plugin:
    def __init__(self, *classes):
        self.classes = classes

    @rlit.hookimpl
    def register_rewards(self, register):
        for cls in self.classes:
            register(cls)


def verdicts(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.status for r in results}


def test_temporary_plugin_always_unregisters():
    reg = get_registry()
    with pytest.raises(RuntimeError):
        with temporary_plugin(Plugin(Good), "t-plugin") as inside:
            assert inside.source_class("t-good") is Good
            raise RuntimeError("boom")
    assert "t-good" not in reg.sources and "t-plugin" not in reg.plugins


def test_fixtures_come_from_the_pytest_plugin(rlit_temp_plugin, rlit_registry):
    reg = rlit_temp_plugin(Plugin(Good), "t-fixture")
    assert reg is rlit_registry and reg.source_class("t-good") is Good


def test_a_good_source_passes_every_check():
    results = check_source(Good, {"scale": 2.0})
    assert all(r.ok for r in results), results
    assert verdicts(results) == {"option types": "pass", "construct": "pass", "one value per row": "pass",
                                 "declared columns": "skip", "empty input": "pass", "long text": "pass",
                                 "deterministic": "pass", "picklable": "pass"}


def bad(name: str, score, **attrs):
    return type(name, (rlit.RewardSource,), {"name": f"t-{name}", "score": score, **attrs})


@pytest.mark.parametrize("cls, failed", [
    (bad("short", lambda self, p, c, **k: [1.0] * max(0, len(c) - 1)), "one value per row"),
    (bad("nan", lambda self, p, c, **k: [math.nan for _ in c]), "one value per row"),
    (bad("inf", lambda self, p, c, **k: [math.inf for _ in c]), "one value per row"),
    (bad("text", lambda self, p, c, **k: ["1" for _ in c]), "one value per row"),
    (bad("random", lambda self, p, c, **k: [random.random() for _ in c]), "deterministic"),
    (bad("nonempty", lambda self, p, c, **k: [0.0] * max(1, len(c))), "empty input"),
    (bad("short-only", lambda self, p, c, **k: [1 / (len(c[0]) < 10_000) for _ in c] if c else []), "long text"),
    (bad("untyped", lambda self, p, c, **k: [0.0 for _ in c], __init__=lambda self, level=1: None), "option types"),
    (bad("unpicklable", lambda self, p, c, **k: [0.0 for _ in c], __init__=lambda self: setattr(self, "f", lambda: 0)), "picklable"),
    (bad("columns", lambda self, p, c, **k: [float(len(k["label"])) for _ in c] if "label" in k else 1 / 0,
         columns=("label",)), None),
])
def test_each_broken_contract_fails_its_check(cls, failed):
    results = verdicts(check_source(cls))
    if failed is None:
        # (classes made by type() here are not importable, so only "picklable" may fail)
        assert results["declared columns"] == results["one value per row"] == results["long text"] == "pass", results
    else:
        assert results[failed] == "fail", results


def test_unscorable_and_none_are_allowed():
    cls = bad("unscorable", lambda self, p, c, **k: [rlit.Unscorable("no") if x else None for x in c])
    assert [r.name for r in check_source(cls) if not r.ok] == ["picklable"]  # a local class: not importable


def test_bad_options_fail_the_option_check():
    results = verdicts(check_source(Good, {"scale": "big"}))
    assert results["option types"] == "fail" and results["construct"] == "fail"


def run(capsys, *argv):
    from rlit.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_plugins_check_cli_verdicts_and_exit_codes(capsys):
    with temporary_plugin(Plugin(Good, bad("nan", lambda self, p, c, **k: [math.nan for _ in c]))):
        code, out, _ = run(capsys, "plugins", "check", "t-good", "--option", "scale=2.5")
        assert code == 0 and "every check passed" in out and "picklable" in out
        code, out, _ = run(capsys, "plugins", "check", "t-nan")
        assert code == 1 and "one value per row" in out and "check(s) failed" in out
        code, _, err = run(capsys, "plugins", "check", "t-god")
        assert code == 2 and "did you mean 't-good'" in err and "Traceback" not in err
        code, _, err = run(capsys, "plugins", "check", "t-good", "--option", "scale=big")
        assert code == 2 and "t-good.options.scale" in err


def test_plugins_listing_is_unchanged(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0 and {"plugins", "failures"} <= set(json.loads(out))
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and "rules" in out
