"""mlstack: serve, version and train scikit-learn models over HTTP."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from flask import Flask, Response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.config import Config, config_from_env


class MLStack(Flask):
    from app.api.jsonprovider import JSONProvider as json_provider_class

    def log_exception(
        self,
        exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None],
    ) -> None:
        """Expected failures (a ServiceError such as 503 while the database is down, or
        the database refusing connections) get one line; anything else a traceback."""
        from app.core.errors import ServiceError

        exc = exc_info[1] if isinstance(exc_info, tuple) else None
        if isinstance(exc, ServiceError):
            self.logger.warning(
                "%s %s: %s: %s",
                request.method,
                request.path,
                type(exc).__name__,
                getattr(exc, "message", None) or str(exc).splitlines()[0][:200],
            )
            return
        super().log_exception(exc_info)


def create_app(config: Config | None = None) -> Flask:
    from app.api import create_api_blueprint
    from app.api.errors import error_body
    from app.logs import configure_logging, init_request_logging
    from app.metrics import (
        observe_engine,
        observe_predict_call,
        observe_prediction,
        observe_request,
        render,
    )
    from app.services import attach, build_services

    config = config or config_from_env()
    config.ensure_token()
    configure_logging(config.LOGGING_CONF, config.LOG_DIR)

    app = MLStack(__name__)
    from app.api.params import AsciiIntegerConverter

    app.url_map.converters["int"] = AsciiIntegerConverter  # before any route is added
    app.config.update(
        TESTING=config.TESTING,
        MAX_CONTENT_LENGTH=config.MAX_CONTENT_LENGTH,
        RESTX_MASK_SWAGGER=False,
        ERROR_404_HELP=False,
    )
    if config.TRUSTED_PROXIES > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = config.TRUSTED_PROXIES
        # Flask's documented way to wrap the WSGI app in middleware
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )

    attach(
        app,
        build_services(
            config,
            on_predict_call=observe_predict_call,
            on_prediction=observe_prediction,
            on_engine=observe_engine,
        ),
    )

    init_request_logging(app, observe_request)
    app.register_blueprint(create_api_blueprint(config.SWAGGER_ENABLED, config.TRAINING_ENABLED))
    if config.UI_ENABLED:
        from app.ui import ui_blueprint

        app.register_blueprint(ui_blueprint)
    from app.api.v2 import create_v2_blueprint

    app.register_blueprint(create_v2_blueprint())

    @app.get("/")
    def index() -> ResponseReturnValue:
        if config.UI_ENABLED:
            return redirect(url_for("ui.models"))
        return redirect("/api/v1/docs" if config.SWAGGER_ENABLED else "/api/v1/models")

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, content_type=content_type)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
        return error_body(exc.description or exc.name), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[dict[str, Any], int]:
        app.logger.exception("unhandled error")
        return error_body("internal error"), 500

    from app.cli import register_commands

    register_commands(app)
    return app
