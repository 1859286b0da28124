"""What a compiled stage is: the contract between the compilers (NumPy replay of
linear models and transformers, tree ensembles in C or onnxruntime) and the verification that
decides whether a compiled predictor may serve a version."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


class Unsupported(Exception):
    """The estimator, or one of its parts, has no exact compiled form here. The message
    is the reason recorded with the version, and scikit-learn serves it."""


class FinalStage(Protocol):
    """The last step of a compiled predictor. It takes the dense float64 matrix (one
    row per sample) that scikit-learn's own final estimator would receive, and answers
    what that estimator's `predict` / `predict_proba` answer, bit for bit."""

    engine: str  # "numpy", "native" (trees compiled to C) or "onnxruntime"

    def predict(self, X: Matrix) -> npt.NDArray[np.generic]: ...

    def predict_proba(self, X: Matrix) -> Matrix: ...

    def probe_rows(self) -> Matrix:
        """Rows in this stage's input space where a wrong compilation would show
        (for trees: every split threshold with its float32 and float64 neighbours, on
        rows that reach that node); shape (n, n_features_in), possibly n == 0."""
        ...
