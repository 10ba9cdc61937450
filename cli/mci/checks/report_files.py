"""Reading the reports CI tools write: Cobertura coverage XML (pytest-cov, coverage.py) and JUnit XML (pytest).

defusedxml is used when installed. Otherwise the standard library parser reads
these files: they are produced by the same CI job on the same machine (not
fetched from strangers), xml.etree never resolves external entities, and the
expat it ships with (>= 2.4.1) limits entity expansion ("billion laughs").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any


class ReportError(ValueError):
    """The file is missing, empty or not the report it should be; the message says which."""


def _parse(path: Path) -> Any:
    try:
        from defusedxml.ElementTree import parse
    except ImportError:
        from xml.etree.ElementTree import parse
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ReportError(f"{path} does not exist") from None
    except OSError as exc:
        raise ReportError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ReportError(f"{path} is not a file")
    if size == 0:
        raise ReportError(f"{path} is empty")
    try:
        return parse(path).getroot()
    except OSError as exc:
        raise ReportError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 — ParseError, or defusedxml refusing entities: both mean "not a report"
        raise ReportError(f"{path} is not well-formed XML ({type(exc).__name__}: {exc})") from None


# -- Cobertura --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    lines_valid: int
    lines_covered: int
    packages: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (covered, valid)

    @property
    def rate(self) -> Decimal:
        return Decimal(self.lines_covered) / Decimal(self.lines_valid) if self.lines_valid else Decimal(0)

    def package_rate(self, name: str) -> Decimal | None:
        if name not in self.packages:
            return None
        covered, valid = self.packages[name]
        return Decimal(covered) / Decimal(valid) if valid else Decimal(0)


def read_coverage(path: Path) -> Coverage:
    """Counts the <line> elements rather than trusting line-rate, which coverage.py rounds to 4 digits and
    writes as 1 for a run that measured no line at all."""
    root = _parse(path)
    if root.tag != "coverage":
        raise ReportError(f"{path} is not a Cobertura coverage report (its root element is <{root.tag}>)")
    packages: dict[str, tuple[int, int]] = {}
    total_valid = total_covered = 0
    for package in root.iter("package"):
        seen: set[tuple[str, str]] = set()
        valid = covered = 0
        for cls in package.iter("class"):
            filename = cls.get("filename", cls.get("name", ""))
            for line in cls.iter("line"):
                key = (filename, line.get("number", ""))
                if key in seen:
                    continue  # a line listed under two classes of one file counts once
                seen.add(key)
                valid += 1
                if _int(line.get("hits"), path) > 0:
                    covered += 1
        name = package.get("name", "")
        old_covered, old_valid = packages.get(name, (0, 0))
        packages[name] = (old_covered + covered, old_valid + valid)
        total_valid += valid
        total_covered += covered
    if total_valid == 0 and root.get("lines-valid") is not None:
        # A report without per-line detail: fall back to its own totals.
        total_valid = _int(root.get("lines-valid"), path)
        total_covered = _int(root.get("lines-covered"), path)
    return Coverage(total_valid, total_covered, packages)


def _int(raw: str | None, path: Path) -> int:
    try:
        return int(raw or "0")
    except ValueError:
        raise ReportError(f"{path} has the count {raw!r}, which is not a whole number") from None


# -- JUnit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JUnit:
    tests: int
    failures: int
    errors: int
    skipped: int
    failed_names: tuple[str, ...] = ()

    @property
    def passed(self) -> int:
        return max(self.tests - self.failures - self.errors - self.skipped, 0)


def read_junit(path: Path) -> JUnit:
    """Counts <testcase> elements and their outcomes; a suite whose own totals claim more failures or errors
    than its cases show is believed (a crashed run can write totals without the cases)."""
    root = _parse(path)
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportError(f"{path} is not a JUnit report (its root element is <{root.tag}>)")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failures = errors = skipped = 0
    names: list[str] = []
    for case in root.iter("testcase"):
        tests += 1
        name = ".".join(p for p in (case.get("classname"), case.get("name")) if p) or "?"
        if case.find("error") is not None:
            errors += 1
            names.append(name)
        elif case.find("failure") is not None:
            failures += 1
            names.append(name)
        elif case.find("skipped") is not None:
            skipped += 1
    claimed_failures = sum(_int(s.get("failures"), path) for s in suites)
    claimed_errors = sum(_int(s.get("errors"), path) for s in suites)
    if root.tag == "testsuites":  # some tools put the totals only on the root
        claimed_failures = max(claimed_failures, _int(root.get("failures"), path))
        claimed_errors = max(claimed_errors, _int(root.get("errors"), path))
    return JUnit(tests, max(failures, claimed_failures), max(errors, claimed_errors), skipped, tuple(names))
