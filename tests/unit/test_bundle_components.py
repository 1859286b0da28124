"""The component rules of deployment bundles: defaults, and every refused combination
named with its reason."""

import pytest

from app.core.bundles.components import DEFAULT_COMPONENTS, resolve
from app.core.errors import InvalidInput


def test_defaults_are_an_api_with_swagger_sqlite_and_tests():
    choice = resolve()
    assert (
        choice.as_list() == sorted(DEFAULT_COMPONENTS)
        and choice.database == "sqlite"
        and choice.online
    )


def test_the_full_stack_with_postgres_is_accepted():
    choice = resolve(
        ["api", "swagger", "ui", "training", "database", "nginx", "supervisor", "docker", "tests"],
        "postgres",
    )
    assert choice.database == "postgres" and choice.has("docker")


def test_an_offline_bundle_is_tests_alone_or_nothing():
    assert not resolve(["tests"]).online
    assert resolve([]).database is None


@pytest.mark.parametrize(
    "components, database, key, words",
    [
        (["nginx", "tests"], None, "components.nginx", "needs 'api'"),
        (["api", "database", "nginx"], None, "components.nginx", "needs 'supervisor'"),
        (
            ["api", "database", "docker", "supervisor"],
            "postgres",
            "components.docker",
            "needs 'nginx'",
        ),
        (["api", "database", "docker", "nginx"], None, "components.docker", "needs 'supervisor'"),
        (["api", "database"], "postgres", "components.database", "postgres needs 'supervisor'"),
        (
            ["api", "database", "supervisor"],
            "sqlite",
            "components.supervisor",
            "needs database postgres",
        ),
        (["api"], None, "components.api", "needs 'database'"),
        (["database", "tests"], None, "components.database", "needs 'api'"),
        (["swagger"], None, "components.swagger", "needs 'api'"),
        (["api", "training"], None, "components.training", "needs 'database'"),
        (["ui", "tests"], None, "components.ui", "needs 'api'"),
    ],
)
def test_combinations_that_cannot_work_are_refused_with_the_reason(
    components, database, key, words
):
    with pytest.raises(InvalidInput) as caught:
        resolve(components, database)
    assert words in caught.value.errors[key]
    assert words in caught.value.message


@pytest.mark.parametrize(
    "components, database, field",
    [
        (["api", "kubernetes"], None, "components"),
        ("api,swagger", None, "components"),
        ([1, 2], None, "components"),
        (["api", "database"], "mysql", "database"),
        (["tests"], "sqlite", "database"),
    ],
)
def test_unknown_components_and_databases_are_refused(components, database, field):
    with pytest.raises(InvalidInput) as caught:
        resolve(components, database)
    assert field in caught.value.errors
