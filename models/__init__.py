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
from .checks import PoorHouseholdMember  # noqa: F401  (issue 14: the comparisons' list)
from .figures import BASELINE_RULES, EXAM_KINDS, Baseline, ExamScore
from .ops import StoredFileChunk
from .org import (
    LEVEL_GRADES,
    SCHOOL_KINDS,
    SCHOOL_LEVELS,
    CalendarDay,
    School,
    SchoolClass,
    Term,
    Village,
)
from .people import (
    PASSWORD_METHOD,
    ROLE_SCOPE,
    ROLES,
    ApiToken,
    LoginSession,
    LoginThrottle,
    RoleAssignment,
    User,
)
from .registers import CATCHMENT_STATUSES, HOUSEHOLD_STATUSES, CatchmentChild
from .students import (
    GENDERS,
    STUDENT_FLAGS,
    STUDENT_STATUSES,
    TRACKED_FIELDS,
    Enrolment,
    Guardian,
    Placement,
    Student,
    StudentChange,
    mask_id_card,
)
from .support import (
    AID_KINDS,
    AidGrant,
    FeeItem,
    FeeSchedule,
    HelpSession,
    LearningFile,
    LearningGoal,
    Survey,
    SurveyAnswer,
    SurveyCode,
    SurveyTeacher,
)
from .sweeps import SchoolSweep  # noqa: F401  (table registered on Base.metadata)

__all__ = [
    "ATTENDANCE_STATUSES", "AttendanceDay", "AttendanceRecord", "Base", "utcnow",
    "DOCUMENT_KINDS", "PROCESSES", "RECOVERY_REASONS", "VISIT_KINDS", "Case", "CaseHistory",
    "Document", "Fee", "GuardianContact", "LadderPolicy", "Payment", "Visit", "VisitParticipant",
    "BASELINE_RULES", "EXAM_KINDS", "Baseline", "ExamScore",
    "LEVEL_GRADES", "SCHOOL_KINDS", "SCHOOL_LEVELS", "CalendarDay", "School", "SchoolClass", "Term", "Village",
    "PASSWORD_METHOD", "ROLE_SCOPE", "ROLES", "ApiToken", "LoginSession", "LoginThrottle", "RoleAssignment", "User",
    "GENDERS", "STUDENT_FLAGS", "STUDENT_STATUSES", "Enrolment", "Guardian", "Student",
    "Placement", "StudentChange", "TRACKED_FIELDS", "mask_id_card", "CATCHMENT_STATUSES", "HOUSEHOLD_STATUSES", "CatchmentChild",
    "AID_KINDS", "AidGrant", "FeeItem", "FeeSchedule", "HelpSession", "LearningFile", "LearningGoal",
    "Survey", "SurveyAnswer", "SurveyCode", "SurveyTeacher",
    "StoredFileChunk",
]
