"""The Content-Security-Policy (admin/headers.py) lets our pages and the Flask-Admin pages work:
Chromium loads each page under the real header, every inline event handler on it is fired, and
no CSP violation is reported (issue 11, item 6). A handler or inline script that the policy does
not allow fails here with its text."""
from __future__ import annotations

import pytest

from workflow.cases import engine

from .conftest import TODAY, login

# Collects violations before any page script runs (init scripts are not subject to the CSP), and
# makes the handlers harmless to fire: no print dialog, every confirm() answered "no".
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));
window.print = () => {};
window.confirm = () => false;
"""
# Compile every inline handler of the page without running it (reading the `on...` property
# compiles the attribute, and compiling is what the CSP checks), follow every javascript: link,
# then give the reports a moment to arrive.
FIRE = """async () => {
  for (const el of document.querySelectorAll('*')) {
    for (const attr of [...el.attributes]) {
      if (attr.name.startsWith('on')) void el[attr.name];
    }
  }
  for (const a of document.querySelectorAll('a[href^="javascript:"]')) {
    a.removeAttribute('onclick');
    a.click();
  }
  await new Promise(r => setTimeout(r, 300));
  return window.__csp;
}"""


@pytest.fixture
def pupil(world, factory, session, term):
    st = factory.student(world.klass, world.village, name="安全生", left_behind=True)
    session.commit()
    return st


def _check(page, paths: list[str]) -> dict[str, list[str]]:
    bad = {}
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status < 500, (path, response and response.status)
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, path
        found = page.evaluate(FIRE)
        if found:
            bad[path] = found
    return bad


def test_our_pages_report_no_csp_violation(world, pupil, session, pages):
    teacher = world["teacher"]
    from workflow.access.scope import scope_for

    case = engine.create_case(session, scope_for(session, teacher), teacher, "absence", pupil.id,
                              {"reason": "擅自离校"}, today=TODAY)
    session.commit()
    page = pages()
    page.add_init_script(WATCH)
    assert _check(page, ["/login"]) == {}
    login(page, "admin")
    paths = ["/", "/queue", "/attendance", f"/students/{pupil.id}", f"/cases/{case.id}", "/oversight",
             "/figures", "/figures/ledger", "/registers/catchment", "/registers/ledgers", "/reports/weekly",
             "/reports/notice", "/support", "/settings"]
    assert _check(page, paths) == {}


def test_flask_admin_pages_report_no_csp_violation(world, pupil, session, pages):
    page = pages()
    page.add_init_script(WATCH)
    login(page, "admin")
    paths = ["/admin/", "/admin/student/", f"/admin/student/details/?id={pupil.id}", "/admin/student/new/",
             f"/admin/student/edit/?id={pupil.id}", "/admin/user/", "/admin/user/new/",
             f"/admin/user/edit/?id={world['teacher'].id}", "/admin/school/", "/admin/schoolclass/",
             "/admin/village/", "/admin/term/", "/admin/case/", "/admin/enrolment/", "/admin/ladderpolicy/"]
    assert _check(page, paths) == {}
    page.goto("/lang/en")  # Flask-Admin's handlers carry translated text: the English ones too
    assert _check(page, paths[:6]) == {}
