"""Scan results for CI: JUnit XML, one testcase per check.

Failed → <failure> with the WHAT / WHY / HOW; skipped → <skipped>; warned
passes (warnings do not fail a scan) but carries status=warned and the warning
in <system-out>, so a CI dashboard can still show it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import TYPE_CHECKING

from mci.results import Status

if TYPE_CHECKING:
    from mci.results import CheckResult, ScanResult


def _secs(delta: timedelta) -> str:
    return f"{delta.total_seconds():.3f}"


def _testcase(suite: ET.Element, checklist: str, r: "CheckResult", label: str = "scan") -> None:
    case = ET.SubElement(suite, "testcase", name=r.id, classname=f"mci.{label}.{checklist}", time=_secs(r.duration))
    props = ET.SubElement(case, "properties")
    for name, value in (
        ("title", r.title),
        ("kind", r.kind),
        ("severity", r.severity),
        ("status", r.status.value),
        ("attempts", str(r.attempts)),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    text = r.error.render() if r.error is not None else r.summary
    if r.status is Status.FAILED:
        failure = ET.SubElement(
            case,
            "failure",
            message=r.error.what if r.error else r.summary,
            type=r.error.code.name.lower() if r.error else "failed",
        )
        failure.text = text
    elif r.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", message=r.summary)
    elif r.status is Status.WARNED:
        ET.SubElement(case, "system-out").text = f"warned: {r.summary}\n{text}"
    else:
        ET.SubElement(case, "system-out").text = f"passed: {r.summary}"


def scan_to_junit(result: "ScanResult", *, label: str = "scan", name: str | None = None) -> str:
    """`label` and `name` let a gate report as `mci gate NAME` (classname mci.gate.NAME) rather than as a scan."""
    counts = result.counts()
    suite_name = name or result.checklist
    root = ET.Element(
        "testsuites",
        name=f"mci {label} {suite_name}",
        tests=str(len(result.results)),
        failures=str(counts["failed"]),
        errors="0",
        skipped=str(counts["skipped"]),
        time=_secs(result.duration),
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        name=suite_name,
        tests=str(len(result.results)),
        failures=str(counts["failed"]),
        errors="0",
        skipped=str(counts["skipped"]),
        time=_secs(result.duration),
        timestamp=result.started_at.isoformat(timespec="seconds"),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("profile", result.profile), ("status", result.status.value)):
        ET.SubElement(props, "property", name=name, value=value)
    for r in result.results:
        _testcase(suite, suite_name, r, label)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
