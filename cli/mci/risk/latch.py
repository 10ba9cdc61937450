"""The kill switch's latches as risk rules: what `mci risk check` refuses after a kill.

- account-wide (`mci kill`: the profile is `halted`): every order is refused, entries and exits alike;
  the engine was stopped and nothing may trade the profile until `mci reset --confirm`.
- scoped (`mci kill --product MIS`, `--tag`, `--symbol`: mci.store.latches): every new entry in a latched
  scope is refused; an exit (an order that only reduces a held position) is accepted, and so is anything
  outside the scopes, since the engine keeps trading the rest of the account.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from mci.flatten.scope import Selection
from mci.risk.intent import Failure
from mci.risk.validator import Verdict

RESET_HOW = "inspect the account (`mci status`), then `mci reset --confirm` unlatches it"


@dataclass(frozen=True)
class Latches:
    halted: bool
    scopes: tuple[Selection, ...] = ()

    @classmethod
    def of(cls, state: str | None, scoped: Iterable[Mapping[str, Any]]) -> "Latches":
        found = (Selection.from_dict(s.get("scope")) for s in scoped)
        return cls(state == "halted", tuple(s for s in found if s is not None))

    def __bool__(self) -> bool:
        return self.halted or bool(self.scopes)

    def judge(self, verdict: Verdict) -> Verdict:
        """The verdict with the latch's refusal added, when a latch refuses the order."""
        intent = verdict.intent
        if intent is None:
            return verdict
        failure = None
        if self.halted:
            failure = Failure(
                "latch",
                f"{intent.label()} refused: the kill switch is latched (halted)",
                "an emergency flattened this profile's account; nothing may trade it until it is reset",
                RESET_HOW,
            )
        elif not verdict.exit:
            for scope in self.scopes:
                if scope.instrument_in(intent.exchange, intent.symbol, intent.product) and scope.tag_in(intent.tag):
                    failure = Failure(
                        "latch",
                        f"{intent.label()} {intent.product} refused: scope {scope.label()} is latched by a scoped kill",
                        "a scoped emergency closed it; new entries in it stay refused (exits are "
                        "accepted) until it is reset",
                        RESET_HOW,
                    )
                    break
        if failure is None:
            return verdict
        return replace(verdict, accepted=False, failures=(*verdict.failures, failure))
