"""The access log's rotating handler (app.logs.SizeRotatingFileHandler) and formatter
(app.logs.Formatter)."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from app.logs import Formatter, SizeRotatingFileHandler


def _record(i: int) -> logging.LogRecord:
    return logging.LogRecord(
        "mlstack.access", logging.INFO, __file__, 1, "request %05d %s", (i, "x" * 40), None
    )


def test_rolls_over_once_past_max_bytes_and_loses_no_line(tmp_path):
    path = tmp_path / "access.log"
    handler = SizeRotatingFileHandler(path, maxBytes=500, backupCount=50, encoding="utf-8")
    for i in range(40):  # 40 lines of 53 bytes: about four files
        handler.emit(_record(i))
    handler.close()
    files = [path] + sorted(tmp_path.glob("access.log.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(files) >= 4
    lines = [line for f in reversed(files) for line in f.read_text().splitlines()]
    assert sorted(lines) == [f"request {i:05d} {'x' * 40}" for i in range(40)]
    for f in files[1:]:  # each rolled file stopped just past the limit
        assert 500 <= f.stat().st_size < 500 + 54


def test_never_rolls_over_a_file_that_is_not_regular(tmp_path, capsys):
    fifo = tmp_path / "access.log"  # a pipe: no size to ask for, and nothing to rename
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    handler = SizeRotatingFileHandler(fifo, maxBytes=1, backupCount=1)
    for i in range(5):
        handler.emit(_record(i))
    handler.close()
    reader.join(10)
    assert "Logging error" not in capsys.readouterr().err
    assert received[0].decode().count("request ") == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["access.log"]


FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"


@pytest.mark.parametrize("datefmt", [None, "%H:%M:%S"])
def test_formatter_writes_what_the_stdlib_formatter_writes(datefmt):
    ours, stdlib = Formatter(FORMAT, datefmt), logging.Formatter(FORMAT, datefmt)
    # within one second, across a second's boundary, back in time, and far apart
    for created in (1700000000.001, 1700000000.999, 1700000001.0, 1700000000.5, 1800000000.25):
        record = _record(1)
        record.created, record.msecs = created, int(round((created - int(created)) * 1000, 3))
        assert ours.format(record) == stdlib.format(record)


def test_formatter_keeps_a_changed_converter():
    ours, stdlib = Formatter(FORMAT), logging.Formatter(FORMAT)
    record = _record(1)
    before = ours.format(record)  # cached
    ours.converter = stdlib.converter = lambda seconds: time.gmtime(seconds + 3600)
    assert ours.format(record) == stdlib.format(record) != before


def test_access_line_names_the_request_hook_as_its_origin(app, client, caplog):
    with caplog.at_level(logging.INFO, logger="mlstack.access"):
        client.get("/api/v1/health/live")
    (record,) = [r for r in caplog.records if r.name == "mlstack.access"]
    assert record.pathname.endswith("logs.py") and record.funcName == "_finish"
    assert "path=/api/v1/health/live status=200" in record.getMessage()
