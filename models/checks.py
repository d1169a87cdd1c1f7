"""The list of formerly poor households (脱贫户名单, SPEC §5), imported from .xlsx for the comparisons."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class PoorHouseholdMember(Base):
    """One child of a formerly poor household, as the county's list names it, for a center
    school's catchment. A new import of the list replaces the center's rows."""

    __tablename__ = "poor_household_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    head_name: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(60))
    id_card_no: Mapped[str | None] = mapped_column(String(18), index=True)
    village: Mapped[str | None] = mapped_column(String(60))
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
