"""report.html's sample browser: the embedded data (escaping, baseline matching, caps) and, in a
real headless chromium, the filters a user clicks."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from rlit.evaluation.report import render_html, write_reports
from rlit.evaluation.report import sample_browser
from rlit.evaluation.results import SuiteResults, write_samples

EVIL = "</script><img src=x onerror=\"window.__pwned=1\">&amp; \u2028\u2029 <!--"


def _ifeval_samples(completions: dict[str, str], followed: dict[str, list[bool]]) -> list[dict]:
    ids = ["length:max_words", "format:title"]
    return [{"key": k, "sample": 0, "prompt": f"prompt {k}", "completion": c,
             "score": float(all(followed[k])), "scores": {"ifeval": float(all(followed[k]))},
             "details": {"instruction_id_list": ids, "followed": followed[k]}} for k, c in completions.items()]


def _results(tmp_path, name: str, completions: dict[str, str], followed: dict[str, list[bool]],
             baseline: str | None = None) -> SuiteResults:
    cats = {"a": "short", "b": "short", "c": "long"}
    record = {"name": "ifeval", "status": "ok", "kind": "generate", "value": 0.5, "stat": "mean", "higher_is_better": True,
              "aggregate": {"method": "prompt_level", "by": "category"},
              "units": [{"key": k, "value": float(all(f)), "weight": 1.0, "category": cats[k]} for k, f in followed.items()],
              "completions": [{"key": k, "prompt": f"prompt {k}", "completions": [c]} for k, c in completions.items()]}
    folder = tmp_path / name
    folder.mkdir()
    write_samples(folder, "ifeval", _ifeval_samples(completions, followed))
    res = SuiteResults(suite={"name": "t"}, manifest={"model": {"name": "m"}}, evals={"ifeval": record}, verdict="pass",
                       baseline=baseline)
    res.save(folder / "results.json")
    return res


@pytest.fixture
def runs(tmp_path):
    base = _results(tmp_path, "base", {"a": "base a", "b": "base b", "c": "base c"},
                    {"a": [True, True], "b": [True, True], "c": [False, True]})
    cur = _results(tmp_path, "cur", {"a": "cur a " + EVIL, "b": "cur b", "c": "cur c"},
                   {"a": [True, True], "b": [True, False], "c": [False, False]},
                   baseline=str(tmp_path / "base" / "results.json"))
    paths = write_reports(cur, tmp_path / "cur", base)
    return tmp_path, cur, base, paths["html"]


def _embedded(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="sb-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(block)


def test_embedded_json_cannot_break_out(runs):
    _, _, _, html_path = runs
    page = html_path.read_text(encoding="utf-8")
    assert "<img src=x" not in page and "</script><img" not in page and "\u2028" not in page
    data = _embedded(page)  # the block ends where it should, and parses back to the exact text
    row = next(r for r in data["evals"][0]["rows"] if r["k"] == "a")
    assert row["c"] == "cur a " + EVIL
    assert "innerHTML" not in sample_browser.JS


def test_rows_carry_verdicts_categories_and_the_baseline(runs):
    _, _, _, html_path = runs
    view = _embedded(html_path.read_text(encoding="utf-8"))["evals"][0]
    rows = {r["k"]: r for r in view["rows"]}
    assert view["source"] == "samples_ifeval.jsonl" and view["baseline"] is True
    assert [rows[k]["v"] for k in "abc"] == ["pass", "fail", "fail"]
    assert rows["b"]["ins"] == [["length:max_words", True], ["format:title", False]]
    assert rows["c"]["cat"] == "long"
    assert [k for k in "abc" if rows[k]["fell"]] == ["b"]  # c was 0 in the baseline too
    assert rows["b"]["b"] == {"c": "base b", "score": 1.0}


def test_falls_back_to_results_json_and_caps(runs, monkeypatch):
    tmp_path, cur, base, _ = runs
    (tmp_path / "cur" / "samples_ifeval.jsonl").unlink()
    (tmp_path / "base" / "samples_ifeval.jsonl").write_text("not json\n{\"key\": \"a\", \"completion\": \"B\", \"score\": 1}\n")
    monkeypatch.setattr(sample_browser, "MAX_SAMPLES", 2)
    data = sample_browser.browser_data(cur, tmp_path / "cur", base, tmp_path / "base")
    view = data["evals"][0]
    assert view["source"].startswith("results.json") and view["total"] == 3 and view["shown"] == 2
    assert view["rows"][0]["b"] == {"c": "B", "score": 1.0}  # the damaged line is skipped, the rest read


def test_page_without_samples_still_renders():
    res = SuiteResults(suite={"name": "t"}, evals={"x": {"name": "x", "status": "error", "error": "boom"}}, verdict="error")
    page = render_html(res)
    assert _embedded(page) == {"max_samples": sample_browser.MAX_SAMPLES, "evals": []}


def _driver(tmp_path):
    if not os.path.exists("/usr/bin/chromium") or not os.path.exists("/usr/bin/chromedriver"):
        pytest.skip("Debian chromium / chromium-driver not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


@pytest.mark.browser
def test_sample_browser_filters_in_headless_chromium(runs):
    tmp_path, _, _, html_path = runs
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = _driver(tmp_path)
    try:
        driver.get(html_path.as_uri())

        def keys():
            return [r.get_attribute("data-key") for r in driver.find_elements(By.CSS_SELECTOR, "#sb-rows tr.sb-row")]

        assert keys() == ["a", "b", "c"]
        assert driver.execute_script("return window.__pwned") is None  # the completion's markup stayed text
        assert EVIL.split("\u2028")[0] in driver.find_element(By.CSS_SELECTOR, "#sb-rows tr[data-key='a']").text
        Select(driver.find_element(By.ID, "sb-verdict")).select_by_value("fail")
        assert keys() == ["b", "c"]
        Select(driver.find_element(By.ID, "sb-category")).select_by_value("long")
        assert keys() == ["c"]
        Select(driver.find_element(By.ID, "sb-category")).select_by_value("")
        driver.find_element(By.ID, "sb-regressed").click()
        assert keys() == ["b"]
        row = driver.find_element(By.CSS_SELECTOR, "#sb-rows tr[data-key='b']")
        assert "base b" in row.text and "cur b" in row.text and "✘ format:title" in row.text
        driver.find_element(By.ID, "sb-regressed").click()
        Select(driver.find_element(By.ID, "sb-verdict")).select_by_value("")
        driver.find_element(By.ID, "sb-text").send_keys("CUR C")
        assert keys() == ["c"]
        driver.find_element(By.ID, "sb-text").clear()
        Select(driver.find_element(By.ID, "sb-type")).select_by_value("format")
        Select(driver.find_element(By.ID, "sb-sort")).select_by_value("asc")
        assert keys()[-1] == "a" and set(keys()) == {"a", "b", "c"}
        assert "3 of 3 matching samples shown" in driver.find_element(By.ID, "sb-count").text
    finally:
        driver.quit()
