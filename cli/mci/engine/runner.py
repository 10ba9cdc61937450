"""Run a checklist: a DAG of checks, concurrent where independent, each attempt bounded by its timeout.

Rules that keep a wrong "pass" out:
- a check that crashes, times out, is refused by a breaker or cannot be
  scheduled (unknown kind, unknown need, cycle) is FAILED;
- a check whose need failed or was skipped is SKIPPED, and a skipped
  *critical* check fails the run (it never ran, so it proved nothing);
- token checks run first: every broker-using check implicitly needs every
  `token.validity` check (CR-001).

Each attempt runs in its own daemon thread and the runner stops waiting at the
timeout, so a hung broker call cannot hang the scan or the process exit.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from mci.checks.base import REGISTRY, Check, CheckContext, CheckOutcome
from mci.config.model import Checklist, CheckSpec
from mci.units import format_duration
from mci.engine.breaking import declared_breaker
from mci.engine.retrying import CheckTimedOut, retry_after_first
from mci.errors import BreakerOpenError, ConfigError, ExitCode, MciError, UnavailableError
from mci.observability.redact import redact_message
from mci.results import ADVISORY, CheckResult, ScanResult, Status, overall

TOKEN_KIND = "token.validity"


# -- the runner ---------------------------------------------------------------------------


def run_checklist(
    checklist: Checklist,
    ctx: CheckContext,
    *,
    on_update: Callable[[CheckResult], None] | None = None,
    max_workers: int = 8,
) -> ScanResult:
    """Run every check of the checklist; results come back in declared order. Raises ConfigError only for a
    checklist that cannot be reported honestly (duplicate ids); every other problem is a failed check."""
    seen: set[str] = set()
    for spec in checklist.checks:
        if spec.id in seen:
            # Results are keyed by id: a duplicate would show one check's verdict for another that never ran.
            raise ConfigError(
                f"checklist {checklist.name} has two checks with id {spec.id!r}",
                "each check id must be unique: results, needs and overrides refer to checks by id",
                "rename one of them",
                spec.location,
            )
        seen.add(spec.id)
    return _Run(checklist, ctx, on_update, max_workers).execute()


def call_with_timeout(
    fn: Callable[[], Any], timeout: timedelta, on_timeout: Callable[[], MciError], name: str = "mci-attempt"
) -> Any:
    """Run fn in a daemon thread; raise on_timeout() if it has not finished in time (the thread is abandoned)."""
    box: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 — handed back to the caller's thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    if not finished.wait(max(timeout.total_seconds(), 0.001)):
        raise on_timeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Run:
    def __init__(
        self, checklist: Checklist, ctx: CheckContext, on_update: Callable[[CheckResult], None] | None, max_workers: int
    ):
        self.checklist = checklist
        self.ctx = ctx
        self.on_update = on_update
        self.max_workers = max(1, max_workers)
        self.specs = {s.id: s for s in checklist.checks}
        self.results: dict[str, CheckResult] = {}
        self.raw_failed: set[str] = set()  # failed before severity softened it: dependents must not run
        self._emit_lock = threading.Lock()
        self._broker_lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._tz = getattr(getattr(ctx.profile, "market", None), "timezone", "Asia/Kolkata")
        secrets = getattr(getattr(ctx.profile, "broker", None), "api_secret", None)
        self._secrets = [secrets] if secrets else []

    # -- bookkeeping ----------------------------------------------------------------

    def _emit(self, result: CheckResult) -> None:
        with self._emit_lock:
            self.results[result.id] = result
            if self.on_update is not None:
                try:
                    self.on_update(result)
                except Exception:  # noqa: BLE001
                    # A broken progress display must not change a verdict; the final render still shows it.
                    pass

    def _base(self, spec: CheckSpec) -> CheckResult:
        return CheckResult(spec.id, spec.kind, spec.title or spec.id, spec.severity or "critical", Status.PENDING)

    def _final(
        self,
        spec: CheckSpec,
        status: Status,
        summary: str,
        error: MciError | None,
        facts: Mapping[str, Any] | None,
        started: datetime,
        t0: float,
        attempts: int,
    ) -> CheckResult:
        if status is Status.FAILED:
            self.raw_failed.add(spec.id)
        return replace(
            self._base(spec),
            status=status,
            summary=summary,
            error=error,
            facts=dict(facts or {}),
            started_at=started,
            finished_at=self.ctx.clock.now(),
            duration=timedelta(seconds=time.monotonic() - t0),
            attempts=attempts,
        )

    def _fail_now(self, spec: CheckSpec, error: MciError) -> None:
        now = self.ctx.clock.now()
        self._emit(self._final(spec, Status.FAILED, error.what, error, None, now, time.monotonic(), 0))

    # -- scheduling -----------------------------------------------------------------

    def _dependencies(self) -> dict[str, list[str]]:
        token_ids = [s.id for s in self.checklist.checks if s.kind == TOKEN_KIND]
        deps: dict[str, list[str]] = {}
        for spec in self.checklist.checks:
            needs = list(spec.needs)
            impl = REGISTRY.get(spec.kind)
            if impl is not None and impl.uses_broker and spec.kind != TOKEN_KIND:
                needs += [t for t in token_ids if t not in needs]  # CR-001
            deps[spec.id] = needs
        return deps

    def execute(self) -> ScanResult:
        clock = self.ctx.clock
        started_at, t0 = clock.now(), time.monotonic()
        for spec in self.checklist.checks:
            self._emit(self._base(spec))

        deps = self._dependencies()
        pending: list[str] = []
        for spec in self.checklist.checks:
            unknown = [n for n in deps[spec.id] if n not in self.specs]
            if spec.kind not in REGISTRY:
                self._fail_now(
                    spec,
                    ConfigError(
                        f"check {spec.id} has kind {spec.kind!r}, which mci does not implement",
                        "no check implementation is registered under that kind",
                        "fix the kind in the checklist (`mci validate` lists the known kinds), or upgrade mci",
                        spec.location,
                    ),
                )
            elif unknown:
                self._fail_now(
                    spec,
                    ConfigError(
                        f"check {spec.id} needs {', '.join(unknown)}, which is not in checklist {self.checklist.name}",
                        "a `needs` entry must name the id of another check in the same checklist",
                        "correct or remove the `needs` entry",
                        spec.location,
                    ),
                )
            else:
                pending.append(spec.id)

        # Plain threads and a queue rather than concurrent.futures, which drags `logging` onto the start-up path.
        finished: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        ready: list[str] = []
        running = 0
        while True:
            progressed = True
            while progressed:
                progressed = False
                for cid in list(pending):
                    if any(d not in self.results or not self.results[d].status.done for d in deps[cid]):
                        continue
                    pending.remove(cid)
                    progressed = True
                    blocker = next(
                        (d for d in deps[cid] if d in self.raw_failed or self.results[d].status is Status.SKIPPED), None
                    )
                    if blocker is None:
                        ready.append(cid)
                    else:
                        self._skip(self.specs[cid], blocker)
            while ready and running < self.max_workers:
                cid = ready.pop(0)
                threading.Thread(
                    target=self._drive_into, args=(self.specs[cid], finished), name=f"mci-check-{cid}", daemon=True
                ).start()
                running += 1
            if not running:
                break
            cid, outcome = finished.get()
            running -= 1
            if isinstance(outcome, CheckResult):
                result = outcome
            else:  # the driver itself must never decide a verdict
                result = self._crashed(self.specs[cid], outcome, clock.now(), time.monotonic(), 0)
            if result.status is Status.FAILED:
                self.raw_failed.add(cid)
            self._emit(result)

        if pending:
            cycle = ", ".join(pending)
            for cid in pending:
                self._fail_now(
                    self.specs[cid],
                    ConfigError(
                        f"check {cid} cannot run: its `needs` form a cycle",
                        f"these checks wait on each other: {cycle} (broker checks also wait for token checks)",
                        "remove one `needs` edge so the checks form a tree",
                        self.specs[cid].location,
                    ),
                )

        ordered = tuple(self.results[s.id] for s in self.checklist.checks)
        # A skipped critical check proved nothing, so it counts as failed; overall() also fails an all-skipped list.
        statuses = [Status.FAILED if r.blocking else r.status for r in ordered]
        return ScanResult(
            checklist=self.checklist.name,
            profile=getattr(self.ctx.profile, "name", "?"),
            status=overall(statuses),
            results=ordered,
            started_at=started_at,
            finished_at=clock.now(),
            duration=timedelta(seconds=time.monotonic() - t0),
            timezone=self._tz,
        )

    def _skip(self, spec: CheckSpec, blocker: str) -> None:
        why_word = "failed" if blocker in self.raw_failed else "was skipped"
        reason = f"needs {blocker}, which {why_word}"
        error = MciError(
            f"check {spec.id} did not run",
            reason,
            f"fix {blocker} first; this check runs once it passes",
        )
        now = self.ctx.clock.now()
        self._emit(self._final(spec, Status.SKIPPED, reason, error, {"blocked_by": blocker}, now, time.monotonic(), 0))

    # -- one check --------------------------------------------------------------------

    def _drive_into(self, spec: CheckSpec, finished: "queue.SimpleQueue[tuple[str, Any]]") -> None:
        try:
            finished.put((spec.id, self._drive(spec)))
        except BaseException as exc:  # noqa: BLE001
            finished.put((spec.id, exc))

    def _drive(self, spec: CheckSpec) -> CheckResult:
        clock = self.ctx.clock
        started, t0 = clock.now(), time.monotonic()
        impl = REGISTRY[spec.kind]
        job = _Attempts(self, spec, impl, started)
        try:
            outcome = job.run()
        except MciError as exc:
            return self._failure(spec, self._with_how(spec, exc), None, started, t0, job.count)
        except TimeoutError as exc:
            error = UnavailableError(
                f"{spec.title or spec.id} timed out",
                f"a call inside the check timed out: {redact_message(str(exc) or 'no detail', self._secrets)}",
                "check the network and the broker's status; the scan may be re-run once it answers",
            )
            return self._failure(spec, self._with_how(spec, error), None, started, t0, job.count)
        except BaseException as exc:  # noqa: BLE001 — any other exception is a bug, and never a pass
            return self._crashed(spec, exc, started, t0, job.count)
        return self._from_outcome(spec, outcome, started, t0, job.count)

    def _from_outcome(self, spec: CheckSpec, outcome: Any, started: datetime, t0: float, attempts: int) -> CheckResult:
        if not isinstance(outcome, CheckOutcome) or outcome.status not in (Status.PASSED, Status.WARNED, Status.FAILED):
            got = outcome.status.value if isinstance(outcome, CheckOutcome) else type(outcome).__name__
            return self._crashed(
                spec, TypeError(f"check returned {got}, not a passed/warned/failed outcome"), started, t0, attempts
            )
        if outcome.status is Status.PASSED:
            return self._final(spec, Status.PASSED, outcome.summary, None, outcome.facts, started, t0, attempts)
        error = outcome.error or MciError(
            outcome.summary or f"check {spec.id} {outcome.status.value}",
            "the check gave no further reason",
            "see the check's facts in `mci scan -o json`",
        )
        if outcome.status is Status.WARNED:
            return self._final(
                spec, Status.WARNED, outcome.summary or error.what, error, outcome.facts, started, t0, attempts
            )
        return self._failure(
            spec,
            self._with_how(spec, error),
            outcome.facts,
            started,
            t0,
            attempts,
            summary=outcome.summary or error.what,
        )

    def _failure(
        self,
        spec: CheckSpec,
        error: MciError,
        facts: Mapping[str, Any] | None,
        started: datetime,
        t0: float,
        attempts: int,
        summary: str | None = None,
    ) -> CheckResult:
        # Severity is the operator's declaration: an advisory check's failure warns. The dependents of
        # the check still see it as failed (raw_failed), because their precondition is not established.
        self.raw_failed.add(spec.id)
        status = Status.WARNED if spec.severity == ADVISORY else Status.FAILED
        return self._final(spec, status, summary or error.what, error, facts, started, t0, attempts)

    def _crashed(self, spec: CheckSpec, exc: BaseException, started: datetime, t0: float, attempts: int) -> CheckResult:
        # Message, not repr: a repr can carry an object's secrets; the message is redacted besides.
        message = redact_message(str(exc), self._secrets)
        error = MciError(
            f"check {spec.id} crashed",
            f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
            "this is a bug in mci; run with -v and report it",
            ExitCode.INTERNAL,
        )
        # A crash is a bug, not the world's state: it fails even an advisory check.
        return self._final(spec, Status.FAILED, error.what, error, None, started, t0, attempts)

    @staticmethod
    def _with_how(spec: CheckSpec, error: MciError) -> MciError:
        if not spec.how or error.code is ExitCode.INTERNAL:
            return error
        # A fresh MciError: the subclasses' constructors do not take every field, so replace() would not do.
        return MciError(
            error.what, error.why, spec.how, error.code, error.location, {**error.details, "default_how": error.how}
        )

    def store(self) -> Any:
        with self._store_lock:
            return self.ctx.store

    def prime_broker(self) -> None:
        # The context builds its broker lazily; without the lock two concurrent checks could build two.
        with self._broker_lock:
            self.ctx.broker  # noqa: B018 — the property builds the broker on first read


class _Attempts:
    """The attempts of one check: the first plainly, the rest (if any) under tenacity."""

    def __init__(self, run: _Run, spec: CheckSpec, impl: type[Check], started: datetime):
        self.run_ = run
        self.spec = spec
        self.impl = impl
        self.started = started
        self.count = 0

    def run(self) -> CheckOutcome:
        return retry_after_first(self._attempt, self.spec.retry, sleep=self.run_.ctx.clock.sleep)

    def _attempt(self) -> CheckOutcome:
        run, spec = self.run_, self.spec
        self.count += 1
        run._emit(replace(run._base(spec), status=Status.RUNNING, started_at=self.started, attempts=self.count))
        timeout = spec.timeout

        def body() -> CheckOutcome:
            if self.impl.uses_broker:
                run.prime_broker()
            return self.impl().run(run.ctx, spec.params)

        def timed_out() -> MciError:
            return CheckTimedOut(
                f"{spec.title or spec.id} timed out after {format_duration(timeout)}",
                f"attempt {self.count} did not finish within the check's timeout of {format_duration(timeout)}; "
                "the broker, network or disk may be slow or hung",
                "check the broker's status and the network; if the check is legitimately slow, "
                "raise its `timeout:` in the checklist",
                attempt=self.count,
            )

        answered: list[CheckOutcome] = []

        def bounded() -> CheckOutcome:
            # The timeout inside the breaker's call: a hung attempt counts against the breaker like a failed one.
            outcome: CheckOutcome = call_with_timeout(body, timeout, timed_out, name=f"mci-{spec.id}")
            answered.append(outcome)
            return outcome

        if not spec.breaker:
            return bounded()
        breaker = declared_breaker(spec.breaker, run.ctx.profile, run.store(), clock=run.ctx.breaker_clock)
        try:
            return breaker.call(bounded)
        except BreakerOpenError:
            raise
        except Exception:
            if answered:
                # The check answered and only the breaker's bookkeeping failed (the state DB busy or read-only):
                # the verdict stands; system.health reports a store that cannot write.
                return answered[0]
            raise
