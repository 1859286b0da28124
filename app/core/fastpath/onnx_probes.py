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
from app.core.fastpath.onnx_probe_packing import F32, Needs, Packer, inside_values

# A split node asks for up to 7 probes (6 neighbours of its threshold and NaN), and the
# verification predicts every probe row with scikit-learn and with the compiled graph, at
# registration and again in each worker that loads the model. Packing (onnx_probe_packing)
# brings the rows near what the largest tree needs; past this many probes in all (about
# 7,000 split nodes) each node keeps one variant, taken in turn, so that building and
# packing stay within seconds while every node is still reached and every kind of
# neighbour still tried.
ALL_VARIANTS_UP_TO = 50_000


def _neighbours(threshold: float) -> list[float]:
    t32 = F32(threshold)
    return [
        threshold,
        float(np.nextafter(threshold, -np.inf)),
        float(np.nextafter(threshold, np.inf)),
        float(t32),
        float(np.nextafter(t32, F32(-np.inf))),
        float(np.nextafter(t32, F32(np.inf))),
    ]


def _base_row(
    lo: Matrix, hi: Matrix, nan_ok: npt.NDArray[np.bool_], float32: bool
) -> Matrix | None:
    """A row meeting every constraint of a path, or None when no input meets them."""
    v, ok = inside_values(lo, hi, float32)
    if np.any(~ok & ~nan_ok):
        return None
    return np.where(ok, v, np.nan)


def _variant_values(
    f: int, threshold: float, bounds: tuple[Matrix, Matrix, npt.NDArray[np.bool_]], float32: bool
) -> Matrix:
    """The neighbours of a node's threshold that still reach the node (inside the path's
    bounds on feature f), and NaN if a missing f follows the path."""
    lo, hi, nan_ok = bounds
    values = np.array(_neighbours(threshold))
    with np.errstate(over="ignore"):
        seen = values.astype(F32).astype(np.float64) if float32 else values
    # scikit-learn refuses what its float32 cast makes infinite: such a row is dropped
    # later, with every probe packed into it
    accepted = np.isfinite(seen) if float32 else np.ones(len(values), dtype=np.bool_)
    values = values[(lo[f] < seen) & (seen <= hi[f]) & accepted]
    if nan_ok[f]:
        values = np.append(values, np.nan)
    return values


def _tree_needs(tree: Tree, n_features: int, float32: bool, allow_nan: bool) -> list[Needs]:
    """Per reachable split node (depth first), the rows it needs."""
    out: list[Needs] = []
    start = (0, np.full(n_features, -np.inf), np.full(n_features, np.inf))
    stack = [(*start, np.full(n_features, allow_nan))]
    while stack:
        node, lo, hi, nan_ok = stack.pop()
        if tree.left[node] < 0:
            continue
        f, t = int(tree.feature[node]), float(tree.threshold[node])
        if _base_row(lo, hi, nan_ok, float32) is not None:
            values = _variant_values(f, t, (lo, hi, nan_ok), float32)
            if len(values) == 0:  # only the path's own value reaches it
                values = np.array([inside_values(lo, hi, float32)[0][f]])
            out.append(Needs.at_node(lo, hi, nan_ok, f, values))
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
    per_tree = [_tree_needs(tree, n_features, float32, allow_nan) for tree in trees]
    if sum(len(needs) for nodes in per_tree for needs in nodes) > ALL_VARIANTS_UP_TO:
        per_tree = [[needs.one(i) for i, needs in enumerate(nodes)] for nodes in per_tree]
    packer = Packer(n_features, float32)
    for nodes in per_tree:
        if nodes:
            packer.add_tree(Needs.concatenate(nodes))
    return _unique(packer.rows())
