"""The configured file store (`FILE_STORE`: local | database) for views, the API and the CLI."""
from __future__ import annotations

from flask import Flask, current_app

from workflow.storage import FileStore, make_store

EXTENSION_KEY = "baoxue_file_store"


def init_store(app: Flask) -> None:
    """Build the store once per app from FILE_STORE and UPLOAD_DIR."""
    app.extensions[EXTENSION_KEY] = make_store(app.config["FILE_STORE"], app.config["UPLOAD_DIR"])


def current_store() -> FileStore:
    """The app's file store; pass it wherever a service takes `upload_dir`."""
    return current_app.extensions[EXTENSION_KEY]
