"""The breaker refusal of the state store is the runner's refusal: never retried."""

from __future__ import annotations


def test_an_open_breakers_refusal_is_never_retried():
    """The store's breaker refusal and the runner's are one kind: no retry policy hammers an open breaker."""
    from mci.engine.retrying import BreakerOpenError as RunnerRefusal
    from mci.engine.retrying import is_retryable
    from mci.errors import UnavailableError
    from mci.store.breakers import BreakerOpenError

    refusal = BreakerOpenError("breaker broker is open", "5 failures", "wait")
    assert isinstance(refusal, RunnerRefusal) and not is_retryable(refusal)
    assert is_retryable(UnavailableError("down", "502", "retry"))
