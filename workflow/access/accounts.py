"""Authentication services: password login with throttling, API tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import ApiToken, RoleAssignment, User
from workflow import clock
from workflow.errors import DomainError


class AuthFailed(DomainError):
    status = 401
    code = "unauthorized"


class Throttled(DomainError):
    status = 429
    code = "throttled"


def authenticate(session: Session, username: str, password: str, *, max_failures: int = 5,
                 lock_minutes: int = 15) -> User:
    """Return the active user whose password matches, or raise.

    After `max_failures` wrong passwords in a row the account is locked for `lock_minutes`
    (raises Throttled, even for the right password, so guessing gains nothing). Inactive users
    are refused with the same message as a wrong password. Flushes the failure counter.
    """
    user = session.scalars(select(User).where(User.username == username)).first()
    now = clock.now()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise Throttled("登录失败次数过多，请稍后再试")
    if user is None or not user.check_password(password):
        if user is not None:
            user.failed_login_count = (user.failed_login_count or 0) + 1
            if user.failed_login_count >= max_failures:
                user.locked_until = now + dt.timedelta(minutes=lock_minutes)
                user.failed_login_count = 0
            session.flush()
        raise AuthFailed("用户名或密码错误")
    if not user.is_active:
        raise AuthFailed("该账号已停用")
    if user.failed_login_count or user.locked_until:
        user.failed_login_count = 0
        user.locked_until = None
        session.flush()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning an unexpired token, or None. The user's role assignments (with
    their schools) come in the same query: every authenticated request resolves its scope from
    them next (`scope.scope_for`)."""
    users = session.scalars(
        select(User).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token), ApiToken.expires_at > clock.now(), User.is_active.is_(True))
        .options(joinedload(User.roles).joinedload(RoleAssignment.school))).unique().all()
    return users[0] if users else None
