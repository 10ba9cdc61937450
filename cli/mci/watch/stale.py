"""A watcher killed outright (SIGKILL, OOM, a reboot) cannot say so itself: whoever next reads its heartbeat and finds
it stale (`mci status`) notifies `watcher_died` for it, once per watcher run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.store.watchers import Liveness


def notify_if_stale(profile: "Profile", state_dir: Path, live: "Liveness") -> None:
    """Fire `watcher_died` when the heartbeat is stale, once per watcher run: an O_EXCL marker file decides, so two
    readers at once notify once. Never raises: no marker, no notification (never a flood), and the reader goes on."""
    r = live.record
    if live.state != "stale" or r is None:
        return
    marker = state_dir / "notified" / f"watcher_died-{profile.name}-{r.pid}-{int(r.started_at.timestamp())}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # FileExistsError included: notified already
        return
    from mci.observability import notify

    why = "its process is gone" if not live.process_alive else "it has stopped beating"
    notify.fire(
        profile,
        "watcher_died",
        f"the watcher of profile {profile.name} (pid {r.pid}) is STALE: {why}; "
        "the risk limits are not being enforced; restart `mci watch`",
        {"pid": r.pid, "started_at": r.started_at.isoformat(), "last_beat": r.last_beat.isoformat()},
    )
