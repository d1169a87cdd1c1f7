"""The landing page after login."""
from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import func, select

from models import Case, School, SchoolClass, Student
from workflow import scope as sc

from ..extensions import db
from ..security import current_actor, current_scope

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    """What the user is responsible for: their roles and the size of their scope."""
    scope = current_scope()
    counts = {
        "schools": db.session.scalar(select(func.count()).select_from(School).where(sc.school_filter(scope))),
        "classes": db.session.scalar(select(func.count()).select_from(SchoolClass).where(sc.class_filter(scope))),
        "students": db.session.scalar(
            select(func.count()).select_from(Student).where(sc.student_filter(scope), Student.status == "active")
        ),
        "open_cases": db.session.scalar(
            select(func.count()).select_from(Case).where(sc.case_filter(scope), Case.is_open.is_(True))
        ),
    }
    return render_template("home.html", user=current_actor(), counts=counts)
