"""`mci audit tail | show | export` through the real CLI on a real state DB; the trail a paper day leaves."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal as D

from mci.commands import audit as command
from mci.store.state import StateStore

from testing import ROOT
from testing.audit import IST, START, build_trail, rows


def test_tail_shows_the_latest_oldest_first_and_filters(run_mci, mci_home):
    build_trail(mci_home)
    out = run_mci("audit", "tail", "-n", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == [6, 7, 8]
    assert "2026-11-23 11:30:00" in lines[0] and "approval" in lines[0]  # times in IST
    orders = run_mci("audit", "tail", "--kind", "order", "-o", "json")
    records = [json.loads(line) for line in orders.stdout.splitlines()]
    assert [r["seq"] for r in records] == [4, 5] and records[0]["data"]["qty"] == 40
    assert run_mci("audit", "tail", "--profile", "other").stdout == ""


def test_tail_follow_prints_new_records(mci_home, capsys):
    build_trail(mci_home, 2)

    def sleep(_):  # between two polls another process appends
        store = StateStore.open(mci_home)
        store.append_audit("order", {"event": "order.place.before"}, START, profile="paper")
        store.close()

    assert command.tail(mci_home, "text", n=1, follow=True, polls=2, sleep=sleep) == 0
    seqs = [int(line.split()[0]) for line in capsys.readouterr().out.splitlines()]
    assert seqs == [2, 3, 4]


def test_show_prints_one_record_in_full(run_mci, mci_home):
    written = build_trail(mci_home)
    out = run_mci("audit", "show", "4", "-o", "json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["seq"] == 4 and record["kind"] == "order" and record["hash"] == written[3]["hash"]
    assert record["prev_hash"] == written[2]["hash"] and record["hash_matches_content"] is True
    text = run_mci("audit", "show", "4").stdout
    assert "matches its content" in text and '"qty": 40' in text
    missing = run_mci("audit", "show", "99")
    assert missing.returncode == 2 and "no audit record with seq 99" in missing.stderr


def test_export_jsonl_and_csv_parse_and_carry_the_hashes(run_mci, mci_home):
    written = build_trail(mci_home)
    jl = run_mci("audit", "export", "--format", "jsonl")
    assert jl.returncode == 0, jl.stderr
    records = [json.loads(line) for line in jl.stdout.splitlines()]
    assert [r["hash"] for r in records] == [w["hash"] for w in written]
    cs = run_mci("audit", "export", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(cs.stdout)))
    assert [int(r["seq"]) for r in table] == list(range(1, 9))
    assert json.loads(table[3]["data"]) == {"event": "e4", "n": 4, "qty": 40}
    assert [r["hash"] for r in table] == [w["hash"] for w in written]
    # The stored text is exported as is, so an auditor can recompute the chain from the CSV.
    assert [(int(r["seq"]), r["data"]) for r in table] == [(row[0], row[4]) for row in rows(mci_home)]


def test_export_since_until_kind_and_out_file(run_mci, mci_home, tmp_path):
    build_trail(mci_home)  # 09:00, 09:30, … 12:30 IST
    since = run_mci("audit", "export", "--since", "2026-11-23T11:00")  # no offset: IST
    assert [json.loads(line)["seq"] for line in since.stdout.splitlines()] == [5, 6, 7, 8]
    window = run_mci("audit", "export", "--since", "2026-11-23T10:00+05:30", "--until", "2026-11-23T05:30Z")
    assert [json.loads(line)["seq"] for line in window.stdout.splitlines()] == [3, 4, 5]
    ago = run_mci("audit", "export", "--since", "1h", "--at", "2026-11-23T12:10")  # from 11:10 IST
    assert [json.loads(line)["seq"] for line in ago.stdout.splitlines()] == [6, 7, 8]
    target = tmp_path / "out" / "orders.csv"
    target.parent.mkdir()
    done = run_mci("audit", "export", "--format", "csv", "--kind", "order", "--out", str(target))
    assert done.returncode == 0 and done.stdout == "" and "exported 2 record(s)" in done.stderr
    assert [r["seq"] for r in csv.DictReader(target.open())] == ["4", "5"]
    assert [p.name for p in target.parent.iterdir()] == ["orders.csv"]  # no temporary left behind
    bad = run_mci("audit", "export", "--format", "xml")
    assert bad.returncode == 2 and "csv or jsonl" in bad.stderr
    worse = run_mci("audit", "export", "--since", "yesterday-ish")
    assert worse.returncode == 2 and "--since" in worse.stderr


def test_help_has_an_example_for_each_command(run_mci):
    for sub in ("tail", "show", "verify", "export"):
        out = run_mci("audit", sub, "--help")
        assert out.returncode == 0 and "Example:" in out.stdout and "mci audit" in out.stdout


WEDNESDAY = "2026-11-25T10:30:00"


def test_a_paper_day_leaves_order_state_and_token_records_and_verifies(run_mci, mci_home):
    from mci.brokers.base import OrderRequest
    from mci.brokers.paper import PaperBroker
    from mci.clock import Clock

    env = {"MCI_AT": WEDNESDAY}
    assert run_mci("scan", env=env).returncode == 0
    # The account mci's paper profile reads holds two positions and a resting order.
    broker = PaperBroker(
        mci_home, "paper", Clock(datetime(2026, 11, 25, 10, 30, tzinfo=IST)), capital=D("1000000"), seed=7
    )
    try:
        broker.exchange.place_order(
            OrderRequest("NSE", "INFY", "BUY", 10, "MARKET", "MIS", tag="seed", market_protection=-1)
        )
        broker.exchange.place_order(
            OrderRequest("NSE", "SBIN", "SELL", 5, "MARKET", "MIS", tag="seed", market_protection=-1)
        )
        ltp = broker.exchange.price_at("NSE", "RELIANCE", broker.exchange.clock.now())
        broker.exchange.place_order(
            OrderRequest(
                "NSE", "RELIANCE", "BUY", 2, "LIMIT", "MIS", price=(ltp * D("0.9")).quantize(D("1")), tag="resting"
            )
        )
    finally:
        broker.close()
    kill = run_mci("shutdown", "--emergency", env=env)
    assert kill.returncode == 0, kill.stdout + kill.stderr
    token = "tok" + "x" * 29
    proc = subprocess.run(
        [sys.executable, "-m", "mci", "token", "set", "--user-id", "AB1234"],
        input=token,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MCI_")},
            "MCI_HOME": str(mci_home),
            "MCI_AT": WEDNESDAY,
            "NO_COLOR": "1",
        },
    )
    assert proc.returncode == 0, proc.stderr
    expired = run_mci("token", "status", env={"MCI_AT": "2026-11-26T07:00:00"})  # past 06:00 IST: dead
    assert expired.returncode == 1 and "EXPIRED" in expired.stdout
    run_mci("token", "status", env={"MCI_AT": "2026-11-26T07:05:00"})  # seen again: audited once
    assert run_mci("token", "clear").returncode == 0

    records = [json.loads(line) for line in run_mci("audit", "export").stdout.splitlines()]
    events = [(r["kind"], r["data"].get("event") or r["data"].get("to") or r["data"].get("status")) for r in records]
    order_events = [e for k, e in events if k == "order"]
    for expected in ("order.cancel.before", "order.cancel.after", "order.place.before", "order.place.after"):
        assert expected in order_events, order_events
    assert ("lifecycle", "armed") in events and ("lifecycle", "halted") in events
    assert [e for k, e in events if k == "token"] == ["saved", "expired", "cleared"]
    assert [r["data"].get("how") for r in records if r["kind"] == "token"][0] == "set"
    assert token not in json.dumps(records)  # never the token itself
    verify = run_mci("audit", "verify", "-o", "json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["records"] == len(records)


def _clean_refusal(proc, code: int, *words: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out and "WHAT" in out and "WHY" in out and "HOW" in out, out
    for word in words:
        assert word in out, out


def test_show_refuses_a_seq_no_record_can_have(run_mci, mci_home):
    build_trail(mci_home, 2)
    _clean_refusal(run_mci("audit", "show", "99999999999999999999999"), 2, "no audit record can have seq")
    _clean_refusal(run_mci("audit", "show", "0"), 2, "no audit record can have seq 0")
    _clean_refusal(run_mci("audit", "show", "9223372036854775807"), 2, "no audit record with seq")


def test_export_refuses_a_directory_and_creates_no_missing_parent(run_mci, mci_home, tmp_path):
    build_trail(mci_home, 2)
    _clean_refusal(run_mci("audit", "export", "--out", str(tmp_path)), 2, "is a directory")
    missing = tmp_path / "no" / "such" / "audit.jsonl"
    _clean_refusal(run_mci("audit", "export", "--out", str(missing)), 2, "does not exist", "mkdir -p")
    assert not (tmp_path / "no").exists()


def test_verify_on_a_damaged_db_is_unavailable_not_a_traceback(run_mci, mci_home):
    build_trail(mci_home)
    db = mci_home / "state.db"
    for name in ("state.db-wal", "state.db-shm"):
        (mci_home / name).unlink(missing_ok=True)
    size = db.stat().st_size
    with db.open("r+b") as fh:  # keep the header, overwrite the pages (as a disk fault would)
        fh.seek(100)
        fh.write(b"\xff" * (size - 100))
    _clean_refusal(run_mci("audit", "verify"), 3, "cannot read the audit trail")
    db.write_bytes(b"not a database at all, just text" * 10)
    as_json = run_mci("audit", "verify", "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.returncode == 3 and error["code_name"] == "unavailable" and "not a database" in error["why"]
    assert error["what"] and error["how"] and "Traceback" not in as_json.stderr
    _clean_refusal(run_mci("audit", "tail"), 3, "cannot read the audit trail")
