"""The drill's arithmetic and its clock, without processes: the forced breach and the rehearsal instant."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from testing.drill import KITE_SIM, PAPER

from mci.drill.breach import CANDIDATES, NoRoom, plan_breach
from mci.drill.prepare import rehearsal_instant
from mci.errors import UsageError

IST = ZoneInfo("Asia/Kolkata")
PRICES = {
    f"NSE:{s}": D(p)
    for s, p in zip(CANDIDATES, ("1420", "3120", "985", "1390", "905", "3920", "1215", "2105", "412", "248"))
}


def plan(**over):
    args = dict(
        capital=D("1000000"),
        max_daily_loss=D("0.06"),
        max_position_loss=D("0.05"),
        max_open_positions=5,
        open_instruments={"NSE:INFY"},
        day_pnl=D("-12.5"),
        prices=PRICES,
    )
    args.update(over)
    return plan_breach(**args)


def test_the_breach_crosses_the_day_loss_without_any_single_position_limit():
    p = plan()
    assert p.limit == D("60000")
    assert p.loss > p.limit * D("1.2")
    assert all(leg.loss < D("50000") for leg in p.legs)  # it is the day's loss that trips, not one position
    assert len(p.legs) + 1 <= 5  # the engine's INFY and the seeded legs fit max_open_positions
    assert all(leg.instrument != "NSE:INFY" and leg.moved < leg.entry for leg in p.legs)
    assert all(isinstance(leg.moved, D) and leg.moved % D("0.05") == 0 for leg in p.legs)


def test_a_profit_so_far_is_lost_too_and_tight_position_limits_spread_the_book():
    assert plan(day_pnl=D("30000")).loss > D("90000")
    wide = plan(max_position_loss=D("0.01"))
    assert len(wide.legs) == 4  # as many as the open-position limit allows; the position rule may trip too


def test_no_free_slot_is_said_not_guessed():
    with pytest.raises(NoRoom):
        plan(max_open_positions=1)


def _profile(path):
    from mci.config import load_profile

    return load_profile(path, env={"KITE_API_KEY": "k", "KITE_API_SECRET": "s"})


@pytest.mark.parametrize(
    "now, expected",
    [
        ("2026-11-25T09:00", "2026-11-25T10:00"),  # a trading morning: today
        ("2026-11-25T11:00", "2026-11-26T10:00"),  # later that day: the next one
        ("2026-11-27T18:00", "2026-11-30T10:00"),  # a Friday evening: Monday
    ],
)
def test_the_rehearsal_runs_on_the_next_trading_day_at_ten(now, expected):
    at = rehearsal_instant(_profile(PAPER), None, datetime.fromisoformat(now).replace(tzinfo=IST))
    assert at == datetime.fromisoformat(expected).replace(tzinfo=IST)


def test_at_must_leave_room_before_the_square_off():
    profile = _profile(KITE_SIM)
    assert rehearsal_instant(profile, "2026-11-25T14:45", datetime.now(IST)).hour == 14
    with pytest.raises(UsageError, match="30 minutes to spare"):
        rehearsal_instant(profile, "2026-11-25T14:50", datetime.now(IST))
    with pytest.raises(UsageError, match="before_pre_open"):
        rehearsal_instant(profile, "2026-11-25T08:00", datetime.now(IST))
