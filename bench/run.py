"""mlstack's benchmark harness (`make bench`).

Starts the stack natively through conf/stack.sh (the runner the integration tests
use), registers the benchmark models through the API, and drives load with wrk from
a second process on 127.0.0.1. In the same run it measures the references that bound
us: the model floor (in-process predict on one core), the HTTP ceiling (a bare WSGI
app under the same gunicorn settings, through the same nginx) and the framework bound
(an empty flask-restx resource, likewise). Every figure is also reported as a ratio
to them, because absolute numbers drift on shared machines. Writes
bench/results/<date>.json and prints a Markdown table.

    python -m bench.run [--duration 10] [--warmup 2] [--repeat 3] [--out bench/results]
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import requests

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "var" / "bench"
NGINX = "http://127.0.0.1:5001"
GUNICORN = "http://127.0.0.1:5000"
TOKEN = "bench-" + secrets.token_urlsafe(12)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORKERS = int(os.environ.get("GUNICORN_WORKERS", "2"))
CONNECTIONS = 16
BATCH_CONNECTIONS = 4


# ---------------------------------------------------------------- models ----
def build_models() -> dict[str, dict]:
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
    return {
        "bench-a": {"label": "A iris GradientBoosting(100)", "X": iris.data, "names": iris_names,
                    "est": GradientBoostingClassifier(n_estimators=100, random_state=0).fit(iris.data, iris.target)},
        "bench-b": {"label": "B breast_cancer Scaler+LogisticRegression", "X": cancer.data, "names": cancer_names,
                    "est": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(cancer.data, cancer.target)},
        "bench-c": {"label": "C breast_cancer RandomForest(100)", "X": cancer.data, "names": cancer_names,
                    "est": RandomForestClassifier(n_estimators=100, random_state=0).fit(cancer.data, cancer.target)},
    }


def churn_csv(n: int = 3000, seed: int = 0) -> bytes:
    """A CSV with categorical columns and missing values, for the training endpoint."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.normal(50_000, 15_000, n).round(2),
        "city": rng.choice(["paris", "lyon", "nice", "lille", "brest"], n),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
        "tenure": rng.integers(0, 120, n).astype(float),
    })
    churn = ((frame["tenure"] < 24) & (frame["plan"] == "basic")) | (rng.random(n) < 0.1)
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame.loc[rng.random(n) < 0.05, "city"] = None
    frame["churn"] = np.where(churn, "yes", "no")
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


# ---------------------------------------------------------------- floor -----
def rate(fn, seconds: float = 1.5, min_calls: int = 5) -> float:
    """Calls per second of fn()."""
    for _ in range(3):
        fn()
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def one_row_floor(est, X: np.ndarray) -> dict:
    """In-process predict on one core, one row per call: calls/s. Measured right before
    the single-row HTTP runs it is compared with."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return {"one_row_calls_per_s": rate(lambda: est.predict(X[:1]))}


def batch_floor(est, X: np.ndarray, names: list[str]) -> dict:
    """In-process predict on one core: rows/s for batches, and the request-shaped
    references (orjson decode + array conversion + predict; CSV parse + predict) on
    10,000 rows. Measured right before the batch HTTP runs they are compared with."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    rows1k = np.resize(X, (1000, X.shape[1]))
    rows10k = np.resize(X, (10_000, X.shape[1]))
    body10k = orjson.dumps({"instances": rows10k.tolist()})
    csv10k = pd.DataFrame(rows10k, columns=names).to_csv(index=False).encode()

    def json_path():
        doc = orjson.loads(body10k)
        est.predict(np.array(doc["instances"], dtype=np.float64))

    def csv_path():
        est.predict(pd.read_csv(io.BytesIO(csv10k)).to_numpy(dtype=np.float64))

    with threadpool_limits(1):
        return {
            "rows_per_s_1k": 1000 * rate(lambda: est.predict(rows1k)),
            "rows_per_s_10k": 10_000 * rate(lambda: est.predict(rows10k)),
            "json_10k_rows_per_s": 10_000 * rate(json_path),
            "csv_10k_rows_per_s": 10_000 * rate(csv_path),
        }


# ---------------------------------------------------------------- wrk -------
def wrk(url: str, body: Path, duration: float, connections: int, content_type: str = "application/json") -> dict:
    env = dict(os.environ, BODY=str(body), CONTENT_TYPE=content_type)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
                          "-s", str(ROOT / "bench" / "post.lua"), url],
                         env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")
    r = json.loads(line[len("RESULT "):])
    seconds = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {"req_per_s": r["requests"] / seconds, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "errors": errors, "requests": r["requests"]}


def load(url: str, body: Path, args, connections: int = CONNECTIONS, content_type: str = "application/json") -> dict:
    """Warm-up, then `repeat` timed runs; the median run (by req/s) and every run."""
    wrk(url, body, args.warmup, connections, content_type)
    runs = [wrk(url, body, args.duration, connections, content_type) for _ in range(args.repeat)]
    median = sorted(runs, key=lambda r: r["req_per_s"])[len(runs) // 2]
    return {**median, "runs": [round(r["req_per_s"], 1) for r in runs]}


# ---------------------------------------------------------------- stack -----
class Stack:
    def __init__(self):
        self.env = {**os.environ, "MLSTACK_VAR": str(STATE), "API_TOKEN": TOKEN, "MLSTACK_ENV": "production",
                    "GUNICORN_WORKERS": str(WORKERS)}
        for key in ("DATABASE_URL", "MODEL_STORE", "LOG_DIR"):
            self.env.pop(key, None)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        for port in (5000, 5001):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    sys.exit(f"bench: port {port} is in use; the stack's ports are fixed")
        shutil.rmtree(STATE, ignore_errors=True)
        (STATE / "log").mkdir(parents=True)
        with open(STATE / "log" / "stack.out", "ab") as out:
            self.proc = subprocess.Popen([str(ROOT / "conf" / "stack.sh")], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, cwd=ROOT)
        self.wait_ready(300)

    def ctl(self, *args: str) -> str:
        return subprocess.run([str(ROOT / "conf" / "stack.sh"), "ctl", *args], env=self.env,
                              capture_output=True, text=True, timeout=180).stdout

    def wait_ready(self, timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                sys.exit("bench: the stack exited; see var/bench/log/stack.out")
            try:
                if requests.get(NGINX + "/api/v1/health/ready", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException:
                pass
            time.sleep(0.05)
        sys.exit(f"bench: not ready after {timeout}s; see var/bench/log/stack.out")

    def pids(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(\S+)\s+RUNNING\s+pid (\d+)", self.ctl("status"), re.M)}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.ctl("shutdown")
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            out += [child] + children(child)
    return out


def memory(pid: int) -> dict:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, rest = line.split(":", 1)
        values[key] = int(rest.split()[0])  # kB
    return {"rss_mb": values["Rss"] / 1024, "pss_mb": values["Pss"] / 1024,
            "uss_mb": (values["Private_Clean"] + values["Private_Dirty"]) / 1024}


def stack_memory(stack: Stack) -> dict:
    programs = stack.pids()
    total = {"rss_mb": 0.0, "pss_mb": 0.0}
    per_program = {}
    for name, pid in programs.items():
        procs = [pid] + children(pid)
        mems = [memory(p) for p in procs if Path(f"/proc/{p}").exists()]
        per_program[name] = {k: round(sum(m[k] for m in mems), 1) for k in ("rss_mb", "pss_mb", "uss_mb")}
        for k in total:
            total[k] += per_program[name][k]
    gunicorn_workers = [memory(p) for p in children(programs["gunicorn"])]
    return {"total_rss_mb": round(total["rss_mb"], 1), "total_pss_mb": round(total["pss_mb"], 1),
            "programs": per_program,
            "gunicorn_worker_uss_mb": [round(m["uss_mb"], 1) for m in gunicorn_workers]}


# ---------------------------------------------------------------- steps -----
def register(models: dict) -> None:
    import skops.io as sio

    for name, m in models.items():
        schema = {"features": [{"name": n, "type": "numeric", "example": float(x)}
                               for n, x in zip(m["names"], m["X"][0])]}
        res = requests.post(f"{NGINX}/api/v1/models/{name}/versions", headers=AUTH, timeout=120,
                            files={"file": ("model.skops", sio.dumps(m["est"]))},
                            data={"schema": json.dumps(schema), "promote": "true"})
        res.raise_for_status()


def train_categorical() -> dict:
    """Upload the churn CSV and train it through the training endpoint and the worker."""
    res = requests.post(f"{NGINX}/api/v1/datasets", headers=AUTH, timeout=120,
                        files={"file": ("churn.csv", churn_csv())}, data={"target": "churn", "name": "churn"})
    res.raise_for_status()
    dataset = res.json()["id"]
    res = requests.post(f"{NGINX}/api/v1/models/bench-d/train", headers=AUTH, timeout=60,
                        json={"dataset": str(dataset), "target": "churn", "algorithm": "random_forest",
                              "params": {"n_estimators": 100}, "random_state": 0, "promote": True})
    res.raise_for_status()
    job_url = f"{NGINX}/api/v1/jobs/{res.json()['id']}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = requests.get(job_url, timeout=10).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                sys.exit(f"bench: training job {job['status']}: {job.get('error')}")
            return requests.get(f"{NGINX}/api/v1/models/bench-d/schema", timeout=10).json()
        time.sleep(0.5)
    sys.exit("bench: the training job did not finish in 10 minutes")


def write_bodies(tmp: Path, name: str, X: np.ndarray, names: list[str]) -> dict[str, Path]:
    import pandas as pd

    paths = {}
    for key, n in (("1", 1), ("1k", 1000), ("10k", 10_000)):
        rows = np.resize(X, (n, X.shape[1]))
        paths[key] = tmp / f"{name}-{key}.json"
        paths[key].write_bytes(orjson.dumps({"instances": rows.tolist()}))
    paths["csv10k"] = tmp / f"{name}-10k.csv"
    paths["csv10k"].write_bytes(pd.DataFrame(np.resize(X, (10_000, X.shape[1])), columns=names)
                                .to_csv(index=False).encode())
    return paths


def check_answers(name: str, est, X: np.ndarray) -> None:
    """The service answers what the model answers (batching must not change it)."""
    res = requests.post(f"{NGINX}/api/v1/models/{name}/predict", json={"instances": X[:50].tolist()}, timeout=30)
    res.raise_for_status()
    if res.json()["predictions"] != est.predict(X[:50]).tolist():
        sys.exit(f"bench: {name} answers differ from the model's own predictions")


def references(stack: Stack, body: Path, args) -> dict[str, dict]:
    """The HTTP ceiling (bench/ceiling.py, a bare WSGI app) and the framework bound
    (bench/framework.py, an empty flask-restx resource on the prediction URL), each on
    gunicorn's port with mlstack's gunicorn settings, behind the same nginx."""
    stack.ctl("stop", "gunicorn")
    try:
        return {"ceiling": _reference(stack, "ceiling:app", "/", body, args),
                "framework": _reference(stack, "framework:app", "/api/v1/models/bench-b/predict", body, args)}
    finally:
        stack.ctl("start", "gunicorn")
        stack.wait_ready(120)


def _reference(stack: Stack, app: str, path: str, body: Path, args) -> dict:
    env = {**stack.env, "GUNICORN_CONTROL_SOCKET": str(STATE / "run" / "reference.ctl"),
           "PROMETHEUS_MULTIPROC_DIR": ""}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "conf" / "gunicorn.conf.py"),
                             "--chdir", str(ROOT / "bench"), app], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if requests.post(GUNICORN + path, data=b"{}", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        return {"nginx": load(NGINX + path, body, args), "direct": load(GUNICORN + path, body, args)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def restart_time(stack: Stack) -> float:
    start = time.monotonic()
    stack.ctl("restart", "all")
    stack.wait_ready(300)
    return time.monotonic() - start


# ---------------------------------------------------------------- report ----
def targets(r: dict) -> list[tuple[str, str, bool]]:
    m, c = r["models"], r["ceiling"]
    out = []
    b = m["bench-b"]["single_nginx"]["req_per_s"] / c["nginx"]["req_per_s"]
    out.append(("B single row via nginx >= 0.45x HTTP ceiling", f"{b:.2f}x", b >= 0.45))
    a = m["bench-a"]["single_nginx"]["req_per_s"] / m["bench-a"]["floor"]["one_row_calls_per_s"]
    out.append(("A single row via nginx >= 1.0x model floor (1 row/call)", f"{a:.2f}x", a >= 1.0))
    cc = m["bench-c"]["single_nginx"]["req_per_s"] / m["bench-c"]["floor"]["one_row_calls_per_s"]
    out.append(("C single row via nginx >= 3x model floor (1 row/call)", f"{cc:.2f}x", cc >= 3.0))
    for name in ("bench-a", "bench-b", "bench-c"):
        s = m[name]["single_nginx"]
        out.append((f"{name} p99 <= 3x p50", f"{s['p99_ms'] / s['p50_ms']:.1f}x", s["p99_ms"] <= 3 * s["p50_ms"]))
    bj = m["bench-b"]["json_10k_rows_per_s"] / m["bench-b"]["floor"]["json_10k_rows_per_s"]
    out.append(("B 10k-row JSON >= 50% of in-process decode+convert+predict", f"{bj:.0%}", bj >= 0.5))
    bc = m["bench-b"]["csv_10k_rows_per_s"] / m["bench-b"]["floor"]["csv_10k_rows_per_s"]
    out.append(("B 10k-row CSV >= 50% of in-process parse+predict", f"{bc:.0%}", bc >= 0.5))
    uss = max(r["memory"]["loaded"]["gunicorn_worker_uss_mb"])
    out.append(("USS per gunicorn worker <= 30 MB (models preloaded, serving)", f"{uss:.1f} MB", uss <= 30))
    return out


def predict_counters(model: str) -> tuple[float, float]:
    """(rows predicted, estimator calls) for a model, summed over versions and workers."""
    text = requests.get(GUNICORN + "/metrics", timeout=10).text

    def total(metric: str) -> float:
        return sum(float(v) for v in re.findall(rf'^{metric}\{{model="{model}",version="\d+"\}} (\S+)$', text, re.M))
    return total("mlstack_predictions_total"), total("mlstack_predict_calls_total")


def rows_per_call(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    calls = after[1] - before[1]
    return (after[0] - before[0]) / calls if calls else None


def markdown(r: dict) -> str:
    c, fw = r["ceiling"], r["framework"]
    b = r["models"]["bench-b"]["single_nginx"]["req_per_s"]
    lines = [f"Run {r['date']} on {r['machine']} (gunicorn {WORKERS} workers; wrk -t2 -c{CONNECTIONS}, "
             f"{r['settings']['duration']} s x {r['settings']['repeat']}, median run).", "",
             f"HTTP ceiling (bare WSGI app): {c['nginx']['req_per_s']:.0f} req/s via nginx, "
             f"{c['direct']['req_per_s']:.0f} req/s direct. Direct runs keep wrk's connections to "
             "gunicorn for the whole run, so one worker may hold most of them (nginx replaces its "
             "upstream connections every 8 requests, which evens the load out): the ratios use "
             "the runs through nginx.", "",
             f"Framework bound (an empty flask-restx resource on the prediction URL, same gunicorn "
             f"and nginx): {fw['nginx']['req_per_s']:.0f} req/s via nginx "
             f"({fw['nginx']['req_per_s'] / c['nginx']['req_per_s']:.2f}x the ceiling), "
             f"{fw['direct']['req_per_s']:.0f} req/s direct; model B reaches "
             f"{b / fw['nginx']['req_per_s']:.2f}x of it.", "",
             "| model | single via nginx req/s (x ceiling, x floor) | p50 / p99 ms | errors | rows per call | "
             "direct req/s | floor calls/s | 1k rows/s | 10k rows/s JSON (x ref) | 10k rows/s CSV (x ref) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in r["models"].values():
        s, d, f = m["single_nginx"], m["single_direct"], m.get("floor")

        def num(value, ref_key=None):
            if value is None:
                return "-"
            ratio = f" ({value / f[ref_key]:.0%})" if f and ref_key else ""
            return f"{value:.0f}{ratio}"

        floor_x = f", {s['req_per_s'] / f['one_row_calls_per_s']:.2f}x" if f else ""
        lines.append(
            f"| {m['label']} | {s['req_per_s']:.0f} ({s['req_per_s'] / c['nginx']['req_per_s']:.2f}x{floor_x}) | "
            f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {s['errors']} | "
            f"{'-' if m.get('single_rows_per_call') is None else format(m['single_rows_per_call'], '.1f')} | "
            f"{d['req_per_s']:.0f} | "
            f"{num(f and f['one_row_calls_per_s'])} | {num(m.get('rows_1k_per_s'))} | "
            f"{num(m.get('json_10k_rows_per_s'), 'json_10k_rows_per_s')} | "
            f"{num(m.get('csv_10k_rows_per_s'), 'csv_10k_rows_per_s')} |")
    mem = r["memory"]
    lines += ["", f"Memory (all stack processes): idle {mem['idle']['total_pss_mb']:.0f} MB PSS "
              f"({mem['idle']['total_rss_mb']:.0f} MB RSS); models preloaded and served "
              f"{mem['loaded']['total_pss_mb']:.0f} MB PSS, USS per gunicorn worker "
              f"{', '.join(f'{u:.1f}' for u in mem['loaded']['gunicorn_worker_uss_mb'])} MB; after the "
              f"10k-row batches (heap high-water) USS per worker "
              f"{', '.join(f'{u:.1f}' for u in mem['after_load']['gunicorn_worker_uss_mb'])} MB. "
              f"`supervisorctl restart all` to ready: {r['restart_all_to_ready_s']:.1f} s.", "",
              "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {v} | {'yes' if ok else 'no'} |" for t, v, ok in targets(r)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is required (apt-get install wrk)")

    models = build_models()
    stack = Stack()
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} {os.cpu_count()} cores",
              "settings": {"duration": args.duration, "warmup": args.warmup, "repeat": args.repeat,
                           "connections": CONNECTIONS, "batch_connections": BATCH_CONNECTIONS,
                           "gunicorn_workers": WORKERS,
                           "batch_max_wait_ms": os.environ.get("BATCH_MAX_WAIT_MS", "2")},
              "models": {}}
    tmp = Path(tempfile.mkdtemp(prefix="mlstack-bench-"))
    try:
        print("bench: starting the stack (conf/stack.sh) ...", flush=True)
        stack.start()
        result["memory"] = {"idle": stack_memory(stack)}
        register(models)
        print("bench: training the categorical model through the API ...", flush=True)
        d_schema = train_categorical()
        # restart gunicorn: its master preloads the production models before forking,
        # as it would in production, so the workers share them copy-on-write
        stack.ctl("restart", "gunicorn")
        stack.wait_ready(120)
        bodies = {name: write_bodies(tmp, name, m["X"], m["names"]) for name, m in models.items()}
        for name in models:  # every worker answers each model once or more
            wrk(f"{NGINX}/api/v1/models/{name}/predict", bodies[name]["1"], 1, CONNECTIONS)
        result["memory"]["loaded"] = stack_memory(stack)
        for name, m in models.items():
            check_answers(name, m["est"], m["X"])
        d_body = tmp / "bench-d-1.json"
        d_body.write_bytes(orjson.dumps(d_schema["example"] | {"return_proba": False}))

        print("bench: HTTP ceiling and framework bound ...", flush=True)
        result.update(references(stack, bodies["bench-b"]["1"], args))
        # Single rows for every model first, right after the references they are
        # compared with, and before the batch loads below grow the workers' heaps.
        for name, m in models.items():
            print(f"bench: {m['label']}: single rows ...", flush=True)
            url = f"/api/v1/models/{name}/predict"
            before = predict_counters(name)
            entry = {"label": m["label"], "floor": one_row_floor(m["est"], m["X"]),
                     "single_nginx": load(NGINX + url, bodies[name]["1"], args)}
            entry["single_rows_per_call"] = rows_per_call(before, predict_counters(name))
            entry["single_direct"] = load(GUNICORN + url, bodies[name]["1"], args)
            result["models"][name] = entry
        print("bench: trained categorical model ...", flush=True)
        result["models"]["bench-d"] = {
            "label": "D trained pipeline (categorical + missing), RandomForest(100)",
            "single_nginx": load(NGINX + "/api/v1/models/bench-d/predict", d_body, args),
            "single_direct": load(GUNICORN + "/api/v1/models/bench-d/predict", d_body, args),
        }
        for name, m in models.items():
            print(f"bench: {m['label']}: batches ...", flush=True)
            url = f"/api/v1/models/{name}/predict"
            entry = result["models"][name]
            entry["floor"].update(batch_floor(m["est"], m["X"], m["names"]))
            b1k = load(NGINX + url, bodies[name]["1k"], args, BATCH_CONNECTIONS)
            b10k = load(NGINX + url, bodies[name]["10k"], args, BATCH_CONNECTIONS)
            entry["rows_1k_per_s"] = b1k["req_per_s"] * 1000
            entry["json_10k_rows_per_s"] = b10k["req_per_s"] * 10_000
            entry["batch_errors"] = b1k["errors"] + b10k["errors"]
            if name == "bench-b":
                csv = load(NGINX + url, bodies[name]["csv10k"], args, BATCH_CONNECTIONS, "text/csv")
                entry["csv_10k_rows_per_s"] = csv["req_per_s"] * 10_000
                entry["batch_errors"] += csv["errors"]
        result["memory"]["after_load"] = stack_memory(stack)
        result["restart_all_to_ready_s"] = round(restart_time(stack), 2)
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    result["targets"] = [{"target": t, "measured": v, "met": ok} for t, v, ok in targets(result)]
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    path = args.out / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=float))
    table = markdown(result)
    (args.out / "latest.md").write_text(table + "\n")
    print(table)
    print(f"\nbench: wrote {path}")


if __name__ == "__main__":
    main()
