"""Logs: people read stderr, machines read JSON lines; no record carries a secret.

    from mci.observability.logs import get
    get().info("order placed", order_id=oid, tag=tag)

- stderr: one human line per record at WARNING and above by default; `mci -v` INFO, `-vv` DEBUG,
  `-q` ERROR only. Never mixed with a command's output (stdout).
- `$MCI_HOME/logs/mci.jsonl`: every record at DEBUG and above as one JSON object per line, rotated
  by size (MCI_LOG_ROTATION, default "10 MB"; 5 old files kept), mode 0600.
- Every record is scrubbed before any sink sees it (mci.observability.redact.scrub): its message, its extra
  fields and its exception text (the traceback is formatted, scrubbed and stored as text).
- Records of the standard `logging` module under `mci.*` go the same way.

loguru is imported here only, on first use: `mci --help` never pays for it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

LEVELS = {-1: "ERROR", 0: "WARNING", 1: "INFO", 2: "DEBUG"}
_LOCK = threading.Lock()
ROTATION_ENV = "MCI_LOG_ROTATION"
RETENTION = 5
FILE_NAME = "mci.jsonl"

_verbosity = 0
_logger: Any = None
_configured_for: Any = None  # (verbosity, log path) the sinks were set up for
_stderr_handler: Any = None  # added on the first record stderr shows: each loguru sink costs ~6 ms to add
_SEVERITY = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def set_verbosity(verbose: int, quiet: bool) -> None:
    """Called by the main callback: -q beats -v."""
    global _verbosity
    _verbosity = -1 if quiet else min(verbose, 2)


def log_path(state_dir: Path | None = None) -> Path:
    if state_dir is None:
        from mci.paths import state_dir as default_state_dir

        state_dir = default_state_dir()
    return state_dir / "logs" / FILE_NAME


def _patch(record: dict[str, Any]) -> None:
    """Scrub the record in place, and prepare the JSON line and the exception text the sinks print."""
    from mci.observability.redact import scrub, scrub_value

    record["message"] = scrub(record["message"])
    extra = record["extra"]
    for key in list(extra):
        if not key.startswith("_"):
            extra[key] = scrub_value(extra[key])
    exc_text = ""
    if record["exception"] is not None:
        import traceback

        kind, value, tb = record["exception"]
        exc_text = scrub("".join(traceback.format_exception(kind, value, tb)))
        record["exception"] = None  # loguru must not format the unscrubbed original
    extra["_exc"] = ("\n" + exc_text.rstrip()) if exc_text else ""
    fields = {k: v for k, v in extra.items() if not k.startswith("_")}
    extra["_json"] = _json_line(
        record["time"],
        record["level"].name,
        record["message"],
        record["name"],
        record["function"],
        record["line"],
        record["process"].id,
        fields,
        exc_text,
    )


def _json_line(
    at: Any,
    level: str,
    message: str,
    logger: str | None,
    function: str,
    line: int,
    pid: int,
    fields: dict[str, Any],
    exc_text: str,
) -> str:
    """The record as the JSON log's line (its fields already scrubbed; the whole line is scrubbed again)."""
    from mci.observability.redact import scrub

    entry: dict[str, Any] = {
        "at": at.isoformat(),
        "level": level,
        "message": message,
        "logger": logger,
        "function": function,
        "line": line,
        "pid": pid,
    }
    if fields:
        entry["extra"] = fields
    if exc_text:
        entry["exception"] = exc_text
    return scrub(json.dumps(entry, ensure_ascii=False, default=str))


# The size at which loguru rotates the JSON log by default ("10 MB": loguru counts 1000s).
_DEFAULT_ROTATION_BYTES = 10_000_000


def _append_direct(level: str, message: str, fields: dict[str, Any], depth: int) -> bool:
    """Append a record only the JSON log shows straight to the file, without loguru (~15 ms to import and
    configure: a third of what `mci scan` spent beyond its checks, issue 19). The line is the one the
    loguru sink writes. False, and nothing written, when loguru must handle it: loguru already configured,
    stderr shows the level, a rotation other than a size, or a record that would make the file rotate."""
    if _logger is not None or level not in _SEVERITY or _SEVERITY[level] < _SEVERITY["DEBUG"]:
        return False
    if _SEVERITY[level] >= _SEVERITY[LEVELS[_verbosity]]:
        return False
    rotation = _rotation()
    limit = _DEFAULT_ROTATION_BYTES if rotation == "10 MB" else rotation if isinstance(rotation, int) else None
    if limit is None:
        return False
    from datetime import datetime

    from mci.observability.redact import scrub, scrub_value

    frame = sys._getframe(depth + 1)  # the caller, as loguru's opt(depth=...) names it
    clean = {k: scrub_value(v) for k, v in fields.items() if not k.startswith("_")}
    data = (
        _json_line(
            datetime.now().astimezone(),
            level,
            scrub(message),
            frame.f_globals.get("__name__"),
            frame.f_code.co_name,
            frame.f_lineno,
            os.getpid(),
            clean,
            "",
        )
        + "\n"
    ).encode("utf-8")
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except Exception:  # noqa: BLE001 — no state directory, or not writable: loguru's path says so on stderr
        return False
    try:
        # loguru rotates when the file's size plus the line's characters pass the limit; bytes >= characters.
        if os.fstat(fd).st_size + len(data) > limit:
            return False
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return True


def _stderr_format(record: dict[str, Any]) -> str:
    return "{time:HH:mm:ss} {level:<7} {message}{extra[_exc]}\n"


def _file_format(record: dict[str, Any]) -> str:
    return "{extra[_json]}\n"


def _rotation() -> Any:
    text = os.environ.get(ROTATION_ENV, "").strip()
    if not text:
        return "10 MB"
    return int(text) if text.isdigit() else text


def _opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _intercept_class() -> Any:
    import logging

    class _Intercept(logging.Handler):
        """Standard-library records (mci.watch...) into loguru, scrubbed like the rest."""

        def emit(self, record: logging.LogRecord) -> None:
            logger = get(record.levelno)
            try:
                level: Any = logger.level(record.levelname).name
            except ValueError:
                level = record.levelno
            logger.opt(exception=record.exc_info or None).log(level, record.getMessage())

    return _Intercept


def _stderr_sink(message: Any) -> None:
    sys.stderr.write(str(message))  # the stderr of the moment (a test runner swaps it)


def _import_loguru() -> Any:
    """loguru's logger, without the ~13 ms of asyncio it imports for coroutine sinks (mci has none),
    nor the ~7 ms per sink of the exception formatter's library scan.

    loguru._asyncio_loop only forwards two asyncio functions; a stand-in that imports asyncio when one is
    first called keeps `mci scan` within its start-up budget (bench/bench_startup.py).
    """
    if "loguru" not in sys.modules and "loguru._asyncio_loop" not in sys.modules:
        import types

        def get_running_loop() -> Any:
            import asyncio

            return asyncio.get_running_loop()

        def get_task_loop(task: Any) -> Any:
            return task.get_loop()

        stub = types.ModuleType("loguru._asyncio_loop")
        stub.get_running_loop, stub.get_task_loop = get_running_loop, get_task_loop  # type: ignore[attr-defined]
        sys.modules["loguru._asyncio_loop"] = stub
    try:
        from loguru import logger
    except ImportError:  # a loguru whose helper module has other names: drop the stand-in, pay the import
        for name in [m for m in sys.modules if m == "loguru" or m.startswith("loguru.")]:
            del sys.modules[name]
        from loguru import logger

    try:  # every add() builds an exception formatter that scans sysconfig (~7 ms); mci never lets it format
        from loguru._better_exceptions import ExceptionFormatter  # (_patch formats and scrubs exceptions itself)

        ExceptionFormatter._get_lib_dirs = staticmethod(lambda: [])  # type: ignore[method-assign]
    except Exception:  # noqa: BLE001 — another loguru version: only slower
        pass
    return logger


def _with_stderr(logger: Any) -> Any:
    """The stderr sink, added once per configuration (a scan that only logs to the file never adds it)."""
    global _stderr_handler
    with _LOCK:
        if _stderr_handler is None:
            _stderr_handler = logger.add(
                _stderr_sink,
                level=LEVELS[_verbosity],
                format=_stderr_format,
                colorize=False,
                backtrace=False,
                diagnose=False,
            )
    return logger


def _configure(path: Path | None) -> Any:
    global _logger, _configured_for, _stderr_handler
    import logging

    logger = _import_loguru()

    logger.remove()
    _stderr_handler = None
    logger.configure(patcher=_patch, extra={"_exc": "", "_json": "{}"})
    try:
        if path is None:
            raise RuntimeError("no state directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            str(path),
            level="DEBUG",
            format=_file_format,
            rotation=_rotation(),
            retention=RETENTION,
            encoding="utf-8",
            backtrace=False,
            diagnose=False,
            opener=_opener,
            enqueue=False,
        )
        if path.exists():
            os.chmod(path, 0o600)
    except Exception as exc:  # noqa: BLE001 — logging must never stop a command
        _with_stderr(logger).warning("no JSON log file: {}", exc)
    std = logging.getLogger("mci")
    if not any(type(h).__name__ == "_Intercept" for h in std.handlers):
        std.addHandler(_intercept_class()())
    std.setLevel(logging.DEBUG)
    _logger, _configured_for = logger, (_verbosity, path)
    return logger


def get(level: str | int | None = None) -> Any:
    """The configured loguru logger (configured on first use, again if -v/-q or the state directory changed),
    ready for a record at `level` (a name or a number; None: any level)."""
    try:
        path: Path | None = log_path()
    except Exception:  # noqa: BLE001 — no state directory: stderr only
        path = None
    logger = _logger if _logger is not None and _configured_for == (_verbosity, path) else _configure(path)
    severity = _SEVERITY.get(level) if isinstance(level, str) else level
    if _stderr_handler is None and (severity is None or severity >= _SEVERITY[LEVELS[_verbosity]]):
        _with_stderr(logger)
    return logger


def event(level: str, message: str, **fields: Any) -> None:
    """Log one record, and never raise: a log that fails must not fail the money path."""
    try:
        if not _append_direct(level, message, fields, depth=1):
            get(level).bind(**fields).opt(depth=1).log(level, message)
    except Exception:  # noqa: BLE001
        pass
