"""Talking to the engine: HTTP calls, a TCP port check, and short commands.

urllib, not requests: an engine on 127.0.0.1 needs nothing more, and the
`mci` start-up stays light. Proxies from the environment are ignored on
purpose: a health URL means this host's engine, never a proxy's answer.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BODY_LIMIT = 300  # characters of a response kept for a detail line


class CallFailed(Exception):
    """No HTTP answer at all (refused, timed out, reset)."""


def http_call(url: str, method: str = "GET", timeout: float = 2.0) -> tuple[int, str]:
    """(status, start of the body). Raises CallFailed when nothing answered."""
    data = b"" if method in ("POST", "PUT") else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, _text(response.read(BODY_LIMIT))
    except urllib.error.HTTPError as exc:
        body = exc.read(BODY_LIMIT) if exc.fp else b""
        return exc.code, _text(body)
    except urllib.error.URLError as exc:
        raise CallFailed(str(exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise CallFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace").strip()


def http_probe(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        status, body = http_call(url, "GET", timeout)
    except CallFailed as exc:
        return False, f"GET {url}: no answer ({exc})"
    return 200 <= status < 300, f"GET {url}: HTTP {status} {body}".rstrip()


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def port_answers(url: str, timeout: float = 0.5) -> bool:
    """Whether anything accepts TCP connections where `url` points."""
    host, port = host_port(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_command(argv: list[str], *, env: Mapping[str, str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """(exit status or None on timeout, the output's last line). Raises OSError when it cannot start."""
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, env=dict(env), cwd=cwd, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout:g}s"
    out = (done.stdout + done.stderr).decode("utf-8", errors="replace").strip().splitlines()
    return done.returncode, out[-1][:BODY_LIMIT] if out else ""
