"""Every loss of the catalog against the frameworks that define it, and against plain NumPy.

``REFERENCES`` is the table of record: one entry per (loss, framework, API) computing the
framework's value on losskit's inputs, in losskit's argument order, for the reductions (and the
weighted reductions) the framework itself supports. Where a framework has no reduction (Optax,
scikit-learn's per-sample SGD losses) its per-example output is reduced here with NumPy.

Every ``relation == "equal"`` (or ``"scaled"``) claim in the registry's ``equivalents`` must have
an entry here with that relation (``test_every_equal_or_scaled_claim_has_a_reference``), and every
loss must have at least the independent float64 NumPy formula
(``test_every_loss_has_a_numpy_formula``), so a new loss or a new claim without a test fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import losskit as lk
from _cases import IGNORE_INDEX, make_case, missing_generators, param_cases, shapes

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
optax = pytest.importorskip("optax")
jnp = pytest.importorskip("jax.numpy")
jax = pytest.importorskip("jax")
sklearn_metrics = pytest.importorskip("sklearn.metrics")
sklearn_loss = pytest.importorskip("sklearn._loss.loss")
sgd_fast = pytest.importorskip("sklearn.linear_model._sgd_fast")

REDUCTIONS = ("none", "sum", "mean")


# ------------------------------------------------------------------------------------ helpers

def _broadcast_weight(weight: np.ndarray | None, shape: tuple) -> np.ndarray | None:
    """A prefix-shaped sample weight expanded to ``shape`` (what losskit does internally)."""
    if weight is None:
        return None
    return np.broadcast_to(weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim)), shape)


def _reduce(values: np.ndarray, reduction: str, weight: np.ndarray | None = None,
            norm: np.ndarray | None = None, root: bool = False) -> np.ndarray:
    """The contract's reductions in NumPy, for frameworks that return per-example values."""
    w = np.ones_like(values) if weight is None else _broadcast_weight(weight, values.shape)
    n = np.ones_like(values) if norm is None else norm
    if reduction == "none":
        return w * values
    if reduction == "sum":
        return np.sum(w * values)
    denominator = np.sum(w * n)
    mean = np.sum(w * values) / denominator if denominator > 0 else 0.0
    return np.sqrt(mean) if root else mean


def _signed(y: np.ndarray) -> np.ndarray:
    """{0, 1} labels to {-1, +1}, as losskit and Keras do when every label is 0 or 1."""
    return 2.0 * y - 1.0 if np.all((y == 0) | (y == 1)) else y


def _smooth_binary(y, params):
    ls = params.get("label_smoothing", 0.0)
    return y * (1.0 - ls) + 0.5 * ls


def _smooth_classes(y, params):
    ls = params.get("label_smoothing", 0.0)
    return y * (1.0 - ls) + ls / y.shape[-1]


def _log_softmax(x):
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------- independent formulas
# Straight from the math, in float64, written without looking at the kernels' numerical tricks.
# Each returns (per-example loss, mean normaliser or None).

def _cross_entropy_terms(t, log_p, params):
    cw = params.get("class_weight")
    cw = np.ones(t.shape[-1]) if cw is None else cw
    loss = -np.sum(cw * _smooth_classes(t, params) * log_p, axis=-1)
    norm = None if params.get("class_weight") is None else np.sum(cw * t, axis=-1)
    return loss, norm


def _sparse_cross_entropy(y, log_p, params):
    ignore = params.get("ignore_index")
    keep = np.ones(y.shape, bool) if ignore is None else y != ignore
    one_hot = np.eye(log_p.shape[-1])[np.where(keep, y, 0)]
    loss, norm = _cross_entropy_terms(one_hot, log_p, params)
    norm = np.ones(y.shape) if norm is None else norm
    return np.where(keep, loss, 0.0), np.where(keep, norm, 0.0)


def _huber_formula(e, delta):
    return np.where(np.abs(e) <= delta, 0.5 * e**2, delta * (np.abs(e) - 0.5 * delta))


def _pseudo_huber_formula(e, delta):
    return delta**2 * (np.sqrt(1 + (e / delta) ** 2) - 1)


def _sigmoid_cross_entropy_formula(y, x, params):
    pos_weight = 1.0 if params.get("pos_weight") is None else np.asarray(params["pos_weight"])
    t = _smooth_binary(y, params)
    return -(pos_weight * t * np.log(_sigmoid(x)) + (1 - t) * np.log(1 - _sigmoid(x)))


NUMPY_FORMULAS: dict[str, Callable] = {
    "mean_squared_error": lambda y, p, k: ((p - y) ** 2, None),
    "half_squared_error": lambda y, p, k: (0.5 * (p - y) ** 2, None),
    "mean_absolute_error": lambda y, p, k: (np.abs(p - y), None),
    "root_mean_squared_error": lambda y, p, k: ((p - y) ** 2, None),
    "mean_squared_logarithmic_error": lambda y, p, k: ((np.log(1 + p) - np.log(1 + y)) ** 2, None),
    "root_mean_squared_logarithmic_error": lambda y, p, k: ((np.log(1 + p) - np.log(1 + y)) ** 2, None),
    "mean_absolute_percentage_error": lambda y, p, k: (100 * np.abs(p - y) / np.maximum(np.abs(y), 1e-7), None),
    "huber": lambda y, p, k: (_huber_formula(p - y, k.get("delta", 1.0)), None),
    "smooth_l1": lambda y, p, k: (_huber_formula(p - y, k.get("beta", 1.0)) / k.get("beta", 1.0), None),
    "pseudo_huber": lambda y, p, k: (_pseudo_huber_formula(p - y, k.get("delta", 1.0)), None),
    "log_cosh": lambda y, p, k: (np.log(np.cosh(p - y)), None),
    "quantile": lambda y, p, k: (np.maximum(k.get("q", 0.5) * (y - p), (k.get("q", 0.5) - 1) * (y - p)), None),
    "epsilon_insensitive": lambda y, p, k: (np.maximum(0.0, np.abs(p - y) - k.get("epsilon", 0.1)), None),
    "poisson": lambda y, p, k: (p - y * np.log(p), None),
    "binary_cross_entropy": lambda y, p, k: (
        -(_smooth_binary(y, k) * np.log(p) + (1 - _smooth_binary(y, k)) * np.log(1 - p)), None),
    "sigmoid_cross_entropy": lambda y, x, k: (_sigmoid_cross_entropy_formula(y, x, k), None),
    "hinge": lambda y, f, k: (np.maximum(0.0, 1 - _signed(y) * f), None),
    "squared_hinge": lambda y, f, k: (np.maximum(0.0, 1 - _signed(y) * f) ** 2, None),
    "modified_huber": lambda y, f, k: (
        np.where(_signed(y) * f >= -1, np.maximum(0.0, 1 - _signed(y) * f) ** 2, -4 * _signed(y) * f), None),
    "logistic": lambda y, f, k: (np.log(1 + np.exp(-_signed(y) * f)), None),
    "categorical_cross_entropy": lambda t, p, k: _cross_entropy_terms(t, np.log(p), k),
    "softmax_cross_entropy": lambda t, x, k: _cross_entropy_terms(t, _log_softmax(x), k),
    "sparse_categorical_cross_entropy": lambda y, p, k: _sparse_cross_entropy(y, np.log(p), k),
    "sparse_softmax_cross_entropy": lambda y, x, k: _sparse_cross_entropy(y, _log_softmax(x), k),
    "kl_divergence": lambda t, p, k: (np.sum(t * np.log(t / p), axis=-1), None),
    "kl_divergence_with_logits": lambda t, x, k: (np.sum(t * (np.log(t) - _log_softmax(x)), axis=-1), None),
    "categorical_hinge": lambda t, f, k: (
        np.maximum(0.0, 1 + np.max((1 - t) * f, axis=-1) - np.sum(t * f, axis=-1)), None),
}


# ------------------------------------------------------------------------------ the table

@dataclass(frozen=True)
class Reference:
    """How one framework computes one loss of the catalog.

    ``compute(y_true, y_pred, params, reduction, sample_weight)`` takes losskit's arguments and
    returns the framework's value as a NumPy array. ``supports`` names the losskit parameters it
    can express; ``reductions`` and ``weighted`` the reductions it computes without and with
    sample weights.
    """

    loss: str
    framework: str
    api: str
    compute: Callable
    supports: frozenset = frozenset()
    reductions: tuple = REDUCTIONS
    weighted: tuple = ()
    relation: str = "equal"
    rtol: float = 1e-6
    atol: float = 1e-10

    @property
    def id(self) -> str:
        return f"{self.loss}-{self.framework}:{self.api}"

    def accepts(self, params: dict) -> bool:
        return set(params) <= self.supports


# ---- NumPy

def _numpy_reference(name: str) -> Reference:
    loss = lk.get(name)

    def compute(y_true, y_pred, params, reduction, sample_weight):
        values, norm = NUMPY_FORMULAS[name](y_true, y_pred, params)
        return _reduce(values, reduction, sample_weight, norm, root=loss.root)

    return Reference(name, "numpy", "float64 formula", compute, frozenset(p.name for p in loss.params),
                     loss.reductions, loss.reductions)


# ---- PyTorch: modules with prediction first and the class axis at 1

def _tensor(x):
    return torch.as_tensor(np.array(x))  # a writable copy: broadcast weights are read-only views


def _torch_pointwise(name, api, make, *, supports=(), weighted=(), transform=None, **kw):
    """A torch.nn loss module taking (input, target); ``make(params, reduction, weight)`` builds it."""

    def compute(y_true, y_pred, params, reduction, sample_weight):
        weight = _broadcast_weight(sample_weight, y_pred.shape)
        module = make(params, reduction, None if weight is None else _tensor(weight))
        target = y_true if transform is None else transform(y_true)
        return module(_tensor(y_pred), _tensor(target)).numpy()

    return Reference(name, "torch", api, compute, frozenset(supports), weighted=weighted, **kw)


def _class_axis_first(x):
    return x if x.ndim < 3 else torch.movedim(x, -1, 1)


def _torch_indexed(name, api, make, *, log_of_input=False, labels_from_one_hot=False, supports=()):
    """NLLLoss / CrossEntropyLoss with index targets, the class axis moved to 1."""

    def compute(y_true, y_pred, params, reduction, sample_weight):
        labels = y_true.argmax(-1) if labels_from_one_hot else y_true
        scores = np.log(y_pred) if log_of_input else y_pred
        class_weight = params.get("class_weight")
        module = make(params, reduction, None if class_weight is None else _tensor(class_weight))
        return module(_class_axis_first(_tensor(scores)), _tensor(labels)).numpy()

    return Reference(name, "torch", api, compute, frozenset(supports))


def _torch_kl(name, api, log_input):
    def compute(y_true, y_pred, params, reduction, sample_weight):
        # 'batchmean' divides by the first axis: flatten (B, T, K) to rows first.
        rows_true, rows_pred = y_true.reshape(-1, y_true.shape[-1]), y_pred.reshape(-1, y_pred.shape[-1])
        torch_reduction = {"none": "none", "sum": "sum", "mean": "batchmean"}[reduction]
        module = torch.nn.KLDivLoss(reduction=torch_reduction)
        value = module(log_input(_tensor(rows_pred)), _tensor(rows_true)).numpy()
        return value.sum(-1).reshape(y_true.shape[:-1]) if reduction == "none" else value

    return Reference(name, "torch", api, compute)


def _torch_references() -> list[Reference]:
    nn = torch.nn
    rmse = Reference(
        "root_mean_squared_error", "torch", "sqrt(mse_loss)",
        lambda y, p, k, r, w: torch.sqrt(torch.nn.functional.mse_loss(_tensor(p), _tensor(y))).numpy(),
        reductions=("mean",))
    return [
        _torch_pointwise("mean_squared_error", "MSELoss", lambda k, r, w: nn.MSELoss(reduction=r)),
        _torch_pointwise("half_squared_error", "0.5 * MSELoss",
                         lambda k, r, w: lambda a, b: 0.5 * nn.MSELoss(reduction=r)(a, b), relation="scaled"),
        _torch_pointwise("mean_absolute_error", "L1Loss", lambda k, r, w: nn.L1Loss(reduction=r)),
        rmse,
        _torch_pointwise("huber", "HuberLoss", lambda k, r, w: nn.HuberLoss(reduction=r, delta=k.get("delta", 1.0)),
                         supports={"delta"}),
        _torch_pointwise("smooth_l1", "SmoothL1Loss",
                         lambda k, r, w: nn.SmoothL1Loss(reduction=r, beta=k.get("beta", 1.0)), supports={"beta"}),
        # PyTorch adds eps = 1e-8 inside the log: a difference of at most y * 1e-8 / y_pred.
        _torch_pointwise("poisson", "PoissonNLLLoss(log_input=False)",
                         lambda k, r, w: nn.PoissonNLLLoss(log_input=False, reduction=r), atol=1e-6),
        _torch_pointwise("binary_cross_entropy", "BCELoss(weight)",
                         lambda k, r, w: nn.BCELoss(weight=w, reduction=r), weighted=("none", "sum")),
        _torch_pointwise(
            "sigmoid_cross_entropy", "BCEWithLogitsLoss(weight, pos_weight)",
            lambda k, r, w: nn.BCEWithLogitsLoss(
                weight=w, reduction=r,
                pos_weight=None if k.get("pos_weight") is None else _tensor(np.asarray(k["pos_weight"]))),
            supports={"pos_weight"}, weighted=("none", "sum")),
        _torch_pointwise("logistic", "SoftMarginLoss", lambda k, r, w: nn.SoftMarginLoss(reduction=r),
                         transform=_signed),
        _torch_indexed("categorical_cross_entropy", "NLLLoss(log p, argmax)",
                       lambda k, r, w: nn.NLLLoss(weight=w, reduction=r),
                       log_of_input=True, labels_from_one_hot=True, supports={"class_weight"}),
        _torch_indexed("softmax_cross_entropy", "CrossEntropyLoss(argmax)",
                       lambda k, r, w: nn.CrossEntropyLoss(weight=w, reduction=r, label_smoothing=k.get("label_smoothing", 0.0)),
                       labels_from_one_hot=True, supports={"class_weight", "label_smoothing"}),
        _torch_indexed("sparse_categorical_cross_entropy", "NLLLoss(log p)",
                       lambda k, r, w: nn.NLLLoss(weight=w, reduction=r, ignore_index=k.get("ignore_index", -100)),
                       log_of_input=True, supports={"class_weight", "ignore_index"}),
        _torch_indexed("sparse_softmax_cross_entropy", "CrossEntropyLoss",
                       lambda k, r, w: nn.CrossEntropyLoss(weight=w, reduction=r, ignore_index=k.get("ignore_index", -100),
                                                           label_smoothing=k.get("label_smoothing", 0.0)),
                       supports={"class_weight", "ignore_index", "label_smoothing"}),
        # log p are logits whose log_softmax is log p again (rows sum to 1), so CrossEntropyLoss
        # also checks label smoothing of the probability losses.
        _torch_indexed("categorical_cross_entropy", "CrossEntropyLoss(log p, argmax)",
                       lambda k, r, w: nn.CrossEntropyLoss(weight=w, reduction=r, label_smoothing=k.get("label_smoothing", 0.0)),
                       log_of_input=True, labels_from_one_hot=True, supports={"class_weight", "label_smoothing"}),
        _torch_indexed("sparse_categorical_cross_entropy", "CrossEntropyLoss(log p)",
                       lambda k, r, w: nn.CrossEntropyLoss(weight=w, reduction=r, ignore_index=k.get("ignore_index", -100),
                                                           label_smoothing=k.get("label_smoothing", 0.0)),
                       log_of_input=True, supports={"class_weight", "ignore_index", "label_smoothing"}),
        _torch_kl("kl_divergence", "KLDivLoss(batchmean)(log p)", torch.log),
        _torch_kl("kl_divergence_with_logits", "KLDivLoss(batchmean)(log_softmax)", lambda x: torch.log_softmax(x, -1)),
    ]


# ---- Keras 3 (JAX backend, float64)

_KERAS_REDUCTION = {"none": "none", "sum": "sum"}


def _keras(name, api, make, *, pointwise, supports=(), transform=None, **kw):
    """A keras.losses class; pointwise losses get a trailing axis of 1 (Keras reduces the last axis).

    Keras' "mean_with_sample_weight" divides by the sum of the weights as passed, so weights are
    passed broadcast to the loss shape; unweighted means use "sum_over_batch_size". Weighted
    cases run for "mean" only: Keras' weighted "none" and "sum" are the same multiplication, and
    every new shape costs a JAX compile.
    """

    def compute(y_true, y_pred, params, reduction, sample_weight):
        if reduction == "mean":
            keras_reduction = "sum_over_batch_size" if sample_weight is None else "mean_with_sample_weight"
        else:
            keras_reduction = reduction
        loss_object = make(params, keras_reduction)
        target = y_true if transform is None else transform(y_true)
        if pointwise:
            target, y_pred = target[..., None], y_pred[..., None]
        loss_shape = y_pred.shape[:-1]
        value = loss_object(target, y_pred, sample_weight=_broadcast_weight(sample_weight, loss_shape))
        return np.asarray(value)

    return Reference(name, "keras", api, compute, frozenset(supports), weighted=("mean",), **kw)


def _keras_references() -> list[Reference]:
    L = keras.losses
    f64 = {"dtype": "float64"}

    def pointwise(name, api, cls, **kw):
        return _keras(name, api, lambda k, r: cls(reduction=r, **f64), pointwise=True, **kw)

    def rmse(y_true, y_pred, params, reduction, sample_weight):
        metric = keras.metrics.RootMeanSquaredError(**f64)
        metric.update_state(y_true, y_pred, sample_weight=_broadcast_weight(sample_weight, y_pred.shape))
        return np.asarray(metric.result())

    return [
        pointwise("mean_squared_error", "MeanSquaredError", L.MeanSquaredError),
        _keras("half_squared_error", "0.5 * MeanSquaredError",
               lambda k, r: lambda *a, **kw: 0.5 * L.MeanSquaredError(reduction=r, **f64)(*a, **kw),
               pointwise=True, relation="scaled"),
        pointwise("mean_absolute_error", "MeanAbsoluteError", L.MeanAbsoluteError),
        Reference("root_mean_squared_error", "keras", "metrics.RootMeanSquaredError", rmse,
                  reductions=("mean",), weighted=("mean",)),
        pointwise("mean_squared_logarithmic_error", "MeanSquaredLogarithmicError", L.MeanSquaredLogarithmicError),
        pointwise("mean_absolute_percentage_error", "MeanAbsolutePercentageError", L.MeanAbsolutePercentageError),
        _keras("huber", "Huber(delta)", lambda k, r: L.Huber(delta=k.get("delta", 1.0), reduction=r, **f64),
               pointwise=True, supports={"delta"}),
        _keras("smooth_l1", "Huber(delta=beta) / beta",
               lambda k, r: lambda *a, **kw: L.Huber(delta=k.get("beta", 1.0), reduction=r, **f64)(*a, **kw) / k.get("beta", 1.0),
               pointwise=True, supports={"beta"}, relation="scaled"),
        pointwise("log_cosh", "LogCosh", L.LogCosh),
        # Keras adds 1e-7 inside the log: a difference of at most y * 1e-7 / y_pred.
        pointwise("poisson", "Poisson", L.Poisson, atol=1e-5),
        _keras("binary_cross_entropy", "BinaryCrossentropy",
               lambda k, r: L.BinaryCrossentropy(label_smoothing=k.get("label_smoothing", 0.0), reduction=r, **f64),
               pointwise=True, supports={"label_smoothing"}),
        _keras("sigmoid_cross_entropy", "BinaryCrossentropy(from_logits=True)",
               lambda k, r: L.BinaryCrossentropy(from_logits=True, label_smoothing=k.get("label_smoothing", 0.0),
                                                 reduction=r, **f64),
               pointwise=True, supports={"label_smoothing"}),
        pointwise("hinge", "Hinge", L.Hinge),
        pointwise("squared_hinge", "SquaredHinge", L.SquaredHinge),
        _keras("categorical_cross_entropy", "CategoricalCrossentropy",
               lambda k, r: L.CategoricalCrossentropy(label_smoothing=k.get("label_smoothing", 0.0), reduction=r, **f64),
               pointwise=False, supports={"label_smoothing"}),
        _keras("softmax_cross_entropy", "CategoricalCrossentropy(from_logits=True)",
               lambda k, r: L.CategoricalCrossentropy(from_logits=True, label_smoothing=k.get("label_smoothing", 0.0),
                                                      reduction=r, **f64),
               pointwise=False, supports={"label_smoothing"}),
        _keras("sparse_categorical_cross_entropy", "SparseCategoricalCrossentropy(ignore_class)",
               lambda k, r: L.SparseCategoricalCrossentropy(ignore_class=k.get("ignore_index"), reduction=r, **f64),
               pointwise=False, supports={"ignore_index"}),
        _keras("sparse_softmax_cross_entropy", "SparseCategoricalCrossentropy(from_logits=True, ignore_class)",
               lambda k, r: L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=k.get("ignore_index"),
                                                            reduction=r, **f64),
               pointwise=False, supports={"ignore_index"}),
        _keras("kl_divergence", "KLDivergence", lambda k, r: L.KLDivergence(reduction=r, **f64), pointwise=False),
        _keras("categorical_hinge", "CategoricalHinge", lambda k, r: L.CategoricalHinge(reduction=r, **f64), pointwise=False),
    ]


# ---- Optax: per-example functions (prediction first), reduced here

def _optax(name, api, per_example, *, supports=()):
    def compute(y_true, y_pred, params, reduction, sample_weight):
        key = (y_true.tobytes(), y_pred.tobytes(), y_pred.shape, repr(params))
        if key not in per_example_cache:
            per_example_cache[key] = np.asarray(per_example(jnp.asarray(y_true), jnp.asarray(y_pred), params))
        return _reduce(per_example_cache[key], reduction)

    # The three reductions share one per-example evaluation: each new JAX shape costs a compile.
    per_example_cache: dict = {}

    return Reference(name, "optax", api, compute, frozenset(supports))


def _optax_references() -> list[Reference]:
    O = optax.losses
    return [
        _optax("mean_squared_error", "squared_error", lambda y, p, k: O.squared_error(p, y)),
        _optax("half_squared_error", "l2_loss", lambda y, p, k: O.l2_loss(p, y)),
        _optax("huber", "huber_loss", lambda y, p, k: O.huber_loss(p, y, delta=k.get("delta", 1.0)), supports={"delta"}),
        _optax("log_cosh", "log_cosh", lambda y, p, k: O.log_cosh(p, y)),
        _optax("sigmoid_cross_entropy", "sigmoid_binary_cross_entropy", lambda y, x, k: O.sigmoid_binary_cross_entropy(x, y)),
        _optax("hinge", "hinge_loss(scores, 2y - 1)", lambda y, f, k: O.hinge_loss(f, jnp.asarray(_signed(np.asarray(y))))),
        _optax("softmax_cross_entropy", "safe_softmax_cross_entropy(logits, smooth_labels)",
               lambda t, x, k: O.safe_softmax_cross_entropy(x, optax.smooth_labels(t, k.get("label_smoothing", 0.0))),
               supports={"label_smoothing"}),
        _optax("sparse_softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
               lambda y, x, k: O.softmax_cross_entropy_with_integer_labels(x, y)),
        _optax("kl_divergence", "kl_divergence(log p)", lambda t, p, k: O.kl_divergence(jnp.log(p), t)),
        _optax("kl_divergence_with_logits", "kl_divergence(log_softmax)",
               lambda t, x, k: O.kl_divergence(jax.nn.log_softmax(x, axis=-1), t)),
    ]


# ---- scikit-learn: metrics (weighted means over flattened samples) and per-sample losses

def _sklearn_metric(name, api, metric, *, scale=1.0, rows=False, relation="equal", supports=()):
    """A sklearn.metrics function: 'mean' only, with sample weights.

    Pointwise inputs are flattened (losskit means over every element; scikit-learn would average
    per-output scores instead); class-axis inputs become rows of (n, K).
    """

    def compute(y_true, y_pred, params, reduction, sample_weight):
        if rows:
            # (..., K) scores become (n, K); labels keep their class axis if they have one.
            label_row_shape = y_true.shape[y_pred.ndim - 1:]
            labels, scores = y_true.reshape(-1, *label_row_shape), y_pred.reshape(-1, y_pred.shape[-1])
            weight_shape = y_pred.shape[:-1]
        else:
            labels, scores, weight_shape = y_true.ravel(), y_pred.ravel(), y_pred.shape
        weight = _broadcast_weight(sample_weight, weight_shape)
        weight = None if weight is None else weight.ravel()
        return np.asarray(scale * metric(labels, scores, params, weight))

    return Reference(name, "sklearn", api, compute, frozenset(supports), reductions=("mean",), weighted=("mean",),
                     relation=relation)


def _sklearn_per_sample(name, api, make_loss, *, raw=lambda p: p, labels=lambda y: y, supports=()):
    """A sklearn._loss class (the SGD estimators' losses): per-sample values and weighted means."""

    def compute(y_true, y_pred, params, reduction, sample_weight):
        loss_object = make_loss(params)
        weight = _broadcast_weight(sample_weight, y_pred.shape)
        y, p = np.ascontiguousarray(labels(y_true).ravel()), np.ascontiguousarray(raw(y_pred).ravel())
        w = None if weight is None else np.ascontiguousarray(weight.ravel())
        if reduction == "mean":
            return np.asarray(loss_object(y, p, sample_weight=w))
        values = loss_object.loss(y, p, sample_weight=w).reshape(y_pred.shape)
        return values if reduction == "none" else values.sum()

    return Reference(name, "sklearn", api, compute, frozenset(supports), weighted=REDUCTIONS)


def _sgd_per_sample(name, api, make_loss, *, supports=()):
    """A loss object of sklearn's SGD (py_loss(p, y) per sample), reduced here."""

    def compute(y_true, y_pred, params, reduction, sample_weight):
        loss_object = make_loss(params)
        values = np.array([loss_object.py_loss(p, y) for p, y in zip(y_pred.ravel(), _signed(y_true).ravel())])
        return _reduce(values.reshape(y_pred.shape), reduction, sample_weight)

    return Reference(name, "sklearn", api, compute, frozenset(supports), weighted=REDUCTIONS)


def _sklearn_references() -> list[Reference]:
    M, S = sklearn_metrics, sklearn_loss

    def metric(fn, **fixed):
        return lambda y, p, k, w: fn(y, p, sample_weight=w, **fixed)

    def class_labels(y, p, k, w):
        return M.log_loss(y, p, sample_weight=w, labels=np.arange(p.shape[-1]))

    return [
        _sklearn_metric("mean_squared_error", "metrics.mean_squared_error", metric(M.mean_squared_error)),
        _sklearn_metric("mean_absolute_error", "metrics.mean_absolute_error", metric(M.mean_absolute_error)),
        _sklearn_metric("root_mean_squared_error", "metrics.root_mean_squared_error", metric(M.root_mean_squared_error)),
        _sklearn_metric("mean_squared_logarithmic_error", "metrics.mean_squared_log_error", metric(M.mean_squared_log_error)),
        _sklearn_metric("root_mean_squared_logarithmic_error", "metrics.root_mean_squared_log_error",
                        metric(M.root_mean_squared_log_error)),
        _sklearn_metric("mean_absolute_percentage_error", "100 * metrics.mean_absolute_percentage_error",
                        metric(M.mean_absolute_percentage_error), scale=100.0, relation="scaled"),
        _sklearn_metric("quantile", "metrics.mean_pinball_loss",
                        lambda y, p, k, w: M.mean_pinball_loss(y, p, alpha=k.get("q", 0.5), sample_weight=w),
                        supports={"q"}),
        _sklearn_metric("binary_cross_entropy", "metrics.log_loss", metric(M.log_loss)),
        _sklearn_metric("hinge", "metrics.hinge_loss", metric(M.hinge_loss)),
        _sklearn_metric("categorical_cross_entropy", "metrics.log_loss(argmax)",
                        lambda y, p, k, w: class_labels(y.argmax(-1), p, k, w), rows=True),
        _sklearn_metric("sparse_categorical_cross_entropy", "metrics.log_loss", class_labels, rows=True),
        _sklearn_per_sample("half_squared_error", "_loss.HalfSquaredError (SGD squared_error)",
                            lambda k: S.HalfSquaredError()),
        _sklearn_per_sample("mean_absolute_error", "_loss.AbsoluteError", lambda k: S.AbsoluteError()),
        _sklearn_per_sample("quantile", "_loss.PinballLoss", lambda k: S.PinballLoss(quantile=k.get("q", 0.5)),
                            supports={"q"}),
        _sklearn_per_sample("huber", "_loss.HuberLoss (SGD huber)", lambda k: S.HuberLoss(delta=k.get("delta", 1.0)),
                            supports={"delta"}),
        _sklearn_per_sample("poisson", "_loss.HalfPoissonLoss(log rate)", lambda k: S.HalfPoissonLoss(), raw=np.log),
        _sklearn_per_sample("sigmoid_cross_entropy", "_loss.HalfBinomialLoss (SGD log_loss)",
                            lambda k: S.HalfBinomialLoss()),
        _sgd_per_sample("epsilon_insensitive", "SGD EpsilonInsensitive.py_loss",
                        lambda k: sgd_fast.EpsilonInsensitive(k.get("epsilon", 0.1)), supports={"epsilon"}),
        _sgd_per_sample("squared_hinge", "SGD SquaredHinge.py_loss", lambda k: sgd_fast.SquaredHinge(1.0)),
        _sgd_per_sample("modified_huber", "SGD ModifiedHuber.py_loss", lambda k: sgd_fast.ModifiedHuber()),
        _sgd_per_sample("hinge", "SGD Hinge.py_loss", lambda k: sgd_fast.Hinge(1.0)),
    ]


def _sparse_multinomial() -> Reference:
    def compute(y_true, y_pred, params, reduction, sample_weight):
        loss_object = sklearn_loss.HalfMultinomialLoss(n_classes=y_pred.shape[-1])
        labels = np.ascontiguousarray(y_true.ravel().astype(np.float64))
        values = loss_object.loss(labels, np.ascontiguousarray(y_pred.reshape(-1, y_pred.shape[-1])))
        return _reduce(values.reshape(y_true.shape), reduction, sample_weight)

    return Reference("sparse_softmax_cross_entropy", "sklearn", "_loss.HalfMultinomialLoss", compute,
                     weighted=REDUCTIONS)


REFERENCES: list[Reference] = (
    [_numpy_reference(loss.name) for loss in lk.catalog() if loss.name in NUMPY_FORMULAS]
    + _torch_references() + _keras_references() + _optax_references() + _sklearn_references()
    + [_sparse_multinomial()]
)


# ------------------------------------------------------------------------- coverage of the table

def test_every_loss_has_an_input_generator():
    assert missing_generators() == []


def test_every_loss_has_a_numpy_formula():
    assert [loss.name for loss in lk.catalog() if loss.name not in NUMPY_FORMULAS] == []


@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_every_equal_or_scaled_claim_has_a_reference(loss):
    covered = {(ref.framework, ref.relation) for ref in REFERENCES if ref.loss == loss.name}
    claimed = {(eq.framework, eq.relation) for eq in loss.equivalents if eq.relation in ("equal", "scaled")}
    assert claimed - covered == set()


def test_every_parameter_is_checked_against_some_framework():
    unchecked = [
        (loss.name, param.name) for loss in lk.catalog() for param in loss.params
        if not any(ref.loss == loss.name and param.name in ref.supports and ref.framework != "numpy"
                   for ref in REFERENCES)
    ]
    # No framework has the pseudo-Huber loss; its delta is checked against the NumPy formula only.
    assert unchecked == [("pseudo_huber", "delta")]


# -------------------------------------------------------------------------------- comparisons

# Keras and Optax run on JAX, which compiles every primitive for every new shape: their
# reductions (shape-independent code) are compared on the first shape, their per-example values
# ("none") and means on every shape.
_JAX_BASED = ("keras", "optax")


def _comparisons():
    for ref in REFERENCES:
        loss = lk.get(ref.loss)
        for shape in shapes(loss):
            every_reduction = ref.framework not in _JAX_BASED or shape == shapes(loss)[0]
            for params_id, params in param_cases(loss, shape):
                if not ref.accepts(params):
                    continue
                for reduction in ref.reductions:
                    if reduction in loss.reductions and (every_reduction or reduction != "sum"):
                        yield pytest.param(ref, shape, params, reduction, False,
                                           id=f"{ref.id}-{shape}-{params_id}-{reduction}")
                for reduction in ref.weighted if every_reduction else ():
                    if reduction in loss.reductions:
                        yield pytest.param(ref, shape, params, reduction, True,
                                           id=f"{ref.id}-{shape}-{params_id}-{reduction}-weighted")


@pytest.mark.parametrize("ref, shape, params, reduction, weighted", list(_comparisons()))
def test_loss_matches_reference(ref, shape, params, reduction, weighted):
    loss = lk.get(ref.loss)
    case = make_case(loss, shape, params)
    sample_weight = case.sample_weight if weighted else None
    expected = ref.compute(case.y_true, case.y_pred, params, reduction, sample_weight)
    actual = loss(case.y_true, case.y_pred, **params, reduction=reduction, sample_weight=sample_weight)
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=ref.rtol, atol=ref.atol)


@pytest.mark.parametrize("ref", [ref for ref in REFERENCES if ref.loss in ("hinge", "squared_hinge", "modified_huber")
                                 and ref.framework != "numpy"], ids=lambda ref: ref.id)
def test_zero_one_labels_give_the_same_loss_as_signed_labels(ref):
    loss = lk.get(ref.loss)
    case = make_case(loss, (7,))
    zero_one = (case.y_true + 1.0) / 2.0
    expected = ref.compute(zero_one, case.y_pred, {}, "mean", None)
    np.testing.assert_allclose(loss(zero_one, case.y_pred), expected, rtol=ref.rtol)
    np.testing.assert_allclose(loss(case.y_true, case.y_pred), expected, rtol=ref.rtol)


# ----------------------------------------------------------------------------- extra pins

@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_matches_torch_huber_loss_across_delta(delta):
    y_true, y_pred = np.array([0.0, 0.0, 1.0, -2.0]), np.array([0.3, 1.7, -1.5, -2.1])
    expected = torch.nn.HuberLoss(delta=delta, reduction="none")(_tensor(y_pred), _tensor(y_true)).numpy()
    np.testing.assert_allclose(lk.huber(y_true, y_pred, delta=delta, reduction="none"), expected, rtol=1e-12)


def test_smooth_l1_matches_torch_at_beta_one_half():
    y_true, y_pred = np.zeros(3), np.array([0.25, 3.0, -0.7])
    expected = torch.nn.SmoothL1Loss(beta=0.5, reduction="none")(_tensor(y_pred), _tensor(y_true)).numpy()
    np.testing.assert_allclose(lk.smooth_l1(y_true, y_pred, beta=0.5, reduction="none"), expected, rtol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_huber_is_beta_times_smooth_l1_at_delta_equal_beta(beta):
    case = make_case(lk.huber, (7,))
    np.testing.assert_allclose(
        lk.huber(case.y_true, case.y_pred, delta=beta, reduction="none"),
        beta * lk.smooth_l1(case.y_true, case.y_pred, beta=beta, reduction="none"),
        rtol=1e-12,
    )


def test_sparse_cross_entropy_with_every_label_ignored_is_zero_where_torch_gives_nan():
    logits = np.random.default_rng(1).normal(size=(3, 4))
    labels = np.full(3, IGNORE_INDEX)
    torch_value = torch.nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)(_tensor(logits), _tensor(labels))
    assert torch.isnan(torch_value)  # the documented difference
    assert float(lk.sparse_softmax_cross_entropy(labels, logits, ignore_index=IGNORE_INDEX)) == 0.0
    assert float(lk.sparse_categorical_cross_entropy(
        labels, np.full((3, 4), 0.25), ignore_index=IGNORE_INDEX)) == 0.0


def test_binary_cross_entropy_matches_frameworks_just_inside_keras_clip():
    y_true = np.array([1.0, 0.0, 1.0, 0.0])
    y_pred = np.array([2e-7, 1.0 - 2e-7, 1.0 - 2e-7, 2e-7])
    ours = lk.bce(y_true, y_pred, reduction="none")
    torch_value = torch.nn.BCELoss(reduction="none")(_tensor(y_pred), _tensor(y_true)).numpy()
    keras_value = keras.losses.BinaryCrossentropy(reduction="none", dtype="float64")(y_true[:, None], y_pred[:, None])
    np.testing.assert_allclose(ours, torch_value, rtol=1e-6)
    np.testing.assert_allclose(ours, np.asarray(keras_value), rtol=1e-6)
    np.testing.assert_allclose(lk.bce(y_true, y_pred), sklearn_metrics.log_loss(y_true, y_pred), rtol=1e-6)


def test_binary_cross_entropy_at_exact_zero_and_one_equals_torch_cap_of_100():
    y_true, y_pred = np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])
    expected = torch.nn.BCELoss(reduction="none")(_tensor(y_pred), _tensor(y_true)).numpy()
    np.testing.assert_array_equal(expected, [100.0, 100.0, 0.0])
    np.testing.assert_array_equal(lk.bce(y_true, y_pred, reduction="none"), expected)


def test_logistic_is_finite_where_torch_soft_margin_overflows_in_float32():
    y_true, scores = np.array([1.0]), np.array([-1000.0], dtype=np.float32)
    torch_value = torch.nn.SoftMarginLoss()(torch.as_tensor(scores), torch.as_tensor(y_true, dtype=torch.float32))
    assert torch.isinf(torch_value)
    np.testing.assert_allclose(lk.logistic(y_true.astype(np.float32), scores), 1000.0, rtol=1e-6)


def test_soft_label_class_weighted_mean_divides_by_label_weights_where_torch_divides_by_batch():
    # The documented difference of softmax_cross_entropy: with probability targets and class
    # weights PyTorch's 'mean' is sum / N; losskit's is sum / sum(class_weight * y_true), which is
    # what PyTorch does for index targets (and so equals the sparse loss on one-hot labels).
    case = make_case(lk.kl_divergence_with_logits, (6, 4))  # soft labels and logits
    class_weight = np.array([0.5, 1.0, 2.0, 4.0])
    torch_mean = torch.nn.CrossEntropyLoss(weight=_tensor(class_weight))(_tensor(case.y_pred), _tensor(case.y_true))
    total = lk.softmax_cross_entropy(case.y_true, case.y_pred, class_weight=class_weight, reduction="sum")
    np.testing.assert_allclose(torch_mean.numpy(), total / 6, rtol=1e-12)
    np.testing.assert_allclose(
        lk.softmax_cross_entropy(case.y_true, case.y_pred, class_weight=class_weight),
        total / np.sum(case.y_true * class_weight), rtol=1e-12,
    )
