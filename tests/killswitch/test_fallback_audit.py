"""audit.fallback.jsonl: append-only, hash-chained like the audit table, continued across runs, verifiable."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from mci.store.fallback import FallbackAudit, FallbackStore, fallback_path, read_fallback, verify_fallback

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=timezone.utc)


def test_records_chain_across_writers_and_an_edit_or_a_removal_breaks_the_chain(tmp_path):
    path = fallback_path(tmp_path)
    FallbackAudit(path).append("emergency", {"event": "started"}, NOW, profile="paper")
    store = FallbackStore(tmp_path)  # a later degraded run continues the same chain
    try:
        store.append_audit("order", {"event": "cancel", "order_id": "1"}, NOW, profile="paper")
        with store.transaction():
            store.set_lifecycle("paper", "halted", "kill", NOW)  # the tables live in memory for the run
        assert store.lifecycle("paper").state == "halted"
    finally:
        store.close()
    FallbackAudit(path).append("emergency", {"event": "verdict", "flat": True}, NOW, profile="paper")
    assert [r.seq for r in read_fallback(path)] == [1, 2, 3]
    assert verify_fallback(path) is None
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    lines = path.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[1])
    edited["data"]["order_id"] = "2"
    path.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n", encoding="utf-8")
    assert verify_fallback(path).seq == 2
    path.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")
    assert verify_fallback(path).seq == 3
