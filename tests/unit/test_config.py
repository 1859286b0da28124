"""Configuration from the environment: renamed settings, the environment name, flags."""

import pytest

from app.config import config_from_env, parse_bool


def test_a_misspelled_environment_name_is_refused(monkeypatch):
    monkeypatch.setenv("MLSTACK_ENV", "prodution")
    with pytest.raises(ValueError, match="MLSTACK_ENV='prodution'"):
        config_from_env()


def test_the_old_batch_setting_names_are_read_with_a_warning(monkeypatch):
    monkeypatch.setenv("MLSTACK_ENV", "testing")
    monkeypatch.delenv("MAX_PREDICT_ROWS", raising=False)
    monkeypatch.delenv("MICROBATCH_MAX_ROWS", raising=False)
    monkeypatch.setenv("MAX_BATCH_ROWS", "123")
    monkeypatch.setenv("BATCH_MAX_ROWS", "7")
    with pytest.warns(FutureWarning) as warned:
        config = config_from_env()
    assert sorted(str(w.message).split(" is ")[0] for w in warned) == [
        "BATCH_MAX_ROWS",
        "MAX_BATCH_ROWS",
    ]
    assert config.MAX_PREDICT_ROWS == 123
    assert config.MICROBATCH_MAX_ROWS == 7


def test_a_new_name_wins_over_its_old_one(monkeypatch):
    monkeypatch.setenv("MLSTACK_ENV", "testing")
    monkeypatch.setenv("MAX_PREDICT_ROWS", "50")
    monkeypatch.setenv("MAX_BATCH_ROWS", "123")
    assert config_from_env().MAX_PREDICT_ROWS == 50


@pytest.mark.parametrize(
    "word, value",
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_true_and_false_words(word, value):
    assert parse_bool(word) is value


def test_a_word_that_is_neither_is_refused(monkeypatch):
    with pytest.raises(ValueError):
        parse_bool("maybe")
    monkeypatch.setenv("MLSTACK_ENV", "testing")
    monkeypatch.setenv("ALLOW_PICKLE", "sure")
    with pytest.raises(ValueError, match="ALLOW_PICKLE"):
        config_from_env()
