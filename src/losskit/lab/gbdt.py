"""``model="gbdt"``: LightGBM trained with the compared loss as its custom objective.

The objective is :func:`losskit.boosting.lightgbm_objective` (the catalog's analytic gradient
and Hessian through the loss's link) and early stopping watches the same loss on the clean
validation split (:func:`losskit.boosting.lightgbm_metric`), so a boosted tree is compared
exactly like the networks: same split, same perturbations, same metrics, one boosting round
per "epoch" of the learning dynamics. Losses without a positive Hessian (mae, quantile, huber
beyond delta, the margin losses) use the documented constant-Hessian fallback.
"""

from __future__ import annotations

import importlib.util
import math
import time
from typing import Any

import numpy as np

from . import metrics as M
from ._types import RunConfig, RunResult
from .data import Dataset, Split, prepare_split
from .models import NONNEGATIVE_LABELS, Head, head_for

LIGHTGBM_MISSING = "model='gbdt' needs LightGBM: pip install 'losskit[boosting]'"
# The trees: small and regularised enough for tables of a few hundred rows; one thread and
# deterministic histograms so a run is bit-for-bit reproducible like the networks'.
TREE_PARAMS = {
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "min_sum_hessian_in_leaf": 1e-3,
    "max_bin": 63,
    "lambda_l2": 1e-3,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
    "metric": "None",
}


def require_lightgbm() -> None:
    if importlib.util.find_spec("lightgbm") is None:
        raise ImportError(LIGHTGBM_MISSING)


def gbdt_notes(loss: Any, head: Head) -> list[str]:
    """Reject losses a boosted tree cannot take as objective; say when the Hessian fallback applies."""
    from .. import boosting

    require_lightgbm()
    try:
        boosting._link(loss)
    except ValueError as exc:
        raise ValueError(f"{exc} (model='gbdt')") from None
    if boosting.needs_fallback(loss):
        return [
            f"{loss.name} has no Hessian that is positive everywhere; LightGBM trained it with the constant-Hessian "
            "fallback (Hessian 1 where the loss's is zero, as LightGBM's own l1, quantile and huber objectives; "
            "without their leaf re-fit, so it needs more rounds than the built-in objective)"
        ]
    return []


def _labels(head: Head, y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float64)


def _probabilities(loss: Any, raw: np.ndarray) -> np.ndarray:
    from .. import boosting

    p = boosting.predict(loss, raw)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=-1)
    p = np.clip(p, 0.0, 1.0)
    return p / p.sum(axis=-1, keepdims=True)


def _metrics(loss: Any, head: Head, split: Split, raw: np.ndarray, y_true: np.ndarray) -> tuple[list, list, dict[str, float]]:
    from .. import boosting

    if head.task == "regression":
        predicted = split.to_original_units(boosting.predict(loss, raw))
        return np.asarray(y_true).tolist(), predicted.tolist(), M.regression_metrics(y_true, predicted)
    proba = _probabilities(loss, raw)
    return np.asarray(y_true).tolist(), proba.tolist(), M.classification_metrics(y_true, proba)


def _monitor(loss: Any, head: Head, split: Split, raw: np.ndarray, y_original: np.ndarray) -> float:
    from .. import boosting

    if head.task == "regression":
        residual = split.to_original_units(boosting.predict(loss, raw)) - y_original
        return float(np.sqrt(np.mean(residual**2)))
    proba = _probabilities(loss, raw)
    return M.macro_f1(np.asarray(y_original), np.argmax(proba, axis=1), proba.shape[1])


def run_gbdt(config: RunConfig, dataset: Dataset) -> RunResult:
    """Train and evaluate one LightGBM run with the config's loss as objective."""
    require_lightgbm()
    import lightgbm as lgb

    from .. import boosting
    from .train import loss_and_params

    started = time.perf_counter()
    loss, params = loss_and_params(config)
    head, notes = head_for(loss, config.task, dataset.n_classes)
    notes = notes + gbdt_notes(loss, head)
    split = prepare_split(
        dataset, config.seed, outliers=config.outliers, label_noise=config.label_noise,
        imbalance=config.imbalance, nonnegative_target=loss.label_format in NONNEGATIVE_LABELS,
    )
    objective = boosting.lightgbm_objective(loss, **params)
    metric = boosting.lightgbm_metric(loss, **params)
    multiclass = loss.kind in ("dense", "sparse")
    n_classes = dataset.n_classes if multiclass else 1
    y_train, y_val = _labels(head, split.y_train), _labels(head, split.y_val)
    # A constant start that minimises the loss on the training targets (LightGBM starts a custom
    # objective at 0); the multiclass scores start at 0 (uniform probabilities).
    start = 0.0 if multiclass else boosting.init_score(loss, y_train, **params)

    def init(rows: int) -> np.ndarray:
        return np.full((rows, n_classes) if multiclass else rows, start, dtype=np.float64)

    train_set = lgb.Dataset(split.X_train, y_train, init_score=init(len(y_train)), free_raw_data=False)
    val_set = lgb.Dataset(split.X_val, y_val, init_score=init(len(y_val)), reference=train_set, free_raw_data=False)
    y_val_original = split.to_original_units(split.y_val) if head.task == "regression" else split.y_val
    monitor_name = M.PRIMARY_METRIC[config.task]

    higher = monitor_name in M.HIGHER_IS_BETTER

    def feval(preds: np.ndarray, data: Any) -> list[tuple[str, float, bool]]:
        # The loss first (early stopping watches it), then the clean validation metric (recorded
        # only; LightGBM wants the same metrics on every evaluated set, so the training set gets NaN).
        value = _monitor(loss, head, split, np.asarray(preds), y_val_original) if data is val_set else math.nan
        return [metric(preds, data), ("monitor", value, higher)]

    history: dict[str, list[float]] = {"train": [], "val": [], "monitor": [], "time": []}
    clock = time.perf_counter()

    def record(env: Any) -> None:
        for data_name, eval_name, value, *_ in env.evaluation_result_list:
            if eval_name == "monitor":
                if data_name == "val":
                    history["monitor"].append(float(value))
            elif data_name == "train":
                history["train"].append(float(value))
            else:
                history["val"].append(float(value))
        history["time"].append(time.perf_counter() - clock)

    settings = {**TREE_PARAMS, "objective": objective, "learning_rate": config.learning_rate, "seed": config.seed}
    if multiclass:
        settings["num_class"] = n_classes
    booster = lgb.train(
        settings, train_set, num_boost_round=config.epochs, valid_sets=[train_set, val_set], valid_names=["train", "val"],
        feval=feval, callbacks=[record, lgb.early_stopping(config.patience, first_metric_only=True, verbose=False)],
    )
    train_seconds = time.perf_counter() - clock
    best = booster.best_iteration or booster.current_iteration()

    def raw_scores(X: np.ndarray) -> np.ndarray:
        return booster.predict(X, num_iteration=best, raw_score=True) + init(len(X))

    targets, predictions, metrics = _metrics(loss, head, split, raw_scores(split.X_test), split.y_test)
    _, _, val_metrics = _metrics(loss, head, split, raw_scores(split.X_val), y_val_original)
    _, _, train_metrics = _metrics(loss, head, split, raw_scores(split.X_train), split.clean_train_targets(dataset))
    rounds = len(history["val"])
    warnings = list(notes)
    if not all(math.isfinite(v) for v in history["train"]):
        warnings.append(f"{loss.name}: the training loss became non-finite; kept the best round")
    return RunResult(
        key=config.key(),
        config=config,
        metrics=metrics,
        train_loss=history["train"][:rounds],
        val_loss=history["val"],
        best_epoch=best - 1,
        seconds=time.perf_counter() - started,
        test_targets=targets,
        test_predictions=predictions,
        warnings=warnings,
        monitor=monitor_name,
        val_metric=history["monitor"][:rounds],
        grad_norm=objective.gradient_norms[:rounds],
        wall_time=history["time"][:rounds],
        train_seconds=train_seconds,
        val_metrics=val_metrics,
        train_metrics=train_metrics,
    )
