"""The rehearsal an operator runs: `mci scan` on the shipped profiles/kite-sim.yaml against `mci sim kite`
in another process — healthy, under 30% injected 5xx, and stopped (exit 3, the breaker opens and stays open
for the next invocation). Every step is the real CLI in a subprocess; only 127.0.0.1 is reached."""

from __future__ import annotations

import json
import time

import requests

from testing.kite_sim import ROOT, SIM_KEY, SIM_SECRET

PROFILE = str(ROOT / "profiles" / "kite-sim.yaml")
AT = "2026-11-23T10:00"  # a Monday, in session (IST); the simulator's clock starts there too


def checks(scan) -> dict:
    return {c["id"]: c for c in json.loads(scan.stdout)["checks"]}


def test_scan_passes_survives_5xx_and_fails_unavailable_with_the_breaker_open(start_sim, run_mci):
    sim = start_sim("--at", AT)
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": AT}
    outputs = []

    def mci(*args: str):
        done = run_mci(*args, env=env)
        outputs.append(done.stdout + done.stderr)
        return done

    # Morning login through the simulator's real flow: the redirect URL is what a browser would land on.
    login = requests.get(
        f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False, timeout=5
    )
    assert mci("token", "login", login.headers["Location"], "-p", PROFILE).returncode == 0, outputs[-1]

    scan = mci("scan", "-p", PROFILE, "-o", "json")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert json.loads(scan.stdout)["lifecycle"]["state"] == "armed"
    broker_checks = ("token_validity", "token_expiry", "broker_connectivity", "balance", "positions", "order_queue")
    assert all(checks(scan)[cid]["status"] == "passed" for cid in broker_checks)

    # 30% of Kite requests answer 500/502/503/504: the retries carry the scan through.
    assert mci("sim", "faults", "5xx=0.3,seed=5").returncode == 0
    assert mci("sim", "counters", "--reset").returncode == 0
    scan = mci("scan", "-p", PROFILE, "-o", "json")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    seen = json.loads(mci("sim", "counters", "-o", "json").stdout)
    assert seen["faults"]["5xx"] >= 1, seen  # faults were met, and retried
    assert seen["orders"]["placed"] == 0  # a scan never places an order

    # The simulator goes away: unavailable (exit 3), not a verdict on the day (exit 1).
    assert sim.stop() == 0
    scan = mci("scan", "-p", PROFILE, "-o", "json")
    assert scan.returncode == 3, scan.stdout + scan.stderr
    token = checks(scan)["token_validity"]
    assert token["status"] == "failed" and token["error"]["code"] == "unavailable" and token["attempts"] == 3
    assert json.loads(scan.stdout)["lifecycle"]["state"] == "blocked"

    # The next invocation still sees the breaker open (state DB), and the next scan does not call the broker.
    status = mci("breaker", "status", "-p", PROFILE, "-o", "json")
    (broker,) = json.loads(status.stdout)["breakers"]
    assert status.returncode == 0 and broker["state"] == "open" and broker["failures"] >= broker["fail_max"]
    t0 = time.monotonic()
    scan = mci("scan", "-p", PROFILE, "-o", "json")
    assert scan.returncode == 3
    assert "circuit breaker broker is open" in checks(scan)["token_validity"]["error"]["what"]
    assert checks(scan)["circuit_breakers"]["status"] == "failed"
    assert time.monotonic() - t0 < 4  # refused at once: no retries against a dead broker

    assert all(SIM_SECRET not in text for text in outputs)


def test_order_path_fails_from_an_unregistered_ip_naming_it_and_passes_once_registered(start_sim, run_mci, tmp_path):
    # Kite's static-IP rule: reads work from anywhere, so only a write proves the kill switch could act.
    sim = start_sim("--at", AT, "--order-ips", "203.0.113.7")
    assert "order writes (place/modify/cancel) allowed from: 203.0.113.7" in sim.stdout
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": AT}
    login = requests.get(
        f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False, timeout=5
    )
    assert run_mci("token", "login", login.headers["Location"], "-p", PROFILE, env=env).returncode == 0

    scan = run_mci("scan", "-p", PROFILE, "-o", "json", env=env)
    assert scan.returncode == 1, scan.stdout + scan.stderr
    path = checks(scan)["order_path"]
    assert path["status"] == "failed"
    assert "127.0.0.1" in path["error"]["what"] and "IP Whitelist" in path["error"]["how"]
    assert "login" not in path["error"]["how"]
    assert checks(scan)["broker_connectivity"]["status"] == "passed"  # the reads pass: only the write tells

    assert run_mci("sim", "order-ips", "127.0.0.1,::1", env=env).returncode == 0
    scan = run_mci("scan", "-p", PROFILE, "-o", "json", env=env)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert checks(scan)["order_path"]["status"] == "passed"
    seen = json.loads(run_mci("sim", "counters", "-o", "json", env=env).stdout)
    assert seen["orders"]["placed"] == 0  # the probe trades nothing

    # broker.static_ips: this host reaches the simulator from 127.0.0.1; a declared address it lacks warns.
    text = (ROOT / "profiles" / "kite-sim.yaml").read_text(encoding="utf-8")
    for ips, status in (("[203.0.113.7]", "warned"), ("[127.0.0.1]", "passed")):
        profile = tmp_path / f"kite-ips-{status}.yaml"
        profile.write_text(
            text.replace("  market_protection: -1\n", f"  market_protection: -1\n  static_ips: {ips}\n").replace(
                "../schemas/", str(ROOT / "schemas") + "/"
            ),
            encoding="utf-8",
        )
        scan = run_mci("scan", "-p", str(profile), "-o", "json", env=env)
        assert checks(scan)["order_path"]["status"] == status, scan.stdout + scan.stderr
