"""What each input field is called, for people: the one table of field labels.

A refusal names the field at fault by its key (`data.destination_school_id`, `amount_due`) in
`details.field` only, for integrators. Its message says what a person calls the field: the
services write "转入学校", "月份", "第 2 条复核结论". The one exception is the generic shape
check of a request (`workflow.validation`: "字段 data.end 必须是有效日期…", "未知字段：…"),
whose message names the key the client sent, the only name a malformed request has. The pages
say what the field is: the case forms label their inputs from `FIELD_LABELS`, and a refused
form's message goes through `page_message`, which puts the label where such a message named
the key. So no page shows a field's key, whichever check wrote the message.
"""
from __future__ import annotations

import re

from workflow.errors import N_, DomainError, Msg

# key (without the `data.` / `student.` prefix or a list index) -> its Chinese label (N_: the
# catalogue has the English). Keys of the process data specs, the evidence forms and the
# transfer-in form.
FIELD_LABELS = {
    # process data (T.data_spec, Process.create_data_spec)
    "start": N_("休学开始日期"),
    "end": N_("休学结束日期"),
    "reason": N_("原因"),
    "class_id": N_("班级"),
    "credited_user_ids": N_("记功人员"),
    "responsible_user_ids": N_("责任人"),
    "destination_school_id": N_("转入学校（本系统内）"),
    "destination_school": N_("转入学校名称"),
    "destination_region": N_("流向地区"),
    "transfer_in_case_id": N_("对应的转入案件"),
    "case_id": N_("新开的休学或转出案件"),
    "reason_category": N_("原因类别"),
    "notes": N_("备注"),
    "note": N_("说明"),
    "village_persons": N_("村里的负责人"),
    "measures": N_("帮扶措施"),
    "origin_school": N_("原学校"),
    "differences": N_("核实差异"),
    "resolutions": N_("处理结果"),
    "school_id": N_("学校"),
    "source": N_("来源"),
    "kind": N_("类型"),
    "list_entry": N_("名单条目"),
    "date": N_("日期"),
    "comment": N_("意见"),
    "version": N_("案件版本"),
    "pending_end": N_("申请延长至"),
    "converted_case_id": N_("转为的案件"),
    # a case's fees (workflow.cases.serialize.submitted_data)
    "fees_due": N_("应缴费用合计"),
    "fees_paid": N_("已缴"),
    "fees_outstanding": N_("尚欠"),
    # evidence forms
    "participant_ids": N_("参加人员"),
    "guardian_present": N_("家长是否在场"),
    "outcome": N_("结果"),
    "other_participants": N_("其他参加人员"),
    "photo": N_("照片"),
    "file": N_("文件"),
    "item": N_("收费项目"),
    "amount_due": N_("应缴金额"),
    "fee_id": N_("收费项目"),
    "amount": N_("金额"),
    "receipt_no": N_("收据号"),
    "contacted_at": N_("联系时间"),
    "channel": N_("联系方式"),
    # a new student (transfer-in)
    "student_id": N_("学生"),
    "name": N_("姓名"),
    "gender": N_("性别"),
    "birth_date": N_("出生日期"),
    "village_id": N_("户籍村"),
    "guardians": N_("监护人"),
    "relation": N_("与学生关系"),
    "phone": N_("电话"),
}

_PREFIX = re.compile(r"^(?:data\.|student\.)+")
_INDEX = re.compile(r"\[\d+\]")


def field_key(field: str) -> str:
    """`data.student.guardians[0].phone` -> `phone`: the key the label table knows."""
    return _INDEX.sub("", _PREFIX.sub("", field)).rsplit(".", 1)[-1]


def field_label(field: str) -> str | None:
    """The Chinese label of a field (any prefix or list index ignored), or None if unknown."""
    return FIELD_LABELS.get(field_key(field)) if isinstance(field, str) else None


def page_message(exc: DomainError) -> Msg | str:
    """The error's message as a page shows it: where it names the field of `details.field` by
    its key, by its label instead ("字段 data.end 必须是…" -> "字段 「休学结束日期」 必须是…").

    A message built from a catalogue id with a `name` value (workflow.validation) keeps its id,
    with the label as a translatable value; a message written as plain text (the evidence
    services' "字段 amount_due …") gets the label written in. Unknown fields are left as they are.
    """
    msg = getattr(exc, "msg", exc.message)
    field = (exc.details or {}).get("field")
    label = field_label(field) if field else None
    if label is None:
        return msg
    quoted = Msg(N_("「%(label)s」"), label=Msg(label))
    params = getattr(msg, "params", {})
    if params.get("name") == field and not getattr(msg, "parts", ()):
        return Msg(msg.msgid, **{**params, "name": quoted})
    text = str.__str__(msg) if isinstance(msg, Msg) else str(msg)
    if field in text:
        return text.replace(field, str(quoted), 1)
    return msg
