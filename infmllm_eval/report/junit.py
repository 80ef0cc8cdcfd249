"""JUnit XML of a gate: one test case per tracked metric, a failure element per regression,
the form CI systems (GitLab, Jenkins, GitHub test reporters) display."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from infmllm_eval.report.gate import GateResult, split_name


def _detail(result: GateResult, index: int) -> str:
    check = result.checks[index]
    p = f"; paired bootstrap p = {check.p_value:.4f}" if check.p_value is not None else ""
    return (f"baseline {check.baseline:.4f}, run {check.current:.4f}, delta "
            f"{check.delta:+.4f}, tolerance {check.tolerance:.4f}{p}: {check.reason}")


def junit_xml(result: GateResult) -> bytes:
    """The report as UTF-8 XML with a declaration."""
    failures = sum(c.failed for c in result.checks)
    counts = {"tests": str(len(result.checks)), "failures": str(failures), "errors": "0",
              "skipped": "0", "time": "0"}
    root = ET.Element("testsuites", {"name": "infmllm-eval gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"gate {result.run}", **counts})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "baseline", "value": result.baseline})
    ET.SubElement(props, "property", {"name": "run", "value": result.run})
    if result.alpha is not None:
        ET.SubElement(props, "property", {"name": "alpha", "value": f"{result.alpha:g}"})
    for i, check in enumerate(result.checks):
        task, metric = split_name(check.name)
        case = ET.SubElement(suite, "testcase", {"classname": f"gate.{task}", "name": metric,
                                                 "time": "0"})
        if check.failed:
            failure = ET.SubElement(case, "failure", {"message": check.reason,
                                                      "type": "regression"})
            failure.text = _detail(result, i)
        else:
            ET.SubElement(case, "system-out").text = _detail(result, i)
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
