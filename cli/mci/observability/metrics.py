"""`--metrics-file PATH`: the run as Prometheus text, for node_exporter's textfile collector.

    mci scan --metrics-file /var/lib/node_exporter/textfile/mci.prom

The file is replaced atomically (a temporary file in the same directory, then os.replace), so the
collector never reads half a file. Money is written from its Decimal as text, never through float
arithmetic. Gathering a metric never fails the command: a part that cannot be read is left out and
logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}

HELP = {
    "mci_check_result": ("gauge", "1 for the status the check ended in, 0 for the others."),
    "mci_check_duration_seconds": ("gauge", "How long the check took, retries included."),
    "mci_run_duration_seconds": ("gauge", "How long the mci command ran."),
    "mci_run_exit_code": ("gauge", "The exit code of the mci command (0 passed, see mci --help)."),
    "mci_last_run_timestamp_seconds": ("gauge", "When the mci command finished, Unix time."),
    "mci_token_expiry_seconds": ("gauge", "Seconds until the Kite access token expires (negative: expired)."),
    "mci_breaker_state": ("gauge", "Circuit breaker state: 0 closed, 1 half-open, 2 open."),
    "mci_open_positions": ("gauge", "Open positions at the last read of the account."),
    "mci_day_pnl_rupees": ("gauge", "The day's P&L (realised + unrealised) in rupees at the last read."),
    "mci_kill_switch": ("gauge", "1 when the profile is halted (the kill switch is latched), else 0."),
    "mci_reducing": ("gauge", "1 when the profile is reducing (mci pause or watch.reduce_at: exits only), else 0."),
}
STATUSES = ("passed", "warned", "failed", "skipped")


def escape(value: str) -> str:
    """A label value as the exposition format wants it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(round(value, 6))
    return format(Decimal(str(value)), "f")  # money as text ("-1234.50")


@dataclass
class Metrics:
    samples: dict[str, list[tuple[dict[str, str], str]]] = field(default_factory=dict)

    def add(self, metric: str, value: Any, /, **labels: Any) -> None:
        self.samples.setdefault(metric, []).append(({k: str(v) for k, v in labels.items()}, number(value)))

    def render(self) -> str:
        lines = []
        for name, samples in self.samples.items():
            kind, text = HELP.get(name, ("gauge", name))
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for labels, value in samples:
                body = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
                lines.append(f"{name}{{{body}}} {value}" if body else f"{name} {value}")
        return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o644)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def add_checks(metrics: Metrics, checklist: str, checks: Iterable[Mapping[str, Any]]) -> None:
    for check in checks:
        status = str(check.get("status", ""))
        for candidate in STATUSES:
            metrics.add(
                "mci_check_result",
                1 if candidate == status else 0,
                checklist=checklist,
                check=check.get("id", "?"),
                status=candidate,
            )
    for check in checks:
        seconds = check.get("duration_s", check.get("duration"))
        if isinstance(seconds, (int, float, Decimal)) and not isinstance(seconds, bool):
            metrics.add("mci_check_duration_seconds", float(seconds), checklist=checklist, check=check.get("id", "?"))


def add_account(metrics: Metrics, profile: str, summary: Mapping[str, Any] | None) -> None:
    """Open positions and the day's P&L from a watcher summary (money as exact text)."""
    if not summary:
        return
    if summary.get("open_positions") is not None:
        metrics.add("mci_open_positions", int(summary["open_positions"]), profile=profile)
    if summary.get("day_pnl") is not None:
        metrics.add("mci_day_pnl_rupees", Decimal(str(summary["day_pnl"])), profile=profile)
