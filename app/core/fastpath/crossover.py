"""Where scikit-learn overtakes a compiled predictor: the call size above which it
serves instead. Both answer the same bits, so this is a choice of speed only.

onnxruntime's TreeEnsemble, run on one thread for exact sums, costs far less than
scikit-learn per call but more per row: on the benchmark models it is 30-250x faster
for one row and 2-3x slower for 10,000 (docs/performance.md). Each process that proves
such a stage times both engines on probe rows at doubling call sizes, and the compiled
predictor serves up to where scikit-learn first becomes faster (interpolated between
the two sizes around it); beyond the largest size timed, the two cost lines through the
last two sizes are extended. NumPy replays scikit-learn's own expressions without its
per-call checks: it is never the slower one and is not timed."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

SIZES = (64, 128, 256, 512, 1024, 2048, 4096)  # rows per timed call, doubling
REPEATS = 3  # the fastest of these counts: noise only ever adds time

Timings = list[tuple[int, float, float]]  # (rows, compiled seconds, scikit-learn seconds)


def best_seconds(call: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def crossing(timings: Timings) -> int | None:
    """The largest call size the compiled predictor should serve, from the timings at
    increasing sizes; None when it is never slower."""
    previous = None
    for rows, compiled, sklearn in timings:
        lead = compiled - sklearn  # > 0: scikit-learn is faster at this size
        if lead > 0:
            if previous is None:  # slower from the smallest size: single rows stay
                return 1  # compiled (the probe proved them; below SIZES[0] is untimed)
            prev_rows, prev_lead = previous
            share = -prev_lead / (lead - prev_lead)
            return int(prev_rows + share * (rows - prev_rows))
        previous = (rows, lead)
    return _extended(timings)


def _extended(timings: Timings) -> int | None:
    """Where the cost lines through the last two sizes cross, when they do."""
    (small, c0, s0), (large, c1, s1) = timings[-2], timings[-1]
    per_row_compiled = (c1 - c0) / (large - small)
    per_row_sklearn = (s1 - s0) / (large - small)
    if per_row_compiled <= per_row_sklearn:
        return None
    lead = (c1 - s1) / (per_row_compiled - per_row_sklearn)  # rows until they meet
    return int(large - lead)


def compiled_max_rows(
    run_compiled: Callable[[np.ndarray], object],
    run_sklearn: Callable[[np.ndarray], object],
    pool: np.ndarray,
) -> int | None:
    """Time both engines on probe rows (`pool` repeated to each of SIZES) in this
    process, until scikit-learn is faster; the largest call the compiled predictor
    serves, or None for all."""
    timings: Timings = []
    for rows in SIZES:
        batch = pool[np.arange(rows) % len(pool)]
        compiled = best_seconds(partial(run_compiled, batch))
        sklearn = best_seconds(partial(run_sklearn, batch))
        timings.append((rows, compiled, sklearn))
        if compiled > sklearn:
            break
    return crossing(timings)
