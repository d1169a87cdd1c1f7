"""Personal numbers as a user may see them (SPEC §1): the ID-card number and the 全国学籍号 are
shown in full only to the roles `workflow.access.permissions.sees_full_id_card` names, masked as
first 6 + last 4 digits to everyone else. The 全国学籍号 usually is "G" + the child's ID-card
number, so masking only the ID number would give it away in the next column.

Every reader of a student's 学籍号 (the JSON API, the student's change history, the 档案管理
list, details, edit form and export) goes through `student_no_as_seen_by`.
"""
from __future__ import annotations

from models import Student, mask_id_card
from workflow.access.permissions import sees_full_id_card
from workflow.access.scope import Scope

# The national student number's common form: "G" + the 18-character ID-card number.
_G_FORM_LENGTH = 19


def mask_student_no(value: str | None) -> str | None:
    """A 学籍号 masked like an ID-card number: "G" + the ID number masked (first 6 + last 4) for
    the "G" + ID form, else first 6 + last 4 of the whole number (all starred up to 10 characters)."""
    if not value:
        return value
    if len(value) == _G_FORM_LENGTH and value[0] in "Gg":
        return value[0] + mask_id_card(value[1:])
    return mask_id_card(value)


def student_no_as_seen_by(scope: Scope, student: Student) -> str | None:
    """The student's 学籍号 in full, or masked (`mask_student_no`), as this user may see it."""
    if sees_full_id_card(scope, student):
        return student.student_no
    return mask_student_no(student.student_no)
