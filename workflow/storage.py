"""Where uploaded files live: a folder on this host, or rows in the database all hosts share.

The evidence service (workflow/cases/evidence.py) checks an upload while streaming it into a
temporary file (`FileStore.temp_file`), then hands the checked file to the store under a random
name (`FileStore.put`); downloads read it back with `FileStore.open`. Nothing else knows which
store is in use; the app picks one from configuration (`FILE_STORE`, admin/storage.py).

- `LocalStore`: `<root>/<2 hex>/<32 hex>.<ext>`; the temporary file sits in the same directory
  and is renamed into place. A rename is not transactional, so the path is remembered in
  `session.info["pending_files"]` and deleted if the transaction does not commit (the session
  events in workflow/cases/evidence.py).
- `DatabaseStore`: rows of `stored_file_chunks` (`DB_CHUNK` bytes each), inserted one chunk at a
  time inside the request's transaction, so a rollback removes them with everything else and a
  10 MB scan is never held in memory twice; read back one chunk per query on a connection of its
  own, so a download streams.
"""
from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from models import StoredFileChunk

PENDING_KEY = "pending_files"
DB_CHUNK = 256 * 1024
COPY_CHUNK = 64 * 1024


class FileStore(Protocol):
    """What the evidence service and the downloads need from a place that keeps files."""

    kind: str

    def temp_file(self, name: str) -> tuple[int, str]:
        """A new temporary file (fd, path) to stream an upload into before it is checked."""

    def put(self, session: Session, name: str, tmp_path: str) -> None:
        """Keep the checked temporary file under `name` (consumes tmp_path); undone by a rollback."""

    def exists(self, session: Session, name: str) -> bool:
        """Whether a file of that name is kept."""

    def open(self, session: Session, name: str) -> BinaryIO:
        """A readable stream of the file; the caller closes it."""

    def local_path(self, name: str) -> str | None:
        """The file's path on this host (served with sendfile), or None for the database store."""

    def names(self, session: Session) -> Iterator[str]:
        """Every kept file name (the backup)."""


class LocalStore:
    """Files in a folder of this host (the default; one app host, or a shared mount)."""

    kind = "local"

    def __init__(self, root: str):
        self.root = root

    def path(self, name: str) -> str:
        """Absolute path of a stored name; refuses a name that would leave the folder (FileNotFoundError)."""
        root = os.path.realpath(self.root)
        path = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, path]) != root:
            raise FileNotFoundError(name)
        return path

    def temp_file(self, name: str) -> tuple[int, str]:
        subdir = os.path.dirname(os.path.join(self.root, name))
        os.makedirs(subdir, exist_ok=True)
        return tempfile.mkstemp(dir=subdir, prefix=".upload-", suffix=".part")

    def put(self, session: Session, name: str, tmp_path: str) -> None:
        final = os.path.join(self.root, name)
        os.replace(tmp_path, final)
        session.info.setdefault(PENDING_KEY, []).append(final)

    def exists(self, session: Session, name: str) -> bool:
        try:
            return os.path.isfile(self.path(name))
        except FileNotFoundError:
            return False

    def open(self, session: Session, name: str) -> BinaryIO:
        return open(self.path(name), "rb")

    def local_path(self, name: str) -> str | None:
        return self.path(name)

    def names(self, session: Session) -> Iterator[str]:
        for folder, _dirs, files in os.walk(self.root):
            for f in sorted(files):
                if not f.startswith(".upload-"):
                    yield os.path.relpath(os.path.join(folder, f), self.root).replace(os.sep, "/")


class DatabaseStore:
    """Files as chunked rows of the database every app host shares (and backs up)."""

    kind = "database"

    def temp_file(self, name: str) -> tuple[int, str]:
        return tempfile.mkstemp(prefix="baoxue-upload-", suffix=".part")

    def put(self, session: Session, name: str, tmp_path: str) -> None:
        try:
            with open(tmp_path, "rb") as fh:
                seq = 0
                while chunk := fh.read(DB_CHUNK):
                    # one INSERT per chunk: only one chunk is in memory at a time
                    session.execute(insert(StoredFileChunk).values(name=name, seq=seq, data=chunk))
                    seq += 1
        finally:
            _unlink(tmp_path)

    def exists(self, session: Session, name: str) -> bool:
        return session.scalar(select(StoredFileChunk.seq).where(StoredFileChunk.name == name).limit(1)) is not None

    def open(self, session: Session, name: str) -> BinaryIO:
        return io.BufferedReader(ChunkReader(session.get_bind(), name), buffer_size=DB_CHUNK)

    def local_path(self, name: str) -> str | None:
        return None

    def names(self, session: Session) -> Iterator[str]:
        yield from session.scalars(select(StoredFileChunk.name).distinct().order_by(StoredFileChunk.name))

    def delete(self, session: Session, name: str) -> None:
        session.execute(delete(StoredFileChunk).where(StoredFileChunk.name == name))


class ChunkReader(io.RawIOBase):
    """Reads a database-stored file one chunk (one query) at a time on its own connection, which
    outlives the request's transaction while the response streams; closed at the end."""

    def __init__(self, engine: Engine, name: str):
        self.engine, self.name = engine, name
        self.conn = None
        self.seq = 0
        self.pending = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.done:
            if self.conn is None:
                self.conn = self.engine.connect()
            data = self.conn.execute(
                select(StoredFileChunk.data).where(StoredFileChunk.name == self.name,
                                                   StoredFileChunk.seq == self.seq)
            ).scalar()
            self.conn.rollback()  # end the read transaction between chunks
            if data is None:
                self.done = True
            else:
                self.pending = bytes(data)
                self.seq += 1
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        super().close()


def make_store(kind: str, upload_dir: str) -> FileStore:
    """The store a configuration names: "local" (the folder upload_dir) or "database"."""
    if kind == "database":
        return DatabaseStore()
    if kind == "local":
        return LocalStore(upload_dir)
    raise ValueError(f"unknown file store: {kind}")


def as_store(where: FileStore | str) -> FileStore:
    """A store given as itself, or as the folder of a local store (the demo and older callers)."""
    return LocalStore(where) if isinstance(where, (str, os.PathLike)) else where


def copy_stream(src: BinaryIO, dst: BinaryIO) -> int:
    """Copy in COPY_CHUNK pieces; the number of bytes copied."""
    total = 0
    while chunk := src.read(COPY_CHUNK):
        dst.write(chunk)
        total += len(chunk)
    return total


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
