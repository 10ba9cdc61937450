"""Notifications declared in the profile: a command, or a webhook with a JSON body.

    notifications:
      - on: [kill_switch, scan_failed, shutdown_incomplete, token_expiring, watcher_died]
        command: [/usr/local/bin/page-oncall]           # the JSON body on stdin
      - on: [kill_switch]
        webhook: https://hooks.example.com/mci
        headers: {X-Token: "${env:HOOK_TOKEN}"}
        timeout: 5s

Events: kill_switch (mci kill / shutdown --emergency, or the watcher's emergency), reducing (`mci pause`,
or the watcher at watch.reduce_at: entries stopped, exits only), resumed (`mci resume`), scan_failed,
shutdown_incomplete (positions or orders remain), token_expiring (the scan's token_expiry check
warns or fails, or the watcher warns), watcher_died (`mci watch` ends on an error of its own: an
exception, or the state database failing under it).

MCI_NOTIFY=off sends nothing (mci drill sets it for the commands it rehearses).

The money path never waits: fire() hands the body to a detached `python -m mci.observability.notify` process
over a pipe and returns. That process runs each notifier with its timeout and logs every failure
(scrubbed) to $MCI_HOME/logs/mci.jsonl. The body is scrubbed of secrets before it leaves.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import subprocess

EVENTS = ("kill_switch", "reducing", "resumed", "scan_failed", "shutdown_incomplete", "token_expiring", "watcher_died")

_children: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)


def body(
    event: str, profile: str, text: str, data: Mapping[str, Any] | None = None, at: datetime | None = None
) -> dict[str, Any]:
    from mci.observability.redact import scrub_value

    moment = at or datetime.now(timezone.utc)
    clean: dict[str, Any] = scrub_value(
        {
            "event": event,
            "profile": profile,
            "at": moment.isoformat(),
            "text": text,
            "data": json.loads(json.dumps(dict(data or {}), default=str)),
        }
    )
    return clean


def fire(
    profile: Any, event: str, text: str, data: Mapping[str, Any] | None = None, at: datetime | None = None
) -> bool:
    """Hand the event to every notifier of `profile` that listens for it; never blocks, never raises.

    True when a sender was started (the delivery itself is the sender's business).
    """
    from mci.observability.logs import event as log

    try:
        notifiers = [n for n in getattr(profile, "notifications", ()) if event in n.on]
        log("INFO", f"notify {event}: {text}", notify=event)
        if not notifiers:
            return False
        if os.environ.get("MCI_NOTIFY", "").lower() == "off":  # mci drill: a rehearsal pages nobody
            log("INFO", f"notify {event}: not sent (MCI_NOTIFY=off)", notify=event)
            return False
        job = {"body": body(event, profile.name, text, data, at), "notifiers": [n.as_job() for n in notifiers]}
        _reap()
        import subprocess  # only when there is someone to notify: every scan imports this module

        child = subprocess.Popen(
            [sys.executable, "-m", "mci.observability.notify"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            env=os.environ.copy(),
        )
        assert child.stdin is not None  # stdin=PIPE
        try:
            child.stdin.write(json.dumps(job).encode("utf-8"))  # small: fits in the pipe buffer
            child.stdin.close()
        except OSError:
            pass
        _children.append(child)
        return True
    except Exception as exc:  # noqa: BLE001 — a notification never fails the money path
        log("ERROR", f"notify {event}: could not start the sender", error=str(exc))
        return False


# -- the sender (python -m mci.observability.notify) -------------------------------------------------------------


def _send_command(notifier: Mapping[str, Any], payload: bytes) -> None:
    import subprocess

    done = subprocess.run(
        notifier["command"], input=payload, capture_output=True, timeout=notifier["timeout"], close_fds=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.decode('utf-8', 'replace')[-300:].strip()}")


def _send_webhook(notifier: Mapping[str, Any], payload: bytes) -> None:
    import urllib.request

    headers = {"Content-Type": "application/json", "User-Agent": "mci-notify", **notifier.get("headers", {})}
    request = urllib.request.Request(notifier["webhook"], data=payload, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=notifier["timeout"]) as response:  # noqa: S310 — declared URL
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")


def send(job: Mapping[str, Any]) -> int:
    """Deliver one event to its notifiers, each within its timeout; failures are logged. Exit 0, or 1 if any failed."""
    from mci.observability.logs import event as log

    payload = json.dumps(job["body"], ensure_ascii=False).encode("utf-8")
    failed = 0
    for notifier in job["notifiers"]:
        target = "webhook" if notifier.get("webhook") else "command"
        try:
            (_send_webhook if target == "webhook" else _send_command)(notifier, payload)
            log("INFO", f"notified {job['body']['event']} by {target}", notify=job["body"]["event"])
        except Exception as exc:  # noqa: BLE001 — whatever went wrong, say so in the log
            failed += 1
            log(
                "ERROR",
                f"notification {job['body']['event']} by {target} failed: {type(exc).__name__}: {exc}",
                notify=job["body"]["event"],
            )
    return 1 if failed else 0


def main() -> int:
    try:
        job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    except Exception:  # noqa: BLE001
        return 2
    return send(job)


if __name__ == "__main__":
    sys.exit(main())
