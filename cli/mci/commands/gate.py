"""`mci gate run|approve|list`: resolve the gate, call the core, render. Exit codes: mci.errors.ExitCode."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from mci.clock import Clock
from mci.errors import UsageError
from mci.output.console import color_enabled, emit, emit_json, interactive

if TYPE_CHECKING:
    from mci.config.model import Profile


def _profile(profile_path: Optional[Path], state_dir: Path) -> "Profile":
    from mci.config import load_profile

    return load_profile(profile_path, cache_dir=state_dir / "cache")


def run(
    profile_path: Optional[Path],
    name: str,
    clock: Clock,
    state_dir: Path,
    output: str,
    approvals: list[Path],
    metrics_file: Optional[Path] = None,
) -> int:
    import time

    from mci.gates.resolve import resolve_gate
    from mci.gates.run import run_gate

    started = time.monotonic()

    profile = _profile(profile_path, state_dir)
    gate = resolve_gate(name, profile, cache_dir=state_dir / "cache")
    live = None
    if output == "text" and interactive():
        from mci.output.text import LiveChecklist

        live = LiveChecklist(gate.checklist)
    if live is not None:
        with live:
            outcome = run_gate(gate, profile, clock, state_dir, approvals=approvals, on_update=live.update)
    else:
        outcome = run_gate(gate, profile, clock, state_dir, approvals=approvals)
    if metrics_file is not None:
        from mci.engine.run_metrics import write_run

        write_run(
            metrics_file,
            "gate",
            profile,
            state_dir,
            clock.now(),
            started=started,
            exit_code=int(outcome.exit_code),
            checklist=f"gate:{gate.name}",
            checks=outcome.result.as_dict().get("checks", []),
        )

    if output == "json":
        payload = {"gate": gate.name, "source": gate.source, **outcome.result.as_dict(), "audit_seq": outcome.audit_seq}
        emit_json(payload)
    elif output == "junit":
        from mci.output.junit import scan_to_junit

        emit(scan_to_junit(outcome.result, label="gate", name=gate.name))
    else:
        from mci.gates.render import render_gate

        emit(render_gate(outcome, color=color_enabled()))
    return int(outcome.exit_code)


def approve(
    profile_path: Optional[Path],
    name: str,
    check: str,
    *,
    by: str,
    note: str,
    expires: Optional[str],
    file: Optional[Path],
    revoke: bool,
    state_dir: Path,
    output: str,
) -> int:
    from mci.approvals import ApprovalBook
    from mci.gates.resolve import resolve_gate
    from mci.store.state import StateStore

    profile = _profile(profile_path, state_dir)
    gate = resolve_gate(name, profile, cache_dir=state_dir / "cache")
    specs = gate.checklist.by_id()
    approvable = [s.id for s in gate.checklist.checks if s.kind == "approval"]
    spec = specs.get(check)
    if spec is None or spec.kind != "approval":
        why = (
            f"gate {gate.name} has no check {check!r}"
            if spec is None
            else f"{check} is a {spec.kind} check: it judges evidence, not a sign-off"
        )
        raise UsageError(
            f"{check} cannot be approved in gate {gate.name}",
            f"{why}; its approval checks are: {', '.join(approvable) or 'none'}",
            f"name one of those: mci gate approve {gate.name} CHECK --by WHO --note WHY",
        )
    approvers = [a.strip() for a in spec.params.get("approvers") or [] if isinstance(a, str)]
    if approvers and not revoke and by.strip().casefold() not in {a.casefold() for a in approvers}:
        raise UsageError(
            f"{by} is not a named approver of {gate.name}/{check}",
            f"this check accepts a sign-off only from: {', '.join(approvers)}",
            f'have one of them run the approval with --by "{approvers[0]}"',
        )
    expires_in = None
    if expires:
        from mci.units import parse_duration

        try:
            expires_in = parse_duration(expires)
        except ValueError as exc:
            raise UsageError(
                f"--expires {expires!r} is not a duration", str(exc), "write it like 7d, 12h or 30m"
            ) from None
        if expires_in.total_seconds() <= 0:
            raise UsageError(
                "--expires must be longer than zero",
                "an approval that is already expired approves nothing",
                "write it like 7d",
            )
    subject = str(spec.params["subject"])
    now = Clock().now()  # a sign-off is dated by the real clock, never by --at: it must not be back-dated
    book = ApprovalBook.default(state_dir)
    approval = book.record(subject, by=by, note=note, now=now, expires_in=expires_in, revoke=revoke, path=file)
    store = StateStore.open(state_dir)
    try:
        record = store.append_audit(
            "approval",
            {
                **approval.as_dict(),
                "file": approval.source,
                "gate": gate.name,
                "check": check,
            },
            now,
            profile=profile.name,
        )
    finally:
        store.close()
    if output == "json":
        emit_json(
            {
                "status": "revoked" if revoke else "approved",
                "gate": gate.name,
                "check": check,
                **approval.as_dict(),
                "file": approval.source,
                "audit_seq": record.seq,
            }
        )
    else:
        from mci.gates.render import render_approval

        emit(render_approval(approval, gate.name, check))
    return 0


def list_gates(profile_path: Optional[Path], state_dir: Path, output: str) -> int:
    from mci.gates.resolve import profile_gates, rule_gates

    profile = _profile(profile_path, state_dir)
    gates = profile_gates(profile) + rule_gates(profile, state_dir / "cache")
    if output == "json":
        emit_json(
            {
                "profile": profile.name,
                "gates": [
                    {
                        "name": g.name,
                        "origin": g.origin,
                        "source": g.source,
                        "checks": g.checks,
                        "description": g.description,
                        "error": g.error,
                    }
                    for g in gates
                ],
            }
        )
    else:
        from mci.gates.render import render_list

        emit(render_list(profile.name, gates))
    return 0
