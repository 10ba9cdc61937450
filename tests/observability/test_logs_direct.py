"""A record only the JSON log shows is appended without loguru (issue 19): the same line loguru writes,
scrubbed, 0600; loguru still takes every record it must (stderr, rotation, a configured logger)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from testing.observability import MONDAY, ROOT

# Two records from the same function: the first appended directly, the second through loguru (-v shows INFO on
# stderr, so loguru must take it). Everything but the instant and the line number must be equal.
SCRIPT = """
import sys
from mci.observability import logs
from mci.observability.redact import register
register("AT-direct-0123456789abcdef")

def caller():
    logs.event("INFO", "placed with AT-direct-0123456789abcdef", order={"tag": "t1", "token": "AT-direct-0123456789abcdef"}, n=3, _hidden=1)
    print("loguru" in sys.modules, flush=True)
    logs.set_verbosity(1, False)
    logs.event("INFO", "placed with AT-direct-0123456789abcdef", order={"tag": "t1", "token": "AT-direct-0123456789abcdef"}, n=3, _hidden=1)
    print("loguru" in sys.modules, flush=True)

caller()
"""


def _run(home, code, env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    full.update({"MCI_HOME": str(home), "NO_COLOR": "1", **(env or {})})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, cwd=ROOT, timeout=60)


def test_the_direct_line_is_the_line_loguru_writes(tmp_path):
    done = _run(tmp_path, SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]  # loguru loaded only for the record stderr shows
    path = tmp_path / "logs" / "mci.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    direct, through = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert "AT-direct" not in path.read_text(encoding="utf-8")
    assert direct["line"] != through["line"]
    assert {k: v for k, v in direct.items() if k not in ("at", "line")} == {
        k: v for k, v in through.items() if k not in ("at", "line")
    }
    assert direct["logger"] == "__main__" and direct["function"] == "caller"
    assert direct["extra"] == {"order": {"tag": "t1", "token": "***"}, "n": 3}
    assert list(direct) == list(through)  # the same keys in the same order
    assert direct["at"][:19] <= through["at"][:19] and direct["at"][-6:] == through["at"][-6:]


def test_a_record_that_would_rotate_the_file_goes_through_loguru(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "mci.jsonl").write_text("x" * 590 + "\n", encoding="utf-8")
    done = _run(
        tmp_path,
        "import sys\nfrom mci.observability import logs\nlogs.event('INFO', 'one record')\nprint('loguru' in sys.modules)",
        env={"MCI_LOG_ROTATION": "600"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]
    files = sorted(p.name for p in logs.iterdir())
    assert len(files) == 2, files  # loguru rotated: the old file renamed, the record in a new one
    assert json.loads((logs / "mci.jsonl").read_text(encoding="utf-8"))["message"] == "one record"


def test_a_scan_writes_its_record_without_loading_loguru(run_mci, mci_home):
    done = run_mci("scan", "--at", MONDAY)
    assert done.returncode == 0, done.stderr
    [record] = [json.loads(line) for line in (mci_home / "logs" / "mci.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["message"].startswith("scan ") and record["logger"] == "mci.commands.scan"
    code = (
        "import sys\nfrom mci.__main__ import main\nsys.argv = ['mci', 'scan', '--at', %r]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nsys.stderr.write(str('loguru' in sys.modules))" % MONDAY
    )
    again = _run(mci_home, code)
    assert again.stderr.endswith("False"), again.stderr
