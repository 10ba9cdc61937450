"""The sequence executor against the real journal (SQLite in a temp MCI_HOME) and real step classes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from mci.clock import Clock
from mci.config import load_profile
from mci.config.model import RetryPolicy, Sequence, StepSpec
from mci.engine.sequence import SequenceRun, context_for, sequence_mermaid
from mci.errors import ExitCode
from mci.results import Status
from mci.store.audit import verify_chain
from mci.store.journal import Journal
from mci.store.state import StateStore
from testing.breakers import trip

from tests.engine import stepkinds  # noqa: F401 — registers the test step kinds

ROOT = Path(__file__).resolve().parents[2]
FAST_RETRY = RetryPolicy(
    attempts=3, initial=timedelta(milliseconds=10), max_wait=timedelta(milliseconds=20), jitter=False
)


def step(id: str, kind: str = "test.record", on_error: str = "abort", **kw) -> StepSpec:
    params = kw.pop("params", {})
    return StepSpec(id=id, kind=kind, title=id.replace("_", " "), params=params, on_error=on_error, **kw)


@pytest.fixture
def profile():
    return load_profile(None)


@pytest.fixture
def log(tmp_path):
    return tmp_path / "log.txt"


def run(profile, home, steps, *, run_id=None, purpose="graceful"):
    ctx = context_for(profile, Clock(), home, purpose)
    seen = []
    result = SequenceRun(Sequence("test", "", tuple(steps)), ctx, on_step=seen.append).execute(run_id=run_id)
    return result, ctx, seen


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_steps_run_in_order_and_the_journal_and_audit_record_each(profile, mci_home, log):
    steps = [step(n, params={"log": str(log), "name": n}) for n in ("one", "two", "three")]
    result, ctx, seen = run(profile, mci_home, steps)
    assert result.ok and result.status == "done" and not result.resumed
    assert lines(log) == ["one", "two", "three"]
    assert [s.id for s in seen] == ["one", "two", "three"]
    records = Journal(ctx.store, profile.name).steps(result.run_id)
    assert [(r.step_id, r.status, r.attempt) for r in records] == [
        ("one", "done", 1),
        ("two", "done", 1),
        ("three", "done", 1),
    ]
    kinds = [(r.kind, r.data.get("status")) for r in ctx.store.audit_records()]
    assert kinds[0] == ("run", "running") and kinds[-1] == ("run", "done")
    assert kinds.count(("step", "running")) == 3 and kinds.count(("step", "done")) == 3
    assert verify_chain(ctx.store.audit_records()) is None


def test_a_retryable_failure_is_retried_and_each_attempt_journaled(profile, mci_home, log):
    flaky = step("flaky", "test.flaky", params={"log": str(log), "fail_times": 2}, retry=FAST_RETRY)
    result, ctx, _ = run(profile, mci_home, [flaky])
    assert result.ok
    assert result.steps[0].attempts == 3
    records = Journal(ctx.store, profile.name).steps(result.run_id)
    assert [(r.attempt, r.status) for r in records] == [(1, "failed"), (2, "failed"), (3, "done")]


def test_a_verdict_is_never_retried(profile, mci_home, log):
    result, _, _ = run(profile, mci_home, [step("reject", "test.fail", params={"log": str(log)}, retry=FAST_RETRY)])
    assert result.status == "failed"
    assert lines(log) == ["fail-call"]
    assert result.error.what == "order rejected"


def test_abort_skips_the_rest(profile, mci_home, log):
    steps = [
        step("a", params={"log": str(log), "name": "a"}),
        step("bad", "test.fail"),
        step("c", params={"log": str(log), "name": "c"}),
    ]
    result, _, _ = run(profile, mci_home, steps)
    assert result.status == "failed"
    assert [s.status for s in result.steps] == [Status.PASSED, Status.FAILED, Status.SKIPPED]
    assert lines(log) == ["a"]


def test_continue_goes_on_but_the_run_is_not_done(profile, mci_home, log):
    steps = [step("bad", "test.fail", on_error="continue"), step("c", params={"log": str(log), "name": "c"})]
    result, _, _ = run(profile, mci_home, steps)
    assert result.status == "failed" and not result.ok
    assert lines(log) == ["c"]
    assert result.error.what == "order rejected"


def test_escalate_stops_the_run_as_escalated(profile, mci_home, log):
    steps = [step("bad", "test.fail", on_error="escalate"), step("c", params={"log": str(log), "name": "c"})]
    result, _, _ = run(profile, mci_home, steps)
    assert result.status == "escalated"
    assert lines(log) == []


def test_a_hung_step_times_out(profile, mci_home, log):
    slow = step("slow", params={"log": str(log), "name": "slow", "sleep": 2}, timeout=timedelta(milliseconds=200))
    t0 = time.monotonic()
    result, _, _ = run(profile, mci_home, [slow])
    assert time.monotonic() - t0 < 1.5
    assert result.status == "failed"
    assert "timed out" in result.error.what and result.error.code is ExitCode.UNAVAILABLE


def test_a_bug_in_a_step_fails_it_with_an_explanation_never_a_pass(profile, mci_home):
    result, _, _ = run(profile, mci_home, [step("bug", "test.crash")])
    assert result.status == "failed"
    assert result.error.code is ExitCode.INTERNAL and "ZeroDivisionError" in result.error.what


def test_an_unknown_kind_fails(profile, mci_home):
    result, _, _ = run(profile, mci_home, [step("x", "no.such")])
    assert result.status == "failed" and result.error.code is ExitCode.INVALID


def test_an_open_breaker_refuses_the_step_without_running_it(profile, mci_home, log):
    store = StateStore.open(mci_home)
    trip(store, "broker", profile.breakers["broker"].fail_max, profile.breakers["broker"].reset_timeout)
    store.close()
    result, _, _ = run(profile, mci_home, [step("a", params={"log": str(log), "name": "a"}, breaker="broker")])
    assert result.status == "failed"
    assert result.error.code is ExitCode.UNAVAILABLE and "open" in result.error.what
    assert lines(log) == []


def test_a_journaled_run_resumes_at_its_first_unfinished_step(profile, mci_home, log):
    store = StateStore.open(mci_home)
    journal = Journal(store, profile.name)
    journal.start("gresume1", "graceful", "test", Clock().now())
    attempt = journal.begin_step("gresume1", "one", 0, Clock().now())
    journal.end_step("gresume1", "one", attempt, "done", Clock().now(), summary="recorded one")
    journal.begin_step("gresume1", "two", 1, Clock().now())  # crashed while running
    store.close()
    steps = [step(n, params={"log": str(log), "name": n}) for n in ("one", "two", "three")]
    result, ctx, _ = run(profile, mci_home, steps, run_id="gresume1")
    assert result.ok and result.resumed
    assert lines(log) == ["two", "three"]
    assert result.steps[0].resumed and result.steps[0].summary == "recorded one"
    records = Journal(ctx.store, profile.name).steps("gresume1")
    assert [(r.step_id, r.attempt, r.status) for r in records] == [
        ("one", 1, "done"),
        ("two", 1, "running"),
        ("two", 2, "done"),
        ("three", 1, "done"),
    ]
    assert Journal(ctx.store, profile.name).unfinished("graceful") is None


CRASH_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from mci.clock import Clock
    from mci.config import load_profile
    from mci.config.model import Sequence, StepSpec
    from mci.engine.sequence import SequenceRun, context_for
    from mci.store.journal import Journal
    from tests.engine import stepkinds

    log, home = sys.argv[1], sys.argv[2]
    from pathlib import Path
    profile = load_profile(None)
    steps = tuple(StepSpec(id=n, kind="test.record", title=n, params={{"log": log, "name": n, "sleep": 0.3}})
                  for n in ("s1", "s2", "s3", "s4"))
    ctx = context_for(profile, Clock(), Path(home), "graceful")
    unfinished = Journal(ctx.store, profile.name).unfinished("graceful")
    result = SequenceRun(Sequence("crash", "", steps), ctx).execute(run_id=unfinished.run_id if unfinished else None)
    print(result.status, result.run_id)
""")


@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_sigkill_mid_run_then_rerun_finishes_each_step_once(profile, mci_home, log, tmp_path, kill_after):
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "MCI_HOME": str(mci_home), "PYTHONPATH": f"{ROOT}:{ROOT / 'cli'}"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(log), str(mci_home)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while len(lines(log)) < kill_after and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = lines(log)
    assert len(before) >= kill_after and len(before) < 4
    rerun = subprocess.run(
        [sys.executable, str(script), str(log), str(mci_home)], env=env, capture_output=True, text=True, timeout=30
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split()[0] == "done"
    done = lines(log)
    # Each step's effect happened at least once and no finished step ran again; the one in flight when
    # the process died may legitimately run twice (steps are idempotent), nothing else.
    assert done[: len(before)] == before
    assert sorted(set(done)) == ["s1", "s2", "s3", "s4"]
    assert len(done) - 4 <= 1
    store = StateStore.open(mci_home)
    records = Journal(store, profile.name).steps(rerun.stdout.split()[1])
    assert sum(1 for r in records if r.status == "done") == 4
    assert all(sum(1 for r in records if r.step_id == s and r.status == "done") == 1 for s in ("s1", "s2", "s3", "s4"))
    store.close()


def test_mermaid_shows_every_step_and_where_failures_go():
    seq = Sequence("g", "", (step("a", on_error="escalate"), step("b", on_error="continue"), step("c")))
    text = sequence_mermaid(seq)
    assert text.startswith("flowchart TD")
    assert "s0 -.->|error: escalate| emergency" in text
    assert "s1 -.->|error: continue| s2" in text
    assert "s2 -.->|error: abort| failed" in text
