"""breaker.state: an open circuit breaker means the broker failed repeatedly just now.

Igniting into an open breaker starts an engine whose first calls are refused.
The state is shared through the state DB, so cron's scan sees what an earlier
run tripped.
"""

from __future__ import annotations

from typing import Any, Mapping

from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.clock import zone
from mci.errors import MciError, UnavailableError


@register
class BreakerState(Check):
    kind = "breaker.state"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        declared = dict(ctx.profile.breakers or {})
        if not declared:
            return CheckOutcome.warned("no circuit breakers declared", MciError(
                "the profile declares no circuit breakers",
                "repeated broker failures will not trip anything, so a failing broker keeps being called",
                "declare one under `breakers:` in the profile, e.g. broker: {fail_max: 5, reset_timeout: 60s}",
            ))
        store = ctx.store
        now = ctx.breaker_clock.now()
        tz = zone(ctx.profile.market.timezone)
        lines: list[str] = []
        open_: list[str] = []
        open_names: list[str] = []
        trial: list[str] = []
        facts: dict[str, Any] = {}
        for name, config in sorted(declared.items()):
            record = store.breaker(name)
            cooling = store.breaker_is_open(name, config.reset_timeout, now)
            state = record.state
            if record.state == "open" and not cooling:
                state = "half-open"  # cooldown over: the next call is the trial
            facts[name] = {"state": state, "fail_counter": record.fail_counter, "fail_max": config.fail_max,
                           "opened_at": record.opened_at}
            line = f"{name}: {state} ({record.fail_counter}/{config.fail_max} failures)"
            lines.append(line)
            if cooling:
                open_names.append(name)
            if cooling and record.opened_at is not None:
                until = (record.opened_at + config.reset_timeout).astimezone(tz).strftime("%H:%M:%S %Z")
                since = record.opened_at.astimezone(tz).strftime("%H:%M:%S %Z")
                open_.append(f"{name} open since {since}, cools down at {until}")
            elif cooling:
                open_.append(f"{name} open")
            elif state == "half-open":
                trial.append(name)
        summary = "; ".join(lines)
        if open_:
            return CheckOutcome.failed(UnavailableError(
                f"circuit breaker {', '.join(open_names)} is open",
                "; ".join(open_) + " — the calls it guards failed repeatedly",
                "find why the broker calls fail (network, broker status, token) and scan again after the cooldown",
            ), **facts)
        if trial:
            return CheckOutcome.warned(summary, MciError(
                f"circuit breaker {', '.join(trial)} is half-open",
                "it tripped earlier; its cooldown is over and the next call is a trial that closes or reopens it",
                "watch the broker checks in this scan: if they pass, the breaker closes",
            ), **facts)
        return CheckOutcome.passed(summary, **facts)
