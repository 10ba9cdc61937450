"""The Kite session exchange: the login URL, the request token from its redirect, and the request token traded for
an access token (kiteconnect's generate_session), every failure as WHAT / WHY / HOW with the secrets masked.

`mci token login` (mci.commands.token) reads the operator's input, stores the token and renders; the drill opens
the same login URL against the simulator. Kite's flow: https://kite.trade/docs/connect/v3/user/#login-flow
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from mci.clock import IST, zone
from mci.errors import ExitCode, MciError, UnavailableError, UsageError

if TYPE_CHECKING:
    from mci.config.model import Profile

KITE_LOGIN_URL = "https://kite.zerodha.com/connect/login"
LOGIN_TIME_TRUSTED_WITHIN = timedelta(minutes=5)
_REQUEST_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{6,128}")

# request_token -> Kite's session response (access_token, user_id, login_time ...)
GenerateSession = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class Session:
    """What a successful exchange gives the token store. Never printed: its access token is a secret."""

    access_token: str
    user_id: str | None
    issued_at: datetime

    def __repr__(self) -> str:
        return f"Session(user_id={self.user_id!r}, issued_at={self.issued_at.isoformat()!r})"


def login_url(profile: "Profile") -> str:
    """Kite's login page (or the profile's broker.login_url, e.g. the simulator) with v=3 and the api_key."""
    base = profile.broker.login_url or KITE_LOGIN_URL
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("v", "api_key")]
    query = [("v", "3"), ("api_key", profile.broker.api_key or "")] + query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def parse_request_token(text: str) -> str:
    """The request token from the URL Kite redirected to, or the bare token."""
    raw = text.strip()
    if not raw:
        raise UsageError(
            "no request token given",
            "the input was empty",
            "paste the full URL the browser was redirected to after login, or its request_token",
        )
    if "request_token=" in raw or "://" in raw or raw.startswith("?"):
        query = parse_qs(urlsplit(raw).query if "://" in raw else raw.split("?", 1)[-1])
        status = (query.get("status") or [""])[0]
        if status and status != "success":
            raise MciError(
                f"the Kite login did not succeed (status={status})",
                "Kite redirected without a usable request token",
                "open the login URL again and complete the login",
                ExitCode.FAILED,
            )
        tokens = query.get("request_token") or []
        if not tokens:
            raise UsageError(
                "the URL has no request_token",
                "Kite puts the request token in the redirect URL's query",
                "paste the whole URL from the browser's address bar after logging in",
            )
        raw = tokens[0].strip()
    if not _REQUEST_TOKEN_RE.fullmatch(raw):
        raise UsageError(
            "that does not look like a Kite request token",
            "a request token is 6-128 letters and digits",
            "paste the full redirect URL, or the value of its request_token parameter",
        )
    return raw


def issue_time(login_time: Any, now: datetime) -> datetime:
    """When the session was issued: Kite's login_time when it is recent, else now.

    Kite's login_time is IST without an offset. It wins when it is at most a few
    minutes old because it is the broker's own record (a login at 05:59:58 that we
    handle at 06:00:01 must die at 06:00 today, not tomorrow); an older or future
    one (a drill under --at, a skewed clock) is ignored.
    """
    moment: datetime | None = None
    if isinstance(login_time, datetime):
        moment = login_time
    elif isinstance(login_time, str) and login_time.strip():
        try:
            moment = datetime.fromisoformat(login_time.strip())
        except ValueError:
            moment = None
    if moment is None:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(IST))
    return moment if timedelta(0) <= now - moment <= LOGIN_TIME_TRUSTED_WITHIN else now


def kite_generate_session(profile: "Profile") -> GenerateSession:
    """The production exchange: kiteconnect's generate_session against the profile's API root."""
    broker = profile.broker
    if broker.kind != "kite":
        raise UsageError(
            f"`mci token login` is for Kite profiles; {profile.name} uses the {broker.kind} broker",
            "the paper broker issues its own session and needs no access token",
            "pick a kite profile with --profile (e.g. profiles/kite-sim.yaml)",
        )
    if not broker.api_key or not broker.api_secret:
        raise UsageError(
            f"profile {profile.name} has no Kite api_key / api_secret",
            "exchanging a request token for an access token needs both",
            "set broker.api_key: ${env:KITE_API_KEY} and broker.api_secret: ${env:KITE_API_SECRET}, and export them",
        )

    def generate(request_token: str) -> Mapping[str, Any]:
        from mci.brokers.kite_client import kite_connect  # heavy (requests, dateutil): only on this path

        KiteConnect = kite_connect()
        kite = KiteConnect(broker.api_key, root=broker.root, timeout=broker.timeout.total_seconds())
        try:
            session: Mapping[str, Any] = kite.generate_session(request_token, api_secret=broker.api_secret)
            return session
        finally:
            kite.reqsession.close()

    return generate


def session_error(exc: Exception, secrets: list[str | None]) -> MciError:
    """A Kite client failure as WHAT / WHY / HOW, with every secret masked out of its text."""
    from mci.brokers.errors import is_kite_error, unreachable
    from mci.observability.redact import redact, redact_error

    if isinstance(exc, MciError):
        return redact_error(exc, secrets)
    message = redact(str(exc), secrets) or type(exc).__name__
    name = type(exc).__name__
    if unreachable(exc):  # the network, a 429 or a 5xx: what a breaker counts against the broker
        return UnavailableError(
            "cannot reach Kite to create the session",
            f"{name}: {message}",
            "check the network and the broker root (broker.root), then log in again",
        )
    if is_kite_error(exc):
        return MciError(
            "Kite refused the request token",
            f"{name}: {message}",
            "a request token is single-use and lives a few minutes: open the login URL again and paste the new "
            "redirect at once; check api_key and api_secret belong to the same Kite app",
            ExitCode.FAILED,
        )
    return MciError(
        "creating the Kite session failed",
        f"{name}: {message}",
        "log in again; if it repeats, report it with this message",
        ExitCode.FAILED,
    )


def exchange(generate: GenerateSession, request_token: str, secrets: list[str | None]) -> Mapping[str, Any]:
    """Kite's session response for a request token; any failure is an MciError with the secrets masked."""
    try:
        return dict(generate(request_token))
    except Exception as exc:  # noqa: BLE001 — every failure leaves redacted, as WHAT / WHY / HOW
        raise session_error(exc, secrets) from None


def session_of(response: Mapping[str, Any], now: datetime) -> Session:
    """The access token, user and issue time of a session response; one without an access token is refused."""
    access_token = response.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise MciError(
            "Kite answered without an access token",
            "the session response has no access_token",
            "log in again; if it repeats, check the broker root points at Kite",
            ExitCode.FAILED,
        )
    return Session(access_token, response.get("user_id"), issue_time(response.get("login_time"), now))
