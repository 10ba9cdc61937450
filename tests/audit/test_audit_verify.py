"""`mci audit verify` on a real state DB, tampered with every way the issue names; it must name the first bad record.

What the chain alone catches: an edited record or hash, a deleted, inserted or
reordered record. What only the anchor file catches: a cut-off tail, records
appended behind mci's back, and a forger who recomputes every hash forward.
What nothing here catches (documented by a test): a forger who rewrites both the
chain and the anchor file.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest

from mci.commands import audit as command
from mci.store.anchor import anchor_path, read_anchor
from mci.store.state import StateStore

from testing.audit import START, build_trail, db, forge, insert, rechain, rows, shift_up


def verify(run_mci):
    proc = run_mci("audit", "verify", "-o", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def verify_text(run_mci):
    proc = run_mci("audit", "verify")
    return proc.returncode, proc.stdout


def test_an_intact_trail_verifies_and_matches_its_anchor(run_mci, mci_home):
    written = build_trail(mci_home)
    code, out = verify(run_mci)
    assert code == 0 and out["status"] == "intact" and out["records"] == 8 and out["problem"] is None
    assert out["anchor"]["seq"] == 8 and out["anchor"]["hash"] == written[-1]["hash"]
    code, text = verify_text(run_mci)
    assert code == 0 and "intact: 8 record(s) (seq 1..8)" in text and "matches its anchor" in text


def test_an_empty_state_dir_is_not_tampered(run_mci, mci_home):
    code, out = verify(run_mci)
    assert code == 0 and out["status"] == "empty"
    assert not (mci_home / "state.db").exists()  # verify reads; it never creates a DB


def _edit_data(home):
    with db(home) as conn:
        data = json.loads(conn.execute("SELECT data FROM audit WHERE seq = 4").fetchone()[0])
        data["qty"] = 4000  # an order quantity "corrected" after the fact
        conn.execute(
            "UPDATE audit SET data = ? WHERE seq = 4", (json.dumps(data, sort_keys=True, separators=(",", ":")),)
        )


def _edit_kind(home):
    with db(home) as conn:
        conn.execute("UPDATE audit SET kind = 'note' WHERE seq = 3")


def _edit_hash(home):
    with db(home) as conn:
        conn.execute("UPDATE audit SET hash = ? WHERE seq = 5", ("f" * 64,))


def _data_not_json(home):
    with db(home) as conn:
        conn.execute("UPDATE audit SET data = '{broken' WHERE seq = 2")


def _delete_middle(home):
    with db(home) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 4")


def _delete_first(home):
    with db(home) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 1")


def _delete_and_renumber(home):
    with db(home) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 4")
        conn.execute("UPDATE audit SET seq = -(seq - 1) WHERE seq > 4")
        conn.execute("UPDATE audit SET seq = -seq WHERE seq < 0")


def _insert_forged_bad_hash(home):
    third = rows(home)[2]
    with db(home) as conn:
        shift_up(conn, 4)
        insert(conn, (4, third[1], "paper", "order", '{"event":"order.place.after","qty":1}', third[6], "a" * 64))


def _insert_forged_good_hash(home):
    third = rows(home)[2]
    with db(home) as conn:
        shift_up(conn, 4)
        insert(conn, forge(4, third[1], "order", {"event": "order.place.after", "qty": 1}, third[6]))


def _reorder_contents(home):
    """Swap records 4 and 5 whole (each keeps its own hashes), under each other's seq."""
    with db(home) as conn:
        conn.execute("UPDATE audit SET seq = -1 WHERE seq = 4")
        conn.execute("UPDATE audit SET seq = 4 WHERE seq = 5")
        conn.execute("UPDATE audit SET seq = 5 WHERE seq = -1")


def _reorder_by_time(home):
    """Swap ts/kind/data of records 4 and 5, keeping each row's links: the time order changes."""
    with db(home) as conn:
        a = conn.execute("SELECT ts, kind, data FROM audit WHERE seq = 4").fetchone()
        b = conn.execute("SELECT ts, kind, data FROM audit WHERE seq = 5").fetchone()
        conn.execute("UPDATE audit SET ts = ?, kind = ?, data = ? WHERE seq = 4", b)
        conn.execute("UPDATE audit SET ts = ?, kind = ?, data = ? WHERE seq = 5", a)


def _truncate_tail(home):
    with db(home) as conn:
        conn.execute("DELETE FROM audit WHERE seq >= 7")


def _truncate_last(home):
    with db(home) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 8")


def _truncate_all(home):
    with db(home) as conn:
        conn.execute("DELETE FROM audit")


def _rechain_after_edit(home):
    _edit_data(home)
    rechain(home)


def _rechain_after_insert(home):
    _insert_forged_good_hash(home)
    rechain(home)


def _rechain_after_delete(home):
    _delete_and_renumber(home)
    rechain(home)


def _append_forged(home):
    last = rows(home)[-1]
    with db(home) as conn:
        insert(conn, forge(9, last[1], "order", {"event": "order.cancel.after"}, last[6]))


CASES = [
    # (tamper, first bad seq, category, words the WHAT/WHY must carry)
    (_edit_data, 4, "edited", "does not match its hash"),
    (_edit_kind, 3, "edited", "does not match its hash"),
    (_edit_hash, 5, "edited", "does not match its hash"),
    (_data_not_json, 2, "edited", "not valid JSON"),
    (_delete_middle, 5, "deleted", "record(s) 4 are missing"),
    (_delete_first, 2, "deleted", "record(s) 1 are missing"),
    (_delete_and_renumber, 4, "inserted-deleted-reordered", "links to no record in the trail"),
    (_insert_forged_bad_hash, 4, "edited", "does not match its hash"),
    (_insert_forged_good_hash, 5, "inserted-deleted-reordered", "it links to record 3 instead"),
    (_reorder_contents, 4, "inserted-deleted-reordered", "it links to record 5 instead"),
    (_reorder_by_time, 4, "edited", "does not match its hash"),
    (_truncate_tail, 7, "truncated", "records 7..8 are missing after the last record (6)"),
    (_truncate_last, 8, "truncated", "records 8 are missing after the last record (7)"),
    (_truncate_all, 1, "truncated", "records 1..8 are missing"),
    (_rechain_after_edit, 8, "rewritten", "not the record that was anchored"),
    (_rechain_after_insert, 8, "rewritten", "not the record that was anchored"),
    (_rechain_after_delete, 8, "truncated", "records 8 are missing"),
    (_append_forged, 9, "unanchored", "records 9..9 follow the anchored record 8"),
]


@pytest.mark.parametrize("tamper,seq,category,words", CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_verify_names_the_first_bad_record(run_mci, mci_home, tamper, seq, category, words):
    build_trail(mci_home)
    tamper(mci_home)
    code, out = verify(run_mci)
    problem = out["problem"]
    assert code == 1 and out["status"] == "tampered", out
    assert (problem["seq"], problem["category"]) == (seq, category), problem
    assert words in problem["what"] + " " + problem["why"], problem
    code, text = verify_text(run_mci)
    assert code == 1 and f"TAMPERED ({category})" in text and f"first bad record: seq {seq}" in text
    assert "WHAT:" in text and "WHY:" in text and "HOW:" in text


def test_a_named_record_carries_its_time_and_kind(run_mci, mci_home):
    build_trail(mci_home)
    _edit_data(mci_home)
    _, out = verify(run_mci)
    p = out["problem"]
    assert p["kind"] == "order" and p["ts"].startswith("2026-11-23T05:00:00")  # 10:30 IST
    assert "record 4 (order, 2026-11-23T05:00:00" in p["what"]


def test_an_older_copy_of_the_db_put_back_is_a_truncation(run_mci, mci_home, tmp_path):
    build_trail(mci_home, 5)
    saved = tmp_path / "old.db"
    shutil.copy(mci_home / "state.db", saved)
    store = StateStore.open(mci_home)
    store.append_audit("order", {"event": "order.place.before"}, START + timedelta(hours=5), profile="paper")
    store.close()
    shutil.copy(saved, mci_home / "state.db")
    _, out = verify(run_mci)
    assert (out["problem"]["category"], out["problem"]["seq"]) == ("truncated", 6)


def test_a_forger_who_rewrites_chain_and_anchor_is_not_caught_the_documented_limit(run_mci, mci_home):
    build_trail(mci_home)
    _rechain_after_edit(mci_home)
    last = rows(mci_home)[-1]
    anchor_path(mci_home / "state.db").write_text(json.dumps({"seq": last[0], "hash": last[6], "ts": last[1]}))
    code, out = verify(run_mci)
    assert code == 0 and out["status"] == "intact"  # only an off-host copy of the anchor would tell


def test_without_an_anchor_the_chain_is_checked_and_the_gap_is_said(run_mci, mci_home):
    build_trail(mci_home)
    anchor_path(mci_home / "state.db").unlink()
    code, out = verify(run_mci)
    assert code == 0 and out["status"] == "intact" and "no anchor file" in out["notes"][0]
    _edit_data(mci_home)
    assert verify(run_mci)[1]["problem"]["seq"] == 4


def test_an_unreadable_anchor_is_reported(run_mci, mci_home):
    build_trail(mci_home)
    anchor_path(mci_home / "state.db").write_text("not json")
    code, out = verify(run_mci)
    assert code == 1 and out["problem"]["category"] == "anchor"


def test_the_anchor_moves_only_with_a_committed_append(mci_home):
    written = build_trail(mci_home, 3)
    store = StateStore.open(mci_home)
    try:
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.append_audit("order", {"event": "x"}, START, profile="paper")
                raise RuntimeError("rolled back")
        assert read_anchor(anchor_path(store.path)).seq == 3  # the rolled-back record is not anchored
        with store.transaction():  # nested appends: the outermost COMMIT anchors the last one
            store.append_audit("order", {"event": "a"}, START, profile="paper")
            store.append_audit("order", {"event": "b"}, START, profile="paper")
        anchor = read_anchor(anchor_path(store.path))
        assert anchor.seq == 5 and anchor.hash == list(store.audit_records())[-1].hash
    finally:
        store.close()
    assert command.verify(mci_home).status == "intact" and written[0]["seq"] == 1


def test_the_kill_switchs_fallback_trail_is_verified_beside_the_db(run_mci, mci_home):
    """A kill that ran without the DB wrote audit.fallback.jsonl; an edit there is tampering too (exit 1)."""
    from mci.store.fallback import FallbackAudit, fallback_path

    build_trail(mci_home)
    path = fallback_path(mci_home)
    for n in range(3):
        FallbackAudit(path).append("emergency", {"event": "cancel", "order_id": str(n)}, START, profile="paper")
    code, out = verify(run_mci)
    assert code == 0 and out["status"] == "intact"
    assert out["fallback"] == {"file": str(path), "records": 3, "status": "intact", "first_bad_seq": None}
    code, text = verify_text(run_mci)
    assert code == 0 and "3 record(s) of kills run without the state DB" in text

    lines = path.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[1])
    edited["data"]["order_id"] = "9"  # the record of a cancel rewritten after the fact
    path.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n", encoding="utf-8")
    code, out = verify(run_mci)
    assert code == 1 and out["status"] == "tampered"
    assert out["problem"]["category"] == "fallback" and out["problem"]["seq"] == 2
    assert out["fallback"]["status"] == "tampered" and out["fallback"]["first_bad_seq"] == 2
    code, text = verify_text(run_mci)
    assert code == 1 and "TAMPERED (fallback)" in text and "audit.fallback.jsonl" in text
