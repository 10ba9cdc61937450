"""Gate results for people: the checklist, the WHAT / WHY / HOW of what failed, one verdict line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mci.output.text import _ANSI, _BOLD, _DIM, MARKS, _paint, _shows_details
from mci.results import Status

if TYPE_CHECKING:
    from mci.approvals import Approval
    from mci.gates.resolve import GateInfo
    from mci.gates.run import GateOutcome


def render_gate(outcome: "GateOutcome", *, color: bool) -> str:
    from mci.clock import zone
    from mci.units import format_duration

    result, gate = outcome.result, outcome.gate
    started = result.started_at.astimezone(zone(result.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [
        _paint(f"gate {gate.name} · profile {result.profile} · {started}", _BOLD, color),
        _paint(f"from {gate.source}", _DIM, color),
        "",
    ]
    width = max((len(r.title) for r in result.results), default=0)
    for r in result.results:
        mark = _paint(MARKS[r.status], _ANSI[r.status], color)
        retries = f" (after {r.attempts} attempts)" if r.attempts > 1 else ""
        lines.append(f"  {mark} {r.title.ljust(width)}  {r.summary}{retries}".rstrip())
    for r in (r for r in result.results if _shows_details(r)):
        assert r.error is not None
        lines += ["", _paint(f"{MARKS[r.status]} {r.title} [{r.id}] {r.status.value}", _ANSI[r.status], color)]
        lines += [f"  WHAT: {r.error.what}", f"  WHY:  {r.error.why}", f"  HOW:  {r.error.how}"]
    counts = result.counts()
    parts = [f"{counts['passed']} passed", f"{counts['warned']} warned", f"{counts['failed']} failed"]
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped")
    word = {Status.PASSED: "GATE PASSED", Status.WARNED: "GATE PASSED WITH WARNINGS"}.get(result.status, "GATE FAILED")
    tone = result.status if result.status in (Status.PASSED, Status.WARNED) else Status.FAILED
    verdict = f"{len(result.results)} checks: {', '.join(parts)} — {word}"
    lines += [
        "",
        _paint(verdict, _BOLD + _ANSI[tone], color)
        + _paint(f" ({format_duration(result.duration)}, audit #{outcome.audit_seq})", _DIM, color),
    ]
    return "\n".join(lines)


def render_list(profile_name: str, gates: list["GateInfo"]) -> str:
    if not gates:
        return "no gates: add one to the profile's gates: block or to rules/gates/"
    width = max(len(g.name) for g in gates)
    lines: list[str] = []
    for origin, title in (("profile", f"gates of profile {profile_name}"), ("rules", "gates in rules/gates/")):
        group = [g for g in gates if g.origin == origin]
        if not group:
            continue
        lines += ([""] if lines else []) + [title]
        for g in group:
            count = (
                f"{g.checks:>3} {'check' if g.checks == 1 else 'checks':<6}" if g.checks is not None else "  invalid"
            )
            detail = f"— {g.error}" if g.error else (f"— {g.description}" if g.description else "")
            lines.append(f"  {g.name.ljust(width)}  {count}  {detail}".rstrip())
    return "\n".join(lines)


def render_approval(approval: "Approval", gate: str, check: str) -> str:
    verb = "revoked" if approval.revoked else "approved"
    until = f", until {approval.expires_at.isoformat(timespec='minutes')}" if approval.expires_at else ""
    return (
        f"{verb}: {approval.subject} by {approval.by} at {approval.at.isoformat(timespec='seconds')}{until}\n"
        f"  note: {approval.note}\n  recorded in {approval.source}; `mci gate run {gate}` now sees it "
        f"for check {check}"
    )
