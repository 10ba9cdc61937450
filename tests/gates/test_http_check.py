"""http: a real server on 127.0.0.1; N green answers in a row, and a flap resets the streak."""

from __future__ import annotations

import socket
import time

from testing.gates import one, spec

from mci.results import Status


def test_one_green_answer_passes(tmp_path, health):
    r = one(tmp_path, spec("h", "http", url=health.url, json={"status": "ok"}))
    assert r.status is Status.PASSED, r.error
    assert r.facts["probes"] == 1 and r.facts["statuses"] == ["200"]


def test_wrong_status_json_or_body_fails_with_the_reason(tmp_path, health):
    health.play((503, {"status": "starting"}))
    r = one(tmp_path, spec("h", "http", url=health.url, within="300ms", interval="100ms"))
    assert r.status is Status.FAILED and "status 503, expected 200" in r.error.what
    health.play((200, {"status": "degraded", "checks": {"db": {"ok": False}}}))
    r = one(tmp_path, spec("h", "http", url=health.url, within="200ms", json={"checks.db.ok": True}))
    assert r.status is Status.FAILED and "checks.db.ok is false, expected true" in r.error.what
    r = one(tmp_path, spec("h", "http", url=health.url, within="200ms", json={"$.checks.cache": 1}))
    assert r.status is Status.FAILED and "has no key 'cache'" in r.error.what
    health.play((200, "<html>login</html>"))
    r = one(tmp_path, spec("h", "http", url=health.url, within="200ms", json={"status": "ok"}))
    assert r.status is Status.FAILED and "not JSON" in r.error.what
    r = one(tmp_path, spec("h", "http", url=health.url, within="200ms", body_match="dashboard"))
    assert r.status is Status.FAILED and "does not match /dashboard/" in r.error.what


def test_n_in_a_row_with_a_flap_resetting_the_streak(tmp_path, health):
    ok, bad = (200, {"status": "ok"}), (500, {"status": "error"})
    health.play(ok, ok, bad, ok, ok, ok)
    r = one(tmp_path, spec("h", "http", url=health.url, repeat=3, interval="50ms", within="5s"))
    assert r.status is Status.PASSED, r.error
    assert r.facts["probes"] == 6 and health.hits == 6
    assert r.facts["statuses"] == ["200", "200", "500", "200", "200", "200"]
    assert "3 in a row after 3 bad probe(s)" in r.summary


def test_a_service_that_keeps_flapping_fails_within_the_window(tmp_path, health):
    health.play((200, {"status": "ok"}), (200, {"status": "ok"}), (503, {}), cycle=True)
    started = time.monotonic()
    r = one(tmp_path, spec("h", "http", url=health.url, repeat=3, interval="50ms", within="1s"))
    assert time.monotonic() - started < 2
    assert r.status is Status.FAILED
    assert "not green 3 times in a row within 1s" in r.error.what
    assert r.facts["best_streak"] == 2 and "best streak 2 of 3" in r.error.why and "status 503" in r.error.why


def test_nobody_listening_fails(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    r = one(tmp_path, spec("h", "http", url=f"http://127.0.0.1:{port}/health", within="300ms", interval="100ms"))
    assert r.status is Status.FAILED and "no answer" in r.error.what


def test_a_redirect_is_not_followed_to_a_green_page(tmp_path, health):
    r = one(tmp_path, spec("h", "http", url=health.url.replace("/health", "/redirect"), within="200ms"))
    assert r.status is Status.FAILED and "status 302" in r.error.what


def test_a_probe_window_longer_than_the_check_is_refused(tmp_path, health):
    import pytest

    from mci.errors import ConfigErrors

    with pytest.raises(ConfigErrors):
        one(tmp_path, spec("h", "http", check_timeout="5s", url=health.url, within="30s"))


def test_credentials_in_the_url_and_headers_are_never_shown(tmp_path, health):
    url = health.url.replace("http://", "http://ops:hunter2-password@") + "?token=abcdef123456"
    health.play((401, {"status": "denied"}))
    r = one(
        tmp_path, spec("h", "http", url=url, within="200ms", headers={"Authorization": "Bearer very-secret-token-xyz"})
    )
    shown = repr(r.as_dict())
    assert r.status is Status.FAILED
    assert "hunter2" not in shown and "abcdef123456" not in shown and "very-secret" not in shown
    assert r.facts["url"].endswith("/health?…")
