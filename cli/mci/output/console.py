"""How mci writes to the terminal: NO_COLOR, TTY detection, and error rendering in text or JSON."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from mci.errors import MciError


def color_enabled(stream: TextIO = sys.stdout) -> bool:
    # https://no-color.org: any non-empty NO_COLOR disables color.
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def interactive(stream: TextIO = sys.stdout) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("CI")


def emit(text: str, stream: TextIO = sys.stdout) -> None:
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def emit_json(payload: Any, stream: TextIO = sys.stdout) -> None:
    emit(json.dumps(payload, indent=2, ensure_ascii=False, default=str), stream)


def render_error(error: MciError, output: str, stream: TextIO = sys.stderr) -> None:
    """Text errors go to stderr; JSON errors go to stdout so a pipe reading JSON always gets JSON."""
    if output == "json":
        emit_json({"status": "error", "error": error.as_dict()}, sys.stdout)
        return
    red, reset = ("\033[31m", "\033[0m") if color_enabled(stream) else ("", "")
    emit(f"{red}error{reset}: {error.render()}", stream)
