"""Where scikit-learn overtakes a compiled predictor: the call size above which it
serves instead. Both answer the same bits, so this is a choice of speed only.

onnxruntime's TreeEnsemble, run on one thread for exact sums, costs far less than
scikit-learn per call but more per row: on the benchmark models it is 30-250x faster
for one row and 2-3x slower for 10,000 (docs/performance.md). Each process times both
engines on two batch sizes of probe rows, fits cost = per call + per row * rows to each,
and serves with the compiled predictor up to where the lines cross. NumPy replays
scikit-learn's own expressions without its per-call checks: it is never the slower one
and is not timed."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

SMALL, LARGE = 256, 4096  # rows per timed call
REPEATS = 3  # the fastest of these counts: noise only ever adds time


def best_seconds(call: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def crossing(
    compiled: tuple[float, float], sklearn: tuple[float, float], small: int, large: int
) -> int | None:
    """The largest call size the compiled predictor should serve, from each engine's
    (seconds at `small` rows, seconds at `large` rows); None when it is never slower."""
    per_row_compiled = (compiled[1] - compiled[0]) / (large - small)
    per_row_sklearn = (sklearn[1] - sklearn[0]) / (large - small)
    if per_row_compiled <= per_row_sklearn:
        return None
    per_call_compiled = compiled[0] - per_row_compiled * small
    per_call_sklearn = sklearn[0] - per_row_sklearn * small
    rows = (per_call_sklearn - per_call_compiled) / (per_row_compiled - per_row_sklearn)
    # the probe proved single rows; a crossing below one row is timing noise
    return max(1, int(rows))


def compiled_max_rows(
    run_compiled: Callable[[np.ndarray], object],
    run_sklearn: Callable[[np.ndarray], object],
    pool: np.ndarray,
) -> int | None:
    """Time both engines on probe rows (`pool` repeated to SMALL and LARGE rows) in
    this process; the largest call the compiled predictor serves, or None for all."""
    timings: dict[str, list[float]] = {"compiled": [], "sklearn": []}
    for rows in (SMALL, LARGE):
        batch = pool[np.arange(rows) % len(pool)]
        timings["compiled"].append(best_seconds(partial(run_compiled, batch)))
        timings["sklearn"].append(best_seconds(partial(run_sklearn, batch)))
    compiled, sklearn = timings["compiled"], timings["sklearn"]
    return crossing((compiled[0], compiled[1]), (sklearn[0], sklearn[1]), SMALL, LARGE)
