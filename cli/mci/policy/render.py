"""The policy report as text (file:line:col first, for editors and CI annotations), JSON or JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mci.policy.findings import LOOSENING, Finding, Report


def status(report: Report) -> str:
    return "failed" if report.blocking else "passed"


def to_text(report: Report, color: bool = False) -> str:
    red, green, yellow, reset = ("\033[31m", "\033[32m", "\033[33m", "\033[0m") if color else ("", "", "", "")
    lines = []
    for item in report.findings:
        label = item.kind.upper() + (" (approved)" if item.kind == LOOSENING and item.approval else "")
        tint = red if item.blocking else yellow if item.kind == LOOSENING else ""
        lines.append(f"{item.location}: {tint}{label}{reset if tint else ''} WHAT: {item.what}")
        lines.append(f"  WHY: {item.why}")
        if item.kind == LOOSENING:
            lines.append(f"  HOW: {item.how}")
    counts = report.counts()
    verdict = f"{red}FAILED{reset}" if report.blocking else f"{green}passed{reset}"
    lines.append(
        f"policy diff against {report.base}: {verdict}: {len(report.files)} file(s) compared, "
        f"{counts['unapproved']} loosening(s) not approved, {counts['approved']} approved, "
        f"{counts['tightening']} tightening(s), {counts['neutral']} neutral"
    )
    return "\n".join(lines)


def to_json(report: Report) -> str:
    return json.dumps(
        {
            "status": status(report),
            "base": report.base,
            "files": report.files,
            "counts": report.counts(),
            "findings": [f.as_dict() for f in report.findings],
        },
        indent=2,
        ensure_ascii=False,
    )


def _case(suite: ET.Element, item: Finding) -> None:
    case = ET.SubElement(suite, "testcase", name=item.subject, classname=f"mci.policy.{item.file}", time="0")
    props = ET.SubElement(case, "properties")
    for name, value in (
        ("kind", item.kind),
        ("location", str(item.location)),
        ("approved", str(bool(item.approval)).lower()),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    text = f"{item.location}: WHAT: {item.what}\n  WHY: {item.why}\n  HOW: {item.how}"
    if item.blocking:
        ET.SubElement(case, "failure", message=item.what, type="loosening").text = text
    else:
        ET.SubElement(case, "system-out").text = f"{item.kind}: {text}"


def to_junit(report: Report) -> str:
    failures = str(len(report.blocking))
    tests = len(report.findings) + sum(1 for f in report.files if not any(x.file == f for x in report.findings))
    root = ET.Element("testsuites", name="mci policy diff", tests=str(tests), failures=failures, errors="0")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"policy diff against {report.base}",
        tests=str(tests),
        failures=failures,
        errors="0",
        skipped="0",
    )
    for item in report.findings:
        _case(suite, item)
    for file in report.files:
        if not any(x.file == file for x in report.findings):
            case = ET.SubElement(
                suite, "testcase", name=f"{file}: no policy change", classname=f"mci.policy.{file}", time="0"
            )
            ET.SubElement(case, "system-out").text = "no loosening, tightening or neutral change"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
