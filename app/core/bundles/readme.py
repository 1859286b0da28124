"""The bundle's README.md, written for its models and parts."""

from __future__ import annotations

import json
from typing import Any

from app.core.bundles.components import Choice
from app.core.bundles.models import BundleModel


def _feature_line(f: dict[str, Any]) -> str:
    kind = f["type"]
    if kind == "categorical":
        cats = ", ".join(map(str, f.get("categories", [])[:12]))
        more = " ..." if len(f.get("categories", [])) > 12 else ""
        kind += f" ({cats}{more}{'; unseen ones accepted' if f.get('allow_unknown') else ''})"
    missing = "; missing values accepted" if f.get("nullable") else ""
    return f"| `{f['name']}` | {kind}{missing} |"


def _metrics_text(metrics: dict[str, Any]) -> str:
    flat = metrics.get("test", metrics) if isinstance(metrics.get("test"), dict) else metrics
    parts = [
        f"{k} {v:.4g}"
        for k, v in flat.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    return ", ".join(parts) or "none recorded"


def model_section(m: BundleModel, choice: Choice) -> str:
    source = (
        f"version {m.source_version} in the registry it came from"
        if m.source_version
        else "a local file"
    )
    lines = [f"### {m.name}", ""]
    if m.description:
        lines += [m.description, ""]
    lines += [
        f"- task: {m.task}; algorithm: `{m.algorithm}`; scikit-learn {m.sklearn_version}",
        f"- metrics: {_metrics_text(m.metrics)}",
        f"- source: {source}; artifact sha256 `{m.artifact_sha256}`",
    ]
    if m.classes is not None:
        lines.append("- classes: " + ", ".join(f"`{c}`" for c in m.classes))
    lines += [
        "",
        "| feature | type |",
        "| --- | --- |",
        *(_feature_line(f) for f in m.schema["features"]),
        "",
    ]
    for example in m.examples:
        body = {"instances": [example["row"]], "return_proba": "probabilities" in example}
        answer = {"model": m.name, "version": 1, "predictions": [example["prediction"]]}
        if m.classes is not None:
            answer["classes"] = m.classes
        if "probabilities" in example:
            answer["probabilities"] = [example["probabilities"]]
        if choice.online:
            lines += [
                "```sh",
                f"curl -s -X POST http://127.0.0.1:${{PORT:-8000}}/api/v1/models/{m.name}/predict \\",
                f"  -H 'Content-Type: application/json' -d '{json.dumps(body)}'",
                f"# {json.dumps(answer)}",
                "```",
                "",
            ]
    if not choice.online:
        names = [f["name"] for f in m.schema["features"]]
        row = m.examples[0]["row"]
        values = ["" if row[n] is None else str(row[n]) for n in names]
        lines += [
            "```sh",
            f"printf '{','.join(names)}\\n{','.join(values)}\\n' > rows.csv",
            f"make predict MODEL={m.name} INPUT=rows.csv OUTPUT=scored.csv",
            f"# prediction: {json.dumps(m.examples[0]['prediction'])}",
            "```",
            "",
        ]
    return "\n".join(lines)


def setup_section(choice: Choice) -> str:
    if not choice.online:
        lines = [
            "## Set up",
            "",
            "Python 3.11+ with `venv` (Debian: `python3-venv`):",
            "",
            "```sh",
            "make test                                          # virtualenv, install, the bundle's tests"
            if choice.has("tests")
            else "make install",
            "make predict INPUT=rows.csv OUTPUT=scored.csv      # add MODEL=NAME when there are several",
            "```",
            "",
            "The output is the input with a `prediction` column (and `proba_<class>` columns for "
            "classifiers). Rows are checked against the model's schema; problems are named and "
            "nothing is written.",
        ]
        return "\n".join(lines)
    lines = [
        "## Set up",
        "",
        "Python 3.11+ with `venv` (Debian: `python3-venv`):",
        "",
        "```sh",
        "make run      # virtualenv, migrations, the models registered; gunicorn on 127.0.0.1:$PORT (default 8000)",
    ]
    if choice.has("tests"):
        lines.append("make test     # the bundle's own tests")
    lines += [
        "```",
        "",
        "`make run` keeps its state (SQLite database, models, logs, the admin token in "
        "`var/api_token`) under `var/`; set `DATABASE_URL` to use another database.",
    ]
    if choice.has("swagger"):
        lines.append("Swagger UI: `http://127.0.0.1:$PORT/api/v1/docs`.")
    if choice.has("supervisor"):
        lines += [
            "",
            "The supervised stack (supervisord: PostgreSQL, gunicorn"
            + (", the training worker" if choice.has("training") else "")
            + (", nginx on 5001" if choice.has("nginx") else "")
            + "), natively; it needs "
            "Debian's `postgresql`" + (" and `nginx`" if choice.has("nginx") else "") + ":",
            "",
            "```sh",
            "make stack                 # state under var/stack/, token in var/stack/api_token",
            "conf/stack.sh ctl status   # supervisorctl",
            "```",
        ]
    if choice.has("docker"):
        lines += [
            "",
            "Docker:",
            "",
            "```sh",
            "cp conf/mlstack.env.example .env   # set API_TOKEN",
            "docker-compose up -d --build",
            "curl http://localhost:5000/api/v1/health/ready",
            "```",
        ]
    return "\n".join(lines)


def render(
    models: list[BundleModel], choice: Choice, mlstack_version: str, pins: dict[str, str]
) -> str:
    kind = "An HTTP service" if choice.online else "An offline CSV scorer"
    names = ", ".join(f"`{m.name}`" for m in models)
    parts = [
        f"# mlstack bundle: {names}",
        "",
        f"{kind} for {names}, made by mlstack {mlstack_version}. "
        "This folder is the mlstack stack itself, configured for these models: they are "
        "registered into its own registry on first start (as version 1 of each).",
        "",
        "Parts: "
        + ", ".join(f"`{c}`" for c in choice.as_list())
        + (f" (database: {choice.database})" if choice.database else "")
        + ".",
        "",
        setup_section(choice),
        "",
        "## Models",
        "",
        *(model_section(m, choice) for m in models),
        "## Files",
        "",
        "- `models/<name>/` — the artifact and `model.json` (schema, metrics, lineage, example rows with their answers)",
        "- `manifest.json` — every file with its size and sha256, the parts, the source versions",
        "- `pyproject.toml` — mlstack with every dependency pinned (scikit-learn "
        f"{pins.get('scikit-learn', '?')}, the version the models were made with)",
        "- `bundle.env` — the settings that switch the parts on and off",
        "",
    ]
    return "\n".join(parts)
