"""Flask-Admin (档案管理): one record screen per model over one scoped base class (`base`),
grouped by area; `init_admin` wires them into the app."""
from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from models import (
    Baseline,
    Case,
    CatchmentChild,
    Enrolment,
    ExamScore,
    LadderPolicy,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)

from ..extensions import db
from .base import ScopedIndexView
from .cases import CaseView, LadderPolicyView
from .figures import BaselineView, ExamScoreView
from .org import EnrolmentView, SchoolClassView, SchoolView, StudentView, TermView, UserView, VillageView
from .registers import CatchmentChildView

# --- wiring -------------------------------------------------------------------------------------


def init_admin(app: Flask) -> Admin:
    """Create the Admin for this app (inside the factory) and register the views."""
    admin = Admin(app, name="保学",
                  theme=Bootstrap4Theme(swatch=app.config["FLASK_ADMIN_SWATCH"], fluid=True,
                                        base_template="admin/baoxue_base.html"),
                  index_view=ScopedIndexView(name=_l("档案管理"), url="/admin"))
    admin.add_link(MenuLink(name=_l("首页"), url="/"))
    admin.add_view(SchoolView(School, db, name=_l("学校")))
    admin.add_view(VillageView(Village, db, name=_l("村")))
    admin.add_view(SchoolClassView(SchoolClass, db, name=_l("班级")))
    admin.add_view(UserView(User, db, name=_l("用户")))
    admin.add_view(StudentView(Student, db, name=_l("学生")))
    admin.add_view(TermView(Term, db, name=_l("校历")))
    admin.add_view(EnrolmentView(Enrolment, db, name=_l("学籍记录")))
    admin.add_view(CaseView(Case, db, name=_l("案件")))
    admin.add_view(LadderPolicyView(LadderPolicy, db, name=_l("防辍阶梯")))
    admin.add_view(BaselineView(Baseline, db, name=_l("基数")))
    admin.add_view(ExamScoreView(ExamScore, db, name=_l("考试成绩")))
    admin.add_view(CatchmentChildView(CatchmentChild, db, name=_l("适龄儿童登记")))
    return admin
