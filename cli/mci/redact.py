"""Keep secrets out of text: logs, error messages, output.

    redact("token abc123 refused", ["abc123"])  ->  "token *** refused"

Call it on any text that may carry a secret before it leaves the process
(an exception message from a broker client, a log line, a rendered error).
"""

from __future__ import annotations

from typing import Iterable

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
