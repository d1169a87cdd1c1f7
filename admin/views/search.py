"""The search box of every staff page: find a child by name, 学籍号 or ID-card number among the
students the user may see (workflow/org/search.py), numbers shown as the user may see them."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required

from workflow.access.masking import student_no_as_seen_by
from workflow.org.search import MAX_QUERY, find_students

from ..extensions import db
from ..labels import GENDER_LABELS, STUDENT_STATUS_LABELS
from ..security import current_scope
from .cases import student_id_card

bp = Blueprint("search", __name__)


@bp.route("/search")
@login_required
def index():
    """学生查询: the matching students in scope, each linking to the student page."""
    query = (request.args.get("q") or "").strip()[:MAX_QUERY]
    scope = current_scope()
    students, more = find_students(db.session, scope, query)
    rows = [{"student": st, "student_no": student_no_as_seen_by(scope, st), "id_card": student_id_card(st)}
            for st in students]
    return render_template("search/results.html", query=query, rows=rows, more=more,
                           status_labels=STUDENT_STATUS_LABELS, gender_labels=GENDER_LABELS)
