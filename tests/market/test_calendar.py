from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from mci.errors import ConfigError
from mci.market.calendar import CalendarCoverageError, MarketPhase, load_calendar, parse_calendar
from mci.resources import rules_dir, schemas_dir

IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture(scope="module")
def nse():
    return load_calendar("nse")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def test_file_validates_against_its_schema():
    import jsonschema

    path = rules_dir() / "calendars" / "nse.yaml"
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/calendar.schema.json\n")
    doc = json.loads(json.dumps(yaml.safe_load(text), default=str))  # dates as the editor sees them: strings
    schema = json.loads((schemas_dir() / "calendar.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)


def test_every_schema_property_is_documented():
    schema = json.loads((schemas_dir() / "calendar.schema.json").read_text())

    def walk(node):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                assert "title" in sub and "description" in sub, name
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


def test_metadata(nse):
    assert nse.name == "nse" and nse.timezone == "Asia/Kolkata"
    assert "NSE/CMTR/65587" in nse.source
    assert (nse.covers_from, nse.covers_until) == (date(2025, 1, 1), date(2026, 12, 31))
    assert len([d for d in nse.holidays if d.year == 2025]) == 14
    assert len([d for d in nse.holidays if d.year == 2026]) == 16
    assert all(not nse.is_weekend(d) for d in nse.holidays)
    assert load_calendar("nse") is nse  # cached


def test_holidays_named(nse):
    assert nse.holiday_name(date(2026, 11, 24)) == "Prakash Gurpurb Sri Guru Nanak Dev"
    assert "Diwali Laxmi Pujan" in nse.holiday_name(date(2025, 10, 21))
    assert nse.holiday_name(date(2026, 11, 23)) is None
    assert not nse.is_trading_day(date(2026, 11, 24))
    # Diwali Laxmi Pujan 2025 is a holiday with a Muhurat session (13:45-14:45): a trading day of an hour
    assert nse.is_trading_day(date(2025, 10, 21))
    assert nse.phase(at(2025, 10, 21, 10, 0)) is MarketPhase.BEFORE_PRE_OPEN
    assert nse.is_trading_day(date(2026, 11, 23))


def test_weekend(nse):
    assert nse.is_weekend(date(2026, 11, 28)) and nse.is_weekend(date(2026, 11, 29))
    assert not nse.is_trading_day(date(2026, 11, 28))
    assert nse.phase(at(2026, 11, 28, 10, 0)) is MarketPhase.WEEKEND
    assert nse.phase(at(2027, 1, 2, 10, 0)) is MarketPhase.WEEKEND  # weekends are known past coverage


@pytest.mark.parametrize(
    "instant, phase",
    [
        (at(2026, 11, 23, 8, 59, 59), MarketPhase.BEFORE_PRE_OPEN),
        (at(2026, 11, 23, 9, 0, 0), MarketPhase.PRE_OPEN),
        (at(2026, 11, 23, 9, 14, 59), MarketPhase.PRE_OPEN),
        (at(2026, 11, 23, 9, 15, 0), MarketPhase.OPEN),
        (at(2026, 11, 23, 15, 29, 59), MarketPhase.OPEN),
        (at(2026, 11, 23, 15, 30, 0), MarketPhase.CLOSED_AFTER),
        (at(2026, 11, 24, 10, 0), MarketPhase.HOLIDAY),
        (at(2027, 1, 4, 10, 0), MarketPhase.UNKNOWN),
        (at(2024, 12, 31, 10, 0), MarketPhase.UNKNOWN),
        # 03:50 UTC is 09:20 IST: the phase is the exchange's, whatever zone the instant is in.
        (datetime(2026, 11, 23, 3, 50, tzinfo=ZoneInfo("UTC")), MarketPhase.OPEN),
    ],
)
def test_phase_edges(nse, instant, phase):
    assert nse.phase(instant) is phase


def test_beyond_coverage_is_never_guessed(nse):
    with pytest.raises(CalendarCoverageError) as err:
        nse.is_trading_day(date(2027, 1, 4))
    assert "2026-12-31" in err.value.what
    with pytest.raises(CalendarCoverageError):
        nse.next_trading_day(date(2026, 12, 31))
    assert nse.next_open(at(2026, 12, 31, 16, 0)) is None


def test_session_bounds_and_next_trading_day(nse):
    pre, opens, closes = nse.session_bounds(date(2026, 11, 23))
    assert (pre, opens, closes) == (at(2026, 11, 23, 9, 0), at(2026, 11, 23, 9, 15), at(2026, 11, 23, 15, 30))
    assert nse.next_trading_day(date(2026, 11, 23)) == date(2026, 11, 25)  # skips the 24th's holiday
    assert nse.next_trading_day(date(2026, 11, 27)) == date(2026, 11, 30)  # skips the weekend
    assert nse.next_open(at(2026, 11, 23, 9, 0)) == at(2026, 11, 23, 9, 15)
    assert nse.next_open(at(2026, 11, 23, 9, 15)) == at(2026, 11, 25, 9, 15)
    assert nse.next_holiday(date(2026, 11, 25)) == (date(2026, 12, 25), "Christmas")


def test_unknown_calendar_and_bad_documents():
    with pytest.raises(ConfigError):
        load_calendar("nosuch")
    with pytest.raises(ConfigError):
        load_calendar("../secrets")
    good = yaml.safe_load((rules_dir() / "calendars" / "nse.yaml").read_text())
    for mutate in (
        lambda d: d.update(extra=1),
        lambda d: d["holidays"].append({"date": "2027-01-26", "name": "Republic Day"}),  # outside covers
        lambda d: d["holidays"].append(dict(d["holidays"][0])),  # duplicate
        lambda d: d["sessions"]["normal"].update(start=555),  # unquoted 09:15 in YAML 1.1
        lambda d: d.update(weekend=["caturday"]),
        lambda d: d["covers"].update({"from": "2027-01-01"}),
    ):
        doc = yaml.safe_load(yaml.safe_dump(good))
        mutate(doc)
        with pytest.raises(ConfigError):
            parse_calendar(doc)


def test_errors_point_at_the_line(tmp_path):
    from mci.config.loader import load_document

    text = (rules_dir() / "calendars" / "nse.yaml").read_text().replace("2026-11-24", "2026-11-31")
    bad = tmp_path / "nse.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        parse_calendar(load_document(bad), bad)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "2026-11-31" in s)
    assert err.value.location is not None and err.value.location.line == line
    assert "holidays[28].date" in err.value.what
