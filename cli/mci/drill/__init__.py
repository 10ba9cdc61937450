"""`mci drill` as a library: rehearse a whole trading day in a throwaway sandbox and judge every phase.

    from mci.drill import DrillOptions, run_drill
    report = run_drill(DrillOptions(profile=Path("profiles/kite-sim.yaml"), faults="5xx=0.2,seed=3"))
    report.passed, [(p.name, p.ok, p.seconds) for p in report.phases]

Modules: `prepare` (what may be drilled, and when), `sandbox` (temp state dir,
env, ports, the final sweep), `venue` (the paper file or a Kite simulator),
`proc` (mci commands as processes, bounded), `day` (what phases share),
`morning` / `incident` / `closing` (the phases), `breach` (sizing the forced
loss), `model` (the report and the record's contract), `record` (the audit
record the `drill` gate reads), `run` (the order, and the teardown).
"""

from mci.drill.model import PHASES, DrillReport, PhaseResult
from mci.drill.run import DrillOptions, run_drill

__all__ = ["PHASES", "DrillOptions", "DrillReport", "PhaseResult", "run_drill"]
