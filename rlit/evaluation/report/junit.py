"""junit.xml: one test case per gated eval; a failed gate is a failure, an eval that could not run an error."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from rlit.evaluation.results import Check, GateVerdict, SuiteResults

NOT_GATED = GateVerdict(status="error", checks=[Check(check="gate", passed=False, message="not gated: the run was interrupted")])


def render_junit(results: SuiteResults) -> str:
    name = str(results.suite.get("name", "rlit"))
    cases = list(results.evals.values())
    gates = [e.gate or NOT_GATED for e in cases]
    statuses = [g.status for g in gates]
    suite = ET.Element("testsuite", name=_xml_text(f"rlit.{name}"), tests=str(len(cases)), failures=str(statuses.count("fail")),
                       errors=str(statuses.count("error")), time=f"{sum(e.seconds for e in cases):.2f}")
    for e, gate in zip(cases, gates):
        case = ET.SubElement(suite, "testcase", classname=_xml_text(f"rlit.{name}"), name=_xml_text(e.name), time=f"{e.seconds:.2f}")
        bad = _xml_text("; ".join(c.message for c in gate.failed))
        if gate.status == "fail":
            ET.SubElement(case, "failure", message=bad, type="GateFailed").text = bad
        elif gate.status == "error":
            ET.SubElement(case, "error", message=bad, type=_xml_text(e.error_type or "RlitError")).text = bad
        else:
            ET.SubElement(case, "system-out").text = _xml_text(f"score {e.value}; " + "; ".join(c.message for c in gate.checks))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _xml_text(text: str) -> str:
    """XML 1.0 cannot hold most control characters (an error message may carry them): replace them."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "\ufffd", str(text))
