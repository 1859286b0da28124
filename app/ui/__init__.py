"""The browser pages under /ui/: server-rendered shells (Jinja) whose small scripts
call the documented /api/v1 endpoints. The pages hold no logic of their own: every
list, prediction, upload, training job and promotion goes through the API, which also
enforces the admin token. URLs are path-absolute from the request's script root, so
the pages work behind nginx (5001) and behind Docker's port mapping alike."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.api.errors import status_of
from app.core.errors import ServiceError
from app.core.registry import check_name

ui_blueprint = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@ui_blueprint.get("/")
def models():
    return render_template("ui/models.html", page="models")


@ui_blueprint.get("/models/<name>")
def model(name: str):
    check_name(name)  # an invalid name is a 400 with the API's message, not a broken page
    return render_template("ui/model.html", page="model", name=name)


@ui_blueprint.get("/train")
def train():
    return render_template("ui/train.html", page="train")


@ui_blueprint.get("/jobs")
def jobs():
    return render_template("ui/jobs.html", page="jobs")


@ui_blueprint.get("/bundles")
def bundles():
    return render_template("ui/bundles.html", page="bundles")


@ui_blueprint.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    status = status_of(exc)
    return render_template(
        "ui/error.html", page="error", status=status, message=exc.message
    ), status
