"""Packing tree probes into few rows. A probe for one node of one tree constrains only the
features on that node's path (a box) and pins the split feature to one value; the other
trees of the ensemble see the rest of the row. So one row can carry a probe for a node in
each tree at once, as long as the boxes and pins agree: the rows an ensemble needs come
near the number its largest tree needs, not the sum over its trees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import Matrix

Mask = npt.NDArray[np.bool_]
F32 = np.float32
_PASSES = 4  # tries per probe against other rows before it opens a row of its own


def inside_values(lo: Matrix, hi: Matrix, float32: bool) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """Per feature a value v with lo < v <= hi as the model compares it (after its
    float32 cast), at the upper edge when there is one; and whether such a value exists."""
    with np.errstate(over="ignore", invalid="ignore"):
        if float32:
            # the largest float32 <= hi, else the smallest float32 > lo
            at_most = hi.astype(F32)
            at_most = np.where(at_most > hi, np.nextafter(at_most, F32(-np.inf)), at_most)
            above = lo.astype(F32)
            above = np.where(above <= lo, np.nextafter(above, F32(np.inf)), above)
            v = np.where(np.isfinite(hi), at_most, above).astype(np.float64)
        else:
            v = np.where(np.isfinite(hi), hi, np.nextafter(lo, np.inf))
        v = np.where(np.isneginf(lo) & np.isposinf(hi), 0.0, v)
        ok = (lo < v) & (v <= hi) & (np.isfinite(v) | (not float32))
    return v, ok


@dataclass
class Needs:
    """Probes, one per entry: the box lo < x <= hi (as the model compares x), where NaN is
    allowed, and the pinned feature and value (NaN included)."""

    lo: Matrix
    hi: Matrix
    nan: Mask
    pin_f: npt.NDArray[np.intp]
    pin_v: Matrix

    @classmethod
    def at_node(cls, lo: Matrix, hi: Matrix, nan: Mask, f: int, values: Matrix) -> Needs:
        n = len(values)
        return cls(
            np.tile(lo, (n, 1)),
            np.tile(hi, (n, 1)),
            np.tile(nan, (n, 1)),
            np.full(n, f, dtype=np.intp),
            np.asarray(values, dtype=np.float64),
        )

    @classmethod
    def concatenate(cls, parts: list[Needs]) -> Needs:
        return cls(
            np.concatenate([p.lo for p in parts]),
            np.concatenate([p.hi for p in parts]),
            np.concatenate([p.nan for p in parts]),
            np.concatenate([p.pin_f for p in parts]),
            np.concatenate([p.pin_v for p in parts]),
        )

    def take(self, which: npt.NDArray[np.intp] | Mask | slice) -> Needs:
        return Needs(
            self.lo[which], self.hi[which], self.nan[which], self.pin_f[which], self.pin_v[which]
        )

    def one(self, i: int) -> Needs:
        """Only the i-th variant (modulo their number)."""
        return self.take(slice(i % len(self), i % len(self) + 1))

    def __len__(self) -> int:
        return len(self.pin_v)


class Packer:
    """Rows under construction: per row a box, NaN allowances and pinned values."""

    def __init__(self, n_features: int, float32: bool) -> None:
        self.float32 = float32
        self.lo = np.zeros((0, n_features))
        self.hi = np.zeros((0, n_features))
        self.nan = np.zeros((0, n_features), dtype=np.bool_)
        self.pinned = np.zeros((0, n_features), dtype=np.bool_)
        self.pin_v = np.zeros((0, n_features))

    def _seen(self, v: Matrix) -> Matrix:
        if not self.float32:
            return v
        with np.errstate(over="ignore"):
            return v.astype(np.float32).astype(np.float64)

    def _in_box(self, v: Matrix, lo: Matrix, hi: Matrix, nan: Mask) -> Mask:
        seen = self._seen(v)
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(v), nan, (lo < seen) & (seen <= hi))

    def _fits(self, needs: Needs, rows: npt.NDArray[np.intp]) -> Mask:
        """Whether probe k can join row rows[k], for every k."""
        lo = np.maximum(self.lo[rows], needs.lo)
        hi = np.minimum(self.hi[rows], needs.hi)
        nan = self.nan[rows] & needs.nan
        pinned = self.pinned[rows]
        # the row's pins inside the probe's box, the probe's pin inside the row's box
        pins_ok = (~pinned | self._in_box(self.pin_v[rows], needs.lo, needs.hi, needs.nan)).all(1)
        k = np.arange(len(rows))
        f, v = needs.pin_f, needs.pin_v
        same = pinned[k, f] & (self.pin_v[rows, f].view(np.int64) == v.view(np.int64))
        fresh = ~pinned[k, f] & self._in_box(
            v, self.lo[rows, f], self.hi[rows, f], self.nan[rows, f]
        )
        _, inside = inside_values(lo, hi, self.float32)
        free_ok = (pinned | inside | nan).all(axis=1)
        return np.asarray(pins_ok & (same | fresh) & free_ok)

    def _join(self, needs: Needs, rows: npt.NDArray[np.intp]) -> None:
        self.lo[rows] = np.maximum(self.lo[rows], needs.lo)
        self.hi[rows] = np.minimum(self.hi[rows], needs.hi)
        self.nan[rows] &= needs.nan
        self.pinned[rows, needs.pin_f] = True
        self.pin_v[rows, needs.pin_f] = needs.pin_v

    def add_tree(self, needs: Needs) -> None:
        """Place the probes of one tree, each in a row of its own among this tree's."""
        used = np.zeros(len(self.lo), dtype=np.bool_)
        pending = np.arange(len(needs))
        for attempt in range(_PASSES):
            free = np.flatnonzero(~used)
            m = min(len(pending), len(free))
            if m == 0:
                break
            free = np.roll(free, -(attempt * m) % len(free))[:m]
            trying = pending[:m]
            sub = needs.take(trying)
            ok = self._fits(sub, free)
            placed = sub.take(ok)
            self._join(placed, free[ok])
            used[free[ok]] = True
            pending = np.concatenate([trying[~ok], pending[m:]])
        self._open(needs.take(pending))

    def _open(self, needs: Needs) -> None:
        n, width = len(needs), self.lo.shape[1]
        pinned = np.zeros((n, width), dtype=np.bool_)
        pin_v = np.zeros((n, width))
        pinned[np.arange(n), needs.pin_f] = True
        pin_v[np.arange(n), needs.pin_f] = needs.pin_v
        self.lo = np.concatenate([self.lo, needs.lo])
        self.hi = np.concatenate([self.hi, needs.hi])
        self.nan = np.concatenate([self.nan, needs.nan])
        self.pinned = np.concatenate([self.pinned, pinned])
        self.pin_v = np.concatenate([self.pin_v, pin_v])

    def rows(self) -> Matrix:
        value, inside = inside_values(self.lo, self.hi, self.float32)
        free = np.where(inside, value, np.nan)
        return np.asarray(np.where(self.pinned, self.pin_v, free), dtype=np.float64)
