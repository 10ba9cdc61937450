"""Start-up cost of the CLI as ratios to `python -c pass`, measured in this same run.

Targets (issue: spine; issue 19): `mci --help` <= 6x, `mci validate profiles/paper.yaml` <= 10x,
`mci scan` on paper <= 12x, a Kite-profile command <= 20x. Heavy imports (jsonschema, kiteconnect, rich, tenacity)
must stay off these paths. Each command is run REPEAT times after one warm-up run
(the warm-up fills the OS page cache, .pyc files and mci's caches in <state_dir>/cache: schema
validation, the resolved profile, the parsed calendar);
the median wall time is compared with the median of `python -c pass` runs alternating
with the command's. The cold validate (no cache at all) is shown too. `uptime` is printed beside
the figures: on a shared machine judge by the ratios, which the alternation keeps comparable.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The console script, as operators and cron run it (`python -m mci` adds runpy's cost).
_SCRIPT = Path(PY).parent / "mci"
MCI = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "mci"]
REPEAT = int(os.environ.get("BENCH_REPEAT", "21"))
# A Monday in session hours, so the scan takes its full passing path.
AT = "2026-11-23T10:30:00+05:30"


def paired(argv: list[str], env: dict[str, str], repeat: int = REPEAT) -> tuple[list[float], list[float]]:
    """Wall times of `python -c pass` and of `argv`, run alternately after one warm-up of each.

    Alternating makes a change of machine load during the run hit the baseline and
    the command alike: timed apart, a quiet baseline against a busy minute (or the
    reverse) moves a ratio by a whole unit on a shared machine.
    """
    base_argv = [PY, "-c", "pass"]
    for warm in (base_argv, argv):
        subprocess.run(warm, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, samples = [], []
    for _ in range(repeat):
        for target, out in ((base_argv, base), (argv, samples)):
            start = time.perf_counter()
            subprocess.run(target, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out.append(time.perf_counter() - start)
    return base, samples


def timed(argv: list[str], env: dict[str, str], repeat: int = REPEAT, warm: bool = True) -> float:
    if warm:
        subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    home = tempfile.mkdtemp(prefix="mci-bench-")
    env = {
        **os.environ,
        "MCI_HOME": home,
        "NO_COLOR": "1",
        "KITE_API_KEY": "bench-key",
        "KITE_API_SECRET": "bench-secret",
    }
    env.pop("MCI_AT", None)
    # An installed mci has .pyc files (pip compiles them); a shell that sets
    # PYTHONDONTWRITEBYTECODE would make every run recompile the sources instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        rows = [
            ("mci --help", MCI + ["--help"], 6.0),
            ("mci validate profiles/paper.yaml", MCI + ["validate", "profiles/paper.yaml"], 10.0),
            ("mci scan (paper)", MCI + ["scan", "--at", AT], 12.0),
            # A Kite profile without a token: the KiteBroker is built (kiteconnect's REST client loaded) and the
            # scan fails on the token, with no network. The WebSocket ticker (twisted) must stay unloaded.
            ("mci scan (kite profile, no token)", MCI + ["scan", "-p", "profiles/kite-sim.yaml", "--at", AT], 20.0),
        ]
        measured, all_base = [], []
        for name, argv, target in rows:
            row_base, samples = paired(argv, env)
            all_base += row_base
            measured.append((name, statistics.median(samples), statistics.median(row_base), target))
        base = statistics.median(all_base)
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"load: {load}  ({REPEAT} alternating runs per command, medians)")
        print(
            f"baseline python -c pass: {base * 1000:.1f} ms (median of {len(all_base)}, alternating with the commands)"
        )
        misses = 0
        for name, t, row_base, target in measured:
            ratio = t / row_base  # against the baseline sampled alongside this command
            ok = ratio <= target
            misses += not ok
            print(f"{name:40s} {t * 1000:7.1f} ms  {ratio:5.1f}x  target <= {target:.0f}x  {'PASS' if ok else 'MISS'}")
        # The same scan through typer (what `mci scan` ran before mci.commands.fast): the fast path's gain, this run.
        typer_base, typer_scan = paired(
            [PY, "-c", "import sys; from mci.app import run; sys.exit(run(sys.argv[1:]))", "scan", "--at", AT], env
        )
        t = statistics.median(typer_scan)
        print(
            f"{'mci scan (paper) through typer':40s} {t * 1000:7.1f} ms  {t / statistics.median(typer_base):5.1f}x  "
            "(informational: without the typer-free dispatch)"
        )
        cold_env = dict(env)
        cold = []
        for _ in range(5):
            shutil.rmtree(Path(home) / "cache", ignore_errors=True)
            cold.append(timed(MCI + ["validate", "profiles/paper.yaml"], cold_env, repeat=1, warm=False))
        print(
            f"{'mci validate (cold schema cache)':40s} {statistics.median(cold) * 1000:7.1f} ms  "
            f"{statistics.median(cold) / base:5.1f}x  (informational)"
        )
        return 1 if misses else 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
