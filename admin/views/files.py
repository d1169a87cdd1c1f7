"""Downloading uploaded case documents (pages: /files/<id>; the API shares `send_document`)."""
from __future__ import annotations

from flask import Blueprint, current_app, send_file
from flask_babel import gettext as _
from flask_login import login_required

from workflow.cases.evidence import get_document
from workflow.errors import NotFound

from ..downloads import content_disposition
from ..extensions import db
from ..security import current_scope
from ..storage import current_store

bp = Blueprint("files", __name__)


def send_document(doc_id):
    """Stream a document whose case the current user can see; raise NotFound otherwise.

    Sent as an attachment under the sanitised original name with the type detected at upload,
    never sniffed by the browser. Read from the configured file store: a local file goes out
    with sendfile, a database-stored one streams chunk by chunk.
    """
    doc = get_document(db.session, current_scope(), doc_id)
    store = current_store()
    if not store.exists(db.session, doc.stored_name):
        current_app.logger.error("document %s: stored file %s is missing", doc.id, doc.stored_name)
        raise NotFound(_("文件不存在"))
    source = store.local_path(doc.stored_name) or store.open(db.session, doc.stored_name)
    resp = send_file(source, mimetype=doc.content_type, as_attachment=True,
                     download_name=doc.original_name, max_age=0, etag=doc.sha256)
    if doc.size is not None and not isinstance(source, str):
        resp.content_length = doc.size
    resp.headers["Content-Disposition"] = content_disposition(doc.original_name)  # one safe header
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


@bp.route("/files/<int:doc_id>")
@login_required
def download(doc_id: int):
    """A case document for a logged-in user who can see its case (404 otherwise)."""
    return send_document(doc_id)
