"""`mci gate list|run|approve` as a user meets them: exit codes, WHAT / WHY / HOW, the audit trail."""

from __future__ import annotations

import json
import sqlite3

from testing.gates import write_profile


def test_list_shows_the_shipped_gates_and_the_profiles(run_mci, tmp_path):
    proc = run_mci("gate", "list")
    assert proc.returncode == 0, proc.stderr
    for name, count in (("ci-quality", 3), ("go-no-go", 12), ("safety-audit", 5), ("smoke", 1)):
        assert any(line.split()[:2] == [name, str(count)] for line in proc.stdout.splitlines()), proc.stdout
    profile = write_profile(tmp_path, "gates: {go-live: {use: gates/go-no-go}}")
    proc = run_mci("gate", "list", "-p", str(profile), "-o", "json")
    gates = {(g["origin"], g["name"]): g for g in json.loads(proc.stdout)["gates"]}
    assert gates[("profile", "go-live")]["checks"] == 12 and "gates/go-no-go" in gates[("profile", "go-live")]["source"]
    assert gates[("rules", "smoke")]["checks"] == 1


def test_an_unknown_gate_is_a_usage_error_with_the_choices(run_mci):
    proc = run_mci("gate", "run", "go-live-now")
    assert proc.returncode == 2
    assert "WHAT: no gate named 'go-live-now'" in proc.stderr and "ci-quality, go-no-go" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    proc = run_mci("gate", "run", "go-live-now", "-o", "json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["how"].startswith("run `mci gate list`")
    assert run_mci("gate", "run", "smoke", "-o", "yaml").returncode == 2


def test_a_gate_file_and_its_errors(run_mci, tmp_path):
    gate = tmp_path / "mine.yaml"
    gate.write_text(
        "version: 1\nkind: checklist\nname: mine\nchecks:\n"
        "  - {id: hello, kind: command, params: {argv: ['{python}', -c, 'print(1)']}}\n"
    )
    proc = run_mci("gate", "run", str(gate), "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["gate"] == "mine"
    gate.write_text(
        "version: 1\nkind: checklist\nname: mine\nchecks:\n"
        "  - {id: hello, kind: command, timeout: 2s, params: {argv: [x], timeout: 5s}}\n"
        "  - {id: cov, kind: coverage, params: {min: 150%}}\n"
    )
    proc = run_mci("gate", "run", str(gate))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mine.yaml" in proc.stderr


def test_approve_refuses_what_is_not_an_approval_check(run_mci):
    proc = run_mci("gate", "approve", "go-no-go", "coverage", "--by", "A. Sharma", "--note", "looks fine")
    assert proc.returncode == 2
    assert "coverage is a coverage check" in proc.stderr and "cto_signoff" in proc.stderr
    proc = run_mci("gate", "approve", "go-no-go", "nope", "--by", "A. Sharma", "--note", "x")
    assert proc.returncode == 2 and "has no check 'nope'" in proc.stderr
    proc = run_mci("gate", "approve", "go-no-go", "cto_signoff", "--by", " ", "--note", "x")
    assert proc.returncode == 2 and "needs --by and --note" in proc.stderr
    proc = run_mci("gate", "approve", "go-no-go", "cto_signoff", "--by", "A", "--note", "x", "--expires", "soon")
    assert proc.returncode == 2 and "not a duration" in proc.stderr
    assert run_mci("gate", "approve", "go-no-go", "cto_signoff", "--by", "A").returncode == 2  # no --note


def test_approve_writes_the_file_and_the_audit_then_run_sees_it(run_mci, tmp_path, mci_home):
    gate = tmp_path / "g.yaml"
    gate.write_text("version: 1\nkind: checklist\nname: g\nchecks:\n  - {id: ok, kind: approval}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    proc = run_mci(
        "gate",
        "approve",
        str(gate),
        "ok",
        "--by",
        "A. Sharma",
        "--note",
        "tested on staging",
        "--file",
        ".mci/approvals.jsonl",
        "-o",
        "json",
        cwd=repo,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["subject"] == "gate:g/ok" and out["by"] == "A. Sharma" and out["file"] == ".mci/approvals.jsonl"
    line = json.loads((repo / ".mci" / "approvals.jsonl").read_text())
    assert line["note"] == "tested on staging" and line["expires_at"] is None
    db = sqlite3.connect(mci_home / "state.db")
    kind, data = db.execute("SELECT kind, data FROM audit WHERE seq = ?", (out["audit_seq"],)).fetchone()
    assert kind == "approval" and json.loads(data)["subject"] == "gate:g/ok"

    # The committed file is read from the folder the gate runs in; elsewhere it is not there.
    assert run_mci("gate", "run", str(gate), cwd=repo).returncode == 0
    assert run_mci("gate", "run", str(gate), cwd=tmp_path).returncode == 1
    proc = run_mci("gate", "run", str(gate), "--approvals", str(repo / ".mci" / "approvals.jsonl"), cwd=tmp_path)
    assert proc.returncode == 0 and "signed off by A. Sharma" in proc.stdout

    proc = run_mci(
        "gate",
        "approve",
        str(gate),
        "ok",
        "--by",
        "A. Sharma",
        "--note",
        "found a gap",
        "--revoke",
        "--file",
        ".mci/approvals.jsonl",
        cwd=repo,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("revoked: gate:g/ok")
    proc = run_mci("gate", "run", str(gate), cwd=repo)
    assert proc.returncode == 1 and "revoked by A. Sharma" in proc.stdout
    kinds = [row[0] for row in db.execute("SELECT kind FROM audit ORDER BY seq")]
    assert kinds == ["approval", "gate", "gate", "gate", "approval", "gate"]


def test_text_output_names_the_gate_and_says_how_to_approve(run_mci, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    profile = write_profile(
        tmp_path,
        f"""
        gates:
          go-no-go:
            use: gates/go-no-go
            override: {{health: {{url: "http://127.0.0.1:{port}/health", within: 300ms, interval: 100ms}}}}
    """,
    )
    proc = run_mci("gate", "run", "go-no-go", "-p", str(profile), cwd=tmp_path)
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith("gate go-no-go · profile paper · ")
    assert 'HOW:  mci gate approve go-no-go cto_signoff --by "NAME" --note "WHY"' in proc.stdout
    assert "Connection refused" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("12 checks: 0 passed, 0 warned, 12 failed — GATE FAILED")
