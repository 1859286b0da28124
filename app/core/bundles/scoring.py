"""The offline scorer of a bundle without the HTTP service:

    python -m app.core.bundles.scoring --models models --input rows.csv --output scored.csv [--model NAME]

Rows are checked against the model's schema exactly as the API checks them; the
output is the input with a `prediction` column and, for classifiers that have
them, one `proba_<class>` column per class."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from app.core.bundles.install import read_bundle_models
from app.core.errors import InvalidInput, ServiceError
from app.core.runtime import LoadedModel, load_bytes
from app.core.schema import CompiledSchema

MAX_ROWS = 10_000_000


def load(directory: Path, name: str | None) -> LoadedModel:
    models = read_bundle_models(directory)
    names = [r["name"] for r, _ in models]
    if name is None and len(models) > 1:
        raise InvalidInput(
            "this bundle has several models: choose one with MODEL=NAME (" + ", ".join(names) + ")"
        )
    chosen = [(r, d) for r, d in models if name is None or r["name"] == name]
    if not chosen:
        raise InvalidInput(f"no model {name!r} in this bundle; it has " + ", ".join(names))
    record, data = chosen[0]
    est = load_bytes(data, record["artifact_format"])
    return LoadedModel(
        record["name"],
        1,
        record["task"],
        est,
        CompiledSchema.from_doc(record["schema"]),
        record["classes"],
    )


def score(model: LoadedModel, body: bytes) -> str:
    """The scored CSV text for a CSV body (header row = feature names)."""
    matrix, n = model.schema.csv_to_matrix(body, MAX_ROWS)
    answer = model.predict(matrix, model.has_proba)
    rows = [r for r in csv.reader(io.StringIO(body.decode("utf-8"))) if r]
    header, rows = rows[0], rows[1:]
    if len(rows) != n:
        raise InvalidInput(
            f"read {n} rows for the model but {len(rows)} CSV lines: check the quoting"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    proba_columns = (
        [f"proba_{c}" for c in answer.get("classes", [])] if "probabilities" in answer else []
    )
    writer.writerow([*header, "prediction", *proba_columns])
    for i, row in enumerate(rows):
        extra = [repr(p) for p in answer["probabilities"][i]] if proba_columns else []
        prediction = answer["predictions"][i]
        writer.writerow(
            [*row, repr(prediction) if isinstance(prediction, float) else prediction, *extra]
        )
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a CSV file with a bundled model.")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument(
        "--model", default=None, help="the model's name (needed when there are several)"
    )
    args = parser.parse_args(argv)
    try:
        model = load(args.models, args.model or None)
        text = score(model, args.input.read_bytes())
    except ServiceError as exc:
        detail = "".join(f"\n  {k}: {v}" for k, v in exc.errors.items())
        print(f"predict: {exc.message}{detail}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 2
    args.output.write_text(text)
    print(f"predict: {text.count(chr(10)) - 1} rows scored by {model.name} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
