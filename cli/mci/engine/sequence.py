"""Run a sequence document step by step, with a durable journal, so a crashed run resumes where it stopped.

Each step: a timeout per attempt, the declared tenacity retry (only for what a
retry may cure), the declared pybreaker breaker, and `on_error`:
  abort     the run stops, failed;
  continue  the failure is recorded and the next step runs;
  escalate  the run stops, escalated: the caller runs the emergency sequence.
Steps already `done` in the journal for this run are not run again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.errors import ExitCode, MciError
from mci.results import Status, error_dict
from mci.results import StepResult as StepResult  # re-exported: the sequence's results are read from here too
from mci.store import journal as jr

if TYPE_CHECKING:
    from mci.config.model import Profile, Sequence, StepSpec
    from mci.steps.base import StepContext, StepOutcome

# Which sequence each purpose runs when the profile does not name one: the shipped rules.
DEFAULT_RULES = {
    "ignite": "ignition/standard",
    "graceful": "shutdown/graceful",
    "end_of_day": "shutdown/end-of-day",
    "emergency": "shutdown/emergency",
}


@dataclass(frozen=True)
class SequenceResult:
    run_id: str
    purpose: str
    sequence: str
    status: str  # done | failed | escalated
    steps: tuple[StepResult, ...]
    resumed: bool
    error: MciError | None = None  # what stopped the run (abort / escalate), or the first `continue` failure

    @property
    def ok(self) -> bool:
        return self.status == jr.DONE

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status is Status.FAILED), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "purpose": self.purpose,
            "sequence": self.sequence,
            "status": self.status,
            "resumed": self.resumed,
            "error": error_dict(self.error),
            "steps": [s.as_dict() for s in self.steps],
        }


def new_run_id(purpose: str) -> str:
    # Short: square-off order tags (≤ 20 chars at Kite) are derived from it.
    return purpose[0] + secrets.token_hex(4)


def sequence_for(profile: "Profile", purpose: str, *, cache_dir: Path | None = None) -> "Sequence":
    """The profile's declared sequence for `purpose`, else the shipped default rule."""
    from mci.config import load_sequence
    from mci.config.rules import find_rule, rule_dirs

    declared = profile.shutdown.get(purpose) if purpose != "ignite" else profile.ignite
    if declared is not None:
        return declared
    use = DEFAULT_RULES[purpose]
    path = find_rule(use, rule_dirs(profile.path))
    if path is None:
        raise MciError(
            f"no {purpose} sequence for profile {profile.name!r}",
            f"the profile names none and the default rule {use} is not installed",
            f"declare one in the profile (e.g. shutdown: {{{purpose}: {{use: {use}}}}}) or reinstall mci",
            ExitCode.INVALID,
        )
    return load_sequence(path, cache_dir=cache_dir)


def _step_error(spec: "StepSpec", exc: BaseException) -> MciError:
    if isinstance(exc, MciError):
        return exc
    from mci.observability.redact import redact_message

    # Anything else is a bug in a step: a failed step with the reason, never a traceback or a pass.
    return MciError(
        f"step {spec.id} failed: {type(exc).__name__}",
        redact_message(str(exc) or type(exc).__name__),
        "rerun the command (it resumes at this step); if it fails again, report it with this message",
        ExitCode.INTERNAL,
    )


class SequenceRun:
    """One run of one sequence; `execute()` resumes a journaled run when given its run_id."""

    def __init__(
        self,
        sequence: "Sequence",
        ctx: "StepContext",
        *,
        on_step: Callable[[StepResult], None] | None = None,
        on_done: Callable[[str], None] | None = None,
    ):
        self.sequence = sequence
        self.ctx = ctx
        self.on_step = on_step or (lambda result: None)
        # Committed in the transaction that records the run done (e.g. stopping → stopped), so that a kill
        # can never leave the lifecycle moved with its run unfinished, or the reverse.
        self.on_done = on_done

    def execute(self, *, run_id: str | None = None, parent: str | None = None) -> SequenceResult:
        from mci.steps import load_all

        load_all()
        ctx, journal = self.ctx, self.ctx.journal
        if run_id is None or journal.run(run_id) is None:
            run_id = run_id or new_run_id(ctx.purpose)
            journal.start(run_id, ctx.purpose, self.sequence.name, ctx.clock.now(), parent=parent)
        ctx.run_id = run_id
        resumed = bool(journal.steps(run_id))  # a crashed invocation got at least one step under way
        done = {s.step_id: s for s in journal.steps(run_id) if s.status == jr.DONE}
        results: list[StepResult] = []
        stopped_by: MciError | None = None
        first_error: MciError | None = None
        status = jr.DONE
        for position, spec in enumerate(self.sequence.steps):
            if spec.id in done:
                record = done[spec.id]
                result = StepResult(
                    spec.id,
                    spec.kind,
                    spec.title,
                    Status.PASSED,
                    record.summary,
                    record.attempt,
                    None,
                    record.facts or {},
                    record.started_at,
                    record.finished_at,
                    resumed=True,
                )
                results.append(result)
                self.on_step(result)
                continue
            result = self._run_step(spec, position)
            results.append(result)
            self.on_step(result)
            if result.status is not Status.FAILED:
                continue
            first_error = first_error or result.error
            if spec.on_error == "continue":
                status = jr.FAILED
                continue
            stopped_by = result.error
            status = jr.ESCALATED if spec.on_error == "escalate" else jr.FAILED
            for rest in self.sequence.steps[position + 1 :]:
                skipped = StepResult(rest.id, rest.kind, rest.title, Status.SKIPPED, f"not run: {spec.id} failed")
                results.append(skipped)
                self.on_step(skipped)
            break
        error = stopped_by or first_error
        with ctx.store.transaction():
            journal.finish(run_id, status, ctx.clock.now(), error.as_dict() if error else None)
            if status == jr.DONE and self.on_done is not None:
                self.on_done(run_id)
        return SequenceResult(run_id, ctx.purpose, self.sequence.name, status, tuple(results), resumed, error)

    # ------------------------------------------------------------ one step

    def _run_step(self, spec: "StepSpec", position: int) -> StepResult:
        from mci.steps.base import REGISTRY

        impl = REGISTRY.get(spec.kind)
        started = self.ctx.clock.now()
        attempts = 0
        if impl is None:
            error = MciError(
                f"step {spec.id} has the unknown kind {spec.kind!r}",
                "this version of mci has no step of that kind",
                "fix the sequence's `kind:` (mci validate lists the kinds) or upgrade mci",
                ExitCode.INVALID,
            )
            return StepResult(spec.id, spec.kind, spec.title, Status.FAILED, error.what, 0, error, {}, started, started)

        def attempt() -> "StepOutcome":
            nonlocal attempts
            attempts += 1
            number = self.ctx.journal.begin_step(self.ctx.run_id, spec.id, position, self.ctx.clock.now())
            try:
                outcome = self._guarded(spec, impl)
            except BaseException as exc:
                error = _step_error(spec, exc)
                self.ctx.journal.end_step(
                    self.ctx.run_id,
                    spec.id,
                    number,
                    jr.FAILED,
                    self.ctx.clock.now(),
                    summary=error.what,
                    error=error.as_dict(),
                )
                raise error from None
            self.ctx.journal.end_step(
                self.ctx.run_id,
                spec.id,
                number,
                jr.DONE,
                self.ctx.clock.now(),
                summary=outcome.summary,
                facts=dict(outcome.facts),
            )
            return outcome

        self.ctx.progress(f"{spec.title}…")
        try:
            outcome = self._with_retry(spec, attempt)
        except MciError as error:
            return StepResult(
                spec.id,
                spec.kind,
                spec.title,
                Status.FAILED,
                error.what,
                attempts,
                error,
                {},
                started,
                self.ctx.clock.now(),
            )
        return StepResult(
            spec.id,
            spec.kind,
            spec.title,
            Status.PASSED,
            outcome.summary,
            attempts,
            None,
            dict(outcome.facts),
            started,
            self.ctx.clock.now(),
        )

    def _with_retry(self, spec: "StepSpec", attempt: Callable[[], "StepOutcome"]) -> "StepOutcome":
        from mci.engine.retrying import retry_after_first

        return retry_after_first(attempt, spec.retry, sleep=self.ctx.clock.sleep)

    def _guarded(self, spec: "StepSpec", impl: Any) -> "StepOutcome":
        from mci.engine.retrying import CheckTimedOut
        from mci.engine.runner import call_with_timeout
        from mci.units import format_duration

        def body() -> "StepOutcome":
            outcome: StepOutcome = impl().run(self.ctx, spec.params)
            return outcome

        call = body
        if spec.breaker:
            from mci.engine.breaking import declared_breaker

            breaker = declared_breaker(spec.breaker, self.ctx.profile, self.ctx.store)

            def call() -> "StepOutcome":
                return breaker.call(body)

        def timed_out() -> MciError:
            return CheckTimedOut(
                f"step {spec.title} timed out after {format_duration(spec.timeout)}",
                "the attempt did not finish within the step's timeout; the engine, broker or network may be hung",
                "rerun the command: it resumes at this step (steps are safe to repeat); "
                "raise the step's `timeout:` if it is legitimately slow",
            )

        outcome: StepOutcome = call_with_timeout(call, spec.timeout, timed_out, name=f"mci-step-{spec.id}")
        return outcome


def context_for(
    profile: "Profile",
    clock: Any,
    state_dir: Path,
    purpose: str,
    *,
    progress: Callable[[str], None] | None = None,
    store: Any = None,
) -> "StepContext":
    from mci.engine.lifecycle import Lifecycle
    from mci.steps.base import StepContext
    from mci.store.journal import Journal
    from mci.store.state import StateStore

    store = store if store is not None else StateStore.open(state_dir)
    return StepContext(
        profile=profile,
        clock=clock,
        state_dir=state_dir,
        store=store,
        journal=Journal(store, profile.name),
        purpose=purpose,
        progress=progress or (lambda message: None),
        lifecycle_factory=lambda: Lifecycle(store, profile.name),
    )


def sequence_named(target: str, profile: "Profile | None", *, cache_dir: Path | None = None) -> "Sequence":
    """A purpose of the profile (ignite, graceful, end_of_day, emergency), a rule (shutdown/graceful) or a file."""
    from mci.config import load_sequence
    from mci.config.rules import find_rule, rule_dirs
    from mci.errors import UsageError

    if target in DEFAULT_RULES and profile is not None:
        return sequence_for(profile, target, cache_dir=cache_dir)
    path = Path(target)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return load_sequence(path, cache_dir=cache_dir)
    from mci.resources import default_profile

    found = find_rule(target, rule_dirs(profile.path if profile else default_profile()))
    if found is None:
        raise UsageError(
            f"no sequence named {target!r}",
            "it is not a purpose, a rule under rules/ or a YAML file",
            "name one of: lifecycle, " + ", ".join(DEFAULT_RULES) + ", " + ", ".join(DEFAULT_RULES.values()),
        )
    return load_sequence(found, cache_dir=cache_dir)


def sequence_mermaid(sequence: "Sequence") -> str:
    """A sequence as a Mermaid flowchart: the steps in order, and where each failure goes."""
    from mci.units import format_duration

    def label(text: str) -> str:
        return text.replace('"', "'")

    lines = ["flowchart TD", f'    begin(["{label(sequence.name)}"]) --> s0']
    ends = {"abort": 'failed(["failed: rerun resumes here"])', "escalate": 'emergency(["emergency sequence"])'}
    used: set[str] = set()
    for n, step in enumerate(sequence.steps):
        detail = f"{step.kind} · timeout {format_duration(step.timeout)}"
        if step.retry.attempts > 1:
            detail += f" · retry ×{step.retry.attempts}"
        if step.breaker:
            detail += f" · breaker {step.breaker}"
        lines.append(f'    s{n}["{n + 1}. {label(step.title)}<br/>{label(detail)}"]')
        following = f"s{n + 1}" if n + 1 < len(sequence.steps) else "finish"
        lines.append(f"    s{n} -->|ok| {following}")
        if step.on_error == "continue":
            lines.append(f"    s{n} -.->|error: continue| {following}")
        else:
            target = "failed" if step.on_error == "abort" else "emergency"
            lines.append(f"    s{n} -.->|error: {step.on_error}| {target}")
            used.add(step.on_error)
    lines.append('    finish(["done"])')
    lines.extend(f"    {ends[kind]}" for kind in sorted(used))
    return "\n".join(lines)
