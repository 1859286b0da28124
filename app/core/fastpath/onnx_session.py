"""An onnxruntime session made lazily, in the process that first predicts.

A session made in another process is not used after a fork (the pid it was made in is
remembered; the child makes its own), unless it was made in a gunicorn master that set
onnxruntime up for its workers (`onnx_fork`): there, sessions are made before the fork
on purpose, proven once and shared copy-on-write. Elsewhere a session inherited across a
fork could crash or hang the child at exit (from onnxruntime 1.29 on)."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.fastpath.onnx_fork import sessions_shared_with_forks

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
        self._inheritable = False  # made in a master whose forks may use it
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()

    def _current(self) -> Any:
        pid = os.getpid()
        if self._pid != pid and self._inheritable:
            self._pid = pid  # made in gunicorn's master for its workers (onnx_fork)
        if self._pid != pid:
            if self._lock_pid != pid:
                # a lock copied by fork may be held by a thread that the child lacks
                self._lock = threading.Lock()
                self._lock_pid = pid
            with self._lock:
                if self._pid != pid:
                    self._session = _new_session(self.model)
                    self._inheritable = sessions_shared_with_forks()
                    self._pid = pid
        return self._session

    def run(self, X: npt.NDArray[np.floating[Any]]) -> Matrix:
        out = self._current().run(None, {"X": X})[0]
        return np.asarray(out, dtype=np.float64)
