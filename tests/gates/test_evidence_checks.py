"""drill and approval: audit records of drills (young, old, failed, tampered) and recorded sign-offs."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from testing.gates import record_drill
from testing.gates import later, one, run, spec

from mci.approvals import ApprovalBook, gate_subject
from mci.clock import Clock
from mci.results import Status

NOW = lambda: datetime.now(timezone.utc)  # noqa: E731


def test_no_drill_fails(tmp_path):
    r = one(tmp_path, spec("d", "drill", max_age="7d"))
    assert r.status is Status.FAILED and r.error.what == "no drill in the audit log" and "mci drill" in r.error.how


def test_a_passed_drill_counts_until_it_is_too_old(tmp_path):
    seq = record_drill(tmp_path, passed=True, at=NOW() - timedelta(days=2))
    r = one(tmp_path, spec("d", "drill", max_age="7d"))
    assert r.status is Status.PASSED, r.error
    assert r.facts["seq"] == seq and f"audit #{seq}" in r.summary and "2d ago" in r.summary
    r = one(tmp_path, spec("d", "drill", max_age="7d"), clock=later(timedelta(days=6)))
    assert r.status is Status.FAILED and "longer ago than max_age 7d" in r.error.what


def test_the_latest_drill_decides(tmp_path):
    record_drill(tmp_path, passed=True, at=NOW() - timedelta(days=3))
    record_drill(tmp_path, passed=False, at=NOW() - timedelta(days=1))
    r = one(tmp_path, spec("d", "drill", max_age="7d"))
    assert r.status is Status.FAILED and "the latest drill failed" in r.error.what
    assert "an older pass no longer counts" in r.error.why
    record_drill(tmp_path, passed=True)
    assert one(tmp_path, spec("d", "drill", max_age="7d")).status is Status.PASSED


def test_a_drill_after_the_clock_does_not_count(tmp_path):
    record_drill(tmp_path, passed=True)
    r = one(tmp_path, spec("d", "drill", max_age="7d"), clock=Clock(NOW() - timedelta(hours=1)))
    assert r.status is Status.FAILED and r.error.what == "no drill in the audit log"


def test_profile_and_phases_filters(tmp_path):
    # Phases as `mci drill` records them (mci.drill.model): {"name", "ok", "seconds", "detail"}.
    record_drill(
        tmp_path,
        passed=True,
        profile="kite-sim",
        phases=[
            {"name": "emergency", "ok": True, "seconds": 1.2, "detail": "flat, halted"},
            {"name": "reignite", "ok": False, "seconds": 0.4, "detail": "scan failed"},
            {"name": "shutdown", "ok": True, "seconds": 0.1, "detail": "", "skipped": True},
        ],
    )
    assert one(tmp_path, spec("d", "drill", max_age="7d", profile="live")).status is Status.FAILED
    assert one(tmp_path, spec("d", "drill", max_age="7d", profile="kite-sim")).status is Status.PASSED
    assert one(tmp_path, spec("d", "drill", max_age="7d", phases=["emergency"])).status is Status.PASSED
    for phase in ("reignite", "shutdown", "final_book"):
        r = one(tmp_path, spec("d", "drill", max_age="7d", phases=["emergency", phase]))
        assert r.status is Status.FAILED and f"did not pass phase {phase}" in r.error.what


def test_a_tampered_audit_log_proves_nothing(tmp_path):
    record_drill(tmp_path, passed=False)
    db = sqlite3.connect(tmp_path / "state.db")
    with db:
        db.execute("UPDATE audit SET data = replace(data, '\"passed\":false', '\"passed\":true') WHERE kind = 'drill'")
    db.close()
    r = one(tmp_path, spec("d", "drill", max_age="7d"))
    assert r.status is Status.FAILED and "audit log is broken at record 1" in r.error.what


def _book(state_dir):
    return ApprovalBook.default(state_dir, cwd=state_dir)


def test_an_approval_check_needs_a_recorded_valid_sign_off(tmp_path):
    r = one(tmp_path, spec("cto_signoff", "approval", role="the CTO"), name="go-no-go", cwd=tmp_path)
    assert r.status is Status.FAILED
    assert r.error.what == "no valid sign-off from the CTO for gate:go-no-go/cto_signoff"
    assert r.error.how == 'mci gate approve go-no-go cto_signoff --by "NAME" --note "WHY"'
    _book(tmp_path).record(
        gate_subject("go-no-go", "cto_signoff"),
        by="R. Iyer",
        note="reviewed drill #4",
        now=NOW() - timedelta(minutes=5),
        expires_in=timedelta(days=7),
    )
    r = one(tmp_path, spec("cto_signoff", "approval"), name="go-no-go", cwd=tmp_path)
    assert r.status is Status.PASSED, r.error
    assert (
        r.facts["by"] == "R. Iyer" and r.facts["note"] == "reviewed drill #4" and "signed off by R. Iyer" in r.summary
    )
    # The same check id in another gate is another subject.
    assert one(tmp_path, spec("cto_signoff", "approval"), name="go-live", cwd=tmp_path).status is Status.FAILED


def test_expired_revoked_and_unnamed_sign_offs_fail(tmp_path):
    subject = gate_subject("g", "ok")
    _book(tmp_path).record(
        subject, by="A. Rao", note="fine", now=NOW() - timedelta(days=1), expires_in=timedelta(days=7)
    )
    r = one(tmp_path, spec("ok", "approval"), name="g", cwd=tmp_path, clock=later(timedelta(days=7)))
    assert r.status is Status.FAILED and "expired" in r.error.why
    r = one(tmp_path, spec("ok", "approval", approvers=["R. Iyer"]), name="g", cwd=tmp_path)
    assert r.status is Status.FAILED and "not a named approver" in r.error.what and '"R. Iyer"' in r.error.how
    r = one(tmp_path, spec("ok", "approval", max_age="1h"), name="g", cwd=tmp_path)
    assert r.status is Status.FAILED and "more than max_age 1h" in r.error.what
    _book(tmp_path).record(subject, by="A. Rao", note="found a gap", now=NOW() - timedelta(minutes=1), revoke=True)
    r = one(tmp_path, spec("ok", "approval"), name="g", cwd=tmp_path)
    assert r.status is Status.FAILED and "revoked by A. Rao" in r.error.why and "found a gap" in r.error.why


def test_an_approval_check_outside_a_gate_needs_a_subject(tmp_path):
    from mci.checks.evidence import ApprovalCheck
    from mci.checks.base import CheckContext
    from mci.errors import ConfigError

    import pytest

    from testing.gates import paper

    ctx = CheckContext(paper(), Clock(), tmp_path, lambda: None, lambda: None)
    with pytest.raises(ConfigError):
        ApprovalCheck().run(ctx, {})


def test_gate_results_go_to_the_audit_log_never_to_the_scans(tmp_path):
    outcome = run(tmp_path, spec("d", "drill", max_age="7d"), name="g")
    db = sqlite3.connect(tmp_path / "state.db")
    kind, data = db.execute("SELECT kind, data FROM audit WHERE seq = ?", (outcome.audit_seq,)).fetchone()
    assert kind == "gate" and '"status":"failed"' in data and '"failed":["d"]' in data
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 0
