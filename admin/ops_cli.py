"""`flask backup` and `flask restore`: one archive holds the database and the uploaded files.

The archive (`.tar.gz`) holds `manifest.json` first, then `database.dump` (PostgreSQL, `pg_dump
-Fc`) or `database.sqlite3` (SQLite's online backup API, safe while the app runs), then
`uploads/<stored name>` for every file of the folder store (files of the database store are rows,
inside the dump). The manifest names the version, the database kind, the store, and the size and
SHA-256 of every member; `restore` checks them all before it touches anything.

`restore` refuses a database that already holds Baoxue's tables unless `--replace` is given, and
a PostgreSQL client older than the server (pg_dump cannot read a newer server).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile

import click
from flask import Flask, current_app
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from . import __version__
from .extensions import db
from .storage import current_store

MANIFEST = "manifest.json"
FORMAT = 1
COPY_CHUNK = 1024 * 1024


def register_ops_cli(app: Flask) -> None:
    """Add `backup` and `restore` to the app's command line."""

    @app.cli.command("backup")
    @click.option("--output", "-o", default=None,
                  help="Archive path (default: instance/backups/baoxue-<UTC time>.tar.gz).")
    def backup(output: str | None):
        """Back up the database and the uploaded files into one archive with a manifest and checksums."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        if output is None:
            folder = os.path.join(current_app.instance_path, "backups")
            os.makedirs(folder, exist_ok=True)
            output = os.path.join(folder, f"baoxue-{stamp}.tar.gz")
        with tempfile.TemporaryDirectory(prefix="baoxue-backup-") as work:
            manifest = make_backup(work, output, stamp)
        click.echo(f"备份完成：{output}（数据库 {manifest['database']}，{len(manifest['uploads'])} 个上传文件）")

    @app.cli.command("restore")
    @click.argument("archive", type=click.Path(exists=True, dir_okay=False))
    @click.option("--replace", is_flag=True, help="Overwrite a database that already holds Baoxue's tables.")
    def restore(archive: str, replace: bool):
        """Restore a `flask backup` archive: checks every checksum, then the database, then the files."""
        with tempfile.TemporaryDirectory(prefix="baoxue-restore-") as work:
            manifest = restore_backup(archive, work, replace=replace)
        click.echo(f"恢复完成：{archive}（{manifest['created_at']} 的备份，版本 {manifest['version']}，"
                   f"{len(manifest['uploads'])} 个上传文件）。请运行 flask db upgrade。")


# --- backup -----------------------------------------------------------------------------------


def make_backup(work: str, output: str, stamp: str) -> dict:
    """Write the archive at `output`; returns its manifest. Raises click.ClickException."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    kind = url.get_backend_name()
    if kind == "postgresql":
        db_name = "database.dump"
        _pg_dump(url, os.path.join(work, db_name))
    elif kind == "sqlite":
        db_name = "database.sqlite3"
        _sqlite_backup(os.path.join(work, db_name))
    else:
        raise click.ClickException(f"不支持备份此类数据库：{kind}")
    store = current_store()
    uploads = []
    if store.kind == "local":
        uploads = list(store.names(db.session))
    members = [(db_name, os.path.join(work, db_name))]
    members += [(f"uploads/{name}", store.local_path(name)) for name in uploads]
    manifest = {
        "format": FORMAT, "app": "baoxue", "version": __version__, "created_at": stamp,
        "database": kind, "database_file": db_name, "file_store": store.kind,
        "uploads": uploads,
        "files": {arc: {"size": os.path.getsize(path), "sha256": _sha256(path)} for arc, path in members},
    }
    manifest_path = os.path.join(work, MANIFEST)
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
    partial = output + ".part"
    try:
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(manifest_path, arcname=MANIFEST)
            for arc, path in members:
                tar.add(path, arcname=arc)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return manifest


def _pg_env(url) -> tuple[str, dict]:
    """A libpq URL without the password, and an environment carrying it (never on the command line)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise click.ClickException(f"找不到 {name}：请安装与数据库服务器同版本的 PostgreSQL 客户端（postgresql-client）")
    return path


def _check_client_version(tool: str) -> None:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout
    client = int("".join(ch for ch in out.split()[-1].split(".")[0] if ch.isdigit()) or 0)
    server = db.session.connection().dialect.server_version_info[0]
    if client < server:
        raise click.ClickException(f"{os.path.basename(tool)} 版本 {client} 低于数据库服务器版本 {server}："
                                   "请安装同版本的 PostgreSQL 客户端")


def _pg_dump(url, target: str) -> None:
    tool = _pg_tool("pg_dump")
    _check_client_version(tool)
    plain, env = _pg_env(url)
    result = subprocess.run([tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
                             f"--dbname={plain}"], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"pg_dump 失败：{result.stderr.strip().splitlines()[-1:] or result.returncode}")


def _sqlite_backup(target: str) -> None:
    # The online backup API copies a consistent snapshot while other connections keep working.
    raw = db.engine.raw_connection()
    try:
        dest = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(dest)
        finally:
            dest.close()
    finally:
        raw.close()


# --- restore ----------------------------------------------------------------------------------


def restore_backup(archive: str, work: str, *, replace: bool) -> dict:
    """Check the archive, then restore the database and the uploads; returns the manifest.
    Raises click.ClickException before writing anything when a check fails."""
    manifest = _unpack(archive, work)
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    kind = url.get_backend_name()
    if manifest["database"] != kind:
        raise click.ClickException(f"备份来自 {manifest['database']} 数据库，当前配置的是 {kind}：不能直接恢复")
    store = current_store()
    if manifest["uploads"] and store.kind != "local":
        raise click.ClickException("备份中的上传文件保存在本地文件夹，当前 FILE_STORE=database：请先用 FILE_STORE=local 恢复")
    existing = set(inspect(db.engine).get_table_names()) & {"users", "cases", "schools"}
    if existing and not replace:
        raise click.ClickException("目标数据库已有保学数据表：确需覆盖请加 --replace（建议先备份当前数据库）")
    db.session.remove()
    db.engine.dispose()
    source = os.path.join(work, manifest["database_file"])
    if kind == "postgresql":
        _pg_restore(url, source)
    else:
        _sqlite_restore(url, source)
    db.engine.dispose()
    if manifest["uploads"]:
        root = current_app.config["UPLOAD_DIR"]
        for name in manifest["uploads"]:
            target = store.path(name)  # refuses a name that would leave the folder
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(work, "uploads", name), target)
        click.echo(f"上传文件已恢复到 {root}")
    return manifest


def _unpack(archive: str, work: str) -> dict:
    try:
        with tarfile.open(archive, "r:*") as tar:
            names = tar.getnames()
            if not names or names[0] != MANIFEST:
                raise click.ClickException("这不是 flask backup 生成的备份文件（缺少 manifest.json）")
            for member in tar.getmembers():
                if not member.isfile() or member.name.startswith("/") or ".." in member.name.split("/"):
                    raise click.ClickException(f"备份文件含有不安全的条目：{member.name}")
            tar.extractall(work, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise click.ClickException(f"无法读取备份文件：{exc}") from None
    with open(os.path.join(work, MANIFEST), encoding="utf-8") as fh:
        manifest = json.load(fh)
    if manifest.get("app") != "baoxue" or manifest.get("format") != FORMAT:
        raise click.ClickException("这不是本版本可以读取的保学备份文件")
    listed = set(manifest["files"]) | {MANIFEST}
    extra = sorted(set(names) - listed)
    if extra:
        raise click.ClickException(f"备份文件含有清单之外的条目：{extra[0]}")
    for arc, expect in manifest["files"].items():
        path = os.path.join(work, arc)
        if not os.path.isfile(path) or os.path.getsize(path) != expect["size"] or _sha256(path) != expect["sha256"]:
            raise click.ClickException(f"校验失败：{arc} 与清单不符，备份文件已损坏")
    return manifest


def _pg_restore(url, source: str) -> None:
    tool = _pg_tool("pg_restore")
    plain, env = _pg_env(url)
    result = subprocess.run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges",
                             "--single-transaction", "--exit-on-error", f"--dbname={plain}", source],
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"pg_restore 失败：{result.stderr.strip().splitlines()[-1:] or result.returncode}")


def _sqlite_restore(url, source: str) -> None:
    path = url.database
    if not path or path == ":memory:":
        raise click.ClickException("内存中的 SQLite 数据库无法恢复")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    src = sqlite3.connect(source)
    try:
        dest = sqlite3.connect(path)
        try:
            src.backup(dest)  # replaces every page of the target, atomically for other readers
        finally:
            dest.close()
    finally:
        src.close()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
