"""The run's report: the targets it is held to, the Markdown table (printed and
written to latest.md) and the JSON document (<stamp>.json)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bench.scenarios import BATCH_ROWS

Result = dict[str, Any]
SINGLE_ROW_TARGET = 0.55  # issue 13: single rows via nginx, as a share of the HTTP ceiling
Target = tuple[str, str, bool]  # what, measured, met


def v2_ratio(b: dict[str, Any]) -> float:
    """V2 over /api/v1 req/s: the median of the ratios of alternated runs (each pair ran
    back to back, so a neighbour's load mostly cancels out)."""
    pairs = zip(b["v2_single_nginx"]["runs"], b["v1_paired_nginx"]["runs"], strict=True)
    ratios = sorted(v2 / v1 for v2, v1 in pairs)
    return ratios[len(ratios) // 2]


def targets(r: Result) -> list[Target]:
    m, c = r["models"], r["ceiling"]
    out = []
    for name in ("bench-a", "bench-b", "bench-c", "bench-d"):  # issue 13's single-row target
        x = m[name]["single_nginx"]["req_per_s"] / c["nginx"]["req_per_s"]
        what = f"{name} single row via nginx >= {SINGLE_ROW_TARGET}x HTTP ceiling"
        out.append((what, f"{x:.2f}x", x >= SINGLE_ROW_TARGET))
    a = m["bench-a"]["single_nginx"]["req_per_s"] / m["bench-a"]["floor"]["one_row_calls_per_s"]
    out.append(("A single row via nginx >= 1.0x model floor (1 row/call)", f"{a:.2f}x", a >= 1.0))
    cc = m["bench-c"]["single_nginx"]["req_per_s"] / m["bench-c"]["floor"]["one_row_calls_per_s"]
    out.append(("C single row via nginx >= 3x model floor (1 row/call)", f"{cc:.2f}x", cc >= 3.0))
    for name in ("bench-a", "bench-b", "bench-c", "bench-d"):
        s = m[name]["single_nginx"]
        out.append(
            (
                f"{name} p99 <= 3x p50",
                f"{s['p99_ms'] / s['p50_ms']:.1f}x",
                s["p99_ms"] <= 3 * s["p50_ms"],
            )
        )
    bj = m["bench-b"]["json_10k_rows_per_s"] / m["bench-b"]["floor"]["json_10k_rows_per_s"]
    out.append(
        ("B 10k-row JSON >= 50% of in-process decode+convert+predict", f"{bj:.0%}", bj >= 0.5)
    )
    bc = m["bench-b"]["csv_10k_rows_per_s"] / m["bench-b"]["floor"]["csv_10k_rows_per_s"]
    out.append(("B 10k-row CSV >= 50% of in-process parse+predict", f"{bc:.0%}", bc >= 0.5))
    v2 = v2_ratio(m["bench-b"])
    out.append(
        ("V2 single row (B, JSON [1, F]) via nginx >= 0.9x /api/v1", f"{v2:.2f}x", v2 >= 0.9)
    )
    busiest = max(e["batch_1k"]["cpu"]["worker_share"][0] for e in m.values())
    out.append(
        (
            "1k-row batches: busiest worker <= 65% of the workers' CPU (A, B, C, D)",
            f"{busiest:.0%}",
            busiest <= 0.65,
        )
    )
    out += _batch_targets(r, "plain_flask", "plain Flask + orjson", 1)
    out += _batch_targets(r, "mlserver", "2x MLServer", 2)
    uss = max(r["memory"]["loaded"]["gunicorn_worker_uss_mb"])
    out.append(
        ("USS per gunicorn worker <= 30 MB (models preloaded, serving)", f"{uss:.1f} MB", uss <= 30)
    )
    return out


def _batch_targets(r: Result, key: str, what: str, factor: float) -> list[Target]:
    """mlstack's batch rows/s >= `factor` x the reference's under r[key], per model and size."""
    out = []
    for name, reference in r.get(key, {}).items():
        for size, rows_per_s in reference.items():
            ours = r["models"][name]["batch_" + size]["req_per_s"] * BATCH_ROWS[size]
            target = f"{name} {size}-row batches >= {what} (4 connections)"
            out.append((target, f"{ours / rows_per_s:.2f}x", ours >= factor * rows_per_s))
    return out


def _references(r: Result) -> list[str]:
    c, fw, s = r["ceiling"], r["framework"], r["settings"]
    b = r["models"]["bench-b"]["single_nginx"]["req_per_s"]
    return [
        (
            f"Run {r['date']} on {r['machine']} (gunicorn {s['gunicorn_workers']} workers; "
            f"wrk -t2 -c{s['connections']}, {s['duration']} s x {s['repeat']}, median run)."
        ),
        "",
        (
            f"HTTP ceiling (bare WSGI app): {c['nginx']['req_per_s']:.0f} req/s via nginx, "
            f"{c['direct']['req_per_s']:.0f} req/s direct. Direct runs keep wrk's connections to "
            "gunicorn for the whole run, so one worker may hold most of them (nginx replaces its "
            "upstream connections every 8 requests, which evens the load out): the ratios use "
            "the runs through nginx."
        ),
        "",
        (
            f"Framework bound (an empty flask-restx resource on the prediction URL, same gunicorn "
            f"and nginx): {fw['nginx']['req_per_s']:.0f} req/s via nginx "
            f"({fw['nginx']['req_per_s'] / c['nginx']['req_per_s']:.2f}x the ceiling), "
            f"{fw['direct']['req_per_s']:.0f} req/s direct; model B reaches "
            f"{b / fw['nginx']['req_per_s']:.2f}x of it."
        ),
        "",
    ]


MODEL_HEADER = [
    (
        "| model | engine | single via nginx req/s (x ceiling, x floor) | p50 / p99 ms | errors | "
        "rows per call | direct req/s | floor calls/s | 1k rows/s | 10k rows/s JSON (x ref) | "
        "10k rows/s CSV (x ref) |"
    ),
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
BATCH_HEADER = [
    (
        "| model | rows | rows/s | p50 / p99 ms | worker CPU split | worker cores used | "
        "worker runnable | stack cores used |"
    ),
    "|---|---|---|---|---|---|---|---|",
]


def _model_row(m: dict[str, Any], ceiling: float) -> str:
    s, d, f = m["single_nginx"], m["single_direct"], m.get("floor")

    def num(value: float | None, ref_key: str | None = None) -> str:
        if value is None:
            return "-"
        ratio = f" ({value / f[ref_key]:.0%})" if f and ref_key else ""
        return f"{value:.0f}{ratio}"

    floor_x = f", {s['req_per_s'] / f['one_row_calls_per_s']:.2f}x" if f else ""
    per_call = m.get("single_rows_per_call")
    return (
        f"| {m['label']} | {m.get('engine', '-')} | "
        f"{s['req_per_s']:.0f} ({s['req_per_s'] / ceiling:.2f}x{floor_x}) | "
        f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {s['errors']} | "
        f"{'-' if per_call is None else format(per_call, '.1f')} | "
        f"{d['req_per_s']:.0f} | "
        f"{num(f and f['one_row_calls_per_s'])} | {num(m.get('rows_1k_per_s'))} | "
        f"{num(m.get('json_10k_rows_per_s'), 'json_10k_rows_per_s')} | "
        f"{num(m.get('csv_10k_rows_per_s'), 'csv_10k_rows_per_s')} |"
    )


def _batch_rows(m: dict[str, Any]) -> list[str]:
    out = []
    for key, n in (("batch_1k", 1000), ("batch_10k", 10_000)):
        b = m.get(key)
        if b is None:
            continue
        cpu = b["cpu"]

        def listed(values: list[float], fmt: str = ".2f") -> str:
            return " / ".join(format(v, fmt) for v in values)

        out.append(
            f"| {m['label']} | {n} | {b['req_per_s'] * n:.0f} | "
            f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} | {listed(cpu['worker_share'], '.0%')} | "
            f"{listed(cpu['worker_cores'])} | {listed(cpu['worker_runnable'])} | "
            f"{cpu['stack_cores']:.2f} |"
        )
    return out


def _batch_references(r: Result) -> list[str]:
    """Rows/s of mlstack's batches beside the plain-Flask and MLServer references."""
    plain, mlserver = r.get("plain_flask", {}), r.get("mlserver", {})
    lines = [
        "Batch references, rows/s at 4 connections (plain Flask + orjson behind the same "
        "gunicorn and nginx; MLServer with its defaults, on its own front, V2 tensor bodies "
        "in JSON). mlstack's JSON bodies are the targets' measure; its V2 binary bodies "
        "([N, F] FP64 tensors, the same rows as float64 bytes, through nginx) show what a "
        "body without JSON numbers buys:",
        "",
        "| model | rows | mlstack JSON | plain Flask + orjson | MLServer | mlstack V2 binary "
        "(x MLServer) | V2 binary p50 ms | V2 binary worker split |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(set(plain) | set(mlserver)):
        m = r["models"][name]
        for key, n in BATCH_ROWS.items():
            ours = m["batch_" + key]["req_per_s"] * n
            theirs = mlserver.get(name, {}).get(key, 0)
            lines.append(
                f"| {m['label']} | {n} | {ours:.0f} | {plain.get(name, {}).get(key, 0):.0f} | "
                f"{theirs:.0f} | {_v2_binary(m, key, n, theirs)} |"
            )
    return lines


def _v2_binary(m: dict[str, Any], key: str, n: int, mlserver_rows: float) -> str:
    run = m.get(f"v2_binary_{key}")
    if run is None:
        return "- | - | -"
    rows_per_s = run["req_per_s"] * n
    ratio = f" ({rows_per_s / mlserver_rows:.2f}x)" if mlserver_rows else ""
    split = " / ".join(f"{share:.0%}" for share in run["cpu"]["worker_share"])
    return f"{rows_per_s:.0f}{ratio} | {run['p50_ms']:.1f} | {split}"


def _v2(r: Result) -> str:
    b = r["models"]["bench-b"]
    v1, v2 = b["v1_paired_nginx"], b["v2_single_nginx"]
    return (
        f"V2 single rows (model B, one [1, F] FP64 tensor in JSON, through nginx, timed runs "
        f"alternated with /api/v1's): {v2['req_per_s']:.0f} req/s, "
        f"against /api/v1's {v1['req_per_s']:.0f} (median runs); {v2_ratio(b):.2f}x, the median "
        f"ratio of the alternated runs ({v2['runs']} against {v1['runs']}); p50 / p99 {v2['p50_ms']:.1f} / "
        f"{v2['p99_ms']:.1f} ms against {v1['p50_ms']:.1f} / {v1['p99_ms']:.1f}, "
        f"{v2['errors']} errors."
    )


def _zero_http(r: Result) -> list[str]:
    """What the targets ask against what a request costs in process (bench/inprocess.py):
    the machine time per single row the single-row target leaves above the framework bound,
    and each batch's rate with HTTP free (cores x rows / the in-process cost)."""
    inproc = r.get("inprocess")
    if not inproc:
        return []
    cores, fw, models = inproc["cores"], inproc["framework"], inproc["models"]
    ceiling, bound = r["ceiling"]["nginx"]["req_per_s"], r["framework"]["nginx"]["req_per_s"]
    target = SINGLE_ROW_TARGET
    budget = cores * 1e6 / (target * ceiling) - cores * 1e6 / bound
    extras = ", ".join(
        f"{name} {costs['1']:.0f} (+{costs['1'] - fw:.0f})" for name, costs in models.items()
    )
    lines = [
        (
            f"In process (bench/inprocess.py: the WSGI app called on one thread, no socket, best of "
            f"{inproc['rounds']} rounds), us per single-row request: the empty resource "
            f"{fw:.0f}; {extras}. The {target}x target leaves {budget:.0f} us of machine time "
            f"per request above the framework bound's ({cores} cores / ({target} x ceiling) - "
            f"{cores} cores / framework bound)."
        ),
        "",
        (
            f"Batches with HTTP free: {cores} cores x rows / the in-process cost of one request "
            "(the zero-HTTP bound), beside what the HTTP runs reached and what 2x MLServer asks:"
        ),
        "",
        "| model | rows | mlstack ms / request | zero-HTTP bound rows/s | measured (x bound) "
        "| 2x MLServer (x bound) | plain Flask ms / request | its bound | its measured (x bound) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, plain_costs in inproc["plain"].items():
        m = r["models"][name]
        for key, n in BATCH_ROWS.items():
            ours_bound = cores * n * 1e6 / models[name][key]
            plain_bound = cores * n * 1e6 / plain_costs[key]
            ours = m["batch_" + key]["req_per_s"] * n
            asked = 2 * r.get("mlserver", {}).get(name, {}).get(key, 0)
            plain = r.get("plain_flask", {}).get(name, {}).get(key, 0)
            lines.append(
                f"| {m['label']} | {n} | {models[name][key] / 1000:.2f} | {ours_bound:.0f} | "
                f"{ours:.0f} ({ours / ours_bound:.2f}x) | {asked:.0f} ({asked / ours_bound:.2f}x) | "
                f"{plain_costs[key] / 1000:.2f} | {plain_bound:.0f} | "
                f"{plain:.0f} ({plain / plain_bound:.2f}x) |"
            )
    if binary := inproc.get("v2_binary"):
        lines += ["", _v2_binary_in_process(binary, cores)]
    return lines


def _v2_binary_in_process(binary: dict[str, dict[str, float]], cores: int) -> str:
    """The V2 binary batches' in-process cost per request and their zero-HTTP bound."""

    def one(key: str, us: float) -> str:
        rows = BATCH_ROWS[key]
        return f"{rows} rows {us / 1000:.2f} ms ({cores * rows * 1e6 / us:.0f} rows/s)"

    costs = "; ".join(
        f"{name} " + ", ".join(one(key, us) for key, us in by_key.items())
        for name, by_key in binary.items()
    )
    return (
        "The same batches as V2 binary tensors in process, ms per request (zero-HTTP "
        f"bound): {costs}."
    )


def _memory(r: Result) -> str:
    mem = r["memory"]

    def workers(phase: str) -> str:
        return ", ".join(f"{u:.1f}" for u in mem[phase]["gunicorn_worker_uss_mb"])

    return (
        f"Memory (all stack processes): idle {mem['idle']['total_pss_mb']:.0f} MB PSS "
        f"({mem['idle']['total_rss_mb']:.0f} MB RSS); models preloaded and served "
        f"{mem['loaded']['total_pss_mb']:.0f} MB PSS, USS per gunicorn worker "
        f"{workers('loaded')} MB; after the 10k-row batches (heap high-water) USS per worker "
        f"{workers('after_load')} MB. "
        f"`supervisorctl restart all` to ready: {r['restart_all_to_ready_s']:.1f} s."
    )


def markdown(r: Result) -> str:
    ceiling = r["ceiling"]["nginx"]["req_per_s"]
    lines = _references(r) + MODEL_HEADER
    lines += [_model_row(m, ceiling) for m in r["models"].values()]
    lines += [
        "",
        _v2(r),
        "",
        "Batches at 4 connections through nginx, CPU over the timed runs:",
        "",
    ]
    lines += BATCH_HEADER + [row for m in r["models"].values() for row in _batch_rows(m)]
    lines += ["", *_batch_references(r)]
    if zero_http := _zero_http(r):
        lines += ["", *zero_http]
    lines += ["", _memory(r), "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {v} | {'yes' if ok else 'no'} |" for t, v, ok in targets(r)]
    return "\n".join(lines)


def write(r: Result, out: Path) -> tuple[Path, str]:
    """Evaluate the targets into `r`, write out/<stamp>.json and out/latest.md; the
    JSON's path and the table."""
    r["targets"] = [{"target": t, "measured": v, "met": ok} for t, v, ok in targets(r)]
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = out / f"{stamp}.json"
    path.write_text(json.dumps(r, indent=2, default=float))
    table = markdown(r)
    (out / "latest.md").write_text(table + "\n")
    return path, table
