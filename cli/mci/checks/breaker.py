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
            return CheckOutcome.warned(
                "no circuit breakers declared",
                MciError(
                    "the profile declares no circuit breakers",
                    "repeated broker failures will not trip anything, so a failing broker keeps being called",
                    "declare one under `breakers:` in the profile, e.g. broker: {fail_max: 5, reset_timeout: 60s}",
                ),
            )
        from mci.store.breakers import breaker_views

        tz = zone(ctx.profile.market.timezone)
        lines: list[str] = []
        open_: list[str] = []
        open_names: list[str] = []
        trial: list[str] = []
        facts: dict[str, Any] = {}
        # As a call would meet each breaker now: open and cooling down, or past its cooldown (half-open: the next
        # call is the trial), at the breakers' own clock.
        for view in breaker_views(declared, ctx.store, ctx.breaker_clock.now()):
            name, state = view.name, view.state
            cooling = view.trial_in is not None
            facts[name] = {
                "state": state,
                "fail_counter": view.fail_counter,
                "fail_max": view.fail_max,
                "opened_at": view.opened_at,
            }
            line = f"{name}: {state} ({view.fail_counter}/{view.fail_max} failures)"
            lines.append(line)
            if cooling and view.opened_at is not None:
                open_names.append(name)
                until = (view.opened_at + view.reset_timeout).astimezone(tz).strftime("%H:%M:%S %Z")
                since = view.opened_at.astimezone(tz).strftime("%H:%M:%S %Z")
                open_.append(f"{name} open since {since}, cools down at {until}")
            elif state == "half-open":
                trial.append(name)
        summary = "; ".join(lines)
        if open_:
            return CheckOutcome.failed(
                UnavailableError(
                    f"circuit breaker {', '.join(open_names)} is open",
                    "; ".join(open_) + " — the calls it guards failed repeatedly",
                    "find why the broker calls fail (network, broker status, token) and scan again after the cooldown",
                ),
                **facts,
            )
        if trial:
            return CheckOutcome.warned(
                summary,
                MciError(
                    f"circuit breaker {', '.join(trial)} is half-open",
                    "it tripped earlier; its cooldown is over and the next call is a trial that closes or reopens it",
                    "watch the broker checks in this scan: if they pass, the breaker closes",
                ),
                **facts,
            )
        return CheckOutcome.passed(summary, **facts)
