"""The Kite access token at rest: one AES-256-GCM encrypted record per profile.

File format (version 1):  b"MCI1" | 12-byte random nonce | ciphertext+tag
The 4-byte header is also the AEAD associated data, so a file cannot be
relabelled as another format version without failing authentication.

The file is written atomically (temp file in the same directory, fsync,
os.replace) and created 0600 whatever the umask. A token or key file that
group or others can read or write is refused rather than trusted.

Key, first found wins:
  1. the profile's `broker.token_store.token_key` (an ${env:NAME} reference)
  2. the profile's `broker.token_store.key_file`
  3. the environment variable MCI_TOKEN_KEY
  4. `<state_dir>/tokens/token.key`, created (0600, random) by the first save
A key is 32 bytes written as base64 or hex.

Memory-only mode: when MCI_ACCESS_TOKEN is set the token comes from the
environment (optional MCI_USER_ID, MCI_TOKEN_ISSUED_AT) and nothing is ever
written: `save()` refuses (exit 2) so a login cannot silently land in a file
the environment then overrides. `clear()` still removes a file left on disk.

The token never appears in a repr, an error, an audit record or output.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

from mci.clock import Clock, parse_instant
from mci.errors import ExitCode, MciError, UnavailableError, UsageError
from mci.expiry import DEFAULT_WARN_WITHIN, session_expiry, token_state

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.store.state import StateStore

MAGIC = b"MCI1"
NONCE_LEN = 12
TAG_LEN = 16
KEY_LEN = 32
KEY_ENV = "MCI_TOKEN_KEY"
ACCESS_TOKEN_ENV = "MCI_ACCESS_TOKEN"
USER_ID_ENV = "MCI_USER_ID"
ISSUED_AT_ENV = "MCI_TOKEN_ISSUED_AT"
GENERATE_KEY = 'python -c "import secrets,base64;print(base64.b64encode(secrets.token_bytes(32)).decode())"'
DECRYPT_FAILED = "cannot decrypt the token store (wrong MCI_TOKEN_KEY, or the file was modified)"

State = Literal["valid", "expiring", "expired", "missing"]


def api_key_hint(api_key: str | None) -> str:
    """The last 4 characters, enough to tell two Kite apps apart; nothing for a key that short."""
    return api_key[-4:] if api_key and len(api_key) > 4 else ""


@dataclass(frozen=True, repr=False)
class TokenRecord:
    access_token: str
    user_id: str | None
    api_key_hint: str
    issued_at: datetime | None  # None: a token from MCI_ACCESS_TOKEN without MCI_TOKEN_ISSUED_AT
    expires_at: datetime
    source: str = "file"  # file | env

    def __repr__(self) -> str:
        return (
            f"TokenRecord(access_token='***', user_id={self.user_id!r}, api_key_hint={self.api_key_hint!r}, "
            f"issued_at={self.issued_at!r}, expires_at={self.expires_at!r}, source={self.source!r})"
        )

    __str__ = __repr__

    def __post_init__(self) -> None:
        from mci.observability.redact import register

        register(self.access_token)  # logs and notifications mask it from now on (mci.observability.redact.scrub)

    @classmethod
    def issued(cls, access_token: str, user_id: str | None, api_key: str | None, issued_at: datetime) -> "TokenRecord":
        return cls(access_token, user_id, api_key_hint(api_key), issued_at, session_expiry(issued_at))

    def public_dict(self) -> dict[str, Any]:
        """Everything but the token."""
        return {
            "user_id": self.user_id,
            "api_key_hint": self.api_key_hint,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "source": self.source,
        }

    def _to_bytes(self) -> bytes:
        body = {
            "access_token": self.access_token,
            "user_id": self.user_id,
            "api_key_hint": self.api_key_hint,
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
            "expires_at": self.expires_at.isoformat(),
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @classmethod
    def _from_bytes(cls, data: bytes) -> "TokenRecord":
        body = json.loads(data.decode("utf-8"))
        issued = body.get("issued_at")
        return cls(
            body["access_token"],
            body.get("user_id"),
            body.get("api_key_hint", ""),
            datetime.fromisoformat(issued) if issued else None,
            datetime.fromisoformat(body["expires_at"]),
        )


@dataclass(frozen=True)
class TokenStatus:
    state: State
    expires_at: datetime | None
    remaining: timedelta | None  # negative once expired
    user_id: str | None = None
    issued_at: datetime | None = None
    source: str | None = None  # file | env | None when missing
    path: Path | None = None
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.state in ("valid", "expiring")

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "usable": self.usable,
            "user_id": self.user_id,
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "remaining_s": int(self.remaining.total_seconds()) if self.remaining is not None else None,
            "source": self.source,
            "path": str(self.path) if self.path else None,
            "note": self.note,
        }


# -- keys ---------------------------------------------------------------------------------------


def _decode_key(raw: str) -> bytes | None:
    if len(raw) == 2 * KEY_LEN:
        try:
            return bytes.fromhex(raw)
        except ValueError:
            pass
    try:
        data = raw.encode("ascii")
    except UnicodeEncodeError:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(data, altchars=b"-_", validate=True)  # URL-safe alphabet
    except (binascii.Error, ValueError):
        return None


def parse_key(text: str, origin: str) -> bytes:
    """32 bytes from base64 or hex. The error names where the key came from, never the key."""
    key = _decode_key(text.strip())
    if key is None or len(key) != KEY_LEN:
        got = "is neither base64 nor hex" if key is None else f"decodes to {len(key)} bytes"
        raise UsageError(
            f"the token encryption key in {origin} is not usable",
            f"it {got}; AES-256-GCM needs exactly {KEY_LEN} bytes, written as base64 or hex",
            f"generate one with: {GENERATE_KEY}",
        )
    return key


def _refuse_if_shared(path: Path, mode: int, what: str) -> None:
    if os.name != "nt" and mode & 0o077:
        raise MciError(
            f"the {what} {path} is accessible to other users (mode {mode & 0o777:04o})",
            "it protects the Kite access token, which trades on your account; "
            "a file group or others can read or write is not trusted",
            f"run: chmod 600 {path}",
            ExitCode.INVALID,
        )


def _read_private(path: Path, what: str) -> bytes:
    """The bytes of a file only its owner can use (checked on the open descriptor, not the name)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnavailableError(
            f"cannot read the {what} {path}", exc.strerror or str(exc), "check the file's owner and permissions"
        ) from None
    try:
        _refuse_if_shared(path, os.fstat(fd).st_mode, what)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes, *, replace: bool = True) -> bool:
    """Write `data` to `path` atomically with mode 0600. With replace=False an existing file wins
    (returns False) — two processes creating the same key file must agree on one key."""
    directory = path.parent
    tmp = directory / f".{path.name}.{_secrets.token_hex(6)}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            if os.name != "nt":
                os.fchmod(fd, 0o600)  # exact, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        _fsync_dir(directory)
        return True
    except OSError as exc:
        raise UnavailableError(
            f"cannot write {path}",
            exc.strerror or str(exc),
            "check the directory exists, is writable and the disk is not full",
        ) from None
    finally:
        try:
            tmp.unlink()  # gone already after os.replace; a leftover after link or a failed write
        except OSError:
            pass


@dataclass(frozen=True)
class KeySource:
    """Where the key comes from; read only when a token is read or written."""

    value: str | None = None  # the key text (from the profile's token_key or MCI_TOKEN_KEY)
    value_origin: str = KEY_ENV
    key_file: Path | None = None  # an operator's key file: must exist
    default_file: Path | None = None  # created by the first save when nothing else is configured

    def describe(self) -> str:
        if self.value is not None:
            return self.value_origin
        if self.key_file is not None:
            return f"key file {self.key_file}"
        if self.default_file is not None:
            return f"key file {self.default_file} (default)"
        return "no key"

    def load(self, *, create: bool = False) -> bytes:
        if self.value is not None:
            return parse_key(self.value, self.value_origin)
        if self.key_file is not None:
            return self._from_file(self.key_file, configured=True)
        if self.default_file is not None:
            if create and not self.default_file.exists():
                fresh = base64.b64encode(_secrets.token_bytes(KEY_LEN)) + b"\n"
                _write_private(self.default_file, fresh, replace=False)
            return self._from_file(self.default_file, configured=False)
        raise UsageError(
            "no encryption key for the token store",
            f"neither {KEY_ENV} nor broker.token_store.key_file / token_key is set",
            f"export {KEY_ENV}=$({GENERATE_KEY})",
        )

    @staticmethod
    def _from_file(path: Path, configured: bool) -> bytes:
        try:
            data = _read_private(path, "token key file")
        except FileNotFoundError:
            how = (
                f"create it: {GENERATE_KEY} > {path} && chmod 600 {path}"
                if configured
                else f"set {KEY_ENV}, or restore {path}; without the key the stored token is lost — "
                "`mci token clear` then `mci token login`"
            )
            raise UsageError(
                f"the token key file {path} does not exist", "the token store is encrypted with the key it holds", how
            ) from None
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = "\x00"  # not base64/hex either: parse_key reports it
        return parse_key(text, f"key file {path}")


# -- the store ----------------------------------------------------------------------------------


class TokenStore:
    """save / load / clear / status of one profile's access token."""

    def __init__(
        self,
        path: Path,
        key: bytes | KeySource | None,
        *,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        audit: "StateStore | None" = None,
        profile: str | None = None,
    ):
        if isinstance(key, bytes) and len(key) != KEY_LEN:
            raise ValueError(f"an AES-256 key is {KEY_LEN} bytes")
        self.path = Path(path)
        self._key = key
        self._env = os.environ if env is None else env
        self._clock = clock or Clock()
        self._audit = audit
        self._profile = profile

    def __repr__(self) -> str:
        return f"TokenStore(path={str(self.path)!r}, memory_only={self.memory_only})"

    @property
    def memory_only(self) -> bool:
        return bool(self._env.get(ACCESS_TOKEN_ENV))

    @property
    def key_description(self) -> str:
        if isinstance(self._key, KeySource):
            return self._key.describe()
        return "given key" if self._key else "no key"

    def _key_bytes(self, create: bool) -> bytes:
        if isinstance(self._key, bytes):
            return self._key
        if isinstance(self._key, KeySource):
            return self._key.load(create=create)
        return KeySource().load()  # raises the "no key" error

    # -- public -------------------------------------------------------------

    def save(self, record: TokenRecord, how: str | None = None) -> None:
        if self.memory_only:
            raise UsageError(
                "the token was not saved: mci is in memory-only token mode",
                f"{ACCESS_TOKEN_ENV} is set, so the token comes from the environment and nothing is written to disk",
                f"unset {ACCESS_TOKEN_ENV} to keep tokens in the encrypted store, or put the new token in {ACCESS_TOKEN_ENV}",
            )
        if not record.access_token:
            raise UsageError("no access token to save", "the access token is empty", "run `mci token login` again")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_LEN)
        sealed = AESGCM(self._key_bytes(create=True)).encrypt(nonce, record._to_bytes(), MAGIC)
        _write_private(self.path, MAGIC + nonce + sealed)
        self._forget_extras()  # a new session supersedes the one kept for an emergency, and any revocation
        self._audit_event("saved", record, how=how)

    def load(self) -> TokenRecord | None:
        if self.memory_only:
            return self._from_env()
        return self._read()

    # -- the emergency slot ----------------------------------------------------
    # A graceful shutdown clears the token (CR-002 "clear sensitive data"): the engine's copy is wiped and
    # no ordinary command (scan, ignite, watch, status) finds a session any more. But until the session dies
    # at 06:00 IST the account can still move (a stop fills, an order rests), and `mci kill` must then be
    # able to read and flatten it. So the encrypted store is moved, not wiped, to `<store>.emergency`,
    # which only the emergency reads, and only until the token's expiry. `mci token clear`, a login, and a
    # revoke (`secrets.clear` with `revoke: true`) wipe it.

    @property
    def emergency_path(self) -> Path:
        return self.path.with_name(self.path.name + ".emergency")

    @property
    def revoked_path(self) -> Path:
        return self.path.with_name(self.path.name + ".revoked")

    def _slot(self) -> "TokenStore":
        return TokenStore(self.emergency_path, self._key, env=self._env, clock=self._clock)

    def stash_for_emergency(self) -> bool:
        """Move the stored session to the emergency slot (atomic rename: the ciphertext never changes)."""
        if self.memory_only or self.path.is_symlink() or not self.path.exists():
            return False
        try:
            os.replace(self.path, self.emergency_path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise UnavailableError(
                f"cannot move the token store {self.path} to its emergency slot",
                exc.strerror or str(exc),
                f"check the permissions of {self.path.parent}",
            ) from None
        self._audit_event("stashed_for_emergency", None)
        return True

    def load_for_emergency(self) -> TokenRecord | None:
        """The ordinary session, else the one a graceful shutdown kept for the kill switch, while it lives."""
        record = self.load()
        if record is not None or self.memory_only:
            return record
        try:
            kept = self._slot()._read()
        except MciError:
            return None
        if kept is None or kept.expires_at <= self._clock.now():
            return None
        return kept

    def mark_revoked(self, now: datetime, by: str) -> None:
        """Remember that the session was invalidated at the broker, so the next kill can say so."""
        _write_private(self.revoked_path, json.dumps({"at": now.isoformat(), "by": by}).encode())

    def revoked(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.revoked_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _forget_extras(self) -> bool:
        wiped = self._slot().clear() if self.emergency_path.exists() or self.emergency_path.is_symlink() else False
        try:
            self.revoked_path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass
        return wiped

    def clear(self) -> bool:
        """Overwrite the file (and the emergency slot) with random bytes, then unlink it. False when there was none."""
        extra = False if self.path.name.endswith(".emergency") else self._forget_extras()
        return self._clear_file() or extra

    def _clear_file(self) -> bool:
        if self.path.is_symlink():  # never scribble over whatever a link points at
            self.path.unlink()
            self._audit_event("cleared", None)
            return True
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return False
        try:
            record = self._read()
        except MciError:
            record = None  # a store nobody can read is still cleared
        try:
            fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                os.write(fd, os.urandom(size))
                os.fsync(fd)
            finally:
                os.close(fd)
            self.path.unlink()
            _fsync_dir(self.path.parent)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise UnavailableError(
                f"cannot clear the token store {self.path}",
                exc.strerror or str(exc),
                f"delete it by hand: shred -u {self.path} (or rm)",
            ) from None
        self._audit_event("cleared", record)
        return True

    def status(self, now: datetime, warn_within: timedelta = DEFAULT_WARN_WITHIN) -> TokenStatus:
        record = self.load()
        if record is None:
            return TokenStatus("missing", None, None, path=self.path)
        note = ""
        if record.source == "env" and record.issued_at is None:
            note = (
                f"issue time unknown (set {ISSUED_AT_ENV}); assumed issued since the last 06:00 IST — "
                "a token from before then is already dead"
            )
        return TokenStatus(
            token_state(record.expires_at, now, warn_within),
            record.expires_at,
            record.expires_at - now,
            record.user_id,
            record.issued_at,
            record.source,
            None if record.source == "env" else self.path,
            note,
        )

    # -- internals ----------------------------------------------------------

    def _read(self) -> TokenRecord | None:
        try:
            blob = _read_private(self.path, "token store")
        except FileNotFoundError:
            return None
        header = len(MAGIC) + NONCE_LEN
        if len(blob) < header + TAG_LEN or blob[:3] != MAGIC[:3]:
            raise MciError(
                f"{self.path} is not an mci token store",
                "it does not start with the token store header, or is truncated",
                f"run `mci token clear` (or remove {self.path}) and `mci token login` again",
                ExitCode.INVALID,
            )
        if blob[:4] != MAGIC:
            raise MciError(
                f"the token store {self.path} has format {blob[:4]!r}, not {MAGIC!r}",
                "it was written by a different version of mci",
                "use that version of mci, or `mci token clear` and log in again",
                ExitCode.INVALID,
            )
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._key_bytes(create=False)
        try:
            plain = AESGCM(key).decrypt(blob[len(MAGIC) : header], blob[header:], MAGIC)
            return TokenRecord._from_bytes(plain)
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise MciError(
                DECRYPT_FAILED,
                f"the key from {self.key_description} does not authenticate {self.path}",
                "use the key the token was saved with; if it is lost, `mci token clear` and `mci token login`",
                ExitCode.INVALID,
            ) from None

    def _from_env(self) -> TokenRecord:
        issued_text = self._env.get(ISSUED_AT_ENV)
        issued = None
        if issued_text:
            try:
                issued = parse_instant(issued_text)
            except MciError:
                raise UsageError(
                    f"{ISSUED_AT_ENV} is not a date-time",
                    "it must be ISO-8601, like the token's login time",
                    f"export {ISSUED_AT_ENV}=2026-11-23T09:00:00+05:30 (no offset means IST), or unset it",
                ) from None
        expires = session_expiry(issued or self._clock.now())
        return TokenRecord(
            self._env[ACCESS_TOKEN_ENV], self._env.get(USER_ID_ENV) or None, "", issued, expires, source="env"
        )

    def _audit_event(self, event: str, record: TokenRecord | None, how: str | None = None) -> None:
        """A token event in the audit trail: who and until when, never the token itself."""
        if self._audit is None:
            return
        data: dict[str, Any] = {
            "event": event,
            "user_id": record.user_id if record else None,
            "expires_at": record.expires_at.isoformat() if record else None,
        }
        if how:
            data["how"] = how  # login | set
        self._audit.append_audit("token", data, self._clock.now(), profile=self._profile)


# -- from a profile -----------------------------------------------------------------------------


def token_store_settings(profile: "Profile") -> tuple[Path | None, Path | None, str | None]:
    """(path, key_file, key) the profile sets for its token store; relative paths against the profile."""
    typed = getattr(profile.broker, "token_store", None)
    if typed is not None:
        return typed.path, typed.key_file, typed.key
    raw = (profile.raw or {}).get("broker", {}) or {}
    section = (raw.get("token_store") or {}) if isinstance(raw, Mapping) else {}
    base = Path(profile.path).parent if getattr(profile, "path", None) else Path.cwd()

    def local(text: Any) -> Path | None:
        if not text:
            return None
        path = Path(str(text)).expanduser()
        return path if path.is_absolute() else base / path

    return local(section.get("path")), local(section.get("key_file")), section.get("token_key")


def default_token_path(state_dir: Path, profile_name: str) -> Path:
    return state_dir / "tokens" / f"{profile_name}.token"


def open_token_store(
    profile: "Profile",
    state_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    audit: "StateStore | None" = None,
) -> TokenStore:
    """The profile's token store: its own path and key if it sets them, else the state directory's."""
    env = os.environ if env is None else env
    path, key_file, key_text = token_store_settings(profile)
    if key_text:
        source = KeySource(value=key_text, value_origin="broker.token_store.token_key")
    elif key_file is not None:
        source = KeySource(key_file=key_file)
    elif env.get(KEY_ENV):
        source = KeySource(value=env[KEY_ENV], value_origin=KEY_ENV)
    else:
        source = KeySource(default_file=state_dir / "tokens" / "token.key")
    return TokenStore(
        path or default_token_path(state_dir, profile.name),
        source,
        env=env,
        clock=clock,
        audit=audit,
        profile=profile.name,
    )


def audit_expired_once(state_dir: Path, profile: str, now: datetime, status: TokenStatus) -> None:
    """Audit the first sighting of an expired token: once per token, not again while the profile's last token
    event says so. Best effort: a token status still answers without a usable state DB."""
    from mci.store.state import StateStore

    expires = status.expires_at.isoformat() if status.expires_at is not None else None
    try:
        state = StateStore.open(state_dir)
    except MciError:
        return
    try:
        with state.transaction():  # the look-up and the append in one transaction: two status calls audit once
            last = state.execute(
                "SELECT data FROM audit WHERE kind = 'token' AND profile IS ? ORDER BY seq DESC LIMIT 1", (profile,)
            )
            previous = json.loads(last[0][0]) if last else {}
            if previous.get("event") != "expired" or previous.get("expires_at") != expires:
                state.append_audit(
                    "token",
                    {"event": "expired", "user_id": status.user_id, "expires_at": expires},
                    now,
                    profile=profile,
                )
    except MciError:
        pass
    finally:
        state.close()
