"""`mci kill` on a paper account holding F&O above the freeze quantity, cover orders and GTTs: flat, sliced, every
GTT deleted and audited; a profile that keeps its GTTs keeps them (issue 13)."""

from __future__ import annotations

import json
from decimal import Decimal as D

from mci.brokers.base import OrderRequest
from mci.brokers.factory import broker_for
from mci.clock import Clock, parse_instant
from mci.config import load_profile
from testing.killswitch import ROOT, WEDNESDAY

GTT = {
    "type": "single",
    "condition": {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": ["1400"]},
    "orders": [{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": "1400"}],
}


def paper_profile(tmp_path, *, keep_gtts: bool = False) -> str:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    if keep_gtts:
        text = text.replace(
            "emergency: {use: shutdown/emergency}",
            "emergency: {use: shutdown/emergency, override: {delete_gtts: {enabled: false}}}",
        )
    path = tmp_path / "profiles" / "paper.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def seed(profile: str, mci_home) -> None:
    broker = broker_for(load_profile(profile), mci_home, Clock(parse_instant(WEDNESDAY)))
    ex = broker.exchange
    ex.set_cash(D("100000000"))  # F&O notional: a future of 40 NIFTY lots blocks ~1 crore
    now = ex.clock.now()
    ex.seed_position("NFO", "NIFTY26DECFUT", "NRML", 65 * 40, ex.price_at("NFO", "NIFTY26DECFUT", now))
    ex.seed_position("NFO", "BANKNIFTY26DEC59000PE", "MIS", -30 * 25, ex.price_at("NFO", "BANKNIFTY26DEC59000PE", now))
    ltp = ex.price_at("NSE", "SBIN", now)
    broker.place_order(
        OrderRequest(
            "NSE",
            "SBIN",
            "BUY",
            10,
            "MARKET",
            "CO",
            market_protection=D(-1),
            trigger_price=(ltp * D("0.95")).quantize(D("0.05")) // D("0.05") * D("0.05"),
            variety="co",
        )
    )
    for _ in range(3):
        ex.place_gtt(GTT)
    broker.close()


def test_the_kill_slices_exits_exits_cover_orders_and_deletes_gtts_audited(run_mci, mci_home, tmp_path):
    profile = paper_profile(tmp_path)
    seed(profile, mci_home)
    env = {"MCI_AT": WEDNESDAY}
    kill = run_mci("kill", "-p", profile, env=env)
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert "3 GTT(s) deleted" in kill.stdout
    broker = broker_for(load_profile(profile), mci_home, Clock(parse_instant(WEDNESDAY)))
    try:
        assert [p for p in broker.positions() if p.quantity] == []
        assert {g.status for g in broker.gtts()} == {"deleted"}
        nifty = [o for o in broker.orders() if o.symbol == "NIFTY26DECFUT"]
        assert sorted(o.quantity for o in nifty) == [845, 1755]  # 40 lots: 27 + 13, never above 1,755
        [leg] = [o for o in broker.orders() if o.parent_order_id]
        assert leg.status == "COMPLETE" and leg.variety == "co"  # exited, not cancelled
    finally:
        broker.close()
    tail = run_mci("audit", "tail", "-n", "500", "-o", "json", "--kind", "order", env=env)
    assert tail.returncode == 0, tail.stderr
    records = [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    events = [r["data"].get("event") for r in records if isinstance(r.get("data"), dict)]
    assert events.count("gtt.delete.before") == 3 and events.count("gtt.delete.after") == 3
    again = run_mci("kill", "-p", profile, env=env)  # idempotent: nothing active, nothing sent
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Delete every active GTT" in again.stdout and "no active GTTs" in again.stdout


def test_a_profile_can_keep_its_gtts_through_the_kill(run_mci, mci_home, tmp_path):
    profile = paper_profile(tmp_path, keep_gtts=True)
    seed(profile, mci_home)
    kill = run_mci("kill", "-p", profile, env={"MCI_AT": WEDNESDAY})
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert "GTTs kept (enabled: false)" in kill.stdout
    broker = broker_for(load_profile(profile), mci_home, Clock(parse_instant(WEDNESDAY)))
    try:
        assert {g.status for g in broker.gtts()} == {"active"}
    finally:
        broker.close()
