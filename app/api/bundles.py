"""Deployment bundles: build one from registered versions, look at its files, download
the zip (admin)."""

from __future__ import annotations

from flask import Response, request
from flask_restx import Namespace, Resource, fields

from app.api.auth import admin_operation
from app.api.errors import ERROR_MODEL
from app.core.bundles.components import COMPONENTS, DATABASES, DEFAULT_COMPONENTS
from app.core.bundles.service import BundleService
from app.services import current_services

ns = Namespace(
    "bundles",
    description="Deployment bundles: a ready, tested folder for chosen model "
    "versions and parts (admin)",
)
ns.add_model("Error", ERROR_MODEL)

bundle_request = ns.model(
    "BundleRequest",
    {
        "models": fields.List(
            fields.String,
            required=True,
            example=["iris", "people@1"],
            description="NAME (its production version) or NAME@VERSION, one per model",
        ),
        "components": fields.List(
            fields.String(enum=list(COMPONENTS)),
            example=list(DEFAULT_COMPONENTS),
            description="The parts (default: api, swagger, database, tests). Without "
            "'api' the bundle is an offline CSV scorer (make predict).",
        ),
        "database": fields.String(
            enum=list(DATABASES),
            example="sqlite",
            description="With 'database': sqlite (default) or postgres (needs supervisor)",
        ),
    },
)
file_card = ns.model(
    "BundleFile",
    {
        "path": fields.String(required=True, example="README.md"),
        "bytes": fields.Integer(required=True, example=2048),
        "sha256": fields.String(
            required=True,
            example="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
    },
)
bundle_answer = ns.model(
    "Bundle",
    {
        "id": fields.String(
            required=True,
            example="3b1f0c2e9a8d4f6b7c5e1a2d3f4b5c6d",
            description="The zip's sha256 (first 32 digits): same models and parts, same id",
        ),
        "name": fields.String(
            required=True, example="mlstack-bundle-iris", description="The folder in the zip"
        ),
        "files": fields.List(fields.Nested(file_card), required=True),
        "archive": fields.String(
            required=True, example="/api/v1/bundles/3b1f0c2e9a8d4f6b7c5e1a2d3f4b5c6d/archive"
        ),
    },
)


def service() -> BundleService:
    return current_services().bundles


def with_archive(doc: dict) -> dict:
    return {**doc, "archive": f"/api/v1/bundles/{doc['id']}/archive"}


@ns.route("")
class BundleList(Resource):
    @ns.expect(bundle_request, validate=False)
    @ns.marshal_with(bundle_answer, code=201)
    @ns.response(
        400,
        "Bad JSON, unknown model, version or component, or parts that cannot be combined",
        ERROR_MODEL,
    )
    @ns.response(404, "Unknown model or version", ERROR_MODEL)
    @admin_operation(ns)
    def post(self):
        """Build a bundle for model versions and chosen parts"""
        doc = with_archive(service().create(request.get_json(silent=True)))
        return doc, 201, {"Location": f"/api/v1/bundles/{doc['id']}"}


@ns.route("/<string:bundle_id>")
@ns.param("bundle_id", "The bundle's id")
class Bundle(Resource):
    @ns.marshal_with(bundle_answer)
    @ns.response(404, "Unknown or expired bundle", ERROR_MODEL)
    @admin_operation(ns)
    def get(self, bundle_id):
        """Show a bundle's files (path, size, sha256)"""
        return with_archive(service().show(bundle_id))


@ns.route("/<string:bundle_id>/files/<path:path>")
@ns.param("bundle_id", "The bundle's id")
@ns.param("path", "A file's path in the bundle, e.g. README.md or models/iris/model.json")
class BundleFile(Resource):
    @ns.produces(["text/plain", "application/octet-stream", "application/json"])
    @ns.response(200, "The file's content (text as UTF-8 text/plain, binary as octet-stream)")
    @ns.response(404, "Unknown bundle or file", ERROR_MODEL)
    @admin_operation(ns)
    def get(self, bundle_id, path):
        """One file of a bundle, for a preview"""
        data = service().store.file(bundle_id, path)
        try:
            data.decode("utf-8")
            mimetype = "text/plain; charset=utf-8"
        except UnicodeDecodeError:
            mimetype = "application/octet-stream"
        return Response(data, content_type=mimetype)


@ns.route("/<string:bundle_id>/archive")
@ns.param("bundle_id", "The bundle's id")
class BundleArchive(Resource):
    @ns.produces(["application/zip", "application/json"])
    @ns.response(200, "The bundle as a zip (one top folder)")
    @ns.response(404, "Unknown or expired bundle", ERROR_MODEL)
    @admin_operation(ns)
    def get(self, bundle_id):
        """Download a bundle as a zip"""
        store = service().store
        return Response(
            store.archive(bundle_id),
            content_type="application/zip",
            headers={"Content-Disposition": f"attachment; filename={store.name(bundle_id)}.zip"},
        )
