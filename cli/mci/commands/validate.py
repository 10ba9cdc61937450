from __future__ import annotations

from pathlib import Path

from mci.errors import ExitCode
from mci.output.console import color_enabled, emit, emit_json


def run(paths: list[Path], output: str, cache_dir: Path | None, placeholder_env: bool = False) -> int:
    from mci.validation import validate_paths

    env = None
    if placeholder_env:
        from mci.config.placeholder_env import PlaceholderEnv

        env = PlaceholderEnv()
    report = validate_paths(paths, env=env, cache_dir=cache_dir)
    ok = not report.errors
    if output == "json":
        emit_json(
            {
                "status": "valid" if ok else "invalid",
                "documents": [{"path": str(p), "kind": kind} for p, kind in report.documents],
                "errors": [e.as_dict() for e in report.errors],
                "warnings": [w.as_dict() for w in report.warnings],
            }
        )
    else:
        for error in report.errors:
            emit(error.render())
        for warning in report.warnings:
            emit("warning: " + warning.render())
        green, red, reset = ("\033[32m", "\033[31m", "\033[0m") if color_enabled() else ("", "", "")
        docs = len(report.documents)
        if ok:
            emit(f"{green}valid{reset}: {docs} document(s): " + ", ".join(str(p) for p, _ in report.documents))
        else:
            emit(f"{red}invalid{reset}: {len(report.errors)} error(s) in {docs} document(s)")
    return ExitCode.OK if ok else ExitCode.INVALID
