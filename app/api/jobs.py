"""Training as background jobs: start one (`POST /models/{name}/train`, answered 202 at
once), follow it (`GET /jobs/{id}`), cancel it (queued, or stop it while it runs). A
worker process trains it and registers the result as a new model version. A job's spec
names the training data's columns and target: only admin callers see it."""

from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields

from app.api.auth import admin_operation, admin_reader
from app.api.errors import ERROR_MODEL
from app.api.params import int_arg
from app.core import training
from app.core.errors import InvalidInput
from app.core.queue import JobQueue
from app.core.registry import check_name
from app.services import current_services

ns = Namespace("jobs", description="Training jobs: queued -> running -> succeeded | failed")
ns.add_model("Error", ERROR_MODEL)
train_ns = Namespace(
    "training", path="/models", description="Train a new model version in the background"
)
train_ns.add_model("Error", ERROR_MODEL)
WRONG_TOKEN = "A wrong admin token (the token is optional here: without it the spec is left out)"
algo_ns = Namespace("algorithms", description="Algorithms available for training")

job_model = ns.model(
    "Job",
    {
        "id": fields.Integer(required=True),
        "url": fields.String(description="Where to poll the job"),
        "kind": fields.String(required=True, example="train"),
        "model": fields.String(required=True, description="The model the job trains a version of"),
        "status": fields.String(
            required=True, enum=["queued", "running", "succeeded", "failed", "cancelled"]
        ),
        "stage": fields.String(
            description="While running: claimed, loading, fitting, evaluating, saving"
        ),
        "spec": fields.Raw(
            description="The validated training spec, defaults filled in (admin token only)"
        ),
        "algorithm": fields.String(description="The spec's algorithm"),
        "attempts": fields.Integer(required=True),
        "max_attempts": fields.Integer(required=True),
        "worker_id": fields.String,
        "error": fields.String(description="Why it failed (or why an attempt was retried)"),
        "result_version": fields.Integer(description="The model version it registered"),
        "created_at": fields.DateTime(required=True),
        "started_at": fields.DateTime,
        "heartbeat_at": fields.DateTime,
        "finished_at": fields.DateTime,
        "cancel_requested_at": fields.DateTime(
            description="When an admin asked to cancel it while it ran"
        ),
    },
)
train_ns.add_model("Job", job_model)
train_request = train_ns.model(
    "TrainRequest",
    {
        "dataset": fields.String(
            required=True,
            example="iris",
            description="A dataset id: a bundled name or an upload's id",
        ),
        "target": fields.String(description="Target column (default: the dataset's)"),
        "features": fields.List(
            fields.String, description="Feature columns (default: all but the target)"
        ),
        "algorithm": fields.String(
            example="decision_tree",
            enum=list(training.ALGORITHMS),
            description=f"Default {training.DEFAULT_ALGORITHM}",
        ),
        "params": fields.Raw(
            example={"max_depth": 3}, description="Estimator parameters (scikit-learn names)"
        ),
        "task": fields.String(
            enum=["classification", "regression"],
            description="Default: inferred from the target column",
        ),
        "test_size": fields.Float(example=0.2, description="Held-out fraction for evaluation"),
        "cv_folds": fields.Integer(example=0, description="k-fold cross-validation (0: none)"),
        "random_state": fields.Integer(
            example=0, description="Seed: same data + spec + seed, same model"
        ),
        "promote": fields.Boolean(example=False, description="Make the new version production"),
    },
)
algorithm_model = algo_ns.model(
    "Algorithm",
    {
        "name": fields.String(required=True),
        "description": fields.String(required=True),
        "tasks": fields.List(fields.String, required=True),
        "params": fields.Raw(required=True, description="task -> accepted parameter names"),
        "defaults": fields.Raw(
            description="task -> parameter -> scikit-learn's default (JSON values only)"
        ),
    },
)


def queue() -> JobQueue:
    return current_services().queue


def job_url(job_id: int) -> str:
    return f"{request.script_root}/api/v1/jobs/{job_id}"


def with_url(job: dict, admin: bool = True) -> dict:
    """The job as answered: its URL added, its spec left out for non-admin callers."""
    spec = job.get("spec") or {}
    out = {**job, "url": job_url(job["id"]), "algorithm": spec.get("algorithm")}
    if not admin:
        out["spec"] = None
    return out


@ns.route("")
@ns.param("status", "Only jobs in this status", _in="query")
@ns.param("model", "Only jobs training this model", _in="query")
@ns.param("limit", "At most this many (default 50, at most 500)", _in="query", type=int)
@ns.param("offset", "Skip this many", _in="query", type=int)
class JobList(Resource):
    @ns.marshal_list_with(job_model, skip_none=True)
    @ns.response(400, "Unknown status or bad paging", ERROR_MODEL)
    @ns.response(403, WRONG_TOKEN, ERROR_MODEL)
    def get(self):
        """List jobs, newest first"""
        admin = admin_reader()
        jobs, total = queue().list(
            status=request.args.get("status") or None,
            model=request.args.get("model") or None,
            limit=int_arg("limit", 50, 1, 500),
            offset=int_arg("offset", 0, 0, 10**9),
        )
        return [with_url(j, admin) for j in jobs], 200, {"X-Total-Count": str(total)}


@ns.route("/<int:job_id>")
@ns.param("job_id", "Job id")
class Job(Resource):
    @ns.marshal_with(job_model, skip_none=True)
    @ns.response(404, "Unknown job", ERROR_MODEL)
    @ns.response(403, WRONG_TOKEN, ERROR_MODEL)
    def get(self, job_id):
        """Show a job: status, stage, attempts, error, resulting version"""
        return with_url(queue().get(job_id), admin_reader())


@ns.route("/<int:job_id>/cancel")
@ns.param("job_id", "Job id")
class JobCancel(Resource):
    @ns.marshal_with(job_model, skip_none=True)
    @ns.response(202, "Running: its worker stops the fit and ends it cancelled", job_model)
    @ns.response(404, "Unknown job", ERROR_MODEL)
    @ns.response(409, "The job has already finished", ERROR_MODEL)
    @admin_operation(ns)
    def post(self, job_id):
        """Cancel a queued job, or stop a running one"""
        job = with_url(queue().cancel(job_id))
        return job, 202 if job["status"] == "running" else 200


@train_ns.route("/<string:name>/train")
@train_ns.param("name", "Model name (created by its first version)")
class Train(Resource):
    @train_ns.expect(train_request, validate=True)
    @train_ns.marshal_with(job_model, code=202, skip_none=True)
    @train_ns.response(
        400,
        "Unknown algorithm or dataset, bad parameter, wrong task for the target, "
        "a training limit exceeded (named in the message)",
        ERROR_MODEL,
    )
    @admin_operation(train_ns)
    def post(self, name):
        """Start training a new version; poll the job it answers with"""
        check_name(name)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("send the training spec as a JSON object")
        body = {**body, "dataset": str(body.get("dataset", "")).strip()}
        if not body["dataset"]:
            raise InvalidInput(
                "name a dataset (a bundled name such as 'iris' or an upload id)",
                {"dataset": "required"},
            )
        services = current_services()
        info = services.datasets.info(body["dataset"])
        limits = training.TrainingLimits.from_settings(services.config)
        spec = training.validate_spec(body, info, limits)
        job = with_url(queue().enqueue(name, spec))
        return job, 202, {"Location": job["url"]}


@algo_ns.route("")
class AlgorithmList(Resource):
    @algo_ns.marshal_list_with(algorithm_model)
    def get(self):
        """List the algorithms, the tasks they serve and the parameters they take"""
        return [
            {**algo, "defaults": _parameter_defaults(algo["name"])}
            for algo in training.algorithm_catalogue()
        ]


def _parameter_defaults(algorithm: str) -> dict:
    """What each parameter is when the spec leaves it out: the estimator's own default
    (values JSON cannot carry, such as estimator objects, are left out)."""
    out = {}
    for task, estimator in training.ALGORITHMS[algorithm].estimators.items():
        params = estimator.build().get_params(deep=False)
        out[task] = {
            k: v
            for k, v in params.items()
            if v is None
            or (isinstance(v, (str, bool, int, float)) and not (isinstance(v, float) and v != v))
        }
    return out
