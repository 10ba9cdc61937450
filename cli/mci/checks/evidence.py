"""drill and approval: evidence that people did something — rehearsed the emergency, signed off.

drill: the audit log holds a passed `mci drill` younger than `max_age`. The
latest drill decides: a failed drill after a passed one means the emergency
path broke since, so the older pass no longer counts. The audit chain is
verified first; a drill record in a tampered log proves nothing.

approval: a named sign-off (mci.approvals) for this gate check that is valid
now: recorded, not revoked, not expired, and by a named approver when the
check lists them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from mci.checks import params as P
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.errors import ConfigError, MciError

DRILL_KIND = "drill"


def _phase_passed(phases: Any, name: str) -> bool | None:
    """Whether the drill's phase `name` passed; None if the drill has no such phase or gives it no verdict.
    `mci drill` writes {"name", "ok", "seconds", "detail"}; plain names and passed/status are read too."""
    for phase in phases if isinstance(phases, list) else []:
        if isinstance(phase, str) and phase == name:
            return True
        if isinstance(phase, dict) and name in (phase.get("name"), phase.get("id"), phase.get("phase")):
            if phase.get("skipped") is True:
                return False  # a skipped phase proved nothing
            for key in ("ok", "passed"):
                if key in phase:
                    return phase[key] is True
            if "status" in phase:
                return phase["status"] in ("passed", "ok", "warned")
            return None
    return None


@register
class DrillCheck(Check):
    kind = "drill"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        from mci.store.audit import verify_chain

        max_age = P.duration(params, "max_age", None)
        if max_age is None:
            P.required(params, "max_age", "7d")
        assert max_age is not None
        wanted_profile = params.get("profile")
        if wanted_profile is not None:
            wanted_profile = P.text(params, "profile")
        phases = P.texts(params, "phases")
        now = ctx.clock.now()
        records = list(ctx.store.audit_records())
        broken = verify_chain(records)
        if broken is not None:
            return CheckOutcome.failed(
                MciError(
                    f"the audit log is broken at record {broken.seq}: {broken.reason}",
                    "drill results are read from the hash-chained audit log; a broken chain means it was altered",
                    "find out who altered the state database; run a new drill only on an intact log",
                ),
                broken_at=broken.seq,
            )
        latest = None
        for record in records:
            if record.kind != DRILL_KIND:
                continue
            drilled = record.data.get("profile") or record.profile
            at = datetime.fromisoformat(record.ts)
            if at > now or (wanted_profile is not None and drilled != wanted_profile):
                continue
            latest = (record, drilled, at)
        scope = f" of profile {wanted_profile}" if wanted_profile else ""
        how = (
            f"run `mci drill`{' -p ' + wanted_profile if wanted_profile else ''} and fix what it finds until it passes"
        )
        if latest is None:
            return CheckOutcome.failed(
                MciError(
                    f"no drill{scope} in the audit log",
                    "the emergency shutdown has never been rehearsed here; untested, it is assumed broken",
                    how,
                ),
                max_age=max_age,
            )
        record, drilled, at = latest
        age = now - at
        facts: dict[str, Any] = {
            "seq": record.seq,
            "at": at,
            "profile": drilled,
            "passed": record.data.get("passed") is True,
            "age": age,
            "max_age": max_age,
        }
        when = f"{P.human(age)} ago (audit #{record.seq}, profile {drilled})"
        if record.data.get("passed") is not True:
            return CheckOutcome.failed(
                MciError(
                    f"the latest drill{scope} failed, {when}",
                    "a failed drill means the emergency path did not work at its last test; "
                    "an older pass no longer counts",
                    how,
                ),
                **facts,
            )
        if age > max_age:
            return CheckOutcome.failed(
                MciError(
                    f"the latest drill{scope} passed {when}, longer ago than max_age {P.human(max_age)}",
                    "an old rehearsal does not prove that today's code, config and broker still work",
                    how,
                ),
                **facts,
            )
        for name in phases:
            if _phase_passed(record.data.get("phases"), name) is not True:
                return CheckOutcome.failed(
                    MciError(
                        f"the latest drill{scope} did not pass phase {name}",
                        f"the check requires phases {', '.join(phases)}; the drill recorded "
                        f"{record.data.get('phases')!r:.200}",
                        how,
                    ),
                    **facts,
                )
        return CheckOutcome.passed(f"drill passed {when}", **facts)


def _approve_hint(subject: str) -> str:
    if subject.startswith("gate:") and "/" in subject:
        gate, _, check = subject[len("gate:") :].rpartition("/")
        return f'mci gate approve {gate} {check} --by "NAME" --note "WHY"'
    return "record an approval for it (mci gate approve / mci policy approve)"


@register
class ApprovalCheck(Check):
    kind = "approval"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        from mci.approvals import ApprovalBook, check_subject

        if params.get("subject") is None:
            raise ConfigError(
                "this approval check has no subject",
                "outside a gate there is no gate:NAME/CHECK to look up, and no `subject` param names one",
                "run it with `mci gate run`, or set `subject: gate:NAME/CHECK` in its params",
            )
        subject = check_subject(P.text(params, "subject"))
        approvers = [name.strip() for name in P.texts(params, "approvers")]
        max_age = P.duration(params, "max_age", None)
        role = params.get("role")
        book = getattr(ctx, "approvals", None) or ApprovalBook.default(ctx.state_dir, cwd=P.base_dir(ctx))
        now = ctx.clock.now()
        who = f" from {role}" if isinstance(role, str) and role.strip() else ""
        hint = _approve_hint(subject)
        approval = book.find(subject, now)
        facts: dict[str, Any] = {"subject": subject}
        if approval is None:
            latest = None
            for record in book.records():
                if record.subject == subject and record.at <= now:
                    latest = record
            if latest is None:
                why = "nobody has signed this off"
            elif latest.revoked:
                why = f"the approval was revoked by {latest.by} at {latest.at.isoformat(timespec='minutes')}: {latest.note}"
            else:
                why = f"the approval by {latest.by} expired at {latest.expires_at.isoformat(timespec='minutes') if latest.expires_at else '?'}"
            return CheckOutcome.failed(MciError(f"no valid sign-off{who} for {subject}", why, hint), **facts)
        facts.update(
            by=approval.by, at=approval.at, note=approval.note, expires_at=approval.expires_at, source=approval.source
        )
        if approvers and approval.by.casefold() not in {a.casefold() for a in approvers}:
            return CheckOutcome.failed(
                MciError(
                    f"{subject} was signed off by {approval.by}, who is not a named approver",
                    f"this check accepts a sign-off only from: {', '.join(approvers)}",
                    hint.replace('"NAME"', f'"{approvers[0]}"'),
                ),
                **facts,
            )
        if max_age is not None and now - approval.at > max_age:
            return CheckOutcome.failed(
                MciError(
                    f"the sign-off for {subject} is {P.human(now - approval.at)} old, more than max_age {P.human(max_age)}",
                    f"{approval.describe()}; the check wants a fresh one",
                    hint,
                ),
                **facts,
            )
        until = f" (until {approval.expires_at.isoformat(timespec='minutes')})" if approval.expires_at else ""
        return CheckOutcome.passed(
            f"signed off by {approval.by} {P.human(now - approval.at)} ago{until}: {approval.note}", **facts
        )
