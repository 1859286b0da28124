"""Property-based run over the whole OpenAPI document: for every operation, generated
requests (valid and invalid) never get a 5xx nor a response that contradicts the
documented schema. Runs on SQLite and PostgreSQL with demo models registered."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from app.services import services_of
from tests.conftest import AUTH, iris_schema

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_no_server_errors_and_responses_match_the_documented_schema(
    app, iris_models, diabetes_model, mixed_model
):
    registry = services_of(app).registry
    registry.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    registry.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    registry.add_estimator("diabetes", diabetes_model[0])
    registry.add_estimator("mixed", mixed_model[0])
    schema = schemathesis.openapi.from_wsgi("/api/v1/swagger.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    tested = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call(headers=AUTH)
            case.validate_response(response, checks=CHECKS)

        run()
        tested.append(operation.label)
    assert len(tested) == len(operations)
