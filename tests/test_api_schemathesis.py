"""Schemathesis against the API's own OpenAPI document, through the WSGI app with a valid token:
generated valid and invalid requests never get a server error, and every answer has a documented
status, content type and body.

Bounded in examples per operation and in time; for a longer exploratory run set
MOTCUA_API_FUZZ_EXAMPLES, MOTCUA_API_FUZZ_SECONDS and MOTCUA_API_FUZZ_RANDOM=1.
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from engine.accounts import issue_token
from tests.conftest import LOADED_AT, PG_URL

EXAMPLES_PER_OPERATION = int(os.environ.get("MOTCUA_API_FUZZ_EXAMPLES", "8"))
TIME_BUDGET_SECONDS = float(os.environ.get("MOTCUA_API_FUZZ_SECONDS", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


def fuzz(operation, mode: GenerationMode, auth: dict, deadline: float, called: dict[str, int]) -> None:
    """Send generated requests to one operation until its examples or its time run out."""

    @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("MOTCUA_API_FUZZ_RANDOM"),
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        label = case.operation.label
        if called.get(label) and time.monotonic() > deadline:
            return
        response = case.call()
        called[label] = called.get(label, 0) + 1
        case.validate_response(response, checks=CHECKS)

    run()


def test_generated_requests_never_get_a_server_error_and_match_the_document(app, backend):
    if backend == "sqlite" and PG_URL:
        pytest.skip("run on PostgreSQL, whose column types refuse more than SQLite's")
    ctx = app.extensions["motcua"]
    auth = {"Authorization": f"Bearer {issue_token(ctx, 'sonv.motcua', 'schemathesis', LOADED_AT)}"}
    client = app.test_client()
    # A few real dossiers, so generated ids and codes sometimes reach existing rows.
    for _ in range(3):
        seeded = client.post(
            "/api/v1/dossiers",
            json={
                "procedure_code": "1.001806",
                "applicant": {"name": "Nguyễn Văn An", "phone": "0912345678"},
            },
            headers=auth,
        )
        assert seeded.status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every operation of the document but the document itself, which schemathesis leaves out.
    document = client.get("/api/v1/openapi.json").get_json()
    declared = sum(len(methods) for methods in document["paths"].values())
    assert len(operations) == declared - 1 >= 17
    # Each operation and mode gets its share of the time, so a slow machine tests every one, less deeply.
    share = TIME_BUDGET_SECONDS / (2 * len(operations))
    called: dict[str, int] = {}

    for operation in operations:
        # An operation without parameters or body has nothing to make invalid.
        raw = operation.definition.raw
        negatable = bool(raw.get("parameters") or raw.get("requestBody"))
        for mode in [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negatable else []):
            fuzz(operation, mode, auth, time.monotonic() + share, called)
    assert set(called) == {operation.label for operation in operations}
