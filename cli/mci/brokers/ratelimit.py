"""One rate limiter per broker account: every thread, every step and every process on the host shares it.

Kite counts, per account (kite.trade/forum/discussion/comment/51959, kite.trade/forum/discussion/11404,
https://kite.trade/docs/connect/v3/exceptions/#api-rate-limit):

- order actions: 10 requests/s and 400/min, place, modify and cancel together;
- placements: 5,000 a day (every request to the placement endpoint, rejected ones included;
  modifications and cancellations do not count towards it);
- quotes (/quote, /quote/ltp, /quote/ohlc): 1 request/s;
- every other endpoint: 10 requests/s.

Beyond a limit Kite answers 429 `{"status": "error", "message": "Too many requests", "error_type":
"NetworkException"}`; repeated excesses can get an app blocked, so we never rely on the 429.

The guarantee: for every window (limit L, length W) of a category, the server never sees more than L of
our requests in any W seconds, whatever the number of threads and processes sharing the account. The
server timestamps a request anywhere between our send and its answer, so a request counts here from
its admission until W (plus a small margin for clock granularity) after its answer; a request still
in flight counts. Proof sketch: if L+1 server timestamps fell within W, take the one admitted last;
each of the other L was admitted before it and answered after its own server timestamp, which is
less than W before the last one's, itself after the last admission: all L were counted at that
admission, which was therefore refused.

Sharing across processes: the requests live in a small JSON file, read and rewritten under an
exclusive `fcntl.flock` on a lock file beside it, in a host-wide directory ($MCI_RATE_DIR, else
<tmp>/mci-<uid>/rate, 0700; files 0600). The file is named by a hash of the broker root URL and the
api_key (never the secret). Time is CLOCK_MONOTONIC (time.monotonic), which every process on the host
shares; a file from before a reboot is discarded (the boot id differs). A request left in flight by a
process that died (its pid is gone) is forgotten at once, and one older than `stale_after` (the
request timeout, twice, plus a second) too, so a crash never blocks the account. The day's placements
are counted per Asia/Kolkata date; once the day's budget is used, admission raises DayBudgetExhausted
(exit 3) at once instead of waiting until midnight.

The same algorithm runs in-process (MemoryStore) for a broker with no server-side limit (paper), as the
per-second cap a profile declares (risk.max_orders_per_second).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from mci.errors import ExitCode, MciError, UnavailableError

ORDER, QUOTE, OTHER = "order", "quote", "other"
CATEGORIES = (ORDER, QUOTE, OTHER)
DEFAULT_MARGIN = 0.02  # seconds added to every window: clock granularity and scheduling
POLL = 0.05  # seconds: the longest sleep between looks at the shared state (another process may release)
RATE_DIR_ENV = "MCI_RATE_DIR"
_TOKENS = itertools.count(1)  # process-wide: limiters of one account in one process share its file


@dataclass(frozen=True)
class Window:
    limit: int  # requests
    seconds: float


@dataclass(frozen=True)
class Limits:
    order: tuple[Window, ...] = ()
    quote: tuple[Window, ...] = ()
    other: tuple[Window, ...] = ()
    placements_per_day: int | None = None

    def windows(self, category: str) -> tuple[Window, ...]:
        windows: tuple[Window, ...] = getattr(self, category)  # order, quote or other
        return windows

    @classmethod
    def per_second(cls, rate: float) -> "Limits":
        """Order actions at `rate` a second, in bursts of int(rate) (a fractional rate widens the window)."""
        if not rate or rate <= 0 or not math.isfinite(rate):
            raise ValueError("rate must be a positive number of requests per second")
        limit = max(1, int(rate))
        return cls(order=(Window(limit, limit / float(rate)),))


# Kite's limits (sources in the module docstring).
KITE_LIMITS = Limits(
    order=(Window(10, 1.0), Window(400, 60.0)),
    quote=(Window(1, 1.0),),
    other=(Window(10, 1.0),),
    placements_per_day=5000,
)


class DayBudgetExhausted(MciError):
    """The account has used the day's placements: no order can be placed until the next day (IST)."""


# ---------------------------------------------------------------- stores


class MemoryStore:
    """The state in this process only."""

    shared = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {}

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            yield self._state


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class FileStore:
    """The state in `path` (JSON), changed only under an exclusive flock on `path`.lock."""

    shared = True

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self._thread_lock = threading.Lock()  # threads of this process queue here, not on the flock
        self._boot = _boot_id()

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: start afresh (written whole by rename, so only a foreign hand breaks it)
        if not isinstance(state, dict):
            return {}
        if state.get("boot") != self._boot:  # monotonic times of another boot mean nothing now; the day's count does
            return {"day": state["day"]} if isinstance(state.get("day"), dict) else {}
        return state

    def _write(self, state: dict[str, Any]) -> None:
        state["boot"] = self._boot
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, separators=(",", ":"))
        os.replace(tmp, self.path)  # readers see the old state or the new one, never half of one

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        import fcntl

        with self._thread_lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes, also if this process dies
                state = self._read()
                before = json.dumps(state, sort_keys=True)
                yield state
                if json.dumps(state, sort_keys=True) != before:
                    self._write(state)
            finally:
                os.close(fd)


# ---------------------------------------------------------------- the limiter


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Cover:
    token: str
    deadline: float | None
    on_end: Callable[[], None] | None
    used: bool = False


class RateLimiter:
    """Admits requests by category under `limits`; `slot()` around each request."""

    def __init__(
        self,
        limits: Limits,
        store: MemoryStore | FileStore | None = None,
        *,
        margin: float = DEFAULT_MARGIN,
        stale_after: float = math.inf,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        name: str = "the broker account",
    ):
        self.limits = limits
        self.store = store if store is not None else MemoryStore()
        self.margin = margin
        self.stale_after = stale_after
        self.name = name
        self._now = monotonic
        self._sleep = sleep
        self._wall = wall
        self._local = threading.local()
        self.admitted = 0
        self.waited = 0.0  # seconds callers of this process spent waiting for a slot

    def __repr__(self) -> str:
        return f"RateLimiter({self.name!r}, shared={self.store.shared})"

    def now(self) -> float:
        """The limiter's clock: deadlines given to slot() are instants of it."""
        return self._now()

    def burst(self, category: str = ORDER) -> int:
        """How many requests of `category` may be in flight at once."""
        windows = self.limits.windows(category)
        return min(w.limit for w in windows) if windows else 1_000_000

    # ------------------------------------------------------------ state

    def _today(self) -> str:
        from mci.clock import IST, zone

        return datetime.fromtimestamp(self._wall(), zone(IST)).date().isoformat()

    def _live(self, state: dict[str, Any], category: str, now: float) -> list[list[Any]]:
        """The requests of `category` that still count at `now`, after forgetting the others."""
        windows = self.limits.windows(category)
        horizon = max((w.seconds for w in windows), default=0.0) + self.margin
        keep = []
        for entry in state.get(category, []):
            if not isinstance(entry, list) or len(entry) != 4:
                continue  # not written by this code
            _, pid, start, end = entry
            if start > now + 1.0:
                continue  # not of this clock
            if end is None:
                if now - start > self.stale_after or not _alive(pid):
                    continue  # its process died, or it cannot still be in flight
            elif end + horizon <= now:
                continue
            keep.append(entry)
        if keep or category in state:
            state[category] = keep
        return keep

    def _wait(self, entries: list[list[Any]], category: str, now: float) -> float | None:
        """0 when a request may start now; else seconds until one may (None: when one in flight ends)."""
        longest = 0.0
        for w in self.limits.windows(category):
            counted = [e for e in entries if e[3] is None or e[3] + w.seconds + self.margin > now]
            excess = len(counted) - w.limit + 1
            if excess <= 0:
                continue
            ended = sorted(e[3] for e in counted if e[3] is not None)
            if excess > len(ended):
                return None
            longest = max(longest, ended[excess - 1] + w.seconds + self.margin - now)
        return longest

    def _check_day(self, state: dict[str, Any]) -> None:
        budget = self.limits.placements_per_day
        if budget is None:
            return
        today = self._today()
        day = state.get("day")
        if not isinstance(day, dict) or day.get("date") != today or not isinstance(day.get("placements"), int):
            day = state["day"] = {"date": today, "placements": 0}
        if day["placements"] >= budget:
            raise DayBudgetExhausted(
                f"no order can be placed on {self.name} before tomorrow: the day's {budget} placements are used",
                f"Kite allows {budget} order placements per account per day ({day['placements']} made on {today}, "
                "IST); modifications and cancellations still work",
                "close positions by cancelling orders or from Kite's web console; new placements resume "
                "after midnight IST",
                ExitCode.UNAVAILABLE,
                details={"rate_limit": "day"},
            )
        day["placements"] += 1

    # ------------------------------------------------------------ admission

    def acquire(self, category: str = ORDER, deadline: float | None = None, *, placement: bool = False) -> str | None:
        """Block until a request may start; its token, or None when `deadline` (an instant of now()) comes first.

        Raises DayBudgetExhausted for a placement once the day's budget is used."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown request category {category!r}")
        began = self._now()
        while True:
            with self.store.transaction() as state:
                now = self._now()
                entries = self._live(state, category, now)
                wait = self._wait(entries, category, now)
                if wait is not None and wait <= 0:
                    if placement:
                        self._check_day(state)
                    token = f"{os.getpid()}.{next(_TOKENS)}"
                    state.setdefault(category, []).append([token, os.getpid(), now, None])
                    self.admitted += 1
                    self.waited += now - began
                    return token
            if deadline is not None and now >= deadline:
                return None
            pause = POLL if wait is None else min(wait, POLL)
            if deadline is not None:
                pause = min(pause, deadline - now)
            self._sleep(max(pause, 0.001))

    def release(self, token: str, category: str = ORDER) -> None:
        """The request's answer has arrived (or it failed): it counts for one more window from now.

        Only the first release of a token counts: a later one does not move its end."""
        with self.store.transaction() as state:
            now = self._now()
            for entry in state.get(category, []):
                if entry[0] == token and entry[3] is None:
                    entry[3] = now
                    return

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """Slots taken in this thread without a deadline of their own give up at `deadline` (an instant of now())."""
        previous = getattr(self._local, "until", None)
        self._local.until = deadline if previous is None else min(previous, deadline)
        try:
            yield
        finally:
            self._local.until = previous

    def _covers(self) -> dict[str, _Cover]:
        covers = getattr(self._local, "covers", None)
        if covers is None:
            covers = self._local.covers = {}
        return covers

    @contextmanager
    def slot(
        self,
        category: str = ORDER,
        deadline: float | None = None,
        *,
        placement: bool = False,
        cover: bool = False,
        on_end: Callable[[], None] | None = None,
    ) -> Iterator[bool]:
        """`with limiter.slot(ORDER, deadline) as ok:` — ok is False when the deadline passed first.

        cover=True: the next slot of the same category taken in this thread, inside this one (the
        broker's own request), is this slot rather than a second one, and ends with that request
        (then `on_end()` is called: a caller's own cap ends there too, not after the broker's
        follow-up reads); later ones (the broker's retries) are admitted anew, by this slot's deadline."""
        covers = self._covers()
        outer = covers.get(category)
        if outer is not None and not outer.used:
            outer.used = True
            try:
                yield True
            finally:
                self.release(outer.token, category)  # the request it covered is over
                if outer.on_end is not None:
                    outer.on_end()
            return
        if deadline is None and outer is not None:
            deadline = outer.deadline
        if deadline is None:
            deadline = getattr(self._local, "until", None)
        token = self.acquire(category, deadline, placement=placement)
        if token is None:
            yield False
            return
        if cover:
            covers[category] = _Cover(token, deadline, on_end)
        try:
            yield True
        finally:
            if cover:
                covers.pop(category, None)
            self.release(token, category)


# ---------------------------------------------------------------- the host-wide limiter of a Kite account


def rate_dir(env: Mapping[str, str] | None = None) -> Path:
    """$MCI_RATE_DIR, else <tmp>/mci-<uid>/rate: one directory for every process of this user on the host."""
    env = os.environ if env is None else env
    if env.get(RATE_DIR_ENV):
        path = Path(env[RATE_DIR_ENV]).expanduser()
        parents = [path]
    else:
        base = Path(tempfile.gettempdir()) / f"mci-{os.getuid()}"
        path = base / "rate"
        parents = [base, path]
    try:
        for p in parents:
            p.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = p.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                raise PermissionError(f"{p} belongs to uid {st.st_uid} or is writable by others")
    except OSError as exc:
        raise UnavailableError(
            f"cannot use the rate-limit directory {path}",
            f"{exc.strerror or exc}; it holds the order budget every mci process shares",
            f"set {RATE_DIR_ENV} to a directory only you can write (mode 0700)",
        ) from None
    return path


def account_key(root: str, api_key: str) -> str:
    """The file name of an account's state: a hash, so neither the URL nor the api_key shows in /tmp."""
    return "kite-" + hashlib.sha256(f"{root.rstrip('/')}\n{api_key}".encode()).hexdigest()[:24]


_shared: dict[tuple[Path, str], FileStore] = {}
_shared_lock = threading.Lock()


def for_account(
    root: str, api_key: str, *, request_timeout: float, limits: Limits = KITE_LIMITS, env: dict[str, str] | None = None
) -> RateLimiter:
    """The limiter of the Kite account behind (root, api_key), shared with every process of this user on the host."""
    directory = rate_dir(env)
    key = account_key(root, api_key)
    with _shared_lock:  # one store per file in a process: its threads queue on one lock
        store = _shared.get((directory, key))
        if store is None:
            store = _shared[(directory, key)] = FileStore(directory / f"{key}.json")
    return RateLimiter(limits, store, stale_after=2 * request_timeout + 1.0, name="the Kite account")
