"""The loss lab: train the same model with several losses and see which one wins, and why.

``compare`` runs the experiment both source articles recommend (same model, data and seeds,
only the loss changes, evaluated on clean held-out data) and stores every run so a sweep can
be resumed. ``LossRegressor`` and ``LossClassifier`` bring any catalog loss to scikit-learn.
Needs the ``lab`` extra (PyTorch, scikit-learn, pandas, joblib, rich).

>>> from losskit.lab import DATASETS
>>> "diabetes" in DATASETS
True
"""

from __future__ import annotations

from ._types import CompareResult, LossSpec, RunConfig, RunResult
from .data import DATASETS, load_dataset
from .runner import compare, parse_param

__all__ = [
    "compare",
    "CompareResult",
    "RunResult",
    "RunConfig",
    "LossSpec",
    "LossRegressor",
    "LossClassifier",
    "DATASETS",
    "load_dataset",
    "parse_param",
]


def __getattr__(name: str):
    # The estimators need scikit-learn, whose import costs seconds; `losskit compare` does not.
    if name in ("LossRegressor", "LossClassifier"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'losskit.lab' has no attribute {name!r}")
