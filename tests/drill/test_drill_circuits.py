"""`mci drill --faults circuit=...`: the bad hour locks a leg of the breach at its lower circuit.

The drill passes only if the emergency leaves exactly that leg, says so by name, reason and quantity (exit 6),
and a `mci kill` after the lift closes it without selling twice.
"""

from __future__ import annotations

from testing.drill import KITE_SIM, as_json, drill_records


def test_a_leg_locked_at_its_circuit_is_reported_then_closed_after_the_lift(drill, mci_home):
    done = drill("-p", str(KITE_SIM), "--faults", "circuit=RELIANCE", "-o", "json", timeout=240)
    report = as_json(done)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert report["passed"] is True and report["faults"] == "circuit=RELIANCE"
    emergency = next(p for p in report["phases"] if p["name"] == "emergency")
    facts = emergency["facts"]
    assert facts["watch_exit"] == 6 and facts["kill_after_lift_exit"] == 0
    assert list(facts["locked"]) == ["NSE:RELIANCE"]
    [entry] = facts["unclosed"]
    assert entry["instrument"] == "NSE:RELIANCE" and entry["quantity"] == facts["locked"]["NSE:RELIANCE"]
    assert "lower_circuit" in {r["kind"] for r in entry["reasons"]}
    assert "at lower circuit ₹" in emergency["detail"] and "NSE:RELIANCE" in emergency["detail"]
    (record,) = drill_records(mci_home)
    assert record.data["passed"] is True and record.data["faults"] == "circuit=RELIANCE"


def test_a_circuit_off_the_breach_is_refused_before_anything_starts(drill, mci_home):
    done = drill("-p", str(KITE_SIM), "--faults", "circuit=INFY")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "names no instrument of the drill's forced breach" in done.stdout + done.stderr
    assert drill_records(mci_home) == []
