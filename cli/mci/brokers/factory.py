"""Build the broker a profile names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mci.clock import Clock
from mci.errors import UnavailableError

if TYPE_CHECKING:
    from mci.brokers.base import Broker
    from mci.config.model import Profile


def broker_for(profile: "Profile", state_dir: Path, clock: Clock, *, emergency: bool = False) -> "Broker":
    """`emergency`: for the kill switch, which may use the session a graceful shutdown kept for it."""
    kind = profile.broker.kind
    if kind == "paper":
        from mci.brokers.paper import PaperBroker

        return PaperBroker.from_profile(profile, state_dir, clock)
    if kind == "kite":
        try:
            from mci.brokers.kite import KiteBroker
        except ImportError:
            raise UnavailableError(
                f"profile {profile.name!r} uses the kite broker, which this build of mci does not include yet",
                "the Kite Connect adapter (mci.brokers.kite) is not installed in this version",
                "use a paper profile (profiles/paper.yaml) until the Kite adapter ships",
            ) from None
        return KiteBroker.from_profile(profile, state_dir, clock, emergency=emergency)
    raise UnavailableError(
        f"unknown broker kind {kind!r}",
        "the profile schema should have refused this",
        "use broker.kind paper or kite",
    )
