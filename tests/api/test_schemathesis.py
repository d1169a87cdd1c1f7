"""Schemathesis over /api/v1/openapi.json (issue 11): every operation, a fixed number of
derandomized examples, as admin (who may call everything) and as a homeroom teacher. No answer
is a server error, every answer's status is one the description declares and its body matches
the declared schema.

The module builds its own township once (module_session) and lets the generated writes land in
it; the tables are emptied at the module's end, so the rest of the suite never sees them.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from admin.api.openapi import build_spec
from tests.factories import Factory, build_world
from workflow.access.accounts import issue_token

# Examples per operation and user, half valid by the schema and half not: 2 users x ~50
# operations x EXAMPLES stays well under 3 minutes on SQLite and PostgreSQL, yet reaches the
# hostile values (huge integers, NUL, lone surrogates, wrong types) schemathesis tries first.
EXAMPLES = 20
USERS = ("admin", "teacher")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@pytest.fixture(scope="module")
def demo_tokens(module_session):
    """A small township (tests/factories.py:build_world: a county, two centers, branches,
    villages, classes, a user per role) with a few students, and a token per tested user. Built
    with the factories rather than the demo command, so the test does not move with the demo."""
    factory = Factory(module_session)
    world = build_world(factory)
    for klass in (world.klass, world.klass2, world.other_class):
        for _ in range(3):
            factory.student(klass, world.village if klass is not world.other_class else world.other_village)
    tokens = {name: issue_token(module_session, world[name])[0] for name in USERS}
    module_session.commit()
    return tokens


@pytest.fixture(autouse=True)
def _ctx(module_session):
    """Replaces the conftest's emptying after each test: the generated calls share one demo."""
    yield
    module_session.rollback()


@pytest.fixture(scope="module")
def api_schema(app, demo_tokens):
    """The description as served, loaded by schemathesis from the in-process app."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # any code point, lone surrogates included (the default keeps to encodable UTF-8), and NUL
    schema.config.generation.codec = None
    schema.config.generation.allow_x00 = True
    return schema


# Collected from the same description the app serves (the served one is what the test uses).
# `DELETE /tokens/current` revokes the very token the run calls with (every later operation
# would only see 401): tests/api/test_org_auth.py covers it.
SELF_REVOKING = {("DELETE", "/api/v1/tokens/current")}
OPERATIONS = [(method.upper(), path) for path, ops in build_spec()["paths"].items() for method in ops
              if (method.upper(), path) not in SELF_REVOKING]


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_error_and_every_answer_as_described(api_schema, app, demo_tokens, username, method, path):
    operation = api_schema.find_operation_by_label(f"{method} {path}")
    headers = {"Authorization": f"Bearer {demo_tokens[username]}"}

    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE)))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case):
        client = app.test_client()  # a fresh flask.g per request (tests/conftest.py)
        case.call_and_validate(session=client, headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_coverage_cases_no_server_error_and_every_answer_as_described(api_schema, app, demo_tokens, method, path):
    """Schemathesis's deterministic coverage cases (boundary values, wrong types, missing and
    unknown fields) of every operation, as admin."""
    operation = api_schema.find_operation_by_label(f"{method} {path}")
    headers = {"Authorization": f"Bearer {demo_tokens['admin']}"}
    cases = api_schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                           generation_config=api_schema.config.generation)
    sent = 0
    for case in cases:
        case.call_and_validate(session=app.test_client(), headers=headers, checks=CHECKS)
        sent += 1
    assert sent, "schemathesis generated no coverage case"
