"""Reduce-only: `mci pause` (running → reducing) and `mci resume` (reducing → running).

While a profile is `reducing` its engine is paused (no new entries; stops and exits go on) and
`mci risk check` refuses every order that is not an exit. The watcher moves a profile there on its own
at `watch.reduce_at` (mci.watch.watcher), and still runs the emergency at the hard limit.

Order of the two acts, so that no failure leaves mci saying less trading happens than does:
  pause:  the engine's pause adapter first, then the lifecycle. An engine that could not be paused leaves
          the profile running (exit 3: rerun, or `mci kill`), never `reducing` over an engine still entering.
  resume: a fresh risk read (refused at a hard limit), then the engine's resume adapter, then the lifecycle.

Both are idempotent (a second pause re-delivers the pause to the engine, which may have restarted; a resume of
a running profile re-delivers the resume), audited and run under the profile's lock.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from mci.clock import Clock
from mci.errors import ConfigError, RefusedError, UnavailableError

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.engine.lifecycle import Lifecycle
    from mci.enginectl import EngineControl, PauseInfo
    from mci.risk import Usage
    from mci.store.state import StateStore

# The rules `watch.reduce_at` reads: the money the day has lost. A full book (open positions) or a fast
# strategy (order rate) is no reason to stop entries early.
REDUCE_RULES = ("daily_loss", "drawdown")


@dataclass(frozen=True)
class ReduceOutcome:
    profile: str
    action: str  # pause | resume
    source: str  # the lifecycle before
    state: str  # the lifecycle after
    changed: bool  # False: it already was in `state` (idempotent rerun)
    engine: dict[str, Any]  # PauseInfo.as_dict()
    usages: list[dict[str, Any]] = field(default_factory=list)  # resume: the fresh risk read
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "action": self.action,
            "from": self.source,
            "lifecycle": self.state,
            "changed": self.changed,
            "engine": self.engine,
            "usages": self.usages,
            "note": self.note,
        }


def pause(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    reason: str = "",
    by: str = "mci pause",
    control: "EngineControl | None" = None,
) -> ReduceOutcome:
    """running → reducing after the engine's pause adapter accepted; a rerun while reducing pauses the engine again."""
    with _between(profile, clock, state_dir, "pause", reason, by) as (store, life, source):
        engine = control if control is not None else _control(profile, state_dir)
        info = _deliver(engine, "pause", profile)
        if source == "reducing":
            store.append_audit(
                "reducing",
                {"event": "pause_again", "by": by, "reason": reason, "engine": info.as_dict()},
                clock.now(),
                profile=profile.name,
            )
            return ReduceOutcome(
                profile.name,
                "pause",
                source,
                source,
                False,
                info.as_dict(),
                note="already reducing; the pause was delivered to the engine again",
            )
        life.fire("pause", clock.now(), reason or by, by=by, engine=info.as_dict())
    _notify(
        profile,
        clock,
        "reducing",
        f"{profile.name} is reducing (exits only): {reason or by}",
        {"by": by, "reason": reason, "engine": info.as_dict()},
    )
    return ReduceOutcome(
        profile.name, "pause", source, "reducing", True, info.as_dict(), note="entries stopped; exits only"
    )


def resume(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    read: "Callable[[StateStore], list[Usage]]",
    *,
    reason: str = "",
    by: str = "mci resume",
    control: "EngineControl | None" = None,
) -> ReduceOutcome:
    """reducing → running after a fresh risk read shows no hard limit breached and the engine resumed.

    `read` is that risk read (mci.watch.reading.risk_read: the watcher's reader and peak), passed in so that
    the engine layer does not import the watcher, which imports it."""
    with _between(profile, clock, state_dir, "resume", reason, by) as (store, life, source):
        usages = read(store)
        _refuse_on_breach(profile, usages)
        engine = control if control is not None else _control(profile, state_dir)
        info = _deliver(engine, "resume", profile)
        read_out = [u.as_dict() for u in usages]
        if source == "running":
            store.append_audit(
                "reducing",
                {"event": "resume_again", "by": by, "reason": reason, "engine": info.as_dict()},
                clock.now(),
                profile=profile.name,
            )
            return ReduceOutcome(
                profile.name,
                "resume",
                source,
                source,
                False,
                info.as_dict(),
                read_out,
                "already running; the resume was delivered to the engine again",
            )
        life.fire("resume", clock.now(), reason or by, by=by, engine=info.as_dict(), usages=read_out)
    near = soft_hits(profile, usages)
    note = "entries allowed again"
    if near:
        note += (
            "; WARNING: "
            + "; ".join(u.text for u in near)
            + " is at or over watch.reduce_at: a running watcher pauses again at its next poll"
        )
    _notify(profile, clock, "resumed", f"{profile.name} resumed: {reason or by}", {"by": by, "reason": reason})
    return ReduceOutcome(profile.name, "resume", source, "running", True, info.as_dict(), read_out, note)


def soft_hits(profile: "Profile", usages: "list[Usage]") -> "list[Usage]":
    """The loss rules at or over `watch.reduce_at` (none when it is not set)."""
    at = profile.watch.reduce_at
    if at is None:
        return []
    return [u for u in usages if u.rule in REDUCE_RULES and u.value > 0 and u.value >= u.limit * at]


@contextmanager
def _between(
    profile: "Profile", clock: Clock, state_dir: Path, action: str, reason: str, by: str
) -> "Iterator[tuple[StateStore, Lifecycle, str]]":
    """Under the profile lock, the store, the lifecycle and its state now; anything but running or reducing is
    refused here with the state's own hint (exit 4)."""
    from mci.engine.lifecycle import Lifecycle
    from mci.store.lock import ProfileLock
    from mci.store.state import StateStore

    with ProfileLock(state_dir, profile.name, by.removeprefix("mci ")):
        store = StateStore.open(state_dir)
        try:
            life = Lifecycle(store, profile.name)
            source = life.current().state
            if source not in ("running", "reducing"):
                life.fire(action, clock.now(), reason or by)
            yield store, life, source
        finally:
            store.close()


def _refuse_on_breach(profile: "Profile", usages: "list[Usage]") -> None:
    from mci.risk import breaches

    hit = breaches(usages)
    if hit:
        raise RefusedError(
            f"resume refused: profile {profile.name!r} is over a hard limit",
            "; ".join(f"{u.rule}: {u.text}" for u in hit),
            "stay reducing and close positions, or stop the day (`mci shutdown`, `mci kill`)",
            breaches=[u.as_dict() for u in hit],
        )


def _control(profile: "Profile", state_dir: Path) -> "EngineControl":
    from mci.enginectl import EngineControl

    return EngineControl(profile, state_dir)


def _deliver(engine: "EngineControl", action: str, profile: "Profile") -> "PauseInfo":
    """The engine's pause or resume adapter; an engine that cannot be reached by one is refused, never guessed."""
    if engine.running() is not None and not engine.has_adapter(action):
        raise ConfigError(
            f"cannot {action} the engine of {profile.name!r}: it declares no {action} adapter",
            f"engine.{action} is not declared and its health check is not HTTP, so mci has no way "
            f"to tell the engine to {'stop' if action == 'pause' else 'restart'} new entries",
            f"declare engine.{action} (http, command or signal) in {profile.path}; to stop trading "
            "now, run `mci shutdown` or `mci kill`",
        )
    info = engine.pause() if action == "pause" else engine.resume()
    if engine.running() is not None and not info.paused:
        raise UnavailableError(
            f"the engine of {profile.name!r} did not accept the {action}",
            info.detail,
            f"declare engine.{action} in {profile.path}, or stop the day with `mci shutdown` "
            "(`mci kill` to flatten now); the lifecycle was not changed",
        )
    return info


def _notify(profile: "Profile", clock: Clock, event: str, text: str, data: dict[str, Any]) -> None:
    from mci.observability.notify import fire

    fire(profile, event, text, data, clock.now())


class EntryGate:
    """Whether the profile is `reducing`, for `mci risk check`: read from the state DB at most once a second, so a
    long-lived stream of orders notices a pause within a second and a batch pays for one read. No state DB (an
    offline check in CI) means nothing was ever paused: no DB is created for the question."""

    REREAD = 1.0

    def __init__(self, state_dir: Path, profile: str, monotonic: "Callable[[], float] | None" = None):
        import time

        from mci.store.state import DB_NAME

        self.path, self.profile = Path(state_dir) / DB_NAME, profile
        self._monotonic = monotonic or time.monotonic
        self._store: "StateStore | None" = None
        self._read_at: float | None = None
        self.state = "idle"

    def reducing(self) -> bool:
        now = self._monotonic()
        if self._read_at is None or now - self._read_at >= self.REREAD:
            self._read_at = now
            self.state = self._read()
        return self.state == "reducing"

    def _read(self) -> str:
        if self._store is None:
            if not self.path.exists():
                return "idle"
            from mci.store.state import StateStore

            try:
                self._store = StateStore.open(self.path.parent)
            except Exception as exc:  # noqa: BLE001 — judged unknowable, never taken for "not reducing"
                raise self._unreadable(exc) from None
        try:
            return self._store.lifecycle(self.profile).state
        except Exception as exc:  # noqa: BLE001
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> UnavailableError:
        return UnavailableError(
            f"cannot read the lifecycle of {self.profile!r} from {self.path}",
            f"{type(exc).__name__}: {exc}",
            "an order cannot be judged without knowing whether "
            "the profile is reducing; check the state directory (`mci doctor`), or pass "
            "another MCI_HOME for an offline check",
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
