"""Training data: the bundled scikit-learn datasets (ids "iris", "wine",
"breast_cancer", "diabetes") and uploaded CSVs (ids "1", "2", ...). An upload's rows
are training data: its sample is shown to admin callers only."""

from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields
from werkzeug.datastructures import FileStorage

from app.api.auth import admin_operation, admin_reader
from app.api.errors import ERROR_MODEL, UnsupportedMediaType
from app.core.datasets import DatasetStore, read_upload
from app.core.errors import InvalidInput
from app.services import current_services

ns = Namespace("datasets", description="Bundled datasets and uploaded CSVs to train on")
ns.add_model("Error", ERROR_MODEL)

column = ns.model(
    "DatasetColumn",
    {
        "name": fields.String(required=True),
        "type": fields.String(required=True, enum=["numeric", "categorical"]),
        "dtype": fields.String(
            enum=["bool", "int", "float", "str"], description="Inferred storage type"
        ),
        "n_unique": fields.Integer(description="Distinct non-missing values"),
        "n_missing": fields.Integer(description="Missing values"),
    },
)
dataset_summary = ns.model(
    "Dataset",
    {
        "id": fields.String(
            required=True, description="Bundled name or upload id: use it as 'dataset' to train"
        ),
        "source": fields.String(required=True, enum=["bundled", "upload"]),
        "name": fields.String(required=True),
        "description": fields.String,
        "target": fields.String(description="Default target column"),
        "task": fields.String(description="Task of the default target (bundled datasets)"),
        "n_rows": fields.Integer(required=True),
        "sha256": fields.String(required=True),
        "size_bytes": fields.Integer(description="Uploaded file size"),
        "created_at": fields.DateTime,
        "columns": fields.List(fields.Nested(column), required=True),
    },
)
dataset_detail = ns.inherit(
    "DatasetDetail",
    dataset_summary,
    {
        "sample": fields.List(
            fields.Raw,
            description="The first rows (of an upload: with the admin token only)",
        ),
    },
)

upload = ns.parser()
upload.add_argument(
    "file", location="files", type=FileStorage, required=True, help="A UTF-8 CSV with a header row"
)
upload.add_argument(
    "target",
    location="form",
    type=str,
    required=True,
    help="The target column (what models trained on it predict)",
)
upload.add_argument("name", location="form", type=str, help="A name (default: the file name)")


def datasets() -> DatasetStore:
    return current_services().datasets


@ns.route("")
class DatasetList(Resource):
    @ns.marshal_list_with(dataset_summary, skip_none=True)
    def get(self):
        """List bundled and uploaded datasets"""
        return datasets().list()

    @ns.expect(upload, validate=False)
    @ns.marshal_with(dataset_detail, code=201, skip_none=True)
    @ns.response(
        400, "Unparseable CSV, no rows, duplicate columns or no target column", ERROR_MODEL
    )
    @ns.response(413, "Larger than MAX_DATASET_MB", ERROR_MODEL)
    @ns.response(415, "Not multipart/form-data", ERROR_MODEL)
    @admin_operation(ns)
    def post(self):
        """Upload a CSV dataset"""
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType("send multipart/form-data with the CSV in the 'file' field")
        file = request.files.get("file")
        if file is None or not file.filename:
            raise InvalidInput("the 'file' field with the CSV is missing", {"file": "required"})
        store = datasets()
        data = read_upload(file.stream, store.max_bytes)
        name = (request.form.get("name") or file.filename.rsplit("/", 1)[-1]).strip()
        return store.add(name, data, (request.form.get("target") or "").strip()), 201


@ns.route("/<string:dataset_id>")
@ns.param("dataset_id", "A bundled dataset's name or an upload's id")
class Dataset(Resource):
    @ns.marshal_with(dataset_detail, skip_none=True)
    @ns.response(404, "Unknown dataset", ERROR_MODEL)
    @ns.response(
        403,
        "A wrong admin token (the token is optional here: without it the training data is left out)",
        ERROR_MODEL,
    )
    def get(self, dataset_id):
        """Show a dataset: columns, types, row count and the first rows"""
        dataset = datasets().get(dataset_id)
        if dataset["source"] == "upload" and not admin_reader():
            dataset = {**dataset, "sample": None}
        return dataset
