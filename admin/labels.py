"""Display names for codes (roles, statuses, kinds). The catalogue translates them."""
from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "admin": _l("系统管理员"),
    "county_supervisor": _l("教育局督导"),
    "center_head": _l("中心校长"),
    "center_office": _l("中心校教导主任"),
    "principal": _l("校长"),
    "academic_office": _l("教导处"),
    "homeroom_teacher": _l("班主任"),
    "subject_teacher": _l("科任教师"),
    "team_member": _l("控辍小组成员"),
    "village_liaison": _l("村委联络员"),
}
SCHOOL_KIND_LABELS = {"county": _l("县教育局"), "center": _l("中心校"), "branch": _l("村小/教学点")}
STUDENT_STATUS_LABELS = {
    "incoming": _l("待入学"),
    "active": _l("在校"),
    "suspended": _l("休学"),
    "transferred_out": _l("已转出"),
    "dropped_out": _l("辍学"),
    "graduated": _l("毕业"),
    "deceased": _l("死亡"),
}
GENDER_LABELS = {"M": _l("男"), "F": _l("女")}
FLAG_LABELS = {
    "left_behind": _l("留守儿童"),
    "poor": _l("贫困"),
    "disability": _l("残疾"),
    "learning_difficulty": _l("学困"),
}


def role_label(code: str) -> str:
    return str(ROLE_LABELS.get(code, code))
