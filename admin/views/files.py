"""Downloading uploaded case documents (pages: /files/<id>; the API shares `send_document`)."""
from __future__ import annotations

import os

from flask import Blueprint, current_app, send_file
from flask_babel import gettext as _
from flask_login import login_required

from workflow.cases.evidence import document_path, get_document
from workflow.errors import NotFound

from ..extensions import db
from ..security import current_scope

bp = Blueprint("files", __name__)


def send_document(doc_id):
    """Stream a document whose case the current user can see; raise NotFound otherwise.

    Sent as an attachment under the sanitised original name with the type detected at upload,
    never sniffed by the browser.
    """
    doc = get_document(db.session, current_scope(), doc_id)
    path = document_path(current_app.config["UPLOAD_DIR"], doc)
    if not os.path.isfile(path):
        current_app.logger.error("document %s: stored file %s is missing", doc.id, doc.stored_name)
        raise NotFound(_("文件不存在"))
    resp = send_file(path, mimetype=doc.content_type, as_attachment=True,
                     download_name=doc.original_name, max_age=0, etag=doc.sha256)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


@bp.route("/files/<int:doc_id>")
@login_required
def download(doc_id: int):
    """A case document for a logged-in user who can see its case (404 otherwise)."""
    return send_document(doc_id)
