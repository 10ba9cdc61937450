"""--metrics-file: Prometheus text that prometheus_client's parser reads, after real scan, kill, gate and watch runs."""

from __future__ import annotations

import stat
import threading
from decimal import Decimal

from testing.observability import MONDAY, parse_metrics


def values(families, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in families[name]}


def test_scan_kill_gate_and_watch_write_parsable_metrics(run_mci, mci_home, tmp_path):
    prom = tmp_path / "textfile" / "mci.prom"
    prom.parent.mkdir()  # node_exporter's textfile folder exists; mci never creates one

    scan = run_mci("scan", "--at", MONDAY, "--metrics-file", str(prom))
    assert scan.returncode == 0, scan.stderr
    families = parse_metrics(prom.read_text())
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    results = values(families, "mci_check_result")
    assert results[(("check", "market_hours"), ("checklist", "twelve-point"), ("status", "passed"))] == 1
    assert results[(("check", "market_hours"), ("checklist", "twelve-point"), ("status", "failed"))] == 0
    assert len({k[0] for k in results}) == 12  # every check of the 12-point scan
    assert all(v >= 0 for v in values(families, "mci_check_duration_seconds").values())
    assert values(families, "mci_run_exit_code") == {(("command", "scan"),): 0}
    assert values(families, "mci_kill_switch") == {(("profile", "paper"),): 0}
    assert values(families, "mci_breaker_state") == {(("name", "broker"), ("profile", "paper")): 0}
    assert "mci_run_duration_seconds" in families and "mci_last_run_timestamp_seconds" in families

    watch = run_mci("watch", "--once", "--at", MONDAY, "--metrics-file", str(prom))
    assert watch.returncode == 0, watch.stderr
    families = parse_metrics(prom.read_text())
    assert values(families, "mci_open_positions") == {(("profile", "paper"),): 0}
    assert values(families, "mci_day_pnl_rupees") == {(("profile", "paper"),): 0}
    assert values(families, "mci_run_exit_code") == {(("command", "watch"),): 0}

    kill = run_mci("shutdown", "--emergency", "--at", MONDAY, "--metrics-file", str(prom))
    assert kill.returncode == 0, kill.stdout + kill.stderr
    families = parse_metrics(prom.read_text())
    assert values(families, "mci_kill_switch") == {(("profile", "paper"),): 1}
    assert values(families, "mci_run_exit_code") == {(("command", "shutdown"),): 0}

    gate = run_mci("gate", "run", "safety-audit", "--metrics-file", str(prom))
    families = parse_metrics(prom.read_text())
    assert values(families, "mci_run_exit_code") == {(("command", "gate"),): gate.returncode}
    assert {k[1][1] for k in values(families, "mci_check_result")} == {"gate:safety-audit"}


def test_labels_are_escaped_and_money_is_written_from_the_decimal():
    from mci.observability.metrics import Metrics

    m = Metrics()
    m.add("mci_day_pnl_rupees", Decimal("-12345678901234.05"), profile='a"b\\c\nd')
    text = m.render()
    assert 'profile="a\\"b\\\\c\\nd"} -12345678901234.05' in text
    (sample,) = parse_metrics(text)["mci_day_pnl_rupees"]
    assert sample.labels["profile"] == 'a"b\\c\nd'


def test_the_file_is_replaced_atomically_never_seen_half_written(tmp_path):
    from mci.observability.metrics import write_atomic

    path = tmp_path / "mci.prom"
    a, b = "# a\n" + "x 1\n" * 20000, "# b\n" + "y 2\n" * 30000
    write_atomic(path, a)
    stop = threading.Event()

    def writer():
        for i in range(200):
            write_atomic(path, b if i % 2 else a)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = 0
    while not stop.is_set():
        assert path.read_text() in (a, b)
        seen += 1
    thread.join()
    assert seen > 0
    assert [p.name for p in tmp_path.iterdir()] == ["mci.prom"]  # no temporary file left behind
