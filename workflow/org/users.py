"""User accounts: create, change, reset the password of, deactivate, grant roles (SPEC §2
"who may grant what"). The JSON API (`POST /api/v1/users`, `PATCH /api/v1/users/{id}`) and the
档案管理 user screen call these same functions, so both follow one rule.

Checks, in SPEC §3's order: the account out of the caller's scope → NotFound (404); malformed
values → Invalid (422, naming the field); a role bound to an id the caller cannot see → NotFound
naming the field; the caller may not manage this account or grant this role
(workflow.access.permissions.may_edit_user / may_grant) → Forbidden (403); a taken username →
Conflict "duplicate". They flush, never commit. A new password or a deactivation ends the
account's sessions and API tokens at once (workflow.access.accounts).
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import ROLE_SCOPE, ROLES, RoleAssignment, School, SchoolClass, User, Village
from workflow.access import accounts
from workflow.access.permissions import may_grant, require_edit_user
from workflow.access.scope import ROLE_NAMES, Scope, get_in_scope
from workflow.errors import N_, NAME_SEP, Conflict, Forbidden, Msg, invalid_field
from workflow.org.services import SCHOOL_KIND_NAMES
from workflow.org.services import _load as load_in_scope
from workflow.validation import required_text

log = logging.getLogger("baoxue.security")

# Which kind of school each school-bound role must be bound to.
ROLE_SCHOOL_KINDS = {
    "county_supervisor": ("county",),
    "center_head": ("center",),
    "center_office": ("center",),
    "principal": ("center", "branch"),
    "academic_office": ("center", "branch"),
    "team_member": ("center", "branch"),
}
_SCOPE_FIELDS = {"school": "school_id", "class": "class_id", "village": "village_id"}
_MODELS = {"school_id": School, "class_id": SchoolClass, "village_id": Village}
# A role item carrying an id its role is not bound to, or lacking the one it is bound to.
_NOT_BOUND = {"school_id": N_("角色“%(role)s”不绑定学校，请留空"), "class_id": N_("角色“%(role)s”不绑定班级，请留空"),
              "village_id": N_("角色“%(role)s”不绑定村，请留空")}
_NEEDS = {"school_id": N_("角色“%(role)s”必须选择学校"), "class_id": N_("角色“%(role)s”必须选择班级"),
          "village_id": N_("角色“%(role)s”必须选择村")}

Grant = tuple[str, int | None, int | None, int | None]  # (role, school_id, class_id, village_id)


def check_role_shape(i: int, item) -> Grant:
    """One role item {role, school_id?, class_id?, village_id?} as a Grant, or Invalid naming
    `roles[i]...`: the item carries exactly the id its role is bound to (models.ROLE_SCOPE)."""
    prefix = f"roles[{i}]"
    if not isinstance(item, dict):
        raise invalid_field(prefix, N_("字段 %(name)s 必须是对象"), name=prefix)
    unknown = sorted(set(item) - {"role", "school_id", "class_id", "village_id"})
    if unknown:
        raise invalid_field(f"{prefix}.{unknown[0]}", N_("未知字段：%(name)s"), name=f"{prefix}.{unknown[0]}")
    role = item.get("role")
    if role not in ROLES:
        raise invalid_field(f"{prefix}.role", N_("第 %(n)d 个角色未知，须为以下之一：%(choices)s"), n=i + 1,
                            choices=", ".join(ROLES))
    ids = {k: item.get(k) for k in ("school_id", "class_id", "village_id")}
    for k, v in ids.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise invalid_field(f"{prefix}.{k}", N_("字段 %(name)s 必须是整数"), name=f"{prefix}.{k}")
    wanted = _SCOPE_FIELDS.get(ROLE_SCOPE[role])
    for k, v in ids.items():
        if k != wanted and v is not None:
            raise invalid_field(f"{prefix}.{k}", _NOT_BOUND[k], role=ROLE_NAMES[role])
    if wanted is not None and ids[wanted] is None:
        raise invalid_field(f"{prefix}.{wanted}", _NEEDS[wanted], role=ROLE_NAMES[role])
    return role, ids["school_id"], ids["class_id"], ids["village_id"]


def check_roles(session: Session, scope: Scope, roles) -> list[Grant]:
    """Check a whole list of role items: shape (Invalid), the ids exist in the caller's scope
    (NotFound naming the field), each school role on the right kind of school (Invalid), and the
    caller may grant each (Forbidden naming `roles[i]`). Returns the distinct grants in order."""
    if not isinstance(roles, list) or not roles:
        raise invalid_field("roles", N_("字段 roles 至少需要一个角色"))
    shaped = [check_role_shape(i, item) for i, item in enumerate(roles)]
    for i, (role, *ids) in enumerate(shaped):
        for key, value in zip(("school_id", "class_id", "village_id"), ids, strict=True):
            if value is None:
                continue
            obj = load_in_scope(session, scope, _MODELS[key], value, f"roles[{i}].{key}")
            kinds = ROLE_SCHOOL_KINDS.get(role)
            if key == "school_id" and kinds and obj.kind not in kinds:
                raise invalid_field(f"roles[{i}].school_id", N_("角色“%(role)s”须绑定到%(kinds)s"),
                                    role=ROLE_NAMES[role], kinds=Msg.join(NAME_SEP, [SCHOOL_KIND_NAMES[x] for x in kinds]))
    for i, grant in enumerate(shaped):
        if not may_grant(session, scope, *grant):
            raise Forbidden(N_("您只能授予低于您本人最高角色、且在您管辖范围内的角色（%(role)s）"),
                            details={"field": f"roles[{i}]"}, role=ROLE_NAMES[grant[0]])
    return list(dict.fromkeys(shaped))  # the same grant twice adds nothing


def _actor(session: Session, scope: Scope) -> User | None:
    return session.get(User, scope.user_id) if scope.user_id is not None else None


def create_user(session: Session, scope: Scope, *, username: str, password: str, name: str,
                roles: list[dict]) -> User:
    """Create an active user with one or more scoped roles (`check_roles`), the password passing
    the policy (workflow.access.accounts.password_problem). Raises Invalid, NotFound (roles[i].…),
    Forbidden, Conflict "duplicate" (username taken). Grants are logged on `baoxue.security`."""
    username = required_text("username", username, 80)
    name = required_text("name", name, 80)
    accounts.check_password_policy(password, username)
    grants = check_roles(session, scope, roles)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Conflict(N_("用户名“%(username)s”已被使用"), code="duplicate", details={"field": "username"},
                       username=username)
    user = User(username=username, name=name, is_active=True)
    user.set_password(password)
    for role, school_id, class_id, village_id in grants:
        user.roles.append(RoleAssignment(role=role, school_id=school_id, class_id=class_id, village_id=village_id))
    session.add(user)
    session.flush()
    actor = _actor(session, scope)
    log.info("user created: user=%r roles=%s by=%r", username, [g[0] for g in grants],
             actor.username if actor else None)
    return user


def grant_key(r: RoleAssignment) -> Grant:
    return (r.role, r.school_id, r.class_id, r.village_id)


def set_roles(session: Session, scope: Scope, user: User, grants: list[Grant]) -> None:
    """Replace `user`'s roles by `grants` (already checked by `check_roles`): the rows of kept
    grants stay, the others are removed or added. Logged on `baoxue.security`. Flushes."""
    wanted = dict.fromkeys(grants)
    before = {grant_key(r) for r in user.roles}
    for r in list(user.roles):
        if grant_key(r) not in wanted:
            user.roles.remove(r)
    for g in wanted:
        if g not in before:
            user.roles.append(RoleAssignment(role=g[0], school_id=g[1], class_id=g[2], village_id=g[3]))
    session.flush()
    if set(wanted) != before:
        actor = _actor(session, scope)
        log.info("roles changed: user=%r granted=%s removed=%s by=%r", user.username,
                 sorted(g[0] for g in set(wanted) - before), sorted(g[0] for g in before - set(wanted)),
                 actor.username if actor else None)


_UNSET = object()


def update_user(session: Session, scope: Scope, user_id, *, name=_UNSET, password=_UNSET,
                is_active=_UNSET, roles=_UNSET) -> User:
    """Change an account (`PATCH /api/v1/users/{id}`): any of name, password, is_active, roles.

    The account must be in the caller's scope (NotFound) and one the caller may manage
    (permissions.may_edit_user: all its roles ranked strictly below the caller's highest role
    and within the caller's scope; Forbidden), and every new role grantable (`check_roles`).
    A new password (policy: accounts.password_problem) or `is_active: false` ends the account's
    sessions and tokens at once. Raises NotFound, Invalid, Forbidden."""
    user = get_in_scope(session, scope, User, user_id)
    if name is not _UNSET:
        name = required_text("name", name, 80)
    if password is not _UNSET:
        accounts.check_password_policy(password, user.username)
    if is_active is not _UNSET and not isinstance(is_active, bool):
        raise invalid_field("is_active", N_("字段 is_active 必须是 true 或 false"))
    if roles is not _UNSET:
        for i, item in enumerate(roles if isinstance(roles, list) else []):
            check_role_shape(i, item)
    require_edit_user(session, scope, user)
    grants = check_roles(session, scope, roles) if roles is not _UNSET else None
    actor = _actor(session, scope)
    if name is not _UNSET:
        user.name = name
    if grants is not None:
        set_roles(session, scope, user, grants)
    if password is not _UNSET:
        accounts.set_password(session, user, password, by=actor)
    if is_active is not _UNSET:
        accounts.set_active(session, user, is_active, by=actor)
    session.flush()
    return user
