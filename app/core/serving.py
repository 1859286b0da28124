"""The prediction path, orchestrated: announce the request, resolve the version, then
(once the caller has parsed its rows) predict through the version's micro-batcher and
report what was served. The HTTP layer only parses, calls and answers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from app.core.batching import Arrivals, MicroBatcher, Predict, Predicted, Slot
from app.core.registry import Registry
from app.core.runtime import LoadedModel

# (model, version): once per estimator call; (model, version, rows): once per request
OnCall = Callable[[str, int], None]
OnServed = Callable[[str, int, int], None]


def _ignore(*_args: Any) -> None:
    return None


class Prediction:
    """One request's prediction in progress: the version it resolved to, and its
    place among the arrivals."""

    __slots__ = ("_service", "_slot", "model", "max_rows")

    def __init__(self, service: PredictionService, slot: Slot, model: LoadedModel):
        self._service, self._slot, self.model = service, slot, model
        self.max_rows = service.max_request_rows

    def run(self, matrix: np.ndarray, return_proba: bool) -> dict[str, Any]:
        """Predict the parsed rows (batched with concurrent requests): the answer body."""
        batcher = self._service.batcher_for(self.model)
        result = self._slot.predict(matrix, return_proba, batcher)
        self._service.on_served(self.model.name, self.model.version, len(matrix))
        return {"model": self.model.name, "version": self.model.version, **result}


class PredictionService:
    def __init__(
        self,
        registry: Registry,
        *,
        max_request_rows: int,
        batch_wait_seconds: float,
        batch_max_rows: int,
        on_call: OnCall | None = None,
        on_served: OnServed | None = None,
    ):
        self.registry = registry
        self.max_request_rows = max_request_rows
        self.batch_wait_seconds = batch_wait_seconds
        self.batch_max_rows = batch_max_rows
        self.on_call: OnCall = on_call or _ignore
        self.on_served: OnServed = on_served or _ignore
        self.arrivals = Arrivals()  # prediction requests in this process, for the batchers
        self._batchers: dict[tuple[str, int], tuple[LoadedModel, MicroBatcher]] = {}
        self._lock = threading.Lock()
        registry.cache.on_evict(self._forget_batcher)  # a batcher goes with its model

    def _forget_batcher(self, key: tuple[str, int], model: Any) -> None:
        with self._lock:
            entry = self._batchers.get(key)
            if entry is not None and entry[0] is model:
                del self._batchers[key]

    def batcher_count(self) -> int:
        return len(self._batchers)

    @contextmanager
    def begin(self, name: str, version: int | None) -> Iterator[Prediction]:
        """`with service.begin(name, version) as p: ... p.run(matrix, proba)`. The
        request is announced before anything else (before the version is resolved and
        the body parsed), so a batch being formed waits for its rows."""
        with self.arrivals.slot() as slot:
            yield Prediction(self, slot, self.registry.resolve(name, version))

    def batcher_for(self, model: LoadedModel) -> MicroBatcher:
        key = (model.name, model.version)
        entry = self._batchers.get(key)
        if entry is not None and entry[0] is model:
            return entry[1]
        with self._lock:
            entry = self._batchers.get(key)
            if entry is None or entry[0] is not model:  # first use, or the model was reloaded
                entry = (
                    model,
                    MicroBatcher(
                        self._counted(model),
                        self.batch_wait_seconds,
                        self.batch_max_rows,
                        self.arrivals,
                    ),
                )
                self._batchers[key] = entry
        return entry[1]

    def _counted(self, model: LoadedModel) -> Predict:
        on_call, name, version = self.on_call, model.name, model.version

        def predict(matrix: np.ndarray, return_proba: bool) -> Predicted:
            on_call(name, version)
            return model.predict(matrix, return_proba)

        return predict
