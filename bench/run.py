"""mlstack's benchmark harness (`make bench`).

Starts the stack natively through conf/stack.sh (tests/stackrun.py, the runner the
integration tests use), registers the benchmark models through the API, and drives
load with wrk from a second process on 127.0.0.1. In the same run it measures the
references that bound us: the model floor (in-process predict on one core), the HTTP
ceiling (a bare WSGI app under the same gunicorn settings, through the same nginx) and
the framework bound (an empty flask-restx resource, likewise). Every figure is also
reported as a ratio to them, because absolute numbers drift on shared machines. Writes
bench/results/<date>.json and prints a Markdown table. docs/performance.md explains
the figures and keeps the history.

    python -m bench.run [--duration 10] [--warmup 2] [--repeat 3] [--out bench/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import BenchError, client, inprocess, references
from bench.cpu import CpuMeter
from bench.load import BATCH_CONNECTIONS, CONNECTIONS, LoadSettings, load, load_pair, wrk
from bench.memory import stack_memory
from bench.mlserver_reference import mlserver_batches
from bench.report import Result, write
from bench.scenarios import (
    BATCH_ROWS,
    TRAINED,
    TRAINED_LABEL,
    V2_BINARY_HEADERS,
    V2_MODEL,
    Scenario,
    build_scenarios,
    write_bodies,
    write_trained_bodies,
)
from tests.stackrun import GUNICORN_URL, NGINX_URL, ROOT, Stack, StackError, busy_ports

STATE = ROOT / "var" / "bench"
WORKERS = int(os.environ.get("GUNICORN_WORKERS", "2"))
Bodies = dict[str, dict[str, Path]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


def new_result(settings: LoadSettings) -> Result:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "settings": {
            "duration": settings.duration,
            "warmup": settings.warmup,
            "repeat": settings.repeat,
            "connections": CONNECTIONS,
            "batch_connections": BATCH_CONNECTIONS,
            "gunicorn_workers": WORKERS,
            "batch_max_wait_ms": os.environ.get("BATCH_MAX_WAIT_MS", "2"),
        },
        "models": {},
    }


def prepare(
    stack: Stack, scenarios: dict[str, Scenario], tmp: Path, result: Result
) -> tuple[Bodies, dict[str, Path]]:
    """Register and train the models, let gunicorn preload them, write the bodies,
    check the answers; the bodies and model D's bodies."""
    result["memory"] = {"idle": stack_memory(stack.pids())}
    client.register(stack, scenarios)
    print("bench: training the categorical model through the API ...", flush=True)
    trained_schema = client.train_categorical(stack)
    client.fresh_workers(stack)  # they preload the models just registered
    bodies = {name: write_bodies(tmp, s) for name, s in scenarios.items()}
    for name in scenarios:  # every worker answers each model once or more
        wrk(f"{NGINX_URL}/api/v1/models/{name}/predict", bodies[name]["1"], 1, CONNECTIONS)
    result["memory"]["loaded"] = stack_memory(stack.pids())
    for s in scenarios.values():
        client.check_answers(stack, s)
    for name in [*scenarios, TRAINED]:
        result["models"].setdefault(name, {})["engine"] = client.engine(stack, name)
    return bodies, write_trained_bodies(tmp, trained_schema)


def single_rows(
    scenario: Scenario, bodies: dict[str, Path], settings: LoadSettings, entry: dict[str, Any]
) -> None:
    """One-row requests through nginx and direct, with the floor measured just before;
    for model B also V2 single rows through nginx, right after /api/v1's."""
    print(f"bench: {scenario.label}: single rows ...", flush=True)
    url = f"/api/v1/models/{scenario.name}/predict"
    before = client.predict_counters(scenario.name)
    entry["label"] = scenario.label
    entry["floor"] = references.one_row_floor(scenario)
    entry["single_nginx"] = load(NGINX_URL + url, bodies["1"], settings)
    entry["single_rows_per_call"] = client.rows_per_call(
        before, client.predict_counters(scenario.name)
    )
    if scenario.name == V2_MODEL:
        print(f"bench: {scenario.label}: V2 and /api/v1 single rows, alternated ...", flush=True)
        v2_url = f"{NGINX_URL}/v2/models/{scenario.name}/infer"
        entry["v1_paired_nginx"], entry["v2_single_nginx"] = load_pair(
            (NGINX_URL + url, bodies["1"]), (v2_url, bodies["v2"]), settings
        )
    entry["single_direct"] = load(GUNICORN_URL + url, bodies["1"], settings)


def trained_single_rows(body: Path, settings: LoadSettings, entry: dict[str, Any]) -> None:
    print("bench: trained categorical model ...", flush=True)
    url = f"/api/v1/models/{TRAINED}/predict"
    entry["label"] = TRAINED_LABEL
    entry["single_nginx"] = load(NGINX_URL + url, body, settings)
    entry["single_direct"] = load(GUNICORN_URL + url, body, settings)


def batches(
    stack: Stack,
    name: str,
    bodies: dict[str, Path],
    settings: LoadSettings,
    entry: dict[str, Any],
) -> None:
    """1k- and 10k-row JSON batches (and a 10k-row CSV for B, and V2 binary batches for
    the models with numeric features) through nginx at 4 connections, with the CPU
    split of each run, into the model's `entry`."""
    print(f"bench: {entry['label']}: batches ...", flush=True)
    url = NGINX_URL + f"/api/v1/models/{name}/predict"
    entry["batch_errors"] = 0
    for key, n in BATCH_ROWS.items():
        run = load(url, bodies[key], settings, BATCH_CONNECTIONS, cpu=CpuMeter(stack.pids()))
        entry[f"batch_{key}"] = run
        entry["rows_1k_per_s" if key == "1k" else "json_10k_rows_per_s"] = run["req_per_s"] * n
        entry["batch_errors"] += run["errors"]
    if name == "bench-b":
        csv = load(url, bodies["csv10k"], settings, BATCH_CONNECTIONS, "text/csv")
        entry["csv_10k_rows_per_s"] = csv["req_per_s"] * 10_000
        entry["batch_errors"] += csv["errors"]
    if name != TRAINED:  # its categorical columns have no binary [N, F] form
        v2_binary_batches(stack, name, bodies, settings, entry)


def v2_binary_batches(
    stack: Stack, name: str, bodies: dict[str, Path], settings: LoadSettings, entry: dict[str, Any]
) -> None:
    """The same batches as V2 binary [N, F] FP64 tensors: what a body that carries
    float64 bytes instead of JSON numbers buys."""
    url = NGINX_URL + f"/v2/models/{name}/infer"
    for key in BATCH_ROWS:
        run = load(
            url,
            bodies["v2bin" + key],
            settings,
            BATCH_CONNECTIONS,
            "application/octet-stream",
            cpu=CpuMeter(stack.pids()),
            headers=V2_BINARY_HEADERS,
        )
        entry[f"v2_binary_{key}"] = run
        entry["batch_errors"] += run["errors"]


def measure(
    stack: Stack, scenarios: dict[str, Scenario], settings: LoadSettings, tmp: Path, result: Result
) -> None:
    """Everything measured on the running stack, in an order that matters: the single
    rows right after the references they are compared with, and before the batch
    loads grow the workers' heaps."""
    bodies, trained_bodies = prepare(stack, scenarios, tmp, result)
    models = result["models"]
    print("bench: HTTP ceiling and framework bound ...", flush=True)
    result.update(references.http_references(stack, bodies["bench-b"]["1"], settings))
    for name, s in scenarios.items():
        single_rows(s, bodies[name], settings, models[name])
    trained_single_rows(trained_bodies["1"], settings, models[TRAINED])
    # The single-row runs bring each worker near max_requests: a worker recycled during a
    # batch run would leave its CPU out of the split (docs/performance.md)
    client.fresh_workers(stack)
    for name, s in scenarios.items():
        models[name]["floor"].update(references.batch_floor(s))
        batches(stack, name, bodies[name], settings, models[name])
    batches(stack, TRAINED, trained_bodies, settings, models[TRAINED])
    print("bench: plain Flask + orjson batches ...", flush=True)
    result["plain_flask"] = references.plain_flask_batches(
        stack, {name: bodies[name] for name in scenarios}, settings, BATCH_CONNECTIONS
    )
    print("bench: MLServer batches ...", flush=True)
    result["mlserver"] = mlserver_batches(scenarios, tmp, settings, BATCH_CONNECTIONS)
    print("bench: the same requests in process ...", flush=True)
    result["inprocess"] = inprocess.request_costs(scenarios, bodies)
    result["memory"]["after_load"] = stack_memory(stack.pids())
    result["restart_all_to_ready_s"] = round(client.restart_time(stack), 2)


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is required (apt-get install wrk)")
    if busy := busy_ports():
        sys.exit(f"bench: ports {busy} are in use; the stack's ports are fixed")
    settings = LoadSettings(duration=args.duration, warmup=args.warmup, repeat=args.repeat)
    scenarios = build_scenarios()
    result = new_result(settings)
    stack = Stack(STATE, "bench-" + secrets.token_urlsafe(12), workers=WORKERS)
    tmp = Path(tempfile.mkdtemp(prefix="mlstack-bench-"))
    try:
        print("bench: starting the stack (conf/stack.sh) ...", flush=True)
        stack.start(timeout=300)
        measure(stack, scenarios, settings, tmp, result)
    except (StackError, BenchError) as exc:
        sys.exit(f"bench: {exc}")
    finally:
        stack.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    path, table = write(result, args.out)
    print(table)
    print(f"\nbench: wrote {path}")


if __name__ == "__main__":
    main()
