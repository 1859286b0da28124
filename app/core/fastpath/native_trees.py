"""Fitted trees compiled to C: the sums of their leaves, per target.

scikit-learn walks every tree for every row through its node arrays; onnxruntime's
TreeEnsemble, on the one thread that keeps its sums exact, is slower still per row
(docs/performance.md). treelite describes the trees and tl2cgen writes them out as
nested `if`s in C, which gcc compiles into a shared library: each threshold becomes a
constant in the code, and the library is several times faster per row than
scikit-learn's own walk. It is used for families whose rows are cast to float32 first
(DecisionTree, RandomForest, ExtraTrees, GradientBoosting): the generated code marks a
missing value by the low 32 bits of a double being all ones, which no float32 widened to
float64 has (a HistGradientBoosting row, left in float64, could be misread).

The trees are summed in the order given, each target starting from zero, as
onnxruntime's graph sums them; the caller's probe proves the result bit for bit before
it serves. A process compiles each distinct ensemble once and keeps the library loaded
(one thread, no pool: safe to fork); gunicorn's workers inherit what the master
compiled."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import Matrix, Unsupported
from app.core.fastpath.onnx_graph import Tree

log = logging.getLogger(__name__)

COMPILER = os.environ.get("CC", "gcc")
ENGINE = "native"
# gcc's time grows with the nodes while the gain shrinks as the code outgrows the CPU's
# caches (docs/performance.md, "Trees compiled to C"): larger ensembles stay on
# onnxruntime, and a registration never waits long on the compiler.
MAX_NODES = 20_000
# after tl2cgen's own -O3, so it wins: as fast code in half gcc's time (same section)
COMPILE_OPTIONS = ["-O1"]

# ensemble digest -> its loaded library, least recently used first: a registration's
# proof and the version's load, moments apart, compile it once; the bound keeps a
# process that loads many versions from holding every library it ever made
KEPT_LIBRARIES = 16
_libraries: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()


def available() -> str | None:
    """None when trees can be compiled here, else why not."""
    if os.environ.get("FAST_PATH_NATIVE", "on").lower() in ("off", "0", "false", "no"):
        return "FAST_PATH_NATIVE=off"
    try:
        import tl2cgen  # noqa: F401
        import treelite  # noqa: F401
    except ImportError as exc:
        return f"tl2cgen is not installed ({exc})"
    if shutil.which(COMPILER) is None:
        return f"no C compiler ({COMPILER}) on PATH"
    return None


def _leaf(tree: Tree, node: int) -> float | list[float]:
    values = tree.values[node]
    return float(values[0]) if len(tree.targets) == 1 else [float(v) for v in values]


def _add_tree(builder: Any, tree: Tree) -> None:
    builder.start_tree()
    for node in range(len(tree.left)):
        builder.start_node(node)
        if tree.left[node] < 0:
            builder.leaf(_leaf(tree, node))
        else:
            builder.numerical_test(
                int(tree.feature[node]),
                float(tree.threshold[node]),
                default_left=bool(tree.missing_left[node]),
                opname="<=",
                left_child_key=int(tree.left[node]),
                right_child_key=int(tree.right[node]),
            )
        builder.end_node()
    builder.end_tree()


def _metadata(trees: Sequence[Tree], n_features: int, n_targets: int) -> dict[str, Any]:
    """treelite's description: one target whose `n_targets` classes are the sums; a tree
    adds either to one class (GradientBoosting's one tree per class) or to every class
    at once (a forest's leaf vectors)."""
    from treelite.model_builder import Metadata, TreeAnnotation

    widths = {len(t.targets) for t in trees}
    if len(widths) != 1:
        raise Unsupported("trees of different leaf widths in one ensemble")
    width = widths.pop()
    if width not in (1, n_targets):
        raise Unsupported(f"leaves of {width} values for {n_targets} targets")
    vector = width > 1 or n_targets == 1
    return {
        "metadata": Metadata(
            num_feature=n_features,
            task_type="kMultiClf" if n_targets > 1 else "kRegressor",
            average_tree_output=False,
            num_target=1,
            num_class=[n_targets],
            leaf_vector_shape=(1, width),
        ),
        "tree_annotation": TreeAnnotation(
            num_tree=len(trees),
            target_id=[0] * len(trees),
            class_id=[-1 if vector and n_targets > 1 else t.targets[0] for t in trees],
        ),
    }


def _baseline_trees(baseline: Matrix, width: int) -> list[Tree]:
    """The baseline as leaf-only trees summed first: one per target for trees of one
    value per leaf, else one whose leaf holds every target's."""
    values = np.asarray(baseline, dtype=np.float64).reshape(1, -1)
    leaf = dict(
        feature=np.array([-2]),
        threshold=np.array([-2.0]),
        left=np.array([-1]),
        right=np.array([-1]),
        missing_left=np.array([False]),
    )
    if width > 1 or values.shape[1] == 1:
        return [Tree(values=values, targets=tuple(range(values.shape[1])), **leaf)]
    return [Tree(values=values[:, [k]], targets=(k,), **leaf) for k in range(values.shape[1])]


def _model(trees: Sequence[Tree], baseline: Matrix | None, n_features: int, n_targets: int) -> Any:
    from treelite.model_builder import ModelBuilder, PostProcessorFunc

    if baseline is not None:
        trees = [*_baseline_trees(baseline, len(trees[0].targets)), *trees]

    builder = ModelBuilder(
        threshold_type="float64",
        leaf_output_type="float64",
        postprocessor=PostProcessorFunc(name="identity"),
        base_scores=[0.0] * n_targets,
        **_metadata(trees, n_features, n_targets),
    )
    for tree in trees:
        _add_tree(builder, tree)
    return builder.commit()


def _compiled(model: Any) -> Any:
    import tl2cgen

    digest = hashlib.sha256(model.serialize_bytes()).hexdigest()[:32]
    with _lock:
        predictor = _libraries.get(digest)
        if predictor is not None:
            _libraries.move_to_end(digest)
        else:
            # the file goes once loaded (the mapping stays): nothing to clean up at exit,
            # which a worker leaving by os._exit (onnx_fork) would skip
            with tempfile.TemporaryDirectory(prefix="mlstack-trees-") as workdir:
                library = Path(workdir) / f"trees-{digest}.so"
                # tl2cgen prints its progress and warns of long sources: kept out of
                # the service's stdout, in the debug log
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tl2cgen.export_lib(
                        model,
                        toolchain=COMPILER,
                        libpath=str(library),
                        nthread=1,
                        options=COMPILE_OPTIONS,
                    )
                log.debug("tl2cgen: %s", printed.getvalue().strip())
                # one thread: the rows are summed in order, and no thread pool starts
                predictor = tl2cgen.Predictor(str(library), nthread=1)
            _libraries[digest] = predictor
            while len(_libraries) > KEPT_LIBRARIES:
                _libraries.popitem(last=False)  # freed once no stage uses it
    return predictor


class NativeSums:
    """The trees' leaf sums, (n, n_targets) float64, from their compiled C library."""

    def __init__(
        self, trees: Sequence[Tree], baseline: Matrix | None, n_features: int, n_targets: int
    ) -> None:
        reason = available()
        if reason is not None:
            raise Unsupported(reason)
        nodes = sum(len(t.left) for t in trees)
        if nodes > MAX_NODES:
            raise Unsupported(f"{nodes} nodes, more than the {MAX_NODES} compiled to C")
        self.engine = ENGINE
        self.n_targets = n_targets
        try:
            self._predictor = _compiled(_model(trees, baseline, n_features, n_targets))
        except Exception as exc:  # noqa: BLE001 - e.g. a compiler without C headers
            raise Unsupported(f"compiling the trees failed: {type(exc).__name__}: {exc}") from exc

    def run(self, X: npt.NDArray[np.floating[Any]]) -> Matrix:
        """X: the rows as scikit-learn compares them (float32 values), any float dtype."""
        import tl2cgen

        rows = tl2cgen.DMatrix(np.ascontiguousarray(X, dtype=np.float64), dtype="float64")
        out = self._predictor.predict(rows, pred_margin=True)
        return np.asarray(out, dtype=np.float64).reshape(len(X), self.n_targets)
