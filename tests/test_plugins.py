"""The plugin manager: hooks, isolation of faulty plugins, duplicates, strict mode, allow/block
lists, and real pip-installed distributions discovered through their entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rlit
from rlit.errors import PluginError
from rlit.plugins import PluginRegistry, PluginSettings, get_registry

REPO = Path(__file__).resolve().parents[1]


def make_source(source_name: str) -> type[rlit.RewardSource]:
    class Src(rlit.RewardSource):
        name = source_name
        description = "test source"

        def score(self, prompts, completions, **columns):
            return [1.0 for _ in completions]

    return Src


class RewardsPlugin:
    def __init__(self, *names: str):
        self.classes = [make_source(n) for n in names]

    @rlit.hookimpl
    def register_rewards(self, register):
        for cls in self.classes:
            register(cls)


# -- hooks -----------------------------------------------------------------------------------
def test_hook_register_rewards(temp_plugin):
    plugin = RewardsPlugin("t-one", "t-two")
    reg = temp_plugin(plugin, "two-sources")
    assert reg.source_class("t-one") is plugin.classes[0]
    assert reg.sources["t-two"].plugin == "two-sources"
    info = reg.plugins["two-sources"]
    assert info.hooks == ["register_rewards"] and info.rewards == ["t-one", "t-two"]


def test_hook_register_prompt_sets(temp_plugin):
    class Prompts:
        @rlit.hookimpl
        def register_prompt_sets(self, register):
            register("t-scheme", lambda spec: [{"prompt": f"{spec} {i}"} for i in range(2)])

    reg = temp_plugin(Prompts(), "prompts")
    assert reg.prompt_set_loader("t-scheme")("hi") == [{"prompt": "hi 0"}, {"prompt": "hi 1"}]
    assert reg.plugins["prompts"].prompt_sets == ["t-scheme"]
    reg.remove_plugin("prompts")
    assert "t-scheme" not in reg.prompt_sets
    with pytest.raises(PluginError, match="unknown prompt-set scheme 't-scheme'"):
        reg.prompt_set_loader("t-scheme")


def test_remove_plugin_forgets_everything(temp_plugin):
    reg = temp_plugin(RewardsPlugin("t-gone"), "gone")
    reg.remove_plugin("gone")
    assert "t-gone" not in reg.sources and "gone" not in reg.plugins and reg.pm.get_plugin("gone") is None


def test_unknown_source_suggests_close_names(temp_plugin):
    reg = temp_plugin(RewardsPlugin("t-politeness"), "polite")
    with pytest.raises(PluginError, match=r"unknown reward source 't-politenes'; did you mean 't-politeness'\?"):
        reg.source_class("t-politenes")


# -- faulty plugins --------------------------------------------------------------------------
def test_duplicate_source_name_is_an_error_naming_both(temp_plugin):
    reg = temp_plugin(RewardsPlugin("t-dup"), "first")
    temp_plugin(RewardsPlugin("t-dup", "t-fine"), "second")
    assert reg.source_class("t-fine")  # the rest of the second plugin still loads
    with pytest.raises(PluginError, match=r"'t-dup' is registered twice: by plugin 'first' .* and by plugin 'second'"):
        reg.source_class("t-dup")
    assert any("registered twice" in f.error and f.plugin == "second" for f in reg.failures)
    reg.remove_plugin("first")
    assert reg.sources["t-dup"].plugin == "second"  # conflict resolved


def test_plugin_whose_hook_raises_is_recorded_and_others_load(temp_plugin):
    class Raising:
        @rlit.hookimpl
        def register_rewards(self, register):
            raise ValueError("cannot register today")

    reg = temp_plugin(Raising(), "raising")
    temp_plugin(RewardsPlugin("t-ok"), "ok")
    assert "raising" not in reg.plugins and reg.source_class("t-ok")
    failure = [f for f in reg.failures if f.plugin == "raising"][0]
    assert "register_rewards raised ValueError: cannot register today" in failure.error


@pytest.mark.parametrize("plugin, problem", [
    (type("NotSource", (), {"register_rewards": rlit.hookimpl(lambda register: register(dict))}), "not a subclass of rlit.RewardSource"),
    (type("NoName", (), {"register_rewards": rlit.hookimpl(lambda register: register(type("X", (rlit.RewardSource,), {})))}), "has no name"),
    (type("UnknownHook", (), {"register_widgets": rlit.hookimpl(lambda register: None)}), "registration failed"),
    (type("ExtraArg", (), {"register_rewards": rlit.hookimpl(lambda register, extra: None)}), "registration failed"),
])
def test_bad_registrations_are_recorded(temp_plugin, plugin, problem):
    reg = temp_plugin(plugin, "bad")
    assert any(f.plugin == "bad" and problem in f.error for f in reg.failures)


def test_strict_mode_makes_failures_fatal():
    reg = PluginRegistry(PluginSettings(strict=True))
    reg.add_plugin(RewardsPlugin("t-dup"), "first")
    with pytest.raises(PluginError, match=r"plugin 'second' \(no distribution\): reward source name 't-dup' is registered twice"):
        reg.add_plugin(RewardsPlugin("t-dup"), "second")


# -- allow / block lists ---------------------------------------------------------------------
def test_allow_and_block_lists_from_environment(monkeypatch):
    monkeypatch.setenv("RLIT_PLUGINS_ALLOW", "example")
    reg = PluginRegistry(PluginSettings.from_env())
    reg.load_entry_points()
    assert list(reg.plugins) == ["example"]
    monkeypatch.delenv("RLIT_PLUGINS_ALLOW")
    monkeypatch.setenv("RLIT_PLUGINS_BLOCK", "example, exampel")
    monkeypatch.setenv("RLIT_STRICT_PLUGINS", "0")
    settings = PluginSettings.from_env()
    assert settings.block == {"example", "exampel"} and not settings.strict
    reg = PluginRegistry(PluginSettings(allow=frozenset({"nothing"}), block=settings.block))
    reg.load_entry_points()
    assert reg.plugins == {}
    typo = [f.error for f in reg.failures if f.plugin == "exampel"][0]
    assert "block-list names it" in typo and "did you mean 'example'" in typo


def test_get_registry_is_reused_for_equal_settings(registry):
    assert get_registry(PluginSettings.from_env()) is registry
    assert get_registry(PluginSettings(allow=frozenset({"example"}))) is not registry
    get_registry(reload=True)


# -- real distributions installed with pip ---------------------------------------------------
def make_dist(root: Path, dist: str, entry: str, body: str) -> Path:
    folder = root / dist
    package = dist.replace("-", "_")
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text(textwrap.dedent(body))
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{dist}"
        version = "0.0.1"
        dependencies = ["rlit"]
        [project.entry-points.rlit]
        {entry} = "{package}"
        [tool.setuptools.packages.find]
        include = ["{package}*"]
    """))
    return folder


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """plugins/rlit-example plus two throwaway plugins, installed with pip into a target folder."""
    root = tmp_path_factory.mktemp("dists")
    example = root / "rlit-example"
    shutil.copytree(REPO / "plugins" / "rlit-example", example, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    broken = make_dist(root, "rlit-broken", "broken", 'raise RuntimeError("broken on purpose")\n')
    dup = make_dist(root, "rlit-dup", "dup", """
        import rlit

        class Copycat(rlit.RewardSource):
            name = "example-lowercase"

        @rlit.hookimpl
        def register_rewards(register):
            register(Copycat)
    """)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(example), str(broken), str(dup)],
        check=True, capture_output=True,
    )
    return target


def rlit_cli(site: Path, *args: str, allow: str = "example,broken", **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RLIT_")}
    environ.update(PYTHONPATH=str(site), RLIT_PLUGINS_ALLOW=allow, **env)
    return subprocess.run([sys.executable, "-c", "from rlit.cli import main; main()", *args],
                          capture_output=True, text=True, env=environ, cwd=site.parent)


def test_pip_installed_plugin_is_listed_and_used_by_score(site, tmp_path):
    listed = rlit_cli(site, "rewards", "--json")
    assert listed.returncode == 0, listed.stderr
    rewards = {r["name"]: r for r in json.loads(listed.stdout)["rewards"]}
    assert rewards["example-lowercase"]["distribution"] == "rlit-example"
    assert rewards["example-lowercase"]["options"] == [{"name": "min_letters", "type": "int", "default": 1, "required": False}]
    plugins = {p["name"]: p for p in json.loads(rlit_cli(site, "plugins", "--json").stdout)["plugins"]}
    assert plugins["example"]["location"].startswith(str(site))  # the pip-installed copy, found by its entry point

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "p", "completion": "calm words"}\n{"prompt": "p", "completion": "LOUD WORDS"}\n')
    scored = rlit_cli(site, "score", "--config", str(REPO / "examples" / "reward-example.toml"),
                      "--input", str(rows), "--output", str(tmp_path / "out.jsonl"))
    assert scored.returncode == 0, scored.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["scores"]["example-lowercase"] for r in out] == [1.0, 0.0]
    assert [r["reward"] for r in out] == [1.0, -1.0]  # the example config vetoes shouting
    assert "example-lowercase" in scored.stdout and "share" in scored.stdout


def test_plugin_failing_at_import_does_not_stop_the_others(site):
    result = rlit_cli(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["plugins"]] == ["example"]
    assert data["failures"] == [{"plugin": "broken", "distribution": "rlit-broken",
                                 "error": "import failed: RuntimeError: broken on purpose"}]


@pytest.mark.parametrize("how", ["env", "flag"])
def test_strict_mode_turns_an_import_failure_into_exit_2(site, how):
    args, env = (["--strict-plugins"], {}) if how == "flag" else ([], {"RLIT_STRICT_PLUGINS": "1"})
    result = rlit_cli(site, *args, "rewards", **env)
    assert result.returncode == 2
    assert "plugin 'broken' (rlit-broken): import failed: RuntimeError: broken on purpose" in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_names_across_distributions_name_both(site, tmp_path):
    listed = json.loads(rlit_cli(site, "rewards", "--json", allow="example,dup").stdout)
    assert any("rlit-example" in f["error"] and "rlit-dup" in f["error"] for f in listed["failures"])
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "p", "completion": "calm"}\n')
    scored = rlit_cli(site, "score", "--config", str(REPO / "examples" / "reward-example.toml"), "--input", str(rows), allow="example,dup")
    assert scored.returncode == 2
    assert "registered twice" in scored.stderr and "(rlit-example)" in scored.stderr and "(rlit-dup)" in scored.stderr


def test_plugin_guide_example_works_as_written(temp_plugin):
    # The guide's example is the public contract third parties copy: run it exactly as printed.
    import types

    guide = (REPO / "docs" / "plugin-guide.md").read_text()
    code = guide.split("## 3. The source")[1].split("```python\n")[1].split("```")[0]
    module = types.ModuleType("rlit_shout_from_guide")
    exec(compile(code, "docs/plugin-guide.md", "exec"), module.__dict__)
    reg = temp_plugin(module, "shout-guide")
    source = reg.source_class("shout-penalty")(min_len=3)
    assert source.score(["p"] * 3, ["hello", "HELLO", "ok"]) == [1.0, 0.0, None]
    assert [o.name for o in reg.source_class("shout-penalty").options()] == ["min_len"]
