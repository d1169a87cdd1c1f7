"""The case page and the student page: what they show, and doing the work through their forms."""
from __future__ import annotations

import os
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from models import Case, CaseHistory, Document, Fee, Payment, Visit
from tests.ui.pages_support import (  # noqa: F401  (fixtures)
    PDF,
    PNG,
    TODAY,
    add_suspension_evidence,
    csrf,
    fire,
    fixed_clock,
    new_suspension,
    submitted_suspension,
    term,
    text_of,
    upload,
)
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.cases.diagram_svg import render_svg
from workflow.processes import REGISTRY

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")
ID_CARD = "110101201605010012"


@pytest.fixture
def student(world, factory, session):
    st = factory.student(world.klass, world.village, name="李小明", id_card_no=ID_CARD)
    session.commit()
    return st


def _page(client, case):
    resp = client.get(f"/cases/{case.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _history_count(session, case) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(CaseHistory).where(CaseHistory.case_id == case.id))


def test_case_page_shows_student_diagram_and_history_in_chinese(world, student, session, login):
    case = new_suspension(session, world, student)
    html = _page(login(world["teacher"]), case)
    text = text_of(html)
    for words in ("休学", "李小明", "三年级1班", "东坡村小", "流程图", "办理记录", "立案", "班主任", "草稿"):
        assert words in text
    assert "110101********0012" in html and ID_CARD not in html
    # the diagram is inline SVG with the current state highlighted
    assert "<svg" in html and 'data-state="draft" aria-current="step"' in html
    # the history row is in school time (+08:00): created 10:00 Beijing time
    assert "2026-10-14 10:00" in text


def test_academic_office_sees_the_full_id_card_number(world, student, session, login):
    case = new_suspension(session, world, student)
    assert ID_CARD in _page(login(world["office"]), case)


def test_submit_with_unmet_guards_is_disabled_and_says_what_is_missing(world, student, session, login):
    case = new_suspension(session, world, student)
    html = _page(login(world["teacher"]), case)
    block = html[html.index('data-transition="submit"'):]
    block = block[:block.index("</form>")]
    assert "需要家长本人到校的记录" in block and "需要上传休学依据" in block
    assert 'data-fire="submit"' in block and "disabled" in block[block.index('data-fire="submit"') - 200:]


def test_teacher_logs_visit_uploads_grounds_and_submits_through_the_page(world, student, session, login, app):
    teacher = world["teacher"]
    case = new_suspension(session, world, student)
    client = login(teacher)
    token = csrf(_page(client, case))
    resp = client.post(f"/cases/{case.id}/visits", data={
        "csrf_token": token, "date": TODAY.isoformat(), "kind": "in_person_at_school",
        "participant_ids": [str(teacher.id)], "guardian_present": "on", "notes": "母亲带来诊断书"})
    assert resp.status_code == 302
    resp = client.post(f"/cases/{case.id}/documents", data={
        "csrf_token": token, "kind": "suspension_grounds", "file": upload(PDF, "诊断证明.pdf")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "材料已上传" in resp.get_data(as_text=True)
    html = _page(client, case)
    assert "诊断证明.pdf" in html and "家长到校面谈" in html
    block = html[html.index('data-transition="submit"'):]
    assert 'data-blocked="submit"' not in block[:block.index("</form>")]
    resp = client.post(f"/cases/{case.id}/transitions/submit", data={
        "csrf_token": token, "version": str(case.version), "start": "2026-10-15", "end": "2027-03-01",
        "comment": "家长本人到校办理"}, follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "已办理「提交」" in body and "已提交" in body
    session.expire_all()
    assert session.get(Case, case.id).state == "submitted"
    assert "家长本人到校办理" in text_of(body)


def test_image_documents_are_previewed_and_pdfs_linked(world, student, session, login):
    case = new_suspension(session, world, student)
    client = login(world["teacher"])
    token = csrf(_page(client, case))
    for kind, data, name in (("other", PNG, "照片.png"), ("suspension_grounds", PDF, "证明.pdf")):
        client.post(f"/cases/{case.id}/documents", data={"csrf_token": token, "kind": kind, "file": upload(data, name)},
                    content_type="multipart/form-data")
    docs = {d.kind: d for d in session.scalars(select(Document).where(Document.case_id == case.id))}
    html = _page(client, case)
    assert f'<img class="evidence-thumb mt-1" src="/files/{docs["other"].id}"' in html
    assert f'href="/files/{docs["suspension_grounds"].id}"' in html
    assert f'src="/files/{docs["suspension_grounds"].id}"' not in html
    assert client.get(f"/files/{docs['other'].id}").data == PNG


def test_a_file_that_is_not_pdf_or_image_is_refused_and_leaves_nothing(world, student, session, login, app):
    case = new_suspension(session, world, student)
    client = login(world["teacher"])
    before = sum(len(files) for _, _, files in os.walk(app.config["UPLOAD_DIR"]))
    resp = client.post(f"/cases/{case.id}/documents", data={
        "csrf_token": csrf(_page(client, case)), "kind": "suspension_grounds",
        "file": upload(b"MZ\x90\x00 not a pdf", "证明.pdf")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert "输入有误" in resp.get_data(as_text=True) and "只接受" in resp.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert sum(len(files) for _, _, files in os.walk(app.config["UPLOAD_DIR"])) == before


def test_stale_version_flashes_409_message_and_writes_nothing(world, student, session, login):
    case = submitted_suspension(session, world, student)
    office = login(world["office"])
    html = _page(office, case)
    stale = case.version
    # someone else changes the case after the page was rendered
    fire(session, world["office"], case, "send_back", comment="材料不清楚")
    case = session.get(Case, case.id)
    state, version, rows = case.state, case.version, _history_count(session, case)
    resp = office.post(f"/cases/{case.id}/transitions/office_approve",
                       data={"csrf_token": csrf(html), "version": str(stale)}, follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "无法执行" in body and "案件已被他人修改，请刷新后重试" in body
    session.expire_all()
    case = session.get(Case, case.id)
    assert (case.state, case.version, _history_count(session, case)) == (state, version, rows)


def test_firing_a_blocked_transition_flashes_the_guard_and_writes_nothing(world, student, session, login):
    case = new_suspension(session, world, student)
    client = login(world["teacher"])
    resp = client.post(f"/cases/{case.id}/transitions/submit", data={
        "csrf_token": csrf(_page(client, case)), "version": str(case.version)}, follow_redirects=True)
    assert "需要家长本人到校的记录" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Case, case.id).state == "draft" and _history_count(session, case) == 1


def test_a_role_that_may_not_fire_gets_a_chinese_403_message(world, student, session, login):
    case = submitted_suspension(session, world, student)
    client = login(world["subject"])
    html = _page(client, case)
    assert 'data-transition="office_approve"' not in html
    resp = client.post(f"/cases/{case.id}/transitions/office_approve", data={
        "csrf_token": csrf(html), "version": str(case.version)}, follow_redirects=True)
    assert "无权操作" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Case, case.id).state == "submitted"


def test_send_back_without_the_required_comment_is_refused(world, student, session, login):
    case = submitted_suspension(session, world, student)
    client = login(world["office"])
    html = _page(client, case)
    block = html[html.index('data-transition="send_back"'):]
    assert "required" in block[:block.index("</form>")]
    resp = client.post(f"/cases/{case.id}/transitions/send_back", data={
        "csrf_token": csrf(html), "version": str(case.version), "comment": "  "}, follow_redirects=True)
    assert "此操作需要填写意见" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Case, case.id).state == "submitted"


def test_submitter_sees_no_approval_button(world, student, session, factory, login):
    """Separation of duties: an office worker who submitted does not see office_approve."""
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "suspension", student.id,
                              {"start": "2026-10-15", "end": "2027-03-01"}, today=TODAY)
    session.commit()
    add_suspension_evidence(session, world, case)
    fire(session, office, case, "submit")
    html = _page(login(office), case)
    assert 'data-transition="office_approve"' not in html
    assert 'data-transition="send_back"' in html


def test_resume_offers_the_classes_of_the_case_school(world, student, session, login):
    case = submitted_suspension(session, world, student)
    for user, name in (("office", "office_approve"), ("principal", "principal_approve"),
                       ("center_office", "center_file")):
        case = fire(session, world[user], case, name)
    html = _page(login(world["office"]), case)
    block = html[html.index('data-transition="resume"'):]
    block = block[:block.index("</form>")]
    assert f'<option value="{world.klass.id}"' in block and f'<option value="{world.klass2.id}"' in block
    assert f'<option value="{world.other_class.id}"' not in block
    assert f'<option value="{world.center_class.id}"' not in block


def test_fees_and_payments_are_shown_in_yuan(world, factory, session, login):
    dropped = factory.student(world.klass, world.village, name="王返校", status="dropped_out")
    session.commit()
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "return", dropped.id,
                              {"class_id": world.klass.id}, today=TODAY)
    session.commit()
    client = login(office)
    html = _page(client, case)
    assert 'data-form="fee"' in html
    token = csrf(html)
    client.post(f"/cases/{case.id}/fees", data={"csrf_token": token, "item": "课本费", "amount_due": "120.50"})
    fee = session.scalars(select(Fee).where(Fee.case_id == case.id)).one()
    client.post(f"/cases/{case.id}/payments", data={"csrf_token": token, "fee_id": str(fee.id), "amount": "100",
                                                    "receipt_no": "R-001"})
    resp = client.post(f"/cases/{case.id}/payments", data={"csrf_token": token, "fee_id": str(fee.id),
                                                           "amount": "50", "receipt_no": "R-002"},
                       follow_redirects=True)
    assert "超过该收费项目尚欠的 20.50 元" in resp.get_data(as_text=True)
    text = text_of(_page(client, case))
    assert "课本费 120.50 元 100.00 元 20.50 元" in text and "R-001" in text
    assert session.scalar(select(func.count()).select_from(Payment)) == 1


def test_visit_participants_are_the_staff_of_the_student(world, student, session, login):
    case = new_suspension(session, world, student)
    html = _page(login(world["teacher"]), case)
    form = html[html.index('data-form="visit"'):]
    form = form[:form.index("</form>")]
    for name in ("teacher", "team", "principal", "office", "liaison"):
        assert f'value="{world[name].id}"' in form
    assert f'value="{world["other_teacher"].id}"' not in form


def test_student_page_offers_new_cases_by_role(world, student, session, login):
    html = login(world["teacher"]).get(f"/students/{student.id}").get_data(as_text=True)
    assert 'data-create="suspension"' in html and 'data-create="transfer_out"' in html
    assert 'data-create="recovery"' not in html  # the teacher may not open a recovery
    # a return is only for a student who left: shown with the reason, no form
    assert 'data-create-blocked="return"' in html


def test_new_case_form_opens_the_case_and_lands_on_its_page(world, student, session, login):
    client = login(world["teacher"])
    html = client.get(f"/students/{student.id}").get_data(as_text=True)
    resp = client.post(f"/students/{student.id}/cases", data={
        "csrf_token": csrf(html), "process": "suspension", "start": "2026-10-20", "end": "2027-02-01",
        "reason": "骨折住院"})
    case = session.scalars(select(Case).where(Case.student_id == student.id)).one()
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/cases/{case.id}")
    assert case.process == "suspension" and case.data["end"] == "2027-02-01"
    again = client.post(f"/students/{student.id}/cases", data={"csrf_token": csrf(html), "process": "suspension"},
                        follow_redirects=True)
    assert "该学生已有未结的同类案件" in again.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_subject_teacher_may_not_open_cases(world, student, session, login):
    client = login(world["subject"])
    html = client.get(f"/students/{student.id}").get_data(as_text=True)
    assert 'id="new-case"' not in html
    resp = client.post(f"/students/{student.id}/cases", data={"csrf_token": csrf(html), "process": "suspension"},
                       follow_redirects=True)
    assert "无权操作" in resp.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_visit_with_a_bad_date_is_refused_with_the_field_named(world, student, session, login):
    case = new_suspension(session, world, student)
    client = login(world["teacher"])
    resp = client.post(f"/cases/{case.id}/visits", data={"csrf_token": csrf(_page(client, case)), "date": "2026-13-01",
                                                         "kind": "home_visit"}, follow_redirects=True)
    # the page names the field by its label, never by its key (workflow.fieldnames)
    assert "字段 「日期」 必须是有效日期" in resp.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Visit)) == 0


@pytest.mark.parametrize("process", sorted(REGISTRY))
def test_every_process_diagram_is_valid_svg_with_each_state_once_and_one_highlighted(process):
    proc = REGISTRY[process]
    current = proc.states[-1]
    svg = ElementTree.fromstring(render_svg(process, current))
    ns = "{http://www.w3.org/2000/svg}"
    states = [g.get("data-state") for g in svg.iter(f"{ns}g")]
    assert sorted(states) == sorted(proc.states)
    highlighted = [g.get("data-state") for g in svg.iter(f"{ns}g") if g.get("aria-current") == "step"]
    assert highlighted == [current]
    labels = "".join(t.text or "" for t in svg.iter(f"{ns}text"))
    assert all((proc.state_labels.get(s) or s) in labels for s in proc.states)


def test_a_return_waiting_on_fees_links_from_its_next_step_to_the_fees_form(world, factory, session, login):
    """The fees form sits below the history, visits and materials: once the paperwork is checked
    the next-step line takes the office straight to it."""
    dropped = factory.student(world.klass, world.village, name="王待缴", status="dropped_out")
    session.commit()
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "return", dropped.id,
                              {"class_id": world.klass.id}, today=TODAY)
    session.commit()
    client = login(office)
    assert 'data-jump="fees"' not in _page(client, case)
    case.state = "paperwork_verified"  # the page as it stands after 核验手续
    session.commit()
    html = _page(client, case)
    step = html[html.index("data-next-step"):]
    step = step[:step.index("</p>")]
    assert 'href="#fees"' in step and "去登记缴费" in step
    assert 'id="fees"' in html
    # with a fee listed, the link opens the payment form itself
    client.post(f"/cases/{case.id}/fees", data={"csrf_token": csrf(html), "item": "课本费", "amount_due": "120.50"})
    html = _page(client, case)
    assert 'href="#payment"' in html and '<details class="mt-2" id="payment" open>' in html
    # paid in full: nothing to jump to; the step left is 结清费用 itself
    fee = session.scalars(select(Fee).where(Fee.case_id == case.id)).one()
    client.post(f"/cases/{case.id}/payments", data={"csrf_token": csrf(html), "fee_id": str(fee.id),
                                                    "amount": "120.50", "receipt_no": "R-9"})
    assert 'data-jump="fees"' not in _page(client, case)


def test_after_signing_the_principal_sees_whose_step_the_case_waits_for(world, student, session, login):
    """An approver with nothing left to do is told where the case went, in either language."""
    case = new_suspension(session, world, student)
    client = login(world["principal"])
    case.state = "approved"  # the page as it stands right after 校长审批
    session.commit()
    html = _page(client, case)
    text = text_of(html)
    assert "等待中心校长、中心校教导主任办理（中心校备案）" in text
    assert "您目前不能对该案件执行任何操作" in text
    client.get("/lang/en")
    english = text_of(_page(client, case))
    assert "Waiting for Center school principal, Center school academic director (Center school filing)" in english
    case.state = "withdrawn"
    case.is_open = False
    session.commit()
    client.get("/lang/zh_CN")
    assert "等待" not in text_of(_page(client, case))


def test_a_child_back_provisionally_reads_so_in_either_language(world, factory, session, login):
    pupil = factory.student(world.klass, world.village, name="王试读", is_provisional=True)
    session.commit()
    client = login(world["office"])
    client.get("/lang/zh_CN")
    assert "在校（随班就读，手续未办完）" in text_of(client.get(f"/students/{pupil.id}").get_data(as_text=True))
    client.get("/lang/en")
    english = text_of(client.get(f"/students/{pupil.id}").get_data(as_text=True))
    assert "(attending provisionally, return formalities not finished)" in english and "（" not in english.split("Enrolment status")[1][:80]


def test_brackets_follow_the_language_around_translated_words(world, student, session, login):
    """"李小明（Male）" read as a Chinese sentence with an English word in it: English pages put
    the translated gender and roles in ASCII brackets, Chinese pages keep 全角括号."""
    case = new_suspension(session, world, student)
    client = login(world["office"])
    client.get("/lang/en")
    english = text_of(_page(client, case))
    gender = "Male" if student.gender == "M" else "Female"
    assert f" ({gender})" in english and f"（{gender}）" not in english
    assert "(Homeroom teacher)" in english or "(Academic office)" in english
    client.get("/lang/zh_CN")
    chinese = text_of(_page(client, case))
    assert "（男）" in chinese or "（女）" in chinese


def test_a_principal_of_another_school_is_named_with_the_school(world, student, session, login, factory):
    """The branch's case lists the center school's own principal beside the branch's: the list
    says which school each "校长" is of, in both languages."""
    factory.user("cp", "principal", school=world.center, name="王校长")
    session.commit()
    case = new_suspension(session, world, student)
    client = login(world["teacher"])
    html = _page(client, case)
    form = text_of(html[html.index('data-form="visit"'):])
    assert "王校长（清水镇中心校校长）" in form
    assert f"{world['principal'].name}（校长）" in form
    client.get("/lang/en")
    form = text_of(_page(client, case).split('data-form="visit"', 1)[1])
    assert "王校长 (Principal, 清水镇中心校)" in form
