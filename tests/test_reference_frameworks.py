"""Every loss of the catalog against the frameworks that define it, and against plain NumPy.

The frameworks' side is the runnable table of :mod:`losskit.equivalents`: each entry computes
the framework's value on losskit's inputs, in losskit's argument order, for the reductions (and
the weighted reductions) it supports; a ``"scaled"`` entry is compared after its documented
factor. The PyTorch and Optax entries are differentiable, and their autodiff gradients are
compared with ``loss.grad`` too (both of gaussian_nll's against ``GaussianNLLLoss``).

Every ``relation == "equal"`` (or ``"scaled"``) claim in the registry's ``equivalents`` must have
a runnable entry (``test_every_equal_or_scaled_claim_has_a_reference``), and every loss must
have at least the independent float64 NumPy formula (``test_every_loss_has_a_numpy_formula``),
so a new loss or a new claim without a test fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import losskit as lk
from _cases import IGNORE_INDEX, make_case, missing_generators, param_cases, shapes
from losskit import equivalents

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
optax = pytest.importorskip("optax")
jnp = pytest.importorskip("jax.numpy")
jax = pytest.importorskip("jax")
sklearn_metrics = pytest.importorskip("sklearn.metrics")
pytest.importorskip("sklearn._loss.loss")

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
# Each takes (y_true, *predictions, params) and returns (per-example loss, mean normaliser or None).

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


def _tweedie_formula(y, mu, power):
    if power == 0:
        return (y - mu) ** 2
    if power == 1:
        return 2 * (np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0) - y + mu)
    if power == 2:
        return 2 * (np.log(mu / y) + y / mu - 1)
    return 2 * (np.maximum(y, 0.0) ** (2 - power) / ((1 - power) * (2 - power))
                - y * mu ** (1 - power) / (1 - power) + mu ** (2 - power) / (2 - power))


def _barron_formula(e, alpha, scale):
    x2 = (e / scale) ** 2
    if alpha == 2:
        return 0.5 * x2
    if alpha == 0:
        return np.log(0.5 * x2 + 1)
    if alpha == -np.inf:
        return 1 - np.exp(-0.5 * x2)
    return abs(alpha - 2) / alpha * ((x2 / abs(alpha - 2) + 1) ** (alpha / 2) - 1)


def _gaussian_nll_formula(y, mean, variance, k):
    v = np.maximum(variance, k.get("eps", 1e-6))
    constant = 0.5 * np.log(2 * np.pi) if k.get("full", False) else 0.0
    return 0.5 * (np.log(v) + (mean - y) ** 2 / v) + constant


def _sigmoid_cross_entropy_formula(y, x, params):
    pos_weight = 1.0 if params.get("pos_weight") is None else np.asarray(params["pos_weight"])
    t = _smooth_binary(y, params)
    return -(pos_weight * t * np.log(_sigmoid(x)) + (1 - t) * np.log(1 - _sigmoid(x)))


def _z_loss_term(x, params):
    """PaLM's z-loss, z * logsumexp(x)^2 per row."""
    shift = x.max(-1, keepdims=True)
    return params.get("z_loss", 0.0) * (shift[..., 0] + np.log(np.exp(x - shift).sum(-1))) ** 2


def _softmax_cross_entropy_formula(t, x, params):
    loss, norm = _cross_entropy_terms(t, _log_softmax(x), params)
    return loss + _z_loss_term(x, params), norm


def _sparse_softmax_cross_entropy_formula(y, x, params):
    loss, norm = _sparse_cross_entropy(y, _log_softmax(x), params)
    ignore = params.get("ignore_index")
    keep = np.ones(y.shape, bool) if ignore is None else y != ignore
    return loss + np.where(keep, _z_loss_term(x, params), 0.0), norm


def _linear_cross_entropy_formula(y, hidden, weight, params):
    # The dense composition the fused loss streams: the logits of the head, then the sparse CE.
    logits = hidden @ weight.T
    if params.get("bias") is not None:
        logits = logits + params["bias"]
    rest = {k: v for k, v in params.items() if k not in ("bias", "chunk_size")}
    return _sparse_softmax_cross_entropy_formula(y, logits, rest)


def _sigmoid_focal_formula(y, x, params):
    p = _sigmoid(x)
    p_t = y * p + (1 - y) * (1 - p)
    loss = _sigmoid_cross_entropy_formula(y, x, {}) * (1 - p_t) ** params.get("gamma", 2.0)
    alpha = params.get("alpha")
    return loss if alpha is None else (alpha * y + (1 - alpha) * (1 - y)) * loss


def _softmax_focal_formula(t, x, params):
    p = np.exp(_log_softmax(x))
    cw = params.get("class_weight")
    w = np.ones(t.shape[-1]) if cw is None else cw
    loss = -np.sum(w * t * (1 - p) ** params.get("gamma", 2.0) * np.log(p), axis=-1)
    return loss, None if cw is None else np.sum(cw * t, axis=-1)


def _one_hot_kept(y, num_classes, params):
    ignore = params.get("ignore_index")
    keep = np.ones(y.shape, bool) if ignore is None else y != ignore
    return np.eye(num_classes)[np.where(keep, y, 0)] * keep[..., None], keep


def _sparse_softmax_focal_formula(y, x, params):
    one_hot, keep = _one_hot_kept(y, x.shape[-1], params)
    loss, norm = _softmax_focal_formula(one_hot, x, params)
    return loss, np.where(keep, 1.0 if norm is None else norm, 0.0)


def _poly1_formula(t, x, params):
    p = np.exp(_log_softmax(x))
    return -np.sum(t * np.log(p), -1) + params.get("epsilon", 2.0) * np.sum(t * (1 - p), -1), None


def _sparse_poly1_formula(y, x, params):
    one_hot, keep = _one_hot_kept(y, x.shape[-1], params)
    return _poly1_formula(one_hot, x, params)[0], keep.astype(float)


def _region_sums(y, k):
    """Sums over each (sample, class) region: every axis but the first and the last (and the first with batch)."""
    axes = tuple(range(0 if k.get("batch", False) else 1, y.ndim - 1))
    return lambda x: np.sum(x, axis=axes)


def _dice_formula(y, p, k):
    s, total = k.get("smooth", 1e-5), _region_sums(y, k)
    denominator = total(y**2) + total(p**2) if k.get("squared", False) else total(y) + total(p)
    return 1 - (2 * total(y * p) + s) / (denominator + s)


def _jaccard_formula(y, p, k):
    s, total = k.get("smooth", 1e-5), _region_sums(y, k)
    intersection = total(y * p)
    return 1 - (intersection + s) / (total(y) + total(p) - intersection + s)


def _tversky_formula(y, p, k):
    s, total = k.get("smooth", 1e-5), _region_sums(y, k)
    tp, fp, fn = total(y * p), total(p * (1 - y)), total((1 - p) * y)
    return 1 - (tp + s) / (tp + k.get("alpha", 0.5) * fp + k.get("beta", 0.5) * fn + s)


def _norm(x):
    return np.sqrt(np.sum(x * x, axis=-1))


def _rel_entr(a, b):
    return np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0) / np.where(a > 0, b, 1.0)), 0.0)


def _jensen_shannon_formula(t, p):
    m = 0.5 * (t + p)
    return 0.5 * np.sum(_rel_entr(t, m) + _rel_entr(p, m), axis=-1)


def _cosine_embedding_formula(y, x1, x2, k):
    cos = np.sum(x1 * x2, -1) / np.sqrt((np.sum(x1**2, -1) + 1e-12) * (np.sum(x2**2, -1) + 1e-12))
    return np.where(_signed(y) > 0, 1 - cos, np.maximum(0.0, cos - k.get("margin", 0.0)))


def _triplet_formula(a, p, n, k):
    degree, eps = k.get("p", 2.0), k.get("eps", 1e-6)

    def distance(u, v):
        return np.sum(np.abs(u - v + eps) ** degree, axis=-1) ** (1 / degree)

    negative = distance(a, n)
    if k.get("swap", False):
        negative = np.minimum(negative, distance(p, n))
    return np.maximum(0.0, k.get("margin", 1.0) + distance(a, p) - negative)


def _info_nce_formula(x, y, k):
    xh, yh = x / _norm(x)[:, None], y / _norm(y)[:, None]
    s = xh @ yh.T / k.get("temperature", 0.07)
    rows = np.log(np.sum(np.exp(s), axis=1)) - np.diag(s)
    columns = np.log(np.sum(np.exp(s), axis=0)) - np.diag(s)
    return 0.5 * (rows + columns) if k.get("symmetric", True) else rows


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
    "gamma_deviance": lambda y, p, k: (2 * (np.log(p / y) + y / p - 1), None),
    "tweedie_deviance": lambda y, p, k: (_tweedie_formula(y, p, k.get("power", 1.5)), None),
    "general_robust": lambda y, p, k: (_barron_formula(p - y, k.get("alpha", 1.0), k.get("scale", 1.0)), None),
    "cauchy": lambda y, p, k: (np.log(0.5 * ((p - y) / k.get("scale", 1.0)) ** 2 + 1), None),
    "geman_mcclure": lambda y, p, k: (
        2 * ((p - y) / k.get("scale", 1.0)) ** 2 / (((p - y) / k.get("scale", 1.0)) ** 2 + 4), None),
    "welsch": lambda y, p, k: (1 - np.exp(-0.5 * ((p - y) / k.get("scale", 1.0)) ** 2), None),
    "binary_cross_entropy": lambda y, p, k: (
        -(_smooth_binary(y, k) * np.log(p) + (1 - _smooth_binary(y, k)) * np.log(1 - p)), None),
    "sigmoid_cross_entropy": lambda y, x, k: (_sigmoid_cross_entropy_formula(y, x, k), None),
    "sigmoid_focal": lambda y, x, k: (_sigmoid_focal_formula(y, x, k), None),
    "softmax_focal": _softmax_focal_formula,
    "sparse_softmax_focal": _sparse_softmax_focal_formula,
    "poly1_cross_entropy": _poly1_formula,
    "sparse_poly1_cross_entropy": _sparse_poly1_formula,
    "hinge": lambda y, f, k: (np.maximum(0.0, 1 - _signed(y) * f), None),
    "squared_hinge": lambda y, f, k: (np.maximum(0.0, 1 - _signed(y) * f) ** 2, None),
    "modified_huber": lambda y, f, k: (
        np.where(_signed(y) * f >= -1, np.maximum(0.0, 1 - _signed(y) * f) ** 2, -4 * _signed(y) * f), None),
    "logistic": lambda y, f, k: (np.log(1 + np.exp(-_signed(y) * f)), None),
    "categorical_cross_entropy": lambda t, p, k: _cross_entropy_terms(t, np.log(p), k),
    "softmax_cross_entropy": _softmax_cross_entropy_formula,
    "sparse_categorical_cross_entropy": lambda y, p, k: _sparse_cross_entropy(y, np.log(p), k),
    "sparse_softmax_cross_entropy": _sparse_softmax_cross_entropy_formula,
    "linear_cross_entropy": _linear_cross_entropy_formula,
    "kl_divergence": lambda t, p, k: (np.sum(t * np.log(t / p), axis=-1), None),
    "kl_divergence_with_logits": lambda t, x, k: (np.sum(t * (np.log(t) - _log_softmax(x)), axis=-1), None),
    "categorical_hinge": lambda t, f, k: (
        np.maximum(0.0, 1 + np.max((1 - t) * f, axis=-1) - np.sum(t * f, axis=-1)), None),
    "gaussian_nll": lambda y, mean, variance, k: (_gaussian_nll_formula(y, mean, variance, k), None),
    "jensen_shannon": lambda t, p, k: (_jensen_shannon_formula(t, p), None),
    "cosine_distance": lambda t, p, k: (1 - np.sum(t * p, -1) / (
        np.maximum(_norm(t), k.get("eps", 1e-8)) * np.maximum(_norm(p), k.get("eps", 1e-8))), None),
    "cosine_embedding": lambda y, x1, x2, k: (_cosine_embedding_formula(y, x1, x2, k), None),
    "margin_ranking": lambda y, x1, x2, k: (np.maximum(0.0, k.get("margin", 0.0) - _signed(y) * (x1 - x2)), None),
    "triplet_margin": lambda a, p, n, k: (_triplet_formula(a, p, n, k), None),
    "info_nce": lambda x, y, k: (_info_nce_formula(x, y, k), None),
    "dice": lambda y, p, k: (_dice_formula(y, p, k), None),
    "jaccard": lambda y, p, k: (_jaccard_formula(y, p, k), None),
    "tversky": lambda y, p, k: (_tversky_formula(y, p, k), None),
    "focal_tversky": lambda y, p, k: (_tversky_formula(y, p, k) ** k.get("gamma", 0.75), None),
}



# ------------------------------------------------------------------------------ the table

@dataclass(frozen=True)
class NumpyFormula:
    """The independent formula of one loss, shaped like an :class:`losskit.equivalents.Entry`."""

    loss: str
    framework: str = "numpy"
    api: str = "float64 formula"
    relation: str = "equal"
    rtol: float = 1e-6
    atol: float = 1e-10
    differentiable: bool = False

    @property
    def id(self) -> str:
        return f"{self.loss}-numpy:{self.api}"

    @property
    def params(self) -> frozenset:
        return frozenset(p.name for p in lk.get(self.loss).params)

    @property
    def reductions(self) -> tuple:
        return lk.get(self.loss).reductions

    weighted = reductions

    def accepts(self, params: dict) -> bool:
        return set(params) <= self.params

    def scale(self, params: dict) -> float:
        return 1.0

    def compute(self, y_true, *predictions, params, reduction, sample_weight):
        values, norm = NUMPY_FORMULAS[self.loss](y_true, *predictions, params)
        return _reduce(values, reduction, sample_weight, norm, root=lk.get(self.loss).root)


# The entries claimed equal (or equal up to a documented factor); a "different" one (scikit-learn's
# Poisson deviance) is measured by the conformance table, not asserted.
FRAMEWORK_REFERENCES = [e for e in equivalents.entries() if e.fn is not None and e.relation in ("equal", "scaled")]
REFERENCES = [NumpyFormula(loss.name) for loss in lk.catalog() if loss.name in NUMPY_FORMULAS] + FRAMEWORK_REFERENCES


def _tensor(x):
    return torch.as_tensor(np.array(x))  # a writable copy: broadcast weights are read-only views


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


def test_every_scaled_reference_states_its_factor():
    assert [ref.id for ref in FRAMEWORK_REFERENCES if (ref.relation == "scaled") != (ref.factor is not None)] == []


def test_every_parameter_is_checked_against_some_framework():
    unchecked = [
        (loss.name, param.name) for loss in lk.catalog() for param in loss.params
        if not any(ref.loss == loss.name and param.name in ref.params for ref in FRAMEWORK_REFERENCES)
    ]
    # No framework has Barron's general loss at any alpha (kornia has four of them, compared in
    # tests/test_robust_and_deviance.py); its alpha and scale are checked against the NumPy formula.
    # PyTorch's F.linear_cross_entropy has no z-loss, and chunk_size changes no number: both are
    # checked against the dense composition in tests/test_linear_cross_entropy.py.
    assert unchecked == [("general_robust", "alpha"), ("general_robust", "scale"),
                         ("linear_cross_entropy", "z_loss"), ("linear_cross_entropy", "chunk_size")]


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
    expected = ref.scale(params) * ref.compute(*case.args, params=params, reduction=reduction,
                                               sample_weight=sample_weight)
    actual = loss(*case.args, **params, reduction=reduction, sample_weight=sample_weight)
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=ref.rtol, atol=ref.atol)


def _gradient_comparisons():
    # One shape: the gradient of each reduction is shape-independent code, like the values'.
    for ref in FRAMEWORK_REFERENCES:
        if not (ref.differentiable and ref.equal_gradient):
            continue
        loss = lk.get(ref.loss)
        shape = shapes(loss)[0]
        for params_id, params in param_cases(loss, shape):
            if not ref.accepts(params):
                continue
            for reduction in ("none", "sum", "mean"):
                if reduction in ref.reductions and reduction in loss.reductions:
                    yield pytest.param(ref, shape, params, reduction, False,
                                       id=f"{ref.id}-{shape}-{params_id}-{reduction}")
                if reduction in ref.weighted and reduction in loss.reductions:
                    yield pytest.param(ref, shape, params, reduction, True,
                                       id=f"{ref.id}-{shape}-{params_id}-{reduction}-weighted")


@pytest.mark.parametrize("ref, shape, params, reduction, weighted", list(_gradient_comparisons()))
def test_gradient_matches_framework_autodiff(ref, shape, params, reduction, weighted):
    loss = lk.get(ref.loss)
    case = make_case(loss, shape, params)
    sample_weight = case.sample_weight if weighted else None
    expected = ref.gradient(*case.args, params=params, reduction=reduction, sample_weight=sample_weight)
    actual = loss.grad(*case.args, **params, reduction=reduction, sample_weight=sample_weight)
    actual = actual if isinstance(actual, tuple) else (actual,)
    assert len(actual) == len(expected) == len(loss.inputs)
    for ours, theirs in zip(actual, expected):
        np.testing.assert_allclose(ours, ref.scale(params) * theirs, rtol=ref.rtol, atol=ref.atol)


def test_gaussian_nll_value_and_both_gradients_equal_torch_gaussian_nll_loss():
    y_true, mean = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 1.0])
    variance = np.array([1e-9, 0.5, 4.0])  # the first is floored at eps in both libraries
    mean_t, variance_t = _tensor(mean).requires_grad_(True), _tensor(variance).requires_grad_(True)
    expected = torch.nn.GaussianNLLLoss(full=True)(mean_t, _tensor(y_true), variance_t)
    expected.backward()
    value, (grad_mean, grad_variance) = lk.gaussian_nll.value_and_grad(y_true, mean, variance, full=True)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_mean, mean_t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_variance, variance_t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("ref", [ref for ref in REFERENCES if ref.loss in ("hinge", "squared_hinge", "modified_huber")
                                 and ref.framework != "numpy"], ids=lambda ref: ref.id)
def test_zero_one_labels_give_the_same_loss_as_signed_labels(ref):
    loss = lk.get(ref.loss)
    case = make_case(loss, (7,))
    zero_one = (case.y_true + 1.0) / 2.0
    expected = ref.compute(zero_one, case.y_pred, params={}, reduction="mean", sample_weight=None)
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
