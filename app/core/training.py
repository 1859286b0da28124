"""Training: bundled datasets, CSV reading, the algorithm catalogue, spec validation,
and fitting one scikit-learn Pipeline (preprocessing + estimator) with its evaluation.

Pure scikit-learn and pandas: no Flask, no database. The worker calls `train()`; the
API calls `validate_spec()` before queuing so that a bad request is a 400, not a
failed job.

Rules the issue left open, decided here:
- Task inference from the target column: text or boolean -> classification; integers
  with at most MAX_INT_CLASSES distinct values -> classification; other integers and
  floats -> regression. A spec may say `"task"` explicitly: classification of a
  numeric target is allowed (up to MAX_CLASSES classes), regression of a text target
  is refused.
- One algorithm name serves both tasks ("random_forest" is a RandomForestClassifier on
  a classification target and a RandomForestRegressor on a regression one).
  `logistic_regression` and `linear_regression` are task-specific spellings of
  `linear`. `lasso` on a classification target is L1-penalised logistic regression
  (saga solver), the classifier analogue of the Lasso.
- The served model is the one evaluated: it is fitted on the training split only, so
  the held-out metrics describe exactly what answers predictions.
- Feature columns: numbers and booleans are numeric (booleans as 0/1); anything else
  is categorical. Rows whose target is missing are dropped before training.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import platform
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from app.core.errors import InvalidInput

MAX_INT_CLASSES = 20      # integer targets with at most this many values are classes
MAX_CLASSES = 200         # an explicit classification task beyond this is refused
MAX_CV_FOLDS = 20
STAGES = ("loading", "fitting", "evaluating", "saving")
SPEC_KEYS = ("dataset", "target", "features", "algorithm", "params", "task", "test_size",
             "cv_folds", "random_state", "promote")
DEFAULT_ALGORITHM = "random_forest"
DEFAULT_TEST_SIZE = 0.2
DEFAULT_RANDOM_STATE = 0


# ---- algorithms --------------------------------------------------------------------

def _linear_classifier():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def _linear_regressor():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _ridge_classifier():
    from sklearn.linear_model import RidgeClassifier

    return RidgeClassifier()


def _ridge_regressor():
    from sklearn.linear_model import Ridge

    return Ridge()


def _lasso_classifier():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(l1_ratio=1.0, solver="saga", max_iter=5000)


def _lasso_regressor():
    from sklearn.linear_model import Lasso

    return Lasso()


def _tree_classifier():
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier()


def _tree_regressor():
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor()


def _forest_classifier():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier()


def _forest_regressor():
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor()


def _gb_classifier():
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier()


def _gb_regressor():
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor()


def _hgb_classifier():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier()


def _hgb_regressor():
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor()


@dataclass(frozen=True)
class Algorithm:
    name: str
    description: str
    factories: dict[str, Callable[[], Any]]

    @property
    def tasks(self) -> list[str]:
        return sorted(self.factories)


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("linear", "LogisticRegression (classification) / LinearRegression (regression)",
              {"classification": _linear_classifier, "regression": _linear_regressor}),
    Algorithm("logistic_regression", "LogisticRegression (classification only)",
              {"classification": _linear_classifier}),
    Algorithm("linear_regression", "LinearRegression (regression only)",
              {"regression": _linear_regressor}),
    Algorithm("ridge", "RidgeClassifier / Ridge",
              {"classification": _ridge_classifier, "regression": _ridge_regressor}),
    Algorithm("lasso", "L1-penalised LogisticRegression (saga) / Lasso",
              {"classification": _lasso_classifier, "regression": _lasso_regressor}),
    Algorithm("decision_tree", "DecisionTreeClassifier / DecisionTreeRegressor",
              {"classification": _tree_classifier, "regression": _tree_regressor}),
    Algorithm("random_forest", "RandomForestClassifier / RandomForestRegressor",
              {"classification": _forest_classifier, "regression": _forest_regressor}),
    Algorithm("gradient_boosting", "GradientBoostingClassifier / GradientBoostingRegressor",
              {"classification": _gb_classifier, "regression": _gb_regressor}),
    Algorithm("hist_gradient_boosting",
              "HistGradientBoostingClassifier / HistGradientBoostingRegressor",
              {"classification": _hgb_classifier, "regression": _hgb_regressor}),
)}


def algorithm_catalogue() -> list[dict]:
    """Every algorithm with the tasks it serves and the parameters it accepts."""
    out = []
    for algo in ALGORITHMS.values():
        params = {task: sorted(factory().get_params(deep=False)) for task, factory in algo.factories.items()}
        out.append({"name": algo.name, "description": algo.description, "tasks": algo.tasks,
                    "params": params})
    return out


# ---- column profiles and datasets ------------------------------------------------------

def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "str"


def profile_columns(frame: pd.DataFrame) -> list[dict]:
    """[{"name", "type": "numeric"|"categorical", "dtype": "bool"|"int"|"float"|"str",
    "n_unique", "n_missing"}] in column order: what validation needs to know without
    reading the data again."""
    out = []
    for name in frame.columns:
        col = frame[name]
        kind = _kind(col)
        out.append({
            "name": str(name),
            "type": "categorical" if kind == "str" else "numeric",
            "dtype": kind,
            "n_unique": int(col.nunique(dropna=True)),
            "n_missing": int(col.isna().sum()),
        })
    return out


@dataclass
class DatasetInfo:
    """What validation needs about a dataset: an id, its column profiles, its row count
    and the default target (bundled datasets and uploads name one)."""

    id: Any
    columns: list[dict]
    n_rows: int
    target: str | None = None
    sha256: str | None = None

    @classmethod
    def from_frame(cls, id: Any, frame: pd.DataFrame, target: str | None = None,
                   sha256: str | None = None) -> "DatasetInfo":
        return cls(id, profile_columns(frame), len(frame), target, sha256)

    def column(self, name: str) -> dict | None:
        return next((c for c in self.columns if c["name"] == name), None)


def frame_sha256(frame: pd.DataFrame) -> str:
    """A stable digest of a DataFrame's content (its CSV rendering)."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def _bundled(loader_name: str, classification: bool) -> pd.DataFrame:
    from sklearn import datasets

    bunch = getattr(datasets, loader_name)(as_frame=True)
    frame = bunch.frame.copy()
    if classification:  # class names rather than codes: predictions read "setosa"
        names = np.asarray(bunch.target_names, dtype=object)
        frame["target"] = names[frame["target"].to_numpy()]
    return frame


BUNDLED: dict[str, dict] = {
    "iris": {"loader": "load_iris", "classification": True,
             "description": "Iris flowers: 150 rows, 4 measurements, 3 species"},
    "wine": {"loader": "load_wine", "classification": True,
             "description": "Wine recognition: 178 rows, 13 chemical measurements, 3 cultivars"},
    "breast_cancer": {"loader": "load_breast_cancer", "classification": True,
                      "description": "Breast cancer Wisconsin: 569 rows, 30 features, "
                                     "malignant or benign"},
    "diabetes": {"loader": "load_diabetes", "classification": False,
                 "description": "Diabetes progression: 442 rows, 10 baseline variables, "
                                "a disease progression score (regression)"},
}
BUNDLED_TARGET = "target"


@functools.lru_cache(maxsize=None)
def _bundled_cached(name: str) -> tuple[pd.DataFrame, str]:
    meta = BUNDLED[name]
    frame = _bundled(meta["loader"], meta["classification"])
    return frame, frame_sha256(frame)


def load_bundled(name: str) -> pd.DataFrame:
    """A bundled dataset as a DataFrame (a copy: callers may change it)."""
    if name not in BUNDLED:
        raise InvalidInput(f"unknown bundled dataset {name!r}; known: {', '.join(BUNDLED)}",
                           {"dataset": "unknown dataset"})
    return _bundled_cached(name)[0].copy()


def bundled_info(name: str) -> DatasetInfo:
    load_bundled(name)  # raises for unknown names
    frame, digest = _bundled_cached(name)
    return DatasetInfo.from_frame(name, frame, BUNDLED_TARGET, digest)


def bundled_catalogue() -> list[dict]:
    out = []
    for name, meta in BUNDLED.items():
        info = bundled_info(name)
        out.append({"id": name, "name": name, "description": meta["description"],
                    "target": info.target, "n_rows": info.n_rows, "sha256": info.sha256,
                    "task": "classification" if meta["classification"] else "regression",
                    "columns": info.columns})
    return out


# ---- CSV -------------------------------------------------------------------------------

def read_csv(data: bytes) -> pd.DataFrame:
    """Parse an uploaded CSV (UTF-8, header row). Raises InvalidInput for an empty or
    unparseable file, blank or duplicate column names (which pandas would silently
    rename), fewer than two columns, or no data rows."""
    if not data or not data.strip():
        raise InvalidInput("the CSV file is empty", {"file": "empty"})
    try:
        text_head = data[:1 << 20].decode("utf-8-sig")
    except UnicodeDecodeError:
        # the cut may split a multi-byte character: only fail if the start is not UTF-8
        try:
            text_head = data[:(1 << 20) - 3].decode("utf-8-sig", errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput("the CSV file is not UTF-8 text", {"file": "not UTF-8"}) from None
    try:
        header = next(csv.reader(io.StringIO(text_head)))
    except (csv.Error, StopIteration) as exc:
        raise InvalidInput(f"the CSV header cannot be parsed: {exc}", {"file": "bad header"}) from None
    names = [h.strip() for h in header]
    blank = [str(i + 1) for i, n in enumerate(names) if not n]
    if blank:
        raise InvalidInput("the CSV header has unnamed column(s) at position " + ", ".join(blank),
                           {"file": "unnamed columns"})
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput("duplicate column names in the CSV header: " + ", ".join(dupes),
                           {"file": "duplicate columns: " + ", ".join(dupes)})
    if len(names) < 2:
        raise InvalidInput("the CSV needs at least two columns: one or more features and a target",
                           {"file": "too few columns"})
    try:
        frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", skipinitialspace=True,
                            on_bad_lines="error")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file is not UTF-8 text", {"file": "not UTF-8"}) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"the CSV file cannot be parsed: {first}", {"file": "unparseable"}) from None
    frame.columns = names
    if len(frame) == 0:
        raise InvalidInput("the CSV file has a header but no data rows", {"file": "no rows"})
    return frame


# ---- spec validation -------------------------------------------------------------------

def infer_task(column: dict) -> str:
    if column["dtype"] in ("str", "bool"):
        return "classification"
    if column["dtype"] == "int" and column["n_unique"] <= MAX_INT_CLASSES:
        return "classification"
    return "regression"


def make_estimator(algorithm: str, task: str, params: dict | None = None,
                   random_state: int | None = None) -> Any:
    """The estimator for (algorithm, task) with `params` applied and validated."""
    algo = ALGORITHMS.get(algorithm)
    if algo is None:
        raise InvalidInput(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}",
                           {"algorithm": "unknown algorithm"})
    factory = algo.factories.get(task)
    if factory is None:
        other = ", ".join(a.name for a in ALGORITHMS.values() if task in a.factories)
        raise InvalidInput(f"algorithm {algorithm!r} does not do {task} (the target calls for "
                           f"{task}); use one of: {other}", {"algorithm": f"not a {task} algorithm"})
    est = factory()
    accepted = est.get_params(deep=False)
    if random_state is not None and "random_state" in accepted:
        est.set_params(random_state=random_state)
    params = params or {}
    unknown = sorted(k for k in params if k not in accepted)
    if unknown:
        raise InvalidInput(
            f"{type(est).__name__} does not accept parameter(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(sorted(accepted))}",
            {f"params.{k}": "unknown parameter" for k in unknown})
    est.set_params(**params)
    try:
        est._validate_params()  # scikit-learn's own constraints, checked now rather than at fit
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"invalid parameter for {type(est).__name__}: {exc}",
                           {"params": str(exc)[:300]}) from None
    return est


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_spec(spec: Any, dataset: DatasetInfo) -> dict:
    """Check a training spec against the dataset's column profiles and return it
    normalised (defaults filled in, task resolved), ready to be stored with the job.
    Every problem found is named in the InvalidInput's `errors`."""
    if not isinstance(spec, dict):
        raise InvalidInput("the training spec must be a JSON object")
    errors: dict[str, str] = {}
    unknown = sorted(k for k in spec if k not in SPEC_KEYS)
    if unknown:
        errors.update({k: f"unknown field; known: {', '.join(SPEC_KEYS)}" for k in unknown})

    target = spec.get("target") or dataset.target
    target_col = None
    if not target:
        errors["target"] = "name the target column"
    elif not isinstance(target, str):
        errors["target"] = "must be a column name"
    else:
        target_col = dataset.column(target)
        if target_col is None:
            errors["target"] = (f"no column {target!r} in dataset {dataset.id}; columns: "
                                + ", ".join(c["name"] for c in dataset.columns)[:500])
        elif target_col["n_missing"] >= dataset.n_rows:
            errors["target"] = f"column {target!r} has no values"

    features = spec.get("features")
    if features is not None:
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            errors["features"] = "must be a non-empty list of column names"
            features = None
        else:
            missing = [f for f in features if dataset.column(f) is None]
            if missing:
                errors["features"] = "no such column(s): " + ", ".join(missing)
            elif target in features:
                errors["features"] = "the target cannot also be a feature"
            elif len(set(features)) != len(features):
                errors["features"] = "duplicate column names"
    if features is None and target_col is not None:
        features = [c["name"] for c in dataset.columns if c["name"] != target]
        if not features:
            errors["features"] = "the dataset has no column besides the target"
    if features:
        empty = [f for f in features if (c := dataset.column(f)) is not None
                 and c["n_missing"] >= dataset.n_rows]
        if empty:
            errors["features"] = "column(s) without any value: " + ", ".join(empty)

    algorithm = spec.get("algorithm", DEFAULT_ALGORITHM)
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        errors["algorithm"] = f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}"

    task = spec.get("task")
    if task is not None and task not in ("classification", "regression"):
        errors["task"] = "must be 'classification' or 'regression'"
    elif target_col is not None:
        inferred = infer_task(target_col)
        if task is None:
            task = inferred
        elif task == "regression" and target_col["dtype"] in ("str", "bool"):
            errors["task"] = (f"regression needs a numeric target; {target!r} holds "
                              f"{'text' if target_col['dtype'] == 'str' else 'booleans'}")
        elif task == "classification" and target_col["n_unique"] > MAX_CLASSES:
            errors["task"] = (f"{target!r} has {target_col['n_unique']} distinct values: too many "
                              f"classes (at most {MAX_CLASSES}); did you mean regression?")
        if task == "classification" and target_col["n_unique"] < 2:
            errors["target"] = f"{target!r} has fewer than two classes"

    test_size = spec.get("test_size", DEFAULT_TEST_SIZE)
    if not _number(test_size) or not 0 < test_size < 1:
        errors["test_size"] = "must be a number between 0 and 1 (exclusive), e.g. 0.2"
    elif math.floor(dataset.n_rows * test_size) < 1 or dataset.n_rows - math.ceil(dataset.n_rows * test_size) < 2:
        errors["test_size"] = (f"with {dataset.n_rows} rows, test_size={test_size} leaves no test "
                               "row or too few training rows")

    cv_folds = spec.get("cv_folds") or 0
    if not isinstance(cv_folds, int) or isinstance(cv_folds, bool) or cv_folds < 0 or cv_folds == 1 \
            or cv_folds > MAX_CV_FOLDS:
        errors["cv_folds"] = f"must be 0 (no cross-validation) or an integer from 2 to {MAX_CV_FOLDS}"
    elif cv_folds > dataset.n_rows:
        errors["cv_folds"] = f"cannot exceed the number of rows ({dataset.n_rows})"

    random_state = spec.get("random_state", DEFAULT_RANDOM_STATE)
    if not isinstance(random_state, int) or isinstance(random_state, bool) or not 0 <= random_state < 2**32:
        errors["random_state"] = "must be an integer from 0 to 2**32-1"

    promote = spec.get("promote", False)
    if not isinstance(promote, bool):
        errors["promote"] = "must be true or false"

    params = spec.get("params") or {}
    if not isinstance(params, dict):
        errors["params"] = "must be an object of estimator parameters"
    elif "algorithm" not in errors and task in ("classification", "regression") and "task" not in errors:
        try:
            make_estimator(algorithm, task, params, random_state if "random_state" not in errors else None)
        except InvalidInput as exc:
            if exc.errors:
                for key, value in exc.errors.items():
                    errors[key] = value if key != "params" and key != "algorithm" else exc.message
            else:
                errors["params"] = exc.message

    if errors:
        first = next(iter(errors.items()))
        summary = f"invalid training request: {first[0]}: {first[1]}"
        if len(errors) > 1:
            summary += f" (and {len(errors) - 1} more problem(s))"
        raise InvalidInput(summary, errors)
    out = {"dataset": dataset.id, "target": target, "algorithm": algorithm, "task": task,
           "params": params, "test_size": float(test_size), "cv_folds": cv_folds,
           "random_state": random_state, "promote": promote}
    if spec.get("features") is not None:
        out["features"] = list(features)
    return out


# ---- pipeline, training, evaluation -----------------------------------------------------

def build_pipeline(columns: list[dict], estimator: Any) -> Any:
    """One Pipeline: a ColumnTransformer keyed by column name (numeric: median impute +
    scale; categorical: most-frequent impute + one-hot, unknown categories encoded as
    all zeros) followed by the estimator. Fit it on a DataFrame."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c["name"] for c in columns if c["type"] == "numeric"]
    categorical = [c["name"] for c in columns if c["type"] == "categorical"]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            # the service hands missing categories over as None rather than NaN
            ("impute_none", SimpleImputer(missing_values=None, strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=100,
                                     sparse_output=False)),
        ]), categorical))
    return Pipeline([
        ("preprocess", ColumnTransformer(transformers, remainder="drop")),
        ("model", estimator),
    ])


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _prepare_features(frame: pd.DataFrame, columns: list[dict]) -> pd.DataFrame:
    """Numeric columns as float64 (booleans 0/1), categorical as object with NaN for
    missing: the dtypes the service's runtime hands the pipeline at prediction time."""
    out = {}
    for c in columns:
        col = frame[c["name"]]
        if c["type"] == "numeric":
            out[c["name"]] = col.astype("float64")
        else:
            obj = col.astype(object)
            out[c["name"]] = obj.where(obj.notna(), np.nan)
    return pd.DataFrame(out, index=frame.index)


def _prepare_target(y: pd.Series, task: str) -> np.ndarray:
    if task == "regression":
        return y.to_numpy(dtype="float64")
    kind = _kind(y)
    if kind == "float" and np.all(np.mod(y.to_numpy(), 1) == 0):
        return y.to_numpy().astype("int64")  # 1.0/2.0 read from a CSV: classes 1 and 2
    if kind in ("int", "float", "bool"):
        return y.to_numpy()
    return y.astype(object).to_numpy(dtype=object)


def evaluate(pipeline: Any, X: pd.DataFrame, y: np.ndarray, task: str) -> dict:
    from sklearn import metrics as m

    pred = pipeline.predict(X)
    if task == "regression":
        return {"rmse": float(math.sqrt(m.mean_squared_error(y, pred))),
                "mae": float(m.mean_absolute_error(y, pred)),
                "r2": float(m.r2_score(y, pred)) if len(y) > 1 else None}
    out = {"accuracy": float(m.accuracy_score(y, pred)),
           "f1_macro": float(m.f1_score(y, pred, average="macro", zero_division=0))}
    if hasattr(pipeline, "predict_proba"):
        classes = pipeline.classes_
        present = set(np.unique(y).tolist())
        if len(present) == len(classes):  # AUC is undefined when a class is absent
            proba = pipeline.predict_proba(X)
            if len(classes) == 2:
                out["roc_auc"] = float(m.roc_auc_score(y, proba[:, 1], labels=classes))
            else:
                out["roc_auc"] = float(m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    return out


@dataclass
class TrainingResult:
    pipeline: Any
    task: str
    algorithm: str
    metrics: dict
    classes: list | None
    schema: dict
    training: dict
    warnings: list[str] = field(default_factory=list)


def library_versions() -> dict:
    import sklearn

    return {"sklearn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__,
            "python": platform.python_version()}


def feature_schema(pipeline: Any, columns: list[dict]) -> dict:
    """The service's feature schema for a pipeline built by build_pipeline and fitted."""
    categories: dict[str, list] = {}
    pre = pipeline.named_steps["preprocess"]
    for name, trans, cols in pre.transformers_:
        if name == "categorical":
            enc = trans.named_steps["onehot"]
            for col, cats in zip(cols, enc.categories_):
                categories[col] = [_jsonable(c) for c in cats
                                   if not (isinstance(c, float) and math.isnan(c))]
    features = []
    for c in columns:
        if c["type"] == "categorical":
            features.append({"name": c["name"], "type": "categorical",
                             "categories": categories[c["name"]], "allow_unknown": True,
                             "nullable": True})
        else:
            features.append({"name": c["name"], "type": "numeric", "nullable": True})
    return {"features": features}


def train(spec: dict, data: pd.DataFrame | Callable[[], pd.DataFrame | tuple[pd.DataFrame, str]], *,
          dataset_sha256: str | None = None,
          on_stage: Callable[[str], None] | None = None) -> TrainingResult:
    """Fit and evaluate the pipeline a (validated or raw) spec describes. `data` is the
    dataset or a callable that loads it (returning the frame, or (frame, sha256));
    `on_stage` hears "loading", "fitting",
    "evaluating" (the caller reports "saving")."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    stage = on_stage or (lambda _s: None)
    started = time.monotonic()
    stage("loading")
    frame = data() if callable(data) else data
    if isinstance(frame, tuple):  # a loader may hand back the file's own digest
        frame, dataset_sha256 = frame
    default_target = BUNDLED_TARGET if spec.get("dataset") in BUNDLED else None
    info = DatasetInfo.from_frame(spec.get("dataset", "data"), frame, spec.get("target") or default_target)
    dataset_sha256 = dataset_sha256 or frame_sha256(frame)
    spec = validate_spec(spec, info)
    task, target = spec["task"], spec["target"]
    frame = frame[frame[target].notna()]
    dropped = info.n_rows - len(frame)
    feature_names = spec.get("features") or [c for c in frame.columns if c != target]
    columns = [c for c in profile_columns(frame[feature_names])]
    X = _prepare_features(frame, columns)
    y = _prepare_target(frame[target], task)
    seed = spec["random_state"]

    stratify = None
    if task == "classification":
        labels, counts = np.unique(y.astype(str) if y.dtype == object else y, return_counts=True)
        if len(labels) < 2:
            raise InvalidInput(f"{target!r} has fewer than two classes after dropping missing values")
        if counts.min() >= 2:
            stratify = y
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=spec["test_size"], random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise InvalidInput(f"cannot split the data for evaluation: {exc}", {"test_size": str(exc)}) from None

    estimator = make_estimator(spec["algorithm"], task, spec["params"], seed)
    pipeline = build_pipeline(columns, estimator)
    caught: list[str] = []
    stage("fitting")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            pipeline.fit(X_train, y_train)
        except ValueError as exc:  # e.g. a parameter combination sklearn only checks in fit
            raise InvalidInput(f"training failed: {exc}") from None
        if task == "classification" and len(np.unique(y_train.astype(str))) < 2:
            raise InvalidInput("the training split holds a single class")

        stage("evaluating")
        metrics: dict[str, Any] = {"test": evaluate(pipeline, X_test, y_test, task),
                                   "n_train": len(X_train), "n_test": len(X_test)}
        folds = spec["cv_folds"]
        if folds:
            if task == "classification":
                if counts.min() < folds:
                    raise InvalidInput(f"cv_folds={folds} but the smallest class has only "
                                       f"{counts.min()} rows", {"cv_folds": "too many folds"})
                splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
            else:
                splitter = KFold(folds, shuffle=True, random_state=seed)
            per_fold = []
            for train_idx, test_idx in splitter.split(X, y):
                fold = clone(pipeline).fit(X.iloc[train_idx], y[train_idx])
                per_fold.append(evaluate(fold, X.iloc[test_idx], y[test_idx], task))
            cv = {"folds": folds}
            for key in per_fold[0]:
                values = [f[key] for f in per_fold if f.get(key) is not None]
                if len(values) == len(per_fold):
                    cv[f"{key}_mean"] = float(np.mean(values))
                    cv[f"{key}_std"] = float(np.std(values))
            metrics["cv"] = cv
    for w in record:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
        if text not in caught:
            caught.append(text)

    classes = None
    if task == "classification":
        classes = [_jsonable(c) for c in pipeline.classes_]
    from app.core.statistics import with_statistics  # the training range, shown by the UI
    schema = with_statistics(feature_schema(pipeline, columns), X_train)
    training = {
        "dataset": {"id": spec["dataset"], "sha256": dataset_sha256,
                    "n_rows": info.n_rows, "rows_dropped_missing_target": dropped},
        "spec": spec,
        "estimator": type(estimator).__name__,
        "libraries": library_versions(),
        "warnings": caught,
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    return TrainingResult(pipeline, task, spec["algorithm"], metrics, classes, schema, training, caught)
