"""What the harness serves and sends: the benchmark models (fitted with fixed seeds),
the CSV the trained model D learns from, and the request bodies for each model."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

Matrix = npt.NDArray[np.float64]
TRAINED = "bench-d"
TRAINED_LABEL = "D trained pipeline (categorical + missing), RandomForest(100)"
V2_MODEL = "bench-b"  # the model V2 single rows are measured on, beside /api/v1
# body key -> rows per request, for the JSON bodies
JSON_BODY_ROWS = {"1": 1, "1k": 1000, "10k": 10_000}
# body key -> rows per request, for the batch runs and their references
BATCH_ROWS = {key: n for key, n in JSON_BODY_ROWS.items() if n > 1}
# the V2 binary bodies' JSON header, padded with spaces to this many bytes: one
# Inference-Header-Content-Length for every body wrk sends
V2_BINARY_HEADER_BYTES = 512
V2_BINARY_HEADERS = {"Inference-Header-Content-Length": str(V2_BINARY_HEADER_BYTES)}


@dataclass(frozen=True)
class Scenario:
    """A model registered through the API: its label in the report, its fitted
    estimator, the data its bodies are cut from and the feature names."""

    name: str
    label: str
    estimator: Any
    X: Matrix
    names: list[str]


def build_scenarios() -> dict[str, Scenario]:
    """A: iris GradientBoosting(100); B: breast_cancer StandardScaler+LogisticRegression;
    C: breast_cancer RandomForest(100). Fixed seeds."""
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    cancer = load_breast_cancer()
    iris_names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    cancer_names = [re.sub(r"\W+", "_", n).strip("_") for n in cancer.feature_names]
    scenarios = [
        Scenario(
            "bench-a",
            "A iris GradientBoosting(100)",
            GradientBoostingClassifier(n_estimators=100, random_state=0).fit(
                iris.data, iris.target
            ),
            iris.data,
            iris_names,
        ),
        Scenario(
            "bench-b",
            "B breast_cancer Scaler+LogisticRegression",
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
                cancer.data, cancer.target
            ),
            cancer.data,
            cancer_names,
        ),
        Scenario(
            "bench-c",
            "C breast_cancer RandomForest(100)",
            RandomForestClassifier(n_estimators=100, random_state=0).fit(
                cancer.data, cancer.target
            ),
            cancer.data,
            cancer_names,
        ),
    ]
    return {s.name: s for s in scenarios}


def churn_csv(n: int = 3000, seed: int = 0) -> bytes:
    """A CSV with categorical columns and missing values, for the training endpoint."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50_000, 15_000, n).round(2),
            "city": rng.choice(["paris", "lyon", "nice", "lille", "brest"], n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
            "tenure": rng.integers(0, 120, n).astype(float),
        }
    )
    churn = ((frame["tenure"] < 24) & (frame["plan"] == "basic")) | (rng.random(n) < 0.1)
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame.loc[rng.random(n) < 0.05, "city"] = None
    frame["churn"] = np.where(churn, "yes", "no")
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


def registration(s: Scenario) -> tuple[bytes, dict[str, str]]:
    """What registers `s` as a promoted version: its skops artifact and the form fields
    (the schema: every feature numeric, the first row as the examples)."""
    import skops.io as sio

    schema = {
        "features": [
            {"name": n, "type": "numeric", "example": float(x)}
            for n, x in zip(s.names, s.X[0], strict=True)
        ]
    }
    return sio.dumps(s.estimator), {"schema": orjson.dumps(schema).decode(), "promote": "true"}


def rows(X: Matrix, n: int) -> Matrix:
    """`n` rows cut from X, repeating it as often as needed."""
    return np.resize(X, (n, X.shape[1]))


def csv_body(X: Matrix, names: list[str]) -> bytes:
    import pandas as pd

    text: str = pd.DataFrame(X, columns=names).to_csv(index=False)
    return text.encode()


def v2_body(row: Matrix) -> bytes:
    """An Open Inference Protocol request: one [1, F] FP64 tensor in JSON, the default
    output (predict)."""
    tensor = {"name": "input-0", "datatype": "FP64", "shape": [1, len(row)], "data": row.tolist()}
    return orjson.dumps({"inputs": [tensor]})


def v2_binary_body(X: Matrix) -> bytes:
    """An Open Inference Protocol request with its rows as one binary [N, F] FP64 tensor
    (the binary tensor extension), the default output: a JSON header of
    V2_BINARY_HEADER_BYTES, then the rows' little-endian bytes."""
    data = np.ascontiguousarray(X, dtype="<f8").tobytes()
    tensor = {
        "name": "input-0",
        "datatype": "FP64",
        "shape": list(X.shape),
        "parameters": {"binary_data_size": len(data)},
    }
    head = orjson.dumps({"inputs": [tensor]})
    return head.ljust(V2_BINARY_HEADER_BYTES) + data


def write_bodies(tmp: Path, scenario: Scenario) -> dict[str, Path]:
    """The scenario's request bodies: JSON with 1, 1,000 and 10,000 rows ("1", "1k",
    "10k"), a 10,000-row CSV ("csv10k"), a V2 single row ("v2") and the batches as V2
    binary tensors ("v2bin1k", "v2bin10k")."""
    paths = {}
    for key, n in JSON_BODY_ROWS.items():
        paths[key] = tmp / f"{scenario.name}-{key}.json"
        paths[key].write_bytes(orjson.dumps({"instances": rows(scenario.X, n).tolist()}))
    for key, n in BATCH_ROWS.items():
        paths["v2bin" + key] = tmp / f"{scenario.name}-v2bin{key}.bin"
        paths["v2bin" + key].write_bytes(v2_binary_body(rows(scenario.X, n)))
    paths["csv10k"] = tmp / f"{scenario.name}-10k.csv"
    paths["csv10k"].write_bytes(csv_body(rows(scenario.X, 10_000), scenario.names))
    paths["v2"] = tmp / f"{scenario.name}-v2.json"
    paths["v2"].write_bytes(v2_body(scenario.X[0]))
    return paths


def churn_rows(n: int) -> list[dict[str, Any]]:
    """`n` rows of the churn CSV's features as JSON objects (missing values as null),
    repeating the CSV as often as needed."""
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(churn_csv())).drop(columns="churn")
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [records[i % len(records)] for i in range(n)]


def write_trained_bodies(tmp: Path, schema: dict[str, Any]) -> dict[str, Path]:
    """The trained model's bodies: one row (its schema's example, labels only) and
    1,000- and 10,000-row batches of the churn CSV's rows."""
    paths = {"1": tmp / f"{TRAINED}-1.json"}
    paths["1"].write_bytes(orjson.dumps(schema["example"] | {"return_proba": False}))
    for key, n in JSON_BODY_ROWS.items():
        if n > 1:
            paths[key] = tmp / f"{TRAINED}-{key}.json"
            paths[key].write_bytes(orjson.dumps({"instances": churn_rows(n)}))
    return paths
