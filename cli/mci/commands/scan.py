from __future__ import annotations

from pathlib import Path

from mci.clock import Clock
from mci.output.console import color_enabled, emit, emit_json, interactive


def run(profile_path: Path | None, clock: Clock, state_dir: Path, output: str) -> int:
    from mci.config import load_profile
    from mci.engine.scan import run_scan

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
