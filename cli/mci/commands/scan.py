from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mci.clock import Clock
from mci.output.console import color_enabled, emit, emit_json, interactive

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.engine.scan import ScanOutcome


def run(
    profile_path: Path | None, clock: Clock, state_dir: Path, output: str, *, metrics_file: Path | None = None
) -> int:
    import time

    from mci.config import load_profile
    from mci.engine.scan import run_scan

    started = time.monotonic()

    profile = load_profile(profile_path, cache_dir=state_dir / "cache")
    live = None
    if output == "text" and interactive():
        from mci.output.text import LiveChecklist

        live = LiveChecklist(profile.scan.checklist)
    if live is not None:
        with live:
            outcome = run_scan(profile, clock, state_dir, on_update=live.update)
    else:
        outcome = run_scan(profile, clock, state_dir)
    _observe(profile, clock, state_dir, outcome, started, metrics_file)

    if output == "json":
        payload = outcome.result.as_dict()
        payload["scan_id"] = outcome.scan_id
        payload["lifecycle"] = {"state": outcome.lifecycle_state, "note": outcome.note}
        emit_json(payload)
    elif output == "junit":
        from mci.output.junit import scan_to_junit

        emit(scan_to_junit(outcome.result))
    else:
        from mci.output.text import render_scan

        emit(render_scan(outcome.result, color=color_enabled()))
        emit(f"lifecycle: {outcome.lifecycle_state} — {outcome.note}")
    return int(outcome.exit_code)


def _observe(
    profile: "Profile", clock: Clock, state_dir: Path, outcome: "ScanOutcome", started: float, metrics_file: Path | None
) -> None:
    """Log, notify (scan_failed, token_expiring) and write the metrics; none of it can fail the scan."""
    from mci.observability.logs import event
    from mci.observability.notify import fire

    result = outcome.result.as_dict()
    checks = result.get("checks", [])
    event(
        "INFO",
        f"scan {result.get('status')}: lifecycle {outcome.lifecycle_state}",
        profile=profile.name,
        scan_id=outcome.scan_id,
        exit_code=int(outcome.exit_code),
    )
    failed = [c["id"] for c in checks if c.get("status") == "failed"]
    if int(outcome.exit_code) != 0:
        fire(
            profile,
            "scan_failed",
            f"scan of {profile.name} failed: {', '.join(failed) or outcome.note}",
            {
                "scan_id": outcome.scan_id,
                "failed": failed,
                "exit_code": int(outcome.exit_code),
                "lifecycle": outcome.lifecycle_state,
            },
            clock.now(),
        )
    expiry = next(
        (c for c in checks if c.get("id") == "token_expiry" and c.get("status") in ("warned", "failed")), None
    )
    if expiry is not None:
        fire(
            profile,
            "token_expiring",
            f"the access token of {profile.name}: {expiry.get('summary', '')}",
            {"check": "token_expiry", "status": expiry.get("status")},
            clock.now(),
        )
    if metrics_file is None:
        return
    from mci.engine.run_metrics import write_run

    write_run(
        metrics_file,
        "scan",
        profile,
        state_dir,
        clock.now(),
        started=started,
        exit_code=int(outcome.exit_code),
        checklist=str(result.get("checklist") or "scan"),
        checks=checks,
    )
