"""`mci token login | set | status | clear`: the Kite access token (phase 0, CR-004).

The core is mci.store.token_store (encrypted store), mci.expiry (06:00 IST rule) and
mci.brokers.kite_session (the login URL, the request token traded for an access token);
this module reads input, calls them and renders the result.

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
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TextIO

from mci.brokers.kite_session import (
    GenerateSession,
    exchange,
    kite_generate_session,
    login_url,
    parse_request_token,
    session_of,
)
from mci.clock import IST, Clock, zone
from mci.errors import ExitCode, MciError, UsageError
from mci.output import console

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.store.state import StateStore
    from mci.store.token_store import TokenStatus, TokenStore

_ACCESS_TOKEN_RE = re.compile(r"[!-~]{6,512}")  # printable ASCII, no spaces


def _emit(text: str, stream: TextIO | None = None) -> None:
    console.emit(text, stream or sys.stdout)  # looked up per call: redirected stdout is honoured


def _emit_json(payload: Any) -> None:
    console.emit_json(payload, sys.stdout)


# -- pure helpers -------------------------------------------------------------------------------


def countdown(delta: timedelta) -> str:
    seconds = int(abs(delta).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def local(moment: datetime, tz: str = IST) -> str:
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


# -- commands -----------------------------------------------------------------------------------


def _open(
    profile: "Profile", clock: Clock, state_dir: Path, env: Mapping[str, str] | None, audit: bool
) -> "tuple[TokenStore, StateStore | None]":
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
        _emit_json(
            {
                "status": "saved",
                "profile": profile.name,
                "how": how,
                "state": state,
                "user_id": record.user_id,
                "issued_at": record.issued_at,
                "expires_at": record.expires_at,
                "remaining_s": int((record.expires_at - now).total_seconds()),
                "path": str(store.path),
                "key": store.key_description,
            }
        )
    else:
        who = f" for {record.user_id}" if record.user_id else ""
        _emit(
            f"token saved{who} (encrypted, {store.path}); expires {local(record.expires_at)}"
            f" (in {countdown(record.expires_at - now)})"
        )
    return int(ExitCode.OK)


def login(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    output: str = "text",
    *,
    request_token: str | None = None,
    generate_session: GenerateSession | None = None,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> int:
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
        try:
            response = exchange(generate, token, [token, profile.broker.api_secret])
        except MciError as error:
            if state is not None:  # the attempt is audited; the request token and the secret never are
                state.append_audit(
                    "token", {"event": "login_failed", "what": error.what}, clock.now(), profile=profile.name
                )
            raise
        now = clock.now()
        session = session_of(response, now)
        record = TokenRecord.issued(session.access_token, session.user_id, profile.broker.api_key, session.issued_at)
        store.save(record, how="login")
        return _saved(profile, store, record, now, output, "login")
    finally:
        if state is not None:
            state.close()


def set_token(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    output: str = "text",
    *,
    user_id: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Store an access token read from stdin (automation), issued now."""
    from mci.store.token_store import TokenRecord

    store, state = _open(profile, clock, state_dir, env, audit=True)
    try:
        _refuse_memory_only(store)
        text = _read_input(stdin or sys.stdin, "access token: ", hidden=True).strip()
        if not _ACCESS_TOKEN_RE.fullmatch(text):
            raise UsageError(
                "no usable access token on stdin",
                "expected one access token: 6-512 printable characters without spaces",
                'pipe it in: printf %s "$TOKEN" | mci token set --user-id AB1234',
            )
        now = clock.now()
        record = TokenRecord.issued(text, user_id, profile.broker.api_key, now)
        store.save(record, how="set")
        return _saved(profile, store, record, now, output, "set")
    finally:
        if state is not None:
            state.close()


def _status_exit(status: "TokenStatus") -> int:
    return int(ExitCode.OK if status.state == "valid" else ExitCode.FAILED)


def status(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    output: str = "text",
    *,
    env: Mapping[str, str] | None = None,
    warn_within: timedelta = timedelta(minutes=30),
) -> int:
    store, _ = _open(profile, clock, state_dir, env, audit=False)
    now = clock.now()
    st = store.status(now, warn_within)
    code = _status_exit(st)
    if st.state == "expired":
        from mci.store.token_store import audit_expired_once

        audit_expired_once(state_dir, profile.name, now, st)
    paper = profile.broker.kind == "paper"
    if output == "json":
        payload = {
            "profile": profile.name,
            "broker": profile.broker.kind,
            **st.as_dict(),
            "expires_in": countdown(st.remaining) if st.remaining is not None else None,
            "key": store.key_description,
            "memory_only": store.memory_only,
            "exit_code": code,
        }
        if paper and st.state == "missing":
            payload["note"] = "the paper broker issues its own session; no Kite token is needed"
        _emit_json(payload)
        return code
    who = f" for {st.user_id}" if st.user_id else ""
    if st.state == "missing":
        _emit(f"token: missing — no access token stored for profile {profile.name}")
        _emit(
            "  the paper broker issues its own session; no Kite token is needed"
            if paper
            else "  run `mci token login` (or `mci token set` from automation)"
        )
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
    source = (
        "environment (MCI_ACCESS_TOKEN, memory-only)"
        if st.source == "env"
        else f"{store.path} (key: {store.key_description})"
    )
    _emit(f"store: {source}")
    if st.note:
        _emit(f"note:  {st.note}")
    return code


def clear(
    profile: "Profile", clock: Clock, state_dir: Path, output: str = "text", *, env: Mapping[str, str] | None = None
) -> int:
    store, state = _open(profile, clock, state_dir, env, audit=True)
    try:
        removed = store.clear()
    finally:
        if state is not None:
            state.close()
    still = store.memory_only
    if output == "json":
        _emit_json(
            {
                "status": "cleared" if removed else "absent",
                "profile": profile.name,
                "path": str(store.path),
                "memory_only": still,
            }
        )
    else:
        _emit(
            f"token cleared: {store.path} overwritten and removed"
            if removed
            else f"no stored token for profile {profile.name} ({store.path})"
        )
        if still:
            _emit("note: MCI_ACCESS_TOKEN is still set; the token from the environment remains in use")
    return int(ExitCode.OK)
