"""The demo engine as a real process on a real port, trading the paper exchange of the shipped paper profile."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

from mci.brokers.factory import broker_for
from mci.clock import Clock
from mci.config import load_profile
from mci.demo_engine import bridge_token
from mci.enginectl.probes import CallFailed, http_call
from tests.enginectl.helpers import engine_env, free_port, wait_for


def spawn(home, port, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "mci.demo_engine", "--port", str(port), "--interval", "0.05", *args],
        env=engine_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def health(port):
    try:
        status, body = http_call(f"http://127.0.0.1:{port}/health")
    except CallFailed:
        return None
    return status, json.loads(body)


def settled(port, placed):
    answer = health(port)
    return answer is not None and answer[0] == 200 and answer[1]["orders_placed"] == placed


def book(home):
    broker = broker_for(load_profile(None, env={}), home, Clock())
    try:
        return broker.orders()
    finally:
        broker.close()


def stop(proc):
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=5)
    return proc.returncode, time.monotonic() - t0, out, err


def test_places_tagged_entries_with_stops_and_a_restart_does_not_duplicate(mci_home):
    port = free_port()
    proc = spawn(mci_home, port, "--max-orders", "3")
    try:
        assert wait_for(lambda: settled(port, 6), timeout=10)
    finally:
        code, took, out, err = stop(proc)
    assert code == 0 and took < 1.0, (code, took, err)
    orders = book(mci_home)
    assert len(orders) == 6
    tags = [o.tag for o in orders]
    assert len(set(tags)) == 6 and all(t and t.isalnum() and len(t) <= 20 for t in tags)
    entries = [o for o in orders if o.side == "BUY"]
    stops = [o for o in orders if o.side == "SELL"]
    assert [(o.order_type, o.product, o.status) for o in entries] == [("MARKET", "MIS", "COMPLETE")] * 3
    assert [(o.order_type, o.product, o.status) for o in stops] == [("SL-M", "MIS", "TRIGGER PENDING")] * 3
    assert all(s.tag == e.tag + "s" and s.trigger_price < e.average_price for e, s in zip(entries, stops))
    assert out.count("placed ") == 6

    again = spawn(mci_home, port, "--max-orders", "4")  # one more entry than before
    try:
        assert wait_for(lambda: settled(port, 2), timeout=10)
        time.sleep(0.2)
    finally:
        code, took, out, err = stop(again)
    assert code == 0
    assert len(book(mci_home)) == 8  # the three entries and stops already in the book were not placed again
    assert "6 orders tagged demo" in out and "already in the book" in out


def test_an_entry_the_risk_limits_refuse_is_logged_and_never_placed(mci_home):
    """2,000 INFY with a 1% stop risks about ₹30,000, over the paper profile's 2% of ₹10,00,000."""
    port = free_port()
    proc = spawn(mci_home, port, "--max-orders", "1", "--quantity", "2000")
    try:
        assert wait_for(lambda: (health(port) or (0, {}))[1].get("entries_rejected", 0) >= 2, timeout=10)
        assert health(port)[1]["orders_placed"] == 0
    finally:
        code, _took, out, err = stop(proc)
    assert code == 0, err
    assert book(mci_home) == []
    assert "rejected by risk rule max_risk_per_trade: risk ₹" in out and "exceeds 2% of capital, ₹20,000.00" in out


def test_pause_resume_and_stop_over_http(mci_home):
    port = free_port()
    proc = spawn(mci_home, port, "--max-orders", "20", "--interval", "0.1")
    try:
        assert wait_for(lambda: (health(port) or (0, {}))[1].get("orders_placed", 0) >= 2, timeout=10)
        assert http_call(f"http://127.0.0.1:{port}/pause", "POST")[0] == 200
        time.sleep(0.15)  # an entry placed just before the pause still gets its protective stop
        placed = health(port)[1]["orders_placed"]
        time.sleep(0.4)
        status, body = health(port)
        assert body["paused"] is True and body["orders_placed"] == placed
        assert placed % 2 == 0  # every entry has its stop
        assert http_call(f"http://127.0.0.1:{port}/resume", "POST")[0] == 200
        assert wait_for(lambda: health(port)[1]["orders_placed"] > body["orders_placed"], timeout=5)
        assert http_call(f"http://127.0.0.1:{port}/nope", "POST")[0] == 404
        assert http_call(f"http://127.0.0.1:{port}/stop", "POST")[0] == 200
        assert proc.wait(timeout=2) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_refuses_a_port_in_use_with_what_why_how(mci_home):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "mci.demo_engine", "--port", str(port)],
            env=engine_env(mci_home),
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert done.returncode == 2
    assert "WHAT: " in done.stderr and "WHY: the port is in use" in done.stderr and "HOW: " in done.stderr
    assert "Traceback" not in done.stderr


def test_port_from_the_environment(mci_home):
    port = free_port()
    env = {**engine_env(mci_home), "MCI_ENGINE_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci.demo_engine", "--max-orders", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: settled(port, 0), timeout=10)
    finally:
        code, took, _, _ = stop(proc)
    assert code == 0 and took < 1.0


def test_an_unusable_profile_ends_the_engine_with_what_why_how(mci_home, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: profile\nname: bad\n")
    port = free_port()
    env = {**engine_env(mci_home), "MCI_PROFILE": str(bad)}
    done = subprocess.run(
        [sys.executable, "-m", "mci.demo_engine", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2 and "WHAT: " in done.stderr and "Traceback" not in done.stderr


def test_the_token_is_bridged_to_the_memory_only_store(tmp_path):
    env = {"KITE_ACCESS_TOKEN": "abc"}
    bridge_token(env)
    assert env["MCI_ACCESS_TOKEN"] == "abc"
    path = tmp_path / "t"
    path.write_text("fromfile\n")
    env = {"MCI_TOKEN_FILE": str(path)}
    bridge_token(env)
    assert env["MCI_ACCESS_TOKEN"] == "fromfile"
    env = {}
    bridge_token(env)
    assert "MCI_ACCESS_TOKEN" not in env


def test_health_is_503_until_the_broker_is_open():
    from werkzeug.test import Client

    from mci.demo_engine import Engine, make_app

    engine = Engine(interval=1, max_orders=1, symbol="INFY", quantity=1, today="261123")
    client = Client(make_app(engine))
    starting = client.get("/health")
    assert starting.status_code == 503 and starting.json["status"] == "starting"
    engine.status = "ok"
    assert client.get("/health").status_code == 200
    engine.stop()
    assert client.get("/health").status_code == 503


def test_kite_engine_gets_the_token_from_its_file_and_trades_the_simulator(mci_home, tmp_path):
    """The ignite path for a kite profile: token handed over by file, the real kiteconnect client, the simulator."""
    from decimal import Decimal

    from mci.brokers.sim.exchange import Exchange
    from mci.brokers.sim.kite_server import DEFAULT_USER, serve
    from mci.enginectl import EngineControl
    from tests.enginectl.helpers import ROOT

    exchange = Exchange(tmp_path / "sim.db", Clock(), seed=7, capital=Decimal(1000000))
    token, _, _ = exchange.issue_session(DEFAULT_USER)
    port = free_port()
    head = (ROOT / "profiles" / "kite-sim.yaml").read_text(encoding="utf-8").split("\nengine:")[0]
    profile_path = tmp_path / "profiles" / "kite-sim.yaml"
    profile_path.parent.mkdir()
    profile_path.write_text(
        head + "\nengine:\n"
        "  start: {command: [python, -m, mci.demo_engine, --interval, '0.05', --max-orders, '2']}\n"
        f"  health: {{http: 'http://127.0.0.1:{port}/health', within: 15s, interval: 50ms}}\n"
        "  token_via: file\n"
    )
    with serve("127.0.0.1", 0, exchange, api_key="sim-key", api_secret="sim-secret") as sim:
        env = {
            **engine_env(mci_home),
            "KITE_API_KEY": "sim-key",
            "KITE_API_SECRET": "sim-secret",
            "MCI_SIM_URL": sim.url,
            "MCI_ENGINE_PORT": str(port),
        }
        ctl = EngineControl(load_profile(profile_path, env=env), mci_home, env=env)
        try:
            ctl.start(token)
            ctl.wait_healthy()
            assert wait_for(lambda: settled(port, 4), timeout=10)
        finally:
            ctl.stop()
    orders = exchange.orders()
    assert sorted((o.side, o.order_type) for o in orders) == [("BUY", "MARKET")] * 2 + [("SELL", "SL-M")] * 2
    assert token not in ctl.log_path.read_text()
    exchange.close()


def test_an_entry_the_broker_rejects_is_logged_with_the_brokers_reason(mci_home):
    # Kite's RMS blocks new intraday exposure in some stocks: the order is accepted, then REJECTED.
    broker = broker_for(load_profile(None, env={}), mci_home, Clock())
    try:
        broker.exchange.set_mis_blocked("NSE", "INFY", True)
    finally:
        broker.close()
    port = free_port()
    proc = spawn(mci_home, port, "--max-orders", "1", "--symbol", "INFY")
    try:
        assert wait_for(lambda: any(o.status == "REJECTED" for o in book(mci_home)), timeout=10)
    finally:
        code, _, out, err = stop(proc)
    assert code == 0, err
    (order,) = book(mci_home)
    assert order.status == "REJECTED" and order.order_type == "MARKET"
    assert (
        f"REJECTED BUY 1 NSE:INFY MIS MARKET tag={order.tag} order_id={order.order_id}: "
        "MIS (intraday) orders are blocked for INFY. Place a CNC (delivery) order instead."
    ) in out + err
