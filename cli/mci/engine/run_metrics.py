"""The run's `--metrics-file`: the Prometheus primitives of mci.observability.metrics, fed with what the state
directory says (lifecycle, breakers, token expiry). It lives above both, so observability never reads the store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from mci.observability.metrics import BREAKER_VALUES, Metrics, add_account, add_checks, write_atomic


def add_state(metrics: Metrics, profile: Any, state_dir: Path, now: Any) -> None:
    """Token expiry, breaker states and the kill switch, read from the state directory; each part optional."""
    from mci.observability.logs import event

    try:
        from mci.store.breakers import breaker_views
        from mci.store.state import StateStore

        store = StateStore.open(state_dir)
        try:
            state = store.lifecycle(profile.name).state
            metrics.add("mci_kill_switch", 1 if state == "halted" else 0, profile=profile.name)
            metrics.add("mci_reducing", 1 if state == "reducing" else 0, profile=profile.name)
            for view in breaker_views(profile.breakers, store, now):
                metrics.add(
                    "mci_breaker_state", BREAKER_VALUES.get(view.state, 2), profile=profile.name, name=view.name
                )
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001
        event("WARNING", "metrics: the state database could not be read", error=str(exc))
    if getattr(profile.broker, "kind", "") != "kite":
        return  # the paper broker needs no token
    try:
        from mci.store.token_store import open_token_store

        status = open_token_store(profile, state_dir).status(now)
        if status.remaining is not None:
            metrics.add("mci_token_expiry_seconds", int(status.remaining.total_seconds()), profile=profile.name)
    except Exception as exc:  # noqa: BLE001
        event("WARNING", "metrics: the token store could not be read", error=str(exc))


def write_run(
    path: Path | None,
    command: str,
    profile: Any,
    state_dir: Path,
    now: Any,
    *,
    started: float,
    exit_code: int,
    checklist: str | None = None,
    checks: Iterable[Mapping[str, Any]] = (),
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Write the run's metrics to `path` (nothing when None); never raises."""
    if path is None:
        return
    from mci.observability.logs import event

    try:
        metrics = Metrics()
        metrics.add("mci_run_duration_seconds", round(time.monotonic() - started, 3), command=command)
        metrics.add("mci_run_exit_code", int(exit_code), command=command)
        metrics.add("mci_last_run_timestamp_seconds", round(time.time(), 3), command=command)
        if checklist is not None:
            add_checks(metrics, checklist, list(checks))
        if profile is not None:
            add_state(metrics, profile, state_dir, now)
            add_account(metrics, profile.name, summary)
        write_atomic(Path(path), metrics.render())
        event("DEBUG", "metrics written", path=str(path), command=command)
    except Exception as exc:  # noqa: BLE001 — metrics never fail the money path
        event("WARNING", "metrics: could not write the metrics file", path=str(path), error=str(exc))
