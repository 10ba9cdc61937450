"""coverage and junit: the CI's own reports as gate evidence.

coverage reads Cobertura XML (pytest --cov --cov-report=xml) and counts lines
itself; junit reads a JUnit XML file (pytest --junitxml). A missing, empty or
foreign file fails — no report is never "no failures" — and so does a report
that measured or ran nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

from mci.checks import params as P
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.checks.report_files import ReportError, read_coverage, read_junit
from mci.errors import ConfigError, MciError


def _missing(kind: str, path: str, exc: ReportError, how: str) -> CheckOutcome:
    return CheckOutcome.failed(
        MciError(
            f"no usable {kind} report: {exc}", f"the gate judges {path}, and without it there is nothing to judge", how
        ),
        file=path,
    )


def _stale(reason: str, path: str) -> CheckOutcome:
    return CheckOutcome.failed(
        MciError(
            f"the report is stale: {reason}",
            "an old report describes an old run, not the code being gated",
            "run the tests again to write a fresh report, then the gate",
        ),
        file=path,
    )


@register
class CoverageCheck(Check):
    kind = "coverage"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        path = P.file_path(ctx, params, "file", "coverage.xml")
        minimum = P.percent(params, "min")
        op = P.text(params, "op", ">=")
        if op not in (">=", ">"):
            raise ConfigError(
                f"coverage op {op!r} is not >= or >",
                "coverage is judged at or above a minimum",
                "use op: '>=' (default) or op: '>'",
            )
        packages = {name: P.percent({"min": v}, "min") for name, v in P.mapping(params, "packages").items()}
        max_age = P.duration(params, "max_age", None)
        where = P.shown(path, ctx)
        try:
            report = read_coverage(path)
        except ReportError as exc:
            return _missing(
                "coverage",
                where,
                exc,
                "run the tests with coverage first, e.g. "
                "`pytest --cov=YOUR_PACKAGE --cov-report=xml`, or fix `file` in the check's params",
            )
        reason = P.staleness(ctx, path, max_age)
        if reason:
            return _stale(reason, where)
        facts: dict[str, Any] = {
            "file": where,
            "line_rate": report.rate,
            "lines_valid": report.lines_valid,
            "lines_covered": report.lines_covered,
            "min": minimum,
            "op": op,
        }
        if report.lines_valid == 0:
            return CheckOutcome.failed(
                MciError(
                    f"{where} measured no lines at all",
                    "a coverage run that measured nothing reports 100% of nothing",
                    "point --cov at the package under test",
                ),
                **facts,
            )
        ok = report.rate >= minimum if op == ">=" else report.rate > minimum
        problems = [] if ok else [f"line coverage {P.pct(report.rate)} is not {op} {P.pct(minimum)}"]
        package_facts = {}
        for name, floor in packages.items():
            rate = report.package_rate(name)
            package_facts[name] = {"line_rate": rate, "min": floor}
            if rate is None:
                known = ", ".join(sorted(report.packages)[:8]) or "none"
                problems.append(f"package {name} is not in the report (packages: {known})")
            elif rate < floor:
                problems.append(f"package {name} coverage {P.pct(rate)} is under {P.pct(floor)}")
        if package_facts:
            facts["packages"] = package_facts
        summary = f"{P.pct(report.rate)} of {report.lines_valid} lines {op} {P.pct(minimum)}"
        if problems:
            return CheckOutcome.failed(
                MciError(
                    f"coverage too low: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                    f"{where}: {'; '.join(problems)}; {report.lines_covered} of {report.lines_valid} lines covered",
                    "add tests for the uncovered code (`coverage report -m` lists the lines), then run the gate again",
                ),
                **facts,
            )
        return CheckOutcome.passed(summary, **facts)


@register
class JUnitCheck(Check):
    kind = "junit"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        path = P.file_path(ctx, params, "file", "junit.xml")
        min_tests = P.whole(params, "min_tests", 1, minimum=1)
        max_skipped = params.get("max_skipped")
        max_skipped = None if max_skipped is None else P.whole(params, "max_skipped", 0)
        max_age = P.duration(params, "max_age", None)
        where = P.shown(path, ctx)
        try:
            report = read_junit(path)
        except ReportError as exc:
            return _missing(
                "JUnit",
                where,
                exc,
                "run the tests with a JUnit report first, e.g. "
                "`pytest --junitxml=junit.xml`, or fix `file` in the check's params",
            )
        reason = P.staleness(ctx, path, max_age)
        if reason:
            return _stale(reason, where)
        facts = {
            "file": where,
            "tests": report.tests,
            "passed": report.passed,
            "failures": report.failures,
            "errors": report.errors,
            "skipped": report.skipped,
        }
        counts = (
            f"{report.tests} tests: {report.passed} passed, {report.failures} failed, "
            f"{report.errors} errors, {report.skipped} skipped"
        )
        problems = []
        if report.tests < min_tests:
            problems.append(f"{report.tests} test(s) ran, fewer than {min_tests}")
        if report.failures or report.errors:
            problems.append(f"{report.failures} failed and {report.errors} errors")
        if max_skipped is not None and report.skipped > max_skipped:
            problems.append(f"{report.skipped} skipped, more than {max_skipped}")
        if problems:
            names = ", ".join(report.failed_names[:5]) + (" …" if len(report.failed_names) > 5 else "")
            return CheckOutcome.failed(
                MciError(
                    f"tests do not pass: {'; '.join(problems)}",
                    f"{where}: {counts}" + (f"; failing: {names}" if names else ""),
                    "fix the failing tests (or the test run that ran none), then run the gate on a fresh report",
                ),
                failing=list(report.failed_names[:20]),
                **facts,
            )
        return CheckOutcome.passed(counts, **facts)
