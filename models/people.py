"""Users, their scoped role assignments and API tokens."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .base import Base, UTCDateTime, utcnow

ROLES = (
    "admin",
    "county_supervisor",
    "center_head",
    "center_office",
    "principal",
    "academic_office",
    "homeroom_teacher",
    "subject_teacher",
    "team_member",
    "village_liaison",
)
# Which scope column each role is bound to (SPEC §2).
ROLE_SCOPE = {
    "admin": None,
    "county_supervisor": "school",
    "center_head": "school",
    "center_office": "school",
    "principal": "school",
    "academic_office": "school",
    "homeroom_teacher": "class",
    "subject_teacher": "class",
    "team_member": "school",
    "village_liaison": "village",
}

# Tests lower the cost; production keeps werkzeug's default (scrypt).
PASSWORD_METHOD = {"method": "scrypt"}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, **PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def role_codes(self) -> set[str]:
        return {r.role for r in self.roles}

    # Flask-Login protocol without importing Flask.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __str__(self) -> str:
        return f"{self.name} ({self.username})"


class RoleAssignment(Base):
    """One role held by a user, bound to a school, a class or a village (SPEC §2)."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)

    user: Mapped[User] = relationship(back_populates="roles")
    school = relationship("School")
    klass = relationship("SchoolClass")
    village = relationship("Village")

    def __str__(self) -> str:
        target = self.school or self.klass or self.village
        return f"{self.role}@{target}" if target else self.role


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginSession(Base):
    """One signed-in browser session, held server-side: the cookie carries only a random id whose
    SHA-256 is stored here. Logging out, a password change or a deactivation deletes the row, so a
    copied cookie stops working at once."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Login attempts counted per key: "pair:<address>|<username>" (progressive delay) or
    "addr:<address>" (a cap over all usernames). Written only by single atomic statements
    (workflow.access.accounts), never read-modify-write."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # the start of the counting window: a window older than the policy's starts over
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # the attempt before the latest one, and the latest: the delay runs from the one before
    previous_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
