"""Sequence steps for people: one line per step as it finishes, then the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mci.output.text import _ANSI, MARKS, _paint
from mci.results import Status

if TYPE_CHECKING:
    from mci.results import StepResult


def step_line(step: "StepResult", *, color: bool) -> str:
    mark = _paint(MARKS[step.status], _ANSI[step.status], color)
    took = ""
    if step.started_at and step.finished_at and not step.resumed:
        took = f" ({(step.finished_at - step.started_at).total_seconds():.1f}s)"
    resumed = " [done before the crash]" if step.resumed else ""
    line = f"{mark} {step.title:<40} {step.summary}{took}{resumed}"
    if step.status is Status.FAILED and step.error is not None:
        line += "\n" + "\n".join("    " + row for row in step.error.render().splitlines())
    return line


def plan_text(plan: dict[str, Any]) -> str:
    lines = [
        f"plan: {plan['purpose']} of profile {plan['profile']} — sequence {plan['sequence']}"
        + (f" ({plan['source']})" if plan.get("source") else "")
    ]
    start = plan.get("engine", {}).get("start")
    if start:
        lines.append(
            f"engine: start {start}; health {plan['engine'].get('health')}; token via {plan['engine'].get('token_via')}"
        )
    for n, s in enumerate(plan["steps"], 1):
        extra = f", retry ×{s['attempts']}" if s["attempts"] > 1 else ""
        extra += f", breaker {s['breaker']}" if s["breaker"] else ""
        params = f" {s['params']}" if s["params"] else ""
        lines.append(
            f"  {n}. {s['title']} [{s['kind']}{params}] timeout {s['timeout']}{extra}, on error {s['on_error']}"
        )
    lines.append("dry run: nothing was done")
    return "\n".join(lines)
