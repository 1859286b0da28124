"""Names and ids are checked with fullmatch: a trailing newline (which `$` lets through)
or any other suffix is refused everywhere a name or an id is checked."""

import pytest

from app.core.bundles.models import parse_refs
from app.core.bundles.store import BUNDLE_ID
from app.core.datasets.store import _NAME, _UPLOAD_ID
from app.core.errors import InvalidInput
from app.core.registry import check_name
from app.core.schema import check_schema


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\x00"])
def test_model_names_with_a_suffix_are_refused(suffix):
    assert check_name("iris") == "iris"
    with pytest.raises(InvalidInput):
        check_name("iris" + suffix)


@pytest.mark.parametrize("name", ["a\n", "a\r", "\n"])
def test_feature_names_with_a_newline_are_refused(name):
    with pytest.raises(InvalidInput, match="invalid schema"):
        check_schema({"features": [{"name": name, "type": "numeric"}]})


@pytest.mark.parametrize(
    "pattern, good",
    [(_UPLOAD_ID, "12"), (_NAME, "people.csv"), (BUNDLE_ID, "0" * 32)],
    ids=["dataset-id", "dataset-name", "bundle-id"],
)
def test_id_patterns_refuse_a_trailing_newline(pattern, good):
    assert pattern.fullmatch(good)
    assert not pattern.fullmatch(good + "\n")


@pytest.mark.parametrize("ref", ["iris@1\n", "iris\n", "iris@1 "])
def test_bundle_model_references_with_a_suffix_are_refused(ref):
    assert parse_refs(["iris@1"]) == [("iris", 1)]
    with pytest.raises(InvalidInput):
        parse_refs([ref])
