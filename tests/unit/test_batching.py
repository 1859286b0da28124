"""Micro-batching: concurrent requests share predict calls, and every caller gets
exactly the answer a call of its own would have given."""

import threading

import numpy as np
import pytest

from app.core.batching import MicroBatcher


class Recorder:
    def __init__(self, model, fail_on=None):
        self.model = model
        self.sizes = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, matrix, proba):
        with self.lock:
            self.sizes.append(len(matrix))
        if self.fail_on is not None and (matrix == self.fail_on).all(axis=1).any():
            raise ValueError("bad row")
        out = {"predictions": self.model.predict(matrix).tolist(), "classes": [0, 1, 2]}
        if proba:
            out["probabilities"] = self.model.predict_proba(matrix).tolist()
        return out


def run_concurrently(batcher, rows, proba_for=lambda i: i % 2 == 0):
    results, errors = {}, {}
    barrier = threading.Barrier(len(rows))

    def one(i):
        with batcher.slot() as slot:
            barrier.wait()
            try:
                results[i] = slot.predict(rows[i], proba_for(i))
            except Exception as exc:  # noqa: BLE001
                errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors


def test_concurrent_requests_share_calls_and_get_their_own_answers(iris_models, iris_data):
    X, _ = iris_data
    model = iris_models["gb"]
    recorder = Recorder(model)
    batcher = MicroBatcher(recorder, max_wait=0.05, max_rows=1000)
    rows = [X[i * 7 : i * 7 + 1 + i % 3] for i in range(16)]
    results, errors = run_concurrently(batcher, rows)
    assert not errors
    for i, r in enumerate(rows):
        assert results[i]["predictions"] == model.predict(r).tolist()
        assert results[i]["classes"] == [0, 1, 2]
        if i % 2 == 0:
            np.testing.assert_allclose(
                results[i]["probabilities"], model.predict_proba(r), rtol=1e-12
            )
        else:
            assert "probabilities" not in results[i]
    assert sum(recorder.sizes) == sum(len(r) for r in rows)
    assert len(recorder.sizes) < len(rows), recorder.sizes
    assert batcher.calls == len(recorder.sizes)


def test_a_request_alone_does_not_wait(iris_models, iris_data):
    import time

    batcher = MicroBatcher(Recorder(iris_models["tree"]), max_wait=1.0)
    start = time.monotonic()
    with batcher.slot() as slot:
        slot.predict(iris_data[0][:1], False)
    assert time.monotonic() - start < 0.5


def test_a_failing_row_fails_only_its_own_request(iris_models, iris_data):
    X, _ = iris_data
    bad = X[3]
    recorder = Recorder(iris_models["tree"], fail_on=bad)
    batcher = MicroBatcher(recorder, max_wait=0.05)
    rows = [X[i : i + 1] for i in range(8)]
    results, errors = run_concurrently(batcher, rows, proba_for=lambda i: False)
    assert set(errors) == {3}
    assert set(results) == set(range(8)) - {3}
    for i in results:
        assert results[i]["predictions"] == iris_models["tree"].predict(rows[i]).tolist()


def test_requests_that_leave_without_rows_do_not_hold_the_leader(iris_models, iris_data):
    import time

    batcher = MicroBatcher(Recorder(iris_models["tree"]), max_wait=5.0)
    with batcher.slot():
        pass  # e.g. its body was invalid
    start = time.monotonic()
    with batcher.slot() as slot:
        slot.predict(iris_data[0][:1], False)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("max_wait, max_rows, n", [(0, 100, 1), (0.01, 5, 10)])
def test_batching_off_or_large_inputs_go_straight_through(
    iris_models, iris_data, max_wait, max_rows, n
):
    recorder = Recorder(iris_models["tree"])
    batcher = MicroBatcher(recorder, max_wait=max_wait, max_rows=max_rows)
    with batcher.slot() as slot:
        out = slot.predict(iris_data[0][:n], False)
    assert len(out["predictions"]) == n and recorder.sizes == [n]
    assert batcher._arrivals.count == 0


def test_requests_arriving_during_a_prediction_form_the_next_batch(iris_models, iris_data):
    import time

    X, _ = iris_data
    model = iris_models["tree"]

    class Slow(Recorder):
        def __call__(self, matrix, proba):
            time.sleep(0.2)  # a long predict, the GIL released
            return super().__call__(matrix, proba)

    recorder = Slow(model)
    batcher = MicroBatcher(recorder, max_wait=0.001)
    results = {}

    def one(i):
        with batcher.slot() as slot:
            results[i] = slot.predict(X[i : i + 1], False)

    first = threading.Thread(target=one, args=(0,))
    first.start()
    time.sleep(0.05)  # the first batch is being predicted
    others = [threading.Thread(target=one, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(10)
    assert recorder.sizes == [1, 5]
    assert all(results[i]["predictions"] == model.predict(X[i : i + 1]).tolist() for i in range(6))
