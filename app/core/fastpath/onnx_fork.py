"""onnxruntime under gunicorn's fork: set it up once in the master, and let a forked
worker leave without running onnxruntime's exit code.

Imported in a worker, onnxruntime costs each worker its own copy of the library's
state: about 30 MB of private memory at import and about 9 MB more at the first
session (docs/performance.md). Imported in the master and run once on a one-node
graph there, that state is built before the fork and shared copy-on-write, and a
worker's own sessions cost only their trees. The price: from onnxruntime 1.29 on the
import starts a thread, and a forked child of a process that has it hangs at exit in
onnxruntime's static destructors until gunicorn kills it. So a worker that inherited
the runtime ends with `os._exit` once its own clean-up (logs, database pool) is done.
Sessions are still made in each process that predicts (`onnx_session.LazySession`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def warm_in_master() -> bool:
    """Import onnxruntime and predict once with a one-tree graph, built as the tree
    compiler builds every graph, here (gunicorn's master, before it forks): that sets
    up the CPU provider and the ai.onnx.ml kernels. False when onnxruntime is not
    installed."""
    try:
        import onnxruntime
    except ImportError:
        return False
    import numpy as np
    from sklearn.tree import DecisionTreeRegressor

    from app.core.fastpath.trees import compile_trees

    stage = compile_trees(DecisionTreeRegressor().fit([[0.0], [1.0]], [0.0, 1.0]))
    stage.predict(np.zeros((1, 1)))
    log.info("onnxruntime %s set up in the master, shared by the workers", onnxruntime.__version__)
    return True


def exit_code(exc: BaseException | None) -> int:
    """The status a worker leaving with `exc` would have exited with."""
    if isinstance(exc, SystemExit):
        code: Any = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0 if exc is None else 1


def leave_worker(cleanup: list[Callable[[], object]]) -> None:
    """In a forked worker, once gunicorn is done with it: if onnxruntime is loaded, run
    `cleanup`, flush the logs and leave with the status the
    worker was exiting with, skipping the interpreter's shutdown. Otherwise return."""
    if "onnxruntime" not in sys.modules:
        return
    for step in cleanup:
        try:
            step()
        except Exception:  # noqa: BLE001 - leaving anyway: say what was not cleaned up
            log.exception("worker clean-up step failed before exit")
    code = exit_code(sys.exc_info()[1])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
