"""The durable journal of sequence runs (ignite, shutdown, emergency): which step of which run got how far.

A run is a row in `runs`; every attempt of every step is a row in `steps`. A
step is written `running` before it starts and `done` / `failed` after, each
write in one transaction with its audit record, so a SIGKILL at any point
leaves either a finished step or an unfinished one — never a step that ran
without a trace. Rerunning the command resumes the unfinished run at its first
step that is not `done`; that step runs again (steps are idempotent: they
recompute from the broker and the engine, they never replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from mci.store.audit import canonical_json
from mci.store.state import StateStore, _instant, _iso, _parse, stored_json

# Run statuses. `running` is also what a crashed run is left as: it is resumable.
RUNNING, DONE, FAILED, ESCALATED, ABANDONED = "running", "done", "failed", "escalated", "abandoned"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    profile: str
    purpose: str  # ignite | graceful | end_of_day | emergency
    sequence: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    parent: str | None  # the run this one escalated from
    error: Mapping[str, Any] | None


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    step_id: str
    position: int
    attempt: int  # counts across resumes: attempt 2 may be the rerun after a crash
    status: str  # running | done | failed
    started_at: datetime
    finished_at: datetime | None
    summary: str
    error: Mapping[str, Any] | None
    facts: Mapping[str, Any] | None


def _json(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def _load(text: str | None) -> Any:
    return None if text is None else stored_json(text)


# Served by the runs_latest index (profile, started_at; its rowid breaks ties): no sort however long the journal.
LATEST = "SELECT * FROM runs WHERE profile = ? ORDER BY started_at DESC, rowid DESC LIMIT ?"


class Journal:
    def __init__(self, store: StateStore, profile: str):
        self.store = store
        self.profile = profile

    def unfinished(self, purpose: str) -> RunRecord | None:
        rows = self.store.execute(
            "SELECT * FROM runs WHERE profile = ? AND purpose = ? AND status = ? ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (self.profile, purpose, RUNNING),
        )
        return _run(rows[0]) if rows else None

    def run(self, run_id: str) -> RunRecord | None:
        rows = self.store.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run(rows[0]) if rows else None

    def latest(self, limit: int = 5) -> list[RunRecord]:
        rows = self.store.execute(LATEST, (self.profile, limit))
        return [_run(r) for r in rows]

    def start(self, run_id: str, purpose: str, sequence: str, now: datetime, parent: str | None = None) -> RunRecord:
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO runs(run_id, profile, purpose, sequence, status, started_at, parent) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, self.profile, purpose, sequence, RUNNING, _iso(now), parent),
            )
            self.store.append_audit(
                "run",
                {"run_id": run_id, "purpose": purpose, "sequence": sequence, "status": RUNNING, "parent": parent},
                now,
                profile=self.profile,
            )
        return self.run(run_id)  # type: ignore[return-value]

    def finish(self, run_id: str, status: str, now: datetime, error: Mapping[str, Any] | None = None) -> None:
        with self.store.transaction():
            self.store.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
                (status, _iso(now), _json(error), run_id),
            )
            self.store.append_audit(
                "run", {"run_id": run_id, "status": status, "error": error}, now, profile=self.profile
            )

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self.store.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY position, attempt", (run_id,))
        return [_step(r) for r in rows]

    def done_steps(self, run_id: str) -> set[str]:
        return {s.step_id for s in self.steps(run_id) if s.status == DONE}

    def begin_step(self, run_id: str, step_id: str, position: int, now: datetime) -> int:
        """Record the next attempt of a step as running; returns its attempt number."""
        with self.store.transaction():
            row = self.store.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM steps WHERE run_id = ? AND step_id = ?", (run_id, step_id)
            )
            attempt = int(row[0][0]) + 1
            self.store.execute(
                "INSERT INTO steps(run_id, step_id, position, attempt, status, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, step_id, position, attempt, RUNNING, _iso(now)),
            )
            self.store.append_audit(
                "step",
                {"run_id": run_id, "step": step_id, "attempt": attempt, "status": RUNNING},
                now,
                profile=self.profile,
            )
        return attempt

    def end_step(
        self,
        run_id: str,
        step_id: str,
        attempt: int,
        status: str,
        now: datetime,
        *,
        summary: str = "",
        error: Mapping[str, Any] | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        with self.store.transaction():
            self.store.execute(
                "UPDATE steps SET status = ?, finished_at = ?, summary = ?, error = ?, facts = ? "
                "WHERE run_id = ? AND step_id = ? AND attempt = ?",
                (status, _iso(now), summary, _json(error), _json(facts), run_id, step_id, attempt),
            )
            self.store.append_audit(
                "step",
                {
                    "run_id": run_id,
                    "step": step_id,
                    "attempt": attempt,
                    "status": status,
                    "summary": summary,
                    "error": error,
                },
                now,
                profile=self.profile,
            )


def _run(row: tuple[Any, ...]) -> RunRecord:
    run_id, profile, purpose, sequence, status, started, finished, parent, error = row
    return RunRecord(
        run_id,
        profile,
        purpose,
        sequence,
        status,
        _instant(started),
        _parse(finished),
        parent,
        _load(error),
    )


def _step(row: tuple[Any, ...]) -> StepRecord:
    run_id, step_id, position, attempt, status, started, finished, summary, error, facts = row
    return StepRecord(
        run_id,
        step_id,
        position,
        attempt,
        status,
        _instant(started),
        _parse(finished),
        summary,
        _load(error),
        _load(facts),
    )
