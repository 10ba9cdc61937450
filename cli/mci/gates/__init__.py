"""Deployment gates: checklists run before a change or a go-live (`mci gate run|approve|list`).

A gate is a checklist document like the scanner's (rules/gates/*.yaml) whose
checks judge evidence — a command's exit code, a health endpoint, a coverage or
JUnit report, a metric, a recent drill, a named sign-off — with the same runner,
so a crash, a timeout or a skipped check never counts as a pass.

Modules load on demand: `resolve` finds and prepares a gate, `run` executes and
records it, `render` draws it; `jsonpath`, `reports` and `params` serve the checks
in mci.checks (command, web, reports, files, evidence).
"""
