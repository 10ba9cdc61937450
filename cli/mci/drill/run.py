"""Run a drill: refuse what it must not touch, build the sandbox and the venue, run the day's phases in
order, and tear everything down on every path out (a failed phase, an exception, Ctrl-C, SIGTERM).

A failed phase skips the ones that depend on it; the final book is always read,
so the report says what the failure left behind.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator
from urllib.parse import urlsplit

from mci.clock import Clock
from mci.config.raw import raw_document
from mci.drill import closing, incident, morning
from mci.drill.day import Day, PhaseFailed
from mci.drill.model import PHASES, DrillReport, PhaseResult
from mci.drill.prepare import (
    broker_kind,
    refuse_circuits_off_the_breach,
    refuse_faults_on_paper,
    refuse_unsafe,
    rehearsal_instant,
)
from mci.drill.sandbox import Sandbox, port_free
from mci.errors import MciError, UnavailableError

if TYPE_CHECKING:
    from mci.drill.venue import Venue

RUN = {
    "token": morning.token,
    "scan": morning.scan,
    "ignite": morning.ignite,
    "trading": morning.trading,
    "breach": incident.breach,
    "emergency": incident.emergency,
    "reset": incident.reset,
    "reignite": closing.reignite,
    "shutdown": closing.shutdown,
    "final_book": closing.final_book,
}
ALWAYS = ("final_book",)  # read even after a failure: what did it leave behind?


@dataclass(frozen=True)
class DrillOptions:
    profile: Path | None = None
    faults: str | None = None
    at: str | None = None
    keep: bool = False


def run_drill(
    options: DrillOptions,
    *,
    on_start: Callable[[DrillReport], None] | None = None,
    on_phase: Callable[[PhaseResult], None] | None = None,
) -> DrillReport:
    from mci.brokers.sim.faults import parse_faults
    from mci.config import load_profile
    from mci.resources import default_profile

    real = Clock()
    started = real.now()
    # Absolute: the phases hand it to mci processes, whose working directory must not matter.
    path = (Path(options.profile).expanduser() if options.profile else default_profile()).absolute()
    raw = raw_document(path)
    kind = broker_kind(raw)
    refuse_faults_on_paper(kind, options.faults, str(raw.get("name") or path.stem))
    spec = parse_faults(options.faults) if options.faults else None  # a bad spec is refused before anything starts
    if spec is not None:
        refuse_circuits_off_the_breach(spec)
    sandbox = Sandbox.create(options.keep)
    venue: Venue | None = None
    day: Day | None = None
    report: DrillReport | None = None
    try:
        if kind == "kite":
            key, secret = sandbox.simulator_secrets(raw)
            sandbox.env["MCI_SIM_URL"] = "http://127.0.0.1:9"  # until the simulator is bound
        profile = load_profile(path, env=sandbox.env)
        clock = Clock(rehearsal_instant(profile, options.at, started))
        if kind == "kite":
            from mci.drill.venue import SimVenue

            refuse_unsafe(profile, sandbox.env["MCI_SIM_URL"])  # before the simulator starts: a real root is refused
            venue = SimVenue.start(sandbox.home, clock, api_key=key, api_secret=secret, faults=spec)
            sandbox.env["MCI_SIM_URL"] = venue.url
            profile = load_profile(path, env=sandbox.env)
            refuse_unsafe(profile, venue.url)
        else:
            from mci.drill.venue import PaperVenue

            refuse_unsafe(profile, None)
            venue = PaperVenue(profile, sandbox.home, clock)
        _engine_port(profile, sandbox)
        report = DrillReport(
            profile.name,
            kind,
            options.faults,
            clock.now(),
            started,
            sandbox=str(sandbox.home) if options.keep else None,
        )
        if on_start is not None:
            on_start(report)
        day = Day(profile, path, sandbox, venue, clock, options.faults)
        _phases(day, report, on_phase)
    finally:
        with _no_interrupts():
            if day is not None and day.watcher is not None:
                day.watcher.stop()
            sandbox.stop_everything()
            if venue is not None:
                venue.close()
            sandbox.remove(force=report is None)  # kept only when the drill ran and said where
    report.finished_at = real.now()
    return report


def _engine_port(profile: object, sandbox: Sandbox) -> None:
    """The engine must listen where the profile's health check looks; a port the profile fixes must be free."""
    url = ((getattr(profile, "engine", None) or {}).get("health") or {}).get("http")
    port = urlsplit(url).port if url else None
    if port is None or port == sandbox.engine_port:
        return
    if not port_free(port):
        raise UnavailableError(
            f"the engine's health port {port} is in use",
            f"the profile fixes the engine's health check at {url}, and another program listens there: the drill "
            "could mistake it for its own engine",
            "stop that program, or let the port follow MCI_ENGINE_PORT in the profile: "
            "http://127.0.0.1:${env:MCI_ENGINE_PORT:-8787}/health, as profiles/paper.yaml does",
        )
    sandbox.set_engine_port(port)


def _phases(day: Day, report: DrillReport, on_phase: Callable[[PhaseResult], None] | None) -> None:
    failed = False
    for name, _title in PHASES:
        if report.interrupted or (failed and name not in ALWAYS):
            why = "interrupted" if report.interrupted else "an earlier phase failed"
            result = PhaseResult(name, False, 0.0, f"skipped: {why}", skipped=True)
        else:
            result = _one(name, day, report)
        report.phases.append(result)
        failed = failed or not result.ok
        if on_phase is not None:
            on_phase(result)


def _one(name: str, day: Day, report: DrillReport) -> PhaseResult:
    started = time.monotonic()
    try:
        detail, facts = RUN[name](day)
        return PhaseResult(name, True, time.monotonic() - started, detail, facts=facts)
    except PhaseFailed as exc:
        return PhaseResult(name, False, time.monotonic() - started, exc.detail, facts=exc.facts)
    except MciError as exc:  # the broker, a file, a lock: a failure of the phase, said the usual way
        return PhaseResult(name, False, time.monotonic() - started, f"{exc.what}: {exc.why} (HOW: {exc.how})")
    except KeyboardInterrupt:
        report.interrupted = True
        return PhaseResult(name, False, time.monotonic() - started, "interrupted (Ctrl-C or SIGTERM)")


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Cleanup runs to its end: a second Ctrl-C must not leave the engine or the watcher behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
