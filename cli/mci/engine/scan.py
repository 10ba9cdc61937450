"""Phase 1: run a profile's pre-ignition checklist, store the result, arm or block the lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mci.clock import Clock
from mci.errors import ExitCode
from mci.results import Status

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.engine.lifecycle import Move
    from mci.results import CheckResult, ScanResult
    from mci.store.state import LifecycleRecord


@dataclass(frozen=True)
class ScanOutcome:
    result: "ScanResult"
    scan_id: int
    moves: list["Move"]
    lifecycle_state: str
    note: str  # why the lifecycle did or did not move

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.result)


def exit_code_for(result: "ScanResult") -> ExitCode:
    if result.status is not Status.FAILED:
        return ExitCode.OK
    failed = [r for r in result.results if r.status is Status.FAILED]
    # An unreachable broker or disk is not a verdict on the day: cron should retry (3), not stand down (1).
    if any(r.error is not None and r.error.code is ExitCode.UNAVAILABLE for r in failed):
        return ExitCode.UNAVAILABLE
    return ExitCode.FAILED


def refuse_if_halted(life: "LifecycleRecord", command: str) -> None:
    """A latched kill switch is not a day to scan: "SCAN PASSED" beside a halted profile reads as a go."""
    if life.state != "halted":
        return
    from mci.clock import zone
    from mci.errors import RefusedError

    since = f" since {life.since.astimezone(zone('Asia/Kolkata')):%Y-%m-%d %H:%M:%S} IST" if life.since else ""
    raise RefusedError(
        f"{command} refused: the kill switch is latched (profile {life.profile!r} is halted{since})",
        f"an emergency latched it ({life.reason or 'no reason recorded'}); nothing may arm the profile until an "
        "operator unlatches it on purpose",
        "inspect the account (`mci status`), then run `mci reset --confirm` and `mci scan` again",
        state="halted",
    )


def run_scan(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    on_update: Callable[["CheckResult"], None] | None = None,
) -> ScanOutcome:
    from mci.brokers.factory import broker_for
    from mci.checks import load_all
    from mci.checks.base import CheckContext
    from mci.engine.lifecycle import SCANNABLE, Lifecycle
    from mci.engine.runner import run_checklist
    from mci.store.state import StateStore

    load_all(spec.kind for spec in profile.scan.checklist.checks)
    store = StateStore.open(state_dir)
    try:
        refuse_if_halted(Lifecycle(store, profile.name).current(), "scan")
    except BaseException:
        store.close()
        raise
    ctx = CheckContext(
        profile=profile,
        clock=clock,
        state_dir=state_dir,
        store_factory=lambda: store,
        broker_factory=lambda: broker_for(profile, state_dir, clock),
    )
    try:
        result = run_checklist(profile.scan.checklist, ctx, on_update=on_update)
    finally:
        if ctx._broker is not None:
            ctx._broker.close()

    now = clock.now()
    failed = [r.id for r in result.results if r.status is Status.FAILED]
    try:
        # One transaction, so one audited commit (anchor intent, COMMIT, WAL sync, confirmation: the largest part of
        # a warm scan was doing that three times): the scan, its audit record and the lifecycle moves it makes land
        # together, and the state they move from is read inside it (issue 19).
        with store.transaction():
            scan_id = store.record_scan(
                profile.name,
                result.checklist,
                result.status.value,
                result.started_at,
                result.finished_at,
                result.as_dict(),
            )
            store.append_audit(
                "scan",
                {"scan_id": scan_id, "checklist": result.checklist, "status": result.status.value, "failed": failed},
                now,
                profile=profile.name,
            )

            lifecycle = Lifecycle(store, profile.name)
            state = lifecycle.current().state
            moves: list[Move] = []
            if state not in SCANNABLE:
                note = f"lifecycle is {state}; the scan was recorded without changing it"
            else:
                token_ok = all(r.status is Status.PASSED for r in result.results if r.kind == "token.validity")
                if token_ok:
                    moves.append(lifecycle.fire("token_ok", now, f"scan {scan_id}: token valid", scan_id=scan_id))
                if token_ok and result.status.ok:
                    moves.append(
                        lifecycle.fire("scan_passed", now, f"scan {scan_id} {result.status.value}", scan_id=scan_id)
                    )
                    note = "armed: the engine may be started while this scan is fresh (profile scan.max_age)"
                else:
                    moves.append(
                        lifecycle.fire(
                            "scan_failed", now, f"scan {scan_id} failed: {', '.join(failed)}", scan_id=scan_id
                        )
                    )
                    note = "blocked: fix what failed and scan again"
        final = lifecycle.current().state
    finally:
        store.close()
    return ScanOutcome(result, scan_id, moves, final, note)
