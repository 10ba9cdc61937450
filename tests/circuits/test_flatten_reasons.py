"""What the flatten says of a position it could not close: the reason and the numbers (report.unclosed).

The paper broker over the real simulated exchange; time is the flatten's own deadline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from mci.brokers import kite_rules
from mci.brokers.paper import PaperBroker
from mci.clock import Clock
from mci.errors import ExitCode
from mci.flatten import flatten
from mci.flatten.core import GIVE_UP_AFTER

FAST = 1000.0


@pytest.fixture
def paper(tmp_path):
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata")), frozen=True)
    broker = PaperBroker(tmp_path, "circuits", clock, capital=D("100000000"), seed=7)
    yield broker
    broker.close()


def _reasons(report, instrument: str) -> dict[str, dict]:
    entry = next(u for u in report.unclosed if u["instrument"] == instrument)
    return {r["kind"]: r for r in entry["reasons"]}


def test_a_partial_fill_left_at_the_deadline_is_reported_n_of_m(paper):
    paper.exchange.seed_position("NSE", "TCS", "MIS", 10, D("3000"))
    paper.exchange.set_partial(D("0.3"))
    report = flatten(paper, deadline=timedelta(seconds=0.3), rate=FAST, run_id="partial")
    assert not report.flat
    [entry] = report.unclosed
    assert (entry["instrument"], entry["quantity"], entry["start_quantity"], entry["closed"]) == ("NSE:TCS", 7, 10, 3)
    reasons = _reasons(report, "NSE:TCS")
    assert reasons["partial"]["text"] == "partially filled 3 of 10"
    assert reasons["resting"]["order_id"] == report.placed[0]
    error = report.as_error()
    assert error is not None and error.code == ExitCode.INCOMPLETE
    assert "NSE:TCS MIS +7: " in error.why and "partially filled 3 of 10" in error.why


def test_with_time_the_remainder_is_re_placed_and_nothing_over_closes(paper):
    paper.exchange.seed_position("NSE", "TCS", "MIS", 10, D("3000"))
    paper.exchange.set_partial(D("0.3"))
    report = flatten(paper, deadline=timedelta(seconds=30), rate=FAST, run_id="partial")
    assert report.flat and report.unclosed == ()
    mine = [o for o in paper.orders() if o.order_id in report.placed]
    assert sum(o.filled_quantity for o in mine) == 10 and [o.filled_quantity for o in mine][:2] == [3, 2]
    assert len({o.tag for o in mine}) == len(mine)


class RejectingExits:
    """A broker whose exits reach the exchange as LIMIT orders far beyond the circuit: the real RMS rejects them."""

    def __init__(self, inner: PaperBroker):
        self.inner = inner
        self.name = inner.name
        self.sent = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def place_order(self, request):
        self.sent += 1
        lower, upper = self.inner.exchange.circuit_limits(request.exchange, request.symbol)
        beyond = upper * 2 if request.side == "BUY" else lower / 2
        return self.inner.place_order(
            replace(request, order_type="LIMIT", price=beyond.quantize(D("0.05")), market_protection=None)
        )


def test_an_exit_rejected_by_rms_is_reported_with_kites_text_and_not_retried_forever(paper):
    paper.exchange.seed_position("NSE", "INFY", "MIS", 10, D("1500"))
    broker = RejectingExits(paper)
    report = flatten(broker, deadline=timedelta(seconds=20), rate=FAST, run_id="rms")
    assert not report.flat
    assert report.elapsed < timedelta(seconds=10)  # it stops once nothing can be done, not at the deadline
    assert broker.sent == GIVE_UP_AFTER
    reasons = _reasons(report, "NSE:INFY")
    assert reasons["rejected"]["message"] == kite_rules.CIRCUIT_EXCEEDED
    assert reasons["rejected"]["text"] == f"rejected by RMS: {kite_rules.CIRCUIT_EXCEEDED}"


def test_a_locked_circuit_is_named_with_its_price_and_the_exit_stays_in_the_queue(paper):
    paper.exchange.seed_position("NSE", "INFY", "MIS", 10, D("1500"))
    paper.exchange.seed_position("NSE", "SBIN", "MIS", -6, D("800"))
    lower = paper.exchange.lock_circuit("NSE", "INFY", "lower")
    upper = paper.exchange.lock_circuit("NSE", "SBIN", "upper")
    report = flatten(paper, deadline=timedelta(seconds=20), rate=FAST, run_id="locked")
    assert not report.flat and report.elapsed < timedelta(seconds=10)
    infy, sbin = _reasons(report, "NSE:INFY"), _reasons(report, "NSE:SBIN")
    assert infy["lower_circuit"]["text"] == f"at lower circuit ₹{lower:.2f}: no buyers"
    assert sbin["upper_circuit"]["text"] == f"at upper circuit ₹{upper:.2f}: no sellers"
    resting = {o.symbol: o for o in report.remaining_orders}
    assert set(resting) == {"INFY", "SBIN"} and resting["INFY"].price == lower and resting["SBIN"].price == upper
    assert len(report.placed) == 2 * GIVE_UP_AFTER  # re-priced, then left in the queue

    paper.exchange.lift_circuit("NSE", "INFY")
    paper.exchange.lift_circuit("NSE", "SBIN")
    rerun = flatten(paper, deadline=timedelta(seconds=20), rate=FAST, run_id="locked")
    assert rerun.flat and rerun.placed == ()  # the resting exits filled: nothing sent twice
    assert {p.symbol: p.quantity for p in paper.positions() if p.quantity} == {}
