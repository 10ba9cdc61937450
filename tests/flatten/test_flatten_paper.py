"""The flatten on the paper broker: a real simulated exchange on a real SQLite file.

Where a failure cannot be produced by the exchange itself (a lost answer, a
crash, a lagging positions read) the real PaperBroker is wrapped by a thin
fault layer that delegates every call; the exchange underneath stays real.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from mci.brokers.base import OrderRequest
from mci.brokers.sim.universe import DEFAULT_UNIVERSE, Universe
from mci.errors import ExitCode, MciError, UnavailableError
from mci.flatten import FlattenReport, Key, cancel_open_orders, flatten, parse_own_tag, square_off_tag

from testing.flatten import audit_exchange, resting_limit, resting_stop, seed_positions

FAST = 200.0  # actions per second: paper has no rate limit, keep the tests quick


class Wrapped:
    """Delegates everything to a real broker; subclasses inject one kind of fault."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Crash(BaseException):
    """Stands for the process dying (the subprocess SIGKILL test is in test_flatten_kite)."""


def lost(what: str) -> UnavailableError:
    return UnavailableError(what, "injected: the order was accepted, the answer was lost", "look the tag up")


def _book(paper):
    mixed = [
        ("RELIANCE", "MIS", 10),
        ("INFY", "MIS", 25),
        ("TCS", "CNC", 3),
        ("SBIN", "MIS", 40),
        ("ITC", "CNC", 100),
        ("HDFCBANK", "MIS", -15),
        ("WIPRO", "MIS", -60),
        ("AXISBANK", "MIS", -8),
    ]
    before = seed_positions(paper.exchange, mixed)
    resting = [
        resting_limit(paper.exchange, "RELIANCE", "BUY", 5),  # opening side
        resting_stop(paper.exchange, "INFY", "SELL", 25),  # closing side: must go before the square-off
        resting_stop(paper.exchange, "HDFCBANK", "BUY", 15),
        resting_limit(paper.exchange, "WIPRO", "SELL", 10),
        resting_limit(paper.exchange, "LT", "BUY", 2),  # no position at all
        resting_stop(paper.exchange, "TCS", "SELL", 3, "CNC"),
    ]
    return before, resting


def test_paper_five_long_three_short_and_resting_orders_end_flat_with_every_action_accounted(paper, events):
    before, resting = _book(paper)
    report = flatten(paper, deadline=timedelta(seconds=20), rate=FAST, run_id="eod-1", on_event=events)

    assert report.flat and report.final_read and report.rounds >= 1
    assert not report.remaining_positions and not report.remaining_orders and report.errors == ()
    seen = audit_exchange(paper.exchange, "eod-1", before)
    assert seen["open"] == [] and seen["positions"] == {}
    assert seen["duplicate_tags"] == {} and seen["over_closed"] == {} and seen["sides_ok"]
    assert seen["closed"] == {k: abs(q) for k, q in before.items()}
    assert seen["square_offs"] == len(before) == len(report.placed)

    # every order action is in the events, before and after, and matches the exchange
    cancelled_at_exchange = {o.order_id for o in paper.orders() if o.status == "CANCELLED"}
    assert set(report.cancelled) == cancelled_at_exchange == set(resting)
    assert {d["order_id"] for d in events.of("order.cancel.after") if d["result"] == "cancelled"} == set(resting)
    assert {d["order_id"] for d in events.of("order.cancel.before")} == set(resting)
    ours = {o.order_id for o in paper.orders() if parse_own_tag(o.tag, "eod-1", Key(o.exchange, o.symbol, o.product))}
    assert set(report.placed) == ours
    assert {d["order_id"] for d in events.of("order.place.after") if d["result"] == "placed"} == ours
    befores = {(d["tag"], d["attempt"]) for d in events.of("order.place.before")}
    afters = {(d["tag"], d["attempt"]) for d in events.of("order.place.after")}
    assert befores == afters and len(befores) == len(before)
    # every "after" follows its "before"; a closing-side stop is cancelled before its position is squared off
    for i, (kind, data) in enumerate(events.calls):
        if kind.endswith(".after"):
            ident = "order_id" if kind.startswith("order.cancel") else "tag"
            opened = kind.replace(".after", ".before")
            assert any(
                k == opened and d[ident] == data[ident] and d["attempt"] == data["attempt"] for k, d in events.calls[:i]
            )
    infy_stop = resting[1]
    t_cancel = next(
        i for i, (k, d) in enumerate(events.calls) if k == "order.cancel.after" and d["order_id"] == infy_stop
    )
    t_place = next(i for i, (k, d) in enumerate(events.calls) if k == "order.place.before" and d["symbol"] == "INFY")
    assert t_cancel < t_place
    assert not events.overlapped and all(d["run_id"] == "eod-1" for _, d in events.calls)
    assert any(name.startswith("flatten") for name in events.threads)  # called from worker threads
    json.dumps(report.as_dict())


def test_already_flat_account_does_nothing(paper, events):
    report = flatten(paper, deadline=timedelta(seconds=5), rate=FAST, run_id="noop", on_event=events)
    assert report.flat and report.rounds == 0 and report.placed == () and report.cancelled == ()
    assert events.calls == [] and report.as_error() is None


def test_products_filter_squares_off_mis_only_and_keeps_cnc(paper):
    before = seed_positions(
        paper.exchange, [("INFY", "MIS", 10), ("INFY", "CNC", 7), ("SBIN", "CNC", 20), ("ITC", "MIS", -30)]
    )
    mis_order = resting_limit(paper.exchange, "ITC", "SELL", 5, "MIS")
    cnc_order = resting_stop(paper.exchange, "SBIN", "SELL", 20, "CNC")
    report = flatten(paper, deadline=timedelta(seconds=10), rate=FAST, run_id="eod-mis", products={"MIS"})
    assert report.flat
    positions = {Key(p.exchange, p.symbol, p.product): p.quantity for p in paper.positions() if p.quantity}
    assert positions == {Key("NSE", "INFY", "CNC"): 7, Key("NSE", "SBIN", "CNC"): 20}
    status = {o.order_id: o.status for o in paper.orders()}
    assert status[mis_order] == "CANCELLED" and status[cnc_order] == "TRIGGER PENDING"
    assert report.cancelled == (mis_order,)
    assert all(p.product == "MIS" for p in report.remaining_positions)
    seen = audit_exchange(paper.exchange, "eod-mis", before)
    assert seen["closed"] == {Key("NSE", "INFY", "MIS"): 10, Key("NSE", "ITC", "MIS"): 30}


def test_an_instrument_that_cannot_be_closed_is_reported_and_the_deadline_holds(paper):
    before = seed_positions(paper.exchange, [("INFY", "MIS", 10), ("SBIN", "MIS", -5), ("ADANIENT", "MIS", 4)])
    # ADANIENT is suspended: the exchange refuses every order in it from now on
    paper.exchange.universe = Universe(i for i in DEFAULT_UNIVERSE if i.symbol != "ADANIENT")
    deadline = timedelta(seconds=1.5)
    start = time.monotonic()
    report = flatten(paper, deadline=deadline, rate=FAST, run_id="stuck")
    took = time.monotonic() - start
    assert not report.flat and report.final_read
    assert [(p.symbol, p.quantity) for p in report.remaining_positions] == [("ADANIENT", 4)]
    assert report.rounds >= 2  # it kept trying, with a fresh tag each round
    assert any("ADANIENT" in e for e in report.errors)
    assert deadline.total_seconds() - 0.1 <= took <= deadline.total_seconds() + 0.5
    seen = audit_exchange(paper.exchange, "stuck", before)
    assert seen["closed"] == {Key("NSE", "INFY", "MIS"): 10, Key("NSE", "SBIN", "MIS"): 5}
    err = report.as_error()
    assert err is not None and err.code == ExitCode.INCOMPLETE and "ADANIENT" in err.why and "stuck" in err.how
    assert report.as_dict()["remaining_positions"][0]["average_price"].count(".") == 1  # Decimal as text


def test_a_refused_order_is_retried_next_round_with_a_new_tag(paper):
    seed_positions(paper.exchange, [("INFY", "MIS", 10)])
    listed = paper.exchange.universe
    paper.exchange.universe = Universe(i for i in DEFAULT_UNIVERSE if i.symbol != "INFY")
    calls = []

    class Relisting(Wrapped):
        def place_order(self, request):
            calls.append(request.tag)
            if len(calls) == 2:
                paper.exchange.universe = listed  # trading resumes
            return self.inner.place_order(request)

    report = flatten(Relisting(paper), deadline=timedelta(seconds=10), rate=FAST, run_id="relist")
    assert report.flat and len(set(calls)) == len(calls) >= 2
    rounds = [parse_own_tag(t, "relist", Key("NSE", "INFY", "MIS")).round_no for t in calls]
    assert rounds == sorted(rounds) and len(set(rounds)) == len(rounds)


def test_a_lost_answer_is_resolved_by_the_tag_not_by_sending_again(paper, events):
    before = seed_positions(paper.exchange, [("INFY", "MIS", 10), ("SBIN", "MIS", -5), ("TCS", "MIS", 2)])

    class Lossy(Wrapped):
        def place_order(self, request):
            self.inner.place_order(request)  # the exchange has it...
            raise lost(f"placing {request.symbol} failed")  # ...the caller never hears

    report = flatten(Lossy(paper), deadline=timedelta(seconds=10), rate=FAST, run_id="lossy", on_event=events)
    assert report.flat
    seen = audit_exchange(paper.exchange, "lossy", before)
    assert seen["duplicate_tags"] == {} and seen["over_closed"] == {} and seen["square_offs"] == 3
    assert {d["result"] for d in events.of("order.place.lookup")} == {"found"}
    assert len(report.placed) == 3 and len(report.errors) == 3  # the failures are reported, not hidden


def test_a_lost_answer_with_an_unreadable_book_is_left_to_the_next_read(paper, events):
    before = seed_positions(paper.exchange, [("INFY", "MIS", 10), ("SBIN", "MIS", -5)])
    state = {"lost": 0, "blind": 0}

    class LossyBlind(Wrapped):
        def place_order(self, request):
            order_id = self.inner.place_order(request)
            if state["lost"] < 2:
                state["lost"] += 1
                state["blind"] = 1  # the next book read fails too
                raise lost("placing failed")
            return order_id

        def orders(self):
            if state["blind"]:
                state["blind"] -= 1
                raise UnavailableError("reading the order book failed", "injected", "retry")
            return self.inner.orders()

    report = flatten(LossyBlind(paper), deadline=timedelta(seconds=10), rate=FAST, run_id="blind", on_event=events)
    assert report.flat
    seen = audit_exchange(paper.exchange, "blind", before)
    assert seen["duplicate_tags"] == {} and seen["over_closed"] == {} and seen["square_offs"] == 2
    assert "failed" in {d["result"] for d in events.of("order.place.lookup")}


def test_a_crashed_run_is_resumed_without_duplicates(paper, events):
    symbols = ["RELIANCE", "INFY", "TCS", "SBIN", "ITC", "LT", "WIPRO", "NTPC"]
    before = seed_positions(paper.exchange, [(s, "MIS", (i + 1) * (-1) ** i) for i, s in enumerate(symbols)])
    resting_limit(paper.exchange, "INFY", "BUY", 3)
    placed = []

    class Dying(Wrapped):
        def place_order(self, request):
            if len(placed) == 3:
                self.inner.place_order(request)  # this one lands, then the process dies
                raise Crash()
            placed.append(self.inner.place_order(request))
            return placed[-1]

    with pytest.raises(Crash):
        flatten(Dying(paper), deadline=timedelta(seconds=10), rate=FAST, run_id="crash", workers=1)
    dead_run = audit_exchange(paper.exchange, "crash", before)["square_offs"]
    assert 4 <= dead_run < len(symbols)  # it died mid-square-off, and stopped sending
    report = flatten(paper, deadline=timedelta(seconds=10), rate=FAST, run_id="crash", on_event=events)
    assert report.flat
    seen = audit_exchange(paper.exchange, "crash", before)
    assert seen["duplicate_tags"] == {} and seen["over_closed"] == {}
    assert seen["closed"] == {k: abs(q) for k, q in before.items()}
    assert len(report.placed) == len(symbols) - dead_run  # the dead run's orders were seen, not replayed
    assert min(d["round"] for d in events.of("order.place.before")) >= 2  # no tag of the dead run reused


def test_an_open_square_off_of_this_run_is_not_doubled(paper, events):
    seed_positions(paper.exchange, [("INFY", "MIS", 10), ("SBIN", "MIS", 8)])
    # the dead run left square-offs resting (as a MARKET order can rest in a locked market):
    infy = square_off_tag("resume", 1, Key("NSE", "INFY", "MIS"))
    sbin = square_off_tag("resume", 1, Key("NSE", "SBIN", "MIS"))
    resting_limit(paper.exchange, "INFY", "SELL", 10, tag=infy)  # covers all of INFY
    resting_limit(paper.exchange, "SBIN", "SELL", 3, tag=sbin)  # covers 3 of 8
    report = flatten(paper, deadline=timedelta(seconds=1), rate=FAST, run_id="resume", on_event=events)
    assert not report.flat
    assert {(o.symbol, o.tag) for o in report.remaining_orders} == {("INFY", infy), ("SBIN", sbin)}
    new = [(d["symbol"], d["quantity"], d["round"]) for d in events.of("order.place.before")]
    assert new == [("SBIN", 5, 2)]  # only the uncovered rest, in a round the dead run never used
    assert events.of("order.cancel.before") == []  # our own square-offs are kept
    positions = {p.symbol: p.quantity for p in paper.positions() if p.quantity}
    assert positions == {"INFY": 10, "SBIN": 3}


def test_a_square_off_that_would_now_over_close_is_taken_back(paper):
    seed_positions(paper.exchange, [("INFY", "MIS", 10), ("INFY", "MIS", -10)])  # flat again
    stale = resting_limit(paper.exchange, "INFY", "SELL", 10, tag=square_off_tag("over", 1, Key("NSE", "INFY", "MIS")))
    report = flatten(paper, deadline=timedelta(seconds=5), rate=FAST, run_id="over")
    assert report.flat and report.cancelled == (stale,) and report.placed == ()


def test_positions_that_lag_behind_fills_are_not_closed_twice(paper, events):
    before = seed_positions(paper.exchange, [("INFY", "MIS", 10), ("SBIN", "MIS", -4)])
    state = {"stale": None, "lag": 0}

    class Lagging(Wrapped):
        def place_order(self, request):
            state["lag"] = 2  # the next two positions reads still show the old book
            return self.inner.place_order(request)

        def positions(self):
            if state["lag"] and state["stale"] is not None:
                state["lag"] -= 1
                return state["stale"]
            state["stale"] = self.inner.positions()
            return state["stale"]

    report = flatten(Lagging(paper), deadline=timedelta(seconds=10), rate=FAST, run_id="lag", on_event=events)
    assert report.flat
    seen = audit_exchange(paper.exchange, "lag", before)
    assert seen["over_closed"] == {} and seen["square_offs"] == 2
    assert events.of("flatten.wait")


def test_freeze_quantity_slices_a_large_close_into_tagged_orders(paper):
    before = seed_positions(paper.exchange, [("WIPRO", "MIS", 25), ("ITC", "MIS", -10)])
    report = flatten(paper, deadline=timedelta(seconds=5), rate=FAST, run_id="freeze", freeze_quantity=10)
    assert report.flat
    wipro = sorted(o.quantity for o in paper.orders() if o.symbol == "WIPRO" and o.tag != "seed")
    assert wipro == [5, 10, 10] and len(report.placed) == 4
    assert audit_exchange(paper.exchange, "freeze", before)["duplicate_tags"] == {}


def test_a_failing_event_sink_is_recorded_and_does_not_stop_the_close(paper):
    seed_positions(paper.exchange, [("INFY", "MIS", 10)])

    def sink(kind, data):
        raise OSError("audit disk full")

    report = flatten(paper, deadline=timedelta(seconds=5), rate=FAST, run_id="sink", on_event=sink)
    assert report.flat and any("event sink failed" in e for e in report.errors)


def test_cancel_open_orders_cancels_everything_and_leaves_positions(paper, events):
    seed_positions(paper.exchange, [("INFY", "MIS", 10)])
    ids = [
        resting_limit(paper.exchange, "INFY", "BUY", 1),
        resting_stop(paper.exchange, "INFY", "SELL", 10),
        resting_limit(paper.exchange, "SBIN", "SELL", 2, "MIS", tag=square_off_tag("c", 1, Key("NSE", "SBIN", "MIS"))),
    ]
    report = cancel_open_orders(paper, rate=FAST, deadline=time.monotonic() + 5, run_id="c", on_event=events)
    assert report.flat and report.scope == "cancel" and set(report.cancelled) == set(ids)
    assert report.placed == () and report.remaining_positions == ()
    assert [p.quantity for p in paper.positions()] == [10]
    assert len(events.of("order.cancel.before")) == len(events.of("order.cancel.after")) == 3
    again = cancel_open_orders(paper, rate=FAST, deadline=timedelta(seconds=5), run_id="c")
    assert again.flat and again.rounds == 0


def test_an_order_that_fills_before_its_cancel_is_not_an_error(paper):
    seed_positions(paper.exchange, [("INFY", "MIS", 10)])
    rid = resting_limit(paper.exchange, "INFY", "BUY", 2)

    class FillsFirst(Wrapped):
        def cancel_order(self, order_id):
            paper.exchange.set_price("NSE", "INFY", paper.exchange.orders()[-1].price)  # the limit is touched
            return self.inner.cancel_order(order_id)

    report = flatten(FillsFirst(paper), deadline=timedelta(seconds=5), rate=FAST, run_id="race")
    assert report.flat and report.cancelled == () and report.errors == ()
    assert [o.status for o in paper.orders() if o.order_id == rid] == ["COMPLETE"]
    assert audit_exchange(paper.exchange, "race", {Key("NSE", "INFY", "MIS"): 12})["closed"] == {
        Key("NSE", "INFY", "MIS"): 12
    }


def test_an_account_that_cannot_be_read_raises_unavailable(paper):
    seed_positions(paper.exchange, [("INFY", "MIS", 10)])

    class Down(Wrapped):
        def orders(self):
            raise UnavailableError("reading the order book failed", "connection refused", "check the network")

    start = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        flatten(Down(paper), deadline=timedelta(seconds=0.5), rate=FAST, run_id="down")
    assert time.monotonic() - start < 1.5
    assert info.value.code == ExitCode.UNAVAILABLE and "nothing was done" in info.value.what
    assert [p.quantity for p in paper.positions()] == [10]


def test_a_refused_session_raises_at_once(paper):
    class Expired(Wrapped):
        def orders(self):
            raise MciError(
                "Kite refused the access token while reading the order book",
                "TokenException",
                "run `mci token login`",
                ExitCode.FAILED,
            )

    start = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        flatten(Expired(paper), deadline=timedelta(seconds=30), rate=FAST, run_id="token")
    assert time.monotonic() - start < 1 and "mci token login" in info.value.how


def test_a_broker_that_fails_after_the_first_read_yields_a_report_not_an_exception(paper):
    seed_positions(paper.exchange, [("INFY", "MIS", 10)])
    reads = {"n": 0}

    class Dies(Wrapped):
        def orders(self):
            reads["n"] += 1
            if reads["n"] > 1:
                raise UnavailableError("reading the order book failed", "connection refused", "check the network")
            return self.inner.orders()

        def place_order(self, request):
            raise UnavailableError("placing failed", "connection refused", "check the network")

    report = flatten(Dies(paper), deadline=timedelta(seconds=1), rate=FAST, run_id="dies")
    assert isinstance(report, FlattenReport) and not report.flat and not report.final_read
    assert report.remaining_positions and report.errors
    assert [p.quantity for p in paper.positions()] == [10]


def test_run_id_is_required(paper):
    with pytest.raises(ValueError):
        flatten(paper, deadline=timedelta(seconds=1), run_id="")


def test_square_off_requests_are_market_orders_of_the_opposite_side(paper, events):
    seed_positions(paper.exchange, [("INFY", "CNC", 4), ("SBIN", "MIS", -6)])
    flatten(paper, deadline=timedelta(seconds=5), rate=FAST, run_id="sides", on_event=events)
    got = sorted(
        (d["symbol"], d["side"], d["quantity"], d["order_type"], d["product"]) for d in events.of("order.place.before")
    )
    assert got == [("INFY", "SELL", 4, "MARKET", "CNC"), ("SBIN", "BUY", 6, "MARKET", "MIS")]
    assert all(len(d["tag"]) == 20 and d["tag"].isalnum() for d in events.of("order.place.before"))


def test_orders_request_is_plain_order_request():
    # the flatten sends what every broker accepts: nothing beyond OrderRequest
    r = OrderRequest("NSE", "INFY", "SELL", 1, "MARKET", "MIS", tag=square_off_tag("x", 1, Key("NSE", "INFY", "MIS")))
    assert r.price is None and r.trigger_price is None
