"""SQLAlchemy models. No Flask imports here: the workflow layer and scripts use them directly."""
from .attendance import ATTENDANCE_STATUSES, AttendanceDay, AttendanceRecord
from .base import Base, utcnow
from .cases import (
    DOCUMENT_KINDS,
    PROCESSES,
    RECOVERY_REASONS,
    VISIT_KINDS,
    Case,
    CaseHistory,
    Document,
    Fee,
    GuardianContact,
    LadderPolicy,
    Payment,
    Visit,
    VisitParticipant,
)
from .figures import BASELINE_RULES, EXAM_KINDS, Baseline, ExamScore
from .org import SCHOOL_KINDS, CalendarDay, School, SchoolClass, Term, Village
from .people import PASSWORD_METHOD, ROLE_SCOPE, ROLES, ApiToken, RoleAssignment, User
from .registers import CATCHMENT_STATUSES, HOUSEHOLD_STATUSES, CatchmentChild
from .students import (
    GENDERS,
    STUDENT_FLAGS,
    STUDENT_STATUSES,
    Enrolment,
    Guardian,
    Student,
    mask_id_card,
)

__all__ = [
    "ATTENDANCE_STATUSES", "AttendanceDay", "AttendanceRecord", "Base", "utcnow",
    "DOCUMENT_KINDS", "PROCESSES", "RECOVERY_REASONS", "VISIT_KINDS", "Case", "CaseHistory",
    "Document", "Fee", "GuardianContact", "LadderPolicy", "Payment", "Visit", "VisitParticipant",
    "BASELINE_RULES", "EXAM_KINDS", "Baseline", "ExamScore",
    "SCHOOL_KINDS", "CalendarDay", "School", "SchoolClass", "Term", "Village",
    "PASSWORD_METHOD", "ROLE_SCOPE", "ROLES", "ApiToken", "RoleAssignment", "User",
    "GENDERS", "STUDENT_FLAGS", "STUDENT_STATUSES", "Enrolment", "Guardian", "Student",
    "mask_id_card", "CATCHMENT_STATUSES", "HOUSEHOLD_STATUSES", "CatchmentChild",
]
