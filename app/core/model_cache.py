"""The per-process cache of loaded model versions, bounded.

Production versions are pinned: they stay loaded whatever else is asked for. Other
versions (`?version=N`) are kept up to `capacity`, least recently used evicted first,
so a client looping over every version cannot make a worker hold them all. Listeners
hear of each eviction (the prediction service drops the version's micro-batcher with
it). A version whose artifact cannot be read or loaded is remembered as broken for
`retry_seconds`: requests in that window get the same 503 at once instead of reading
and hashing the file again. One load at a time per version: concurrent requests for a
version that is not loaded wait for the one load instead of each loading it."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from app.core.errors import ArtifactUnavailable

Key = tuple[str, int]  # (model name, version)
Evicted = Callable[[Key, Any], None]


class ModelCache:
    def __init__(
        self,
        capacity: int = 8,
        retry_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.capacity = max(0, capacity)  # versions kept besides the pinned ones
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._entries: OrderedDict[Key, Any] = OrderedDict()  # oldest use first
        self._pinned: frozenset[Key] = frozenset()
        self._broken: dict[Key, tuple[float, ArtifactUnavailable]] = {}  # key -> (until, error)
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}
        self._listeners: list[Evicted] = []
        self.loads = 0  # successful loads: artifact reads that gave a model
        self.load_failures = 0  # artifact reads (or loads) that failed
        self.evictions = 0

    def on_evict(self, listener: Evicted) -> None:
        self._listeners.append(listener)

    def get(self, key: Key) -> Any | None:
        """The loaded model, marked as just used; None when not loaded."""
        model = self._entries.get(key)
        if model is not None and key not in self._pinned:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
        return model

    def get_or_load(self, key: Key, load: Callable[[], Any]) -> Any:
        """The loaded model, loading it with `load()` if needed. An ArtifactUnavailable
        from `load` is remembered and raised again without loading until it expires."""
        model = self.get(key)
        if model is not None:
            return model
        self._raise_if_broken(key)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            model = self.get(key)
            if model is not None:
                return model
            self._raise_if_broken(key)
            try:
                model = load()
            except ArtifactUnavailable as exc:
                with self._lock:
                    self.load_failures += 1
                    self._broken[key] = (self._clock() + self.retry_seconds, exc)
                raise
            else:
                self._put(key, model)  # before the next caller may take a new lock
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        return model

    def _raise_if_broken(self, key: Key) -> None:
        entry = self._broken.get(key)
        if entry is None:
            return
        until, exc = entry
        if self._clock() < until:
            raise exc
        with self._lock:
            if self._broken.get(key) is entry:
                del self._broken[key]

    def _put(self, key: Key, model: Any) -> None:
        with self._lock:
            self.loads += 1
            self._broken.pop(key, None)
            self._entries[key] = model
            self._entries.move_to_end(key)
            evicted = self._shrink()
        self._notify(evicted)

    def pin(self, keys: Iterable[Key]) -> None:
        """The versions to keep whatever happens (production); the ones no longer
        pinned join the least-recently-used order as just used."""
        keys = frozenset(keys)
        if keys == self._pinned:
            return
        with self._lock:
            for key in self._pinned - keys:
                if key in self._entries:
                    self._entries.move_to_end(key)
            self._pinned = keys
            evicted = self._shrink()
        self._notify(evicted)

    def _shrink(self) -> list[tuple[Key, Any]]:
        """Evict the least recently used unpinned entries beyond the capacity (under
        the lock); returns them for the listeners."""
        unpinned = [k for k in self._entries if k not in self._pinned]
        evicted = []
        for key in unpinned[: max(0, len(unpinned) - self.capacity)]:
            evicted.append((key, self._entries.pop(key)))
        self.evictions += len(evicted)
        return evicted

    def _notify(self, evicted: list[tuple[Key, Any]]) -> None:
        for key, model in evicted:
            for listener in self._listeners:
                listener(key, model)

    def clear(self) -> None:
        """Forget every loaded model and remembered failure (tests, operators)."""
        with self._lock:
            evicted = list(self._entries.items())
            self._entries.clear()
            self._broken.clear()
        self._notify(evicted)

    def broken(self) -> dict[Key, str]:
        """The versions whose artifact failed to load and are not retried yet."""
        now = self._clock()
        return {k: exc.message for k, (until, exc) in list(self._broken.items()) if now < until}

    def keys(self) -> list[Key]:
        """The loaded versions, least recently used first (pinned ones included)."""
        return list(self._entries)

    def stats(self) -> dict[str, Any]:
        return {
            "loaded": len(self._entries),
            "pinned": len(self._pinned & set(self._entries)),
            "capacity": self.capacity,
            "loads": self.loads,
            "load_failures": self.load_failures,
            "evictions": self.evictions,
        }
