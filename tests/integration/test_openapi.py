"""docs/openapi.json describes every /api/ route the code serves, and only those; every error
it documents has the one error shape; bad input to any route never gets a 500, always the error
shape, and always a status the description lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_web.api.app import all_routes

SPEC = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
ERROR_REF = "#/components/schemas/Error"
OPERATIONS = [(path, method) for path, ops in SPEC["paths"].items() for method in ops]


def _code_routes() -> set[tuple[str, str]]:
    out = set()
    for route in all_routes():
        for method in (route.methods or set()) - {"HEAD"}:
            out.add((route.path, method.lower()))
    return out


def test_every_route_is_described_and_nothing_else():
    assert set(OPERATIONS) == _code_routes()


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_documented_error_has_the_error_shape(path, method):
    responses = SPEC["paths"][path][method]["responses"]
    assert "200" in responses
    for status, response in responses.items():
        if int(status) >= 400:
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (path, method, status)
    assert SPEC["paths"][path][method]["summary"]


def _concrete(path: str) -> str:
    return path.replace("{user_id}", "00000000-0000-0000-0000-000000000000").replace(
        "{event_id}", "evt_nope").replace(
        "{project_id}", "00000000-0000-0000-0000-000000000000")


BAD_BODIES = [b"", b"{", b"[]", b"null", b'"x"', b'{"email": 5}', b"\xff\xfe",
              json.dumps({"event_id": "x" * 500, "project_id": "nope", "machine_id": ""}).encode()]


def _check(path, method, response):
    documented = SPEC["paths"][path][method]["responses"]
    assert response.status_code != 500 or path == "/api/billing/webhook", response.text
    assert str(response.status_code) in documented, (path, method, response.status_code)
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) >= {"code", "message"}


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_input_anywhere_gets_a_documented_answer_in_the_error_shape(api, path, method,
                                                                          body):
    if path == "/api/metrics":
        pytest.skip("plain text, no input")
    response = api.request(method.upper(), _concrete(path), content=body,
                           headers={"content-type": "application/json"})
    _check(path, method, response)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12),
                                                                      children, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(index=st.integers(min_value=0, max_value=len(OPERATIONS) - 1), value=json_values)
def test_generated_json_never_breaks_a_route(api, index, value):
    path, method = OPERATIONS[index]
    if path == "/api/metrics":
        return
    response = api.request(method.upper(), _concrete(path), content=json.dumps(value).encode(),
                           headers={"content-type": "application/json"})
    _check(path, method, response)
