"""`mci kill` on a book the exchange cannot close at once: a position locked at its circuit, partial fills.

Real processes: `mci sim kite` and the real `mci` CLI (the kiteconnect client inside it); faults set with
`mci sim faults`, the book read back through kiteconnect.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal

from testing.killswitch import sim_admin
from testing.kite_sim import kite_login


def _kite(url: str):
    """A fresh client, after the second of Kite's 10/s window that the kill's own reads just used."""
    time.sleep(1.1)
    return kite_login(url)


def _book(kite) -> tuple[list, list]:
    return (
        [p for p in kite.positions()["net"] if p["quantity"]],
        [o for o in kite.orders() if o["status"] in ("OPEN", "TRIGGER PENDING")],
    )


def _orders_by_symbol(kite) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in kite.orders():
        out.setdefault(o["tradingsymbol"], []).append(o)
    return out


def test_a_position_locked_at_its_circuit_is_named_exit_6_then_closed_by_a_rerun(kite_day, sim):
    mci = kite_day
    sim_admin(sim.url, "POST", "positions", instrument="NSE:INFY", quantity=10)
    sim_admin(sim.url, "POST", "positions", instrument="NSE:SBIN", quantity=-4)
    locked = mci("sim", "faults", "circuit=INFY")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    circuits = sim_admin(sim.url, "GET", "circuits")["circuits"]
    lower = next(c["lower"] for c in circuits if c["instrument"] == "NSE:INFY")

    kill = mci("kill")
    assert kill.returncode == 6, kill.stdout + kill.stderr
    assert f"could not close: NSE:INFY MIS +10: at lower circuit ₹{lower}: no buyers" in kill.stdout, kill.stdout
    assert "NOT FLAT" in kill.stdout
    sbin = _orders_by_symbol(_kite(sim.url))["SBIN"]
    assert sum(o["filled_quantity"] for o in sbin if o["status"] == "COMPLETE") == 4  # the other one was closed

    again = mci("kill", "-o", "json")  # still locked: the same verdict, in JSON
    assert again.returncode == 6, again.stdout[-3000:] + again.stderr
    out = json.loads(again.stdout)
    assert out["flat"] is False
    unclosed = out["report"]["unclosed"]
    assert [(u["instrument"], u["product"], u["quantity"]) for u in unclosed] == [("NSE:INFY", "MIS", 10)]
    kinds = {r["kind"]: r for r in unclosed[0]["reasons"]}
    assert Decimal(kinds["lower_circuit"]["price"]) == Decimal(lower)
    # Its last exit rests at the circuit price (Kite's market protection), in the queue for a buyer.
    assert Decimal(kinds["resting"]["price"]) == Decimal(lower)
    kite = _kite(sim.url)
    resting = [o for o in kite.orders() if o["status"] == "OPEN"]
    assert [(o["tradingsymbol"], o["transaction_type"], o["pending_quantity"]) for o in resting] == [
        ("INFY", "SELL", 10)
    ]
    assert [p["quantity"] for p in kite.positions()["net"] if p["tradingsymbol"] == "INFY"] == [10]

    lifted = mci("sim", "faults", "--clear")
    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    rerun = mci("kill")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    kite = _kite(sim.url)  # one client, one wait, for the reads after the rerun
    assert _book(kite) == ([], [])
    infy = _orders_by_symbol(kite)["INFY"]
    sold = sum(o["filled_quantity"] for o in infy if o["transaction_type"] == "SELL")
    assert sold == 10  # closed once: nothing doubled across the three kills
    tags = Counter(o["tag"] for o in infy)
    assert all(n == 1 for n in tags.values()), tags


def test_partial_fills_are_re_placed_until_flat(kite_day, sim):
    mci = kite_day
    sim_admin(sim.url, "POST", "positions", instrument="NSE:TCS", quantity=10)
    sim_admin(sim.url, "PUT", "faults", spec="partial=0.3")
    kill = mci("kill", "-o", "json")
    assert kill.returncode == 0, kill.stdout[-3000:] + kill.stderr
    kite = _kite(sim.url)
    orders = _orders_by_symbol(kite)["TCS"]
    assert orders[0]["filled_quantity"] == 3 and orders[0]["status"] == "CANCELLED"  # 3 of 10, the rest re-placed
    assert sum(o["filled_quantity"] for o in orders) == 10 and len(orders) > 2
    assert _book(kite) == ([], [])


def test_mci_sim_circuit_locks_lists_bands_and_lifts(kite_day, sim):
    mci = kite_day
    locked = mci("sim", "circuit", "NSE:INFY", "--lower")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    assert "NSE:INFY: band ±20%, LOCKED at its lower circuit (" in locked.stdout, locked.stdout
    assert "market orders rest" in locked.stdout
    band = mci("sim", "circuit", "NSE:SBIN", "--band", "5%", "-o", "json")
    data = json.loads(band.stdout)
    assert {c["instrument"]: c["band"] for c in data["circuits"]} == {"NSE:INFY": None, "NSE:SBIN": "0.05"}
    listed = mci("sim", "circuit")
    assert "NSE:SBIN: band ±5%, trading" in listed.stdout, listed.stdout
    lifted = mci("sim", "circuit", "NSE:INFY", "--lift")
    assert lifted.returncode == 0 and "NSE:INFY: band ±20%, trading" not in lifted.stdout
    assert "LOCKED" not in lifted.stdout
    both = mci("sim", "circuit", "NSE:INFY", "--lower", "--upper")
    assert both.returncode == 2, both.stdout + both.stderr
    unknown = mci("sim", "faults", "circuit=NOSUCH")
    assert unknown.returncode == 2 and "NOSUCH" in unknown.stdout + unknown.stderr
    assert sim_admin(sim.url, "GET", "faults")["spec"] == "none"  # a refused spec changed nothing
