"""The bundle's pyproject.toml: mlstack's own, with every dependency pinned to the
version running here and scikit-learn to the version the models were made with."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from app.core.bundles.models import BundleModel
from app.core.errors import InvalidInput

# not direct dependencies, but they decide how an artifact loads and what it answers
NUMERIC_LIBRARIES = ("scipy", "joblib", "threadpoolctl")
# the generated tests need these; the rest of mlstack's test extra is for its own suite
BUNDLE_TEST_TOOLS = ("pytest", "pytest-flask", "requests")
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")


def sklearn_version(models: list[BundleModel]) -> str:
    versions = sorted({m.sklearn_version for m in models})
    if len(versions) != 1:
        raise InvalidInput(
            "the models were made with different scikit-learn versions ("
            + ", ".join(f"{m.name}: {m.sklearn_version}" for m in models)
            + "); one bundle pins one: bundle them separately",
            {"models": "mixed scikit-learn versions"},
        )
    return versions[0]


def _name_and_extras(requirement: str) -> tuple[str, str]:
    match = NAME.match(requirement)
    if match is None:
        raise ValueError(f"unparseable requirement {requirement!r}")
    return match.group(1), match.group(2) or ""


def package_name(requirement: str) -> str:
    return _name_and_extras(requirement)[0]


def pin(requirement: str, sklearn: str) -> str:
    name, extras = _name_and_extras(requirement)
    version = sklearn if name.lower() == "scikit-learn" else metadata.version(name)
    return f"{name}{extras}=={version}"


def _toml_list(key: str, items: list[str], indent: str = "") -> str:
    body = "".join(f'{indent}    "{item}",\n' for item in items)
    return f"{indent}{key} = [\n{body}{indent}]"


def pinned_pyproject(pyproject: str, models: list[BundleModel]) -> tuple[str, dict[str, str]]:
    """(the rewritten pyproject.toml text, {package: pinned version})."""
    doc = tomllib.loads(pyproject)
    sklearn = sklearn_version(models)
    deps = [pin(r, sklearn) for r in doc["project"]["dependencies"]]
    named = {package_name(r).lower() for r in doc["project"]["dependencies"]}
    deps += [pin(name, sklearn) for name in NUMERIC_LIBRARIES if name not in named]
    tests = [
        pin(r, sklearn)
        for r in doc["project"]["optional-dependencies"]["test"]
        if package_name(r) in BUNDLE_TEST_TOOLS
    ]
    text = re.sub(
        r"(?ms)^dependencies = \[\n.*?^\]",
        lambda _m: _toml_list("dependencies", deps),
        pyproject,
        count=1,
    )
    text = re.sub(r"(?ms)^test = \[\n.*?^\]", lambda _m: _toml_list("test", tests), text, count=1)
    check = tomllib.loads(text)["project"]
    if check["dependencies"] != deps or check["optional-dependencies"]["test"] != tests:
        raise ValueError("pyproject.toml's dependency lists are not in the expected layout")
    pins = {package_name(p): p.split("==")[1] for p in deps + tests}
    return text, pins


def mlstack_version(pyproject: str) -> str:
    return str(tomllib.loads(pyproject)["project"]["version"])
