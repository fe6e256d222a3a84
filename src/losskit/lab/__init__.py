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
from .estimators import LossClassifier, LossRegressor
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
