"""The landing page after login."""
from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import func, select

from models import Case, School, SchoolClass, Student
from workflow.access import scope as sc

from ..extensions import db
from ..security import current_actor, current_scope

bp = Blueprint("home", __name__)


# Where each role lands after login (the first role of the user found in this order wins).
LANDING = (
    ("admin", "admin.index"),
    ("county_supervisor", "oversight.index"),
    ("center_head", "oversight.index"),
    ("center_office", "oversight.index"),
    ("principal", "queue.index"),
    ("academic_office", "queue.index"),
    ("homeroom_teacher", "queue.index"),
    ("subject_teacher", "queue.index"),
    ("team_member", "queue.index"),
    ("village_liaison", "liaison.index"),
)


@bp.route("/")
@login_required
def index():
    """The page worth seeing first for the user's role; the counts page for anyone else."""
    scope = current_scope()
    for role, endpoint in LANDING:
        if (role == "admin" and scope.is_all or scope.has_role(role)) and endpoint in current_app.view_functions:
            return redirect(url_for(endpoint))
    return summary()


@bp.route("/home/summary")
@login_required
def summary():
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
