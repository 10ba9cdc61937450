"""Token checks (CR-001 first, CR-004 the 06:00 IST expiry).

token.validity: without a live session every broker call fails, so the runner
makes every broker-using check wait for this one.
token.expiry: a Kite access token dies at 06:00 IST the next morning; an
engine ignited on a token about to die stops trading mid-session.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping

from mci.checks import duration_param
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.clock import zone
from mci.units import format_duration
from mci.errors import MciError


def _relogin_how(ctx: CheckContext) -> str:
    if ctx.profile.broker.kind == "paper":
        return "paper issues its own session; check the state dir is writable (MCI_HOME)"
    return "run `mci token login` to capture a fresh access token"


def _local(ctx: CheckContext, moment: datetime) -> str:
    return moment.astimezone(zone(ctx.profile.market.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _countdown(delta: timedelta) -> str:
    whole = int(delta.total_seconds())
    # Minutes are the useful grain once there is more than a minute left.
    return format_duration(timedelta(seconds=whole - whole % 60 if whole >= 60 else whole))


@register
class TokenValidity(Check):
    kind = "token.validity"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        info = ctx.broker.ensure_session()
        now = ctx.clock.now()
        if not info.valid:
            return CheckOutcome.failed(
                MciError(
                    f"the {ctx.profile.broker.kind} broker session is not valid",
                    info.reason or "the broker reports no valid session and gives no reason",
                    _relogin_how(ctx),
                ),
                user_id=info.user_id,
            )
        if info.expires_at is not None and info.expires_at <= now:
            # A session the broker still calls valid but whose expiry has passed will fail on first use.
            return CheckOutcome.failed(
                MciError(
                    f"the broker session expired at {_local(ctx, info.expires_at)}",
                    "Kite access tokens die at 06:00 IST the morning after login (CR-004)",
                    _relogin_how(ctx),
                ),
                user_id=info.user_id,
                expires_at=info.expires_at,
            )
        who = f" for {info.user_id}" if info.user_id else ""
        return CheckOutcome.passed(f"session valid{who}", user_id=info.user_id, expires_at=info.expires_at)


@register
class TokenExpiry(Check):
    kind = "token.expiry"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        warn_within = duration_param(params, "warn_within", timedelta(minutes=30))
        info = ctx.broker.session()
        now = ctx.clock.now()
        if info.expires_at is None:
            return CheckOutcome.failed(
                MciError(
                    "cannot tell when the broker session expires",
                    "the broker reports no expiry for the session" + (f" ({info.reason})" if info.reason else ""),
                    _relogin_how(ctx),
                )
            )
        left = info.expires_at - now
        when = _local(ctx, info.expires_at)
        facts = {"expires_at": info.expires_at, "remaining_s": left, "warn_within_s": warn_within}
        if left <= timedelta(0):
            return CheckOutcome.failed(
                MciError(
                    f"the broker session expired at {when}",
                    f"it expired {_countdown(-left)} ago; Kite access tokens die at 06:00 IST the morning after login (CR-004)",
                    _relogin_how(ctx),
                ),
                **facts,
            )
        summary = f"expires {when}, in {_countdown(left)}"
        if left <= warn_within:
            return CheckOutcome.warned(
                summary,
                MciError(
                    f"the broker session expires in {_countdown(left)}, at {when}",
                    f"that is within the warning window of {format_duration(warn_within)}; "
                    "the engine would lose the broker when it dies",
                    _relogin_how(ctx) + " before igniting",
                ),
                **facts,
            )
        return CheckOutcome.passed(summary, **facts)
