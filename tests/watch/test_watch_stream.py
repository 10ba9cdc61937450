"""`mci watch` on Kite's WebSocket stream: a real `mci watch` process, the real KiteTicker, the Kite simulator (REST
and ticker) on 127.0.0.1 in this process. The reconciliation is set to a minute, so a trip within seconds of a move
can only come from a tick; the stream cut makes the watcher poll; `mci status --watch` beside it never takes the
account over Kite's 1 quote a second. The paper broker's in-process feed runs through the library."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from mci.brokers.base import OrderRequest
from mci.brokers.sim.admin import SimClock
from mci.brokers.sim.exchange import Exchange, round_to_tick
from mci.brokers.sim.faults import parse_faults
from mci.brokers.sim.kite_server import serve
from testing.watch import IST, ROOT, Live, mci_env

START = datetime(2026, 11, 23, 10, 0, tzinfo=IST)  # a Monday in session
KEY, SECRET = "stream-key", "stream-secret-never-printed"
BOOK = ("RELIANCE", "INFY", "TCS", "HDFCBANK")
NOTIONAL = D("200000")


@pytest.fixture
def account(tmp_path):
    """The simulator with four MIS positions (three 7% down: 70% of the day's loss limit) and a resting order."""
    exchange = Exchange(tmp_path / "sim.db", SimClock(START), seed=7, capital=D("1000000"))
    for symbol in BOOK:
        ltp = exchange.ltp([f"NSE:{symbol}"])[f"NSE:{symbol}"]
        exchange.set_price("NSE", symbol, ltp)
        exchange.seed_position("NSE", symbol, "MIS", int(NOTIONAL / ltp), ltp)
    for symbol in BOOK[:3]:
        exchange.move_price("NSE", symbol, D("-7"))
    itc = exchange.universe.get("NSE", "ITC")
    price = round_to_tick(exchange.ltp(["NSE:ITC"])["NSE:ITC"] * D("0.9"), itc.tick_size)
    exchange.place_order(OrderRequest("NSE", "ITC", "BUY", 1, "LIMIT", "MIS", price=price, tag="resting"))
    token, _, _ = exchange.issue_session("AB1234")
    server = serve("127.0.0.1", 0, exchange, api_key=KEY, api_secret=SECRET)
    yield exchange, server, token
    server.shutdown()
    exchange.close()


def profile_file(tmp_path: Path, reconcile: str) -> Path:
    """profiles/kite-sim.yaml with its watch.reconcile set."""
    text = (ROOT / "profiles" / "kite-sim.yaml").read_text()
    text = text.replace("watch:\n  interval: 1s\n", f"watch:\n  interval: 1s\n  reconcile: {reconcile}\n", 1)
    assert f"reconcile: {reconcile}" in text
    path = tmp_path / "kite-sim.yaml"
    path.write_text(text)
    return path


def environment(home: Path, server, token: str) -> dict[str, str]:
    return mci_env(
        home,
        KITE_API_KEY=KEY,
        KITE_API_SECRET=SECRET,
        MCI_SIM_URL=server.url,
        MCI_ACCESS_TOKEN=token,
        MCI_USER_ID="AB1234",
        MCI_AT=START.isoformat(),
    )


def events(live: Live) -> list[dict]:
    return [json.loads(line) for _, line in live.lines if line.startswith("{")]


def is_event(kind: str):
    return lambda line: f'"event":"{kind}"' in line


def test_a_breach_on_a_tick_trips_long_before_the_reconciliation(account, tmp_path):
    exchange, server, token = account
    home = tmp_path / "home"
    env = environment(home, server, token)
    watcher = Live(["watch", "-p", str(profile_file(tmp_path, "60s")), "-o", "json"], env)
    try:
        assert watcher.wait_line(is_event("stream_up")), watcher.stderr
        server.app.requests.clear()
        time.sleep(1.5)
        exchange.move_price("NSE", BOOK[3], D("-12"))  # the day's loss crosses 6% of capital
        moved = time.monotonic()
        seen = watcher.wait_line(is_event("risk_breach"), timeout=10)
        code = watcher.finish(timeout=120)
    finally:
        watcher.kill()
    assert seen is not None, [line for _, line in watcher.lines] + [watcher.stderr]
    assert seen[0] - moved < 3, seen[0] - moved  # a tick, not the REST read due in a minute
    assert code == 1, watcher.stderr
    report = events(watcher)[-1]
    assert report["status"] == "tripped" and report["ticks"] >= 1
    assert report["polls"] == 1, report  # the start's read alone: the breach's own re-read is its confirmation
    assert all(p.quantity == 0 for p in exchange.positions())
    assert not [o for o in exchange.orders() if o.status == "OPEN"]
    before = [e for e in server.app.requests.snapshot() if e["at"] < moved]
    assert not [e for e in before if e["bucket"] == "quote"], before  # the ticks price the book: no quote call
    assert len(before) <= 1, before  # nothing at all in the 1.5 s on the stream (a read is due in a minute)
    assert SECRET not in watcher.stderr and token not in "".join(line for _, line in watcher.lines) + watcher.stderr


def test_a_cut_stream_falls_back_to_polling_says_so_and_still_trips(account, tmp_path, run_mci):
    exchange, server, token = account
    home = tmp_path / "home"
    env = environment(home, server, token)
    profile = str(profile_file(tmp_path, "60s"))
    watcher = Live(["watch", "-p", profile, "-o", "json"], env)
    try:
        assert watcher.wait_line(is_event("stream_up")), watcher.stderr
        text = run_mci("status", "-p", profile, env=env).stdout
        assert "on the stream" in text.split("watcher:")[1].splitlines()[0], text
        server.app.set_faults(parse_faults("stream=cut"))
        down = watcher.wait_line(is_event("stream_down"), timeout=15)
        assert down is not None, [line for _, line in watcher.lines]
        time.sleep(1.5)  # a beat with the new feed
        text = run_mci("status", "-p", profile, env=env).stdout
        assert "POLLING (STREAM DOWN" in text.split("watcher:")[1].splitlines()[0], text
        time.sleep(2.2)
        exchange.move_price("NSE", BOOK[3], D("-12"))
        moved = time.monotonic()
        seen = watcher.wait_line(is_event("risk_breach"), timeout=10)
        code = watcher.finish(timeout=120)
    finally:
        watcher.kill()
    assert seen is not None and seen[0] - moved <= 1.5, (seen, moved)  # within 1.5 x the 1 s poll interval
    report = events(watcher)[-1]
    assert code == 1 and report["status"] == "tripped"
    assert report["polls"] >= 4, report  # the start's read, then one a second while the stream was cut (not a minute)


def test_the_stream_comes_back_after_a_cut(account, tmp_path):
    exchange, server, token = account
    env = environment(tmp_path / "home", server, token)
    watcher = Live(["watch", "-p", str(profile_file(tmp_path, "60s")), "-o", "json"], env)
    try:
        assert watcher.wait_line(is_event("stream_up")), watcher.stderr
        server.app.set_faults(parse_faults("stream=cut"))
        assert watcher.wait_line(is_event("stream_down"), timeout=15)
        server.app.set_faults(parse_faults("none"))
        back = watcher.wait_line(
            lambda line: len([1 for _, s in watcher.lines if '"event":"stream_up"' in s]) >= 2, timeout=30
        )
        assert back is not None, [line for _, line in watcher.lines]
        exchange.move_price("NSE", BOOK[3], D("-12"))
        moved = time.monotonic()
        seen = watcher.wait_line(is_event("risk_breach"), timeout=10)
        watcher.finish(timeout=120)
    finally:
        watcher.kill()
    assert seen is not None and seen[0] - moved < 1, (seen, moved)  # resubscribed: a tick again
    assert events(watcher)[-1]["ticks"] >= 1


def test_status_watch_beside_the_watcher_stays_within_one_quote_a_second(account, tmp_path):
    exchange, server, token = account
    env = environment(tmp_path / "home", server, token)
    profile = str(profile_file(tmp_path, "5s"))
    watcher = Live(["watch", "-p", profile, "-o", "json"], env)
    status = subprocess.Popen(
        [sys.executable, "-m", "mci", "status", "-p", profile, "--watch", "-o", "json", "--interval", "0.2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert watcher.wait_line(is_event("stream_up")), watcher.stderr
        time.sleep(2)
        start = time.monotonic()
        time.sleep(5)
        end = time.monotonic()
        entries = [e for e in server.app.requests.snapshot() if start <= e["at"] < end]
    finally:
        status.kill()
        status.wait()
        watcher.kill()
    quotes = sorted(e["at"] for e in entries if e["bucket"] == "quote")
    assert quotes, "status --watch asked for no quote: the test proves nothing"
    assert max(sum(1 for q in quotes if t <= q < t + 1) for t in quotes) <= 1, quotes
    assert all(e["counted"] and e["status"] == 200 for e in entries), [e for e in entries if e["status"] != 200]


def test_the_paper_broker_streams_in_process_and_trips_on_a_tick(tmp_path):
    from dataclasses import replace

    from mci.brokers.paper import PaperBroker
    from mci.clock import Clock
    from mci.watch import Watcher
    from testing.watch import paper_profile

    home = tmp_path / "home"
    home.mkdir()
    clock = Clock(datetime(2026, 11, 25, 10, 30, tzinfo=IST))
    profile = paper_profile(reconcile=timedelta(minutes=1))
    profile = replace(profile, watch=replace(profile.watch, square_off=None))
    broker = PaperBroker.from_profile(profile, home, clock)
    prices = {}
    for symbol in BOOK:
        ltp = broker.exchange.ltp([f"NSE:{symbol}"])[f"NSE:{symbol}"]
        broker.exchange.set_price("NSE", symbol, ltp)
        broker.exchange.seed_position("NSE", symbol, "MIS", 100, ltp)
        prices[symbol] = ltp
    seen: list = []
    up = threading.Event()

    def on_event(e) -> None:
        seen.append(e)
        if e.kind == "stream_up":
            up.set()

    watcher = Watcher(profile, clock, home, on_event=on_event)
    assert watcher.stream
    result: list = []
    runner = threading.Thread(target=lambda: result.append(watcher.run()), daemon=True)
    runner.start()
    try:
        assert up.wait(20), [e.text for e in seen]
        # 60,000 is the day's limit (6% of 10,00,000): 160 rupees a share on 4 x 100 shares is 64,000.
        for symbol, ltp in prices.items():
            broker.exchange.set_price("NSE", symbol, ltp - 160)
        runner.join(60)
    finally:
        watcher.request_stop()
        runner.join(10)
        broker.close()
    (report,) = result
    assert report.status == "tripped" and report.ticks >= 1 and report.polls == 1, (report, [e.text for e in seen])


def test_no_command_but_watch_loads_the_websocket_client(account, tmp_path):
    exchange, server, token = account
    env = environment(tmp_path / "home", server, token)
    profile = str(profile_file(tmp_path, "5s"))
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\nLOADED %s\\n' % sorted(m for m in ('twisted', 'autobahn', "
        "'kiteconnect.ticker') if m in sys.modules)))\n"
        "sys.argv = ['mci'] + sys.argv[1:]\n"
        "runpy.run_module('mci', run_name='__main__', alter_sys=True)\n"
    )
    for args in (
        ["status", "-p", profile],
        ["watch", "--once", "-p", profile],
        ["scan", "-p", profile],
        ["validate", profile],
        ["sim", "faults", "--help"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
        )
        assert "\nLOADED []\n" in done.stderr, (args, done.returncode, done.stderr[-2000:])


def test_a_stream_that_never_connects_is_said_and_polled_around(account, tmp_path):
    exchange, server, token = account
    server.app.set_faults(parse_faults("stream=cut"))  # every handshake refused from the start
    env = environment(tmp_path / "home", server, token)
    watcher = Live(["watch", "-p", str(profile_file(tmp_path, "60s")), "-o", "json"], env)
    try:
        down = watcher.wait_line(is_event("stream_down"), timeout=15)
        assert down is not None, [line for _, line in watcher.lines] + [watcher.stderr]
        assert "503" in down[1] or "refused" in down[1] or "failed" in down[1], down[1]
        time.sleep(1.2)
        exchange.move_price("NSE", BOOK[3], D("-12"))
        moved = time.monotonic()
        seen = watcher.wait_line(is_event("risk_breach"), timeout=10)
        watcher.finish(timeout=120)
    finally:
        watcher.kill()
    assert seen is not None and seen[0] - moved <= 1.5, (seen, moved)
    report = events(watcher)[-1]
    assert report["status"] == "tripped" and report["ticks"] == 0 and report["polls"] >= 3, report
    assert not [e for e in events(watcher) if e["event"] == "stream_up"]
