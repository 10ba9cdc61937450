"""The rehearsal an operator runs: `mci scan` on the shipped profiles/kite-sim.yaml against `mci sim kite`
in another process — healthy, under 30% injected 5xx, and stopped (exit 3, the breaker opens and stays open
for the next invocation). Every step is the real CLI in a subprocess; only 127.0.0.1 is reached."""

from __future__ import annotations

import json
import time

import requests

from sim_support import ROOT, SIM_KEY, SIM_SECRET

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
    login = requests.get(f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False,
                         timeout=5)
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
