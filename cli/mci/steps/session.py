"""connections.close / secrets.clear: leave no connection open and no credential behind."""

from __future__ import annotations

from typing import Any, Mapping

from mci.steps.base import Step, StepContext, StepOutcome, register


@register
class ConnectionsClose(Step):
    kind = "connections.close"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        had = ctx._broker is not None
        ctx.close_broker()
        return StepOutcome("broker connection closed" if had else "no broker connection open")


@register
class SecretsClear(Step):
    """Wipe the token store and the engine's token file; optionally revoke the token at the broker.

    The account is read one last time first, while the credentials still exist,
    so state.log can record the final state even for a broker that now refuses us.
    """

    kind = "secrets.clear"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        from mci.steps.report import snapshot

        facts: dict[str, Any] = {}
        try:
            facts["snapshot"] = snapshot(ctx.broker)  # journaled with the step: state.log reads it from there
        except Exception:  # noqa: BLE001 — no credentials left (a rerun): nothing more to read
            pass
        revoked = False
        if params.get("revoke") and ctx.profile.broker.kind == "kite":
            logout = getattr(ctx.broker, "logout", None)
            if callable(logout):
                logout()
                revoked = True
        ctx.close_broker()
        cleared = []
        if ctx.profile.broker.kind == "kite":
            from mci.token_store import open_token_store

            if open_token_store(ctx.profile, ctx.state_dir).clear():
                cleared.append("token store")
        wipe = getattr(ctx.engine, "clear_secrets", None)
        if callable(wipe) and wipe():
            cleared.append("engine token file")
        facts.update({"cleared": cleared, "revoked": revoked})
        what = ", ".join(cleared) if cleared else "nothing stored"
        return StepOutcome(f"secrets cleared: {what}" + ("; token revoked at the broker" if revoked else ""), facts)
