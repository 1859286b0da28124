"""Fitted decision trees as one ONNX graph: the ai.onnx.ml opset-5 `TreeEnsemble`
operator in float64, built with the `onnx` helper API only (fork-safe: no onnxruntime
here), summing the trees' leaves per target in the order the trees are given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from onnx import TensorProto, helper, numpy_helper

from app.core.fastpath.contract import Unsupported

# onnxruntime 1.20+ reads IR 10 / opset 21 models; ai.onnx.ml opset 5 brings TreeEnsemble
IR_VERSION = 10
OPSET = 21
ML_OPSET = 5
_BRANCH_LEQ = 0
_AGGREGATE_SUM = 1
_POST_TRANSFORM_NONE = 0
_PROTOBUF_LIMIT = 2**31  # a serialized protobuf message must stay under 2 GiB

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Tree:
    """One fitted tree, node 0 its root. `left`/`right` are -1 on leaves; a node goes
    left when `x[feature] <= threshold`, or when x is NaN and `missing_left`.
    `values[:, c]` are the leaf weights added to target `targets[c]`."""

    feature: Ints
    threshold: npt.NDArray[np.float64]
    left: Ints
    right: Ints
    missing_left: npt.NDArray[np.bool_]
    values: npt.NDArray[np.float64]
    targets: tuple[int, ...]

    @property
    def is_leaf(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.left < 0)


def constant_tree(values: npt.NDArray[np.float64]) -> Tree:
    """A tree answering `values[c]` for target c whatever the row: a baseline. It is a
    split on feature 0 whose two leaves are equal, because onnxruntime 1.28 misread a
    leaf-only tree for every target after the first."""
    weights = np.asarray(values, dtype=np.float64).reshape(1, -1)
    return Tree(
        feature=np.array([0, -1, -1], dtype=np.int64),
        threshold=np.zeros(3),
        left=np.array([1, -1, -1], dtype=np.int64),
        right=np.array([2, -1, -1], dtype=np.int64),
        missing_left=np.zeros(3, dtype=np.bool_),
        values=np.repeat(weights, 3, axis=0),
        targets=tuple(range(weights.shape[1])),
    )


def _as_split_tree(tree: Tree) -> Tree:
    if tree.left[0] >= 0:
        return tree
    single = constant_tree(tree.values[0])
    return Tree(
        single.feature,
        single.threshold,
        single.left,
        single.right,
        single.missing_left,
        single.values,
        tree.targets,
    )


class _Arrays:
    """The attribute lists of the operator, grown one tree (and target) at a time."""

    def __init__(self) -> None:
        self.nodes: dict[str, list[Ints]] = {
            k: [] for k in ("feature", "true", "false", "true_leaf", "false_leaf", "missing")
        }
        self.splits: list[npt.NDArray[np.float64]] = []
        self.roots: list[int] = []
        self.leaf_targets: list[Ints] = []
        self.leaf_weights: list[npt.NDArray[np.float64]] = []
        self.n_nodes = 0
        self.n_leaves = 0

    def add(self, tree: Tree, column: int) -> None:
        is_leaf = tree.is_leaf
        inner = np.flatnonzero(~is_leaf)
        leaves = np.flatnonzero(is_leaf)
        # global id of every node among the inner nodes / among the leaves
        rank = np.empty(len(is_leaf), dtype=np.int64)
        rank[inner] = self.n_nodes + np.arange(len(inner))
        rank[leaves] = self.n_leaves + np.arange(len(leaves))
        left, right = tree.left[inner], tree.right[inner]
        self.nodes["feature"].append(tree.feature[inner].astype(np.int64))
        self.nodes["true"].append(rank[left])
        self.nodes["false"].append(rank[right])
        self.nodes["true_leaf"].append(is_leaf[left].astype(np.int64))
        self.nodes["false_leaf"].append(is_leaf[right].astype(np.int64))
        self.nodes["missing"].append(tree.missing_left[inner].astype(np.int64))
        self.splits.append(tree.threshold[inner].astype(np.float64))
        self.roots.append(int(rank[0]))
        self.leaf_targets.append(np.full(len(leaves), tree.targets[column], dtype=np.int64))
        self.leaf_weights.append(tree.values[leaves, column].astype(np.float64))
        self.n_nodes += len(inner)
        self.n_leaves += len(leaves)

    def ints(self, key: str) -> list[int]:
        return list(np.concatenate(self.nodes[key]).tolist())


def build_model(trees: list[Tree], n_features: int, n_targets: int, float32_input: bool) -> bytes:
    """The serialized model: input "X" (n, n_features), float32 when the estimator casts
    its input to float32 (then widened to float64 in the graph, as scikit-learn compares
    float32 features with float64 thresholds), float64 otherwise; output "Y"
    (n, n_targets) float64, each target the sum of its trees' leaves in list order."""
    arrays = _Arrays()
    for tree in trees:
        split_tree = _as_split_tree(tree)
        for column in range(len(tree.targets)):
            arrays.add(split_tree, column)
    ensemble = helper.make_node(
        "TreeEnsemble",
        ["X64"],
        ["Y"],
        domain="ai.onnx.ml",
        aggregate_function=_AGGREGATE_SUM,
        post_transform=_POST_TRANSFORM_NONE,
        n_targets=n_targets,
        tree_roots=arrays.roots,
        nodes_featureids=arrays.ints("feature"),
        nodes_splits=numpy_helper.from_array(np.concatenate(arrays.splits)),
        nodes_modes=numpy_helper.from_array(np.full(arrays.n_nodes, _BRANCH_LEQ, np.uint8)),
        nodes_truenodeids=arrays.ints("true"),
        nodes_trueleafs=arrays.ints("true_leaf"),
        nodes_falsenodeids=arrays.ints("false"),
        nodes_falseleafs=arrays.ints("false_leaf"),
        nodes_missing_value_tracks_true=arrays.ints("missing"),
        leaf_targetids=np.concatenate(arrays.leaf_targets).tolist(),
        leaf_weights=numpy_helper.from_array(np.concatenate(arrays.leaf_weights)),
    )
    in_type = TensorProto.FLOAT if float32_input else TensorProto.DOUBLE
    widen = helper.make_node("Cast", ["X"], ["X64"], to=TensorProto.DOUBLE)
    graph = helper.make_graph(
        [widen, ensemble],
        "tree_ensemble",
        [helper.make_tensor_value_info("X", in_type, [None, n_features])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, n_targets])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="mlstack",
    )
    model.ir_version = IR_VERSION
    if model.ByteSize() >= _PROTOBUF_LIMIT:
        raise Unsupported(f"{arrays.n_nodes} split nodes are too many for one ONNX model")
    return bytes(model.SerializeToString())
