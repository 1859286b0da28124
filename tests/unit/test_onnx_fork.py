"""onnxruntime under fork (app/core/fastpath/onnx_fork.py), in a fresh interpreter (this
test session may have loaded onnxruntime in a way a child would inherit): the runtime is
set up in the parent, a forked child predicts exactly with the session the parent made
and leaves with the status it was exiting with, after its clean-up, without hanging."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from app.core.fastpath.onnx_fork import exit_code

CHILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from app.core.fastpath.onnx_fork import leave_worker, warm_in_master
    from app.core.fastpath.trees import compile_trees

    X, y = load_iris(return_X_y=True)
    est = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    stage = compile_trees(est, native=False)
    assert warm_in_master() and "onnxruntime" in sys.modules
    stage.predict(X[:1])  # the session is made here, before the fork, as in the master
    made_here = stage.sums.session._session
    marker = sys.argv[1]
    pid = os.fork()
    if pid == 0:  # as gunicorn's worker: sys.exit, and worker_exit in a finally
        try:
            ok = np.array_equal(stage.predict_proba(X), est.predict_proba(X))
            shared = stage.sums.session._session is made_here
            sys.exit(7 if ok and shared else 3)
        finally:
            leave_worker([lambda: open(marker, "w").write("cleaned")])
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
    """
)


def test_a_child_of_a_warmed_parent_predicts_and_leaves_with_its_status(tmp_path):
    marker = tmp_path / "cleanup"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(marker)], timeout=60, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # exact answers from the shared session, and the status it exited with
    assert done.stdout.strip() == "7"
    assert marker.read_text() == "cleaned"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (None, 0),
        (SystemExit(0), 0),
        (SystemExit(None), 0),
        (SystemExit(3), 3),
        (SystemExit("boom"), 1),
        (RuntimeError("x"), 1),
    ],
)
def test_the_exit_status_is_the_one_the_worker_was_leaving_with(exc, code):
    assert exit_code(exc) == code
