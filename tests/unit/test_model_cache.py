"""The bounded per-process model cache (app.core.model_cache): production pinned,
others least-recently-used, eviction heard by listeners, broken artifacts remembered."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.errors import ArtifactUnavailable
from app.core.model_cache import ModelCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def load_each(cache: ModelCache, keys) -> None:
    for key in keys:
        cache.get_or_load(key, lambda key=key: f"model {key}")


def test_keeps_at_most_capacity_unpinned_versions_least_recently_used_first():
    cache = ModelCache(capacity=3)
    load_each(cache, [("m", v) for v in range(1, 6)])
    assert cache.keys() == [("m", 3), ("m", 4), ("m", 5)]
    cache.get(("m", 3))  # used: now the most recent
    load_each(cache, [("m", 6)])
    assert cache.keys() == [("m", 5), ("m", 3), ("m", 6)]
    assert cache.stats() == {
        "loaded": 3,
        "pinned": 0,
        "capacity": 3,
        "loads": 6,
        "load_failures": 0,
        "evictions": 3,
    }


def test_pinned_versions_stay_loaded_and_do_not_count():
    cache = ModelCache(capacity=2)
    cache.pin([("m", 1), ("n", 1)])
    load_each(cache, [("m", 1), ("n", 1)] + [("m", v) for v in range(2, 20)])
    assert ("m", 1) in cache.keys() and ("n", 1) in cache.keys()
    assert len(cache.keys()) == 4
    assert cache.stats()["pinned"] == 2


def test_an_unpinned_version_joins_the_lru_order_and_the_cap_holds():
    cache = ModelCache(capacity=1)
    cache.pin([("m", 1)])
    load_each(cache, [("m", 1), ("m", 2)])
    cache.pin([("m", 3)])  # promotion of v3: v1 is no longer pinned
    assert cache.keys() == [("m", 1)]  # v2 evicted, v1 kept as the most recent
    load_each(cache, [("m", 3)])
    assert cache.keys() == [("m", 1), ("m", 3)]


def test_listeners_hear_every_eviction_with_the_model():
    heard = []
    cache = ModelCache(capacity=1)
    cache.on_evict(lambda key, model: heard.append((key, model)))
    load_each(cache, [("m", 1), ("m", 2), ("m", 3)])
    assert heard == [(("m", 1), "model ('m', 1)"), (("m", 2), "model ('m', 2)")]
    cache.clear()
    assert heard[-1] == (("m", 3), "model ('m', 3)") and cache.keys() == []


def test_capacity_zero_keeps_only_pinned_versions():
    cache = ModelCache(capacity=0)
    cache.pin([("m", 1)])
    assert cache.get_or_load(("m", 2), lambda: "two") == "two"  # still answers
    load_each(cache, [("m", 1)])
    assert cache.keys() == [("m", 1)]


def test_a_failed_load_is_remembered_until_the_retry_time():
    clock = Clock()
    cache = ModelCache(capacity=2, retry_seconds=30, clock=clock)
    calls = []

    def broken():
        calls.append(1)
        raise ArtifactUnavailable("model 'm' v1 is unavailable: missing")

    for _ in range(5):
        with pytest.raises(ArtifactUnavailable, match="missing"):
            cache.get_or_load(("m", 1), broken)
    assert len(calls) == 1 and cache.stats()["load_failures"] == 1
    assert cache.broken() == {("m", 1): "model 'm' v1 is unavailable: missing"}
    clock.now += 29.9
    with pytest.raises(ArtifactUnavailable):
        cache.get_or_load(("m", 1), lambda: "fixed")
    clock.now += 0.2  # the window is over: tried again, and it loads
    assert cache.get_or_load(("m", 1), lambda: "fixed") == "fixed"
    assert cache.broken() == {}


def test_other_errors_are_not_remembered():
    cache = ModelCache()
    with pytest.raises(RuntimeError):
        cache.get_or_load(("m", 1), lambda: (_ for _ in ()).throw(RuntimeError("db down")))
    assert cache.get_or_load(("m", 1), lambda: "loaded") == "loaded"


def test_concurrent_requests_for_one_version_load_it_once():
    cache = ModelCache()
    calls = []
    start = threading.Barrier(8)

    def slow_load():
        calls.append(1)
        time.sleep(0.2)
        return "model"

    def request():
        start.wait()
        return cache.get_or_load(("m", 1), slow_load)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.get(("m", 1)) == "model"
