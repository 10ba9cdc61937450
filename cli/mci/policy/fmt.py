"""Values as an operator writes them: 8%, ₹2,00,000, 15m, "15:15"; and the compact form a subject carries."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from typing import Any


def number(value: Decimal | int) -> str:
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return text


def percent(fraction: Decimal) -> str:
    return number(fraction * 100) + "%"


def rupees(amount: Decimal) -> str:
    """Indian grouping, as the profiles write money: ₹10,00,000."""
    whole, _, paise = number(amount).partition(".")
    head, tail = whole[:-3], whole[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    text = ",".join(groups + [tail]) if groups else tail
    return "₹" + text + (f".{paise}" if paise else "")


def duration(delta: timedelta) -> str:
    ms = round(delta.total_seconds() * 1000)
    if ms % 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def clock(value: time) -> str:
    return value.strftime("%H:%M")


def names(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def show(value: Any, unit: str = "") -> str:
    """Text for WHAT / WHY: `unit` is percent, money or empty (the value's own type decides)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if unit == "percent" and isinstance(value, Decimal):
        return percent(value)
    if unit == "money" and isinstance(value, (Decimal, int)):
        return rupees(Decimal(value))
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, time):
        return clock(value)
    if isinstance(value, (list, tuple)):
        return names(value)
    return str(value)


def token(value: Any, unit: str = "") -> str:
    """The value in a subject: no spaces, no ₹ (a subject is typed into a shell), lists comma-joined."""
    if unit == "money" and isinstance(value, (Decimal, int)):
        text = number(value)
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    else:
        text = show(value, unit)
    return "_".join(text.split()) or "empty"
