"""Property-based runs over the whole OpenAPI document, on SQLite and PostgreSQL with
demo models registered: for every operation, generated requests that fit the schema
never get a 5xx nor a response that contradicts the documented schema, and generated
requests that break it (schemathesis' negative mode: malformed bodies, wrong types,
boundary values) get a 4xx with a JSON body, never a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from app.services import services_of
from tests.conftest import AUTH, iris_schema

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def operations(app, iris_models, diabetes_model, mixed_model):
    registry = services_of(app).registry
    registry.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    registry.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    registry.add_estimator("diabetes", diabetes_model[0])
    registry.add_estimator("mixed", mixed_model[0])
    schema = schemathesis.openapi.from_wsgi("/api/v1/swagger.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 8
    return found


def run_operation(operation, mode, examples, check):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        check(case)

    run()


def test_no_server_errors_and_responses_match_the_documented_schema(operations):
    def check(case):
        response = case.call(headers=AUTH)
        case.validate_response(response, checks=CHECKS)

    for operation in operations:
        run_operation(operation, GenerationMode.POSITIVE, 30, check)


def test_negative_data_gets_a_4xx_with_a_json_body_on_every_operation(operations):
    statuses = []

    def check(case):
        response = case.call(headers=AUTH)
        case.validate_response(response, checks=[not_a_server_error])
        statuses.append(response.status_code)
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/json")
            assert response.json()["message"]

    negated = []
    for operation in operations:
        try:
            run_operation(operation, GenerationMode.NEGATIVE, 25, check)
            negated.append(operation.label)
        except Unsatisfiable:  # nothing in it can be made invalid (no parameter, or a free string)
            continue
    assert {
        "POST /models/{name}/predict",
        "POST /models/{name}/train",
        "POST /models/{name}/versions/{version}/promote",
        "POST /bundles",
    } <= set(negated)
    assert len(negated) >= len(operations) // 2
    assert sum(400 <= s < 500 for s in statuses) > len(statuses) // 2
