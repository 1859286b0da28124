"""Training: the algorithm catalogue, the training spec and its validation, the
pipeline, evaluation, and the trainer that fits one scikit-learn Pipeline.

Pure scikit-learn and pandas: no Flask, no database. The worker calls `train()` in a
child process (`isolation`); the API calls `validate_spec()` with the configured
`TrainingLimits` before queuing so that a bad request is a 400, not a failed job. The
data comes from `app.core.datasets`."""

from app.core.training.algorithms import (
    ALGORITHMS,
    Algorithm,
    EstimatorClass,
    algorithm_catalogue,
    make_estimator,
)
from app.core.training.evaluation import cross_validate, evaluate
from app.core.training.limits import DEFAULT_LIMITS, TrainingLimits
from app.core.training.pipeline import build_pipeline, feature_schema
from app.core.training.spec import (
    DEFAULT_ALGORITHM,
    DEFAULT_RANDOM_STATE,
    DEFAULT_TEST_SIZE,
    MAX_CLASSES,
    MAX_CV_FOLDS,
    MAX_INT_CLASSES,
    SPEC_KEYS,
    infer_task,
    validate_spec,
)
from app.core.training.trainer import TrainingResult, library_versions, train

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_LIMITS",
    "DEFAULT_RANDOM_STATE",
    "DEFAULT_TEST_SIZE",
    "MAX_CLASSES",
    "MAX_CV_FOLDS",
    "MAX_INT_CLASSES",
    "SPEC_KEYS",
    "Algorithm",
    "EstimatorClass",
    "TrainingLimits",
    "TrainingResult",
    "algorithm_catalogue",
    "build_pipeline",
    "cross_validate",
    "evaluate",
    "feature_schema",
    "infer_task",
    "library_versions",
    "make_estimator",
    "train",
    "validate_spec",
]
