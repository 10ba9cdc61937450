"""Token events in the audit trail: login, set, a failed login, expiry; never the token, request token or secret."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from mci.clock import Clock, zone
from mci.commands import token as command
from mci.errors import MciError
from mci.store.state import StateStore

IST = zone("Asia/Kolkata")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
SECRET = "api-s3cret-Do-Not-Show"
REQUEST = "reqT0ken12345abcdef"
TOKEN = "acc3ssT0kenZZ9f8e7d6c5b4a3928"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def profile():
    from mci.config import load_profile

    return load_profile(
        ROOT / "profiles" / "kite-sim.yaml", env={"KITE_API_KEY": "simkey-4321", "KITE_API_SECRET": SECRET}
    )


def token_records(home: Path) -> list[dict]:
    store = StateStore.open(home)
    try:
        return [r.data for r in store.audit_records() if r.kind == "token"]
    finally:
        store.close()


def test_login_failure_login_and_expiry_are_audited_without_secrets(tmp_path, profile, capsys):
    def refuse(_):
        raise RuntimeError(f"Token is invalid: {REQUEST} {SECRET}")

    with pytest.raises(MciError):
        command.login(
            profile, Clock(NOW, frozen=True), tmp_path, request_token=REQUEST, generate_session=refuse, env={}
        )
    command.login(
        profile,
        Clock(NOW, frozen=True),
        tmp_path,
        request_token=REQUEST,
        env={},
        generate_session=lambda _: {"access_token": TOKEN, "user_id": "AB1234"},
    )
    later = Clock(datetime(2026, 11, 24, 7, 0, tzinfo=IST), frozen=True)
    assert command.status(profile, later, tmp_path, env={}) == 1
    assert command.status(profile, later, tmp_path, env={}) == 1  # the same dead token: one record
    capsys.readouterr()
    events = token_records(tmp_path)
    assert [e["event"] for e in events] == ["login_failed", "saved", "expired"]
    assert events[1]["how"] == "login" and events[2]["expires_at"] == "2026-11-24T06:00:00+05:30"
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    for secret in (TOKEN, SECRET, REQUEST):
        assert secret not in dump and secret not in json.dumps(events)
