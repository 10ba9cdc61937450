"""Who a broker counts: the account behind a profile, and the profiles of a desk grouped by it.

Two Kite profiles with the same API root and api_key are one account: one rate limiter
(mci.brokers.ratelimit keys it the same way) and one latch. A paper account belongs to one profile name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mci.errors import ConfigError, MciError

if TYPE_CHECKING:
    from mci.config.desk import Desk
    from mci.config.model import Profile


@dataclass
class Member:
    path: Path
    name: str = ""
    account: str = ""  # who the broker counts: paper:<name>, kite-<hash of root and api_key>
    profile: "Profile | None" = None
    error: MciError | None = None  # the profile could not be loaded: no action is taken for it


def account_of(profile: "Profile", state_dir: Path) -> str:
    """The account a profile trades: paper accounts are per profile name; Kite's per API root and api_key."""
    if profile.broker.kind == "kite":
        from mci.brokers.kite import DEFAULT_ROOT
        from mci.brokers.ratelimit import account_key

        return account_key(profile.broker.root or DEFAULT_ROOT, profile.broker.api_key or "")
    return f"{profile.broker.kind}:{profile.name}"


def members(desk: "Desk", state_dir: Path) -> list[Member]:
    from mci.config import load_profile

    out = []
    for path in desk.profiles:
        m = Member(path, name=path.stem)
        try:
            m.profile = load_profile(path, cache_dir=state_dir / "cache")
            m.name = m.profile.name
            m.account = account_of(m.profile, state_dir)
        except MciError as exc:
            m.error = exc
        out.append(m)
    names = [m.name for m in out if m.profile is not None]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"the desk {desk.source} has two profiles named {', '.join(twice)}",
            "a profile's lifecycle, lock and paper account are kept by its name: they would be one",
            "give each profile of the desk its own `name:`",
        )
    return out
