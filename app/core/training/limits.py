"""How much work one training job may ask for, checked before it is queued.

A request beyond a limit is a 400 that names the limit's setting, so the caller knows
what to change and the operator knows what to raise. The limits bound what a spec
can make the worker do; the wall-clock and memory limits of the fit itself (see
`isolation`) catch whatever the data makes of it.

- estimator counts (`n_estimators`; HistGradientBoosting's `max_iter`, one tree per
  iteration) and solver iterations (`max_iter` elsewhere);
- classes, whether the task was asked for or inferred (a text id column as target is
  not 100,000 classes);
- rows x columns used (features and target);
- parallelism: `n_jobs` is brought down to the worker's allowance, never refused.

Tree depth is not limited: a tree cannot grow deeper than its rows allow, rows are
limited, and the job's timeout bounds the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

Errors = dict[str, str]

# algorithms whose `max_iter` counts fitted trees, not solver iterations
_ITERATIONS_ARE_ESTIMATORS = frozenset({"hist_gradient_boosting"})


@dataclass(frozen=True)
class TrainingLimits:
    """The limits, named by the settings that configure them (see app/config.py)."""

    max_estimators: int = 10_000  # TRAIN_MAX_ESTIMATORS
    max_iter: int = 20_000  # TRAIN_MAX_ITER
    max_classes: int = 200  # TRAIN_MAX_CLASSES
    max_cells: int = 20_000_000  # TRAIN_MAX_CELLS
    n_jobs: int = 1  # JOB_N_JOBS

    @classmethod
    def from_settings(cls, settings: Any) -> TrainingLimits:
        """From an object with the settings as attributes (the app's Config)."""
        return cls(
            max_estimators=int(settings.TRAIN_MAX_ESTIMATORS),
            max_iter=int(settings.TRAIN_MAX_ITER),
            max_classes=int(settings.TRAIN_MAX_CLASSES),
            max_cells=int(settings.TRAIN_MAX_CELLS),
            n_jobs=max(1, int(settings.JOB_N_JOBS)),
        )


DEFAULT_LIMITS = TrainingLimits()


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_counts(algorithm: Any, params: dict[str, Any], limits: TrainingLimits) -> Errors:
    """Estimator counts and iterations beyond their limits, one error per parameter."""
    errors: Errors = {}
    counted = {"n_estimators": (limits.max_estimators, "TRAIN_MAX_ESTIMATORS")}
    if algorithm in _ITERATIONS_ARE_ESTIMATORS:
        counted["max_iter"] = (limits.max_estimators, "TRAIN_MAX_ESTIMATORS")
    else:
        counted["max_iter"] = (limits.max_iter, "TRAIN_MAX_ITER")
    for name, (limit, setting) in counted.items():
        value = params.get(name)
        if _is_int(value) and value > limit:
            errors[f"params.{name}"] = f"{value} exceeds the limit of {limit} ({setting})"
    return errors


def allowed_n_jobs(params: dict[str, Any], limits: TrainingLimits) -> dict[str, Any]:
    """`params` with `n_jobs` brought within the worker's allowance: -1 ("all cores")
    and other negative counts, or more than the allowance, become the allowance."""
    n_jobs = params.get("n_jobs")
    if _is_int(n_jobs) and (n_jobs < 1 or n_jobs > limits.n_jobs):
        return {**params, "n_jobs": limits.n_jobs}
    return params


def check_classes(target: Any, n_unique: int, limits: TrainingLimits) -> str | None:
    """Why a classification target has too many classes, or None."""
    if n_unique <= limits.max_classes:
        return None
    return (
        f"{target!r} has {n_unique} distinct values: more than the limit of "
        f"{limits.max_classes} classes (TRAIN_MAX_CLASSES); an identifier or free-text "
        "column is no target, and a numeric one can be trained as regression"
    )


def check_cells(n_rows: int, n_columns: int, limits: TrainingLimits) -> str | None:
    """Why the data is too large to train on, or None."""
    cells = n_rows * n_columns
    if cells <= limits.max_cells:
        return None
    return (
        f"{n_rows} rows x {n_columns} columns = {cells} values exceeds the limit of "
        f"{limits.max_cells} (TRAIN_MAX_CELLS): choose fewer features or a smaller dataset"
    )
