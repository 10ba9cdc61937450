"""Square-off tags (the idempotency key) and the in-process rate limiter (a run's own cap), on their own."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mci.brokers.kite_rules import TAG_RE
from mci.brokers.ratelimit import Limits, RateLimiter
from mci.flatten import Key, parse_own_tag, run_prefix, square_off_tag
from mci.flatten.tags import MAX_ROUND, MAX_SLICES
from testing.hypothesis_profiles import examples

symbols = st.sampled_from(["INFY", "M&M", "BAJAJ-AUTO", "NIFTY25NOVFUT", "A", "RELIANCE"])
keys = st.builds(Key, st.sampled_from(["NSE", "BSE", "NFO"]), symbols, st.sampled_from(["MIS", "CNC", "NRML"]))
run_ids = st.text(min_size=1, max_size=60)


def Pacer(rate: float, margin: float = 0.02) -> RateLimiter:
    """A run's own cap, as the flatten builds it (what mci.flatten.pacer was)."""
    return RateLimiter(Limits.per_second(rate), margin=margin)


@given(run_ids, st.integers(0, MAX_ROUND), keys, st.integers(0, MAX_SLICES - 1))
def test_a_tag_is_20_alphanumerics_kite_and_the_simulator_accept_and_it_parses_back(run_id, round_no, key, slice_no):
    tag = square_off_tag(run_id, round_no, key, slice_no)
    assert len(tag) == 20 and tag.isascii() and tag.isalnum() and TAG_RE.match(tag)
    assert tag == square_off_tag(run_id, round_no, key, slice_no)  # derived, not remembered
    assert parse_own_tag(tag, run_id, key) == (round_no, slice_no)
    assert parse_own_tag(tag.upper(), run_id, key) == (round_no, slice_no)  # a broker may upper-case it
    assert tag.startswith(run_prefix(run_id))


@settings(max_examples=examples(200))
@given(run_ids, run_ids, keys, keys, st.integers(1, 50), st.integers(1, 50))
def test_a_tag_is_never_taken_for_another_run_round_or_instrument(run_a, run_b, key_a, key_b, round_a, round_b):
    tag = square_off_tag(run_a, round_a, key_a)
    if run_a != run_b:
        assert parse_own_tag(tag, run_b, key_a) is None
    if key_a != key_b:
        assert parse_own_tag(tag, run_a, key_b) is None
    if (run_a, round_a, key_a) != (run_b, round_b, key_b):
        assert tag != square_off_tag(run_b, round_b, key_b)


def test_foreign_and_malformed_tags_are_not_ours():
    key = Key("NSE", "INFY", "MIS")
    for tag in (None, "", "seed", "mci0123456789abcdef0", run_prefix("r") + "zz" * 6 + "!!", "f" * 20):
        assert parse_own_tag(tag, "r", key) is None
    with pytest.raises(ValueError):
        square_off_tag("", 1, key)
    with pytest.raises(ValueError):
        square_off_tag("r", MAX_ROUND + 1, key)


def test_the_pacer_never_admits_more_than_the_rate_in_any_window():
    pacer = Pacer(20)
    starts: list[float] = []
    lock = threading.Lock()

    def work():
        for _ in range(6):
            with pacer.slot() as ok:
                assert ok
                with lock:
                    starts.append(time.monotonic())
                time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(10)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    starts.sort()
    assert len(starts) == 60
    worst = max(sum(1 for s in starts if a <= s < a + 1.0) for a in starts)
    assert worst <= 20
    assert 2.0 <= took <= 3.5  # 60 at 20/s in bursts of 20: two full windows, and not much more


def test_the_pacer_gives_up_at_the_deadline():
    pacer = Pacer(2)
    assert pacer.acquire() and pacer.acquire()
    start = time.monotonic()
    assert pacer.acquire(deadline=time.monotonic() + 0.2) is None
    assert 0.15 <= time.monotonic() - start <= 0.5
    with pytest.raises(ValueError):
        Limits.per_second(0)


def test_a_request_in_flight_holds_its_slot_until_it_ends():
    pacer = Pacer(1, margin=0.0)
    entry = pacer.acquire()
    assert pacer.acquire(deadline=time.monotonic() + 0.3) is None  # still in flight after 0.3 s
    pacer.release(entry)
    start = time.monotonic()
    assert pacer.acquire(deadline=time.monotonic() + 2)
    assert 0.9 <= time.monotonic() - start <= 1.3  # one window after it ended, not after it started
