"""Authentication services: the password policy, password login with throttling, browser
sessions held server-side, API tokens, and ending them all when an account changes.

Everything here writes through the caller's session and flushes; the request boundary commits
(the login paths keep their throttling writes even when they answer an error:
admin/boundary.py keep_writes_on_error). Security events go to the `baoxue.security` logger.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import math
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, case, delete, literal, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from models import PASSWORD_METHOD, ApiToken, LoginSession, LoginThrottle, RoleAssignment, SchoolClass, User
from workflow import clock
from workflow.errors import N_, DomainError, Msg, invalid_field

log = logging.getLogger("baoxue.security")

MIN_PASSWORD_LENGTH = 10
# The username is refused inside a password only from this length on ("li" would refuse half of
# all passwords without making any of them safer).
_MIN_USERNAME_IN_PASSWORD = 3
_COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


class AuthFailed(DomainError):
    status = 401
    code = "unauthorized"


class Throttled(DomainError):
    """Too many login attempts: 429. `retry_after`: whole seconds until the next try is checked."""

    status = 429
    code = "throttled"

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        if self.retry_after >= 120:
            message = Msg(N_("登录尝试过于频繁，请 %(n)d 分钟后再试"), n=math.ceil(self.retry_after / 60))
        else:
            message = Msg(N_("登录尝试过于频繁，请 %(n)d 秒后再试"), n=self.retry_after)
        super().__init__(message, details={"retry_after": self.retry_after})


# --- the password policy -----------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case), read once."""
    lines = _COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def password_problem(password, username: str | None) -> Msg | None:
    """Why `password` is refused (a marked message: Chinese as a str), or None when it passes the policy: at least
    MIN_PASSWORD_LENGTH characters, not the username nor containing it, not a common password."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return Msg(N_("密码至少需要 %(n)d 个字符"), n=MIN_PASSWORD_LENGTH)
    lowered = password.lower()
    name = (username or "").strip().lower()
    if name and (lowered == name or (len(name) >= _MIN_USERNAME_IN_PASSWORD and name in lowered)):
        return N_("密码不能是用户名，也不能包含用户名")
    if lowered in common_passwords():
        return N_("该密码过于常见，容易被猜中，请换一个")
    return None


def check_password_policy(password, username: str | None, field: str = "password") -> str:
    """Return `password` if it passes the policy (`password_problem`); raise Invalid naming
    `field` otherwise."""
    problem = password_problem(password, username)
    if problem:
        raise invalid_field(field, problem)
    return password


# --- ending an account's sessions and tokens ---------------------------------------------------


def end_user_sessions(session: Session, user_id: int) -> None:
    """End every browser session and API token of a user at once (a password change, a
    deactivation: SPEC §2). Flushes."""
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
    session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    session.flush()


def set_password(session: Session, user: User, password: str, *, by: User | None = None,
                 field: str = "password") -> None:
    """Give `user` a new password that passes the policy (Invalid naming `field` otherwise) and
    end their sessions and tokens. Logged on `baoxue.security`. Flushes."""
    check_password_policy(password, user.username, field)
    user.set_password(password)
    session.flush()
    if user.id is not None:
        end_user_sessions(session, user.id)
    log.info("password changed: user=%r by=%r", user.username, by.username if by is not None else None)


def set_active(session: Session, user: User, is_active: bool, *, by: User | None = None) -> None:
    """Activate or deactivate an account; a deactivation ends its sessions and tokens. Flushes."""
    if user.is_active == is_active:
        return
    user.is_active = is_active
    session.flush()
    if not is_active:
        end_user_sessions(session, user.id)
    log.info("account %s: user=%r by=%r", "activated" if is_active else "deactivated", user.username,
             by.username if by is not None else None)


# --- login throttling --------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    """How login attempts are limited (config LOGIN_*).

    Per (username, client address) pair: `free_attempts` wrong passwords, then each further try
    is checked only after a delay doubling from `delay_base_seconds` up to `delay_max_seconds`;
    the count starts over `pair_window_seconds` after its first attempt, and at a success. Per
    client address over all usernames: at most `address_max_failures` in `address_window_seconds`.
    Nobody else's address can lock an account: there is no per-account lock-out."""

    free_attempts: int = 5
    delay_base_seconds: int = 2
    delay_max_seconds: int = 900
    pair_window_seconds: int = 86400
    address_max_failures: int = 100
    address_window_seconds: int = 3600

    @classmethod
    def from_config(cls, config) -> ThrottlePolicy:
        """The policy from the app's LOGIN_* settings (a mapping; defaults where unset)."""
        keys = {"free_attempts": "LOGIN_FREE_ATTEMPTS", "delay_base_seconds": "LOGIN_DELAY_BASE_SECONDS",
                "delay_max_seconds": "LOGIN_DELAY_MAX_SECONDS", "pair_window_seconds": "LOGIN_PAIR_WINDOW_SECONDS",
                "address_max_failures": "LOGIN_ADDRESS_MAX_FAILURES",
                "address_window_seconds": "LOGIN_ADDRESS_WINDOW_SECONDS"}
        return cls(**{field: int(config[key]) for field, key in keys.items() if config.get(key) is not None})

    def wait_after(self, attempts: int) -> int:
        """Seconds that must pass after the `attempts`-th try before the next one is checked."""
        if attempts < self.free_attempts:
            return 0
        return min(self.delay_base_seconds * 2 ** min(attempts - self.free_attempts, 30), self.delay_max_seconds)


def _claim(session: Session, key: str, now: dt.datetime, window_seconds: int) -> tuple[int, dt.datetime | None,
                                                                                       dt.datetime]:
    """Count one attempt under `key` in ONE atomic statement (insert, or on conflict add one) and
    return (attempts in the window including this one, the previous attempt's time, the window's
    start). Concurrent attempts each get their own count: none reads a value another is about to
    change. A window older than `window_seconds` starts over at 1."""
    t = LoginThrottle
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    at = literal(now, t.first_at.type)
    expired = t.first_at < literal(now - dt.timedelta(seconds=window_seconds), t.first_at.type)
    stmt = insert(t).values(key=key, attempts=1, first_at=now, previous_at=None, last_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=[t.key], set_={
        "attempts": case((expired, 1), else_=t.attempts + 1),
        "first_at": case((expired, at), else_=t.first_at),
        "previous_at": case((expired, null()), else_=t.last_at),
        "last_at": now,
    }).returning(t.attempts, t.previous_at, t.first_at)
    attempts, previous_at, first_at = session.execute(stmt).one()
    return attempts, previous_at, first_at


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # a RETURNING row bypasses the column type on some drivers: make sure it is aware UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _pair_key(username: str, address: str) -> str:
    return f"pair:{address[:60]}|{username.strip().lower()[:120]}"


def _address_key(address: str) -> str:
    return f"addr:{address[:60]}"


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash of a random password with the configured method: an unknown username costs the
    same work as a wrong password (no timing tells which usernames exist)."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def authenticate(session: Session, username: str, password: str, *, address: str | None = None,
                 policy: ThrottlePolicy | None = None) -> User:
    """Return the active user whose password matches, or raise.

    Before any password is checked the attempt is counted atomically (`_claim`) for the
    (username, address) pair and for the address: over the limits of `policy` it raises
    Throttled without checking (so 24 simultaneous guesses are not all checked). An unknown
    username does the same work (a hash check) and gets the same answer as a wrong password;
    an inactive account is named only to someone who knows its password. A success starts the
    pair's count over and gives the address its attempt back. Failures and successes are logged
    on `baoxue.security`. Raises AuthFailed (401) or Throttled (429); flushes the counts.
    """
    policy = policy or ThrottlePolicy()
    address = address or "unknown"
    username = username if isinstance(username, str) else ""
    now = clock.now()
    pair_key, addr_key = _pair_key(username, address), _address_key(address)
    attempts, previous_at, _first = _claim(session, pair_key, now, policy.pair_window_seconds)
    addr_attempts, _prev, addr_first = _claim(session, addr_key, now, policy.address_window_seconds)
    previous_at, addr_first = _as_utc(previous_at), _as_utc(addr_first)
    wait = 0
    if previous_at is not None:
        ready_at = previous_at + dt.timedelta(seconds=policy.wait_after(attempts - 1))
        if ready_at > now:
            wait = policy.wait_after(attempts)  # counted from this attempt, the latest
    if addr_attempts > policy.address_max_failures:
        wait = max(wait, math.ceil((addr_first + dt.timedelta(seconds=policy.address_window_seconds)
                                    - now).total_seconds()))
    if wait > 0:
        session.flush()
        log.warning("login throttled: username=%r address=%s attempts=%d retry_after=%ds",
                    username, address, attempts, wait)
        raise Throttled(wait)

    user = session.scalars(select(User).where(User.username == username.strip())).first()
    ok = check_password_hash(user.password_hash if user is not None else _dummy_hash(PASSWORD_METHOD["method"]),
                             password if isinstance(password, str) else "")
    if user is None or not ok:
        session.flush()
        log.warning("login failed: username=%r address=%s attempts=%d", username, address, attempts)
        raise AuthFailed(N_("用户名或密码错误"))
    if not user.is_active:
        session.flush()
        log.warning("login refused, account deactivated: username=%r address=%s", username, address)
        raise AuthFailed(N_("该账号已停用"))
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key))
    session.execute(update(LoginThrottle).where(LoginThrottle.key == addr_key, LoginThrottle.attempts > 0)
                    .values(attempts=LoginThrottle.attempts - 1))
    session.flush()
    log.info("login: username=%r address=%s", user.username, address)
    return user


# --- browser sessions --------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, hours: int = 168) -> str:
    """Open a server-side browser session for `user` (expiring after `hours`); returns the random
    id the cookie carries (only its SHA-256 is stored). Drops the user's expired sessions."""
    now = clock.now()
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at <= now))
    sid = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user.id, sid_hash=_digest(sid), expires_at=now + dt.timedelta(hours=hours)))
    session.flush()
    return sid


def session_user(session: Session, user_id: int, sid: str | None) -> User | None:
    """The active user `user_id` if `sid` is one of their open sessions, else None (logged out,
    password changed, deactivated, expired, or a forged id)."""
    if not sid or not isinstance(sid, str):
        return None
    return session.scalars(
        select(User).join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == user_id, User.is_active.is_(True), LoginSession.sid_hash == _digest(sid),
               LoginSession.expires_at > clock.now())).first()


def end_session(session: Session, sid: str | None) -> None:
    """Log one browser session out server-side: a copy of its cookie no longer works."""
    if sid and isinstance(sid, str):
        session.execute(delete(LoginSession).where(LoginSession.sid_hash == _digest(sid)))
        session.flush()


# --- API tokens --------------------------------------------------------------------------------


def issue_token(session: Session, user: User, ttl_hours: int = 12) -> tuple[str, ApiToken]:
    """Create a bearer token; only its SHA-256 is stored. Returns (plain token, row)."""
    plain = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_digest(plain),
        expires_at=clock.now() + dt.timedelta(hours=ttl_hours),
    )
    session.add(row)
    session.flush()
    return plain, row


def revoke_token(session: Session, token: str) -> None:
    """Delete one bearer token (`DELETE /api/v1/tokens/current`): it stops working at once."""
    session.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(token)))
    session.flush()


def _token_query():
    # Built once, bound per request: the statement, its joins and loader options are not
    # rebuilt on every authenticated request (issue 16). The token's expiry and the account's
    # `is_active` are in the same WHERE; a password change or a deactivation deletes the
    # account's tokens (`end_user_sessions`), so an invalidated token matches no row.
    roles = joinedload(User.roles)
    return (select(User).join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == bindparam("token_hash"),
                   ApiToken.expires_at > bindparam("now", type_=ApiToken.expires_at.type),
                   User.is_active.is_(True))
            .options(roles.joinedload(RoleAssignment.school),
                     roles.joinedload(RoleAssignment.klass).joinedload(SchoolClass.school)))


_TOKEN_QUERY = _token_query()


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning an unexpired token, or None, in ONE query. The user's role
    assignments come with it, each with its school, or its class and the class's school: every
    authenticated request resolves its scope from them next (`scope.scope_for`), which then
    needs no query for school and class roles."""
    users = session.scalars(_TOKEN_QUERY, {"token_hash": _digest(token), "now": clock.now()}).unique().all()
    return users[0] if users else None
