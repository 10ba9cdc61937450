"""F&O in the Kite simulator, through the real kiteconnect client: the NFO dump, lots, products, freeze quantity,
margins and positions (issue 13)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal as D

import pytest
from kiteconnect import exceptions as kex

from mci.brokers import kite_rules
from mci.brokers.sim.exchange import round_to_tick
from mci.brokers.sim.universe import DEFAULT_UNIVERSE

FUT = "NIFTY26DECFUT"


def place(kite, symbol, qty, side="BUY", product="NRML", **kw):
    return kite.place_order(
        variety=kw.pop("variety", "regular"),
        exchange=kw.pop("exchange", "NFO"),
        tradingsymbol=symbol,
        transaction_type=side,
        quantity=qty,
        product=product,
        order_type=kw.pop("order_type", "MARKET"),
        market_protection=kw.pop("market_protection", -1),
        **kw,
    )


def test_the_nfo_dump_lists_live_futures_and_options_in_kites_format(kite):
    rows = kite.instruments("NFO")
    names = Counter(r["name"] for r in rows)
    assert {"NIFTY", "BANKNIFTY"} <= set(names) and len(names) >= 12  # two indices and ten stocks
    by_symbol = {r["tradingsymbol"]: r for r in rows}
    fut = by_symbol[FUT]
    assert fut["instrument_type"] == "FUT" and fut["segment"] == "NFO-FUT" and fut["exchange"] == "NFO"
    assert fut["lot_size"] == 65 and fut["tick_size"] == 0.05 and fut["expiry"] == date(2026, 12, 29)  # last Tuesday
    option = by_symbol["BANKNIFTY26DEC59000PE"]
    assert option["instrument_type"] == "PE" and option["segment"] == "NFO-OPT" and option["strike"] == 59000.0
    assert option["lot_size"] == 30
    assert {r["instrument_type"] for r in rows} == {"FUT", "CE", "PE"}
    # On 2026-11-23 the October series has expired: Kite's dump lists live contracts only.
    assert not any(r["tradingsymbol"].startswith("NIFTY26OCT") for r in rows)
    assert "NIFTY26NOVFUT" in by_symbol
    assert all(r["instrument_token"] == int(r["exchange_token"]) * 256 + 2 for r in rows)  # kiteconnect: str
    # The NSE dump is unchanged: equities only.
    assert {r["instrument_type"] for r in kite.instruments("NSE")} == {"EQ"}


def test_an_order_over_the_freeze_quantity_is_refused_with_kites_text_and_nothing_recorded(kite):
    freeze = DEFAULT_UNIVERSE.get("NFO", FUT).freeze_quantity
    assert freeze == 1755  # NSE's 1,800 in whole lots of 65 (kite_rules)
    with pytest.raises(kex.OrderException) as refused:
        place(kite, FUT, freeze + 65)
    assert str(refused.value) == "RMS:Rule: Check freeze quantity for NFO"
    assert kite.orders() == []  # refused before the book, as Kite's RMS does
    order_id = place(kite, FUT, freeze)
    [order] = kite.orders()
    assert order["order_id"] == order_id and order["status"] == "COMPLETE" and order["quantity"] == freeze


def test_nfo_takes_nrml_and_mis_whole_lots_and_not_cnc(kite, exchange):
    with pytest.raises(kex.InputException, match="invalid product 'CNC'"):
        place(kite, FUT, 65, product="CNC")
    with pytest.raises(kex.InputException, match="not a multiple of the lot size 65"):
        place(kite, FUT, 100)
    with pytest.raises(kex.InputException, match="expired on 2026-10-27"):
        place(kite, "NIFTY26OCTFUT", 65)
    with pytest.raises(kex.InputException, match="invalid product 'NRML'"):
        place(kite, "INFY", 1, exchange="NSE")
    place(kite, FUT, 130, product="NRML")
    option_ltp = exchange.price_at("NFO", "SBIN26DEC910CE", exchange.clock.now())  # a stock option: LIMIT only
    place(
        kite,
        "SBIN26DEC910CE",
        750,
        side="SELL",
        product="MIS",
        order_type="LIMIT",
        price=float(round_to_tick(option_ltp * D("0.95"), D("0.05"))),
    )
    net = {(p["tradingsymbol"], p["product"]): p for p in kite.positions()["net"]}
    assert net[(FUT, "NRML")]["quantity"] == 130 and net[(FUT, "NRML")]["exchange"] == "NFO"
    assert net[("SBIN26DEC910CE", "MIS")]["quantity"] == -750
    margins = kite.margins("equity")
    fut_notional = 130 * net[(FUT, "NRML")]["average_price"]
    option_premium = 750 * net[("SBIN26DEC910CE", "MIS")]["average_price"]
    # A future blocks 15% of its notional, an option its premium (the simulator's margin model).
    used = margins["utilised"]["span"]
    assert used == pytest.approx(0.15 * fut_notional + option_premium, rel=1e-9)


def test_the_freeze_fault_lowers_the_limit_in_whole_lots(server, kite):
    import requests

    answer = requests.post(f"{server.url}/_sim/freeze", json={"instrument": f"NFO:{FUT}", "quantity": 200}, timeout=5)
    assert answer.status_code == 200 and answer.json()["data"]["freeze_quantity"] == 195  # 3 lots of 65
    with pytest.raises(kex.OrderException, match="Check freeze quantity"):
        place(kite, FUT, 260)
    place(kite, FUT, 195)
    requests.post(f"{server.url}/_sim/freeze", json={"instrument": f"NFO:{FUT}", "quantity": None}, timeout=5)
    place(kite, FUT, 260)


def test_freeze_limits_parse_kite_tradingsymbols():
    assert kite_rules.underlying("BANKNIFTY26DEC59000CE") == "BANKNIFTY"
    assert kite_rules.underlying("NIFTY26DECFUT") == "NIFTY"
    assert kite_rules.underlying("M&M26DECFUT") == "M&M"
    assert kite_rules.freeze_limit("NFO", "NIFTYNXT5026DECFUT") == 600  # not NIFTY's 1,800
    assert kite_rules.freeze_limit("NSE", "NIFTY") is None
    assert kite_rules.effective_freeze(1800, 65) == 1755 and kite_rules.effective_freeze(10, 65) == 65


def test_mci_sim_freeze_sets_lists_and_clears_the_fault(server, run_mci, exchange):
    env = {"MCI_SIM_URL": server.url}
    lowered = run_mci("sim", "freeze", f"NFO:{FUT}", "--quantity", "130", env=env)
    assert lowered.returncode == 0, lowered.stderr
    assert f"NFO:{FUT} 130" in lowered.stdout
    assert exchange.freeze_quantity("NFO", FUT) == 130
    shown = run_mci("sim", "freeze", "-o", "json", env=env)
    assert shown.returncode == 0 and f'"NFO:{FUT}": 130' in shown.stdout
    both = run_mci("sim", "freeze", f"NFO:{FUT}", env=env)  # neither --quantity nor --clear
    assert both.returncode == 2 and "WHAT:" in both.stderr + both.stdout
    unknown = run_mci("sim", "freeze", "NFO:NOSUCH26DECFUT", "--quantity", "65", env=env)
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    cleared = run_mci("sim", "freeze", f"NFO:{FUT}", "--clear", env=env)
    assert cleared.returncode == 0 and "none (NSE's limits)" in cleared.stdout
    assert exchange.freeze_quantity("NFO", FUT) == 1755


def test_the_contract_module_imports_first_or_second():
    import subprocess
    import sys

    for first in ("mci.brokers.sim.fno", "mci.brokers.sim.universe"):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import {first}; from mci.brokers.sim.universe import DEFAULT_UNIVERSE as U; print(len(U))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and int(done.stdout) > 60 * 3, done.stderr
