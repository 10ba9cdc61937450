from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from mci.brokers.base import OrderRequest
from mci.brokers.sim.exchange import (
    SCHEMA_VERSION,
    Exchange,
    OrderInputError,
    OrderRejectedError,
    OrderStateError,
    UnknownOrderError,
    market_minute,
    path_price,
    session_expiry,
)
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.clock import Clock

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


class SettableClock(Clock):
    """A frozen clock a test can move (the exchange reads it at every operation)."""

    def __init__(self, start: datetime):
        super().__init__(start, frozen=True)

    def set(self, at: datetime) -> None:
        self._start = at

    def advance(self, **kw: float) -> None:
        self._start = self._start + timedelta(**kw)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(T0)


@pytest.fixture
def ex(tmp_path, clock) -> Exchange:
    e = Exchange(tmp_path / "paper.db", clock, seed=7, capital=D("1000000"), slippage=D("0.001"))
    yield e
    e.close()


def buy(qty: int = 10, symbol: str = "INFY", **kw) -> OrderRequest:
    kw.setdefault("market_protection", D(-1))  # Kite's 2026 rule: MARKET/SL-M orders carry it
    return OrderRequest("NSE", symbol, "BUY", qty, **kw)


def sell(qty: int = 10, symbol: str = "INFY", **kw) -> OrderRequest:
    kw.setdefault("market_protection", D(-1))
    return OrderRequest("NSE", symbol, "SELL", qty, **kw)


# ---------------------------------------------------------------- universe and prices


def test_universe_has_fifty_liquid_names_with_consistent_tokens():
    assert len(DEFAULT_UNIVERSE) >= 50
    for name in ("RELIANCE", "INFY", "TCS", "HDFCBANK", "SBIN", "NESTLEIND", "ULTRACEMCO"):
        assert DEFAULT_UNIVERSE.get("NSE", name) is not None
    assert DEFAULT_UNIVERSE.get("NSE", "INFY").token == 408065  # kite-mocks/ltp.json
    assert DEFAULT_UNIVERSE.get("NSE", "ADANIPORTS").token == 3861249  # kite-mocks/instruments_nse.csv
    for inst in DEFAULT_UNIVERSE:
        segment_id = 2 if inst.exchange == "NFO" else 1  # Kite tokens end in the segment id: NSE 1, NFO 2
        assert inst.token == inst.exchange_token * 256 + segment_id
        assert inst.tick_size == D("0.05") and (inst.lot_size == 1 or inst.exchange == "NFO")


def test_price_is_deterministic_in_seed_and_time():
    inst = DEFAULT_UNIVERSE.get("NSE", "RELIANCE")
    m = market_minute(T0)
    assert path_price(1, inst, m) == path_price(1, inst, m)
    assert isinstance(path_price(1, inst, m), D)
    seeds = {path_price(s, inst, m) for s in range(1, 6)}
    assert len(seeds) > 1
    # On the tick and within a few percent of the base price.
    for minute in range(m, m + 200):
        p = path_price(3, inst, minute)
        assert p % inst.tick_size == 0
        assert abs(p / inst.base_price - 1) < D("0.06")


def test_same_seed_and_time_same_price_across_exchanges(tmp_path, clock):
    a = Exchange(tmp_path / "a.db", clock, seed=42, capital=D(1))
    b = Exchange(tmp_path / "b.db", clock, seed=42, capital=D(1))
    c = Exchange(tmp_path / "c.db", clock, seed=43, capital=D(1))
    keys = [i.key for i in DEFAULT_UNIVERSE]
    assert a.ltp(keys) == b.ltp(keys)
    assert a.ltp(keys) != c.ltp(keys)


def test_price_stands_still_outside_the_session():
    close = market_minute(datetime(2026, 11, 23, 15, 30, tzinfo=IST))
    assert market_minute(datetime(2026, 11, 23, 20, 0, tzinfo=IST)) == close
    assert market_minute(datetime(2026, 11, 24, 8, 0, tzinfo=IST)) == close
    assert market_minute(datetime(2026, 11, 24, 9, 15, tzinfo=IST)) != close


def test_ltp_omits_unknown_instruments(ex):
    prices = ex.ltp(["NSE:INFY", "NSE:NOSUCH", "garbage"])
    assert list(prices) == ["NSE:INFY"]


def test_price_overrides_persist_and_compose(ex, tmp_path, clock):
    ex.set_price("NSE", "INFY", D("1500"))
    assert ex.ltp(["NSE:INFY"])["NSE:INFY"] == D("1500.00")
    ex.move_price("NSE", "INFY", D("-2"))
    assert ex.ltp(["NSE:INFY"])["NSE:INFY"] == D("1470.00")
    other = Exchange(tmp_path / "paper.db", clock, seed=7, capital=D("1000000"))
    assert other.ltp(["NSE:INFY"])["NSE:INFY"] == D("1470.00")
    ex.clear_price("NSE", "INFY")
    assert other.ltp(["NSE:INFY"])["NSE:INFY"] != D("1470.00")


def test_quote_ohlc_brackets_the_last_price(ex, clock):
    clock.set(datetime(2026, 11, 23, 13, 0, tzinfo=IST))
    q = ex.quote(["NSE:RELIANCE"])["NSE:RELIANCE"]
    assert q.low <= q.open <= q.high and q.low <= q.last_price <= q.high
    assert q.net_change == q.last_price - q.close
    assert q.instrument_token == 738561


# ---------------------------------------------------------------- orders


def test_market_buy_fills_at_ltp_plus_slippage_and_updates_funds_and_position(ex):
    ex.set_price("NSE", "INFY", D("1000"))
    order_id = ex.place_order(buy(10, tag="t1"))
    order = ex.order(order_id)
    assert order.status == "COMPLETE" and order.filled_quantity == 10
    assert order.average_price == D("1001.00")  # 1000 × 1.001, rounded up to the tick
    [pos] = ex.positions()
    assert (pos.symbol, pos.product, pos.quantity) == ("INFY", "MIS", 10)
    assert pos.average_price == D("1001")
    assert pos.last_price == D("1000")
    assert pos.unrealised == D("-10")
    f = ex.funds()
    assert f.position_margin == D("2002")  # 20% of 10 × 1001 for MIS
    assert f.used == D("2012")  # margin + unrealised loss
    assert f.available == D("1000000") - D("2012")
    [trade] = ex.order_trades(order_id)
    assert (trade.quantity, trade.price, trade.side) == (10, D("1001.00"), "BUY")
    statuses = [e.status for e in ex.order_history(order_id)]
    assert statuses == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "COMPLETE"]


def test_sell_receives_less_and_cnc_uses_full_notional(ex):
    ex.set_slippage(D("0.001"))
    ex.set_price("NSE", "SBIN", D("900"))
    ex.place_order(buy(100, "SBIN", product="CNC"))
    f = ex.funds()
    assert f.position_margin == D("90090.00")  # 100 × 900.90 at 100%
    oid = ex.place_order(sell(100, "SBIN", product="CNC"))
    assert ex.order(oid).average_price == D("899.10")  # 900 × 0.999
    [pos] = ex.positions()
    assert pos.quantity == 0 and pos.realised == D("-180.00")  # 100 × (899.10 - 900.90)
    assert ex.funds().available == D("1000000") - D("180")


def test_round_trip_realises_exact_pnl(ex):
    ex.set_slippage(D(0))
    ex.set_price("NSE", "TCS", D("3000"))
    ex.place_order(buy(7, "TCS"))
    ex.place_order(buy(3, "TCS"))
    ex.set_price("NSE", "TCS", D("3100.05"))
    ex.place_order(sell(4, "TCS"))
    ex.place_order(sell(6, "TCS"))
    [pos] = ex.positions()
    assert pos.quantity == 0
    assert pos.realised == D("1000.50")  # 10 × 100.05, exactly
    assert pos.unrealised == 0
    assert pos.buy_value == D("30000") and pos.sell_value == D("31000.50")
    assert ex.funds().available == D("1001000.50")


def test_short_then_flip_long(ex):
    ex.set_slippage(D(0))
    ex.set_price("NSE", "ITC", D("400"))
    ex.place_order(sell(10, "ITC"))
    ex.set_price("NSE", "ITC", D("390"))
    ex.place_order(buy(15, "ITC"))
    [pos] = ex.positions()
    assert pos.quantity == 5 and pos.average_price == D("390")
    assert pos.realised == D("100")


def test_limit_buy_rests_then_fills_when_price_moves_through(ex):
    ex.set_price("NSE", "INFY", D("1000"))
    oid = ex.place_order(buy(5, order_type="LIMIT", price=D("990")))
    assert ex.order(oid).status == "OPEN"
    assert ex.funds().order_margin == D("990")  # 20% of 5 × 990
    ex.set_price("NSE", "INFY", D("995"))
    assert ex.order(oid).status == "OPEN"
    ex.set_price("NSE", "INFY", D("985.5"))
    order = ex.order(oid)
    assert order.status == "COMPLETE"
    assert order.average_price == D("990")  # a resting order fills at its own price
    assert ex.funds().order_margin == 0


def test_marketable_limit_fills_at_once_no_worse_than_limit(ex):
    ex.set_price("NSE", "INFY", D("1000"))
    oid = ex.place_order(buy(1, order_type="LIMIT", price=D("1000.50")))
    assert ex.order(oid).status == "COMPLETE"
    assert ex.order(oid).average_price == D("1000.50")  # capped by the limit (slipped would be 1001.00)


def test_limit_sell_rests_then_fills(ex):
    ex.seed_position("NSE", "INFY", "CNC", 10, D("900"))
    ex.set_price("NSE", "INFY", D("1000"))
    oid = ex.place_order(sell(10, order_type="LIMIT", price=D("1010"), product="CNC"))
    assert ex.order(oid).status == "OPEN"
    ex.move_price("NSE", "INFY", D("2"))
    assert ex.order(oid).status == "COMPLETE"
    assert ex.positions()[0].realised == D("1100")


def test_stop_loss_market_triggers_when_touched(ex):
    ex.set_slippage(D(0))
    ex.set_price("NSE", "SBIN", D("900"))
    ex.place_order(buy(10, "SBIN"))
    stop = ex.place_order(sell(10, "SBIN", order_type="SL-M", trigger_price=D("880")))
    assert ex.order(stop).status == "TRIGGER PENDING"
    assert ex.funds().order_margin == 0  # an exit blocks no margin
    ex.set_price("NSE", "SBIN", D("879"))
    o = ex.order(stop)
    assert o.status == "COMPLETE" and o.average_price == D("879")
    statuses = [e.status for e in ex.order_history(stop)]
    assert statuses[-3:] == ["TRIGGER PENDING", "OPEN", "COMPLETE"]


def test_stop_limit_triggers_then_rests_as_limit(ex):
    ex.set_slippage(D(0))
    ex.set_price("NSE", "SBIN", D("900"))
    oid = ex.place_order(buy(1, "SBIN", order_type="SL", trigger_price=D("910"), price=D("912")))
    ex.set_price("NSE", "SBIN", D("915"))  # triggered, but above the limit
    assert ex.order(oid).status == "OPEN"
    ex.set_price("NSE", "SBIN", D("911"))
    assert ex.order(oid).status == "COMPLETE"


def test_stop_that_would_trigger_at_once_is_rejected_in_the_book(ex):
    # Kite's RMS: the request is accepted, the order turns REJECTED with the trigger and the LTP in its message.
    ex.set_price("NSE", "SBIN", D("900"))
    with pytest.raises(OrderRejectedError) as err:
        ex.place_order(sell(1, "SBIN", order_type="SL-M", trigger_price=D("905")))
    order = ex.order(err.value.details["order_id"])
    assert order.status == "REJECTED"
    assert (
        order.status_message == "RMS:Rule: Check trigger price vs ltp for sl-m orders; trigger price: 905, ltp 900.00"
    )


def test_cancel_releases_margin_and_cannot_cancel_twice(ex):
    ex.set_price("NSE", "INFY", D("1000"))
    oid = ex.place_order(buy(10, order_type="LIMIT", price=D("950")))
    assert ex.funds().order_margin > 0
    ex.cancel_order(oid)
    o = ex.order(oid)
    assert o.status == "CANCELLED" and o.pending_quantity == 0
    assert ex.funds().order_margin == 0
    ex.set_price("NSE", "INFY", D("900"))
    assert ex.order(oid).status == "CANCELLED"  # a cancelled order never fills
    with pytest.raises(OrderStateError):
        ex.cancel_order(oid)
    with pytest.raises(UnknownOrderError):
        ex.cancel_order("999")


def test_modify_changes_price_and_can_fill(ex):
    ex.set_price("NSE", "INFY", D("1000"))
    oid = ex.place_order(buy(10, order_type="LIMIT", price=D("950")))
    ex.modify_order(oid, quantity=4, price=D("960"))
    o = ex.order(oid)
    assert (o.quantity, o.price, o.status) == (4, D("960"), "OPEN")
    ex.modify_order(oid, price=D("1005"))  # now marketable
    assert ex.order(oid).status == "COMPLETE"
    assert "MODIFY PENDING" in [e.status for e in ex.order_history(oid)]
    with pytest.raises(OrderStateError):
        ex.modify_order(oid, price=D("990"))


@pytest.mark.parametrize(
    "request_",
    [
        OrderRequest("NSE", "NOSUCH", "BUY", 1),
        OrderRequest("NSE", "INFY", "HOLD", 1),
        OrderRequest("NSE", "INFY", "BUY", 0),
        OrderRequest("NSE", "INFY", "BUY", -3),
        OrderRequest("NSE", "INFY", "BUY", 1, order_type="ICEBERG"),
        OrderRequest("NSE", "INFY", "BUY", 1, product="NRML"),
        OrderRequest("NSE", "INFY", "BUY", 1, order_type="LIMIT"),
        OrderRequest("NSE", "INFY", "BUY", 1, order_type="LIMIT", price=D("1000.03")),
        OrderRequest("NSE", "INFY", "BUY", 1, order_type="LIMIT", price=1000.5),  # type: ignore[arg-type]
        OrderRequest("NSE", "INFY", "BUY", 1, order_type="SL-M"),
        OrderRequest("NSE", "INFY", "BUY", 1, tag="x" * 21),
    ],
)
def test_invalid_orders_are_refused_and_not_recorded(ex, request_):
    with pytest.raises(OrderInputError) as err:
        ex.place_order(request_)
    assert err.value.what and err.value.why and err.value.how
    assert ex.orders() == []


def test_insufficient_funds_records_a_rejected_order(ex):
    ex.set_cash(D("10000"))
    ex.set_price("NSE", "MARUTI", D("16000"))
    with pytest.raises(OrderRejectedError) as err:
        ex.place_order(buy(5, "MARUTI", product="CNC"))
    order_id = err.value.details["order_id"]
    o = ex.order(order_id)
    assert o.status == "REJECTED" and "Insufficient funds" in (o.status_message or "")
    assert [e.status for e in ex.order_history(order_id)][-1] == "REJECTED"
    assert ex.positions() == [] and ex.funds().available == D("10000")


def test_cnc_cannot_sell_more_than_held(ex):
    ex.seed_position("NSE", "ITC", "CNC", 5, D("400"))
    with pytest.raises(OrderRejectedError):
        ex.place_order(sell(6, "ITC", product="CNC"))


def test_orders_by_tag(ex):
    ex.set_price("NSE", "INFY", D("1000"))
    first = ex.place_order(buy(1, tag="mciabc"))
    ex.place_order(buy(1, tag="other"))
    second = ex.place_order(buy(1, order_type="LIMIT", price=D("900"), tag="mciabc"))
    assert [o.order_id for o in ex.orders_by_tag("mciabc")] == [first, second]
    assert ex.orders_by_tag("missing") == []


# ---------------------------------------------------------------- persistence and concurrency


def test_two_exchanges_on_one_file_share_the_book(tmp_path, clock):
    a = Exchange(tmp_path / "shared.db", clock, seed=5, capital=D("500000"))
    b = Exchange(tmp_path / "shared.db", clock, seed=99, capital=D("1"))  # the file's account wins
    assert b.seed == 5 and b.funds().opening == D("500000")
    a.set_price("NSE", "INFY", D("1000"))
    oid = a.place_order(buy(3, order_type="LIMIT", price=D("990")))
    assert [o.order_id for o in b.orders()] == [oid]
    b.set_price("NSE", "INFY", D("980"))
    assert a.order(oid).status == "COMPLETE"
    assert b.positions()[0].quantity == 3
    a.close()
    b.close()


def test_schema_is_versioned_and_wal(tmp_path, clock):
    Exchange(tmp_path / "v.db", clock, seed=1, capital=D(1)).close()
    conn = sqlite3.connect(tmp_path / "v.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_threads_place_orders_without_losing_any(ex):
    ex.set_price("NSE", "INFY", D("1000"))

    def place() -> None:
        for _ in range(10):
            ex.place_order(buy(1))

    threads = [threading.Thread(target=place) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ex.orders()) == 40
    assert len({o.order_id for o in ex.orders()}) == 40
    assert ex.positions()[0].quantity == 40


# ---------------------------------------------------------------- sessions


def test_session_expires_at_the_next_0600_ist(ex, clock):
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=IST))
    token, issued, expires = ex.issue_session("PAPER1")
    assert expires == datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    clock.set(datetime(2026, 11, 24, 5, 59, 59, tzinfo=IST))
    assert ex.session_for(token).valid
    clock.set(datetime(2026, 11, 24, 6, 0, 0, tzinfo=IST))
    record = ex.session_for(token)
    assert not record.valid and "expired" in record.reason


def test_session_issued_before_six_expires_the_same_morning():
    assert session_expiry(datetime(2026, 11, 23, 5, 0, tzinfo=IST)) == datetime(2026, 11, 23, 6, 0, tzinfo=IST)
    assert session_expiry(datetime(2026, 11, 23, 6, 0, tzinfo=IST)) == datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    # Issued from another zone: still IST's 06:00.
    utc_evening = datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("UTC"))  # 01:30 IST on the 24th
    assert session_expiry(utc_evening) == datetime(2026, 11, 24, 6, 0, tzinfo=IST)


def test_invalidate_and_unknown_tokens(ex, tmp_path):
    token, _, _ = ex.issue_session("PAPER1")
    assert ex.session_for("not-a-token") is None
    assert ex.invalidate(token)
    assert not ex.session_for(token).valid
    # The token itself is never stored.
    raw = (tmp_path / "paper.db").read_bytes() + (tmp_path / "paper.db-wal").read_bytes()
    assert token.encode() not in raw


def test_a_schema_1_account_is_migrated_to_kites_2026_columns(tmp_path, clock):
    import sqlite3

    from mci.brokers.sim import exchange as module

    v1 = module._SCHEMA.replace(",\n    market_protection TEXT NOT NULL DEFAULT '0'", "").replace(
        "CREATE TABLE mis_blocked (instrument TEXT PRIMARY KEY, set_at TEXT NOT NULL);\n", ""
    )
    assert "market_protection" not in v1 and "mis_blocked" not in v1
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.executescript(v1 + "PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO account (id, seed, opening_cash, slippage, created_at) VALUES (1, 7, '1000000', '0', 'x')"
    )
    conn.commit()
    conn.close()
    ex = Exchange(tmp_path / "old.db", clock, seed=7, capital=D("1000000"))
    try:
        oid = ex.place_order(buy(1, market_protection=D("2.5")))
        assert ex.order(oid).market_protection == D("2.5")
        ex.set_mis_blocked("NSE", "SBIN", True)
        assert ex.mis_blocked() == ["NSE:SBIN"]
    finally:
        ex.close()
