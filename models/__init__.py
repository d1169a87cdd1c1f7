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
from .org import SCHOOL_KINDS, CalendarDay, School, SchoolClass, Term, Village
from .people import PASSWORD_METHOD, ROLE_SCOPE, ROLES, ApiToken, RoleAssignment, User
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
    "SCHOOL_KINDS", "CalendarDay", "School", "SchoolClass", "Term", "Village",
    "PASSWORD_METHOD", "ROLE_SCOPE", "ROLES", "ApiToken", "RoleAssignment", "User",
    "GENDERS", "STUDENT_FLAGS", "STUDENT_STATUSES", "Enrolment", "Guardian", "Student",
    "mask_id_card",
]
