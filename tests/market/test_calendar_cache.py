"""The parsed calendar kept between runs: a scan reads it without PyYAML; any change to the file misses."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from mci.market import calendar as cal
from mci.resources import rules_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def calendars(tmp_path, monkeypatch):
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "nse.yaml").write_bytes((rules_dir() / "calendars" / "nse.yaml").read_bytes())
    monkeypatch.setattr(cal, "calendars_dir", lambda: folder)
    cal.load_calendar.cache_clear()
    yield folder
    cal.load_calendar.cache_clear()


@pytest.fixture
def parses(monkeypatch):
    calls = []
    real = cal.parse_calendar

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cal, "parse_calendar", counting)
    return calls


def load(cache_dir: Path):
    cal.load_calendar.cache_clear()  # a new process, as far as the per-process cache is concerned
    return cal.load_calendar("nse", cache_dir)


def test_a_hit_equals_the_parsed_calendar(calendars, tmp_path, parses):
    cache_dir = tmp_path / "cache"
    first = load(cache_dir)
    second = load(cache_dir)
    assert len(parses) == 1 and second == first == cal.load_calendar("nse")
    assert list(second.holidays) == list(first.holidays) and second.weekend == frozenset({5, 6})
    assert len(list((cache_dir / "calendar").iterdir())) == 1


def test_an_edited_calendar_misses(calendars, tmp_path, parses):
    cache_dir = tmp_path / "cache"
    assert load(cache_dir).holiday_name(date(2026, 12, 24)) is None
    path = calendars / "nse.yaml"
    text = path.read_text(encoding="utf-8")
    christmas = "  - {date: 2026-12-25, name: Christmas}\n"
    path.write_text(
        text.replace(christmas, christmas + "  - {date: 2026-12-24, name: Test holiday}\n"), encoding="utf-8"
    )
    edited = load(cache_dir)
    assert len(parses) == 2 and edited.holiday_name(date(2026, 12, 24)) == "Test holiday"


def test_an_invalid_calendar_is_an_error_every_time(calendars, tmp_path):
    from mci.errors import ConfigError

    cache_dir = tmp_path / "cache"
    path = calendars / "nse.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ConfigError):
            load(cache_dir)
    assert not (cache_dir / "calendar").exists()


@pytest.mark.parametrize("damage", [b"", b"mci-cache-1 0\n{}", b"\xff\xfe"])
def test_a_damaged_entry_is_ignored(calendars, tmp_path, parses, damage):
    cache_dir = tmp_path / "cache"
    expected = load(cache_dir)
    [entry] = (cache_dir / "calendar").iterdir()
    entry.write_bytes(damage)
    assert load(cache_dir) == expected and len(parses) == 2
    assert load(cache_dir) == expected and len(parses) == 2


def test_a_warm_scan_path_reads_no_yaml(tmp_path):
    code = (
        "import sys; from pathlib import Path; from mci.market.calendar import load_calendar; "
        "c = load_calendar('nse', Path(sys.argv[1])); print(c.name, 'yaml' in sys.modules)"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        for _ in range(2)
    ]
    assert [o.stdout.split() for o in outs] == [["nse", "True"], ["nse", "False"]], outs[1].stderr
