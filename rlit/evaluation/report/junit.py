"""junit.xml: one test case per gated eval; a failed gate is a failure, an eval that could not run an error."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from rlit.evaluation.results import SuiteResults


def render_junit(results: SuiteResults) -> str:
    name = str(results.suite.get("name", "rlit"))
    cases = list(results.evals.values())
    statuses = [e.get("gate", {}).get("status") for e in cases]
    suite = ET.Element("testsuite", name=f"rlit.{name}", tests=str(len(cases)), failures=str(statuses.count("fail")),
                       errors=str(statuses.count("error")), time=f"{sum(e.get('seconds', 0) for e in cases):.2f}")
    for e in cases:
        case = ET.SubElement(suite, "testcase", classname=f"rlit.{name}", name=e["name"], time=f"{e.get('seconds', 0):.2f}")
        gate = e.get("gate", {})
        bad = "; ".join(c["message"] for c in gate.get("checks", []) if not c["passed"])
        if gate.get("status") == "fail":
            ET.SubElement(case, "failure", message=bad, type="GateFailed").text = bad
        elif gate.get("status") == "error":
            ET.SubElement(case, "error", message=bad, type=e.get("error_type", "RlitError")).text = bad
        else:
            ET.SubElement(case, "system-out").text = f"score {e.get('value')}; " + "; ".join(c["message"] for c in gate.get("checks", []))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
