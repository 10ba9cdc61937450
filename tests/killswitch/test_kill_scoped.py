"""Scoped kills through the real CLI on the paper account: `mci kill --product MIS`, `--tag`, `--symbol`.

A scoped kill cancels and closes only its scope, leaves the engine and the rest of the book alone, says what
it left open outside the scope, latches only its scope (`mci risk check` refuses entries in it, accepts exits
and everything outside it), and `mci reset --confirm` clears it. An account-wide kill latches `halted`, and
then `mci risk check` refuses every order.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from testing.killswitch import ROOT, WEDNESDAY

from mci.brokers.base import OrderRequest
from mci.brokers.factory import broker_for
from mci.brokers.sim.exchange import round_to_tick
from mci.clock import Clock, parse_instant
from mci.config import load_profile
from mci.resources import default_profile

SIGNAL = "2026-11-25T10:29:59+05:30"


def _broker(home, profile=None):
    return broker_for(load_profile(profile or default_profile()), home, Clock(parse_instant(WEDNESDAY)))


def seed(home, profile=None) -> dict[str, str]:
    """MIS and CNC positions, a strategy's tagged MIS entry beside someone else's, resting orders of both."""
    b = _broker(home, profile)
    try:
        b.place_order(OrderRequest("NSE", "INFY", "BUY", 10, product="CNC", tag="holding"))
        b.place_order(OrderRequest("NSE", "TCS", "SELL", 2, product="MIS", tag="other1"))
        b.place_order(OrderRequest("NSE", "SBIN", "BUY", 5, product="MIS", tag="strat1"))
        b.place_order(OrderRequest("NSE", "SBIN", "BUY", 3, product="MIS", tag="other2"))
        ltp = b.ltp(["NSE:SBIN", "NSE:INFY"])
        below = {k: round_to_tick(v * Decimal("0.9"), Decimal("0.05")) for k, v in ltp.items()}
        return {
            "mis_strat": b.place_order(
                OrderRequest(
                    "NSE", "SBIN", "BUY", 1, order_type="LIMIT", product="MIS", price=below["NSE:SBIN"], tag="strat2"
                )
            ),
            "mis_other": b.place_order(
                OrderRequest(
                    "NSE", "SBIN", "BUY", 2, order_type="LIMIT", product="MIS", price=below["NSE:SBIN"], tag="other3"
                )
            ),
            "cnc": b.place_order(
                OrderRequest(
                    "NSE", "INFY", "BUY", 1, order_type="LIMIT", product="CNC", price=below["NSE:INFY"], tag="holding2"
                )
            ),
        }
    finally:
        b.close()


def book(home, profile=None) -> tuple[dict[tuple[str, str], int], set[str]]:
    b = _broker(home, profile)
    try:
        return (
            {(p.symbol, p.product): p.quantity for p in b.positions() if p.quantity},
            {o.order_id for o in b.orders() if o.is_open},
        )
    finally:
        b.close()


def risk(mci, *orders: dict) -> tuple[int, list[dict]]:
    done = mci("risk", "check", "-", "-o", "json", input="\n".join(json.dumps(o) for o in orders))
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def entry(symbol: str, product: str, price: str, tag: str | None = None) -> dict:
    p = Decimal(price)
    order = {
        "exchange": "NSE",
        "symbol": symbol,
        "side": "BUY",
        "quantity": 1,
        "product": product,
        "price": price,
        "stop_loss": str(p - 5),
        "target": str(p + 15),
        "signal_time": SIGNAL,
    }
    return {**order, "tag": tag} if tag else order


@pytest.fixture
def mci(run_mci):
    def run(*args: str, input: str | None = None, **env: str):
        if input is None:
            return run_mci(*args, env={"MCI_AT": WEDNESDAY, **env}, timeout=120)
        import os
        import subprocess
        import sys

        full = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
        full.update({"MCI_HOME": os.environ["MCI_HOME"], "NO_COLOR": "1", "MCI_AT": WEDNESDAY, **env})
        return subprocess.run(
            [sys.executable, "-m", "mci", *args],
            input=input,
            capture_output=True,
            text=True,
            env=full,
            cwd=ROOT,
            timeout=120,
        )

    return run


def test_kill_product_mis_leaves_exactly_the_cnc_and_latches_only_mis(mci, mci_home):
    ids = seed(mci_home)
    assert mci("scan").returncode == 0
    done = mci("kill", "--product", "MIS", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    positions, open_orders = book(mci_home)
    assert positions == {("INFY", "CNC"): 10}  # exactly the CNC
    assert open_orders == {ids["cnc"]}
    out = json.loads(done.stdout)
    assert out["scope"] == {"products": ["MIS"], "symbols": [], "tag": None}
    assert sorted((x["type"], x["instrument"], x["quantity"]) for x in out["outside"]) == [
        ("order", "NSE:INFY", 1),
        ("position", "NSE:INFY", 10),
    ]
    assert out["lifecycle"] == "armed"  # the profile is not halted: the engine trades the rest
    assert out["report"]["latched"] is True
    assert "left running" in out["report"]["engine"]

    life = json.loads(mci("status", "-o", "json").stdout)["lifecycle"]
    assert life["state"] == "armed"
    assert [x["label"] for x in life["scoped_latches"]] == ["product MIS"]
    assert "scoped kill latched: product MIS" in mci("status").stdout

    # The scope's latch: a new MIS entry is refused, a CNC entry is accepted.
    code, verdicts = risk(mci, entry("SBIN", "MIS", "900"), entry("INFY", "CNC", "1500"))
    assert code == 1
    assert [v["accepted"] for v in verdicts] == [False, True]
    assert [f["rule"] for f in verdicts[0]["failures"]] == ["latch"]
    assert "product MIS" in verdicts[0]["failures"][0]["what"]

    reset = mci("reset", "--confirm")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    code, verdicts = risk(mci, entry("SBIN", "MIS", "900"))
    assert code == 0, verdicts
    assert mci("reset", "--confirm").returncode == 4  # nothing latched any more


def test_kill_product_mis_text_names_what_it_left_open(mci, mci_home):
    seed(mci_home)
    done = mci("kill", "--product", "MIS")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "left open outside the scope: 2 item(s)" in done.stdout
    assert "  left open: NSE:INFY CNC +10" in done.stdout
    assert "scope product MIS latched" in done.stdout


def test_kill_tag_closes_what_the_strategy_opened_and_nothing_else(mci, mci_home):
    ids = seed(mci_home)
    done = mci("kill", "--tag", "strat", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    positions, open_orders = book(mci_home)
    # SBIN MIS was 5 (strat1) + 3 (other2): the strategy's 5 are closed, the other 3 stay, as does everything else.
    assert positions == {("INFY", "CNC"): 10, ("TCS", "MIS"): -2, ("SBIN", "MIS"): 3}
    assert open_orders == {ids["mis_other"], ids["cnc"]}  # strat2 was cancelled
    outside = {
        (x["type"], x["instrument"], x.get("product"), x["quantity"]) for x in json.loads(done.stdout)["outside"]
    }
    assert ("position", "NSE:SBIN", "MIS", 3) in outside and ("position", "NSE:TCS", "MIS", -2) in outside

    # A second kill of the same scope finds nothing left to close (the first kill's square-off counts).
    again = mci("kill", "--tag", "strat", "-o", "json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert book(mci_home)[0] == positions

    code, verdicts = risk(mci, entry("SBIN", "MIS", "900", tag="strat9"), entry("SBIN", "MIS", "900", tag="other9"))
    assert [v["accepted"] for v in verdicts] == [False, True]


def test_kill_symbol_and_product_narrow_each_other(mci, mci_home):
    seed(mci_home)
    done = mci("kill", "--symbol", "NSE:SBIN", "--product", "MIS", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    positions, _ = book(mci_home)
    assert positions == {("INFY", "CNC"): 10, ("TCS", "MIS"): -2}


def test_an_account_wide_kill_halts_and_risk_check_then_refuses_everything(mci, mci_home):
    seed(mci_home)
    done = mci("kill")
    assert done.returncode == 0, done.stdout + done.stderr
    assert book(mci_home) == ({}, set())
    code, verdicts = risk(mci, entry("INFY", "CNC", "1500"))
    assert code == 1 and verdicts[0]["failures"][-1]["rule"] == "latch"
    assert "halted" in verdicts[0]["failures"][-1]["what"]


def test_a_sequence_declares_its_scope_and_a_kill_may_only_narrow_it(mci, mci_home, tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "rules" / "shutdown").mkdir(parents=True)
    text = (ROOT / "rules" / "shutdown" / "emergency.yaml").read_text(encoding="utf-8")
    text = text.replace("name: emergency\n", "name: emergency-mis\nscope:\n  products: [MIS]\n", 1)
    (tmp_path / "rules" / "shutdown" / "emergency-mis.yaml").write_text(text, encoding="utf-8")
    profile = tmp_path / "profiles" / "paper.yaml"
    profile.write_text(
        (ROOT / "profiles" / "paper.yaml")
        .read_text(encoding="utf-8")
        .replace("emergency: {use: shutdown/emergency}", "emergency: {use: shutdown/emergency-mis}"),
        encoding="utf-8",
    )
    assert mci("validate", str(profile)).returncode == 0
    seed(mci_home)

    wider = mci("kill", "-p", str(profile), "--product", "CNC")
    assert wider.returncode == 2 and "outside the declared scope" in wider.stderr
    assert book(mci_home)[0][("INFY", "CNC")] == 10

    done = mci("kill", "-p", str(profile), "-o", "json")  # no flags: the declared scope
    assert done.returncode == 0, done.stdout + done.stderr
    assert book(mci_home)[0] == {("INFY", "CNC"): 10}
    assert json.loads(done.stdout)["scope"]["products"] == ["MIS"]


def test_a_bad_scope_is_a_usage_error_before_anything_is_touched(mci, mci_home):
    seed(mci_home)
    before = book(mci_home)
    for args in (("--product", "XYZ"), ("--tag", " "), ("--all", "--product", "MIS")):
        done = mci("kill", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert book(mci_home) == before
    assert json.loads(mci("status", "-o", "json").stdout)["lifecycle"]["state"] == "idle"
