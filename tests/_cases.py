"""Seeded, valid inputs for every loss of the catalog, shared by the test modules.

Each loss name maps to a generator that draws labels in the loss's label format and predictions
in its prediction space, kept away from the loss's kinks (so finite differences are valid) and
inside every framework's clipping range (probabilities in [0.02, 0.98], so Keras' 1e-7 clip never
bites). A loss added to the catalog without a generator here makes ``missing_generators()``
non-empty, which the tests assert against.

Stable API (other test modules import it):

``shapes(loss)``
    The prediction shapes every test should exercise for ``loss``.
``param_cases(loss, shape)``
    ``(id, params)`` pairs: the defaults plus the non-default parameter settings worth testing.
``make_case(loss, shape, params=None, seed=0)``
    A :class:`Case` of float64 NumPy arrays (integer labels for sparse losses).
``missing_generators()``
    Catalog names that have no generator (should be empty).

>>> import losskit as lk
>>> case = make_case(lk.huber, (4,), {"delta": 0.5})
>>> case.y_true.shape, case.y_pred.shape, case.sample_weight.shape
((4,), (4,), (4,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import losskit as lk

__all__ = [
    "Case",
    "GENERATORS",
    "IGNORE_INDEX",
    "KINKS",
    "make_case",
    "missing_generators",
    "param_cases",
    "shapes",
    "reduction_cases",
    "single_prediction",
    "softmax",
]

# Pointwise losses see a flat batch and a batch of rows; class-axis losses see a batch of rows and
# a batch of sequences (B, T, K), where the class axis is not axis 1 as PyTorch would have it.
POINTWISE_SHAPES = ((7,), (5, 3))
CLASS_AXIS_SHAPES = ((6, 4), (2, 3, 4))
# Overlap (segmentation) losses see (batch, spatial..., classes): 1-D and 2-D spatial masks.
OVERLAP_SHAPES = ((3, 5, 4), (2, 4, 4, 3))

# Residual magnitudes (and margins) where some loss of the catalog has a kink for a parameter
# value used in the tests: huber/smooth_l1/pseudo_huber thresholds, epsilon bands, hinge margins.
KINKS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
_KINK_MARGIN = 0.05

# The label value that marks a position to skip in the sparse losses' ignore_index cases
# (PyTorch's default ignore_index).
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Case:
    """One set of inputs: labels, predictions and a positive per-sample weight.

    ``sample_weight`` has the shape of the first axis of the unreduced loss, the shape every loss
    accepts (a prefix of the loss shape).
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    sample_weight: np.ndarray
    # The predictions after the first, for losses with several (gaussian_nll's variance).
    more_predictions: tuple = ()

    @property
    def args(self) -> tuple:
        """The positional arguments of the loss: the target (none for losses without one), then every prediction."""
        target = () if self.y_true is None else (self.y_true,)
        return (*target, self.y_pred, *self.more_predictions)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis, in float64."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _away_from_kinks(magnitude: np.ndarray) -> np.ndarray:
    """Push magnitudes that land within _KINK_MARGIN of a kink to the far side of the margin.

    Pushes only go up and KINKS is ascending, so a value pushed past one kink is then checked
    against the larger ones (0.02 goes to 0.1, a kink, and then on to 0.2).
    """
    out = magnitude.copy()
    for kink in KINKS:
        close = np.abs(out - kink) < _KINK_MARGIN
        out = np.where(close, kink + 2 * _KINK_MARGIN, out)
    return out


def _signed_residual(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    magnitude = _away_from_kinks(rng.uniform(0.05, 3.0, size=shape))
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0) * magnitude


# --------------------------------------------------------------------------------- generators
# Each takes (rng, shape, params) and returns (y_true, y_pred) for a prediction of ``shape``.

def _real(rng, shape, params):
    y_true = rng.normal(size=shape)
    return y_true, y_true + _signed_residual(rng, shape)


def _non_negative(rng, shape, params):
    return rng.uniform(0.0, 5.0, size=shape), rng.uniform(0.1, 5.0, size=shape)


def _away_from_zero(rng, shape, params):
    # Targets with |y| >= 0.5 keep MAPE's epsilon guard (and scikit-learn's) out of play.
    y_true = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * rng.uniform(0.5, 3.0, size=shape)
    return y_true, y_true + _signed_residual(rng, shape)


def _counts(rng, shape, params):
    return rng.poisson(2.0, size=shape).astype(np.float64), rng.uniform(0.2, 4.0, size=shape)


def _binary_labels(rng, shape):
    labels = (rng.random(shape) < 0.5).astype(np.float64)
    # Both classes present: scikit-learn's log_loss and hinge_loss need two labels.
    flat = labels.reshape(-1)
    flat[0], flat[-1] = 0.0, 1.0
    return labels


def _probabilities(rng, shape, params):
    return _binary_labels(rng, shape), rng.uniform(0.02, 0.98, size=shape)


def _binary_logits(rng, shape, params):
    return _binary_labels(rng, shape), 2.0 * rng.normal(size=shape)


def _margin_scores(rng, shape, params):
    # Margins y*f away from the hinge (1) and modified-Huber (-1) kinks.
    labels = 2.0 * _binary_labels(rng, shape) - 1.0
    margin = rng.uniform(-3.0, 3.0, size=shape)
    margin = np.sign(margin) * _away_from_kinks(np.abs(margin))
    return labels, labels * margin


def _one_hot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]


def _one_hot_probabilities(rng, shape, params):
    return _one_hot(rng, shape), softmax(rng.normal(size=shape))


def _one_hot_logits(rng, shape, params):
    return _one_hot(rng, shape), 2.0 * rng.normal(size=shape)


def _distribution_probabilities(rng, shape, params):
    return softmax(rng.normal(size=shape)), softmax(rng.normal(size=shape))


def _distribution_logits(rng, shape, params):
    return softmax(rng.normal(size=shape)), 2.0 * rng.normal(size=shape)


def _integer_labels(rng, shape, params):
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    if params.get("ignore_index") is not None:
        # Ignore a third of the positions, but never all of them (that case has its own test).
        flat = labels.reshape(-1)
        flat[1::3] = params["ignore_index"]
    return labels


def _integer_probabilities(rng, shape, params):
    return _integer_labels(rng, shape, params), softmax(rng.normal(size=shape))


def _integer_logits(rng, shape, params):
    return _integer_labels(rng, shape, params), 2.0 * rng.normal(size=shape)


def _categorical_scores(rng, shape, params):
    labels = _one_hot(rng, shape)
    scores = rng.normal(size=shape)
    # Keep the slack 1 + max_wrong - true away from 0, where the hinge has its kink; the largest
    # wrong score is unique with probability 1.
    slack = 1.0 + ((1.0 - labels) * scores).max(-1) - (labels * scores).sum(-1)
    shift = np.where(np.abs(slack) < 0.1, 0.3, 0.0)
    return labels, scores - labels * shift[..., None]


def _masks(rng, shape, params):
    """One-hot target masks (a class per pixel) and soft predicted masks, class axis last.

    The last class is absent from the first sample's target (an empty class that is still
    predicted a little), so the false-positive terms are exercised; predictions stay in
    [0.02, 0.98], away from the bounds that finite differences would cross.
    """
    y_true = _one_hot(rng, shape)
    if shape[0] > 1 and shape[-1] > 1:
        y_true[0, ..., -1] = 0.0
        y_true[0, ..., 0] = np.where(y_true[0].sum(-1) == 0, 1.0, y_true[0, ..., 0])
    y_pred = np.clip(softmax(rng.normal(size=shape)), 0.02, 0.98)
    return y_true, y_pred


def _positive(rng, shape, params):
    return rng.uniform(0.2, 5.0, size=shape), rng.uniform(0.2, 5.0, size=shape)


def _tweedie(rng, shape, params):
    # The domain depends on the power: exact zeros (the compound Poisson-gamma's data) below 2,
    # positive targets from 2 on, negative ones too for power <= 0; y_pred > 0 throughout.
    power = params.get("power", 1.5)
    y_true = rng.uniform(0.2, 5.0, size=shape)
    if power < 2.0:
        y_true = np.where(rng.random(shape) < 0.3, 0.0, y_true)
    if power <= 0.0:
        y_true = y_true - 2.0
    return y_true, rng.uniform(0.2, 5.0, size=shape)


def linear_vocab(shape: tuple) -> int:
    """The vocabulary size of linear_cross_entropy's weight (V, D) for hidden states of ``shape`` (..., D)."""
    return shape[-1] + 3


def _linear_head(rng, shape, params):
    # hidden (..., D) and weight (V, D); labels of hidden.shape[:-1] in [0, V).
    vocab = linear_vocab(shape)
    labels = _integer_labels(rng, tuple(shape[:-1]) + (vocab,), params)
    return labels, rng.normal(size=shape), 0.7 * rng.normal(size=(vocab, shape[-1]))


def _gaussian(rng, shape, params):
    y_true = rng.normal(size=shape)
    # Variances above every eps the tests use, so the clamp (whose gradient is PyTorch's
    # pass-through, not a derivative) stays out of finite-difference checks.
    return y_true, y_true + _signed_residual(rng, shape), rng.uniform(0.2, 3.0, size=shape)


# Embeddings: rows of shape (..., D), kept away from the hinges' kinks (slack within 0.1 of 0).

def _unit_rows(rng, shape):
    return rng.normal(size=shape)


def _cosine_rows(a, b):
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def _embedding_pairs(rng, shape, params):
    y_true = _unit_rows(rng, shape)
    return y_true, y_true + rng.normal(size=shape)


def _cosine_embedding_pairs(rng, shape, params):
    labels = np.where(rng.random(shape[:-1]) < 0.5, -1.0, 1.0)
    flat = labels.reshape(-1)
    flat[0], flat[-1] = -1.0, 1.0
    x1, x2 = _unit_rows(rng, shape), _unit_rows(rng, shape)
    margin = params.get("margin", 0.0)
    for _ in range(100):  # redraw the dissimilar pairs whose cosine sits at the margin's kink
        close = (labels < 0) & (np.abs(_cosine_rows(x1, x2) - margin) < 0.1)
        if not close.any():
            break
        x2[close] = rng.normal(size=x2[close].shape)
    return labels, x1, x2


def _ranking_pairs(rng, shape, params):
    labels = 2.0 * _binary_labels(rng, shape) - 1.0
    x1 = rng.normal(size=shape)
    slack = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * rng.uniform(0.1, 2.0, size=shape)
    # slack = margin - y (x1 - x2), away from the hinge's kink at 0.
    return labels, x1, x1 - labels * (params.get("margin", 0.0) - slack)


def _triplets(rng, shape, params):
    anchor, positive, negative = (rng.normal(size=shape) for _ in range(3))
    p, eps, margin = params.get("p", 2.0), params.get("eps", 1e-6), params.get("margin", 1.0)

    def distance(a, b):
        return np.sum(np.abs(a - b + eps) ** p, axis=-1) ** (1.0 / p)

    for _ in range(100):  # redraw the triplets at the hinge's kink, or at swap's tie
        d_neg, d_swap = distance(anchor, negative), distance(positive, negative)
        closest = np.minimum(d_neg, d_swap) if params.get("swap") else d_neg
        close = (np.abs(margin + distance(anchor, positive) - closest) < 0.1) | (np.abs(d_neg - d_swap) < 0.05)
        if not close.any():
            break
        negative[close] = rng.normal(size=negative[close].shape)
    return None, anchor, positive, negative


def _contrastive_pairs(rng, shape, params):
    x = rng.normal(size=shape)
    return None, x, x + rng.normal(size=shape)


Generator = Callable[[np.random.Generator, tuple, dict], tuple]

GENERATORS: dict[str, Generator] = {
    "mean_squared_error": _real,
    "half_squared_error": _real,
    "mean_absolute_error": _real,
    "root_mean_squared_error": _real,
    "mean_squared_logarithmic_error": _non_negative,
    "root_mean_squared_logarithmic_error": _non_negative,
    "mean_absolute_percentage_error": _away_from_zero,
    "huber": _real,
    "smooth_l1": _real,
    "pseudo_huber": _real,
    "log_cosh": _real,
    "quantile": _real,
    "epsilon_insensitive": _real,
    "poisson": _counts,
    "gamma_deviance": _positive,
    "tweedie_deviance": _tweedie,
    "general_robust": _real,
    "cauchy": _real,
    "geman_mcclure": _real,
    "welsch": _real,
    "binary_cross_entropy": _probabilities,
    "sigmoid_cross_entropy": _binary_logits,
    "sigmoid_focal": _binary_logits,
    "hinge": _margin_scores,
    "squared_hinge": _margin_scores,
    "modified_huber": _margin_scores,
    "logistic": _margin_scores,
    "categorical_cross_entropy": _one_hot_probabilities,
    "softmax_cross_entropy": _one_hot_logits,
    "sparse_categorical_cross_entropy": _integer_probabilities,
    "sparse_softmax_cross_entropy": _integer_logits,
    "softmax_focal": _one_hot_logits,
    "sparse_softmax_focal": _integer_logits,
    "poly1_cross_entropy": _one_hot_logits,
    "sparse_poly1_cross_entropy": _integer_logits,
    "kl_divergence": _distribution_probabilities,
    "kl_divergence_with_logits": _distribution_logits,
    "categorical_hinge": _categorical_scores,
    "gaussian_nll": _gaussian,
    "linear_cross_entropy": _linear_head,
    "dice": _masks,
    "jaccard": _masks,
    "tversky": _masks,
    "focal_tversky": _masks,
    "jensen_shannon": _distribution_probabilities,
    "cosine_distance": _embedding_pairs,
    "cosine_embedding": _cosine_embedding_pairs,
    "margin_ranking": _ranking_pairs,
    "triplet_margin": _triplets,
    "info_nce": _contrastive_pairs,
}


def missing_generators() -> list[str]:
    """Names of catalog losses that have no input generator."""
    return [loss.name for loss in lk.catalog() if loss.name not in GENERATORS]


def shapes(loss: lk.Loss) -> tuple[tuple[int, ...], ...]:
    """The prediction shapes to test ``loss`` with."""
    if lk.get(loss).name == "info_nce":  # paired rows (N, D) only
        return CLASS_AXIS_SHAPES[:1]
    kind = lk.get(loss).kind
    if kind == "overlap":
        return OVERLAP_SHAPES
    return POINTWISE_SHAPES if kind == "pointwise" else CLASS_AXIS_SHAPES


# --------------------------------------------------------------------------------- parameters

def _class_weight(num_classes: int) -> np.ndarray:
    return np.linspace(0.5, 2.0, num_classes)


def _param_settings(loss: lk.Loss, shape: tuple) -> list[tuple[str, dict]]:
    names = {p.name for p in loss.params}
    columns = shape[-1] if len(shape) > 1 else 1
    settings: list[tuple[str, dict]] = []
    for threshold in ("delta", "beta"):
        if threshold in names:
            settings += [(f"{threshold}=0.5", {threshold: 0.5}), (f"{threshold}=2", {threshold: 2.0})]
    if "q" in names:
        settings += [("q=0.1", {"q": 0.1}), ("q=0.9", {"q": 0.9})]
    if "epsilon" in names:
        settings += [("epsilon=0.5", {"epsilon": 0.5})]
    if "eps" in names:
        settings += [("eps=0.1", {"eps": 0.1})]
    if "full" in names:
        settings += [("full", {"full": True})]
    if loss.name == "tweedie_deviance":  # every class of power: normal, Poisson, compound, gamma, beyond, below 0
        settings += [(f"power={p:g}", {"power": p}) for p in (0.0, 1.0, 1.2, 2.0, 3.0, -1.0)]
    if loss.name == "general_robust":  # the limits, the named members and values between them
        settings += [(f"alpha={a:g}", {"alpha": a}) for a in (2.0, 0.0, -2.0, -math.inf, 0.5, 3.0)]
        settings += [("alpha=-1,scale=0.5", {"alpha": -1.0, "scale": 0.5})]
    if loss.name in ("cauchy", "geman_mcclure", "welsch"):
        settings += [("scale=0.5", {"scale": 0.5}), ("scale=2", {"scale": 2.0})]
    if "margin" in names:
        settings += [("margin=0.5", {"margin": 0.5})]
    if "p" in names:
        settings += [("p=1", {"p": 1.0}), ("p=3", {"p": 3.0})]
    if "swap" in names:
        settings += [("swap", {"swap": True})]
    if "temperature" in names:
        settings += [("temperature=0.5", {"temperature": 0.5})]
    if "symmetric" in names:
        settings += [("one-directional", {"symmetric": False})]
    if "pos_weight" in names:
        settings += [("pos_weight=2.5", {"pos_weight": 2.5})]
        if len(shape) > 1:
            settings += [("pos_weight=columns", {"pos_weight": np.linspace(0.5, 3.0, columns)})]
    if "label_smoothing" in names:
        settings += [("label_smoothing=0.2", {"label_smoothing": 0.2})]
    if "class_weight" in names:
        settings += [("class_weight", {"class_weight": _class_weight(shape[-1])})]
    if "ignore_index" in names:
        settings += [("ignore_index", {"ignore_index": IGNORE_INDEX})]
    if "class_weight" in names and "ignore_index" in names:
        settings += [("class_weight+ignore_index",
                      {"class_weight": _class_weight(shape[-1]), "ignore_index": IGNORE_INDEX})]
    if "class_weight" in names and "label_smoothing" in names:
        settings += [("class_weight+label_smoothing",
                      {"class_weight": _class_weight(shape[-1]), "label_smoothing": 0.1})]
    if "pos_weight" in names and "label_smoothing" in names:
        settings += [("pos_weight+label_smoothing", {"pos_weight": 2.5, "label_smoothing": 0.1})]
    if loss.name in ("sigmoid_focal", "softmax_focal", "sparse_softmax_focal"):
        # gamma = 0 (the cross-entropy), below 1 (where (1 - p)^gamma has an infinite slope at p = 1), large.
        settings += [("gamma=0", {"gamma": 0.0}), ("gamma=0.5", {"gamma": 0.5}), ("gamma=5", {"gamma": 5.0})]
        if "alpha" in names:
            settings += [("alpha=0.25", {"alpha": 0.25}), ("alpha=0.75,gamma=0.5", {"alpha": 0.75, "gamma": 0.5})]
        if "class_weight" in names:
            settings += [("class_weight+gamma=0.5", {"class_weight": _class_weight(shape[-1]), "gamma": 0.5})]
    if loss.name in ("poly1_cross_entropy", "sparse_poly1_cross_entropy"):
        settings += [("epsilon=-1", {"epsilon": -1.0}), ("epsilon=0", {"epsilon": 0.0})]
        if "ignore_index" in names:
            settings += [("epsilon=-1+ignore_index", {"epsilon": -1.0, "ignore_index": IGNORE_INDEX})]
    if "z_loss" in names:
        settings += [("z_loss=0.01", {"z_loss": 0.01})]
        if "class_weight" in names:
            settings += [("z_loss+class_weight", {"z_loss": 0.5, "class_weight": _class_weight(shape[-1])})]
        if "ignore_index" in names:
            settings += [("z_loss+ignore_index", {"z_loss": 0.5, "ignore_index": IGNORE_INDEX})]
        if "label_smoothing" in names:
            settings += [("z_loss+label_smoothing", {"z_loss": 0.1, "label_smoothing": 0.2})]
    if loss.kind == "overlap":
        settings += [("smooth=0.1", {"smooth": 0.1}), ("batch", {"batch": True})]
        if "squared" in names:
            settings += [("squared", {"squared": True}), ("squared+batch", {"squared": True, "batch": True})]
        if "alpha" in names:
            settings += [("alpha=0.3,beta=0.7", {"alpha": 0.3, "beta": 0.7})]
        if "gamma" in names:
            settings += [("gamma=0.5", {"gamma": 0.5}), ("gamma=2", {"gamma": 2.0})]
    if loss.name == "linear_cross_entropy":
        # Its classes are the rows of weight (V, D), not the last axis of hidden; a bias would add a
        # third gradient (tests/test_linear_cross_entropy.py covers it and every combination).
        vocab = linear_vocab(shape)
        settings = [(i, {k: (_class_weight(vocab) if k == "class_weight" else v) for k, v in p.items()})
                    for i, p in settings]
        settings += [("chunk_size=2", {"chunk_size": 2}), ("chunk_size=4+ignore_index",
                                                             {"chunk_size": 4, "ignore_index": IGNORE_INDEX})]
    return settings


def param_cases(loss: lk.Loss, shape: tuple) -> list[tuple[str, dict[str, Any]]]:
    """``(id, params)`` pairs to test ``loss`` with at ``shape``: the defaults first.

    Array parameters (pos_weight per column, class_weight per class) are sized for ``shape``.
    Every parameter of the loss appears in at least one non-default setting; a new parameter
    without a setting here fails ``test_every_parameter_of_every_loss_has_a_gradient_case``.
    """
    loss = lk.get(loss)
    return [("defaults", {})] + _param_settings(loss, shape)


def make_case(loss: lk.Loss | str, shape: tuple, params: dict | None = None, seed: int = 0) -> Case:
    """Seeded float64 inputs for ``loss`` with predictions of ``shape``.

    ``params`` only matters for the sparse losses' ``ignore_index``: some labels are then set
    to it. The sample weight is positive and has shape ``shape[:1]`` (for an overlap loss with
    ``batch=True``, whose terms are the classes, ``shape[-1:]``).
    """
    loss = lk.get(loss)
    rng = np.random.default_rng(seed)
    y_true, y_pred, *more = GENERATORS[loss.name](rng, tuple(shape), dict(params or {}))
    pooled = loss.kind == "overlap" and bool((params or {}).get("batch"))
    sample_weight = rng.uniform(0.5, 2.0, size=tuple(shape[-1:] if pooled else shape[:1]))
    more = tuple(np.asarray(p, dtype=np.float64) for p in more)
    y_true = None if y_true is None else np.asarray(y_true)  # None: a loss without a target
    return Case(y_true, np.asarray(y_pred, dtype=np.float64), sample_weight, more)


def reduction_cases(losses) -> list:
    """``pytest.param(loss, shape, params, reduction, weighted)`` for every shape, parameter
    setting, reduction and weighting of each loss: the grid the gradient and Hessian tests run."""
    import pytest

    cases = []
    for loss in losses:
        for shape in shapes(loss):
            for params_id, params in param_cases(loss, shape):
                for reduction in loss.reductions:
                    for weighted in (False, True):
                        case_id = f"{loss.name}-{shape}-{params_id}-{reduction}" + ("-weighted" if weighted else "")
                        cases.append(pytest.param(loss, shape, params, reduction, weighted, id=case_id))
    return cases


def single_prediction(losses: list) -> list:
    """The losses of ``losses`` called as ``loss(y_true, y_pred)`` (one prediction input)."""
    return [loss for loss in losses if len(loss.inputs) == 1 and loss.has_target]
