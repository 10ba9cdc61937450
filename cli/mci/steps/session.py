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
    """Clear what the day's credentials left behind; with `revoke: true`, kill the session at the broker.

    What "clear sensitive data" (CR-002 step 4) means here: no process can trade with the session any
    more — the engine's token file is wiped and the ordinary token store is emptied, so `mci scan`,
    `mci ignite` and `mci watch` need a new `mci token login`. The encrypted session itself is moved to
    an emergency-only slot until it dies at 06:00 IST, because the account can still move after the
    engine stops, and `mci kill` must then be able to read and flatten it (mci.store.token_store). A profile
    that wants nothing kept sets `revoke: true`: the token is invalidated at Kite (KiteBroker.logout),
    and every copy is wiped; a later `mci kill` says the session was revoked and to log in again.

    The account is read one last time first, while the credentials still exist, so state.log can
    record the final state even for a broker that now refuses us.
    """

    kind = "secrets.clear"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        from mci.steps.report import snapshot

        facts: dict[str, Any] = {}
        try:
            facts["snapshot"] = snapshot(ctx.broker)  # journaled with the step: state.log reads it from there
        except Exception:  # noqa: BLE001 — no credentials left (a rerun): nothing more to read
            pass
        revoke = bool(params.get("revoke")) and ctx.profile.broker.kind == "kite"
        revoked = False
        if revoke:
            logout = getattr(ctx.broker, "logout", None)
            if callable(logout):
                logout()  # a failure fails the step: a revoke asked for and not done must not read as done
                revoked = True
        ctx.close_broker()
        cleared = []
        kept = False
        if ctx.profile.broker.kind == "kite":
            from mci.store.token_store import open_token_store

            store = open_token_store(ctx.profile, ctx.state_dir, clock=ctx.clock)
            if revoked:
                if store.clear():  # every copy, the emergency slot too: the session is dead at the broker
                    cleared.append("token store")
                store.mark_revoked(ctx.clock.now(), f"mci shutdown ({ctx.purpose}, run {ctx.run_id})")
            elif store.stash_for_emergency():
                kept = True
                cleared.append("token store (kept for `mci kill` only, until 06:00 IST)")
        wipe = getattr(ctx.engine, "clear_secrets", None)
        if callable(wipe) and wipe():
            cleared.append("engine token file")
        facts.update({"cleared": cleared, "revoked": revoked, "kept_for_emergency": kept})
        what = ", ".join(cleared) if cleared else "nothing stored"
        return StepOutcome(f"secrets cleared: {what}" + ("; token revoked at the broker" if revoked else ""), facts)
