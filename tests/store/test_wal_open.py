"""Processes opening one fresh SQLite file at the same instant all get it (the paper exchange, the state DB).

Two `mci risk check` started together on a fresh paper account once failed with "database is locked": the
switch to WAL answered SQLITE_BUSY without waiting. Eight processes released together on a fresh file, over
many files, make that race likely every run (about one file in six lost it before the fix).
"""

from __future__ import annotations

import multiprocessing
import time
from decimal import Decimal
from pathlib import Path

import pytest

from mci.brokers.sim.exchange import Exchange
from mci.clock import Clock
from mci.store.state import StateStore

PROCESSES = 8
FILES = 20


def _open_exchange(path: Path) -> None:
    exchange = Exchange(path, Clock(), seed=7, capital=Decimal(100000))
    exchange.ltp(["NSE:INFY"])
    exchange.close()


def _open_state(path: Path) -> None:
    store = StateStore(path)
    with store.transaction():
        pass
    store.close()


def _worker(opener, path: Path, start: float, results) -> None:
    while time.time() < start:
        pass
    try:
        opener(path)
        results.put("ok")
    except Exception as exc:  # the verdict is the text: what a command would have printed
        results.put(f"{type(exc).__name__}: {getattr(exc, 'why', exc)}")


@pytest.mark.parametrize("opener", [_open_exchange, _open_state], ids=["paper-exchange", "state-db"])
def test_processes_opening_one_fresh_file_together_all_get_it(tmp_path, opener):
    ctx = multiprocessing.get_context("fork")
    failures = []
    for n in range(FILES):
        path = tmp_path / f"fresh-{n}.db"
        results = ctx.Queue()
        start = time.time() + 0.2
        procs = [ctx.Process(target=_worker, args=(opener, path, start, results)) for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        verdicts = [results.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        failures += [v for v in verdicts if v != "ok"]
    assert failures == []
