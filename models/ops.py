"""Running the service: uploaded files kept in the database."""
from __future__ import annotations

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class StoredFileChunk(Base):
    """One piece (at most workflow/storage.py:DB_CHUNK bytes) of an uploaded file kept in the
    database store. A file is the rows of its `name` in `seq` order; it is written and read one
    chunk at a time, so a 10 MB scan never sits in memory whole."""

    __tablename__ = "stored_file_chunks"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
