"""A fitted estimator (a Pipeline of replayed transformers and a final estimator, or a
final estimator alone) compiled into a predictor that takes the schema's matrix, as
LoadedModel does, and answers what scikit-learn answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import FinalStage, Unsupported
from app.core.fastpath.linear import LINEAR_NAMES, compile_linear
from app.core.fastpath.replay import Array, Columns, Data, Transform, compile_steps
from app.core.fastpath.trees import compile_trees


def compile_final(est: Any) -> FinalStage:
    """The dispatch of final estimators to their compilers: linear models to NumPy,
    everything else to the tree compiler, which raises Unsupported itself for what it
    does not compile."""
    if type(est).__name__ in LINEAR_NAMES:
        return compile_linear(est)
    return compile_trees(est)


class CompiledPredictor:
    """The replayed transformers (if any) and the compiled final stage. `front` turns
    the schema's matrix into the final stage's input, as scikit-learn's Pipeline does."""

    def __init__(self, front: Transform | None, final: FinalStage, numeric: Sequence[bool] | None):
        self.front, self.final = front, final
        self.numeric = list(numeric) if numeric is not None else None
        self.engine = final.engine

    def transformed(self, matrix: Array) -> Array:
        data: Data = matrix if self.numeric is None else Columns(matrix, self.numeric)
        if self.front is not None:
            return self.front(data)
        return data.whole() if isinstance(data, Columns) else data

    def predict(self, matrix: Array) -> npt.NDArray[np.generic]:
        return self.final.predict(self.transformed(matrix))

    def predict_both(self, matrix: Array) -> tuple[npt.NDArray[np.generic], Array]:
        """Labels and probabilities from one pass through the transformers."""
        X = self.transformed(matrix)
        return self.final.predict(X), self.final.predict_proba(X)


def compile_predictor(
    estimator: Any, numeric: Sequence[bool], *, takes_frame: bool
) -> CompiledPredictor:
    """`numeric`: per schema feature, whether it is numeric; `takes_frame`: whether the
    runtime hands scikit-learn a DataFrame (then columns are read as pandas gives them)."""
    from sklearn.pipeline import Pipeline

    if type(estimator) is Pipeline:
        steps = [s for _, s in estimator.steps]
        final_est = steps[-1]
        if final_est is None or final_est == "passthrough":
            raise Unsupported("a Pipeline without a final estimator")
        front: Transform | None = compile_steps(steps[:-1]) if len(steps) > 1 else None
    else:
        final_est, front = estimator, None
    final = compile_final(final_est)
    return CompiledPredictor(front, final, numeric if takes_frame else None)
