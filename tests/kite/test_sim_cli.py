"""`mci sim kite` and the `mci sim` admin commands as real subprocesses; the admin endpoints over real HTTP.

Every simulator listens on 127.0.0.1 on a port the OS picks (--port 0, read from the banner).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from decimal import Decimal as D

import pytest
import requests
from werkzeug.test import Client

from testing.kite_sim import MONDAY_10AM, ROOT, SIM_KEY, SIM_SECRET, kite_login, sim_env


@pytest.fixture
def sim(start_sim):
    """A running `mci sim kite`, its clock at MONDAY_10AM."""
    proc = start_sim("--at", MONDAY_10AM, "--seed", "3")
    assert proc.url, proc.stderr
    return proc


@pytest.fixture
def admin(run_mci, sim):
    """`mci sim SUBCOMMAND ...` against `sim`: (exit code, stdout, stderr)."""

    def run(*args: str, output: str = "text"):
        done = run_mci("sim", *args, "--url", sim.url, "-o", output)
        return done.returncode, done.stdout, done.stderr

    return run


def data(url: str, method: str, path: str, **kw):
    r = requests.request(method, f"{url}/_sim/{path}", timeout=5, **kw)
    return r.status_code, r.json()


# ---------------------------------------------------------------- mci sim kite


def test_the_banner_names_the_url_and_the_env_but_never_the_secret(sim):
    assert sim.url.startswith("http://127.0.0.1:") and int(sim.url.rsplit(":", 1)[1]) > 0
    assert f"export MCI_SIM_URL={sim.url}" in sim.stdout
    assert "KITE_API_KEY" in sim.stdout and "KITE_API_SECRET" in sim.stdout
    assert requests.get(sim.url + "/_sim/health", timeout=5).json()["data"]["seed"] == 3
    assert sim.stop() == 0
    assert "Kite simulator stopped" in sim.stdout
    assert SIM_SECRET not in sim.stdout + sim.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_it_cleanly_with_exit_0(start_sim, sig):
    proc = start_sim()
    assert proc.url
    assert proc.stop(sig) == 0 and "stopped" in proc.stdout and "Traceback" not in proc.stderr
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(proc.url + "/_sim/health", timeout=2)


def test_the_real_login_flow_lands_on_the_simulators_redirect_page(sim):
    r = requests.get(sim.url + "/connect/login", params={"api_key": SIM_KEY, "v": 3}, timeout=5)  # follows the redirect
    assert r.status_code == 200 and r.url.startswith(sim.url + "/redirect?") and "request_token=" in r.url
    assert "mci token login" in r.text
    assert kite_login(sim.url).profile()["user_id"] == "AB1234"


def test_a_non_loopback_host_is_refused_without_allow_remote(start_sim):
    proc = start_sim("--host", "0.0.0.0")
    assert proc.url == "" and proc.proc.returncode == 2
    assert "refusing to serve the Kite simulator on 0.0.0.0" in proc.stderr and "--allow-remote" in proc.stderr


def test_missing_secret_and_bad_faults_are_usage_errors(start_sim, mci_home):
    env = sim_env(mci_home)
    del env["KITE_API_SECRET"]
    proc = start_sim(env=env)
    assert proc.proc.returncode == 2 and "KITE_API_SECRET not set" in proc.stderr
    proc = start_sim("--faults", "5xx=2")
    assert proc.proc.returncode == 2 and "cannot read the fault spec" in proc.stderr and "HOW:" in proc.stderr


def test_a_port_in_use_is_unavailable(run_mci):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = run_mci("sim", "kite", "--port", str(port), env={"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET})
    assert done.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_a_secret_on_the_command_line_is_warned_about_and_not_echoed(start_sim, mci_home):
    env = sim_env(mci_home)
    del env["KITE_API_SECRET"]
    proc = start_sim("--api-secret", SIM_SECRET, env=env)
    assert proc.url and proc.stop() == 0
    assert "visible to other users in `ps`" in proc.stderr
    assert SIM_SECRET not in proc.stdout + proc.stderr


def test_the_account_persists_in_db_across_restarts(start_sim, tmp_path):
    db = tmp_path / "rehearsal.db"
    first = start_sim("--db", str(db), "--capital", "₹5,00,000", "--at", MONDAY_10AM)
    kite = kite_login(first.url)
    kite.place_order("regular", "NSE", "INFY", "BUY", 3, "MIS", "MARKET", tag="kept", market_protection=-1)
    assert first.stop() == 0
    second = start_sim("--db", str(db), "--capital", "1", "--at", MONDAY_10AM)  # the file's account wins
    assert "opening cash ₹500,000.00" in second.stdout
    assert [o["tag"] for o in kite_login(second.url).orders()] == ["kept"]


def test_mci_help_does_not_import_the_simulator():
    code = (
        "import sys, mci.app; heavy = [m for m in sys.modules if m.startswith(('werkzeug', 'kiteconnect', "
        "'mci.brokers.sim', 'mci.commands.sim'))]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() in ("['mci.commands.sim_cli']", "[]"), out.stdout + out.stderr


# ---------------------------------------------------------------- the admin commands


def test_price_set_move_clear_show_reach_the_kite_api(admin, sim):
    kite = kite_login(sim.url)
    code, out, _ = admin("price", "NSE:RELIANCE", "2500")
    assert code == 0 and out.strip() == "NSE:RELIANCE last price ₹2,500.00"
    assert D(repr(kite.ltp(["NSE:RELIANCE"])["NSE:RELIANCE"]["last_price"])) == D("2500")
    code, out, _ = admin("price", "NSE:RELIANCE", "--move", "+2%", output="json")
    assert code == 0 and json.loads(out) == {"instrument": "NSE:RELIANCE", "last_price": "2550.00"}  # exact text
    code, out, _ = admin("price", "NSE:RELIANCE", "--move", "-10%")
    assert code == 0 and "₹2,295.00" in out
    code, out, _ = admin("price", "NSE:RELIANCE", "--clear", output="json")
    cleared = D(json.loads(out)["last_price"])
    assert code == 0 and cleared != D("2295")
    code, out, _ = admin("price", "NSE:RELIANCE", output="json")
    assert code == 0 and D(json.loads(out)["last_price"]) == cleared


def test_price_errors_are_what_why_how_with_exit_2(admin):
    code, _, err = admin("price", "NSE:NOSUCH", "100")
    assert code == 2 and "WHAT: unknown instrument NSE:NOSUCH" in err and "HOW:" in err
    code, _, err = admin("price", "NSE:INFY", "100", "--move", "+1%")
    assert code == 2 and "given together" in err
    code, out, _ = admin("price", "NSE:INFY", "--move", "-100%", output="json")
    assert code == 2 and json.loads(out)["error"]["code_name"] == "invalid"


def test_faults_set_show_clear_and_a_bad_spec(admin, sim):
    code, out, _ = admin("faults", "5xx=30%,lost=0.5,seed=9")
    assert code == 0 and out.strip() == "faults: 5xx=0.3,lost=0.5,seed=9"
    code, out, _ = admin("faults", output="json")
    assert code == 0 and json.loads(out)["server_error"] == 0.3
    code, _, err = admin("faults", "5xx=3")
    assert code == 2 and "outside 0..1" in err
    code, out, _ = admin("faults", "--clear")
    assert code == 0 and out.strip() == "faults: none"


def test_counters_count_requests_orders_and_faults_and_reset(admin, sim):
    kite = kite_login(sim.url)
    kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", tag="clia", market_protection=-1)
    kite.place_order("regular", "NSE", "INFY", "SELL", 1, "MIS", "MARKET", tag="clia", market_protection=-1)
    admin("faults", "reset=1")
    with pytest.raises(requests.exceptions.ConnectionError):
        kite.orders()
    admin("faults", "--clear")
    code, out, _ = admin("counters", output="json")
    seen = json.loads(out)
    assert code == 0 and seen["orders"] == {"placed": 2, "by_tag": {"clia": 2}}
    assert seen["requests"]["POST /orders/<variety>"] == {"200": 2}
    assert seen["requests"]["GET /orders"] == {"dropped": 1} and seen["faults"] == {"reset": 1}
    code, out, _ = admin("counters")
    assert code == 0 and "POST /orders/<variety>" in out and "200×2" in out
    assert "tags used more than once: clia×2" in out and "reset×1" in out
    code, out, _ = admin("counters", "--reset", output="json")
    assert code == 0 and json.loads(out)["orders"] == {"placed": 0, "by_tag": {}}


def test_clock_set_show_and_the_exchange_follows(admin, sim):
    code, out, _ = admin("clock", "2026-11-23T09:14:55", "--frozen")
    assert code == 0 and out.strip() == "simulator clock: 2026-11-23 09:14:55 IST (frozen)"
    r = requests.get(sim.url + "/user/profile", timeout=5)
    assert r.headers["Date"] == "Mon, 23 Nov 2026 03:44:55 GMT"  # the Kite API's Date follows the clock
    code, out, _ = admin("clock", output="json")
    assert code == 0 and json.loads(out)["now"].startswith("2026-11-23T09:14:55+05:30")
    code, _, err = admin("clock", "yesterday")
    assert code == 2 and "cannot read the instant" in err


def test_position_and_resting_order_show_in_the_kite_api(admin, sim):
    kite = kite_login(sim.url)
    code, out, _ = admin("position", "NSE:INFY", "10", "--price", "1500")
    assert code == 0 and out.startswith("position NSE:INFY MIS +10 @ ₹1,500.00")
    code, out, _ = admin("position", "NSE:SBIN", "-5", "--product", "cnc", output="json")
    assert code == 0 and json.loads(out)["quantity"] == -5 and json.loads(out)["product"] == "CNC"
    held = {p["tradingsymbol"]: (p["quantity"], p["product"]) for p in kite.positions()["net"]}
    assert held == {"INFY": (10, "MIS"), "SBIN": (-5, "CNC")}
    (infy,) = [p for p in kite.positions()["net"] if p["tradingsymbol"] == "INFY"]
    assert D(repr(infy["average_price"])) == D("1500")

    code, out, _ = admin("order", "NSE:TCS", "buy", "2", "--price", "2800", "--tag", "stale1")  # inside the ±20% band
    assert code == 0 and "OPEN (tag stale1)" in out
    (order,) = [o for o in kite.orders() if o["tag"] == "stale1"]
    assert order["status"] == "OPEN" and order["order_type"] == "LIMIT"
    code, _, err = admin("order", "NSE:TCS", "BUY", "2", "--price", "1000.03")
    assert code == 2 and "tick size" in err
    code, _, err = admin("position", "NSE:INFY", "1", "--pirce", "3")
    assert code == 2


def test_status_shows_the_simulator(admin, sim):
    code, out, _ = admin("status")
    assert code == 0 and f"Kite simulator at {sim.url}: up, seed 3" in out and "faults: none" in out


def test_an_unreachable_simulator_is_exit_3(run_mci):
    for command in (["status"], ["counters"], ["price", "NSE:INFY", "1"], ["faults", "--clear"]):
        done = run_mci("sim", *command, "--url", "http://127.0.0.1:9")
        assert done.returncode == 3, command
        assert "cannot reach the Kite simulator at http://127.0.0.1:9" in done.stderr and "mci sim kite" in done.stderr
    done = run_mci("sim", "counters", "-o", "json", env={"MCI_SIM_URL": "http://127.0.0.1:9"})
    assert done.returncode == 3 and json.loads(done.stdout)["error"]["code_name"] == "unavailable"


# ---------------------------------------------------------------- the admin endpoints over HTTP


def test_admin_endpoints_json_in_and_out(sim):
    url = sim.url
    assert data(url, "POST", "price", json={"instrument": "NSE:ITC", "price": "400.05"}) == (
        200,
        {"status": "success", "data": {"instrument": "NSE:ITC", "last_price": "400.05"}},
    )
    status, body = data(url, "POST", "price", json={"instrument": "NSE:ITC", "price": 1, "move": "+1%"})
    assert status == 400 and body["error"]["what"] == "say one of price, move or clear"
    status, body = data(url, "PUT", "faults", json={"spec": 7})
    assert status == 400 and "must be text" in body["error"]["what"]
    status, body = data(url, "PUT", "clock", data=b"not json")
    assert status == 400 and body["error"]["what"] == "the admin request body is not JSON"
    status, body = data(url, "GET", "nope")
    assert status == 404 and "GET /_sim/counters" in body["error"]["why"]
    status, body = data(url, "POST", "orders", json={"instrument": "NSE:INFY", "side": "BUY", "quantity": 10**9})
    assert status == 400 and body["error"]["what"].startswith("order rejected")  # insufficient funds: FAILED
    assert body["error"]["code"] == 1


def test_admin_answers_loopback_clients_only(sim_server):
    remote = Client(sim_server.app).get("/_sim/counters", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403 and "loopback clients only" in remote.json["error"]["what"]
    local = Client(sim_server.app).get("/_sim/counters", environ_base={"REMOTE_ADDR": "::1"})
    assert local.status_code == 200
