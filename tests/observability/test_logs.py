"""Logs: -v / -q on stderr in real runs, the rotating 0600 JSON-lines file, and scrubbing of every record."""

from __future__ import annotations

import json
import os
import stat

from testing.observability import MONDAY, log_lines

# A folder where the metrics file should be: its parent exists (so the run starts) but the atomic rename onto a
# folder fails, which is logged as a WARNING (root ignores permissions, so a read-only folder would not do).
UNWRITABLE_NAME = "metrics-is-a-folder"


def test_default_stderr_shows_warnings_only_v_adds_info_vv_debug_q_only_errors(run_mci, mci_home):
    (mci_home / UNWRITABLE_NAME).mkdir()
    UNWRITABLE = str(mci_home / UNWRITABLE_NAME)
    quiet_default = run_mci("scan", "--at", MONDAY, "--metrics-file", UNWRITABLE)
    assert quiet_default.returncode == 0, quiet_default.stderr
    assert "WARNING metrics: could not write the metrics file" in quiet_default.stderr
    assert " INFO " not in quiet_default.stderr

    verbose = run_mci("-v", "scan", "--at", MONDAY)
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO    scan " in verbose.stderr and "DEBUG" not in verbose.stderr

    very = run_mci("-vv", "scan", "--at", MONDAY, "--metrics-file", str(mci_home / "m.prom"))
    assert "DEBUG   metrics written" in very.stderr, very.stderr

    quiet = run_mci("-q", "scan", "--at", MONDAY, "--metrics-file", UNWRITABLE)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    # stdout is the command's output, untouched by logging
    assert "lifecycle: armed" in quiet.stdout

    # the file has everything (DEBUG up), whatever stderr showed
    messages = [line["message"] for line in log_lines(mci_home)]
    assert any(m.startswith("scan ") for m in messages) and "metrics written" in messages


def test_the_json_log_is_0600_json_lines_and_rotates_by_size(run_mci, mci_home):
    for _ in range(6):
        done = run_mci("-v", "scan", "--at", MONDAY, env={"MCI_LOG_ROTATION": "600"})
        assert done.returncode == 0, done.stderr
    files = sorted((mci_home / "logs").glob("mci*.jsonl*"))
    assert (mci_home / "logs" / "mci.jsonl") in files and len(files) >= 2, files  # rotated at least once
    assert len(files) <= 6  # the current one and at most 5 kept
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert {"at", "level", "message", "pid"} <= set(record)


def test_every_record_is_scrubbed_message_extra_and_exception(mci_home, monkeypatch):
    from mci.observability import logs
    from mci.observability.redact import register

    token, secret = "AT-obs-0123456789abcdef", "api-secret-obs-never"
    monkeypatch.setenv("KITE_API_SECRET", secret)
    register(token)
    logs.event(
        "WARNING",
        f"login ok with {token}",
        header=f"Authorization: token sim-key:{token}",
        nested={"api_secret": secret, "list": [token]},
    )
    logs.event("ERROR", "raw url access_token=zzz-unknown-token&request_token=rrr-unknown")
    try:
        raise RuntimeError(f"broker said: token {token} is invalid (secret {secret})")
    except RuntimeError:
        logs.get().exception("the call failed")
    import logging

    logging.getLogger("mci.watch").warning("stdlib record with %s", token)

    text = (mci_home / "logs" / "mci.jsonl").read_text(encoding="utf-8")
    assert token not in text and secret not in text
    assert "zzz-unknown-token" not in text and "rrr-unknown" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert any("RuntimeError: broker said: token *** is invalid" in r.get("exception", "") for r in records)
    assert any(r["message"] == "stdlib record with ***" for r in records)
    assert stat.S_IMODE(os.stat(mci_home / "logs" / "mci.jsonl").st_mode) == 0o600
