"""One guarded read of the account for `mci watch`: the retry policy inside, the persisted `broker` breaker around.

A poll is one vote for the breaker: a read that needed its retry but got
through is a success, so a flaky API does not open the breaker that a dead one
would. Whatever goes wrong comes out as an MciError, so the watcher can count
it as a failed poll and never mistake it for a breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.clock import Clock
from mci.errors import ExitCode, MciError

if TYPE_CHECKING:
    from mci.brokers.base import Broker, Funds, Order, Position, SessionInfo
    from mci.config.model import Profile
    from mci.risk import Account, Usage
    from mci.store.state import StateStore

BREAKER = "broker"


def _as_error(exc: BaseException, action: str) -> MciError:
    if isinstance(exc, MciError):
        return exc
    from mci.observability.redact import redact

    # A malformed broker answer (a KeyError deep in an adapter) must blind the watcher, not kill it.
    return MciError(
        f"{action} failed: {type(exc).__name__}",
        redact(str(exc), []) or type(exc).__name__,
        "if it repeats, report it with this message; the watcher keeps polling meanwhile",
        ExitCode.FAILED,
    )


class Reader:
    def __init__(
        self,
        profile: "Profile",
        state_dir: Path,
        clock: Clock,
        store: "StateStore",
        interval: timedelta,
        broker_factory: Callable[[], "Broker"] | None = None,
    ):
        from mci.config.model import RetryPolicy
        from mci.engine.breaking import declared_breaker

        self.profile = profile
        self.state_dir = state_dir
        self.clock = clock
        self._factory = broker_factory
        self._broker: "Broker | None" = None
        self.answers: "tuple[Funds, list[Position], list[Order]] | None" = None  # the last good read's, for the feed
        self.breaker = declared_breaker(BREAKER, profile, store)
        # One quick retry, well inside the interval: the broker adapters retry their own calls too.
        self.policy = RetryPolicy(
            attempts=2,
            initial=min(interval / 4, timedelta(milliseconds=250)),
            max_wait=max(interval / 2, timedelta(milliseconds=100)),
            jitter=False,
        )

    def broker(self) -> "Broker":
        if self._broker is None:
            if self._factory is not None:
                self._broker = self._factory()
            else:
                from mci.brokers.factory import broker_for

                self._broker = broker_for(self.profile, self.state_dir, self.clock)
        return self._broker

    def close(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            try:
                broker.close()
            except Exception:  # noqa: BLE001 — closing a dead connection must not hide the watcher's verdict
                pass

    def _guarded(self, action: str, fn: Callable[[], Any]) -> Any:
        from mci.engine.retrying import retry_after_first

        def attempts() -> Any:
            return retry_after_first(fn, self.policy, sleep=self.clock.sleep)

        try:
            return self.breaker.call(attempts)
        except Exception as exc:  # noqa: BLE001 — see _as_error
            error = _as_error(exc, action)
            if error.code != ExitCode.UNAVAILABLE:
                # No token, a refused token, a bad answer: build the broker afresh next time, so a
                # `mci token login` made after the watcher started is picked up without a restart.
                self.close()
            raise error from None

    def account(self, peak_equity: Decimal | None, at: datetime) -> "Account":
        """Funds, positions, orders and last prices in one read; MciError when it cannot be had or makes no sense."""
        from mci.risk import Account

        def read() -> "Account":
            broker = self.broker()
            answers = (broker.funds(), broker.positions(), broker.orders())  # Account.from_broker's reads, kept
            account = Account.from_answers(broker, *answers, peak_equity=peak_equity, at=at, quote_held=False)
            if account.capital <= 0:
                # Every limit is a share of capital: a zero read would turn any loss into a breach.
                raise MciError(
                    f"the broker reported an opening balance of {account.capital}",
                    "every risk limit is a share of the opening balance; this read cannot be judged",
                    "check the account at the broker; the watcher treats this read as failed",
                    ExitCode.FAILED,
                )
            self.answers = answers
            return account

        account: Account = self._guarded("reading the account", read)
        return account

    def session(self) -> "SessionInfo":
        """The session, for its expiry. Outside the breaker: a side read must neither trip it nor, by succeeding
        where the account read fails (paper, or no token: no call at all), reset its count of failures."""
        from mci.errors import UnavailableError

        if self.breaker.current_state == "open":
            raise UnavailableError(
                "the broker breaker is open",
                "the session is not read while it cools down",
                "wait for the breaker's trial call",
            )
        try:
            return self.broker().session()
        except Exception as exc:  # noqa: BLE001 — see _as_error
            raise _as_error(exc, "reading the broker session") from None


def risk_read(profile: "Profile", clock: Clock, state_dir: Path, store: "StateStore") -> "list[Usage]":
    """Every account-level limit against the account as the broker reports it now (the watcher's reader and peak)."""
    from mci.risk import RiskModel, assess
    from mci.store.watchers import Watchers

    day = clock.now_in(profile.market.timezone).date()
    reader = Reader(profile, state_dir, clock, store, timedelta(seconds=1), None)
    try:
        account = reader.account(Watchers(store, profile.name).peak(day), clock.now())
    finally:
        reader.close()
    usages: list[Any] = assess(RiskModel.of(profile.risk, account.capital), account)
    return usages
