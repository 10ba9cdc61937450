"""`mci watch` against the Kite simulator, every piece a real process: `mci sim kite`, `mci token login`,
`mci scan`, `mci watch`, `mci ignite`, `mci reset`, and the real kiteconnect client on 127.0.0.1.

Prices are moved so the day's loss crosses 6% of capital: within one poll interval (plus the read) the
watcher sees it, and the emergency's own duration later the account is flat and halted. With 20% of the
Kite requests answering 5xx and calm prices, it never trips.
"""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal as D

import pytest
import requests

from testing.kite_sim import SIM_KEY, SIM_SECRET, kite_login, sim_process
from testing.watch import ROOT, Live, mci_env

PROFILE = str(ROOT / "profiles" / "kite-sim.yaml")
AT = "2026-11-23T10:00"  # a Monday, in session (IST); the simulator's clock starts there too
BOOK = ("RELIANCE", "INFY", "TCS", "HDFCBANK")
NOTIONAL = D("200000")  # per position: 20% of the ₹10,00,000 capital
INTERVAL = 1.0  # the profile's watch.interval


@pytest.fixture
def sim(mci_home):
    with sim_process(mci_home, "--at", AT) as running:
        yield running


class Admin:
    def __init__(self, url: str):
        self.url = url + "/_sim/"

    def call(self, method: str, path: str, **body):
        r = requests.request(method, self.url + path, json=body or None, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def ltp(self, symbol: str) -> D:
        r = requests.get(self.url + "price", params={"i": f"NSE:{symbol}"}, timeout=10)
        return D(r.json()["data"]["last_price"])


def open_book(admin: Admin) -> dict[str, tuple[D, int]]:
    """Four MIS positions of about ₹2,00,000 each at pinned prices, and one resting order: {symbol: (price, qty)}."""
    book = {}
    for symbol in BOOK:
        ltp = admin.ltp(symbol)
        qty = int(NOTIONAL / ltp)
        admin.call("POST", "price", instrument=f"NSE:{symbol}", price=str(ltp))
        admin.call("POST", "positions", instrument=f"NSE:{symbol}", quantity=qty, price=str(ltp))
        book[symbol] = (ltp, qty)
    itc = admin.ltp("ITC")
    admin.call(
        "POST", "orders", instrument="NSE:ITC", side="BUY", quantity=1, price=str((itc * D("0.9")).quantize(D(1)))
    )
    return book


@pytest.fixture
def morning(sim, run_mci):
    """Logged in (the real redirect flow) and scanned (armed), with the book open."""
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": AT}

    def mci(*args: str):
        return run_mci(*args, "-p", PROFILE, env=env, timeout=90)

    login = requests.get(
        f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False, timeout=5
    )
    done = run_mci("token", "login", login.headers["Location"], "-p", PROFILE, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    admin = Admin(sim.url)
    book = open_book(admin)
    scan = mci("scan")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    return mci, env, admin, book


def watch(mci_home, env, *args: str) -> Live:
    return Live(["watch", "-p", PROFILE, "-o", "json", *args], mci_env(mci_home, **env))


def events(live: Live) -> list[dict]:
    return [json.loads(line) for line in live.stdout.splitlines() if line.startswith("{")]


def test_a_day_loss_over_the_limit_is_flat_and_halted_within_a_poll_plus_the_flatten(morning, sim, mci_home):
    mci, env, admin, book = morning
    watcher = watch(mci_home, env)
    try:
        assert watcher.wait_line(lambda line: '"event":"poll"' in line), watcher.stdout + watcher.stderr
        for symbol in BOOK[:3]:  # -7% on three: ₹42,000, 70% of the day's ₹60,000: not even a warning
            admin.call("POST", "price", instrument=f"NSE:{symbol}", move="-7%")
        time.sleep(1.5 * INTERVAL)
        assert '"risk_breach"' not in watcher.stdout
        admin.call("POST", "price", instrument=f"NSE:{BOOK[3]}", move="-12%")  # + ₹24,000: over the limit
        moved = time.monotonic()

        seen = watcher.wait_line(lambda line: '"event":"risk_breach"' in line, timeout=10)
        assert seen is not None, watcher.stdout + watcher.stderr
        code = watcher.finish(timeout=120)
        flat_at = time.monotonic()
    finally:
        watcher.kill()
    assert code == 1, watcher.stdout + watcher.stderr  # tripped, and flat
    report = events(watcher)[-1]
    assert report["event"] == "report" and report["status"] == "tripped"
    (breach,) = [e for e in events(watcher) if e["event"] == "risk_breach"]
    assert [b["rule"] for b in breach["breaches"]] == ["daily_loss"]  # no single position near its own limit
    run = report["outcome"]["run"]
    flatten_s = sum(step["duration_s"] or 0 for step in run["steps"])
    detect_s = seen[0] - moved
    print(
        f"breach seen {detect_s:.3f}s after the move, flat {flat_at - moved:.3f}s after it (emergency {flatten_s:.3f}s)"
    )
    # A poll that had just read the old prices sees the move one interval later, plus its own read and confirmation.
    assert detect_s <= INTERVAL + 0.75, detect_s
    assert flat_at - moved <= INTERVAL + flatten_s + 1.5, (flat_at - moved, flatten_s)

    time.sleep(1)  # this client is not the account's limiter: the emergency may have used this second's 10 reads
    kite = kite_login(sim.url)
    assert all(p["quantity"] == 0 for p in kite.positions()["net"]), kite.positions()["net"]
    assert not [o for o in kite.orders() if o["status"] in ("OPEN", "TRIGGER PENDING")]

    status = json.loads(mci("status", "-o", "json").stdout)
    assert status["lifecycle"]["state"] == "halted"
    assert status["watcher"]["status"] == "tripped" and status["watcher"]["state"] == "absent"
    ignite = mci("ignite")
    assert ignite.returncode == 4 and "halted" in ignite.stderr
    assert mci("watch").returncode == 4  # nothing to guard while latched
    reset = mci("reset", "--confirm", "--reason", "test: watched breach")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(mci("status", "-o", "json").stdout)["lifecycle"]["state"] == "idle"
    assert SIM_SECRET not in watcher.stdout + watcher.stderr


def test_injected_5xx_with_calm_prices_never_trips(morning, sim, mci_home, run_mci):
    mci, env, admin, book = morning
    for symbol in BOOK:  # -4% everywhere: ₹32,000 lost, 53% of the day's limit, held still
        admin.call("POST", "price", instrument=f"NSE:{symbol}", move="-4%")
    admin.call("PUT", "faults", spec="5xx=0.2,seed=3")
    admin.call("POST", "counters/reset")
    watcher = watch(mci_home, env, "--interval", "500ms", "--poll")  # the REST path every 500 ms, not the stream
    try:
        assert watcher.wait_line(lambda line: '"event":"poll"' in line), watcher.stdout + watcher.stderr
        time.sleep(6)
        watcher.proc.send_signal(signal.SIGTERM)
        code = watcher.finish(timeout=30)
    finally:
        watcher.kill()
    assert code == 0, watcher.stdout + watcher.stderr
    seen = events(watcher)
    report = seen[-1]
    assert report["status"] == "stopped" and report["polls"] >= 6
    assert not [e for e in seen if e["event"] in ("risk_breach", "unconfirmed", "blind")]
    assert json.loads(mci("status", "-o", "json").stdout)["lifecycle"]["state"] == "armed"
    counters = admin.call("GET", "counters")
    assert counters["faults"].get("5xx", 0) >= 3, counters  # faults were met, and absorbed
    admin.call("DELETE", "faults")
    kite = kite_login(sim.url)
    assert sum(1 for p in kite.positions()["net"] if p["quantity"]) == 4
