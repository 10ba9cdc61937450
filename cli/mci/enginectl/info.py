"""What EngineControl reports: the running engine, a pause, a stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EngineInfo:
    pid: int | None
    started_at: datetime
    argv: tuple[str, ...]
    log_path: Path
    how: str  # command | systemd | http

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "argv": list(self.argv),
            "log_path": str(self.log_path),
            "how": self.how,
        }


@dataclass(frozen=True)
class StopInfo:
    was_running: bool
    how: str  # signal | command | systemd | http | none (was not running)
    pid: int | None
    forced: bool  # SIGKILL was needed after the grace
    elapsed: timedelta
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "was_running": self.was_running,
            "how": self.how,
            "pid": self.pid,
            "forced": self.forced,
            "elapsed_s": round(self.elapsed.total_seconds(), 3),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class PauseInfo:
    paused: bool  # a pause was delivered and accepted
    how: str  # http | signal | command | none (nothing to do, see detail)
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"paused": self.paused, "how": self.how, "detail": self.detail}
