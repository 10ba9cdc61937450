"""Exact values from the operator's notation: `2%`, `₹50,000`, `15m`, `30s`.

Money and ratios are Decimal; a percentage becomes a fraction (`2%` -> 0.02).
Each parser raises ValueError with a sentence the loader turns into a
positioned WHAT / WHY / HOW error.

A leaf below every package: config/ parses a profile's values with it, and risk/, watch/, checks/ and
the rest format money, percentages and durations with it, without depending on config/.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

PERCENT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
# Accepts Indian (10,00,000) and Western (1,000,000) grouping, an optional ₹ or INR.
MONEY_RE = re.compile(r"^\s*(?:₹|INR\s*|Rs\.?\s*)?([0-9][0-9,]*(?:\.[0-9]+)?)\s*$", re.IGNORECASE)
DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600), "d": Decimal(86400)}


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr() keeps what the author wrote (0.1 stays 0.1, not 0.1000000000000000055...).
        result = Decimal(repr(value))
    else:
        raise ValueError(f"{what} must be a number")
    if not result.is_finite():
        raise ValueError(f"{what} must be finite")
    return result


def parse_percent(value: object) -> Decimal:
    """`2%` -> Decimal('0.02'); a bare number is already a fraction (0.02)."""
    if isinstance(value, str):
        match = PERCENT_RE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a percentage; write it like 2% or 0.5%")
        return Decimal(match.group(1)) / 100
    fraction = _decimal(value, "a percentage")
    if fraction < 0:
        raise ValueError("a percentage cannot be negative")
    return fraction


def parse_money(value: object) -> Decimal:
    """`₹50,000`, `50000`, `10,00,000.50` -> Decimal rupees."""
    if isinstance(value, str):
        match = MONEY_RE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not an amount of money; write it like 50000 or ₹50,000")
        digits = match.group(1)
        if ",," in digits or digits.endswith(","):
            raise ValueError(f"{value!r} has misplaced thousands separators")
        try:
            amount = Decimal(digits.replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not an amount of money") from None
    else:
        amount = _decimal(value, "an amount of money")
    if amount < 0:
        raise ValueError("an amount of money cannot be negative here")
    return amount


def parse_duration(value: object) -> timedelta:
    """`15m`, `30s`, `500ms`, `1h`, `1d`; a bare number is seconds."""
    if isinstance(value, str):
        match = DURATION_RE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; write it like 30s, 15m, 500ms or 1h")
        seconds = Decimal(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        seconds = _decimal(value, "a duration")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(microseconds=int(seconds * 1_000_000))


_PAISA = Decimal("0.01")


def format_money(amount: Decimal) -> str:
    """₹2,450.00 — two decimals, Western grouping (what Kite's console shows)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}₹{abs(amount).quantize(_PAISA):,}"


def format_percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def format_duration(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total < 60:
        ms = int(delta.total_seconds() * 1000)
        return f"{ms}ms" if total == 0 and ms else f"{total}s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
    return "".join(parts)
