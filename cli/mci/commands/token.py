"""`mci token login | set | status | clear`: the Kite access token (phase 0, CR-004).

The core is mci.store.token_store (encrypted store) and mci.expiry (06:00 IST rule);
this module reads input, calls it and renders the result.

Exit codes of `mci token status` (a contract for cron):
  0  valid: usable and not within the warning window (30 min before 06:00 IST)
  1  expiring (STILL USABLE, dies within 30 min), expired or missing: the token check fails
  2  the token store is unusable as configured: bad key, wrong key, tampered file,
     a token or key file other users can read (each with WHAT / WHY / HOW)
  3  the state directory or a file could not be read or written
`login`, `set`, `clear`: 0 done; 1 Kite refused the request token; 2 bad input or
configuration (incl. memory-only mode, where MCI_ACCESS_TOKEN is set and nothing
is stored); 3 Kite unreachable.

The token itself is never printed, logged or audited; errors that pass through
a Kite client are redacted (mci.observability.redact) before they are shown.

`register(app)` adds the `token` and `breaker` sub-commands to the typer app.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TextIO
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from mci.clock import IST, Clock, zone
from mci.errors import ExitCode, MciError, UnavailableError, UsageError
from mci.output import console

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.store.token_store import TokenStatus, TokenStore

KITE_LOGIN_URL = "https://kite.zerodha.com/connect/login"
LOGIN_TIME_TRUSTED_WITHIN = timedelta(minutes=5)
_REQUEST_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{6,128}")
_ACCESS_TOKEN_RE = re.compile(r"[!-~]{6,512}")  # printable ASCII, no spaces

GenerateSession = Callable[[str], Mapping[str, Any]]


def _emit(text: str, stream: TextIO | None = None) -> None:
    console.emit(text, stream or sys.stdout)  # looked up per call: redirected stdout is honoured


def _emit_json(payload: Any) -> None:
    console.emit_json(payload, sys.stdout)


# -- pure helpers -------------------------------------------------------------------------------


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
        raise UsageError("no request token given", "the input was empty",
                         "paste the full URL the browser was redirected to after login, or its request_token")
    if "request_token=" in raw or "://" in raw or raw.startswith("?"):
        query = parse_qs(urlsplit(raw).query if "://" in raw else raw.split("?", 1)[-1])
        status = (query.get("status") or [""])[0]
        if status and status != "success":
            raise MciError(f"the Kite login did not succeed (status={status})",
                           "Kite redirected without a usable request token",
                           "open the login URL again and complete the login", ExitCode.FAILED)
        tokens = query.get("request_token") or []
        if not tokens:
            raise UsageError("the URL has no request_token", "Kite puts the request token in the redirect URL's query",
                             "paste the whole URL from the browser's address bar after logging in")
        raw = tokens[0].strip()
    if not _REQUEST_TOKEN_RE.fullmatch(raw):
        raise UsageError("that does not look like a Kite request token",
                         "a request token is 6-128 letters and digits",
                         "paste the full redirect URL, or the value of its request_token parameter")
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


def countdown(delta: timedelta) -> str:
    seconds = int(abs(delta).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def local(moment: datetime, tz: str = IST) -> str:
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


# -- Kite ---------------------------------------------------------------------------------------


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
            return kite.generate_session(request_token, api_secret=broker.api_secret)
        finally:
            kite.reqsession.close()

    return generate


def _session_error(exc: Exception, secrets: list[str | None]) -> MciError:
    """A Kite client failure as WHAT / WHY / HOW, with every secret masked out of its text."""
    from mci.observability.redact import redact, redact_error
    from mci.brokers.errors import counts_against_broker

    if isinstance(exc, MciError):
        return redact_error(exc, secrets)
    message = redact(str(exc), secrets) or type(exc).__name__
    name = type(exc).__name__
    if counts_against_broker(exc):
        return UnavailableError("cannot reach Kite to create the session", f"{name}: {message}",
                                "check the network and the broker root (broker.root), then log in again")
    if type(exc).__module__.startswith("kiteconnect"):
        return MciError(
            "Kite refused the request token",
            f"{name}: {message}",
            "a request token is single-use and lives a few minutes: open the login URL again and paste the new "
            "redirect at once; check api_key and api_secret belong to the same Kite app",
            ExitCode.FAILED,
        )
    return MciError("creating the Kite session failed", f"{name}: {message}",
                    "log in again; if it repeats, report it with this message", ExitCode.FAILED)


# -- commands -----------------------------------------------------------------------------------


def _open(profile: "Profile", clock: Clock, state_dir: Path, env: Mapping[str, str] | None, audit: bool):
    from mci.store.state import StateStore
    from mci.store.token_store import open_token_store

    state = StateStore.open(state_dir) if audit else None
    return open_token_store(profile, state_dir, env=env, clock=clock, audit=state), state


def _refuse_memory_only(store: "TokenStore") -> None:
    if store.memory_only:
        from mci.store.token_store import ACCESS_TOKEN_ENV

        raise UsageError(
            "mci is in memory-only token mode: a new token would not be stored",
            f"{ACCESS_TOKEN_ENV} is set, so the token comes from the environment and nothing is written to disk",
            f"unset {ACCESS_TOKEN_ENV} to use the encrypted token store, or export the new token in it",
        )


def _read_input(stdin: TextIO, prompt: str, *, hidden: bool = False) -> str:
    if stdin.isatty():
        if hidden:
            import getpass

            return getpass.getpass(prompt, stream=sys.stderr)
        sys.stderr.write(prompt)
        sys.stderr.flush()
        return stdin.readline()
    return stdin.read()


def _saved(profile: "Profile", store: "TokenStore", record: Any, now: datetime, output: str, how: str) -> int:
    from mci.expiry import token_state

    state = token_state(record.expires_at, now)
    if output == "json":
        _emit_json({"status": "saved", "profile": profile.name, "how": how, "state": state, "user_id": record.user_id,
                   "issued_at": record.issued_at, "expires_at": record.expires_at,
                   "remaining_s": int((record.expires_at - now).total_seconds()), "path": str(store.path),
                   "key": store.key_description})
    else:
        who = f" for {record.user_id}" if record.user_id else ""
        _emit(f"token saved{who} (encrypted, {store.path}); expires {local(record.expires_at)}"
             f" (in {countdown(record.expires_at - now)})")
    return int(ExitCode.OK)


def login(profile: "Profile", clock: Clock, state_dir: Path, output: str = "text", *,
          request_token: str | None = None, generate_session: GenerateSession | None = None,
          env: Mapping[str, str] | None = None, stdin: TextIO | None = None) -> int:
    from mci.store.token_store import TokenRecord

    store, state = _open(profile, clock, state_dir, env, audit=True)
    try:
        _refuse_memory_only(store)
        generate = generate_session or kite_generate_session(profile)
        url = login_url(profile)
        guide = sys.stderr if output == "json" else sys.stdout
        if request_token is None:
            _emit(f"1. Open this URL and log in to Kite:\n   {url}", guide)
            _emit("2. Paste the URL your browser is redirected to (or just its request_token).", guide)
            request_token = _read_input(stdin or sys.stdin, "redirect URL or request_token: ")
        token = parse_request_token(request_token)
        secrets = [token, profile.broker.api_secret]
        try:
            session = dict(generate(token))
        except Exception as exc:  # noqa: BLE001 — every failure leaves redacted, as WHAT / WHY / HOW
            error = _session_error(exc, secrets)
            if state is not None:  # the attempt is audited; the request token and the secret never are
                state.append_audit("token", {"event": "login_failed", "what": error.what}, clock.now(),
                                   profile=profile.name)
            raise error from None
        access_token = session.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise MciError("Kite answered without an access token", "the session response has no access_token",
                           "log in again; if it repeats, check the broker root points at Kite", ExitCode.FAILED)
        now = clock.now()
        record = TokenRecord.issued(access_token, session.get("user_id"), profile.broker.api_key,
                                    issue_time(session.get("login_time"), now))
        store.save(record, how="login")
        return _saved(profile, store, record, now, output, "login")
    finally:
        if state is not None:
            state.close()


def set_token(profile: "Profile", clock: Clock, state_dir: Path, output: str = "text", *,
              user_id: str | None = None, env: Mapping[str, str] | None = None, stdin: TextIO | None = None) -> int:
    """Store an access token read from stdin (automation), issued now."""
    from mci.store.token_store import TokenRecord

    store, state = _open(profile, clock, state_dir, env, audit=True)
    try:
        _refuse_memory_only(store)
        text = _read_input(stdin or sys.stdin, "access token: ", hidden=True).strip()
        if not _ACCESS_TOKEN_RE.fullmatch(text):
            raise UsageError("no usable access token on stdin",
                             "expected one access token: 6-512 printable characters without spaces",
                             "pipe it in: printf %s \"$TOKEN\" | mci token set --user-id AB1234")
        now = clock.now()
        record = TokenRecord.issued(text, user_id, profile.broker.api_key, now)
        store.save(record, how="set")
        return _saved(profile, store, record, now, output, "set")
    finally:
        if state is not None:
            state.close()


def _audit_expired(profile: "Profile", state_dir: Path, now: datetime, st: "TokenStatus") -> None:
    """Audit the first sighting of an expired token (once per token: not again while the last token event says so)."""
    import json

    from mci.store.state import StateStore

    expires = st.expires_at.isoformat() if st.expires_at is not None else None
    try:
        state = StateStore.open(state_dir)
    except MciError:
        return  # status still answers without a state DB
    try:
        with state.transaction():
            last = state.execute("SELECT data FROM audit WHERE kind = 'token' AND profile IS ? "
                                 "ORDER BY seq DESC LIMIT 1", (profile.name,))
            previous = json.loads(last[0][0]) if last else {}
            if previous.get("event") != "expired" or previous.get("expires_at") != expires:
                state.append_audit("token", {"event": "expired", "user_id": st.user_id, "expires_at": expires},
                                   now, profile=profile.name)
    except MciError:
        pass
    finally:
        state.close()


def _status_exit(status: "TokenStatus") -> int:
    return int(ExitCode.OK if status.state == "valid" else ExitCode.FAILED)


def status(profile: "Profile", clock: Clock, state_dir: Path, output: str = "text", *,
           env: Mapping[str, str] | None = None, warn_within: timedelta = timedelta(minutes=30)) -> int:
    store, _ = _open(profile, clock, state_dir, env, audit=False)
    now = clock.now()
    st = store.status(now, warn_within)
    code = _status_exit(st)
    if st.state == "expired":
        _audit_expired(profile, state_dir, now, st)
    paper = profile.broker.kind == "paper"
    if output == "json":
        payload = {"profile": profile.name, "broker": profile.broker.kind, **st.as_dict(),
                   "expires_in": countdown(st.remaining) if st.remaining is not None else None,
                   "key": store.key_description, "memory_only": store.memory_only, "exit_code": code}
        if paper and st.state == "missing":
            payload["note"] = "the paper broker issues its own session; no Kite token is needed"
        _emit_json(payload)
        return code
    who = f" for {st.user_id}" if st.user_id else ""
    if st.state == "missing":
        _emit(f"token: missing — no access token stored for profile {profile.name}")
        _emit("  the paper broker issues its own session; no Kite token is needed" if paper
             else "  run `mci token login` (or `mci token set` from automation)")
    else:
        assert st.expires_at is not None and st.remaining is not None
        when = local(st.expires_at)
        if st.state == "valid":
            _emit(f"token: valid{who}; expires {when} (in {countdown(st.remaining)})")
        elif st.state == "expiring":
            _emit(f"token: EXPIRING{who} — still usable; it dies at {when} (in {countdown(st.remaining)})")
            _emit("  a token issued before 06:00 IST also dies at 06:00: log in again after 06:00 IST")
        else:
            _emit(f"token: EXPIRED{who} at {when} ({countdown(st.remaining)} ago)")
            _emit("  Kite access tokens die at 06:00 IST (CR-004): run `mci token login`")
    source = "environment (MCI_ACCESS_TOKEN, memory-only)" if st.source == "env" else f"{store.path} (key: {store.key_description})"
    _emit(f"store: {source}")
    if st.note:
        _emit(f"note:  {st.note}")
    return code


def clear(profile: "Profile", clock: Clock, state_dir: Path, output: str = "text", *,
          env: Mapping[str, str] | None = None) -> int:
    store, state = _open(profile, clock, state_dir, env, audit=True)
    try:
        removed = store.clear()
    finally:
        if state is not None:
            state.close()
    still = store.memory_only
    if output == "json":
        _emit_json({"status": "cleared" if removed else "absent", "profile": profile.name, "path": str(store.path),
                   "memory_only": still})
    else:
        _emit(f"token cleared: {store.path} overwritten and removed" if removed
             else f"no stored token for profile {profile.name} ({store.path})")
        if still:
            _emit("note: MCI_ACCESS_TOKEN is still set; the token from the environment remains in use")
    return int(ExitCode.OK)


# The typer wiring lives in token_cli so that `mci --help` need not import this module.
from mci.commands.token_cli import register  # noqa: E402,F401
