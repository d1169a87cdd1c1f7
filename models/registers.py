"""Registers (SPEC §5): the catchment register of school-age children (适龄儿童登记造册)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

# 户籍: a household registered in the village, or a family from elsewhere living there.
HOUSEHOLD_STATUSES = ("local", "migrant")
# 就读状态 as the village reports it; the cross-check compares it with the rolls.
CATCHMENT_STATUSES = ("enrolled_here", "enrolled_elsewhere", "deferred", "not_enrolled")


class CatchmentChild(Base):
    """One child of a village's catchment register.

    `id_card_no` is unique in the deployment (a child lives in one village); `student_id` links
    the child to the rolls once the cross-check has matched (or created) the student.
    `destination` is the school or place of a child enrolled elsewhere (流向, 随迁子女).
    """

    __tablename__ = "catchment_children"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    gender: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    id_card_no: Mapped[str | None] = mapped_column(String(18), unique=True)
    household_status: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    destination: Mapped[str | None] = mapped_column(String(120))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    village = relationship("Village")
    student = relationship("Student")

    def __str__(self) -> str:
        return self.name
