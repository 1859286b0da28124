"""mlstack: serve, version and train scikit-learn models over HTTP."""
from __future__ import annotations

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import HTTPException

from app.config import Config, config_from_env


class MLStack(Flask):
    def log_exception(self, exc_info) -> None:
        """Expected failures (a ServiceError such as 503 while the database is down, or
        the database refusing connections) get one line; anything else a traceback."""
        from app.api import DATABASE_DOWN
        from app.core.errors import ServiceError

        exc = exc_info[1] if isinstance(exc_info, tuple) else None
        if isinstance(exc, (ServiceError, *DATABASE_DOWN)):
            self.logger.warning("%s %s: %s: %s", request.method, request.path, type(exc).__name__,
                                getattr(exc, "message", None) or str(exc).splitlines()[0][:200])
            return
        super().log_exception(exc_info)


def create_app(config: Config | None = None) -> Flask:
    from app.api import create_api_blueprint, error_body
    from app.core.datasets import DatasetStore
    from app.core.queue import JobQueue
    from app.core.registry import ArtifactStore, Registry
    from app.db import Database
    from app.logs import configure_logging, init_request_logging
    from app.metrics import observe_predict_call, observe_request, render

    config = config or config_from_env()
    config.ensure_token()
    configure_logging(config.LOGGING_CONF, config.LOG_DIR)

    app = MLStack(__name__)
    app.config.update(
        TESTING=config.TESTING,
        MAX_CONTENT_LENGTH=config.MAX_CONTENT_LENGTH,
        MLSTACK=config,
        RESTX_MASK_SWAGGER=False,
        ERROR_404_HELP=False,
    )
    if config.TRUSTED_PROXIES > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = config.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)

    db = Database(config.DATABASE_URL)
    registry = Registry(db, ArtifactStore(config.MODEL_STORE),
                        refresh_seconds=config.REGISTRY_REFRESH_SECONDS,
                        allow_pickle=config.ALLOW_PICKLE,
                        batch_wait=config.BATCH_MAX_WAIT_MS / 1000, batch_rows=config.BATCH_MAX_ROWS,
                        on_predict_call=observe_predict_call)
    app.extensions["mlstack.db"] = db
    app.extensions["mlstack.registry"] = registry
    app.extensions["mlstack.datasets"] = DatasetStore(db, config.DATASET_STORE, config.MAX_DATASET_BYTES)
    app.extensions["mlstack.queue"] = JobQueue(db, config.JOB_HEARTBEAT_TIMEOUT, config.JOB_MAX_ATTEMPTS)

    init_request_logging(app, observe_request)
    app.register_blueprint(create_api_blueprint(config.SWAGGER_ENABLED, config.TRAINING_ENABLED))

    @app.get("/")
    def index():
        return redirect("/api/v1/docs" if config.SWAGGER_ENABLED else "/api/v1/models")

    @app.get("/metrics")
    def metrics():
        body, content_type = render()
        return Response(body, content_type=content_type)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return error_body(exc.description or exc.name), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_body("internal error"), 500

    from app.cli import register_commands

    register_commands(app)
    return app
