"""Any loss of the catalog as a gradient-boosting objective: LightGBM and XGBoost.

A gradient-boosted tree is fitted to the raw score ``f`` of each sample; a custom objective
returns the first and second derivative of the loss with respect to ``f``. Both come from the
catalog's analytic :meth:`~losskit.Loss.grad_and_hessian`, through the loss's output
activation (its link) when the loss does not take the raw score directly:

================== ====================================== ========================================
output activation  prediction from the raw score ``f``    used by
================== ====================================== ========================================
``linear``         ``f``                                  mse, huber, quantile, logits, margins
``exp``            ``exp(f)`` (log link)                  poisson, tweedie, gamma
``softplus``       ``log(1 + exp(f))``                    msle
``sigmoid``        ``1 / (1 + exp(-f))``                  binary_cross_entropy on probabilities
================== ====================================== ========================================

>>> import numpy as np, losskit as lk
>>> objective = lk.boosting.lightgbm_objective(lk.huber, delta=1.0)
>>> grad, hess = objective(np.array([0.0, 3.0]), np.array([0.5, 0.0]))  # (y_true, raw score)
>>> grad.tolist(), hess.tolist()  # huber's Hessian is 0 beyond delta: the unit fallback there
([0.5, -1.0], [1.0, 1.0])

**The Hessian fallback.** A Newton step ``-G / H`` needs a positive Hessian. Where the loss's
Hessian is positive it is used as is (mse, poisson, the cross-entropies); where it is zero (mae,
quantile, huber beyond ``delta``, epsilon-insensitive) or the loss has no analytic Hessian, the
objective uses a constant Hessian of 1 (times the sample weight), which turns the Newton step
into a gradient step of unit curvature. That is what LightGBM's own ``l1``, ``quantile`` and
``huber`` objectives do (with ``hessian=1``); LightGBM additionally re-fits their leaf values to
the residuals' median or quantile, which a custom objective cannot do, so a custom MAE or
quantile objective converges more slowly than the built-in one (use more rounds). Choose
``hessian="constant"`` for unit curvature everywhere and ``hessian="exact"`` for the loss's own
Hessian unchanged (an error for a loss without one). :attr:`Objective.fallback` says whether a
loss needs the fallback.

**Initial score.** LightGBM starts a custom objective from 0 (``boost_from_average`` applies to
built-in objectives only) and XGBoost from ``base_score``; pass ``init_score`` (LightGBM) or
``base_margin`` (XGBoost), e.g. :func:`init_score`, to start from the best constant.

Usage::

    import lightgbm as lgb
    booster = lgb.train({"objective": lk.boosting.lightgbm_objective(lk.huber, delta=1.0)},
                        lgb.Dataset(X, y), feval=lk.boosting.lightgbm_metric(lk.huber, delta=1.0))
    model = lgb.LGBMRegressor(objective=lk.boosting.lightgbm_objective(lk.huber))  # scikit-learn API

    import xgboost as xgb
    booster = xgb.train({}, xgb.DMatrix(X, y), obj=lk.boosting.xgboost_objective(lk.huber),
                        custom_metric=lk.boosting.xgboost_metric(lk.huber))

Predictions of a custom objective are raw scores: :func:`predict` turns them into the loss's
prediction (``exp(f)`` under a log link, probabilities for logits).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._registry import get as _registry_get

HESSIAN_MODES = ("auto", "exact", "constant")
LINKS = ("linear", "exp", "softplus", "sigmoid")

__all__ = [
    "Objective",
    "Metric",
    "lightgbm_objective",
    "xgboost_objective",
    "lightgbm_metric",
    "xgboost_metric",
    "grad_and_hessian",
    "predict",
    "init_score",
    "needs_fallback",
]


def _loss(loss: Any) -> Any:
    return _registry_get(loss) if isinstance(loss, str) else loss


def _link(loss: Any) -> str:
    activations = [part.strip() for part in loss.output_activation.split(",")]
    if len(loss.inputs) != 1 or len(activations) != 1:
        raise ValueError(
            f"{loss.name} takes {len(loss.inputs)} predictions ({', '.join(loss.inputs)}); a boosted tree "
            "fits one raw score per sample (per class), so it cannot be a gradient-boosting objective"
        )
    if loss.kind not in ("pointwise", "dense", "sparse") or loss.task not in ("regression", "binary", "multiclass"):
        raise ValueError(f"{loss.name} is a {loss.task} loss of kind {loss.kind}; boosting objectives need a pointwise or class-axis loss")
    link = activations[0]
    if link == "softmax":
        twin = f" (its twin on logits: {loss.pair})" if loss.pair else ""
        raise ValueError(
            f"{loss.name} takes probabilities from a softmax, whose Jacobian couples the classes; use the "
            f"loss on logits{twin}, e.g. softmax_cross_entropy, as the boosting objective"
        )
    if link not in LINKS:
        raise ValueError(f"{loss.name}: unsupported output activation {loss.output_activation!r} for boosting")
    return link


def needs_fallback(loss: Any) -> bool:
    """Whether ``loss`` uses the constant-Hessian fallback somewhere (no Hessian, or one that
    is zero on part of its domain: mae, quantile, huber beyond delta, the margin losses).

    >>> import losskit as lk
    >>> needs_fallback(lk.mse), needs_fallback(lk.mae), needs_fallback(lk.huber)
    (False, True, True)
    """
    loss = _loss(loss)
    if not loss.has_hessian:
        return True
    return loss.name in _ZERO_HESSIAN or not loss.convex


# Losses whose analytic Hessian is zero on part of the domain (piecewise linear parts).
_ZERO_HESSIAN = frozenset({
    "mean_absolute_error", "quantile", "huber", "smooth_l1", "epsilon_insensitive", "hinge", "squared_hinge",
    "modified_huber", "categorical_hinge", "mean_absolute_percentage_error",
})


def _encode(loss: Any, y_true: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Labels as the loss takes them: class indices to one-hot rows for dense class-axis losses."""
    y_true = np.asarray(y_true)
    if loss.kind == "dense":
        k = raw.shape[-1]
        return np.eye(k, dtype=np.float64)[y_true.astype(np.int64)]
    if loss.kind == "sparse":
        return y_true.astype(np.int64)
    return y_true.astype(np.float64)


def _scores(raw: Any, y_true: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float64)
    n = len(y_true)
    if raw.ndim == 1 and raw.size != n and n and raw.size % n == 0:
        # Older multiclass layouts: class-major flat scores.
        raw = raw.reshape(-1, n).T
    return raw


def _activate(link: str, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The prediction, its first and second derivative with respect to the raw score."""
    if link == "linear":
        return raw, None, None
    if link == "exp":
        mu = np.exp(raw)
        return mu, mu, mu
    if link == "softplus":
        s = 1.0 / (1.0 + np.exp(-raw))
        return np.logaddexp(0.0, raw), s, s * (1.0 - s)
    p = 1.0 / (1.0 + np.exp(-raw))
    # Keep probabilities strictly inside (0, 1): the loss on probabilities is finite there.
    p = np.clip(p, 1e-15, 1.0 - 1e-15)
    d1 = p * (1.0 - p)
    return p, d1, d1 * (1.0 - 2.0 * p)


def grad_and_hessian(
    loss: Any, y_true: Any, raw: Any, *, sample_weight: Any = None, hessian: str = "auto", **params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of ``loss`` with respect to the raw scores ``raw``, per sample (per class).

    ``raw`` has shape (n,) or (n, n_classes) for class-axis losses (given class-index labels).
    With ``sample_weight`` both are multiplied by the weights, as LightGBM and XGBoost expect of
    a custom objective. ``hessian`` is ``auto`` (the loss's Hessian where positive, 1 elsewhere),
    ``exact`` or ``constant`` (1); see the module's notes on the fallback.
    """
    loss = _loss(loss)
    if hessian not in HESSIAN_MODES:
        raise ValueError(f"hessian must be one of {', '.join(HESSIAN_MODES)}; got {hessian!r}")
    link = _link(loss)
    y_true = np.asarray(y_true)
    raw = _scores(raw, y_true)
    labels = _encode(loss, y_true, raw)
    prediction, d1, d2 = _activate(link, raw)
    if loss.has_hessian and hessian != "constant":
        grad, hess = loss.grad_and_hessian(labels, prediction, reduction="sum", **params)
        grad, hess = np.asarray(grad, dtype=np.float64), np.asarray(hess, dtype=np.float64)
    else:
        if hessian == "exact":
            raise ValueError(f"{loss.name} has no analytic Hessian; use hessian='auto' or 'constant'")
        grad, hess = np.asarray(loss.grad(labels, prediction, reduction="sum", **params), dtype=np.float64), None
    if d1 is not None:
        # Chain rule through the link: d/df L(s(f)) = L' s', d2/df2 = L'' s'^2 + L' s''.
        raw_hess = None if hess is None else hess * d1 * d1 + grad * d2
        grad = grad * d1
        hess = raw_hess
    if hess is None or hessian == "constant":
        hess = np.ones_like(grad)
    elif hessian == "auto":
        hess = np.where(np.isfinite(hess) & (hess > 0), hess, 1.0)
    if sample_weight is not None and np.size(sample_weight):
        weight = np.asarray(sample_weight, dtype=np.float64)
        weight = weight[:, None] if grad.ndim == 2 else weight
        grad, hess = grad * weight, hess * weight
    return grad, hess


def predict(loss: Any, raw: Any) -> np.ndarray:
    """The loss's prediction from raw scores: ``exp`` under a log link, and for classification
    class probabilities (sigmoid of a logit or margin as P(class 1), softmax of class scores)."""
    loss = _loss(loss)
    link = _link(loss)
    raw = np.asarray(raw, dtype=np.float64)
    if loss.task == "regression":
        return _activate(link, raw)[0]
    if raw.ndim == 2:
        shifted = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-raw))


def init_score(loss: Any, y_true: Any, **params: Any) -> float:
    """The constant raw score that minimises the mean loss on ``y_true`` (a 1-D search).

    A good ``init_score`` for LightGBM / ``base_margin`` for XGBoost (one value per sample):
    the mean for mse, the median for mae, the log of the mean under a log link.
    """
    loss = _loss(loss)
    link = _link(loss)
    y = np.asarray(y_true, dtype=np.float64)
    if loss.task != "regression" and loss.kind != "pointwise":
        raise ValueError(f"init_score takes one score for every sample; {loss.name} scores every class")
    if link == "exp":
        center = math.log(max(float(np.mean(y)), 1e-12))
        spread = 3.0
    elif link == "sigmoid" or loss.task == "binary":
        share = float(np.clip(np.mean(y > 0), 1e-6, 1 - 1e-6))
        center, spread = math.log(share / (1 - share)), 5.0
    else:
        center = float(np.median(y))
        spread = float(np.std(y)) * 3.0 + 1e-12
    labels = _encode(loss, y, y)

    def value(c: float) -> float:
        prediction = _activate(link, np.full(y.shape, c))[0]
        return float(loss(labels, prediction, **params))

    lo, hi = center - spread, center + spread
    golden = (math.sqrt(5) - 1) / 2
    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    fa, fb = value(a), value(b)
    for _ in range(80):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - golden * (hi - lo)
            fa = value(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = value(b)
    return float((lo + hi) / 2)


def _label_and_weight(data: Any) -> tuple[np.ndarray, np.ndarray | None]:
    label = np.asarray(data.get_label())
    weight = data.get_weight()
    weight = None if weight is None or np.size(weight) == 0 else np.asarray(weight)
    return label, weight


class Objective:
    """A custom objective for LightGBM or XGBoost, from a catalog loss and its parameters.

    Callable both ways the libraries call objectives: ``(preds, dataset)`` (``lgb.train``'s
    ``objective`` parameter, ``xgb.train``'s ``obj``) and ``(y_true, y_pred[, weight])`` (the
    scikit-learn APIs ``LGBMRegressor(objective=...)``, ``XGBRegressor(objective=...)``). Returns
    ``(grad, hess)`` with respect to the raw scores.
    """

    def __init__(self, library: str, loss: Any, hessian: str = "auto", **params: Any) -> None:
        loss = _loss(loss)
        _link(loss)
        if hessian not in HESSIAN_MODES:
            raise ValueError(f"hessian must be one of {', '.join(HESSIAN_MODES)}; got {hessian!r}")
        loss.bind_params(params)  # a wrong parameter fails here, not in the first boosting round
        self.library, self.loss, self.hessian, self.params = library, loss, hessian, dict(params)
        self.fallback = hessian == "constant" or needs_fallback(loss)
        self.gradient_norms: list[float] = []  # ||mean-loss gradient|| per call, for learning dynamics

    @property
    def __name__(self) -> str:  # LightGBM names a callable objective after it
        return f"losskit_{self.loss.name}"

    def __call__(self, first: Any, second: Any, weight: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return self._gradients(first, second, weight)

    def _gradients(self, first: Any, second: Any, weight: Any) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(second, "get_label"):  # (preds, Dataset / DMatrix)
            raw = first
            y_true, weight = _label_and_weight(second)
        else:  # (y_true, y_pred[, weight])
            y_true, raw = first, second
        grad, hess = grad_and_hessian(self.loss, y_true, raw, sample_weight=weight, hessian=self.hessian, **self.params)
        self.gradient_norms.append(float(np.linalg.norm(grad)) / max(len(grad), 1))
        return grad, hess

    def metric(self) -> "Metric":
        """The matching evaluation metric: the same loss, mean over the evaluation rows."""
        return (xgboost_metric if self.library == "xgboost" else lightgbm_metric)(self.loss, **self.params)

    def __deepcopy__(self, memo: dict) -> "Objective":
        # lgb.train deep-copies its params; the copy must stay this object (its gradient norms).
        return self

    def __reduce__(self):
        return (_rebuild_objective, (self.library, self.loss.name, self.hessian, self.params))

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.library}_objective({self.loss.name}{params}, hessian={self.hessian!r})"


def _rebuild_objective(library: str, name: str, hessian: str, params: dict) -> Objective:
    return (xgboost_objective if library == "xgboost" else lightgbm_objective)(name, hessian=hessian, **params)


def _rebuild_metric(library: str, name: str, params: dict) -> "Metric":
    return (xgboost_metric if library == "xgboost" else lightgbm_metric)(name, **params)


class Metric:
    """The loss as an evaluation metric (lower is better), mean over the rows, weights honoured.

    LightGBM: ``(preds, dataset) -> (name, value, False)``, the scikit-learn API's
    ``(y_true, y_pred[, weight])`` gets the same tuple. XGBoost: ``(preds, dmatrix) -> (name,
    value)`` for ``custom_metric``, and a plain float for the scikit-learn API's ``eval_metric``.
    """

    def __init__(self, library: str, loss: Any, **params: Any) -> None:
        loss = _loss(loss)
        _link(loss)
        loss.bind_params(params)
        self.library, self.loss, self.params = library, loss, dict(params)
        self.name = loss.name

    @property
    def __name__(self) -> str:
        return self.name

    def value(self, y_true: Any, raw: Any, weight: Any = None) -> float:
        y_true = np.asarray(y_true)
        raw = _scores(raw, y_true)
        prediction = _activate(_link(self.loss), raw)[0]
        labels = _encode(self.loss, y_true, raw)
        kwargs = dict(self.params)
        if weight is not None and np.size(weight):
            kwargs["sample_weight"] = np.asarray(weight, dtype=np.float64)
        return float(self.loss(labels, prediction, **kwargs))

    # The scikit-learn wrappers count the arguments (LightGBM passes the weights third) or look
    # for ``sample_weight`` (XGBoost): each library gets the signature it expects.
    def __call__(self, first: Any, second: Any, weight: Any = None) -> Any:
        return self._evaluate(first, second, weight)

    def _evaluate(self, first: Any, second: Any, weight: Any) -> Any:
        if hasattr(second, "get_label"):
            y_true, weight = _label_and_weight(second)
            value = self.value(y_true, first, weight)
            return (self.name, value, False) if self.library == "lightgbm" else (self.name, value)
        value = self.value(first, second, weight)
        return (self.name, value, False) if self.library == "lightgbm" else value


    def __reduce__(self):
        return (_rebuild_metric, (self.library, self.loss.name, self.params))

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.library}_metric({self.loss.name}{params})"


class _XGBoostMetric(Metric):
    def __call__(self, first: Any, second: Any, sample_weight: Any = None) -> Any:  # type: ignore[override]
        return self._evaluate(first, second, sample_weight)


class _XGBoostObjective(Objective):
    def __call__(self, first: Any, second: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        return self._gradients(first, second, sample_weight)


def lightgbm_objective(loss: Any, *, hessian: str = "auto", **params: Any) -> Objective:
    """``loss`` (a catalog loss or its name) as a LightGBM custom objective; see :class:`Objective`.

    >>> import losskit as lk
    >>> lightgbm_objective(lk.quantile, q=0.9).fallback
    True
    """
    return Objective("lightgbm", loss, hessian, **params)


def xgboost_objective(loss: Any, *, hessian: str = "auto", **params: Any) -> Objective:
    """``loss`` as an XGBoost custom objective (``xgb.train(obj=...)``, ``XGBRegressor(objective=...)``)."""
    return _XGBoostObjective("xgboost", loss, hessian, **params)


def lightgbm_metric(loss: Any, **params: Any) -> Metric:
    """``loss`` as a LightGBM evaluation metric (``feval=``, ``eval_metric=``), lower is better."""
    return Metric("lightgbm", loss, **params)


def xgboost_metric(loss: Any, **params: Any) -> Metric:
    """``loss`` as an XGBoost evaluation metric (``custom_metric=``, ``eval_metric=``)."""
    return _XGBoostMetric("xgboost", loss, **params)

