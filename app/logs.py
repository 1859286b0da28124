"""Request ids and the access log: one line per request on the `mlstack.access`
logger (configured by logging.conf), with the prediction details when there are any."""
from __future__ import annotations

import logging
import logging.config
import re
import time
import uuid
from pathlib import Path

from flask import Flask, g, request

access_log = logging.getLogger("mlstack.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def configure_logging(conf: Path, log_dir: Path) -> None:
    """Load logging.conf once; its file handlers write under `log_dir`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if conf.exists():
        logging.config.fileConfig(conf, defaults={"logdir": str(log_dir)},
                                  disable_existing_loggers=False)


def request_id() -> str:
    return getattr(g, "request_id", None) or "-"


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.start = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def _finish(response):
        rid = request_id()
        response.headers["X-Request-ID"] = rid
        duration_ms = (time.perf_counter() - g.get("start", time.perf_counter())) * 1000
        if access_log.isEnabledFor(logging.INFO):
            extra = ""
            prediction = g.get("prediction")
            if prediction:
                extra = " model=%s version=%s rows=%d" % prediction
            access_log.info(
                "rid=%s method=%s path=%s status=%d duration_ms=%.2f remote=%s%s",
                rid, request.method, request.path, response.status_code, duration_ms,
                request.remote_addr or "-", extra,
            )
        return response
