"""Test metrics, the per-loss summary over seeds, the ranking and the paired comparison.

All NumPy; the t distribution's p-value comes from the regularized incomplete beta function
computed here (scipy's value to 1e-9, without the seconds that importing ``scipy.stats`` costs).

>>> r = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
>>> round(r["rmse"], 4), r["mae"], r["median_ae"]
(1.1547, 0.6666666666666666, 0.0)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ._types import BINARY_METRICS, CLASSIFICATION_METRICS, HIGHER_IS_BETTER, PREDICTIVE_METRICS, REGRESSION_METRICS

ECE_BINS = 15
# Probabilities are clipped to [eps, 1 - eps] for the log-loss so a confident mistake costs
# log(1e15) ~ 34.5 instead of infinity (scikit-learn's convention for float64).
LOG_LOSS_EPS = 1e-15
SIGNIFICANCE_LEVEL = 0.05
MIN_SEEDS_FOR_SIGNIFICANCE = 3
# Half-widths of the central 90% and 95% intervals of a Gaussian, in standard deviations.
Z_90 = 1.6448536269514722
Z_95 = 1.959963984540054
# A run has converged at the first epoch whose clean validation metric is within this fraction
# of the best value the run reached (1% of the best RMSE, of the best macro F1).
CONVERGENCE_TOLERANCE = 0.01

# Macro F1 ranks classification losses: accuracy is coarse (a few test rows decide ties), and
# log-loss, Brier and ECE judge calibrated probabilities, which margin losses (hinge) never
# produce, so they would rank losses by a property some were not trained for. Macro F1 weights
# every class equally, which is what matters under imbalance and label noise.
PRIMARY_METRIC = {"regression": "rmse", "binary": "macro_f1", "multiclass": "macro_f1"}


def metric_names(task: str) -> tuple[str, ...]:
    if task == "regression":
        return REGRESSION_METRICS
    return BINARY_METRICS if task == "binary" else CLASSIFICATION_METRICS


# ------------------------------------------------------------------------------- per run


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """RMSE, MAE, median absolute error and R2, in the targets' units."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    residual = y_pred - y_true
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(residual**2))),
        "mae": float(np.mean(np.abs(residual))),
        "median_ae": float(np.median(np.abs(residual))),
        "r2": 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan,
    }


def predictive_metrics(
    y_true: Sequence[float], mean: Sequence[float], variance: Sequence[float], *, floor: float = 0.0
) -> dict[str, float]:
    """How well a predicted Gaussian N(mean, variance) describes the targets, in their units.

    ``nll`` is the mean negative log-likelihood with its constant, 0.5 (log 2 pi v + r^2 / v),
    a proper score: it rewards a variance that matches the squared error, not a small one.
    ``coverage_90`` and ``coverage_95`` are the shares of targets within mean ± 1.645 sqrt(v)
    and ± 1.96 sqrt(v): 0.90 and 0.95 when calibrated, less when the variance is too small.
    Variances are floored at ``floor`` (the loss's eps).

    >>> m = predictive_metrics([0.0, 0.0, 3.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0])
    >>> round(m["nll"], 4), round(m["coverage_90"], 4), round(m["coverage_95"], 4)
    (2.5856, 0.6667, 0.6667)
    """
    y_true, mean = np.asarray(y_true, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    # The smallest positive float keeps a variance that underflowed to 0 from dividing by 0.
    variance = np.maximum(np.asarray(variance, dtype=np.float64), max(floor, np.finfo(np.float64).tiny))
    squared = (y_true - mean) ** 2
    return {
        "nll": float(np.mean(0.5 * (np.log(2.0 * math.pi * variance) + squared / variance))),
        "coverage_90": float(np.mean(squared <= Z_90**2 * variance)),
        "coverage_95": float(np.mean(squared <= Z_95**2 * variance)),
    }


def classification_metrics(y_true: Sequence[int], proba: Any) -> dict[str, float]:
    """Accuracy, macro F1, log-loss, Brier score and 15-bin ECE from class probabilities.

    ``proba`` has shape (n, n_classes). The Brier score is the mean squared distance between
    the probability vector and the one-hot label, summed over classes for multiclass data and
    taken on the positive class for binary data (scikit-learn's ``brier_score_loss``). Binary
    data also gets ``pr_auc``, the average precision of class 1 (scikit-learn's
    ``average_precision_score``).

    >>> m = classification_metrics([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> round(m["accuracy"], 4), round(m["brier"], 4)
    (0.6667, 0.1367)
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    predicted = np.argmax(proba, axis=1)
    one_hot = np.eye(n_classes)[y_true]
    true_proba = np.clip(proba[np.arange(len(y_true)), y_true], LOG_LOSS_EPS, 1.0)
    squared = (proba - one_hot) ** 2
    brier = squared[:, 1] if n_classes == 2 else squared.sum(axis=1)
    metrics = {
        "accuracy": float(np.mean(predicted == y_true)),
        "macro_f1": macro_f1(y_true, predicted, n_classes),
        "log_loss": float(-np.mean(np.log(true_proba))),
        "brier": float(np.mean(brier)),
        "ece": expected_calibration_error(y_true, proba),
    }
    if n_classes == 2:
        metrics["pr_auc"] = average_precision(y_true == 1, proba[:, 1])
    return metrics


def average_precision(positive: Sequence[bool], score: Sequence[float]) -> float:
    """Area under the precision-recall curve as the step sum of precision over recall increments.

    The same definition as scikit-learn's ``average_precision_score`` (no interpolation; tied
    scores form one threshold); NaN when there is no positive.

    >>> average_precision([True, False, True, False], [0.9, 0.8, 0.7, 0.1])
    0.8333333333333333
    """
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    total = int(positive.sum())
    if total == 0:
        return math.nan
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order]
    # The last index of each distinct score: the thresholds.
    last = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]
    true_positives = np.cumsum(positive)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / total
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def macro_f1(y_true: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores (a class never predicted nor present scores 0)."""
    scores = []
    for label in range(n_classes):
        tp = np.sum((predicted == label) & (y_true == label))
        fp = np.sum((predicted == label) & (y_true != label))
        fn = np.sum((predicted != label) & (y_true == label))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE: |accuracy - confidence| per equal-width confidence bin, weighted by bin size."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    # Right-closed bins (a, b] as in Guo et al. 2017; confidence 0 cannot occur for a max.
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


# ------------------------------------------------------------------------------- over seeds


def epochs_to_convergence(curve: Sequence[float], metric: str, tolerance: float = CONVERGENCE_TOLERANCE) -> float:
    """The first epoch (1-based) whose value of ``metric`` is within ``tolerance`` of the curve's best.

    >>> epochs_to_convergence([10.0, 5.0, 4.02, 4.0, 4.1], "rmse")
    3.0
    """
    values = np.asarray(curve, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return math.nan
    higher = metric in HIGHER_IS_BETTER
    best = float(values[finite].max() if higher else values[finite].min())
    margin = tolerance * abs(best)
    reached = (values >= best - margin) if higher else (values <= best + margin)
    return float(np.flatnonzero(reached & finite)[0] + 1)


def generalisation_gap(run: Any, metric: str) -> float:
    """The run's ``metric`` on its training rows (clean targets) minus on the clean test split."""
    train = run.train_metrics.get(metric, math.nan) if run.train_metrics else math.nan
    return float(train - run.metrics.get(metric, math.nan))


# Summary columns of the learning dynamics, after the metrics: epochs to convergence, training
# seconds and the generalisation gap of the primary metric (train minus test).
DYNAMICS_COLUMNS = ("epochs_to_convergence", "train_seconds", "gap")


def summarize(runs: Sequence[Any], labels: Sequence[str], task: str, primary: str | None = None) -> list[dict[str, Any]]:
    """One row per loss label: the mean and standard deviation (ddof=1) of every metric over seeds.

    The row also summarises the learning dynamics (:data:`DYNAMICS_COLUMNS`) over seeds:
    ``epochs_to_convergence`` (see :func:`epochs_to_convergence`, on the clean validation
    metric), ``train_seconds`` and ``gap``, the generalisation gap of ``primary`` (default the
    task's ranking metric), its value on the training rows minus on the test split.
    """
    primary = primary or PRIMARY_METRIC[task]
    rows = []
    # The predictive metrics exist for losses that predict a variance; when one is compared,
    # every row gets them (NaN for the others) so that the summary stays one table.
    extra = [m for m in PREDICTIVE_METRICS if any(m in r.metrics for r in runs)]
    for label in labels:
        mine = [r for r in runs if r.loss_label == label]
        row: dict[str, Any] = {"loss": label, "name": mine[0].config.loss.name if mine else label, "n_seeds": len(mine)}
        for metric in (*metric_names(task), *extra):
            values = np.array([r.metrics.get(metric, math.nan) for r in mine], dtype=np.float64)
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        row["best_epoch_mean"] = float(np.mean([r.best_epoch for r in mine])) if mine else math.nan
        row["seconds_mean"] = float(np.mean([r.seconds for r in mine])) if mine else math.nan
        dynamics = {
            "epochs_to_convergence": [epochs_to_convergence(r.val_metric, r.monitor) if r.monitor else math.nan for r in mine],
            "train_seconds": [r.train_seconds for r in mine],
            "gap": [generalisation_gap(r, primary) for r in mine],
        }
        for column, values in dynamics.items():
            array = np.array(values, dtype=np.float64)
            row[f"{column}_mean"] = _nanmean(array)
            row[f"{column}_std"] = float(np.nanstd(array, ddof=1)) if np.isfinite(array).sum() > 1 else 0.0
        rows.append(row)
    return rows


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def rank(summary: Sequence[dict[str, Any]], metric: str) -> list[str]:
    """Loss labels, best first by the mean of ``metric``; NaN (diverged) sorts last."""
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0

    def order(row: dict[str, Any]) -> tuple[bool, float]:
        value = row[f"{metric}_mean"]
        return (math.isnan(value), sign * value if not math.isnan(value) else 0.0)

    return [row["loss"] for row in sorted(summary, key=order)]


def pair_key(run: Any) -> tuple:
    """What pairs two runs of different losses: the same perturbation and the same seed
    (hence the same split, initialisation and minibatches)."""
    c = run.config
    return (c.outliers, c.label_noise, -1.0 if c.imbalance is None else c.imbalance, c.seed)


def paired_comparison(runs: Sequence[Any], winner: str, runner_up: str, metric: str) -> dict[str, Any]:
    """Winner vs runner-up on ``metric``, paired by seed (same split, same initialisation).

    Differences are oriented so that positive means the winner is better. The t statistic is
    the mean difference over its standard error; ``significant`` needs p < 0.05 and at least
    3 seeds. Runs of a sweep pair by perturbation level and seed (:func:`pair_key`).
    """
    by_pair = {label: {pair_key(r): r.metrics.get(metric, math.nan) for r in runs if r.loss_label == label} for label in (winner, runner_up)}
    pairs = sorted(set(by_pair[winner]) & set(by_pair[runner_up]))
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    diffs = np.array([sign * (by_pair[winner][k] - by_pair[runner_up][k]) for k in pairs], dtype=np.float64)
    n = len(diffs)
    mean = float(diffs.mean()) if n else math.nan
    std = float(diffs.std(ddof=1)) if n > 1 else math.nan
    t_stat, p_value = _t_test(mean, std, n)
    significant = bool(n >= MIN_SEEDS_FOR_SIGNIFICANCE and p_value < SIGNIFICANCE_LEVEL)
    result = {
        "winner": winner,
        "runner_up": runner_up,
        "metric": metric,
        "test": "paired t-test",
        "seeds": sorted({k[-1] for k in pairs}),
        "differences": diffs.tolist(),
        "mean_difference": mean,
        "std_difference": std,
        "t_statistic": t_stat,
        "p_value": p_value,
        "n_seeds": n,
        "significant": significant,
    }
    result["sentence"] = _sentence(result)
    return result


def no_comparison(labels: Sequence[str], metric: str) -> dict[str, Any]:
    """The significance entry when fewer than two losses were compared."""
    only = labels[0] if labels else "nothing"
    return {
        "winner": only, "runner_up": None, "metric": metric, "test": "paired t-test", "seeds": [], "differences": [],
        "mean_difference": math.nan, "std_difference": math.nan, "t_statistic": math.nan,
        "p_value": math.nan, "n_seeds": 0, "significant": False,
        "sentence": f"Only {only} was run; compare at least two losses to rank them.",
    }


def _t_test(mean: float, std: float, n: int) -> tuple[float, float]:
    if n < 2 or math.isnan(mean) or math.isnan(std):
        return math.nan, math.nan
    if std == 0.0:
        # Every seed gave the same difference: no noise at all.
        return (0.0, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    t_stat = mean / (std / math.sqrt(n))
    return t_stat, t_two_sided_p(t_stat, n - 1)


def t_two_sided_p(t_stat: float, df: int) -> float:
    """Two-sided p-value of Student's t with ``df`` degrees of freedom.

    Computed here from the regularized incomplete beta function (equal to scipy's
    ``2 * stats.t.sf`` to 1e-9, see the tests): importing ``scipy.stats`` costs seconds, more
    than a whole small comparison.

    >>> round(t_two_sided_p(2.0, 4), 4)
    0.1161
    """
    if math.isinf(t_stat):
        return 0.0
    return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t_stat * t_stat))


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by Lentz's continued fraction (Numerical Recipes 6.4); P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The fraction converges fast only for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - regularized_incomplete_beta(b, a, 1.0 - x)
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def _sentence(s: dict[str, Any]) -> str:
    metric, n = s["metric"], s["n_seeds"]
    lead = (
        f"{s['winner']} beats {s['runner_up']} on {metric} by {s['mean_difference']:.4g} on average over "
        f"{n} paired seed{'s' if n != 1 else ''}"
    )
    if n < MIN_SEEDS_FOR_SIGNIFICANCE:
        return f"{lead}; with fewer than {MIN_SEEDS_FOR_SIGNIFICANCE} seeds the seed-to-seed noise cannot be estimated, so run more seeds before trusting the order."
    detail = f"(std of the per-seed differences {s['std_difference']:.3g}, t = {s['t_statistic']:.3g}, p = {s['p_value']:.3g})"
    if s["significant"]:
        return f"{lead} {detail}: the margin is larger than the seed-to-seed noise."
    return f"{lead} {detail}: the margin is within the seed-to-seed noise; the two are not distinguishable with these seeds."
