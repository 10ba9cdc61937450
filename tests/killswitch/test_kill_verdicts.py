"""The kill's three verdicts against the Kite simulator: flat (0), not flat (6), could not verify (7).

A throttled or unreachable broker is never reported as "not flat": the final read is retried until its
deadline, and a book it could not read is "could not verify". A NOT FLAT list is read again as it is shown.
"""

from __future__ import annotations

import json

from testing.killswitch import ROOT, WEDNESDAY, book, seed_book, sim_admin


def test_a_flat_account_under_a_429_storm_is_never_reported_not_flat(kite_day, sim):
    mci = kite_day
    sim_admin(sim.url, "PUT", "faults", spec="429=0.5,burst=10,seed=3")
    kill = mci("kill", "-o", "json")
    assert kill.returncode in (0, 7), kill.stdout[-2000:] + kill.stderr  # never 6 for a flat account
    out = json.loads(kill.stdout)
    assert out["remaining"] == [] and out["flat"] is (True if kill.returncode == 0 else None)
    assert kill.returncode == 0, out["note"]  # retried through the storm (seed 3), the read gets through
    assert out["read_at"]
    counters = sim_admin(sim.url, "GET", "counters")
    assert counters["faults"].get("429", 0) >= 10, counters["faults"]  # the storm did hit the reads
    assert book(sim.url) == ([], [])


def short_deadlines(tmp_path) -> str:
    """The kite-sim profile with the emergency's flatten deadlines cut to 2 s: a dead broker fails fast."""
    (tmp_path / "profiles").mkdir(exist_ok=True)
    text = (ROOT / "profiles" / "kite-sim.yaml").read_text(encoding="utf-8")
    text += (
        "\nshutdown:\n  emergency:\n    use: shutdown/emergency\n    override:\n"
        "      cancel_orders: {within: 2s}\n      square_off: {within: 2s}\n"
    )
    path = tmp_path / "profiles" / "kite-sim.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_account_unreadable_is_could_not_verify_exit_7_never_not_flat(kite_day, sim, tmp_path):
    mci = kite_day
    profile = short_deadlines(tmp_path)
    seed_book(sim.url)
    sim_admin(sim.url, "PUT", "faults", spec="5xx=1.0,seed=1")  # every Kite call fails, nothing is processed
    kill = mci("kill", "-p", profile, MCI_VERIFY_WITHIN="2s")
    assert kill.returncode == 7, kill.stdout + kill.stderr
    assert "COULD NOT VERIFY" in kill.stdout and "NOT FLAT" not in kill.stdout
    assert "flattened: unknown" in kill.stdout and "latched:   yes" in kill.stdout
    status = json.loads(mci("status", "-o", "json").stdout)
    assert status["lifecycle"]["state"] == "halted"
    # Once the broker answers again, the next kill finishes the flatten and can say flat.
    sim_admin(sim.url, "DELETE", "faults")
    again = mci("kill", "-p", profile)
    assert again.returncode == 0, again.stdout + again.stderr
    assert book(sim.url) == ([], [])


def test_not_flat_is_exit_6_with_the_list_as_read_when_shown(run_mci, mci_home, tmp_path):
    """An emergency sequence without a square-off (a profile's own) leaves the positions: NOT FLAT, listed."""
    (tmp_path / "rules" / "shutdown").mkdir(parents=True)
    (tmp_path / "rules" / "shutdown" / "cancel-only.yaml").write_text(
        "version: 1\nkind: sequence\nname: cancel-only\nsteps:\n"
        "  - {id: cancel_orders, kind: orders.cancel_all, title: Cancel every open order}\n"
        "  - {id: halt, kind: lifecycle.halt, title: Latch}\n",
        encoding="utf-8",
    )
    (tmp_path / "profiles").mkdir()
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    text = text.replace("emergency: {use: shutdown/emergency}", "emergency: {use: shutdown/cancel-only}")
    profile = tmp_path / "profiles" / "paper.yaml"
    profile.write_text(text, encoding="utf-8")
    env = {"MCI_AT": WEDNESDAY}
    from mci.brokers.base import OrderRequest
    from mci.brokers.factory import broker_for
    from mci.clock import Clock, parse_instant
    from mci.config import load_profile

    broker = broker_for(load_profile(profile), mci_home, Clock(parse_instant(WEDNESDAY)))
    broker.place_order(OrderRequest("NSE", "INFY", "BUY", 3, product="MIS", tag="seed"))
    broker.close()

    kill = run_mci("kill", "-p", str(profile), env=env)
    assert kill.returncode == 6, kill.stdout + kill.stderr
    assert "remaining, as read at 10:30:" in kill.stdout and "IST" in kill.stdout
    assert "'instrument': 'NSE:INFY'" in kill.stdout and "NOT FLAT: 1 item(s) remain" in kill.stdout
    out = json.loads(run_mci("kill", "-p", str(profile), "-o", "json", env=env).stdout)
    assert out["flat"] is False and out["exit_code"] == 6 and out["read_at"]
    assert [r["instrument"] for r in out["remaining"]] == ["NSE:INFY"]
