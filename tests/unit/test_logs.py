"""The access log's rotating handler (app.logs.SizeRotatingFileHandler)."""
from __future__ import annotations

import logging
import os
import threading

from app.logs import SizeRotatingFileHandler


def _record(i: int) -> logging.LogRecord:
    return logging.LogRecord("mlstack.access", logging.INFO, __file__, 1, "request %05d %s", (i, "x" * 40), None)


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
