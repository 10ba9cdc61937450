"""The kill switch's own ground: a state store it can do without, the latch it writes first, the book's verdict.

- `open_for_kill`: the state DB, checked (a truncated file opens and fails on its first query).
  When it cannot be used the emergency still runs: the failure goes to `audit.fallback.jsonl`,
  a corrupt file is moved aside (never deleted: it is evidence) and a new DB is created to hold
  the latch; when even that fails the run keeps its tables in memory and says it is not latched.
- `latch`: `halted` and an `emergency` audit record in one transaction, before the engine or the
  broker is touched, from any state. Nothing later can unlatch it but `mci reset --confirm`.
- `read_book`: the final read, retried with backoff through the broker breaker until a deadline,
  so that a throttled (429) or briefly unreachable broker yields "flat", "not flat" or, honestly,
  "could not verify" — never "not flat" for an account it could not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.clock import Clock, zone
from mci.errors import ExitCode, MciError, UnavailableError
from mci.store.errors import DatabaseError

if TYPE_CHECKING:
    from mci.brokers.base import Broker
    from mci.config.model import Profile
    from mci.flatten.scope import Selection
    from mci.store.state import StateStore

VERIFY_WITHIN = timedelta(seconds=60)  # how long the final read keeps trying (MCI_VERIFY_WITHIN overrides)
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 8.0  # an outage (5xx, network): back off, it heals in its own time
# A 429 is about our pace, not the broker's health: Kite's limits are per second
# (https://kite.trade/docs/connect/v3/exceptions/#api-rate-limit; "that rate limit is defined only per
# second", https://kite.trade/forum/discussion/comment/43790), so a short fixed pause outlasts a burst of
# refusals much sooner than a backoff grown to seconds would. Half a second keeps a read (two requests,
# positions and orders) well under the limit, without hammering a server that may block a client
# that keeps exceeding it.
THROTTLE_PAUSE = 0.5
EMERGENCY_REASON = "kill switch: emergency (mci {command}, pid {pid})"


@dataclass
class KillStore:
    """The store an emergency records in, and what it had to do to get one (for the operator's report)."""

    store: "StateStore"
    persistent: bool  # False: in memory for this run only; the latch does not outlive it
    audit_to: str  # where the records of this run go
    notes: list[str] = field(default_factory=list)
    latched: bool = False
    latch_error: str | None = None

    def report(self) -> dict[str, Any]:
        return {
            "audited": self.audit_to,
            "latched": self.latched,
            "latch_error": self.latch_error,
            "state_db": self.notes,
        }


def _probe(store: "StateStore", profile: str) -> None:
    # quick_check reads every page: a truncated file that opens fine fails here, not half-way through the kill;
    # the health probe writes: a DB held by a hung writer fails here too (after SQLite's busy timeout).
    store.check_pages()
    store.lifecycle(profile)
    store.health_probe()


def _move_aside(db: Path, now: datetime) -> Path | None:
    """Rename state.db (and its -wal/-shm) to state.db.unusable-<time>: kept as evidence, out of the way."""
    if not db.exists():
        return None
    target = db.with_name(f"{db.name}.unusable-{now.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    os.replace(db, target)
    return target


def open_for_kill(profile: "Profile", clock: Clock, state_dir: Path) -> KillStore:
    """A store for the emergency, whatever state the DB is in; never raises for a DB problem."""
    from mci.store.fallback import FallbackAudit, FallbackStore, fallback_path
    from mci.store.state import DB_NAME, StateStore

    db = Path(state_dir) / DB_NAME
    existed = db.exists()
    store = None
    try:
        store = StateStore.open(state_dir)
        _probe(store, profile.name)
        notes = [] if existed else [f"{db} was missing: a new state DB was created (the audit chain restarts there)"]
        return KillStore(store, True, f"state DB {db}", notes)
    except (MciError, DatabaseError, OSError) as exc:
        why = exc.why if isinstance(exc, MciError) else f"{type(exc).__name__}: {exc}"
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001 — closing a broken handle must not stop the kill
                pass
    fallback = FallbackAudit(fallback_path(state_dir))
    notes = [f"the state DB {db} is unusable ({why})"]
    fallback.append("state_db_unusable", {"path": str(db), "why": why}, clock.now(), profile=profile.name)
    if not _busy_text(why):
        try:
            moved = _move_aside(db, clock.now())
        except OSError as exc:
            moved = None
            notes.append(f"could not move it aside: {exc.strerror or exc}")
        if moved is not None:
            notes.append(f"moved aside to {moved} (kept as evidence, not deleted)")
            fallback.append(
                "state_db_moved_aside", {"from": str(db), "to": str(moved)}, clock.now(), profile=profile.name
            )
            try:
                fresh = StateStore.open(state_dir)
                _probe(fresh, profile.name)
                notes.append(f"a new state DB {db} holds the latch; earlier records: {moved}, {fallback.path}")
                return KillStore(fresh, True, f"state DB {db} (new) and {fallback.path}", notes)
            except (MciError, DatabaseError, OSError) as exc:
                notes.append(f"a new state DB could not be created either ({exc})")
    return KillStore(FallbackStore(state_dir), False, str(fallback.path), notes)


def _busy_text(why: str) -> bool:
    return "locked" in why.lower() or "busy" in why.lower()


def degrade(kill: KillStore, state_dir: Path, clock: Clock, profile: "Profile", exc: BaseException) -> None:
    """The DB failed under a running kill: carry on in memory, auditing to the fallback file."""
    from mci.store.fallback import FallbackStore

    why = f"{exc.what}: {exc.why}" if isinstance(exc, MciError) else f"{type(exc).__name__}: {exc}"
    kill.notes.append(f"the state DB failed during the kill ({why}); the rest is audited to the fallback file")
    try:
        kill.store.close()
    except Exception:  # noqa: BLE001
        pass
    kill.store = FallbackStore(state_dir)
    kill.persistent = False
    kill.audit_to = f"{kill.audit_to} then {kill.store.fallback.path}"
    kill.store.append_audit("state_db_unusable", {"why": why, "during": "emergency"}, clock.now(), profile=profile.name)


def latch(
    kill: KillStore,
    profile: "Profile",
    clock: Clock,
    *,
    command: str,
    run_id: str | None = None,
    selection: "Selection | None" = None,
) -> str:
    """halted + an `emergency started` record, in one transaction: the first thing an emergency does.

    A scoped emergency (`selection`) latches only its scope (mci.store.latches), not the profile: the
    engine keeps trading the rest of the account, and `mci risk check` refuses entries in the scope.
    Returns the state it latched from. A failure is recorded on `kill` (the report says "NOT latched")
    and never stops the kill: flattening matters more than its bookkeeping.
    """
    from mci.engine.lifecycle import Lifecycle
    from mci.store import latches

    store, now = kill.store, clock.now()
    life = Lifecycle(store, profile.name)
    try:
        with store.transaction():
            before = life.current().state
            reason = EMERGENCY_REASON.format(command=command, pid=os.getpid())
            scope = selection.as_dict() if selection is not None else None
            if scope is not None:
                latches.latch(store, profile.name, scope, now, reason, run_id)
            elif before != "halted":
                life.fire("halt", now, reason, run_id=run_id, emergency=True)
            store.append_audit(
                "emergency",
                {
                    "event": "started",
                    "pid": os.getpid(),
                    "command": command,
                    "from": before,
                    "run_id": run_id,
                    "scope": scope,
                },
                now,
                profile=profile.name,
            )
    except (MciError, DatabaseError) as exc:
        kill.latch_error = exc.what if isinstance(exc, MciError) else f"{type(exc).__name__}: {exc}"
        return "unknown"
    kill.latched = kill.persistent
    if not kill.persistent:
        kill.latch_error = "the state DB is unusable, so the latch lives only as long as this run"
    return before


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class BookRead:
    flat: bool | None  # None: could not be read before the deadline
    remaining: list[dict[str, Any]]
    read_at: datetime | None
    error: MciError | None = None
    attempts: int = 0
    outside: list[dict[str, Any]] = field(default_factory=list)  # a scoped kill: open outside its scope, left alone

    def read_at_text(self, tz: str = "Asia/Kolkata") -> str:
        if self.read_at is None:
            return "never"
        return self.read_at.astimezone(zone(tz)).strftime("%H:%M:%S IST" if tz == "Asia/Kolkata" else "%H:%M:%S %Z")


def verify_within() -> timedelta:
    text = os.environ.get("MCI_VERIFY_WITHIN")
    if not text:
        return VERIFY_WITHIN
    from mci.units import parse_duration

    try:
        return parse_duration(text)
    except MciError:
        return VERIFY_WITHIN


def _remaining(broker: "Broker", selection: "Selection | None" = None) -> list[dict[str, Any]]:
    if selection is not None:  # a scoped kill: what is open in its scope; the rest goes to the `outside` list
        orders_read = list(broker.orders())
        inside, outside = selection.split(broker.positions(), orders_read)
        return inside + [{**x, "outside": True} for x in outside]
    positions = [p for p in broker.positions() if p.quantity != 0]
    orders = [o for o in broker.orders() if o.is_open]
    out = [
        {"type": "position", "instrument": f"{p.exchange}:{p.symbol}", "product": p.product, "quantity": p.quantity}
        for p in positions
    ]
    out += [
        {
            "type": "order",
            "order_id": o.order_id,
            "instrument": f"{o.exchange}:{o.symbol}",
            "side": o.side,
            "quantity": o.quantity,
            "order_type": o.order_type,
            "status": o.status,
        }
        for o in orders
    ]
    return out


def _retryable(exc: MciError) -> bool:
    from mci.engine.retrying import BreakerOpenError

    return isinstance(exc, BreakerOpenError) or exc.code is ExitCode.UNAVAILABLE


def read_book(
    broker: Callable[[], "Broker"],
    clock: Clock,
    *,
    within: timedelta,
    breaker: Any = None,
    selection: "Selection | None" = None,
) -> BookRead:
    """Positions and open orders, re-read until one read succeeds or `within` has passed.

    Throttling (429) and outages are waited out with exponential backoff; through `breaker` (the
    profile's persisted `broker` breaker) an open breaker is waited out too, never hammered. A refusal
    a retry cannot cure (a dead token) ends the attempts at once.
    """
    deadline = clock.monotonic() + within.total_seconds()
    delay, attempts, last = FIRST_BACKOFF, 0, None

    def one_read() -> list[dict[str, Any]] | MciError:
        try:
            return _remaining(broker(), selection)
        except MciError as exc:
            if exc.details.get("http_status") == 429:
                # A 429 is an answer: the broker is up and asks us to slow down. Waited out here, it must not
                # count toward opening the breaker, which would then refuse the read for its whole cooldown.
                return exc
            raise

    def through_breaker() -> list[dict[str, Any]] | MciError:
        from mci.engine.retrying import BreakerOpenError

        try:
            rows: list[dict[str, Any]] | MciError = breaker.call(one_read)
            return rows
        except BreakerOpenError:
            # Open from failures before this read (the kill's own flatten does not report to it): the verdict
            # must come from the broker, not from that bookkeeping, so each backed-off attempt is a half-open
            # trial. One request per backoff is no hammering; a success closes the breaker for everyone.
            answer = one_read()
            if not isinstance(answer, MciError):
                try:
                    breaker.close()
                except Exception:  # noqa: BLE001 — the verdict stands even if the breaker's DB row cannot move
                    pass
            return answer

    while True:
        attempts += 1
        try:
            answer = through_breaker() if breaker is not None else one_read()
            if isinstance(answer, MciError):
                raise answer
            inside = [x for x in answer if not x.get("outside")]
            outside = [{k: v for k, v in x.items() if k != "outside"} for x in answer if x.get("outside")]
            return BookRead(not inside, inside, clock.now(), None, attempts, outside)
        except MciError as exc:
            last = exc
            if not _retryable(exc):
                break
        except Exception as exc:  # noqa: BLE001 — a verdict is never a traceback
            last = UnavailableError(
                "reading the book failed", f"{type(exc).__name__}: {exc}", "check the broker and the network"
            )
        left = deadline - clock.monotonic()
        if left <= 0:
            break
        if last.details.get("http_status") == 429:
            clock.sleep(min(THROTTLE_PAUSE, left))
            continue
        clock.sleep(min(delay, left))
        delay = min(delay * 2, MAX_BACKOFF)
    return BookRead(None, [], None, last, attempts)


def broker_breaker(profile: "Profile", store: "StateStore", clock: Clock) -> Any:
    from mci.engine.breaking import declared_breaker

    del clock  # a breaker is judged in real time (mci.store.breakers.breaker_now), never at a rehearsal's --at
    return declared_breaker("broker", profile, store)
