"""The one place a declared `retry:` block becomes tenacity values.

tenacity costs ~27 ms to import, so nothing here imports it until a retry is
actually needed: the runner makes the first attempt plainly and calls
`build_retrying` only after a retryable failure.

Only what a retry may cure is retried: UnavailableError (broker, network,
disk) and timeouts. A plain failed outcome (balance too low) or a ConfigError
will fail the same way every time, so it is never retried.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from mci.errors import BreakerOpenError, UnavailableError

if TYPE_CHECKING:
    import tenacity

    from mci.config.model import RetryPolicy


class CheckTimedOut(UnavailableError):
    """An attempt outlived its declared timeout; the runner stopped waiting for it."""


__all__ = ["BreakerOpenError", "CheckTimedOut", "RETRYABLE", "build_retrying", "is_retryable", "retry_after_first"]

T = TypeVar("T")

RETRYABLE: tuple[type[BaseException], ...] = (UnavailableError, TimeoutError)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE) and not isinstance(exc, BreakerOpenError)


def build_retrying(policy: "RetryPolicy", *, sleep: Callable[[float], None] = time.sleep) -> "tenacity.Retrying":
    """`policy.attempts` counts every try, the first included; waits grow from `initial` to `max_wait`."""
    import tenacity

    initial = policy.initial.total_seconds()
    ceiling = policy.max_wait.total_seconds()
    # initial, 2×initial, 4×initial ... capped at max_wait. Spelt as wait_exponential (+ wait_random for
    # jitter) rather than wait_exponential_jitter, whose parameter names differ across tenacity 8 and 9.
    wait: Any = tenacity.wait_exponential(multiplier=initial, max=ceiling)
    if policy.jitter:
        # Up to one initial interval more spreads the retries of several cron'd profiles apart.
        wait = wait + tenacity.wait_random(0, initial)
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception_type(RETRYABLE) & tenacity.retry_if_not_exception_type(BreakerOpenError),
        sleep=sleep,
        reraise=True,
    )


def retry_after_first(
    attempt: Callable[[], T], policy: "RetryPolicy", *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """`attempt()` under `policy`: the first try plainly (tenacity is not even imported when it succeeds), the
    rest, after a retryable failure, under tenacity. The first failure is replayed to tenacity so that it counts
    as attempt one and the declared wait comes before attempt two."""
    try:
        return attempt()
    except BaseException as exc:  # noqa: BLE001 — only a retryable failure is retried; the rest re-raises
        if policy.attempts <= 1 or not is_retryable(exc):
            raise
        first = exc
    replayed = False

    def again() -> T:
        nonlocal replayed
        if not replayed:
            replayed = True
            raise first
        return attempt()

    result: T = build_retrying(policy, sleep=sleep)(again)
    return result
