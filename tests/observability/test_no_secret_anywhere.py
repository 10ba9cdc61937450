"""THE secret test: a Kite-simulator day (the real login flow, scan, watch --once, kill) with every
observability output switched on (-vv logs, --metrics-file, a command notifier), then every file under
MCI_HOME, the notifier's output and every stdout/stderr are searched for the access token the simulator
issued and the api secret: neither appears anywhere."""

from __future__ import annotations


import pytest
import requests

from testing.kite_sim import SIM_KEY, SIM_SECRET, sim_process
from testing.observability import MONDAY, parse_metrics, profile_with, recorder, wait_bodies, wait_log

EVENTS = ["kill_switch", "scan_failed", "shutdown_incomplete", "token_expiring", "watcher_died"]


@pytest.fixture
def sim(tmp_path):
    home = tmp_path / "sim-home"  # the simulator's own state (it knows the token it issued) is not mci's
    home.mkdir()
    with sim_process(home, "--at", MONDAY) as running:
        yield running


def test_no_token_nor_api_secret_in_any_file_or_stream(sim, run_mci, mci_home, tmp_path, monkeypatch):
    out = tmp_path / "notified.jsonl"
    profile = profile_with(tmp_path, [recorder(out, on=EVENTS)], base="kite-sim.yaml")
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": MONDAY}
    streams: list[str] = []

    def mci(*args: str):
        done = run_mci("-vv", *args, env=env, timeout=90)
        streams.extend([done.stdout, done.stderr])
        return done

    login = requests.get(
        f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False, timeout=5
    )
    assert mci("token", "login", login.headers["Location"], "-p", str(profile)).returncode == 0, streams[-1]

    # The access token the simulator issued, read back from the encrypted store.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from mci.config import load_profile
    from mci.store.token_store import open_token_store

    token = open_token_store(load_profile(profile), mci_home).load().access_token
    assert len(token) >= 16

    # A position and a resting order, so the kill really cancels and squares off.
    admin = sim.url + "/_sim/"
    ltp = requests.get(admin + "price", params={"i": "NSE:INFY"}, timeout=10).json()["data"]["last_price"]
    for path, body in (
        ("positions", {"instrument": "NSE:INFY", "quantity": 10, "price": str(ltp)}),
        ("orders", {"instrument": "NSE:ITC", "side": "BUY", "quantity": 1, "price": "350"}),
    ):
        assert requests.post(admin + path, json=body, timeout=10).status_code == 200

    prom = mci_home / "metrics" / "mci.prom"
    prom.parent.mkdir()
    scan = mci("scan", "-p", str(profile), "--metrics-file", str(prom))
    assert scan.returncode == 0, scan.stdout + scan.stderr
    parse_metrics(prom.read_text())
    watch = mci("watch", "--once", "-p", str(profile), "--metrics-file", str(prom))
    assert watch.returncode == 0, watch.stdout + watch.stderr
    families = parse_metrics(prom.read_text())
    assert [s.value for s in families["mci_open_positions"]] == [1]
    assert families["mci_token_expiry_seconds"][0].value > 0
    kill = mci("kill", "-p", str(profile), "--metrics-file", str(prom))
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert "order.place: placed" in kill.stderr  # the order actions were logged (scrubbed)
    assert [b["event"] for b in wait_bodies(out, 1)] == ["kill_switch"]
    wait_log(mci_home, lambda m: m == "notified kill_switch by command")
    streams.append(out.read_text(encoding="utf-8"))

    searched = []
    for path in sorted(p for p in mci_home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        searched.append(path.relative_to(mci_home).as_posix())
        for secret in (token, SIM_SECRET):
            assert secret.encode() not in data, f"{secret[:4]}… found in {path}"
    for text in streams:
        assert token not in text and SIM_SECRET not in text
    # What was searched: logs, metrics, the state database, the encrypted token store, reports...
    assert {"logs/mci.jsonl", "metrics/mci.prom", "state.db"} <= set(searched), searched
