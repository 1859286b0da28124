"""A smoke run of the benchmark harness (`make bench`) with one-second loads: it starts
the stack, registers and trains the benchmark models, drives every load with wrk and
writes its results. Speed is not asserted here (bench/results/ holds the real runs):
this checks that the harness works on a fresh machine and that nothing it sends fails.

Runs before tests/integration (collection order), whose session stack holds the same
fixed ports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_binary
from tests.stackrun import FOREIGN_STATE, ROOT, busy_ports, missing_binaries


def test_bench_harness_runs_end_to_end(tmp_path):
    if shutil.which("wrk") is None and not Path("/usr/sbin/wrk").exists():
        need_binary("wrk")
    for what in missing_binaries():
        need_binary(what)
    busy = busy_ports()
    if busy:
        pytest.fail(f"ports {busy} are in use: the harness starts the stack on fixed ports")

    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_STATE}
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--duration",
            "1",
            "--warmup",
            "1",
            "--repeat",
            "1",
            "--out",
            str(out),
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    [path] = out.glob("*.json")
    result = json.loads(path.read_text())
    assert set(result["models"]) == {"bench-a", "bench-b", "bench-c", "bench-d"}
    for reference in ("ceiling", "framework"):
        for run in ("nginx", "direct"):
            measured = result[reference][run]
            assert measured["req_per_s"] > 0 and measured["errors"] == 0, (reference, run, measured)
    for name, m in result["models"].items():
        for run in ("single_nginx", "single_direct"):
            assert m[run]["requests"] > 0 and m[run]["errors"] == 0, (name, run, m[run])
        assert m["batch_errors"] == 0, name
        for batch in ("batch_1k", "batch_10k"):
            cpu = m[batch]["cpu"]
            assert len(cpu["worker_cores"]) == 2 and sum(cpu["worker_cores"]) > 0, (name, cpu)
            assert abs(sum(cpu["worker_share"]) - 1) < 0.05, (name, cpu)
        assert m["engine"] in ("sklearn", "numpy", "native", "onnxruntime"), name
        if name != "bench-d":
            for batch in ("v2_binary_1k", "v2_binary_10k"):
                assert m[batch]["requests"] > 0 and m[batch]["errors"] == 0, (name, m[batch])
            assert m["single_rows_per_call"] >= 1, name  # every request predicted, some together
            assert m["floor"]["one_row_calls_per_s"] > 0
    assert result["models"]["bench-b"]["csv_10k_rows_per_s"] > 0
    assert set(result["plain_flask"]) == {"bench-a", "bench-b", "bench-c"}
    for name, plain in result["plain_flask"].items():
        assert plain["1k"] > 0 and plain["10k"] > 0, (name, plain)
    assert set(result["mlserver"]) == {"bench-a", "bench-b", "bench-c"}
    for name, reference in result["mlserver"].items():
        assert reference["1k"] > 0 and reference["10k"] > 0, (name, reference)
    for run in ("v2_single_nginx", "v1_paired_nginx"):
        measured = result["models"]["bench-b"][run]
        assert measured["requests"] > 0 and measured["errors"] == 0, (run, measured)
    inproc = result["inprocess"]
    assert inproc["cores"] >= 1 and inproc["framework"] > 0
    assert set(inproc["models"]) == {"bench-a", "bench-b", "bench-c"} == set(inproc["plain"])
    for name, costs in inproc["models"].items():
        # a request of 10,000 rows costs more than one of a single row, in process as in HTTP
        assert costs["10k"] > costs["1k"] > costs["1"] > 0, (name, costs)
        assert inproc["plain"][name]["10k"] > inproc["plain"][name]["1k"] > 0, name
        assert inproc["v2_binary"][name]["10k"] > inproc["v2_binary"][name]["1k"] > 0, name
    assert max(result["memory"]["loaded"]["gunicorn_worker_uss_mb"]) > 0
    assert result["restart_all_to_ready_s"] > 0
    # every target evaluated (met or not is the bench's business)
    evaluated = {t["target"] for t in result["targets"]}
    expected = {f"{name} single row via nginx >= 0.55x HTTP ceiling" for name in result["models"]}
    expected |= {f"{name} p99 <= 3x p50" for name in result["models"]}
    expected |= {
        f"{name} {key}-row batches >= plain Flask + orjson (4 connections)"
        for name in result["plain_flask"]
        for key in ("1k", "10k")
    }
    expected |= {
        f"{name} {key}-row batches >= 2x MLServer (4 connections)"
        for name in result["mlserver"]
        for key in ("1k", "10k")
    }
    assert expected <= evaluated, expected - evaluated
    assert all(isinstance(t["met"], bool) and t["measured"] for t in result["targets"])
    table = (out / "latest.md").read_text()
    assert "| target | measured | met |" in table and "Framework bound" in table
    assert "V2 single rows" in table and "worker CPU split" in table
    assert "zero-HTTP bound" in table and "mlstack V2 binary" in table
    assert not busy_ports(), "the harness left the stack running"
