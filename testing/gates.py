"""Helpers for the gate tests: hand-built gates through the real runner, profiles with a gates: block, drill
records in the real audit log, JSON evidence files."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mci.clock import Clock
from mci.config.model import Checklist, CheckSpec
from mci.units import parse_duration
from mci.gates.resolve import Gate, prepare
from mci.gates.run import GateOutcome, run_gate

from testing import ROOT

_PROFILE: list[Any] = []


def paper():
    if not _PROFILE:
        from mci.config import load_profile

        _PROFILE.append(load_profile(env={}))
    return _PROFILE[0]


def spec(id: str, kind: str, check_timeout: str = "10s", severity: str = "critical", **params: Any) -> CheckSpec:
    """A check as a checklist declares it; `check_timeout` is its `timeout:`, `timeout=` its params.timeout."""
    # The builder parses these units from YAML; params built in Python get the same types here.
    for key in ("timeout", "within", "interval", "max_age"):
        if isinstance(params.get(key), str):
            params[key] = parse_duration(params[key])
    return CheckSpec(id, kind, id, params, timeout=parse_duration(check_timeout), severity=severity)


def run(
    state_dir: Path,
    *specs: CheckSpec,
    cwd: Path | None = None,
    clock: Clock | None = None,
    name: str = "t",
    approvals: tuple[Path, ...] = (),
) -> GateOutcome:
    gate = Gate(name, prepare(Checklist(name, "", tuple(specs)), name), "test")
    return run_gate(gate, paper(), clock or Clock(), state_dir, cwd=cwd, approvals=approvals)


def one(state_dir: Path, check: CheckSpec, **kwargs: Any):
    """The single result of a one-check gate."""
    return run(state_dir, check, **kwargs).result.results[0]


def later(delta: timedelta) -> Clock:
    return Clock(Clock().now() + delta)


# -- profiles, drills, evidence ---------------------------------------------------------------


def write_profile(base: Path, gates_yaml: str, name: str = "p") -> Path:
    """The shipped paper profile plus a gates: block, in base/profiles/ (rules resolve to the shipped ones)."""
    folder = base / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    path = folder / f"{name}.yaml"
    path.write_text(text.rstrip() + "\n\n" + textwrap.dedent(gates_yaml).strip() + "\n", encoding="utf-8")
    return path


def record_drill(
    state_dir: Path, *, passed: bool, at: datetime | None = None, profile: str = "paper", phases: list | None = None
) -> int:
    from mci.store.state import StateStore

    store = StateStore.open(state_dir)
    try:
        if phases is None:  # the shape mci.drill.model writes
            phases = [
                {"name": name, "ok": passed or name != "emergency", "seconds": 0.5, "detail": ""}
                for name in (
                    "token",
                    "scan",
                    "ignite",
                    "trading",
                    "breach",
                    "emergency",
                    "reset",
                    "reignite",
                    "shutdown",
                    "final_book",
                )
            ]
        record = store.append_audit(
            "drill",
            {"profile": profile, "passed": passed, "phases": phases, "faults": "5xx=0.2"},
            at or datetime.now(timezone.utc),
            profile=profile,
        )
        return record.seq
    finally:
        store.close()


def write_json(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path
