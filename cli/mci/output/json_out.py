"""Scan results for machines: one stable JSON document (keys are a contract; add, never rename)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mci.results import ScanResult


def scan_to_json(result: "ScanResult", *, indent: int | None = 2) -> str:
    """schema_version, profile, checklist, status, started_at, finished_at, duration_s, counts and
    checks: [{id, kind, title, severity, status, summary, attempts, duration_s, error, facts, ...}]."""
    return json.dumps(result.as_dict(), indent=indent, ensure_ascii=False)
