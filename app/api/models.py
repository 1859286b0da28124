"""Models and their versions: list, inspect, upload, promote (rollback = promote an
older version)."""

from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields
from werkzeug.datastructures import FileStorage

from app.api.auth import admin_operation
from app.api.errors import ERROR_MODEL, UnsupportedMediaType
from app.api.params import bool_value, version_arg
from app.core.errors import InvalidInput
from app.core.jsonbody import json_document
from app.core.registry import PICKLE_SUFFIXES, Registry, check_name
from app.core.statistics import read_sample
from app.services import current_services

ns = Namespace("models", description="Registered models, versions, schemas and promotion")
ns.add_model("Error", ERROR_MODEL)

category_frequency = ns.model(
    "CategoryFrequency",
    {
        "value": fields.Raw(required=True),
        "frequency": fields.Float(required=True, description="Fraction of the non-missing values"),
    },
)
feature_statistics = ns.model(
    "FeatureStatistics",
    {
        "count": fields.Integer(description="Non-missing training values"),
        "missing": fields.Integer(description="Missing training values"),
        "min": fields.Float(description="Numeric: smallest training value"),
        "max": fields.Float(description="Numeric: largest training value"),
        "median": fields.Float(description="Numeric: median training value"),
        "frequencies": fields.List(
            fields.Nested(category_frequency),
            description="Categorical: categories by training frequency, most frequent first",
        ),
    },
)
feature = ns.model(
    "Feature",
    {
        "name": fields.String(required=True),
        "type": fields.String(required=True, enum=["numeric", "categorical"]),
        "categories": fields.List(fields.Raw, description="Known categories (categorical only)"),
        "allow_unknown": fields.Boolean(description="Unseen categories are accepted"),
        "nullable": fields.Boolean(description="Missing values (null) are accepted"),
        "example": fields.Raw(description="An example value"),
        "statistics": fields.Nested(
            feature_statistics,
            skip_none=True,
            allow_null=True,
            description="Training statistics (trained versions, or uploads with a sample CSV)",
        ),
    },
)
nullable_probe = ns.model(
    "NullableProbe",
    {
        "version": fields.Integer(required=True, description="The probe's version"),
        "refuted": fields.List(
            fields.String,
            required=True,
            description="Features claimed nullable that the model cannot take missing values for",
        ),
    },
)
schema_doc = ns.model(
    "FeatureSchema",
    {
        "features": fields.List(fields.Nested(feature), required=True),
        "nullable_probe": fields.Nested(
            nullable_probe,
            allow_null=True,
            description="How 'nullable' was proven at registration (README: missing values)",
        ),
    },
)
runtime_model = ns.model(
    "VersionRuntime",
    {
        "engine": fields.String(
            required=True,
            enum=["numpy", "native", "onnxruntime", "sklearn"],
            description="What answers this version's predictions: an exact compiled "
            "predictor (numpy; native: trees compiled to C; onnxruntime) or "
            "scikit-learn itself",
        ),
        "verified": fields.Boolean(
            required=True,
            description="Whether a compiled predictor was proven bitwise equal to scikit-learn",
        ),
        "reason": fields.String(
            required=True, description="What was proven, or why scikit-learn serves"
        ),
    },
)
version_model = ns.model(
    "ModelVersion",
    {
        "model": fields.String(required=True),
        "version": fields.Integer(required=True),
        "stage": fields.String(required=True, enum=["production", "available"]),
        "task": fields.String(required=True, enum=["classification", "regression"]),
        "algorithm": fields.String(required=True),
        "classes": fields.List(fields.Raw, description="Class labels (classifiers)"),
        "metrics": fields.Raw(description="Evaluation metrics recorded with the version"),
        "training": fields.Raw(
            description="How it was trained: dataset sha256, spec, library versions"
        ),
        "artifact_sha256": fields.String(required=True),
        "artifact_format": fields.String(required=True),
        "sklearn_version": fields.String(required=True),
        "created_at": fields.DateTime(required=True),
        "schema": fields.Nested(schema_doc, required=True),
        "runtime": fields.Nested(runtime_model, required=True),
    },
)
model_summary = ns.model(
    "ModelSummary",
    {
        "name": fields.String(required=True),
        "description": fields.String,
        "production_version": fields.Integer(description="The version served by default"),
        "latest_version": fields.Integer,
        "created_at": fields.DateTime(required=True),
        "updated_at": fields.DateTime(required=True),
    },
)
model_detail = ns.inherit(
    "ModelDetail",
    model_summary,
    {
        "versions": fields.List(fields.Nested(version_model), required=True),
    },
)
schema_answer = ns.model(
    "ModelSchema",
    {
        "model": fields.String(required=True),
        "version": fields.Integer(required=True),
        "task": fields.String(required=True),
        "features": fields.List(fields.Nested(feature), required=True),
        "classes": fields.List(fields.Raw),
        "example": fields.Raw(required=True, description="A valid body for the predict endpoint"),
    },
)

upload = ns.parser()
upload.add_argument(
    "file",
    location="files",
    type=FileStorage,
    required=True,
    help="The model artifact: a .skops file (skops.io.dump)",
)
upload.add_argument(
    "schema",
    location="form",
    type=str,
    help='Optional input schema JSON: {"features": [{"name", "type", ...}]}',
)
upload.add_argument(
    "sample",
    location="files",
    type=FileStorage,
    help="Optional CSV of training rows (header: feature names): the schema records "
    "each feature's statistics from it",
)
upload.add_argument("metrics", location="form", type=str, help="Optional metrics JSON object")
upload.add_argument("promote", location="form", type=str, help="'true' to make it production")
upload.add_argument(
    "description", location="form", type=str, help="Model description (first upload)"
)


def registry() -> Registry:
    return current_services().registry


def _json_field(name: str):
    raw = request.form.get(name)
    if raw is None or raw == "":
        return None
    try:
        return json_document(raw)
    except InvalidInput as exc:
        raise InvalidInput(f"field {name!r}: {exc.message}", {name: exc.message}) from None


@ns.route("")
class ModelList(Resource):
    @ns.marshal_list_with(model_summary, skip_none=True)
    def get(self):
        """List registered models"""
        return registry().list_models()


@ns.route("/<string:name>")
@ns.param("name", "Model name")
class Model(Resource):
    @ns.marshal_with(model_detail, skip_none=True)
    @ns.response(400, "Invalid model name", ERROR_MODEL)
    @ns.response(404, "Unknown model", ERROR_MODEL)
    def get(self, name):
        """Show a model with all its versions"""
        return registry().get_model(name)


@ns.route("/<string:name>/schema")
@ns.param("name", "Model name")
@ns.param("version", "Version (default: production)", _in="query", type=int)
class ModelSchema(Resource):
    @ns.marshal_with(schema_answer, skip_none=True)
    @ns.response(400, "Invalid model name or version", ERROR_MODEL)
    @ns.response(404, "Unknown model or version", ERROR_MODEL)
    def get(self, name):
        """Show the input schema and a valid example request"""
        loaded = registry().resolve(name, version_arg())
        return {
            "model": loaded.name,
            "version": loaded.version,
            "task": loaded.task,
            "features": loaded.schema.features,
            "classes": loaded.classes,
            "example": {
                "instances": [loaded.schema.example_instance()],
                "return_proba": loaded.has_proba,
            },
        }


@ns.route("/<string:name>/versions")
@ns.param("name", "Model name")
class VersionList(Resource):
    @ns.expect(upload, validate=False)
    @ns.marshal_with(version_model, code=201, skip_none=True)
    @ns.response(400, "Bad artifact, schema or metrics", ERROR_MODEL)
    @ns.response(413, "Upload too large", ERROR_MODEL)
    @ns.response(415, "Not multipart/form-data", ERROR_MODEL)
    @admin_operation(ns)
    def post(self, name):
        """Upload a model artifact as a new version"""
        check_name(name)
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType(
                "send multipart/form-data with the artifact in the 'file' field"
            )
        file = request.files.get("file")
        if file is None or not file.filename:
            raise InvalidInput(
                "the 'file' field with the model artifact is missing", {"file": "required"}
            )
        filename = file.filename.lower()
        fmt = "pickle" if filename.endswith(PICKLE_SUFFIXES) else "skops"
        data = file.read()
        if not data:
            raise InvalidInput("the uploaded file is empty", {"file": "empty"})
        promote = bool_value("promote", request.form.get("promote"))
        sample = request.files.get("sample")
        sample = read_sample(sample.read()) if sample is not None and sample.filename else None
        out = registry().add_version(
            name,
            data,
            fmt,
            schema=_json_field("schema"),
            metrics=_json_field("metrics"),
            promote=promote,
            description=request.form.get("description") or None,
            sample=sample,
        )
        return out, 201


@ns.route("/<string:name>/versions/<int:version>")
@ns.param("name", "Model name")
@ns.param("version", "Version number")
class Version(Resource):
    @ns.marshal_with(version_model, skip_none=True)
    @ns.response(400, "Invalid model name", ERROR_MODEL)
    @ns.response(404, "Unknown model or version", ERROR_MODEL)
    def get(self, name, version):
        """Show one version"""
        return registry().get_version(name, version)


@ns.route("/<string:name>/versions/<int:version>/promote")
@ns.param("name", "Model name")
@ns.param("version", "Version number")
class Promotion(Resource):
    @ns.marshal_with(version_model, skip_none=True)
    @ns.response(400, "Invalid model name", ERROR_MODEL)
    @ns.response(404, "Unknown model or version", ERROR_MODEL)
    @admin_operation(ns)
    def post(self, name, version):
        """Make a version production (rollback: promote an older one)"""
        return registry().promote(name, version)
