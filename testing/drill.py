"""Helpers of the drill tests: the shipped profiles, the fixed instant, reading what a drill left."""

from __future__ import annotations

import json
import os
from pathlib import Path

from testing import ROOT

PAPER = ROOT / "profiles" / "paper.yaml"
KITE_SIM = ROOT / "profiles" / "kite-sim.yaml"
AT = "2026-11-25T10:00"  # a Wednesday in session (IST): the same day whatever day CI runs
# Set in the invoking environment to prove the drill never uses them (nor prints them).
OPERATOR_SECRET = "operator-real-secret-never-used"


def drill_records(mci_home: Path) -> list:
    from mci.store.state import StateStore

    store = StateStore.open(mci_home)
    try:
        return [r for r in store.audit_records() if r.kind == "drill"]
    finally:
        store.close()


def processes_of(sandbox: str | Path) -> list[int]:
    """Live processes whose environment names this sandbox as MCI_HOME (what the drill starts carries it)."""
    marker = f"\0MCI_HOME={sandbox}\0".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = b"\0" + Path(entry.path, "environ").read_bytes() + b"\0"
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ and state != "Z":
            found.append(int(entry.name))
    return found


def as_json(proc) -> dict:
    assert proc.stdout.lstrip().startswith("{"), proc.stdout + proc.stderr
    return json.loads(proc.stdout)
