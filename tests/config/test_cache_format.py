"""mci.cache: tagged JSON that gives back exactly what was stored, and only allow-listed classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from mci import cache


@dataclass(frozen=True)
class Inner:
    at: time
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    extra: dict = field(default_factory=dict)


CLASSES = {"Inner": Inner, "Outer": Outer}


def round_trip(value, tmp_path: Path, classes=CLASSES):
    path = tmp_path / "entry"
    assert cache.write(path, value, classes)
    return cache.read(path, classes)


def test_values_come_back_with_their_types(tmp_path):
    value = {
        "decimal": Decimal("2.0"),
        "exp": Decimal("1E+6"),
        "duration": timedelta(days=1, microseconds=5),
        "day": date(2026, 11, 23),
        "time": time(9, 15),
        "path": Path("/x/y.yaml"),
        "tuple": (1, ("a",)),
        "set": frozenset({5, 6}),
        "list": [None, True, 0, 1.5, "₹"],
        "dates": {date(2026, 1, 26): "Republic Day"},
        "dollar": {"$dec": "not a tag"},
        "nested": Outer("o", Inner(time(15, 30), ("t",)), {"k": [Decimal("0.02")]}),
    }
    back = round_trip(value, tmp_path)
    assert back == value
    assert str(back["decimal"]) == "2.0" and str(back["exp"]) == "1E+6"
    assert type(back["tuple"]) is tuple and type(back["set"]) is frozenset and type(back["nested"].inner) is Inner
    assert list(back["dates"]) == [date(2026, 1, 26)] and back["dollar"] == {"$dec": "not a tag"}


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, Outer("o", Inner(time(1)), {"x": object()}), time(9, 15, tzinfo=timezone.utc)]
)
def test_an_unknown_value_is_not_written(tmp_path, value):
    assert not cache.write(tmp_path / "entry", value, CLASSES)
    assert not (tmp_path / "entry").exists()


def test_a_class_outside_the_allow_list_is_neither_written_nor_read(tmp_path):
    assert not cache.write(tmp_path / "entry", Inner(time(1)), {})
    assert cache.write(tmp_path / "entry", Inner(time(1)), CLASSES)
    assert cache.read(tmp_path / "entry", {}) is None
    assert cache.read(tmp_path / "entry", {"Inner": Outer}) is None  # wrong fields: a miss, not an error


def test_a_missing_or_foreign_file_is_a_miss(tmp_path):
    assert cache.read(tmp_path / "none", CLASSES) is None
    (tmp_path / "foreign").write_text('{"a": 1}')
    assert cache.read(tmp_path / "foreign", CLASSES) is None


def test_digest_parts_do_not_run_together():
    assert cache.digest("ab", "c") != cache.digest("a", "bc")
    assert cache.digest(b"x") == cache.digest("x")
