"""Probe rows for compiled tree ensembles: for every split node of every tree, rows that
reach that node (built from the constraints on the path to it) with the split feature at
the threshold, at its float64 and float32 neighbours on both sides, and NaN where the
model takes missing values. A wrong comparison, cast or missing-value direction in the
compiled graph sends one of these rows down another branch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import Matrix
from app.core.fastpath.onnx_graph import Tree

# Every variant of every node costs 7 rows per split node; verification predicts each
# row with scikit-learn and with the compiled graph, at registration and again in every
# worker that loads the model. Past this many rows (a forest of ~7,000 split nodes, about
# 100 trees of depth 6) each node keeps one variant, taken in turn, so that every node is
# still reached and every kind of neighbour still tried, at one row per node.
ALL_VARIANTS_UP_TO = 50_000

_F32 = np.float32


def _inside(lo: Matrix, hi: Matrix, float32: bool) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """Per feature a value v with lo < v <= hi as the model compares it (after its
    float32 cast), at the upper edge when there is one; and whether such a value exists."""
    with np.errstate(over="ignore", invalid="ignore"):
        if float32:
            # the largest float32 <= hi, else the smallest float32 > lo
            at_most = hi.astype(_F32)
            at_most = np.where(at_most > hi, np.nextafter(at_most, _F32(-np.inf)), at_most)
            above = lo.astype(_F32)
            above = np.where(above <= lo, np.nextafter(above, _F32(np.inf)), above)
            v = np.where(np.isfinite(hi), at_most, above).astype(np.float64)
        else:
            v = np.where(np.isfinite(hi), hi, np.nextafter(lo, np.inf))
        v = np.where(np.isneginf(lo) & np.isposinf(hi), 0.0, v)
        ok = (lo < v) & (v <= hi) & (np.isfinite(v) | (not float32))
    return v, ok


def _neighbours(threshold: float) -> list[float]:
    t32 = _F32(threshold)
    return [
        threshold,
        float(np.nextafter(threshold, -np.inf)),
        float(np.nextafter(threshold, np.inf)),
        float(t32),
        float(np.nextafter(t32, _F32(-np.inf))),
        float(np.nextafter(t32, _F32(np.inf))),
    ]


def _base_row(
    lo: Matrix, hi: Matrix, nan_ok: npt.NDArray[np.bool_], float32: bool
) -> Matrix | None:
    """A row meeting every constraint of a path, or None when no input meets them."""
    v, ok = _inside(lo, hi, float32)
    if np.any(~ok & ~nan_ok):
        return None
    return np.where(ok, v, np.nan)


def _variants(
    base: Matrix, f: int, threshold: float, bounds: tuple[float, float, bool], float32: bool
) -> Matrix:
    """The rows at one node: `base` with feature f at each neighbour of the threshold that
    still reaches the node (inside the path's bounds on f, NaN if it follows the path)."""
    lo, hi, nan_ok = bounds
    values = np.array(_neighbours(threshold))
    with np.errstate(over="ignore"):
        seen = values.astype(_F32).astype(np.float64) if float32 else values
    values = values[(lo < seen) & (seen <= hi)]
    if nan_ok:
        values = np.append(values, np.nan)
    if len(values) == 0:
        return base[None, :]
    rows = np.repeat(base[None, :], len(values), axis=0)
    rows[:, f] = values
    return rows


def _tree_rows(tree: Tree, n_features: int, float32: bool, allow_nan: bool) -> list[Matrix]:
    """Per split node (depth first), its variant rows, (n_variants, n_features)."""
    out: list[Matrix] = []
    start = (0, np.full(n_features, -np.inf), np.full(n_features, np.inf))
    stack = [(*start, np.full(n_features, allow_nan))]
    while stack:
        node, lo, hi, nan_ok = stack.pop()
        if tree.left[node] < 0:
            continue
        f, t = int(tree.feature[node]), float(tree.threshold[node])
        base = _base_row(lo, hi, nan_ok, float32)
        if base is not None:
            out.append(_variants(base, f, t, (lo[f], hi[f], nan_ok[f]), float32))
        go_left = bool(tree.missing_left[node])
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[f] = min(hi[f], t)
        right_lo[f] = max(lo[f], t)
        left_nan, right_nan = nan_ok.copy(), nan_ok.copy()
        left_nan[f] = nan_ok[f] and go_left
        right_nan[f] = nan_ok[f] and not go_left
        stack.append((int(tree.right[node]), right_lo, hi, right_nan))
        stack.append((int(tree.left[node]), lo, left_hi, left_nan))
    return out


def _unique(rows: Matrix) -> Matrix:
    """Rows deduplicated bit for bit (NaN equal to NaN), first occurrences in order."""
    if len(rows) == 0:
        return rows
    flat = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    _, first = np.unique(flat.ravel(), return_index=True)
    return rows[np.sort(first)]


def probe_rows(trees: list[Tree], n_features: int, float32: bool, allow_nan: bool) -> Matrix:
    """The probe rows of an ensemble, (n, n_features), deduplicated."""
    per_node = [rows for tree in trees for rows in _tree_rows(tree, n_features, float32, allow_nan)]
    if not per_node:
        return np.zeros((0, n_features))
    if sum(len(r) for r in per_node) > ALL_VARIANTS_UP_TO:
        per_node = [rows[i % len(rows)][None, :] for i, rows in enumerate(per_node)]
    return _unique(np.concatenate(per_node))
