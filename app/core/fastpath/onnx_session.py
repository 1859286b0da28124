"""An onnxruntime session made lazily, in the process that first predicts.

gunicorn's master builds the model bytes (with `onnx` only) and forks its workers: from
onnxruntime 1.29 on `import onnxruntime` starts a thread, after which a forked worker
hangs at exit, and a session created before the fork crashed workers at exit. So nothing
here imports onnxruntime until the first prediction, and a session made in another
process (before a fork) is never used: the pid it was made in is remembered."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


def _new_session(model: bytes) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # one thread each: a tree ensemble split across threads sums its trees in another
    # order, which changes the last bits of the result
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class LazySession:
    """Runs the model's one output on a matrix. Safe to share between threads (a session
    runs concurrently and releases the GIL) and across fork (the child makes its own)."""

    def __init__(self, model: bytes) -> None:
        self.model = model
        self._session: Any = None
        self._pid = -1
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()

    def _current(self) -> Any:
        pid = os.getpid()
        if self._pid != pid:
            if self._lock_pid != pid:
                # a lock copied by fork may be held by a thread that the child lacks
                self._lock = threading.Lock()
                self._lock_pid = pid
            with self._lock:
                if self._pid != pid:
                    self._session = _new_session(self.model)
                    self._pid = pid
        return self._session

    def run(self, X: npt.NDArray[np.floating[Any]]) -> Matrix:
        out = self._current().run(None, {"X": X})[0]
        return np.asarray(out, dtype=np.float64)
