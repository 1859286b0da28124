"""onnxruntime under gunicorn's fork: set it up once in the master, and let a forked
worker leave without running onnxruntime's exit code.

Imported in a worker, onnxruntime costs each worker its own copy of the library's
state: about 30 MB of private memory at import, about 9 MB more at the first session,
and each session its own copy of its trees (docs/performance.md). Set up in the master,
by one prediction on a one-tree graph, that state is built before the fork and shared
copy-on-write; and the sessions the master then makes for the preloaded versions (one
thread each, no pool) are shared too, and proven there, once. The price: from
onnxruntime 1.29 on the import starts a thread, and a forked child of a process that
has it hangs at exit in onnxruntime's static destructors until gunicorn kills it. So a
worker that inherited the runtime ends with `os._exit` once its own clean-up (logs,
database pool) is done. Outside such a master (tests, the training worker, a process
that forks without this exit) a session is never used across a fork
(`onnx_session.LazySession`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_set_up_for_forks = False  # warm_in_master ran here: sessions made here may be inherited


def sessions_shared_with_forks() -> bool:
    """Whether sessions made in this process may serve in its forked children."""
    return _set_up_for_forks


def warm_in_master() -> bool:
    """Import onnxruntime and predict once with a one-tree graph, built as the tree
    compiler builds every graph, here (gunicorn's master, before it forks and before
    it loads the versions): that sets up the CPU provider and the ai.onnx.ml kernels,
    and from then on sessions made here are shared with the workers. False when
    onnxruntime is not installed. Only for a process whose forked children leave with
    `leave_worker`."""
    global _set_up_for_forks
    try:
        import onnxruntime
    except ImportError:
        return False
    import numpy as np
    from sklearn.tree import DecisionTreeRegressor

    from app.core.fastpath.trees import compile_trees

    stage = compile_trees(DecisionTreeRegressor().fit([[0.0], [1.0]], [0.0, 1.0]), native=False)
    stage.predict(np.zeros((1, 1)))
    _set_up_for_forks = True
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
    `cleanup`, flush the logs and leave with the status the worker was exiting with,
    skipping the interpreter's shutdown. Otherwise return."""
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
