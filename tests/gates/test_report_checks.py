"""coverage and junit on reports made by a real pytest + pytest-cov run; file and metric on real files."""

from __future__ import annotations

import hashlib
import os
import time
from decimal import Decimal

from testing.gates import write_json
from testing.gates import one, spec

from mci.checks.report_files import read_coverage
from mci.results import Status


def test_coverage_from_pytest_cov_passes_and_fails_at_the_threshold(tmp_path, good_project, bad_project):
    report = read_coverage(good_project.coverage)
    assert report.lines_valid > 10 and Decimal("0.9") < report.rate <= 1
    r = one(tmp_path, spec("cov", "coverage", file=str(good_project.coverage), min="75%"))
    assert r.status is Status.PASSED, r.error
    assert r.facts["lines_valid"] == report.lines_valid and "≥" not in r.summary and ">= 75.00%" in r.summary
    low = read_coverage(bad_project.coverage)
    r = one(tmp_path, spec("cov", "coverage", file=str(bad_project.coverage), min="75%"))
    assert r.status is Status.FAILED and f"line coverage {(low.rate * 100).quantize(Decimal('0.01'))}%" in r.error.what
    assert "coverage report -m" in r.error.how


def test_coverage_exactly_at_the_minimum(tmp_path, good_project):
    rate = read_coverage(good_project.coverage).rate
    exact = {"file": str(good_project.coverage), "min": rate}
    assert one(tmp_path, spec("cov", "coverage", **exact)).status is Status.PASSED
    assert one(tmp_path, spec("cov", "coverage", op=">", **exact)).status is Status.FAILED  # the roadmap's "> 70%"


def test_coverage_per_package(tmp_path, good_project):
    r = one(tmp_path, spec("cov", "coverage", file=str(good_project.coverage), min="50%", packages={"calc": "100%"}))
    assert r.status is (
        Status.PASSED if read_coverage(good_project.coverage).package_rate("calc") == 1 else Status.FAILED
    )
    r = one(tmp_path, spec("cov", "coverage", file=str(good_project.coverage), min="50%", packages={"billing": "80%"}))
    assert r.status is Status.FAILED and "package billing is not in the report" in r.error.what


def test_no_report_an_empty_one_or_one_that_measured_nothing_fails(tmp_path, good_project):
    r = one(tmp_path, spec("cov", "coverage", min="75%"), cwd=tmp_path)
    assert r.status is Status.FAILED and "does not exist" in r.error.what and "--cov-report=xml" in r.error.how
    (tmp_path / "coverage.xml").write_text("")
    assert "is empty" in one(tmp_path, spec("cov", "coverage", min="75%"), cwd=tmp_path).error.what
    (tmp_path / "coverage.xml").write_text(
        '<?xml version="1.0" ?><coverage line-rate="1" lines-valid="0" lines-covered="0"><packages/></coverage>'
    )
    r = one(tmp_path, spec("cov", "coverage", min="75%"), cwd=tmp_path)
    assert r.status is Status.FAILED and "measured no lines" in r.error.what
    r = one(tmp_path, spec("cov", "coverage", file=str(good_project.junit), min="75%"))
    assert r.status is Status.FAILED and "not a Cobertura coverage report" in r.error.what


def test_a_stale_report_fails(tmp_path, good_project):
    copy = tmp_path / "coverage.xml"
    copy.write_bytes(good_project.coverage.read_bytes())
    old = time.time() - 3 * 86400
    os.utime(copy, (old, old))
    r = one(tmp_path, spec("cov", "coverage", min="50%", max_age="1d"), cwd=tmp_path)
    assert r.status is Status.FAILED and "stale" in r.error.what and "3d" in r.error.what


def test_junit_from_pytest(tmp_path, good_project, bad_project):
    r = one(tmp_path, spec("t", "junit", file=str(good_project.junit)))
    assert r.status is Status.PASSED, r.error
    assert r.summary == "5 tests: 5 passed, 0 failed, 0 errors, 0 skipped"
    r = one(tmp_path, spec("t", "junit", file=str(bad_project.junit)))
    assert r.status is Status.FAILED and "1 failed and 0 errors" in r.error.what
    assert "tests.test_calc.test_sub_is_wrong" in r.error.why and r.facts["failing"] == [
        "tests.test_calc.test_sub_is_wrong"
    ]
    r = one(tmp_path, spec("t", "junit", file=str(good_project.junit), min_tests=6))
    assert r.status is Status.FAILED and "fewer than 6" in r.error.what


def test_junit_missing_empty_foreign_or_without_tests_fails(tmp_path, good_project):
    assert "does not exist" in one(tmp_path, spec("t", "junit"), cwd=tmp_path).error.what
    (tmp_path / "junit.xml").write_text("")
    assert "is empty" in one(tmp_path, spec("t", "junit"), cwd=tmp_path).error.what
    (tmp_path / "junit.xml").write_text("<testsuites><testsuite name='pytest' tests='0'/></testsuites>")
    assert "0 test(s) ran" in one(tmp_path, spec("t", "junit"), cwd=tmp_path).error.what
    (tmp_path / "junit.xml").write_text("<testsuites><testsuite name='x' tests='1'><testcase name='a'>")
    assert "not well-formed XML" in one(tmp_path, spec("t", "junit"), cwd=tmp_path).error.what
    r = one(tmp_path, spec("t", "junit", file=str(good_project.coverage)))
    assert "not a JUnit report" in r.error.what
    # Totals that claim an error the cases do not show (a crashed run) are believed.
    (tmp_path / "junit.xml").write_text(
        "<testsuites><testsuite name='x' tests='1' errors='1'>"
        "<testcase classname='m' name='a'/></testsuite></testsuites>"
    )
    assert "0 failed and 1 errors" in one(tmp_path, spec("t", "junit"), cwd=tmp_path).error.what


def test_file_exists_size_age_and_sha256(tmp_path):
    doc = tmp_path / "docs" / "runbook.md"
    r = one(tmp_path, spec("f", "file", path="docs/runbook.md", min_size=1), cwd=tmp_path)
    assert r.status is Status.FAILED and "does not exist" in r.error.what
    doc.parent.mkdir()
    doc.write_text("")
    assert (
        "fewer than min_size 1"
        in one(tmp_path, spec("f", "file", path="docs/runbook.md", min_size=1), cwd=tmp_path).error.what
    )
    doc.write_text("# Runbook\n1. mci kill\n")
    digest = hashlib.sha256(doc.read_bytes()).hexdigest()
    r = one(tmp_path, spec("f", "file", path="docs/runbook.md", min_size=1, sha256=digest, max_age="1h"), cwd=tmp_path)
    assert r.status is Status.PASSED, r.error
    r = one(tmp_path, spec("f", "file", path="docs/runbook.md", sha256="0" * 64), cwd=tmp_path)
    assert r.status is Status.FAILED and "sha256" in r.error.what
    old = time.time() - 7200
    os.utime(doc, (old, old))
    r = one(tmp_path, spec("f", "file", path="docs/runbook.md", max_age="1h"), cwd=tmp_path)
    assert r.status is Status.FAILED and "more than max_age 1h" in r.error.what


def test_metric_from_a_file_compared_exactly(tmp_path):
    write_json(tmp_path / "oms.json", {"orders_per_minute": 1000, "runs": [{"p95_ms": "180.5"}], "ok": True})
    base = {"file": "oms.json"}
    for op, value, passes in (
        (">=", 1000, True),
        (">", 1000, False),
        ("==", 1000, True),
        ("<", Decimal("1000.01"), True),
        ("<=", 999, False),
        ("!=", 1000, False),
    ):
        r = one(tmp_path, spec("m", "metric", json_path="orders_per_minute", op=op, value=value, **base), cwd=tmp_path)
        assert (r.status is Status.PASSED) is passes, (op, value, r.summary)
    r = one(tmp_path, spec("m", "metric", json_path="runs[0].p95_ms", op="<", value=200, **base), cwd=tmp_path)
    assert r.status is Status.PASSED, r.error  # an exporter's quoted number still counts
    r = one(tmp_path, spec("m", "metric", json_path="ok", op="==", value=1, **base), cwd=tmp_path)
    assert r.status is Status.FAILED and "a boolean, not a number" in r.error.why
    r = one(tmp_path, spec("m", "metric", json_path="runs[3].p95_ms", op="<", value=1, **base), cwd=tmp_path)
    assert r.status is Status.FAILED and "no [3]" in r.error.why
    r = one(tmp_path, spec("m", "metric", file="missing.json", json_path="a", op="<", value=1), cwd=tmp_path)
    assert r.status is Status.FAILED and "does not exist" in r.error.what


def test_metric_from_http(tmp_path, health):
    health.play((200, {"oms": {"orders_per_minute": 1250.5}}))
    r = one(tmp_path, spec("m", "metric", url=health.url, json_path="oms.orders_per_minute", op=">=", value=1000))
    assert r.status is Status.PASSED and "1250.5 >= 1000" in r.summary
    health.play((503, {}))
    r = one(tmp_path, spec("m", "metric", url=health.url, json_path="oms.orders_per_minute", op=">=", value=1000))
    assert r.status is Status.FAILED and "status 503" in r.error.why
    r = one(tmp_path, spec("m", "metric", url=health.url, file="x.json", json_path="a", op=">=", value=1))
    assert r.status is Status.FAILED and "exactly one of file and url" in r.error.what
