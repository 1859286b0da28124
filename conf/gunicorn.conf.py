"""Gunicorn settings for mlstack, read from the environment.

Used by the supervised stack (container and `make stack`), and fine on its own:
`gunicorn -c conf/gunicorn.conf.py wsgi:app` serves on 127.0.0.1:5000.
nginx (5001) sits in front; gunicorn only listens on loopback."""

import gc
import os
import shutil


def _int(name, default):
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


# GUNICORN_BIND, else PORT (the variable platforms and tutorials set) on loopback. The
# stack sets neither: nginx's upstream is 127.0.0.1:5000.
bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{_int('PORT', 5000)}"
workers = _int("GUNICORN_WORKERS", 2)
# Threads: a thread waiting on the database must not block its worker, and requests
# in flight together are predicted together (app/core/batching.py), so a slow model
# needs enough of them to form batches; beyond 6 the cheap models lose to GIL
# hand-offs (docs/performance.md).
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 6)

# gthread workers heartbeat from their main loop, so `timeout` only fires for a worker
# that is truly stuck, not for one slow request.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than nginx's upstream keepalive_timeout (nginx.conf), so nginx always closes
# an idle upstream connection first and never reuses one gunicorn has just dropped.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle workers now and then (slow leaks in native libraries); the jitter keeps
# them from all restarting at once. High, because predictions are cheap: a recycling
# worker stops accepting about 2 s before its replacement is forked (it finishes what
# it has in flight), and with the fast path a busy worker reached 20,000 requests every
# 15-20 s, so the other one served alone a tenth of the time (docs/performance.md).
# The new worker forks from the master with the models loaded and proven (when_ready).
max_requests = _int("GUNICORN_MAX_REQUESTS", 200000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 20000)

# Load the app (and the models it caches) once in the master; workers share the
# pages copy-on-write and a recycled worker starts in milliseconds.
preload_app = True

# The app writes its own access log (logger mlstack.access, with the request id).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
proc_name = "mlstack"

if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"  # heartbeat file off the disk

_var = os.environ.get("MLSTACK_VAR")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
elif _var:
    # in the state's run/ (the entrypoint makes run/gunicorn/ the app user's), not
    # under $HOME: service users have none
    control_socket = os.path.join(_var, "run", "gunicorn", "gunicorn.ctl")

# Prometheus multiprocess mode: every process writes its samples to files in this
# directory. It must be emptied before the app is loaded (preload_app loads it in the
# master, before any server hook runs), and only once per master: a HUP re-reads this
# file in the same master while workers keep their files open.
_prom_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _prom_dir and os.environ.get("_MLSTACK_PROM_CLEANED") != str(os.getpid()):
    if os.path.isdir(_prom_dir):
        for _entry in os.scandir(_prom_dir):
            if _entry.is_dir(follow_symlinks=False):
                shutil.rmtree(_entry.path)
            else:
                os.unlink(_entry.path)
    os.makedirs(_prom_dir, exist_ok=True)
    os.environ["_MLSTACK_PROM_CLEANED"] = str(os.getpid())


def _services(server):
    """mlstack's services, or None for another app served under these settings (the
    bench's reference apps)."""
    return getattr(server.app.wsgi(), "extensions", {}).get("mlstack")


def when_ready(server):
    # Called in the master after preload_app, before the first fork: load the
    # production models here once, so every worker starts with them in its cache,
    # including one recycled by max_requests or replaced after a crash while the
    # database happens to be down.
    services = _services(server)
    if services is None:
        return
    app = server.app.wsgi()
    registry, db = services.registry, services.db
    # Flask compiles its URL map on the first request: here, once, instead of in every worker.
    app.url_map.update()
    if services.config.FAST_PATH:
        # onnxruntime's own state and the preloaded versions' sessions, built and
        # proven once here, are shared by every worker (app/core/fastpath/onnx_fork.py;
        # worker_exit below is its other half). Before the versions load.
        from app.core.fastpath.onnx_fork import warm_in_master

        try:
            warm_in_master()
        except Exception as exc:  # noqa: BLE001 - workers set it up themselves instead
            server.log.warning("could not set up onnxruntime in the master: %s", exc)
    try:
        server.log.info(
            "preloaded %d production model(s) in the master", registry.preload_production()
        )
    except Exception as exc:  # noqa: BLE001 - workers load lazily instead
        server.log.warning("could not preload the models: %s", exc)
    finally:
        db.engine.dispose()  # the master serves nothing: no idle connection to keep
    # Everything loaded so far (libraries, models) moves to a generation the collector
    # never scans: workers then neither copy those pages on write (the collector's
    # bookkeeping touches every object it visits) nor stall on full collections.
    gc.freeze()


def post_fork(server, worker):
    # preload_app built the app (and its SQLAlchemy engine) in the master: a pooled
    # connection inherited across fork would be shared by two processes. Drop the
    # inherited pool without closing the master's sockets.
    services = _services(server)
    if services is not None:
        services.db.engine.dispose(close=False)
        # Prove what the master could not (onnxruntime stages, when onnxruntime was not
        # set up there) before this worker takes its first request.
        try:
            proved = services.registry.settle_loaded()
            server.log.info("worker %s proved %d compiled version(s)", worker.pid, proved)
            if proved:  # the proof's temporary arrays are gone: their pages go back
                from app.heap import trim

                trim()
        except Exception as exc:  # a failed proof leaves scikit-learn serving, not a dead worker
            server.log.warning("could not settle the fast path: %s", exc)


def worker_exit(server, worker):
    # Called in the worker as it leaves. With onnxruntime loaded (from the master), the
    # interpreter's own shutdown would hang in it: close the database pool and leave now.
    from app.core.fastpath.onnx_fork import leave_worker

    services = _services(server)
    cleanup = [services.db.engine.dispose] if services is not None else []
    leave_worker(cleanup)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
