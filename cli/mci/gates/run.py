"""Run a gate: its checks through the scan's runner, then one audit record (kind "gate") with the verdict.

A gate result is not a scan: it is never written to the scans table, so it can
never arm `mci ignite`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from mci.clock import Clock
from mci.errors import ExitCode
from mci.results import Status

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.results import CheckResult, ScanResult
    from mci.gates.resolve import Gate


@dataclass(frozen=True)
class GateOutcome:
    gate: "Gate"
    result: "ScanResult"
    audit_seq: int

    @property
    def exit_code(self) -> ExitCode:
        # A gate is a verdict for CI: every failure, an unreachable endpoint included, is "do not ship" (1).
        return ExitCode.OK if self.result.status.ok else ExitCode.FAILED


def run_gate(
    gate: "Gate",
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    approvals: Iterable[Path] = (),
    cwd: Path | None = None,
    on_update: Callable[["CheckResult"], None] | None = None,
) -> GateOutcome:
    from mci.approvals import ApprovalBook
    from mci.brokers.factory import broker_for
    from mci.checks import load_all
    from mci.checks.params import GateContext
    from mci.engine.runner import run_checklist
    from mci.store.state import StateStore

    load_all()
    here = cwd or Path.cwd()
    store = StateStore.open(state_dir)
    try:
        ctx = GateContext(
            profile=profile,
            clock=clock,
            state_dir=state_dir,
            store_factory=lambda: store,
            broker_factory=lambda: broker_for(profile, state_dir, clock),
            gate=gate.name,
            cwd=here,
            approvals=ApprovalBook.default(state_dir, list(approvals), cwd=here),
        )
        try:
            result = run_checklist(gate.checklist, ctx, on_update=on_update)
        finally:
            if ctx._broker is not None:
                ctx._broker.close()
        record = store.append_audit(
            "gate",
            {
                "gate": gate.name,
                "checklist": result.checklist,
                "source": gate.source,
                "status": result.status.value,
                "counts": result.counts(),
                "failed": [r.id for r in result.results if r.status is Status.FAILED],
                "warned": [r.id for r in result.results if r.status is Status.WARNED],
                "skipped": [r.id for r in result.results if r.status is Status.SKIPPED],
            },
            clock.now(),
            profile=profile.name,
        )
    finally:
        store.close()
    return GateOutcome(gate, result, record.seq)
