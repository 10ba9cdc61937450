"""Step kinds for executor tests: real steps with observable side effects in files (no mocks of the executor)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from mci.errors import ExitCode, MciError, UnavailableError
from mci.steps.base import Step, StepContext, StepOutcome, register


def _append(path: str, text: str) -> None:
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(text + "\n")


@register
class Record(Step):
    """Appends its id to params.log; sleeps params.sleep seconds first."""

    kind = "test.record"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))
        _append(params["log"], params["name"])
        return StepOutcome(f"recorded {params['name']}", {"name": params["name"]})


@register
class Flaky(Step):
    """Fails with UnavailableError until it has been called params.fail_times times."""

    kind = "test.flaky"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        _append(params["log"], "flaky-call")
        calls = sum(1 for line in Path(params["log"]).read_text().splitlines() if line == "flaky-call")
        if calls <= int(params["fail_times"]):
            raise UnavailableError("broker unreachable", "connection refused", "retry")
        return StepOutcome(f"ok after {calls} calls")


@register
class Fail(Step):
    kind = "test.fail"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        if params.get("log"):
            _append(params["log"], "fail-call")
        raise MciError("order rejected", "insufficient margin", "add funds", ExitCode.FAILED)


@register
class Crash(Step):
    kind = "test.crash"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        raise ZeroDivisionError("a bug")
