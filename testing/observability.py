"""Helpers of the observability tests: profiles with notifiers, waiting for a detached notifier, metrics parsing."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

from testing import ROOT

MONDAY = "2026-11-23T10:00"  # in session
SATURDAY = "2026-11-21T10:00"  # the scan fails: weekend, market closed


def profile_with(tmp: Path, notifications: list[dict], base: str = "paper.yaml", name: str = "obs.yaml") -> Path:
    """A copy of a shipped profile with `notifications:` added."""
    doc = yaml.safe_load((ROOT / "profiles" / base).read_text(encoding="utf-8"))
    doc["notifications"] = notifications
    path = tmp / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def recorder(out: Path, *, on: list[str]) -> dict:
    """A command notifier appending each JSON body it is given to `out`, one per line."""
    code = f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read().strip() + '\\n')"
    return {"on": on, "command": [sys.executable, "-c", code], "timeout": "5s"}


def wait_bodies(out: Path, count: int = 1, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists():
            lines = [line for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
            if len(lines) >= count:
                return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"{count} notification(s) not delivered to {out} within {timeout}s")


def parse_metrics(text: str) -> dict[str, list]:
    """{metric: [samples]} through prometheus_client's own text parser (it raises on malformed input)."""
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert families, text
    return families


def log_lines(home: Path) -> list[dict]:
    lines = []
    for path in sorted((home / "logs").glob("mci*.jsonl*")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def wait_log(home: Path, predicate, count: int = 1, timeout: float = 15) -> list[str]:
    """Messages of the JSON log that satisfy `predicate`, once there are `count` of them (the sender logs late)."""
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while time.monotonic() < deadline:
        found = [r["message"] for r in log_lines(home) if predicate(r["message"])]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"only {found} in the log after {timeout}s")
