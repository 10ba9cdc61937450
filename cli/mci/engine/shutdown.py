"""Phase 4: `mci shutdown` (graceful or end-of-day), `mci shutdown --emergency` and `mci reset`.

Graceful: running/armed/ready/blocked → stopping, the sequence, → stopped. A
crashed shutdown (lifecycle `stopping`, run unfinished in the journal) resumes
at its first unfinished step. A step with on_error: escalate hands over to the
emergency sequence under the same lock.

Emergency: from any state; latches `halted` in its first transaction, before it
touches the engine or the broker (mci.engine.killswitch), so a kill that dies
part-way still leaves the profile latched; preempts a stuck graceful shutdown or
ignite that holds the profile lock; runs without a usable state DB (audit to
audit.fallback.jsonl). Its verdict is the book re-read after the sequence,
retried until a deadline: flat (exit 0), what remains (exit 6), or could not
verify (exit 7) — never "not flat" for a book it could not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.clock import Clock
from mci.errors import ExitCode, MciError, RefusedError, UnavailableError, UsageError
from mci.store.errors import DatabaseError

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.flatten.scope import Selection
    from mci.engine.sequence import SequenceResult, StepResult

# The emergency may take the lock from these (a shutdown or ignition stuck on a dead broker or engine).
EMERGENCY_PREEMPTS = ("shutdown", "ignite", "watch")
MODES = ("graceful", "end_of_day")


@dataclass(frozen=True)
class ShutdownOutcome:
    mode: str  # graceful | end_of_day | emergency
    result: "SequenceResult | None"  # None: nothing to do (already stopped)
    escalation: "SequenceResult | None"
    lifecycle_state: str
    exit_code: ExitCode
    note: str
    flat: bool | None = None  # emergency: the book re-read at the end (None: could not be read)
    remaining: list[dict[str, Any]] = field(default_factory=list)
    preempted: dict[str, Any] | None = None
    read_at: datetime | None = None  # when the book behind flat / remaining was read
    report: dict[str, Any] | None = None  # emergency: engine stopped? audited where? latched? (KillStore.report)
    unprotected: list[str] = field(default_factory=list)  # graceful: kept positions without a protective stop
    scope: dict[str, Any] | None = None  # a scoped emergency's Selection.as_dict(); None: the whole account
    outside: list[dict[str, Any]] = field(default_factory=list)  # a scoped emergency: open outside it, left alone

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "lifecycle": self.lifecycle_state,
            "exit_code": int(self.exit_code),
            "note": self.note,
            "flat": self.flat,
            "remaining": self.remaining,
            "preempted": self.preempted,
            "read_at": self.read_at.isoformat() if self.read_at else None,
            "report": self.report,
            "unprotected": self.unprotected,
            "scope": self.scope,
            "outside": self.outside,
            "run": self.result.as_dict() if self.result else None,
            "escalation": self.escalation.as_dict() if self.escalation else None,
        }


def shutdown(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    mode: str = "graceful",
    on_step: Callable[["StepResult"], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ShutdownOutcome:
    from mci.engine.sequence import SequenceRun, context_for, new_run_id, sequence_for
    from mci.store.lock import ProfileLock

    if mode not in MODES:
        raise UsageError(
            f"unknown shutdown mode {mode!r}",
            f"the modes are {', '.join(MODES)} and emergency",
            "use `mci shutdown`, `mci shutdown --end-of-day` or `mci shutdown --emergency`",
        )
    sequence = sequence_for(profile, mode, cache_dir=state_dir / "cache")
    with ProfileLock(state_dir, profile.name, "shutdown"):
        try:
            ctx = context_for(profile, clock, state_dir, mode, progress=progress)
        except MciError as exc:
            raise _without_db(profile, state_dir, exc) from None
        try:
            try:
                ctx.store.check_pages()  # its journal must be whole for a crash to resume safely
                state = ctx.lifecycle.current().state
                unfinished = ctx.journal.unfinished(mode)
            except DatabaseError as exc:
                raise _without_db(profile, state_dir, exc) from None
            if state == "halted":
                raise RefusedError(
                    "shutdown refused: the kill switch is latched (halted)",
                    "the emergency sequence already ran for this profile; a graceful shutdown has nothing to add",
                    "inspect the account; `mci shutdown --emergency` retries the flatten, `mci reset --confirm` unlatches",
                )
            # The engine's pidfile, not the lifecycle, says whether an engine trades: a lost or replaced state DB
            # reads `idle` beside a live engine, and the shutdown must stop that engine, not send the operator
            # to `mci scan`.
            engine = ctx.engine.running() if state in ("idle", "stopped") else None
            if state == "stopped" and unfinished is not None:
                # Written by an older mci, whose last step moved the lifecycle before the run was recorded done.
                ctx.journal.finish(unfinished.run_id, "done", clock.now(), None)
                unfinished = None
            if unfinished is not None and state == "stopping":
                run_id = unfinished.run_id
            elif state in ("stopped", "idle") and engine is None:
                if state == "idle":
                    ctx.lifecycle.fire("shutdown", clock.now(), f"mci shutdown ({mode})")  # refused: the usual hint
                return ShutdownOutcome(mode, None, None, state, ExitCode.OK, "already stopped: nothing to do")
            else:
                run_id = new_run_id(mode)
                with ctx.store.transaction():
                    reason = f"mci shutdown ({mode})"
                    if engine is not None:
                        reason += f": engine pid {engine.pid} is running although the lifecycle says {state}"
                        ctx.store.append_audit(
                            "engine_adopted",
                            {"pid": engine.pid, "lifecycle": state, "run_id": run_id},
                            clock.now(),
                            profile=profile.name,
                        )
                    if state != "stopping":  # a failed earlier run left it stopping: start the sequence afresh
                        ctx.lifecycle.fire(
                            "engine_found" if engine is not None else "shutdown", clock.now(), reason, run_id=run_id
                        )
                    ctx.journal.start(run_id, mode, sequence.name, clock.now())

            def stopped(done_run: str) -> None:
                if ctx.lifecycle.current().state == "stopping":
                    ctx.lifecycle.fire("stopped", clock.now(), "shutdown complete", run_id=done_run)

            result = SequenceRun(sequence, ctx, on_step=on_step, on_done=stopped).execute(run_id=run_id)
            if result.status == "escalated":
                ctx.close_broker()
                escalation = _emergency_run(
                    profile,
                    clock,
                    state_dir,
                    on_step=on_step,
                    progress=progress,
                    parent=result.run_id,
                    command="shutdown (escalated)",
                )
                return replace(
                    escalation,
                    mode=mode,
                    result=result,
                    escalation=escalation.result,
                    note=f"step {_failed_step(result)} failed and escalated to the emergency sequence; "
                    f"{escalation.note}",
                )
            state = ctx.lifecycle.current().state
            unprotected = _unprotected(result)
            if result.ok:
                note = "stopped cleanly"
                if unprotected:
                    note += f"; {len(unprotected)} kept position(s) WITHOUT a protective stop: " + ", ".join(
                        unprotected
                    )
                return ShutdownOutcome(mode, result, None, state, ExitCode.OK, note, unprotected=unprotected)
            return ShutdownOutcome(
                mode,
                result,
                None,
                state,
                ExitCode.INCOMPLETE,
                f"shutdown incomplete: step {_failed_step(result)} failed; rerun `mci shutdown` to resume "
                "or `mci shutdown --emergency`",
                unprotected=unprotected,
            )
        finally:
            ctx.close_broker()
            ctx.store.close()


def _without_db(profile: "Profile", state_dir: Path, exc: BaseException) -> MciError:
    """A graceful shutdown needs its journal to be crash-safe; without it, it points at the kill, which does not."""
    from mci.enginectl import EngineControl

    why = f"{exc.what}: {exc.why}" if isinstance(exc, MciError) else f"SQLite says: {exc}"
    try:
        engine = EngineControl(profile, state_dir).running()
    except MciError:
        engine = None
    if engine is None:
        return UnavailableError(
            "shutdown cannot run: the state database is unusable",
            why,
            "no engine is running for this profile; move the damaged state.db aside (keep it: "
            "the audit log is in it) or restore it, then run `mci status`",
        )
    return UnavailableError(
        f"shutdown cannot run: the state database is unusable, and engine pid {engine.pid} is STILL RUNNING",
        why,
        "run `mci kill` now: it stops the engine from its pidfile and flattens the account without the database "
        "(auditing to audit.fallback.jsonl); a graceful shutdown needs its journal to resume safely after a crash",
        pid=engine.pid,
    )


def _unprotected(result: "SequenceResult") -> list[str]:
    """Kept positions without a resting stop, as the last step that looked found them."""
    for step in reversed(result.steps):
        found = (step.facts or {}).get("unprotected")
        if isinstance(found, list):
            return [str(x) for x in found]
    return []


def emergency(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    on_step: Callable[["StepResult"], None] | None = None,
    progress: Callable[[str], None] | None = None,
    command: str = "kill",
    selection: "Selection | None" = None,
) -> ShutdownOutcome:
    """Latch, then take the lock (preempting a stuck shutdown or ignite), then the sequence and the verdict.

    The latch comes before the lock: preempting a stuck holder takes seconds, and a kill that dies in
    them must already have latched. `selection` (--product, --tag, --symbol) narrows the scope the
    emergency sequence declares (none: the whole account); a scoped kill latches only its scope.
    """
    from mci.engine.killswitch import latch, open_for_kill
    from mci.store.lock import ProfileLock

    selection = scope_of(profile, state_dir, selection)
    kill = open_for_kill(profile, clock, state_dir)
    try:
        latch(kill, profile, clock, command=command, selection=selection)
        siblings = _latch_siblings(profile, clock, state_dir, kill, command, selection)
        with ProfileLock(state_dir, profile.name, "emergency", preempt=EMERGENCY_PREEMPTS) as lock:
            if lock.preempted is not None:
                _record(kill, "lock_preempted", lock.preempted.as_dict(), profile, clock)
            outcome = _emergency_run(
                profile,
                clock,
                state_dir,
                on_step=on_step,
                progress=progress,
                kill=kill,
                command=command,
                selection=selection,
            )
    finally:
        kill.store.close()
    if lock.preempted is not None:
        outcome = replace(outcome, preempted=lock.preempted.as_dict())
    if siblings:
        outcome = replace(outcome, report={**(outcome.report or {}), "siblings": siblings})
    return outcome


def _latch_siblings(
    profile: "Profile", clock: Clock, state_dir: Path, kill: Any, command: str, selection: "Selection | None"
) -> list[str]:
    """Latch the desk's other profiles on this profile's Kite account too: one account, one latch.

    The desk (mci.config.desk: $MCI_DESK or <state dir>/desk) is the registry of profiles; without one
    there is nothing to find. Never raises: the kill of this profile matters more."""
    if profile.broker.kind != "kite":
        return []  # a paper account belongs to one profile name
    from mci.config.desk import desk_path, load_desk
    from mci.brokers.accounts import account_of, members

    from mci.engine.killswitch import latch, open_for_kill

    try:
        mine = account_of(profile, state_dir)
        found = members(load_desk(desk_path(None, state_dir)), state_dir)
    except (MciError, OSError):
        return []
    latched = []
    for m in found:
        if m.profile is None or m.name == profile.name or m.account != mine:
            continue
        try:
            other = open_for_kill(m.profile, clock, state_dir)
            try:
                latch(
                    other,
                    m.profile,
                    clock,
                    command=f"{command} of {profile.name} (same Kite account)",
                    selection=selection,
                )
            finally:
                other.store.close()
            if other.latched:
                latched.append(m.name)
            else:
                kill.notes.append(f"could not latch {m.name} (same Kite account): {other.latch_error}")
        except Exception as exc:  # noqa: BLE001 — a sibling's bookkeeping never stops this kill
            kill.notes.append(f"could not latch {m.name} (same Kite account): {exc}")
    return latched


def scope_of(profile: "Profile", state_dir: Path, flags: "Selection | None") -> "Selection | None":
    """The emergency's scope: the sequence's declared `scope:` narrowed by the command's flags; None: the account."""
    from mci.engine.sequence import sequence_for
    from mci.flatten.scope import Selection

    declared = Selection.from_dict(sequence_for(profile, "emergency", cache_dir=state_dir / "cache").scope)
    if declared is None:
        return flags
    return declared.narrow(flags)


def _record(kill: Any, kind: str, data: dict[str, Any], profile: "Profile", clock: Clock) -> None:
    try:
        kill.store.append_audit(kind, data, clock.now(), profile=profile.name)
    except (MciError, DatabaseError):
        pass  # the report says where the audit went and what failed; bookkeeping never stops a kill


def _emergency_run(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    on_step: Callable[["StepResult"], None] | None,
    progress: Callable[[str], None] | None,
    parent: str | None = None,
    kill: Any = None,
    command: str = "kill",
    selection: Any = "declared",
) -> ShutdownOutcome:
    from mci.engine import killswitch
    from mci.engine.sequence import SequenceRun, context_for, new_run_id, sequence_for
    from mci.store import journal as jr

    sequence = sequence_for(profile, "emergency", cache_dir=state_dir / "cache")
    if selection == "declared":  # escalated from a graceful run: the scope the sequence declares, if any
        selection = scope_of(profile, state_dir, None)
    own_store = kill is None
    if kill is None:  # escalated from a graceful run, under its lock: this is the emergency's first transaction
        kill = killswitch.open_for_kill(profile, clock, state_dir)
        killswitch.latch(kill, profile, clock, command=command, run_id=parent, selection=selection)
    ectx = context_for(profile, clock, state_dir, "emergency", progress=progress, store=kill.store)
    ectx.selection = selection
    try:
        run_id = None
        try:
            for purpose in ("ignite", *MODES):
                # The emergency supersedes them: a preempted or crashed run must never be resumed after it.
                stale = ectx.journal.unfinished(purpose)
                if stale is not None and stale.run_id != parent:
                    ectx.journal.finish(stale.run_id, jr.ABANDONED, clock.now(), {"superseded_by": "emergency"})
            unfinished = ectx.journal.unfinished("emergency")
            run_id = unfinished.run_id if unfinished is not None and parent is None else None
        except (MciError, DatabaseError) as exc:
            _note_db_failure(kill, exc)
        run_id = run_id or new_run_id("emergency")
        try:
            result = SequenceRun(sequence, ectx, on_step=on_step).execute(run_id=run_id, parent=parent)
        except (MciError, DatabaseError) as exc:
            if not kill.persistent:
                raise
            # Steps catch their own failures: what escapes is the journal's DB. Flattening matters more than its
            # bookkeeping, so the run starts again in memory (every step is idempotent), auditing to the file.
            killswitch.degrade(kill, state_dir, clock, profile, exc)
            ectx.close_broker()
            ectx = context_for(profile, clock, state_dir, "emergency", progress=progress, store=kill.store)
            ectx.selection = selection
            result = SequenceRun(sequence, ectx, on_step=on_step).execute(run_id=run_id, parent=parent)
        if not kill.latched and kill.persistent:
            # The first latch failed (a busy DB); one more try now the work is done.
            killswitch.latch(kill, profile, clock, command=command, run_id=result.run_id, selection=selection)
        breaker = killswitch.broker_breaker(profile, kill.store, clock) if kill.persistent else None
        book = killswitch.read_book(
            lambda: ectx.broker, clock, within=killswitch.verify_within(), breaker=breaker, selection=selection
        )
        _record(
            kill,
            "emergency",
            {
                "event": "verdict",
                "run_id": result.run_id,
                "flat": book.flat,
                "remaining": book.remaining,
                "outside": book.outside,
                "scope": selection.as_dict() if selection is not None else None,
                "read_at": book.read_at.isoformat() if book.read_at else None,
                "error": book.error.as_dict() if book.error else None,
            },
            profile,
            clock,
        )
        try:
            state = ectx.lifecycle.current().state
        except (MciError, DatabaseError) as exc:
            _note_db_failure(kill, exc)
            state = "unknown"
    finally:
        ectx.close_broker()
        if own_store:
            kill.store.close()
    report = {**kill.report(), "engine": _engine_report(result), "unclosed": _unclosed(result, book)}
    outcome = _verdict(result, state, book, report, selection)
    if selection is None:
        return outcome
    return replace(outcome, scope=selection.as_dict(), outside=book.outside)


def _unclosed(result: "SequenceResult", book: Any) -> list[dict[str, Any]]:
    """What the square-off could not close and why (mci.flatten report.unclosed), for positions still open."""
    still = {(r["instrument"], r.get("product")) for r in book.remaining if r.get("type") == "position"}
    for step in result.steps:
        if step.kind == "positions.square_off" and step.error is not None:
            return [u for u in step.error.details.get("unclosed") or [] if (u["instrument"], u["product"]) in still]
    return []


def _note_db_failure(kill: Any, exc: BaseException) -> None:
    kill.notes.append(f"the state DB failed during the kill: {exc.what if isinstance(exc, MciError) else exc}")


def _engine_report(result: "SequenceResult") -> str:
    step = next((s for s in result.steps if s.kind == "engine.stop"), None)
    if step is None:
        return "the sequence has no engine.stop step"
    if step.status.value == "failed":
        return f"NOT stopped: {step.summary}"
    return step.summary


def _verdict(
    result: "SequenceResult", state: str, book: Any, report: dict[str, Any], selection: "Selection | None" = None
) -> ShutdownOutcome:
    latched = "halted until `mci reset --confirm`" if report["latched"] else "NOT latched (see the report)"
    if selection is not None and report["latched"]:
        latched = (
            f"scope {selection.label()} latched (`mci risk check` refuses entries in it) until `mci reset --confirm`"
        )
    read_at = book.read_at_text()
    if book.flat:
        where = "" if selection is None else f" in scope {selection.label()}"
        left = f"; {len(book.outside)} item(s) left open outside the scope" if book.outside else ""
        return ShutdownOutcome(
            "emergency",
            result,
            None,
            state,
            ExitCode.OK,
            f"flat{where}: no open position, no open order (as read at {read_at}){left}; {latched}",
            True,
            [],
            read_at=book.read_at,
            report=report,
        )
    if book.flat is False:
        return ShutdownOutcome(
            "emergency",
            result,
            None,
            state,
            ExitCode.INCOMPLETE,
            f"NOT FLAT: {len(book.remaining)} item(s) remain (as read at {read_at}); close them at "
            f"the broker now; {latched}",
            False,
            book.remaining,
            read_at=book.read_at,
            report=report,
        )
    why = f"{book.error.what}: {book.error.why}" if book.error else "no read succeeded"
    how = (
        book.error.how
        if book.error is not None and book.error.code is not ExitCode.UNAVAILABLE
        else (
            "check the account at the broker (the Kite console) now; `mci kill` again retries the flatten and the read"
        )
    )
    return ShutdownOutcome(
        "emergency",
        result,
        None,
        state,
        ExitCode.UNVERIFIED,
        f"COULD NOT VERIFY: the account could not be read back after {book.attempts} attempt(s) "
        f"({why}); the orders above were sent, but whether it is flat is unknown; HOW: {how}; "
        f"{latched}",
        None,
        [],
        report=report,
    )


def reread(
    profile: "Profile", clock: Clock, state_dir: Path, *, within: float = 10.0, selection: "Selection | None" = None
) -> Any:
    """The book again, right before a NOT FLAT list is shown: the operator acts on what is open now."""
    from datetime import timedelta

    from mci.brokers.factory import broker_for
    from mci.engine.killswitch import read_book

    made: list[Any] = []

    def broker() -> Any:
        if not made:
            made.append(broker_for(profile, state_dir, clock, emergency=True))
        return made[0]

    try:
        return read_book(broker, clock, within=timedelta(seconds=within), selection=selection)
    finally:
        for b in made:
            b.close()


def _failed_step(result: "SequenceResult") -> str:
    return result.failed_step.id if result.failed_step else "?"


def reset(profile: "Profile", clock: Clock, state_dir: Path, *, confirm: bool, reason: str = "") -> str:
    """Unlatch `halted` on purpose: halted → idle. Without confirm it is a usage error, never a reset."""
    from mci.engine.lifecycle import Lifecycle
    from mci.store.lock import ProfileLock
    from mci.store.state import StateStore

    if not confirm:
        raise UsageError(
            "reset needs --confirm",
            "unlatching the kill switch lets the profile trade again after an emergency",
            "inspect the account first (`mci status`), then run `mci reset --confirm`",
        )
    from mci.store.journal import ABANDONED, Journal

    from mci.store import latches

    with ProfileLock(state_dir, profile.name, "reset"):
        store = StateStore.open(state_dir)
        try:
            with store.transaction():
                life = Lifecycle(store, profile.name)
                # One reset clears every latch of the profile: the scoped ones (mci.store.latches) and `halted`.
                cleared = latches.clear(store, profile.name)
                if cleared:
                    store.append_audit(
                        "scope_latch",
                        {
                            "event": "cleared",
                            "scopes": [c["scope"] for c in cleared],
                            "reason": reason or "operator reset (mci reset --confirm)",
                        },
                        clock.now(),
                        profile=profile.name,
                    )
                    if life.current().state != "halted":
                        return life.current().state
                move = life.fire("reset", clock.now(), reason or "operator reset (mci reset --confirm)")
                # A kill cut short must not be resumed by the next one: that one starts afresh on today's book.
                stale = Journal(store, profile.name).unfinished("emergency")
                if stale is not None:
                    Journal(store, profile.name).finish(
                        stale.run_id, ABANDONED, clock.now(), {"superseded_by": "reset"}
                    )
        finally:
            store.close()
    return move.dest
