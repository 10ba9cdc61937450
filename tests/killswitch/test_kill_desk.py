"""`mci kill --all` and `mci status --all` over a desk, through the real CLI: two paper profiles and one Kite
profile against the simulator (the real kiteconnect client), flattened concurrently, one summary, the worst
exit code; two profiles on one Kite account share one rate limiter and are latched together.
"""

from __future__ import annotations

import json
import time
from typing import Callable, TypeVar

import requests

from testing.killswitch import KITE_PROFILE, MONDAY, ROOT, book, seed_book, sim_admin
from testing.kite_sim import SIM_KEY

from mci.brokers.base import OrderRequest
from mci.brokers.factory import broker_for
from mci.clock import Clock, parse_instant
from mci.config import load_profile


def paper(tmp_path, name: str) -> str:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    path = tmp_path / "profiles" / f"{name}.yaml"
    path.write_text(
        (ROOT / "profiles" / "paper.yaml")
        .read_text(encoding="utf-8")
        .replace("\nname: paper\n", f"\nname: {name}\n", 1),
        encoding="utf-8",
    )
    return str(path)


def kite_copy(tmp_path, name: str) -> str:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    path = tmp_path / "profiles" / f"{name}.yaml"
    path.write_text(
        open(KITE_PROFILE, encoding="utf-8").read().replace("\nname: kite-sim\n", f"\nname: {name}\n", 1),
        encoding="utf-8",
    )
    return str(path)


def paper_broker(home, profile: str):
    return broker_for(load_profile(profile), home, Clock(parse_instant(MONDAY)))


def seed_paper(home, profile: str) -> None:
    b = paper_broker(home, profile)
    try:
        b.place_order(OrderRequest("NSE", "INFY", "BUY", 10, product="CNC", tag="hold"))
        b.place_order(OrderRequest("NSE", "TCS", "SELL", 2, product="MIS", tag="strat"))
    finally:
        b.close()


def paper_book(home, profile: str) -> list:
    b = paper_broker(home, profile)
    try:
        return [(p.symbol, p.quantity) for p in b.positions() if p.quantity] + [
            o.order_id for o in b.orders() if o.is_open
        ]
    finally:
        b.close()


T = TypeVar("T")


def _past_429(read: Callable[[], T]) -> T:
    """A read of the simulator's account once the 10/s of the kill that just ran have passed: this test's own
    client does not share the account's limiter (mci.brokers.ratelimit), so a read in that second gets a 429."""
    from kiteconnect.exceptions import NetworkException

    for _ in range(10):
        try:
            return read()
        except NetworkException:
            time.sleep(0.5)
    return read()


def sim_book(url: str) -> tuple[list, list]:
    return _past_429(lambda: book(url))


def square_offs(url: str) -> list[tuple[str, int, str]]:
    """The emergency square-off orders in the simulator's book (mci.flatten.tags: 20 characters, `f...`)."""
    from testing.kite_sim import kite_login

    sim_admin(url, "DELETE", "faults")
    orders = _past_429(lambda: kite_login(url).orders())
    return [
        (o["tradingsymbol"], o["quantity"], o["tag"])
        for o in orders
        if o.get("tag") and len(o["tag"]) == 20 and o["tag"].startswith("f")
    ]


def lifecycle(mci, profile: str) -> str:
    done = mci("status", "-p", profile, "-o", "json")
    return json.loads(done.stdout)["lifecycle"]["state"]


def test_kill_all_flattens_two_paper_profiles_and_one_kite_account(kite_day, sim, mci_home, tmp_path):
    mci = kite_day
    a, b = paper(tmp_path, "desk-a"), paper(tmp_path, "desk-b")
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        f"version: 1\nkind: desk\nname: trading-desk\nprofiles:\n  - profiles/desk-a.yaml\n"
        f"  - profiles/desk-b.yaml\n  - {KITE_PROFILE}\n",
        encoding="utf-8",
    )
    seed_paper(mci_home, a)
    seed_paper(mci_home, b)
    seed_book(sim.url)
    assert paper_book(mci_home, a) and book(sim.url)[0]

    status = mci("status", "--all", "--desk", str(desk), "-o", "json")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {p["profile"]: p for p in json.loads(status.stdout)["profiles"]}
    assert set(rows) == {"desk-a", "desk-b", "kite-sim"}
    assert rows["kite-sim"]["verdict"].startswith("idle; 4 position(s)")

    done = mci("kill", "--all", "--desk", str(desk), "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["exit_code"] == 0
    assert [(p["profile"], p["exit_code"], p["verdict"]) for p in out["profiles"]] == [
        ("desk-a", 0, "flat"),
        ("desk-b", 0, "flat"),
        ("kite-sim", 0, "flat"),
    ]
    assert len({p["account"] for p in out["profiles"]}) == 3
    assert paper_book(mci_home, a) == [] and paper_book(mci_home, b) == []
    assert sim_book(sim.url) == ([], [])
    for profile in (a, b, KITE_PROFILE):
        assert lifecycle(mci, profile) == "halted"

    text = mci("status", "--all", "--desk", str(desk))
    assert text.returncode == 0
    assert text.stdout.count("halted; 0 position(s), 0 open order(s)") == 3, text.stdout


def test_kill_all_reports_the_worst_exit_code_and_never_waits_for_a_broken_profile(kite_day, sim, mci_home, tmp_path):
    mci = kite_day
    a = paper(tmp_path, "desk-a")
    broken = tmp_path / "profiles" / "broken.yaml"
    broken.write_text(
        "version: 1\nkind: profile\nname: broken\nbroker: {kind: paper}\nrisk: {max_daily_loss: 90%}\n",
        encoding="utf-8",
    )
    desk = tmp_path / "desk"
    desk.mkdir()
    for p in (a, str(broken)):
        (desk / p.rsplit("/", 1)[1]).write_text(open(p, encoding="utf-8").read(), encoding="utf-8")
    seed_paper(mci_home, a)
    done = mci("kill", "--all", "-o", "json", MCI_DESK=str(desk))
    out = json.loads(done.stdout)
    verdicts = {p["profile"]: p for p in out["profiles"]}
    assert verdicts["desk-a"]["exit_code"] == 0
    assert verdicts["broken"]["exit_code"] == 2 and verdicts["broken"]["verdict"].startswith("NOT KILLED")
    assert done.returncode == 2 == out["exit_code"]
    assert paper_book(mci_home, a) == []


def test_two_profiles_on_one_kite_account_share_one_limiter_and_one_latch(kite_day, sim, mci_home, tmp_path, rate_dir):
    mci = kite_day
    other = kite_copy(tmp_path, "kite-sim-b")
    login = requests.get(
        f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False, timeout=5
    )
    assert mci("token", "login", login.headers["Location"], "-p", other).returncode == 0
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"version: 1\nkind: desk\nprofiles: [{KITE_PROFILE}, profiles/kite-sim-b.yaml]\n", encoding="utf-8")

    # One `mci kill` of one profile latches its sibling on the same account too (the desk names it).
    seed_book(sim.url)
    assert mci("scan", "-p", other).returncode == 0
    single = mci("kill", MCI_DESK=str(desk))
    assert single.returncode == 0, single.stdout + single.stderr
    assert "also latched (same Kite account): kite-sim-b" in single.stdout
    assert lifecycle(mci, other) == "halted"
    assert mci("ignite", "-p", other).returncode == 4

    for profile in (KITE_PROFILE, other):
        assert mci("reset", "--confirm", "-p", profile).returncode == 0
    seed_book(sim.url)
    sent_before = len(square_offs(sim.url))
    started = time.monotonic()
    done = mci("kill", "--all", "--desk", str(desk), "-o", "json", MCI_RATE_DIR=str(rate_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert len({p["account"] for p in out["profiles"]}) == 1
    assert [p["verdict"] for p in out["profiles"]] == ["flat", "flat"]
    assert sim_book(sim.url) == ([], [])
    # The account was closed once: four positions, four square-offs (two flattens at once would have sent eight).
    placed = square_offs(sim.url)
    assert len(placed) - sent_before == 4, placed
    assert lifecycle(mci, KITE_PROFILE) == lifecycle(mci, other) == "halted"
    # Both profiles' processes were admitted by one limiter: the account's one state file.
    assert [p.name for p in rate_dir.glob("kite-*.json")] == [f"{out['profiles'][0]['account']}.json"]
    assert time.monotonic() - started < 120


def test_a_slow_account_does_not_delay_the_others(kite_day, sim, mci_home, tmp_path):
    """The simulator answers every request after 400 ms: the Kite kill takes seconds, the paper kills do not wait
    for it (each verdict is printed as it arrives: the paper ones first)."""
    mci = kite_day
    a, b = paper(tmp_path, "desk-a"), paper(tmp_path, "desk-b")
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        f"version: 1\nkind: desk\nprofiles: [{KITE_PROFILE}, profiles/desk-a.yaml, profiles/desk-b.yaml]\n",
        encoding="utf-8",
    )
    seed_paper(mci_home, a)
    seed_paper(mci_home, b)
    seed_book(sim.url)
    sim_admin(sim.url, "PUT", "faults", spec="latency=400ms")
    done = mci("kill", "--all", "--desk", str(desk))
    sim_admin(sim.url, "DELETE", "faults")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and " exit " in line]
    assert lines[-1] == "kite-sim" and sorted(lines[:2]) == ["desk-a", "desk-b"], done.stdout
    assert "DESK FLAT — 3 of 3 profile(s) flat and latched; exit 0" in done.stdout
    assert sim_book(sim.url) == ([], []) and paper_book(mci_home, a) == [] == paper_book(mci_home, b)


def test_an_account_still_flattening_at_the_desk_deadline_is_reported_without_a_verdict(
    kite_day, sim, mci_home, tmp_path
):
    """MCI_DESK_WITHIN=2s and a simulator answering after 1.5 s: the paper verdict is in, the Kite kill is
    reported as still running (exit 7, its pid) and left to finish on its own: it is never cut short."""
    from testing.killswitch import alive

    mci = kite_day
    a = paper(tmp_path, "desk-a")
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"version: 1\nkind: desk\nprofiles: [profiles/desk-a.yaml, {KITE_PROFILE}]\n", encoding="utf-8")
    seed_paper(mci_home, a)
    seed_book(sim.url)
    sim_admin(sim.url, "PUT", "faults", spec="latency=1500ms")
    done = mci("kill", "--all", "--desk", str(desk), "-o", "json", MCI_DESK_WITHIN="2s")
    out = json.loads(done.stdout)
    verdicts = {p["profile"]: p for p in out["profiles"]}
    assert verdicts["desk-a"]["verdict"] == "flat"
    assert verdicts["kite-sim"]["exit_code"] == 7 and verdicts["kite-sim"]["verdict"].startswith("NO VERDICT")
    assert done.returncode == 7 == out["exit_code"]
    pid = int(verdicts["kite-sim"]["verdict"].split("(pid ")[1].split(")")[0])
    assert alive(pid)  # left running
    sim_admin(sim.url, "DELETE", "faults")
    deadline = time.monotonic() + 120
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid)
    report = json.loads((mci_home / "reports" / out["reports"].rsplit("/", 1)[1] / "kite-sim.out").read_text())
    assert report["flat"] is True  # it finished on its own, into the desk's report directory
    assert sim_book(sim.url) == ([], [])
