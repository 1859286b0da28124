"""Request ids and the access log: one line per request on the `mlstack.access`
logger (configured by logging.conf), with the prediction details when there are any."""

from __future__ import annotations

import io
import logging
import logging.config
import logging.handlers
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

access_log = logging.getLogger("mlstack.access")
# checked with fullmatch: `re.match("...$")` would also take an id ending in a newline
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# what a log field keeps as it is: printable ASCII less space, '"' and '\' (inside
# quotes, space too); anything else is written as an escape, so no path, query or
# header can end a line or start a field of its own
_UNSAFE = re.compile(r"[^!#-\[\]-~]")
_UNSAFE_QUOTED = re.compile(r"[^ !#-\[\]-~]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape_field(text: str, quoted: bool = False) -> str:
    """`text` as one log field: control characters (CR, LF, ESC, ...), spaces, quotes,
    backslashes and non-ASCII characters as \\xNN / \\uNNNN escapes, as nginx's
    default log escaping writes them (spaces kept when the field is quoted)."""
    unsafe = _UNSAFE_QUOTED if quoted else _UNSAFE
    if unsafe.search(text) is None:
        return text
    return unsafe.sub(_escape_char, text)


class SizeRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler deciding on the size already written. The stdlib's formats
    every record a second time and stats the path twice to decide (docs/performance.md);
    this one asks the open file for its position, so it rolls over just after crossing
    maxBytes instead of just before."""

    def _open(self) -> io.TextIOWrapper:
        stream = super()._open()
        # never roll over anything but a regular file (bpo-45401: /dev/stdout, a pipe)
        self._regular = os.path.isfile(self.baseFilename)
        return stream

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self.maxBytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        return self._regular and self.stream.tell() >= self.maxBytes


class Formatter(logging.Formatter):
    """logging.Formatter, with each second's timestamp rendered once: the same text as
    the stdlib's, without a localtime() and strftime() per record (docs/performance.md)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # ((second, datefmt, converter), text): replaced whole
        self._cached: tuple[Any, str] = (None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        key = (int(record.created), datefmt, self.converter)
        cached_key, text = self._cached
        if key != cached_key:
            text = time.strftime(
                datefmt or self.default_time_format, self.converter(record.created)
            )
            self._cached = (key, text)
        if datefmt or not self.default_msec_format:
            return text
        return self.default_msec_format % (text, record.msecs)


def configure_logging(conf: Path, log_dir: Path) -> None:
    """Load logging.conf once; its file handlers write under `log_dir`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if conf.exists():
        logging.config.fileConfig(
            conf, defaults={"logdir": str(log_dir)}, disable_existing_loggers=False
        )


def request_id(ctx: Any = g) -> str:
    return getattr(ctx, "request_id", None) or "-"


def init_request_logging(
    app: Flask, observe: Callable[[str, str, int, float], None] | None = None
) -> None:
    """Request ids, the access log line and (through `observe(method, rule, status,
    seconds)`) the request metrics, all from one measurement per request."""

    @app.before_request
    def _start() -> None:
        ctx = g._get_current_object()  # one context lookup, not one per attribute
        ctx.start = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        ctx.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        # the objects behind the proxies, looked up once
        ctx = g._get_current_object()
        req = request._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy
        end = time.perf_counter()
        seconds = end - getattr(ctx, "start", end)
        rid = request_id(ctx)
        response.headers["X-Request-ID"] = rid
        if observe is not None:
            observe(
                req.method,
                req.url_rule.rule if req.url_rule is not None else "unmatched",
                response.status_code,
                seconds,
            )
        if access_log.isEnabledFor(logging.INFO):
            prediction = getattr(ctx, "prediction", None)
            extra = " model={} version={} rows={}".format(*prediction) if prediction else ""
            query = req.query_string
            query_field = f" query={escape_field(query.decode('latin-1'))}" if query else ""
            # Logger.info less its findCaller() stack walk: the caller is known, this
            # line. Filters and handlers apply as usual.
            access_log.handle(
                access_log.makeRecord(
                    access_log.name,
                    logging.INFO,
                    __file__,
                    sys._getframe().f_lineno,
                    'rid=%s method=%s path=%s%s status=%d duration_ms=%.2f remote=%s agent="%s"%s',
                    (
                        rid,
                        escape_field(req.method),
                        escape_field(req.path),
                        query_field,
                        response.status_code,
                        seconds * 1000,
                        escape_field(req.remote_addr or "-"),
                        escape_field(req.headers.get("User-Agent", "-"), quoted=True),
                        extra,
                    ),
                    None,
                    "_finish",
                )
            )
        return response
