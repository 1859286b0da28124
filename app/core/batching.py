"""Adaptive micro-batching inside one process.

Requests for the same model version that are in flight together (gunicorn's gthread
workers run several at once) are predicted with one `predict` call: scikit-learn's
per-call overhead (input checks, Python dispatch, tree traversal set-up) is paid once
per batch instead of once per request.

No thread of its own, and one batch at a time per model version: the first request
to arrive becomes the leader. It waits for the other requests already inside the
handler to bring their rows (at most `max_wait` seconds, at most `max_rows` rows),
predicts for all and hands each follower its slice. Requests that arrive while a batch
is being predicted queue up; when it is done, the oldest of them leads the next batch
with all of them. So batches grow with the load by themselves, a process never runs
two predictions of the same model at once (the gunicorn workers keep the cores busy),
and a request alone in flight never waits. Rows are
stacked in arrival order, so each caller gets exactly the rows it sent predicted by
the same estimator: the answers are those of separate calls (probabilities may differ
in the last bits where the estimator uses BLAS on the whole matrix)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

# {"predictions": [...], plus "probabilities" when asked and "classes" for classifiers}
Predicted = dict[str, Any]
Predict = Callable[[np.ndarray, bool], Predicted]
MAX_YIELDS = 4  # GIL hand-overs a leader offers before it collects


class _Item:
    __slots__ = ("matrix", "proba", "done", "result", "error", "lead")

    def __init__(self, matrix: np.ndarray, proba: bool):
        self.matrix = matrix
        self.proba = proba
        self.lead = False
        # Held from creation; released once the request is answered or handed the
        # lead. A bare lock rather than an Event, whose set() runs a Condition's Python
        # code under the GIL once per request (docs/performance.md).
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Predicted | None = None
        self.error: BaseException | None = None


class Arrivals:
    """Prediction requests inside this process that have not brought their rows yet.
    Shared by the batchers of every model version, so that a leader waits for the
    requests that are still being parsed (while it waits, the GIL is theirs)."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.count = 0
        self.waiting = 0  # leaders waiting on `cond` for rows (notifying nobody costs)

    def withdraw(self) -> None:
        """A request ended without bringing rows (or predicted on its own)."""
        with self.cond:
            self.count -= 1
            if self.waiting:
                self.cond.notify_all()

    def slot(self, batcher: MicroBatcher | None = None) -> Slot:
        """Announce a request as early as possible: `with arrivals.slot() as slot:
        ... slot.predict(matrix, proba, batcher)`."""
        return Slot(self, batcher)


class MicroBatcher:
    def __init__(
        self,
        predict: Predict,
        max_wait: float = 0.002,
        max_rows: int = 256,
        arrivals: Arrivals | None = None,
    ):
        self._predict = predict
        self.max_wait = max_wait
        self.max_rows = max_rows
        self._arrivals = arrivals or Arrivals()
        self._cond = self._arrivals.cond
        self._pending: list[_Item] = []
        self._pending_rows = 0
        self._running = False  # a leader is collecting or predicting a batch
        self.calls = 0  # predict calls made (for tests and metrics)
        self.rows = 0

    def slot(self) -> Slot:
        """A slot announced to this batcher's arrivals and bound to it."""
        return self._arrivals.slot(self)

    def submit(self, slot: Slot, matrix: np.ndarray, proba: bool) -> Predicted:
        """Predict `slot`'s rows, alone or with the requests that arrived with them."""
        slot.submitted = True
        if self.max_wait <= 0 or len(matrix) >= self.max_rows:
            self._arrivals.withdraw()
            return self._count(self._predict(matrix, proba), len(matrix))
        item = _Item(matrix, proba)
        with self._cond:
            self._arrivals.count -= 1
            self._pending.append(item)
            self._pending_rows += len(matrix)
            lead = not self._running
            if lead:
                self._running = True
            elif self._arrivals.waiting:
                self._cond.notify_all()  # a collecting leader is waiting for these rows
        if not lead:
            item.done.acquire()  # answered, or handed the lead (item.lead)
        if lead or item.lead:
            self._lead()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]  # no error: _settle or _run set it

    def _lead(self) -> None:
        """Collect and predict one batch, then hand the lead to the oldest request
        that arrived meanwhile (its rows form the next batch), or stand down."""
        self._run(self._collect())
        with self._cond:
            if self._pending:
                successor = self._pending[0]
                successor.lead = True
                successor.done.release()
            else:
                self._running = False

    def _collect(self) -> list[_Item]:
        deadline = time.monotonic() + self.max_wait
        # Threads with requests of their own may be waiting for the GIL, unseen: let
        # them run, so that those that reach their prediction bring their rows; stop
        # as soon as a yield brings nothing. sched_yield, not time.sleep(0), which
        # sleeps for the timer slack (docs/performance.md).
        seen = -1
        for _ in range(MAX_YIELDS):
            if len(self._pending) == seen or self._pending_rows >= self.max_rows:
                break
            seen = len(self._pending)
            os.sched_yield()
        with self._cond:
            # wait while a request that announced itself has not brought its rows yet
            while self._arrivals.count > 0 and self._pending_rows < self.max_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrivals.waiting += 1
                self._cond.wait(remaining)
                self._arrivals.waiting -= 1
            batch: list[_Item] = []
            rows = 0
            while self._pending and (
                not batch or rows + len(self._pending[0].matrix) <= self.max_rows
            ):
                item = self._pending.pop(0)
                batch.append(item)
                rows += len(item.matrix)
            self._pending_rows -= rows
        return batch

    def _run(self, batch: list[_Item]) -> None:
        if len(batch) == 1:
            self._settle(batch[0], partial(self._predict, batch[0].matrix, batch[0].proba))
            return
        try:
            matrix = np.concatenate([i.matrix for i in batch])
            out = self._predict(matrix, any(i.proba for i in batch))
        except Exception:  # noqa: BLE001 - retry one by one so only the culprit fails
            for item in batch:
                self._settle(item, partial(self._predict, item.matrix, item.proba))
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
            item.done.release()
            start = end

    def _settle(self, item: _Item, call: Callable[[], Predicted]) -> None:
        try:
            item.result = self._count(call(), len(item.matrix))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
            item.error = exc
        item.done.release()

    def _count(self, out: Predicted, rows: int) -> Predicted:
        with self._cond:
            self.calls += 1
            self.rows += rows
        return out


class Slot:
    """One request's place among the arrivals (a context manager)."""

    __slots__ = ("arrivals", "batcher", "submitted")

    def __init__(self, arrivals: Arrivals, batcher: MicroBatcher | None = None):
        self.arrivals = arrivals
        self.batcher = batcher
        self.submitted = False

    def __enter__(self) -> Slot:
        with self.arrivals.cond:
            self.arrivals.count += 1
        return self

    def predict(
        self, matrix: np.ndarray, proba: bool, batcher: MicroBatcher | None = None
    ) -> Predicted:
        """The rows, predicted by `batcher` (default: the one the slot was made for)."""
        chosen = batcher or self.batcher
        if chosen is None:
            raise TypeError("a slot made without a batcher needs one to predict")
        return chosen.submit(self, matrix, proba)

    def __exit__(self, *exc: object) -> None:
        if not self.submitted:
            self.arrivals.withdraw()
