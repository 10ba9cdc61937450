"""`mci drill` through the real CLI: a whole day in a sandbox, on the shipped paper and kite-sim profiles,
with and without simulator faults, a profile whose drill must fail, and refusals before anything starts."""

from __future__ import annotations

import re

from testing.drill import KITE_SIM, OPERATOR_SECRET, PAPER, ROOT, as_json, drill_records, processes_of

from mci.drill.model import PHASES

NAMES = [name for name, _ in PHASES]


def test_paper_day_passes_records_and_leaves_nothing_behind(drill, mci_home, sandboxes):
    done = drill("-p", str(PAPER), "-o", "json", "--keep")
    report = as_json(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["passed"] is True and report["flat"] is True and report["failed_phase"] is None
    assert [p["name"] for p in report["phases"]] == NAMES
    assert all(p["ok"] and p["seconds"] >= 0 and p["detail"] for p in report["phases"])
    assert report["rehearsal_at"].startswith("2026-11-25T10:00")

    (record,) = drill_records(mci_home)  # the invoking environment's state DB, not the sandbox's
    assert record.profile == "paper"
    data = record.data
    assert data["profile"] == "paper" and data["passed"] is True and data["faults"] is None
    assert [p["name"] for p in data["phases"]] == NAMES
    assert all(set(p) == {"name", "ok", "seconds", "detail"} for p in data["phases"])
    assert data["mci_version"] and data["started_at"] < data["finished_at"]

    sandbox = report["sandbox"]  # kept: its pidfile and its processes can be checked
    assert sandbox and sandbox.startswith(str(sandboxes))
    assert processes_of(sandbox) == []
    assert not (mci_home / "engines").exists()  # the operator's engine folder was never touched


def test_kite_sim_day_passes_with_its_own_credentials(drill, mci_home, sandboxes):
    done = drill("-p", str(KITE_SIM))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if re.match(r"^  [✓✗-] ", line)]
    assert [line.split()[1] for line in lines] == NAMES
    assert all(line.startswith("  ✓ ") for line in lines), done.stdout
    assert re.search(r"✓ token +\d+\.\d\ds +logged in through the simulator's redirect flow", done.stdout)
    assert "DRILL PASSED" in done.stdout and "recorded: audit #" in done.stdout
    assert OPERATOR_SECRET not in done.stdout + done.stderr
    assert list(sandboxes.iterdir()) == []  # the sandbox is removed
    (record,) = drill_records(mci_home)
    assert record.data["passed"] is True and OPERATOR_SECRET not in str(record.data)


def test_kite_sim_day_passes_through_injected_5xx(drill, mci_home):
    done = drill("-p", str(KITE_SIM), "--faults", "5xx=0.2,seed=3", "-o", "json")
    report = as_json(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["passed"] is True and report["faults"] == "5xx=0.2,seed=3"
    final = report["phases"][-1]
    assert final["facts"]["faults_met"].get("5xx", 0) >= 3, final  # faults were met, and absorbed
    (record,) = drill_records(mci_home)
    assert record.data["faults"] == "5xx=0.2,seed=3"


def _profile_without_square_off(tmp_path):
    """A copy of the paper profile whose emergency cancels orders but never squares off: it must fail the drill."""
    rules = tmp_path / "rules" / "shutdown"
    rules.mkdir(parents=True)
    emergency = (ROOT / "rules" / "shutdown" / "emergency.yaml").read_text(encoding="utf-8")
    start, end = emergency.index("  - id: square_off"), emergency.index("  - id: log_final_state")
    rules.joinpath("no-square-off.yaml").write_text(
        emergency[:start].replace("name: emergency", "name: no-square-off") + emergency[end:], encoding="utf-8"
    )
    text = PAPER.read_text(encoding="utf-8").replace("name: paper\n", "name: paper-nosq\n")
    text = text.replace("emergency: {use: shutdown/emergency}", "emergency: {use: shutdown/no-square-off}")
    assert "shutdown/no-square-off" in text
    profile = tmp_path / "profiles" / "paper-nosq.yaml"
    profile.parent.mkdir()
    profile.write_text(text, encoding="utf-8")
    return profile


def test_an_emergency_that_does_not_flatten_fails_the_drill(drill, mci_home, tmp_path, sandboxes):
    done = drill("-p", str(_profile_without_square_off(tmp_path)))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DRILL FAILED at phase emergency" in done.stdout
    assert re.search(r"✗ emergency .*NOT FLAT", done.stdout), done.stdout
    assert re.search(r"- reset +0\.00s +skipped", done.stdout)
    assert re.search(r"✗ final_book .*NOT FLAT", done.stdout)  # read anyway: what the failure left behind
    assert list(sandboxes.iterdir()) == []
    (record,) = drill_records(mci_home)
    assert record.profile == "paper-nosq" and record.data["passed"] is False
    failed = [p["name"] for p in record.data["phases"] if not p["ok"]]
    assert failed[0] == "emergency"


def test_refusals_start_nothing_and_record_nothing(drill, mci_home, tmp_path, sandboxes):
    paper_faults = drill("-p", str(PAPER), "--faults", "5xx=0.2")
    assert paper_faults.returncode == 2 and "WHAT: --faults applies to the Kite simulator" in paper_faults.stderr

    live = KITE_SIM.read_text(encoding="utf-8").replace(
        "${env:MCI_SIM_URL:-http://127.0.0.1:8765}", "https://api.kite.trade"
    )
    (tmp_path / "live.yaml").write_text(live.replace("name: kite-sim", "name: live-copy"), encoding="utf-8")
    real_root = drill("-p", str(tmp_path / "live.yaml"), "-o", "json")
    assert real_root.returncode == 2, real_root.stdout + real_root.stderr
    assert "is not the drill's simulator" in as_json(real_root)["error"]["what"]

    weekend = drill("-p", str(PAPER), "--at", "2026-11-28T10:00")
    assert weekend.returncode == 2 and "weekend" in weekend.stderr
    bad_spec = drill("-p", str(KITE_SIM), "--faults", "5xx=lots")
    assert bad_spec.returncode == 2 and "WHAT" in bad_spec.stderr
    for proc in (paper_faults, real_root, weekend, bad_spec):
        assert "Traceback" not in proc.stdout + proc.stderr
        assert OPERATOR_SECRET not in proc.stdout + proc.stderr
    assert drill_records(mci_home) == []
    assert list(sandboxes.iterdir()) == []
