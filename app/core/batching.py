"""Adaptive micro-batching inside one process.

Requests for the same model version that are in flight together (gunicorn's gthread
workers run several at once) are predicted with one `predict` call: scikit-learn's
per-call overhead (input checks, Python dispatch, tree traversal set-up) is paid once
per batch instead of once per request.

No thread of its own: the first request to arrive becomes the leader. It waits for
the other requests already inside the handler to bring their rows, at most
`max_wait` seconds and until `max_rows` rows are collected, then predicts for all and
hands each follower its slice. A request alone in flight never waits. Rows are
stacked in arrival order, so each caller gets exactly the rows it sent predicted by
the same estimator: the answers are those of separate calls (probabilities may differ
in the last bits where the estimator uses BLAS on the whole matrix)."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

Predict = Callable[[np.ndarray, bool], dict]


class _Item:
    __slots__ = ("matrix", "proba", "done", "result", "error")

    def __init__(self, matrix: np.ndarray, proba: bool):
        self.matrix = matrix
        self.proba = proba
        self.done = threading.Event()
        self.result: dict | None = None
        self.error: BaseException | None = None


class MicroBatcher:
    def __init__(self, predict: Predict, max_wait: float = 0.002, max_rows: int = 256):
        self._predict = predict
        self.max_wait = max_wait
        self.max_rows = max_rows
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[_Item] = []
        self._pending_rows = 0
        self._announced = 0  # requests inside the handler that have not submitted rows
        self._leading = False
        self.calls = 0  # predict calls made (for tests and metrics)
        self.rows = 0

    def slot(self) -> "Slot":
        """Announce a request before it parses its body, so that a leader knows more
        rows are on their way: `with batcher.slot() as slot: ... slot.predict(...)`."""
        return Slot(self)

    def _announce(self) -> None:
        with self._cond:
            self._announced += 1

    def _withdraw(self) -> None:  # the request ended without bringing rows
        with self._cond:
            self._announced -= 1
            self._cond.notify_all()

    def _submit(self, matrix: np.ndarray, proba: bool) -> dict:
        if self.max_wait <= 0 or len(matrix) >= self.max_rows:
            self._withdraw()
            return self._count(self._predict(matrix, proba), len(matrix))
        item = _Item(matrix, proba)
        with self._cond:
            self._announced -= 1
            self._pending.append(item)
            self._pending_rows += len(matrix)
            lead = not self._leading
            if lead:
                self._leading = True
            else:
                self._cond.notify_all()
        if lead:
            self._run(self._collect())
        else:
            item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    def _collect(self) -> list[_Item]:
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            # wait while a request that announced itself has not brought its rows yet
            while self._announced > 0 and self._pending_rows < self.max_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch, self._pending = self._pending, []
            self._pending_rows = 0
            self._leading = False
        return batch

    def _run(self, batch: list[_Item]) -> None:
        if len(batch) == 1:
            self._settle(batch[0], lambda: self._predict(batch[0].matrix, batch[0].proba))
            return
        try:
            matrix = np.concatenate([i.matrix for i in batch])
            out = self._predict(matrix, any(i.proba for i in batch))
        except Exception:  # noqa: BLE001 - retry one by one so only the culprit fails
            for item in batch:
                self._settle(item, lambda item=item: self._predict(item.matrix, item.proba))
            return
        self._count(out, len(matrix))
        start = 0
        for item in batch:
            end = start + len(item.matrix)
            part: dict[str, Any] = {"predictions": out["predictions"][start:end]}
            if "classes" in out:
                part["classes"] = out["classes"]
            if item.proba:
                part["probabilities"] = out["probabilities"][start:end]
            item.result = part
            item.done.set()
            start = end

    def _settle(self, item: _Item, call: Callable[[], dict]) -> None:
        try:
            item.result = self._count(call(), len(item.matrix))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
            item.error = exc
        item.done.set()

    def _count(self, out: dict, rows: int) -> dict:
        with self._cond:
            self.calls += 1
            self.rows += rows
        return out


class Slot:
    """One request's place in a batcher (a context manager)."""

    __slots__ = ("batcher", "submitted")

    def __init__(self, batcher: MicroBatcher):
        self.batcher = batcher
        self.submitted = False

    def __enter__(self) -> "Slot":
        self.batcher._announce()
        return self

    def predict(self, matrix: np.ndarray, proba: bool) -> dict:
        self.submitted = True
        return self.batcher._submit(matrix, proba)

    def __exit__(self, *exc: object) -> None:
        if not self.submitted:
            self.batcher._withdraw()
