"""The account rate limiter on its own: its file, its day budget, crashed holders, deadlines, real processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from mci.brokers.ratelimit import (
    ORDER,
    OTHER,
    QUOTE,
    DayBudgetExhausted,
    FileStore,
    Limits,
    RateLimiter,
    Window,
    account_key,
    for_account,
)
from mci.brokers.ratelimit import rate_dir as resolve_rate_dir
from mci.errors import ExitCode, UnavailableError

ROOT, KEY = "http://127.0.0.1:9", "app-key-123"

HOLDER = textwrap.dedent("""
    import sys, time
    from mci.brokers.ratelimit import for_account
    limiter = for_account(sys.argv[1], sys.argv[2], request_timeout=30)
    tokens = [limiter.acquire("order") for _ in range(10)]  # ten requests in flight, never answered
    print("held", flush=True)
    time.sleep(60)
""")


def test_the_state_is_private_and_named_by_a_hash_not_the_key(rate_dir):
    limiter = for_account(ROOT, KEY, request_timeout=5)
    with limiter.slot(ORDER) as ok:
        assert ok
    files = sorted(p.name for p in rate_dir.iterdir())
    assert files == [account_key(ROOT, KEY) + ".json", account_key(ROOT, KEY) + ".lock"]
    assert all(KEY not in name and "127.0.0.1" not in name for name in files)
    for p in rate_dir.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert account_key(ROOT, KEY) != account_key(ROOT, KEY + "x") != account_key(ROOT + "0", KEY)


def test_the_default_directory_is_per_user_and_refuses_one_others_can_write(tmp_path):
    path = resolve_rate_dir({"TMPDIR": str(tmp_path)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    with pytest.raises(UnavailableError) as info:
        resolve_rate_dir({"MCI_RATE_DIR": str(loose)})
    assert "MCI_RATE_DIR" in info.value.how


def test_limiters_of_one_account_in_one_process_share_the_window(rate_dir):
    a = for_account(ROOT, KEY, request_timeout=5)
    b = for_account(ROOT, KEY, request_timeout=5)
    for limiter in (a, b) * 5:
        with limiter.slot(ORDER):
            pass
    start = time.monotonic()
    with b.slot(ORDER, deadline=b.now() + 0.3) as ok:
        assert not ok  # ten within the second already, five through each broker
    assert time.monotonic() - start >= 0.29
    with a.slot(QUOTE) as ok, a.slot(OTHER) as ok2:
        assert ok and ok2  # their own buckets


def test_the_day_budget_is_a_clear_error_and_resets_the_next_ist_day(tmp_path):
    wall = [1_795_000_000.0]  # 2026-11-18 in IST
    limiter = RateLimiter(
        Limits(order=(Window(100, 1.0),), placements_per_day=3), FileStore(tmp_path / "a.json"), wall=lambda: wall[0]
    )
    for _ in range(3):
        with limiter.slot(ORDER, placement=True) as ok:
            assert ok
    with pytest.raises(DayBudgetExhausted) as info:
        with limiter.slot(ORDER, placement=True):
            pass
    err = info.value
    assert err.code == ExitCode.UNAVAILABLE and "3 placements" in err.what and "midnight IST" in err.how
    with limiter.slot(ORDER) as ok:  # a cancel or a modification still goes
        assert ok
    wall[0] += 86_400
    with limiter.slot(ORDER, placement=True) as ok:
        assert ok


def test_a_request_in_flight_counts_until_a_window_after_its_answer():
    limiter = RateLimiter(Limits(order=(Window(1, 1.0),)), margin=0.0)
    token = limiter.acquire(ORDER)
    assert limiter.acquire(ORDER, deadline=limiter.now() + 0.3) is None  # still in flight
    limiter.release(token)
    start = time.monotonic()
    assert limiter.acquire(ORDER, deadline=limiter.now() + 2)
    assert 0.95 <= time.monotonic() - start <= 1.3


def test_a_request_in_flight_longer_than_possible_is_forgotten():
    limiter = RateLimiter(Limits(order=(Window(1, 1.0),)), stale_after=0.3)
    limiter.acquire(ORDER)  # never released: its thread died with an exception we never saw
    start = time.monotonic()
    assert limiter.acquire(ORDER, deadline=limiter.now() + 2)
    assert 0.3 <= time.monotonic() - start <= 0.6


def test_a_covering_slot_admits_the_brokers_request_once_and_its_retries_anew():
    limiter = RateLimiter(Limits(order=(Window(2, 1.0),)))
    ended: list[str] = []
    with limiter.slot(ORDER, limiter.now() + 0.2, cover=True, on_end=lambda: ended.append("end")) as ok:
        assert ok
        with limiter.slot(ORDER) as first:  # the broker's request: the covering slot
            assert first and ended == []
        assert ended == ["end"]  # with that request, not with the caller's follow-up reads
        with limiter.slot(ORDER) as retry:  # its retry: a slot of its own
            assert retry
        start = time.monotonic()
        with limiter.slot(ORDER) as late:  # the window is full: given up at the covering slot's deadline
            assert not late
        assert time.monotonic() - start <= 0.5
    with limiter.until(limiter.now() + 0.1):
        with limiter.slot(OTHER) as ok:
            assert ok  # no limit on OTHER here


def test_a_crashed_holder_does_not_block_the_next_process(rate_dir):
    env = {**os.environ, "MCI_RATE_DIR": str(rate_dir)}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, ROOT, KEY], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline().strip() == b"held"
        limiter = for_account(ROOT, KEY, request_timeout=30)
        assert limiter.acquire(ORDER, deadline=limiter.now() + 0.3) is None  # another process holds the ten
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    start = time.monotonic()
    assert limiter.acquire(ORDER, deadline=limiter.now() + 5)  # its pid is gone: its requests are forgotten
    assert time.monotonic() - start < 0.5
