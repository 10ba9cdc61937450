"""What a graceful shutdown leaves behind for the rest of the day: the stops of kept positions, a session the
kill switch can still use (unless revoked, and then the broker refuses it), and a journal whose `done`
and the lifecycle's `stopped` are one transaction.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from testing.killswitch import KITE_PROFILE, ROOT, WEDNESDAY, book, seed_book
from testing.kite_sim import SIM_KEY, SIM_SECRET

from mci.brokers.base import OrderRequest
from mci.brokers.factory import broker_for
from mci.brokers.sim.exchange import round_to_tick
from mci.clock import Clock, parse_instant
from mci.config import load_profile
from mci.resources import default_profile


def paper_profile(tmp_path, extra: str = "") -> str:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    text = text.replace("complete_pending: {within: 5s}", "complete_pending: {within: 1s" + extra + "}", 1)
    path = tmp_path / "profiles" / "paper.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def seed_paper(home) -> dict[str, str]:
    """A CNC long with its SL stop, an MIS short with none, and a resting limit order: {name: order_id}."""
    broker = broker_for(load_profile(default_profile()), home, Clock(parse_instant(WEDNESDAY)))
    try:
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 10, product="CNC", tag="seedcnc"))
        broker.place_order(OrderRequest("NSE", "TCS", "SELL", 2, product="MIS", tag="seedmis"))
        ltp = broker.ltp(["NSE:INFY", "NSE:SBIN"])
        trigger = round_to_tick(ltp["NSE:INFY"] * Decimal("0.95"), Decimal("0.05"))
        stop = broker.place_order(
            OrderRequest(
                "NSE",
                "INFY",
                "SELL",
                10,
                order_type="SL",
                product="CNC",
                price=trigger - Decimal("0.05"),
                trigger_price=trigger,
                tag="seedstop",
            )
        )
        limit = broker.place_order(
            OrderRequest(
                "NSE",
                "SBIN",
                "BUY",
                1,
                order_type="LIMIT",
                product="MIS",
                price=round_to_tick(ltp["NSE:SBIN"] * Decimal("0.9"), Decimal("0.05")),
                tag="seedlimit",
            )
        )
        return {"stop": stop, "limit": limit}
    finally:
        broker.close()


def open_ids(home) -> set[str]:
    broker = broker_for(load_profile(default_profile()), home, Clock(parse_instant(WEDNESDAY)))
    try:
        return {o.order_id for o in broker.orders() if o.is_open}
    finally:
        broker.close()


def test_graceful_shutdown_keeps_the_stop_of_a_kept_position_and_names_the_unprotected(run_mci, mci_home, tmp_path):
    profile = paper_profile(tmp_path)
    ids = seed_paper(mci_home)
    env = {"MCI_AT": WEDNESDAY}
    assert run_mci("scan", "-p", profile, env=env).returncode == 0
    down = run_mci("shutdown", "-p", profile, env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert open_ids(mci_home) == {ids["stop"]}  # the stop rests, the limit order was cancelled
    assert "1 protective stop(s) kept" in down.stdout
    assert "kept WITHOUT a stop: NSE:TCS MIS -2" in down.stdout
    report = json.loads(next((mci_home / "reports").glob("paper-*.json")).read_text())
    assert report["unprotected"] == ["NSE:TCS MIS -2"]


def test_keep_stops_false_cancels_them_with_the_rest(run_mci, mci_home, tmp_path):
    profile = paper_profile(tmp_path, ", keep_stops: false")
    seed_paper(mci_home)
    env = {"MCI_AT": WEDNESDAY}
    assert run_mci("scan", "-p", profile, env=env).returncode == 0
    down = run_mci("shutdown", "-p", profile, "-o", "json", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert open_ids(mci_home) == set()
    assert sorted(json.loads(down.stdout)["unprotected"]) == ["NSE:INFY CNC +10", "NSE:TCS MIS -2"]


def test_a_kill_between_the_last_step_and_the_run_done_leaves_both_undone(mci_home, monkeypatch):
    """`stopped` and the run's `done` are one transaction: a crash between them leaves neither, and the rerun
    finishes both (before, the lifecycle read stopped beside an unfinished run)."""
    from mci.engine import shutdown as core
    from mci.engine.scan import run_scan
    from mci.store.journal import Journal
    from mci.store.state import StateStore

    profile = load_profile(default_profile())
    clock = Clock(parse_instant(WEDNESDAY))
    assert run_scan(profile, clock, mci_home).lifecycle_state == "armed"
    real_finish = Journal.finish

    def crash(self, run_id, status, now, error=None):
        real_finish(self, run_id, status, now, error)
        if status == "done":
            raise KeyboardInterrupt  # the process dies inside the transaction: nothing of it commits

    monkeypatch.setattr(Journal, "finish", crash)
    with pytest.raises(KeyboardInterrupt):
        core.shutdown(profile, clock, mci_home)
    store = StateStore.open(mci_home)
    try:
        assert store.lifecycle("paper").state == "stopping"
        assert Journal(store, "paper").unfinished("graceful") is not None
    finally:
        store.close()
    monkeypatch.setattr(Journal, "finish", real_finish)
    again = core.shutdown(profile, clock, mci_home)
    assert again.lifecycle_state == "stopped" and again.result.resumed
    store = StateStore.open(mci_home)
    try:
        assert Journal(store, "paper").unfinished("graceful") is None
    finally:
        store.close()


def kite_graceful(tmp_path, revoke: bool) -> str:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    text = (ROOT / "profiles" / "kite-sim.yaml").read_text(encoding="utf-8")
    text += (
        "\nshutdown:\n  graceful:\n    use: shutdown/graceful\n    override:\n"
        "      complete_pending: {within: 1s}\n" + ("      clear_secrets: {revoke: true}\n" if revoke else "")
    )
    path = tmp_path / "profiles" / "kite-sim.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def stored_token(home) -> str:
    from mci.store.token_store import open_token_store

    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET}
    return open_token_store(load_profile(KITE_PROFILE, env=env), home, env={}).load().access_token


def test_after_a_graceful_shutdown_the_kill_can_still_read_and_flatten(kite_day, sim, mci_home, tmp_path):
    mci = kite_day
    profile = kite_graceful(tmp_path, revoke=False)
    assert mci("scan", "-p", profile).returncode == 0
    down = mci("shutdown", "-p", profile)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "kept for `mci kill` only" in down.stdout
    status = mci("token", "status", "-p", profile)
    assert status.returncode == 1  # cleared for every ordinary command
    seed_book(sim.url, symbols=("INFY", "TCS"))  # the account moves after the engine stopped
    kill = mci("kill", "-p", profile)
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert book(sim.url) == ([], [])
    assert mci("token", "clear", "-p", profile).returncode == 0
    assert not list((mci_home / "tokens").glob("*.emergency"))


def test_revoke_invalidates_the_session_at_the_broker_and_the_kill_says_so(kite_day, sim, mci_home, tmp_path):
    mci = kite_day
    profile = kite_graceful(tmp_path, revoke=True)
    token = stored_token(mci_home)
    ok = requests.get(
        f"{sim.url}/user/profile", headers={"X-Kite-Version": "3", "Authorization": f"token sim-key:{token}"}, timeout=5
    )
    assert ok.status_code == 200
    assert mci("scan", "-p", profile).returncode == 0
    down = mci("shutdown", "-p", profile)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "token revoked at the broker" in down.stdout
    refused = requests.get(
        f"{sim.url}/user/profile", headers={"X-Kite-Version": "3", "Authorization": f"token sim-key:{token}"}, timeout=5
    )
    assert refused.status_code == 403 and refused.json()["error_type"] == "TokenException"
    assert not list((mci_home / "tokens").glob("*.emergency"))
    kill = mci("kill", "-p", profile, MCI_VERIFY_WITHIN="2s")
    assert kill.returncode == 7, kill.stdout + kill.stderr
    assert "revoked" in kill.stdout and "mci token login" in kill.stdout
