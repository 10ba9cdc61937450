"""An audited write on a chain that no longer matches its anchor records a chain_break, and
`mci audit verify` reports it for ever after: real `mci scan` processes on the paper profile."""

from __future__ import annotations

import json
import os

from mci.commands import audit as command
from mci.store.anchor import anchor_path, read_anchor
from mci.store.state import StateStore

from testing.audit import START, build_trail, db, rechain, rows

AT = "2026-11-25T10:30:00"  # a Wednesday in session hours: the scan takes its passing path


def scan(run_mci, at: str = AT):
    proc = run_mci("scan", "--at", at)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def verify_json(run_mci) -> dict:
    proc = run_mci("audit", "verify", "-o", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["exit_code"] == proc.returncode
    return out


def test_deleting_the_tail_then_a_scan_leaves_verify_failing_with_the_evidence(run_mci, mci_home):
    scan(run_mci)
    scan(run_mci, "2026-11-25T10:40:00")
    before = rows(mci_home)
    assert len(before) >= 5 and verify_json(run_mci)["status"] == "intact"
    anchored = read_anchor(anchor_path(mci_home / "state.db"))
    with db(mci_home) as conn:
        conn.execute("DELETE FROM audit WHERE seq >= 3")
    assert verify_json(run_mci)["problem"]["category"] == "truncated"

    scan(run_mci, "2026-11-25T10:50:00")  # the cron'd command that used to erase the evidence
    out = verify_json(run_mci)
    assert out["status"] == "tampered" and out["problem"]["category"] == "chain_break", out
    (brk,) = out["breaks"]
    assert brk["seq"] == 3 and brk["category"] == "truncated"
    assert brk["anchor"]["seq"] == anchored.seq and brk["anchor"]["hash"] == anchored.hash
    assert brk["db_head"]["seq"] == 2 and brk["db_head"]["hash"] == before[1][6]
    assert brk["detected"]["command"] == "mci scan" and brk["detected"]["pid"] > 0
    assert f"records 3..{anchored.seq} are missing" in brk["what"]
    assert [r[3] for r in rows(mci_home)][2] == "chain_break"

    text = run_mci("audit", "verify")
    assert text.returncode == 1 and "TAMPERED (chain_break)" in text.stdout and "first bad record: seq 3" in text.stdout
    assert "chain_break at seq 3" in text.stdout and "evidence:" in text.stdout and anchored.hash in text.stdout

    scan(run_mci, "2026-11-25T11:00:00")  # and again: the break stays on record, and no new one is made
    out = verify_json(run_mci)
    assert out["problem"]["category"] == "chain_break" and [b["seq"] for b in out["breaks"]] == [3]


def test_removing_state_db_then_a_scan_starts_the_new_chain_with_a_break(run_mci, mci_home):
    scan(run_mci)
    old_head = rows(mci_home)[-1]
    os.remove(mci_home / "state.db")
    scan(run_mci, "2026-11-25T10:40:00")
    first = rows(mci_home)[0]
    assert first[0] == 1 and first[3] == "chain_break"
    out = verify_json(run_mci)
    assert out["problem"]["category"] == "chain_break"
    (brk,) = out["breaks"]
    assert brk["category"] == "truncated" and brk["db_head"] is None
    assert (brk["anchor"]["seq"], brk["anchor"]["hash"]) == (old_head[0], old_head[6])
    assert "the DB holds no records" in brk["what"]


def _append(home, event: str = "next") -> None:
    store = StateStore.open(home)
    try:
        store.append_audit("order", {"event": event}, START, profile="paper")
    finally:
        store.close()


def test_a_rewritten_chain_is_a_break_when_next_appended(mci_home):
    written = build_trail(mci_home)
    with db(mci_home) as conn:
        conn.execute('UPDATE audit SET data = \'{"event":"e4","n":4,"qty":1}\' WHERE seq = 4')
    rechain(mci_home)
    _append(mci_home)
    verdict = command.verify(mci_home)
    (brk,) = verdict.breaks
    assert brk.seq == 9 and brk.data["category"] == "rewritten"
    assert brk.data["anchor"]["hash"] == written[-1]["hash"] and brk.data["found_at_checked_seq"] != written[-1]["hash"]
    assert verdict.problem.category == "chain_break" and verdict.problem.seq == 9


def test_records_appended_behind_mcis_back_are_a_break_when_next_appended(mci_home):
    build_trail(mci_home)
    from testing.audit import forge, insert

    last = rows(mci_home)[-1]
    with db(mci_home) as conn:
        insert(conn, forge(9, last[1], "order", {"event": "order.cancel.after"}, last[6]))
    _append(mci_home)
    (brk,) = command.verify(mci_home).breaks
    assert brk.seq == 10 and brk.data["category"] == "unanchored" and "records 9..9 follow" in brk.data["what"]


def test_an_unreadable_anchor_is_a_break_once_per_connection(mci_home):
    build_trail(mci_home, 3)
    path = anchor_path(mci_home / "state.db")
    path.write_text("garbage")
    blocker = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    blocker.mkdir()  # the anchor cannot be rewritten (as on a full disk), whoever runs the test
    store = StateStore.open(mci_home)
    try:
        store.append_audit("order", {"event": "a"}, START, profile="paper")
        store.append_audit("order", {"event": "b"}, START, profile="paper")  # no pile of breaks
        blocker.rmdir()
        store.append_audit("order", {"event": "c"}, START, profile="paper")
    finally:
        store.close()
    kinds = [r[3] for r in rows(mci_home)]
    assert kinds == ["token", "scan", "lifecycle", "chain_break", "order", "order", "order"]
    verdict = command.verify(mci_home)
    (brk,) = verdict.breaks
    assert brk.data["category"] == "anchor" and brk.data["anchor_raw"] == "garbage"
    assert verdict.problem.category == "chain_break" and read_anchor(path).seq == 7


def test_an_intact_chain_costs_no_break_and_the_anchor_is_confirmed(mci_home):
    build_trail(mci_home, 3)
    _append(mci_home)
    _append(mci_home)
    anchor = read_anchor(anchor_path(mci_home / "state.db"))
    assert anchor.seq == 5 and anchor.pending is None
    assert "chain_break" not in [r[3] for r in rows(mci_home)]
    assert command.verify(mci_home).status == "intact"


def test_a_deleted_anchor_with_a_trail_is_a_break_not_a_fresh_start(mci_home):
    build_trail(mci_home)
    anchor_path(mci_home / "state.db").unlink()
    with db(mci_home) as conn:  # the thorough vandal: cut the tail and remove what would show it
        conn.execute("DELETE FROM audit WHERE seq >= 6")
    _append(mci_home)
    (brk,) = command.verify(mci_home).breaks
    assert brk.seq == 6 and brk.data["category"] == "anchor" and "is missing" in brk.data["what"]
    assert brk.data["db_head"]["seq"] == 5 and "anchor" not in brk.data and "anchor_raw" not in brk.data
