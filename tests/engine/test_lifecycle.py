"""The lifecycle machine: legal moves persist with their audit record, illegal ones are refused (exit 4)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mci.engine.lifecycle import STATES, TRANSITIONS, Lifecycle, allowed_triggers, mermaid
from mci.errors import ExitCode, RefusedError
from mci.store.audit import verify_chain
from mci.store.state import StateStore

NOW = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)


@pytest.fixture
def life(tmp_path):
    return Lifecycle(StateStore.open(tmp_path), "paper")


def test_the_whole_day_in_order(life):
    for trigger, dest in [
        ("token_ok", "ready"),
        ("scan_passed", "armed"),
        ("ignite", "igniting"),
        ("engine_healthy", "running"),
        ("shutdown", "stopping"),
        ("stopped", "stopped"),
        ("token_ok", "ready"),
    ]:
        move = life.fire(trigger, NOW)
        assert move.dest == dest
        assert life.current().state == dest
    records = list(life.store.audit_records())
    assert [r.data["to"] for r in records] == ["ready", "armed", "igniting", "running", "stopping", "stopped", "ready"]
    assert verify_chain(records) is None


def test_illegal_transition_is_refused_with_what_why_how_and_exit_4(life):
    with pytest.raises(RefusedError) as info:
        life.fire("ignite", NOW)  # idle: never scanned
    err = info.value
    assert err.code is ExitCode.REFUSED == 4
    assert "idle" in err.what and "mci scan" in err.how
    assert life.current().state == "idle"
    assert list(life.store.audit_records()) == []  # a refusal changes nothing


def test_halted_is_latched_until_reset(life):
    life.fire("token_ok", NOW)
    life.fire("halt", NOW, "kill switch")
    for trigger in ["token_ok", "scan_passed", "scan_failed", "ignite", "shutdown"]:
        with pytest.raises(RefusedError) as info:
            life.fire(trigger, NOW)
        assert "mci reset --confirm" in info.value.how
    assert life.fire("reset", NOW).dest == "idle"


def test_every_state_can_be_halted_except_halted(tmp_path):
    for i, state in enumerate(STATES):
        store = StateStore.open(tmp_path)
        name = f"p{i}"
        store.set_lifecycle(name, state, "", NOW)
        lc = Lifecycle(store, name)
        if state == "halted":
            with pytest.raises(RefusedError):
                lc.fire("halt", NOW)
        else:
            assert lc.fire("halt", NOW).dest == "halted"


def test_state_survives_a_new_process(tmp_path):
    Lifecycle(StateStore.open(tmp_path), "paper").fire("scan_failed", NOW)
    assert Lifecycle(StateStore.open(tmp_path), "paper").current().state == "blocked"


def test_mermaid_lists_every_transition():
    text = mermaid()
    assert text.startswith("stateDiagram-v2")
    for t in TRANSITIONS:
        assert f": {t['trigger']}" in text
    assert allowed_triggers("halted") == ["reset"]


def test_reducing_sits_between_running_and_the_way_out(tmp_path):
    store = StateStore.open(tmp_path)
    store.set_lifecycle("paper", "running", "", NOW)
    life = Lifecycle(store, "paper")
    assert life.fire("pause", NOW).dest == "reducing"
    with pytest.raises(RefusedError) as info:
        life.fire("pause", NOW)  # the machine itself: mci pause handles a rerun before firing
    assert "mci resume" in info.value.how
    assert life.fire("resume", NOW).dest == "running"
    life.fire("pause", NOW)
    assert life.fire("shutdown", NOW).dest == "stopping"
    store.set_lifecycle("paper", "reducing", "", NOW)
    assert life.fire("halt", NOW).dest == "halted"
    for state in ("idle", "armed", "igniting", "stopping", "stopped"):
        store.set_lifecycle("paper", state, "", NOW)
        with pytest.raises(RefusedError):
            life.fire("pause", NOW)
    assert "running --> reducing: pause" in mermaid() and "reducing --> running: resume" in mermaid()
