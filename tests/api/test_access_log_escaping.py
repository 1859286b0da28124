"""The access log cannot be forged: a path, query or header with CR/LF, control or
quote characters stays one line with its fields escaped, and a request id must match
its pattern whole (a trailing newline is not "whole")."""

from __future__ import annotations

import re
import uuid

import pytest

from app.logs import escape_field

FORGED = "2026-01-01 00:00:00,000 INFO 1 mlstack.access rid=forged method=GET path=/ok status=200"


def access_lines(config) -> list[str]:
    return (config.LOG_DIR / "access.log").read_text().splitlines()


def logged(config, rid: str) -> str:
    lines = [line for line in access_lines(config) if f"rid={rid} " in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_path_with_crlf_stays_one_line(client, config):
    rid = uuid.uuid4().hex
    r = client.get(
        "/api/v1/models/x%0d%0a" + FORGED.replace(" ", "%20") + "/schema",
        headers={"X-Request-ID": rid},
    )
    assert r.status_code in (400, 404)
    line = logged(config, rid)
    assert not any(ln.startswith("2026-01-01") for ln in access_lines(config))
    assert "path=/api/v1/models/x\\x0d\\x0a2026-01-01\\x2000:00:00" in line
    # the forged fields cannot be read as fields: one status=, the real one
    assert re.findall(r" status=\d+", line) == [f" status={r.status_code}"]


def test_query_and_user_agent_are_logged_escaped(client, config):
    rid = uuid.uuid4().hex
    r = client.get(
        "/api/v1/health/live?a=%1b[31mred&b=1 status=500",
        headers={"X-Request-ID": rid},
        environ_overrides={"HTTP_USER_AGENT": "evil\r\n" + FORGED + ' "quoted" \x1b\x7f'},
    )
    assert r.status_code == 200
    line = logged(config, rid)
    # the query is logged as sent (still percent-encoded), its spaces escaped
    assert " query=a=%1b[31mred&b=1\\x20status=500 " in line
    assert (
        'agent="evil\\x0d\\x0a2026-01-01 00:00:00,000 INFO 1 mlstack.access rid=forged '
        'method=GET path=/ok status=200 \\x22quoted\\x22 \\x1b\\x7f"' in line
    )
    assert re.findall(r" status=\d+", line.split(" agent=")[0]) == [" status=200"]
    assert not any(ln.startswith("2026-01-01") for ln in access_lines(config))


@pytest.mark.parametrize(
    "sent", ["abc\n", "abc\r\nrid=x", "a" * 129, "bad id", "", "abc\x00", "ümlaut"]
)
def test_a_request_id_that_does_not_match_whole_is_replaced(client, config, sent):
    r = client.get("/api/v1/health/live", environ_overrides={"HTTP_X_REQUEST_ID": sent})
    rid = r.headers["X-Request-ID"]
    assert rid != sent and re.fullmatch(r"[0-9a-f]{32}", rid)
    logged(config, rid)


def test_an_acceptable_request_id_is_kept(client, config):
    r = client.get("/api/v1/health/live", headers={"X-Request-ID": "trace-1.2:3_x"})
    assert r.headers["X-Request-ID"] == "trace-1.2:3_x"
    logged(config, "trace-1.2:3_x")


@pytest.mark.parametrize(
    ("text", "quoted", "expected"),
    [
        ("/api/v1/models/iris/predict", False, "/api/v1/models/iris/predict"),
        ("a b", False, "a\\x20b"),
        ("a b", True, "a b"),
        ('"\\', True, "\\x22\\x5c"),
        ("\r\n\t\x00\x1b\x7f", False, "\\x0d\\x0a\\x09\\x00\\x1b\\x7f"),
        ("café €😀", True, "caf\\xe9 \\u20ac\\U0001f600"),
    ],
)
def test_escape_field(text, quoted, expected):
    assert escape_field(text, quoted) == expected
