"""A scan's record, its audit record and the lifecycle moves it makes are one audited commit (issue 19): one
anchor intent, COMMIT, WAL sync and confirmation instead of three, and nothing of the scan lands without the rest."""

from __future__ import annotations

import pytest

from mci.clock import Clock, parse_instant
from mci.config import load_profile
from mci.engine.lifecycle import Lifecycle
from mci.engine.scan import run_scan
from mci.store.audit_trail import verify
from mci.store.state import StateStore

MONDAY = "2026-11-23T10:30:00+05:30"  # in session: the paper scan passes and arms


def _audit(home):
    store = StateStore.open(home)
    try:
        return (
            [(r.kind, r.data.get("trigger")) for r in store.audit_records()],
            store.last_scan("paper"),
            store.lifecycle("paper").state,
        )
    finally:
        store.close()


def test_a_passing_scan_is_one_audited_commit_with_every_record(mci_home, monkeypatch):
    commits = []
    real = StateStore._commit_with_anchor

    def counted(self):
        commits.append((self._txn_base, self._anchor_pending))
        return real(self)

    monkeypatch.setattr(StateStore, "_commit_with_anchor", counted)
    outcome = run_scan(load_profile(None), Clock(parse_instant(MONDAY)), mci_home)
    assert outcome.lifecycle_state == "armed" and [m.trigger for m in outcome.moves] == ["token_ok", "scan_passed"]
    audited = [c for c in commits if c[1] is not None]
    assert len(audited) == 1, commits
    records, scan, state = _audit(mci_home)
    assert records[-3:] == [("scan", None), ("lifecycle", "token_ok"), ("lifecycle", "scan_passed")]
    assert scan is not None and scan.id == outcome.scan_id and state == "armed"
    assert audited[0][1].seq == len(records)  # the one commit carried the chain to its last record
    assert verify(mci_home).status == "intact", verify(mci_home)


def test_a_scan_whose_lifecycle_move_fails_leaves_no_record_of_itself(mci_home, monkeypatch):
    def broken(self, trigger, now, reason="", **audit):
        raise OSError("disk gone while moving the lifecycle")

    monkeypatch.setattr(Lifecycle, "fire", broken)
    with pytest.raises(OSError):
        run_scan(load_profile(None), Clock(parse_instant(MONDAY)), mci_home)
    records, scan, state = _audit(mci_home)
    assert scan is None and ("scan", None) not in records and state == "idle"
