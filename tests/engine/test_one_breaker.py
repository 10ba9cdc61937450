"""One circuit breaker for every runner: a breaker the scan opens refuses a sequence's step, and the other way
round, through one real state DB (separate connections, as separate invocations have), and either runner's
trial call closes it for both. And the runners' exception messages are masked by the one redaction mask."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

import pytest

from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.clock import Clock
from mci.config import load_profile
from mci.config.model import BreakerConfig, BrokerConfig, Checklist, CheckSpec, Profile, RetryPolicy, Sequence, StepSpec
from mci.engine.runner import run_checklist
from mci.engine.sequence import SequenceRun, context_for
from mci.errors import BreakerOpenError, ExitCode, UnavailableError
from mci.results import ScanResult, Status
from mci.steps.base import Step, StepContext, StepOutcome
from mci.steps.base import register as register_step
from mci.store.state import StateStore

from tests.engine import stepkinds  # noqa: F401 — registers the test step kinds

FAST = RetryPolicy(attempts=5, initial=timedelta(milliseconds=5), max_wait=timedelta(milliseconds=10), jitter=False)
SECRET = "s3cr3t-shh"  # shorter than a token-shaped run: only the named-secret mask catches it
TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"  # 32 characters, shaped like an access token


@register
class Down(Check):
    """The broker is unreachable: every call raises UnavailableError (and is counted in params['calls'])."""

    kind = "test.one_breaker.down"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        params["calls"].append(1)
        raise UnavailableError("broker unreachable", "connection refused", "retry later")


@register
class Answers(Check):
    kind = "test.one_breaker.answers"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        params["calls"].append(1)
        return CheckOutcome.passed("the broker answered")


@register
class Leaks(Check):
    """Crashes, or times out, with a message that carries secrets."""

    kind = "test.one_breaker.leaks"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        message = f"api_secret {SECRET} token {TOKEN} " + "and then a very long story " * 20
        raise params["error"](message)


@register_step
class StepLeaks(Step):
    kind = "test.one_breaker.step_leaks"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        raise ValueError(f"refused {TOKEN}")


@pytest.fixture
def profile() -> Profile:
    return load_profile(None)


def scan(profile: Profile, home: Path, check: CheckSpec) -> ScanResult:
    store = StateStore.open(home)  # a connection of its own, like `mci scan`'s
    ctx = CheckContext(
        profile=profile, clock=Clock(), state_dir=home, store_factory=lambda: store, broker_factory=lambda: None
    )
    try:
        return run_checklist(Checklist("t", "", (check,)), ctx)
    finally:
        store.close()


def sequence(profile: Profile, home: Path, step: StepSpec) -> Any:
    ctx = context_for(profile, Clock(), home, "graceful")  # opens its own connection, like `mci shutdown`'s
    try:
        return SequenceRun(Sequence("t", "", (step,)), ctx).execute()
    finally:
        ctx.store.close()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_breaker_the_scan_opened_refuses_a_sequence_step(profile, mci_home, tmp_path):
    fail_max = profile.breakers["broker"].fail_max
    calls: list[int] = []
    result = scan(
        profile,
        mci_home,
        CheckSpec(
            id="net",
            kind=Down.kind,
            title="Net",
            params={"calls": calls},
            breaker="broker",
            retry=replace(FAST, attempts=fail_max + 2),
        ),
    )
    net = result.results[0]
    assert net.status is Status.FAILED and len(calls) == fail_max  # the attempt that tripped it was the last
    assert isinstance(net.error, BreakerOpenError)

    log = tmp_path / "steps.log"
    done = sequence(
        profile,
        mci_home,
        StepSpec(
            id="cancel",
            kind="test.record",
            title="cancel",
            params={"log": str(log), "name": "cancel"},
            breaker="broker",
        ),
    )
    assert done.status == "failed" and lines(log) == []  # refused: the step never ran
    assert isinstance(done.error, BreakerOpenError) and done.error.code is ExitCode.UNAVAILABLE
    assert done.error.what.startswith("circuit breaker broker is open since ")
    assert f"reached its limit of {fail_max}" in done.error.why


def test_a_breaker_a_sequence_opened_refuses_a_scan_check(profile, mci_home, tmp_path):
    fail_max = profile.breakers["broker"].fail_max
    log = tmp_path / "steps.log"
    done = sequence(
        profile,
        mci_home,
        StepSpec(
            id="flaky",
            kind="test.flaky",
            title="flaky",
            params={"log": str(log), "fail_times": 99},
            breaker="broker",
            retry=replace(FAST, attempts=fail_max + 2),
        ),
    )
    assert done.status == "failed" and lines(log).count("flaky-call") == fail_max
    assert isinstance(done.error, BreakerOpenError)

    calls: list[int] = []
    result = scan(
        profile,
        mci_home,
        CheckSpec(
            id="balance", kind=Answers.kind, title="Balance", params={"calls": calls}, breaker="broker", retry=FAST
        ),
    )
    balance = result.results[0]
    assert balance.status is Status.FAILED and calls == []  # refused: the check never ran, and was not retried
    assert balance.attempts == 1 and balance.error.code is ExitCode.UNAVAILABLE
    assert balance.error.what.startswith("circuit breaker broker is open since ")


def test_either_runners_trial_call_closes_it_for_both(profile, mci_home, tmp_path):
    quick = replace(profile, breakers={"broker": BreakerConfig(2, timedelta(milliseconds=300))})
    calls: list[int] = []
    scan(
        quick,
        mci_home,
        CheckSpec(
            id="net",
            kind=Down.kind,
            title="Net",
            params={"calls": calls},
            breaker="broker",
            retry=replace(FAST, attempts=2),
        ),
    )
    assert StateStore.open(mci_home).breaker("broker").state == "open"

    time.sleep(0.35)  # the cooldown, in real time: the next call is the trial
    log = tmp_path / "steps.log"
    done = sequence(
        quick,
        mci_home,
        StepSpec(
            id="cancel",
            kind="test.record",
            title="cancel",
            params={"log": str(log), "name": "cancel"},
            breaker="broker",
        ),
    )
    assert done.status == "done" and lines(log) == ["cancel"]

    store = StateStore.open(mci_home)
    assert (store.breaker("broker").state, store.breaker("broker").fail_counter) == ("closed", 0)
    moves = [(r.data["from"], r.data["to"]) for r in store.audit_records() if r.kind == "breaker"]
    assert moves == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    answered: list[int] = []
    result = scan(
        quick,
        mci_home,
        CheckSpec(id="balance", kind=Answers.kind, title="Balance", params={"calls": answered}, breaker="broker"),
    )
    assert result.results[0].status is Status.PASSED and answered == [1]


@pytest.mark.parametrize("error", [KeyError, TimeoutError])
def test_the_runner_masks_what_it_always_masked(profile, mci_home, error):
    """A crash (the message in WHY) and a timeout raised inside a check (likewise): the profile's api secret,
    anything shaped like a token, and no more than 300 characters of the message."""
    leaky = replace(profile, broker=replace(profile.broker, api_secret=SECRET))
    assert isinstance(leaky.broker, BrokerConfig)
    result = scan(leaky, mci_home, CheckSpec(id="boom", kind=Leaks.kind, title="Boom", params={"error": error}))
    why = result.results[0].error.why
    assert result.results[0].status is Status.FAILED
    assert SECRET not in why and TOKEN not in why and TOKEN[:24] not in why
    assert "***" in why and why.endswith("...")
    assert len(why) < 300 + len("KeyError: ") + len("a call inside the check timed out: ")


def test_a_crashed_step_is_masked_by_the_same_mask(profile, mci_home):
    done = sequence(profile, mci_home, StepSpec(id="boom", kind=StepLeaks.kind, title="boom", params={}))
    assert done.status == "failed" and done.error.code is ExitCode.INTERNAL
    assert TOKEN not in done.error.why and done.error.why == "refused ***"
