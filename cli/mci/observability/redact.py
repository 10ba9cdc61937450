"""Keep secrets out of text: logs, error messages, output.

    redact("token abc123 refused", ["abc123"])  ->  "token *** refused"

Call it on any text that may carry a secret before it leaves the process
(an exception message from a broker client, a log line, a rendered error).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from mci.errors import MciError

MASK = "***"


def _secrets(secrets: Iterable[str | None]) -> list[str]:
    # Longest first, so a secret that contains another is masked whole, not in pieces.
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of every non-empty secret replaced by ***."""
    for secret in _secrets(secrets):
        text = text.replace(secret, MASK)
    return text


def redact_error(error: MciError, secrets: Iterable[str | None]) -> MciError:
    """An MciError with the same code, location and details, and WHAT / WHY / HOW redacted."""
    masked = _secrets(secrets)
    if not masked:
        return error
    what, why, how = (redact(part, masked) for part in (error.what, error.why, error.how))
    details = {k: redact(v, masked) if isinstance(v, str) else v for k, v in error.details.items()}
    if (what, why, how, details) == (error.what, error.why, error.how, error.details):
        return error
    return MciError(what, why, how, error.code, error.location, details)


# -- process-wide scrubbing (logs, notifications, metrics) ---------------------------------------
#
# redact() above masks the secrets a caller names. scrub() masks, in any text, every secret this
# process has learnt (register()), the values of environment variables that look like secrets,
# and the shapes secrets take on the wire, so a log record or a notification never carries one
# even when the code that produced it did not know it held a secret.

import os as _os  # noqa: E402 — kept beside the code that needs it
import re as _re  # noqa: E402

_REGISTERED: set[str] = set()
_ENV_NAME = _re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|AUTH", _re.IGNORECASE)
_MIN_LEN = 6  # shorter values ("1", "yes") would mask ordinary words
_SHAPES = (
    # access_token=..., "api_secret": "...", request_token: ...
    (
        _re.compile(
            r"""(?i)\b((?:access|request|refresh|public|enc)_?token|api_?secret|secret|password|checksum)"""
            r"""(["']?\s*[:=]\s*["']?)([^\s"'&,;}\]]+)"""
        ),
        r"\1\2" + MASK,
    ),
    # Authorization: token api_key:access_token / Bearer ... (header or repr of a headers dict)
    (_re.compile(r"""(?i)\b(authorization)(["']?\s*[:=]\s*["']?)([^"'\r\n}]+)"""), r"\1\2" + MASK),
    (_re.compile(r"""(?i)\btoken\s+[\w.\-]+:[\w.\-]+"""), "token " + MASK),
    (_re.compile(r"""(?i)\bbearer\s+[\w.\-~+/=]+"""), "Bearer " + MASK),
)


def register(*secrets: str | None) -> None:
    """Remember secrets this process holds (an access token, an api secret): scrub() masks them from now on."""
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 4:
            _REGISTERED.add(secret)


def env_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    env = _os.environ if env is None else env
    return [v for k, v in env.items() if _ENV_NAME.search(k) and v and len(v) >= _MIN_LEN]


def scrub(text: str) -> str:
    """`text` without any secret mci knows of, nor anything shaped like a credential."""
    if not text:
        return text
    text = redact(text, [*_REGISTERED, *env_secrets()])
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def scrub_value(value: Any) -> Any:  # any JSON-like value
    """scrub() applied to every string inside dicts, lists and tuples (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value


# -- exception messages shown in a result -------------------------------------------------------

# Access tokens and keys are long unbroken runs; no useful message word is.
_LONG_RUN = _re.compile(r"[A-Za-z0-9_\-]{24,}")
MESSAGE_MAX = 300


def redact_message(text: str, secrets: Iterable[str | None] = ()) -> str:
    """An exception's message fit for a result (a crashed check or step): the named secrets and every
    credential-shaped run of 24 or more characters masked, at most MESSAGE_MAX characters."""
    text = _LONG_RUN.sub(MASK, redact(text, secrets))
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 3] + "..."
