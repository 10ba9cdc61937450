"""The encrypted token store: real files, real AES-256-GCM, real SQLite audit."""

from __future__ import annotations

import base64
import os
import secrets
import sqlite3
import stat
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mci.clock import Clock, zone
from mci.errors import ExitCode, MciError, UsageError
from mci.observability.redact import redact, redact_error
from mci.store.state import StateStore
from mci.store.token_store import (
    DECRYPT_FAILED,
    GENERATE_KEY,
    MAGIC,
    KeySource,
    TokenRecord,
    TokenStore,
    open_token_store,
    parse_key,
)

IST = zone("Asia/Kolkata")
ISSUED = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
TOKEN = "tok_" + "Q7x9LmN2pR4sT6vW8yZ0aB1cD3eF5gH7"  # distinctive, so a leak cannot hide


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def record() -> TokenRecord:
    return TokenRecord.issued(TOKEN, "AB1234", "kitekey9876", ISSUED)


def _store(tmp_path: Path, key, **kw) -> TokenStore:
    kw.setdefault("env", {})
    return TokenStore(tmp_path / "tokens" / "paper.token", key, **kw)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip(tmp_path, key, record):
    store = _store(tmp_path, key)
    assert store.load() is None
    store.save(record)
    loaded = store.load()
    assert (loaded.access_token, loaded.user_id, loaded.api_key_hint) == (TOKEN, "AB1234", "9876")
    assert loaded.issued_at == ISSUED
    assert loaded.expires_at == datetime(2026, 11, 24, 6, 0, tzinfo=IST)


def test_file_is_versioned_encrypted_and_freshly_nonced(tmp_path, key, record):
    store = _store(tmp_path, key)
    store.save(record)
    first = store.path.read_bytes()
    store.save(record)
    second = store.path.read_bytes()
    assert first[:4] == MAGIC == b"MCI1"
    assert first[4:16] != second[4:16]  # a new 12-byte nonce per write
    for blob in (first, second):
        assert TOKEN.encode() not in blob and b"AB1234" not in blob
    assert [p.name for p in store.path.parent.iterdir()] == ["paper.token"]  # no temp file left behind


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_file_mode_is_exactly_0600_whatever_the_umask(tmp_path, key, record, umask):
    old = os.umask(umask)
    try:
        store = _store(tmp_path, key)
        store.save(record)
        store.save(record)  # the replace path too
    finally:
        os.umask(old)
    assert _mode(store.path) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_a_token_file_others_can_use_is_refused(tmp_path, key, record, mode):
    store = _store(tmp_path, key)
    store.save(record)
    os.chmod(store.path, mode)
    with pytest.raises(MciError) as refused:
        store.load()
    err = refused.value
    assert err.code == ExitCode.INVALID
    assert str(store.path) in err.what
    assert f"chmod 600 {store.path}" in err.how
    assert TOKEN not in err.render()


def _key_file(tmp_path: Path, key: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "keys" / "token.key"
    path.parent.mkdir(exist_ok=True)
    path.write_text(base64.b64encode(key).decode() + "\n")
    os.chmod(path, mode)
    return path


def test_key_from_a_file(tmp_path, key, record):
    path = _key_file(tmp_path, key)
    _store(tmp_path, KeySource(key_file=path)).save(record)
    assert _store(tmp_path, key).load().access_token == TOKEN  # the same key, given directly


def test_a_key_file_others_can_read_is_refused(tmp_path, key, record):
    path = _key_file(tmp_path, key, 0o644)
    with pytest.raises(MciError) as refused:
        _store(tmp_path, KeySource(key_file=path)).save(record)
    assert refused.value.code == ExitCode.INVALID
    assert f"chmod 600 {path}" in refused.value.how
    assert not (tmp_path / "tokens" / "paper.token").exists()


def test_a_missing_key_file_says_how_to_make_one(tmp_path, record):
    path = tmp_path / "nope.key"
    with pytest.raises(UsageError) as missing:
        _store(tmp_path, KeySource(key_file=path)).save(record)
    assert str(path) in missing.value.what and GENERATE_KEY in missing.value.how


def test_the_wrong_key_is_a_clean_error(tmp_path, key, record):
    _store(tmp_path, key).save(record)
    with pytest.raises(MciError) as wrong:
        _store(tmp_path, secrets.token_bytes(32)).load()
    assert wrong.value.what == DECRYPT_FAILED
    assert wrong.value.code == ExitCode.INVALID
    assert wrong.value.__cause__ is None and wrong.value.__suppress_context__  # no chained traceback
    assert TOKEN not in wrong.value.render()


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_a_flipped_byte_is_a_clean_error(tmp_path, key, record, where):
    store = _store(tmp_path, key)
    store.save(record)
    blob = bytearray(store.path.read_bytes())
    index = {"nonce": 4 + 5, "ciphertext": 4 + 12 + 3, "tag": len(blob) - 1}[where]
    blob[index] ^= 0x01
    store.path.write_bytes(bytes(blob))
    os.chmod(store.path, 0o600)
    with pytest.raises(MciError) as tampered:
        store.load()
    assert tampered.value.what == DECRYPT_FAILED


def test_the_format_version_is_authenticated_and_checked(tmp_path, key, record):
    store = _store(tmp_path, key)
    store.save(record)
    blob = store.path.read_bytes()
    store.path.write_bytes(b"MCI2" + blob[4:])
    with pytest.raises(MciError) as newer:
        store.load()
    assert "format" in newer.value.what and newer.value.code == ExitCode.INVALID
    store.path.write_bytes(b"garbage")
    with pytest.raises(MciError) as junk:
        store.load()
    assert "not an mci token store" in junk.value.what


@pytest.mark.parametrize(
    "encode",
    [
        lambda k: base64.b64encode(k).decode(),
        lambda k: k.hex(),
        lambda k: base64.urlsafe_b64encode(k).decode(),
        lambda k: k.hex().upper(),
    ],
)
def test_keys_in_base64_or_hex(key, encode):
    assert parse_key(f"  {encode(key)}\n", "MCI_TOKEN_KEY") == key


@pytest.mark.parametrize("text", [base64.b64encode(b"x" * 16).decode(), "ab" * 31, "not a key at all!", "é" * 44, ""])
def test_bad_keys_are_refused_without_echoing_them(text):
    with pytest.raises(UsageError) as bad:
        parse_key(text, "MCI_TOKEN_KEY")
    err = bad.value
    assert "MCI_TOKEN_KEY" in err.what and GENERATE_KEY in err.how and err.code == ExitCode.INVALID
    if text:
        assert text not in err.render()


def test_record_repr_and_str_hide_the_token(record):
    for text in (repr(record), str(record), f"{record}", repr([record])):
        assert TOKEN not in text
        assert "access_token='***'" in text
    assert "AB1234" in repr(record)
    assert TOKEN not in str(record.public_dict())


def test_clear_overwrites_removes_and_audits(tmp_path, key, record):
    state = StateStore.open(tmp_path)
    clock = Clock(ISSUED + timedelta(hours=1), frozen=True)
    store = _store(tmp_path, key, audit=state, clock=clock, profile="paper")
    store.save(record)
    assert store.clear() is True
    assert not store.path.exists()
    assert store.clear() is False
    events = [(r.kind, r.profile, r.data) for r in state.audit_records()]
    assert events == [
        ("token", "paper", {"event": "saved", "user_id": "AB1234", "expires_at": "2026-11-24T06:00:00+05:30"}),
        ("token", "paper", {"event": "cleared", "user_id": "AB1234", "expires_at": "2026-11-24T06:00:00+05:30"}),
    ]


def test_clear_works_without_the_key(tmp_path, key, record):
    _store(tmp_path, key).save(record)
    store = _store(tmp_path, secrets.token_bytes(32))
    assert store.clear() is True and not store.path.exists()


def test_the_token_never_reaches_the_state_database(tmp_path, key, record):
    state = StateStore.open(tmp_path)
    store = _store(tmp_path, key, audit=state, profile="paper")
    store.save(record)
    store.load()
    store.status(ISSUED)
    store.clear()
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    assert "saved" in dump and "cleared" in dump
    assert TOKEN not in dump
    for path in tmp_path.glob("state.db*"):  # the WAL too
        assert TOKEN.encode() not in path.read_bytes()


def test_status(tmp_path, key, record):
    store = _store(tmp_path, key)
    missing = store.status(ISSUED)
    assert (missing.state, missing.expires_at, missing.usable) == ("missing", None, False)
    store.save(record)
    expires = datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    valid = store.status(ISSUED + timedelta(hours=1))
    assert (valid.state, valid.expires_at, valid.remaining) == ("valid", expires, timedelta(hours=20))
    assert store.status(expires - timedelta(seconds=1)).state == "expiring"
    assert store.status(expires - timedelta(seconds=1)).usable
    expired = store.status(expires)
    assert (expired.state, expired.usable, expired.remaining) == ("expired", False, timedelta(0))
    assert TOKEN not in str(valid.as_dict())


def test_memory_only_mode_reads_the_environment_and_writes_nothing(tmp_path, key, record):
    env = {"MCI_ACCESS_TOKEN": TOKEN, "MCI_USER_ID": "AB1234", "MCI_TOKEN_ISSUED_AT": "2026-11-23T09:00"}
    store = _store(tmp_path, None, env=env)
    assert store.memory_only
    loaded = store.load()
    assert (loaded.access_token, loaded.user_id, loaded.source) == (TOKEN, "AB1234", "env")
    assert loaded.expires_at == datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    with pytest.raises(UsageError) as refused:
        store.save(record)
    assert "memory-only" in refused.value.what and "MCI_ACCESS_TOKEN" in refused.value.why
    assert TOKEN not in refused.value.render()
    assert not (tmp_path / "tokens").exists()
    status = store.status(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    assert (status.state, status.source, status.path) == ("valid", "env", None)


def test_memory_only_without_issue_time_assumes_since_the_last_0600(tmp_path):
    now = datetime(2026, 11, 23, 7, 0, tzinfo=IST)
    store = _store(tmp_path, None, env={"MCI_ACCESS_TOKEN": TOKEN}, clock=Clock(now, frozen=True))
    status = store.status(now)
    assert status.expires_at == datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    assert "issue time unknown" in status.note


def test_default_key_file_is_created_private_once(tmp_path, record):
    default = tmp_path / "tokens" / "token.key"
    old = os.umask(0)
    try:
        _store(tmp_path, KeySource(default_file=default)).save(record)
    finally:
        os.umask(old)
    assert _mode(default) == 0o600
    first = default.read_bytes()
    _store(tmp_path, KeySource(default_file=default)).save(record)
    assert default.read_bytes() == first
    assert _store(tmp_path, KeySource(default_file=default)).load().access_token == TOKEN


def test_no_key_file_and_no_token_means_missing_not_an_error(tmp_path):
    store = _store(tmp_path, KeySource(key_file=tmp_path / "absent.key"))
    assert store.load() is None and store.status(ISSUED).state == "missing"


def test_open_token_store_follows_the_profile(tmp_path, key, record):
    from mci.config import load_profile
    from mci.config.model import TokenStoreConfig

    profile = load_profile(None)
    default = open_token_store(profile, tmp_path, env={})
    assert default.path == tmp_path / "tokens" / f"{profile.name}.token"
    assert default.key_description.endswith("(default)")

    from_env = open_token_store(profile, tmp_path, env={"MCI_TOKEN_KEY": base64.b64encode(key).decode()})
    assert from_env.key_description == "MCI_TOKEN_KEY"
    from_env.save(record)
    assert TokenStore(default.path, key, env={}).load().access_token == TOKEN

    key_file = _key_file(tmp_path, key)
    custom = replace(
        profile,
        broker=replace(
            profile.broker, token_store=TokenStoreConfig(path=tmp_path / "elsewhere" / "t.enc", key_file=key_file)
        ),
    )
    store = open_token_store(custom, tmp_path, env={"MCI_TOKEN_KEY": "ignored: the profile's key file wins"})
    assert store.path == tmp_path / "elsewhere" / "t.enc" and "key file" in store.key_description
    store.save(record)
    assert store.load().access_token == TOKEN


def test_redact():
    assert redact("token abc123 and abc123 again", ["abc123"]) == "token *** and *** again"
    assert redact("secret-long contains secret", ["secret", "secret-long"]) == "*** contains ***"
    assert redact("nothing", [None, ""]) == "nothing"
    err = redact_error(
        MciError("bad abc123", "why abc123", "how", ExitCode.FAILED, details={"t": "abc123"}), ["abc123"]
    )
    assert "abc123" not in err.render() and err.code == ExitCode.FAILED and err.details == {"t": "***"}


def test_clear_removes_a_symlink_without_touching_its_target(tmp_path, key, record):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    store = _store(tmp_path, key)
    store.path.parent.mkdir(parents=True)
    store.path.symlink_to(target)
    assert store.clear() is True
    assert not store.path.exists() and not store.path.is_symlink()
    assert target.read_text() == "keep me"


def test_a_bad_issue_time_in_the_environment_is_a_clear_error(tmp_path):
    store = _store(tmp_path, None, env={"MCI_ACCESS_TOKEN": TOKEN, "MCI_TOKEN_ISSUED_AT": "yesterday"})
    with pytest.raises(UsageError) as bad:
        store.load()
    assert "MCI_TOKEN_ISSUED_AT" in bad.value.what and TOKEN not in bad.value.render()
