"""Multiclass losses over a class axis, which is always the last axis: shape (..., num_classes).

"Dense" losses take one-hot or soft labels of the prediction's shape; "sparse" ones take integer
labels of the prediction's shape without the class axis. A sparse loss computes what its dense
twin computes on one-hot labels (the tests hold them to it, weights included), without building
the one-hot array.
"""

from __future__ import annotations

import math


from . import _validation as V
from ._array import (
    GRAD_DENOMINATOR_FLOOR, as_array, clamped_log, device_of, is_floating, log_softmax, namespace_of,
)
from ._kernels import GRAD_FLOOR_PITFALL, floored, keep_nan
from ._loss import PROBABILITY, Equivalent, KernelResult, Loss, Param, check_class_weight
from ._registry import register

__all__ = [
    "categorical_cross_entropy",
    "softmax_cross_entropy",
    "sparse_categorical_cross_entropy",
    "sparse_softmax_cross_entropy",
    "kl_divergence",
    "kl_divergence_with_logits",
    "categorical_hinge",
    "softmax_focal",
    "sparse_softmax_focal",
    "poly1_cross_entropy",
    "sparse_poly1_cross_entropy",
]

_SMOOTHING = Param(
    "label_smoothing", 0.0, "0 <= label_smoothing <= 1",
    "Mixes the labels with the uniform distribution: y * (1 - label_smoothing) + label_smoothing / num_classes.",
    V.closed_unit_interval,
)
_CLASS_WEIGHT = Param(
    "class_weight", None, "None or one non-negative weight per class, shape (num_classes,)",
    "Scales each class's term; 'mean' then divides by the summed weights of the labels (PyTorch's weighted mean).",
    is_array=True,
)
_Z_LOSS = Param(
    "z_loss", 0.0, "finite z_loss >= 0",
    "Adds z_loss * logsumexp(logits)^2 per sample (PaLM's z-loss), which keeps the softmax normaliser near 1; "
    "it is not scaled by class_weight, and ignored positions get none.",
    V.non_negative,
)
_IGNORE_INDEX = Param(
    "ignore_index", None, "None or an integer label value",
    "Positions with this label get loss 0 and are left out of the mean; if all are ignored the mean is 0.",
    V.optional_int,
)


# ------------------------------------------------------------------------------------ kernels

def _cross_entropy(xp, targets, log_probs, *, label_smoothing, class_weight):
    """-sum_c w_c t'_c log p_c and its normaliser sum_c w_c t_c (t' = smoothed targets)."""
    smoothed = targets
    if label_smoothing:
        smoothed = targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[-1]
    weighted = smoothed if class_weight is None else smoothed * class_weight
    # A class with zero target weight contributes nothing, even when its log-probability is -inf
    # (a masked logit): 0 * -inf would be NaN, so the -inf is replaced before the product. A NaN
    # log-probability is kept even there: a row with a NaN probability is invalid, its loss NaN.
    loss = -xp.sum(weighted * xp.where((weighted > 0) | xp.isnan(log_probs), log_probs, 0.0), axis=-1)
    norm = None if class_weight is None else xp.sum(targets * class_weight, axis=-1)
    return loss, weighted, norm


def _overflow_safe_loss(xp, loss, weighted, logits, log_probs, offset=0.0):
    """Recompute ``-sum_c a_c log softmax(x)_c`` for the rows where ``x_c - max(x)`` overflowed.

    Logits of +-3e38 in float32 give x_c - max(x) = -inf, so the term a_c * inf is inf although
    a_c (max(x) - x_c) may be representable (a soft label of 0.5: 3e38). There the row's terms
    are summed as a_c max(x) - a_c x_c + a_c log sum exp(x - max), each product finite; elsewhere
    (every ordinary row) the usual shifted form stays, which does not cancel. ``offset`` is added
    to the recomputed rows only (KL's sum t log t).
    """
    overflowed = (log_probs == -math.inf) & xp.isfinite(logits) & (weighted > 0)
    row = xp.any(overflowed, axis=-1)
    shift = xp.max(logits, axis=-1, keepdims=True)
    log_norm = -xp.max(log_probs, axis=-1, keepdims=True)  # log sum exp(x - max): -log p at the max
    safe_shift = xp.where(xp.isfinite(shift), shift, 0.0)
    terms = weighted * safe_shift - weighted * xp.where(xp.isfinite(logits), logits, 0.0) + weighted * log_norm
    alternative = xp.sum(xp.where(weighted == 0, 0.0, terms), axis=-1)  # == 0: a NaN weight stays NaN
    return xp.where(row, offset + alternative, loss)


def _softmax_cross_entropy(xp, y_true, logits, *, label_smoothing, class_weight, z_loss=0.0, with_grad,
                           with_hess=False):
    log_probs = log_softmax(xp, logits)
    loss, weighted, norm = _cross_entropy(
        xp, y_true, log_probs, label_smoothing=label_smoothing, class_weight=class_weight
    )
    loss = _overflow_safe_loss(xp, loss, weighted, logits, log_probs)
    lse = None
    if z_loss:
        # PaLM's z-loss, z * logsumexp(x)^2 per row; logsumexp is shifted by the row's maximum.
        lse = _logsumexp(xp, logits)
        loss = loss + z_loss * (lse * lse)
    grad = hess = None
    if with_grad:
        # d/dx of -sum_c a_c log softmax(x)_c is softmax(x) * sum_c a_c - a.
        probabilities = xp.exp(log_probs)
        total = xp.sum(weighted, axis=-1, keepdims=True)
        grad = probabilities * total - weighted
        if with_hess:
            hess = _softmax_hessian_diagonal(probabilities, total)
        if lse is not None:
            grad, hess = _add_z_loss_derivatives(probabilities, lse[..., None], z_loss, grad, hess)
    return KernelResult(loss, grad, norm, hess)


def _logsumexp(xp, logits):
    """log sum_c exp(x_c) over the last axis, shifted as _array.log_softmax shifts (+inf rows NaN)."""
    shift = xp.max(logits, axis=-1, keepdims=True)
    shift = xp.where(shift == -math.inf, 0.0, shift)
    return (shift + xp.log(xp.sum(xp.exp(logits - shift), axis=-1, keepdims=True)))[..., 0]


def _add_z_loss_derivatives(probabilities, lse, z_loss, grad, hess):
    """Add the derivatives of z_loss * lse^2 (lse with a trailing axis): 2 z lse p, and 2 z p (p + lse (1 - p))."""
    # d lse / dx_c = p_c and d p_c / dx_c = p_c (1 - p_c).
    grad = grad + (2.0 * z_loss) * lse * probabilities
    if hess is not None:
        hess = hess + (2.0 * z_loss) * probabilities * (probabilities + lse * (1.0 - probabilities))
    return grad, hess


def _softmax_hessian_diagonal(probabilities, total):
    """The diagonal of total * (diag(p) - p p^T), the Hessian in the logits of one row.

    Only the diagonal is returned, as scikit-learn's HalfMultinomialLoss.gradient_hessian does:
    the off-diagonal terms -total p_c p_k couple the classes of a row and are what a full
    Newton step would need.
    """
    return total * probabilities * (1.0 - probabilities)


def _floored_inverse_square(xp, numerator, y_pred, safe, floor=GRAD_DENOMINATOR_FLOOR):
    """numerator / p^2 where p is above the gradient's floor, else 0.

    The derivative of the floored gradient -numerator / max(p, floor): where the floor holds
    it constant (a probability of 0) its derivative is 0, so the Hessian stays finite there.
    """
    return xp.where(y_pred > floor, numerator / (safe * safe), 0.0)


@floored
def _categorical_cross_entropy(xp, y_true, y_pred, *, label_smoothing, class_weight, with_grad, with_hess=False,
        floor=GRAD_DENOMINATOR_FLOOR):
    loss, weighted, norm = _cross_entropy(
        xp, y_true, clamped_log(xp, y_pred), label_smoothing=label_smoothing, class_weight=class_weight
    )
    if not with_grad:
        return KernelResult(loss, None, norm)
    safe = xp.clip(y_pred, min=floor)
    hess = _floored_inverse_square(xp, weighted, y_pred, safe, floor) if with_hess else None
    return KernelResult(loss, -weighted / safe, norm, hess)


# Sparse kernels never build one-hot labels: at a language model's 32k classes a float one-hot
# is as large as the logits. They gather the labelled entry instead, and compare against the
# class index only where the gradient needs it.

def _take_last(xp, x, labels):
    """x[..., labels] elementwise: the entry of each row's label on the last axis."""
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]
    return xp.sum(xp.where(_is_label(xp, labels, x.shape[-1]), x, 0.0), axis=-1)


def _is_label(xp, labels, num_classes):
    classes = xp.arange(num_classes, device=device_of(labels))
    return labels[..., None] == classes


def _label_weights(xp, labels, class_weight):
    """class_weight[labels] for labels of any shape (take() wants 1-D indices)."""
    flat = xp.take(class_weight, xp.reshape(labels, (-1,)), axis=0)
    return xp.reshape(flat, tuple(labels.shape))


def _sparse(kernel):
    """Add ignore_index to a sparse kernel: ignored positions get loss 0, gradient 0, Hessian 0, norm 0.

    The loss's other parameters pass through to ``kernel`` unchanged.
    """

    def masked(xp, y_true, y_pred, *, ignore_index, with_grad, with_hess=False, **params):
        if ignore_index is None:
            return kernel(xp, y_true, y_pred, with_grad=with_grad, with_hess=with_hess, **params)
        keep = y_true != ignore_index
        labels = xp.where(keep, y_true, xp.zeros_like(y_true))  # any valid index; masked below
        result = kernel(xp, labels, y_pred, with_grad=with_grad, with_hess=with_hess, **params)
        norm = xp.astype(keep, y_pred.dtype) if result.norm is None else xp.where(keep, result.norm, 0.0)
        grad = None if result.grad is None else xp.where(keep[..., None], result.grad, 0.0)
        hess = None if result.hess is None else xp.where(keep[..., None], result.hess, 0.0)
        return KernelResult(xp.where(keep, result.loss, 0.0), grad, norm, hess)

    if getattr(kernel, "losskit_floored", False):  # floor= passes through **params
        masked.losskit_floored = True
    return masked


def _overflow_safe_uniform_part(xp, uniform_part, logits, shift, shifted, log_norm, scale, class_weight, weights_total):
    """Label smoothing's ``scale * sum_c w_c (-log softmax(x)_c)``, recomputed for the rows where
    ``x_c - max(x)`` overflowed (logits of +-3e38 in float32) as ``scale w_c max(x) - scale w_c
    x_c``: each product finite where the sum is representable. Ordinary rows keep the shifted form.
    """
    finite = xp.isfinite(logits)
    row = xp.any((shifted == -math.inf) & finite, axis=-1)
    w = 1.0 if class_weight is None else class_weight
    # A masked (-inf) logit keeps its infinite term, as in the shifted form.
    terms = xp.where(finite, (scale * w) * shift - (scale * w) * xp.where(finite, logits, 0.0), -(scale * w) * shifted)
    alternative = scale * log_norm * weights_total + xp.sum(terms, axis=-1)
    return xp.where(row, alternative, uniform_part)


def _sparse_softmax_kernel(xp, labels, logits, *, label_smoothing, class_weight, z_loss=0.0, with_grad,
                           with_hess=False):
    num_classes = logits.shape[-1]
    shift = xp.max(logits, axis=-1, keepdims=True)
    shift = xp.where(shift == -math.inf, 0.0, shift)  # as _array.log_softmax: +inf rows are NaN
    shifted = logits - shift
    exp_shifted = xp.exp(shifted)
    sum_exp = xp.sum(exp_shifted, axis=-1, keepdims=True)
    log_norm = xp.log(sum_exp)[..., 0]
    label_weight = 1.0 if class_weight is None else _label_weights(xp, labels, class_weight)
    nll = log_norm - _take_last(xp, shifted, labels)  # -log softmax(x)[y]
    loss = (1.0 - label_smoothing) * label_weight * nll
    if label_smoothing:
        # The uniform part: (ls / K) * sum_c w_c * (-log softmax(x)_c).
        weights_total = float(num_classes) if class_weight is None else xp.sum(class_weight)
        weighted_logits = xp.sum(shifted if class_weight is None else shifted * class_weight, axis=-1)
        uniform_part = (label_smoothing / num_classes) * (log_norm * weights_total - weighted_logits)
        loss = loss + _overflow_safe_uniform_part(xp, uniform_part, logits, shift, shifted, log_norm,
                                                  label_smoothing / num_classes, class_weight, weights_total)
    lse = None
    if z_loss:
        lse = shift[..., 0] + log_norm
        loss = loss + z_loss * (lse * lse)
    norm = None if class_weight is None else label_weight
    if not with_grad:
        return KernelResult(loss, None, norm)
    # d/dx of -sum_c a_c log softmax(x)_c is softmax(x) * sum_c a_c - a, with
    # a = (1 - ls) w_y onehot(y) + (ls / K) w.
    uniform = (label_smoothing / num_classes) * (1.0 if class_weight is None else class_weight)
    picked = (1.0 - label_smoothing) * label_weight
    total = picked + (label_smoothing / num_classes) * (float(num_classes) if class_weight is None else xp.sum(class_weight))
    probabilities = exp_shifted / sum_exp
    grad = probabilities * _expand(xp, total) - uniform
    # A mask times the value, not where(mask, value, 0.0): torch.where of two Python floats is
    # float32, which would cap a float64 gradient at float32 precision.
    grad = grad - xp.astype(_is_label(xp, labels, num_classes), logits.dtype) * _expand(xp, picked)
    hess = _softmax_hessian_diagonal(probabilities, _expand(xp, total)) if with_hess else None
    if lse is not None:
        grad, hess = _add_z_loss_derivatives(probabilities, lse[..., None], z_loss, grad, hess)
    return KernelResult(loss, grad, norm, hess)


@floored
def _sparse_categorical_kernel(xp, labels, y_pred, *, label_smoothing, class_weight, with_grad, with_hess=False,
        floor=GRAD_DENOMINATOR_FLOOR):
    num_classes = y_pred.shape[-1]
    label_weight = 1.0 if class_weight is None else _label_weights(xp, labels, class_weight)
    picked_probability = _take_last(xp, y_pred, labels)
    loss = -(1.0 - label_smoothing) * label_weight * clamped_log(xp, picked_probability)
    # Only the label's probability enters the loss, but a NaN in any class makes the row invalid:
    # 0 * sum(p) is 0 for a valid row and NaN for one holding a NaN.
    loss = loss + 0.0 * xp.sum(y_pred, axis=-1)
    if label_smoothing:
        log_probs = clamped_log(xp, y_pred)
        weighted = log_probs if class_weight is None else log_probs * class_weight
        loss = loss - (label_smoothing / num_classes) * xp.sum(weighted, axis=-1)
    norm = None if class_weight is None else label_weight
    if not with_grad:
        return KernelResult(loss, None, norm)
    safe = xp.clip(y_pred, min=floor)
    picked = (1.0 - label_smoothing) * label_weight
    grad = -(xp.astype(_is_label(xp, labels, num_classes), y_pred.dtype) * _expand(xp, picked)) / safe
    if label_smoothing:
        grad = grad - (label_smoothing / num_classes) * (1.0 if class_weight is None else class_weight) / safe
    hess = None
    if with_hess:
        # The gradient is -a / max(p, floor) with a = (1 - ls) w_y onehot(y) + (ls / K) w.
        weights = xp.astype(_is_label(xp, labels, num_classes), y_pred.dtype) * _expand(xp, picked)
        if label_smoothing:
            weights = weights + (label_smoothing / num_classes) * (1.0 if class_weight is None else class_weight)
        hess = _floored_inverse_square(xp, weights, y_pred, safe, floor)
    return KernelResult(loss, grad, norm, hess)


def _expand(xp, value):
    """Give a per-sample value a trailing class axis (Python floats pass through)."""
    return value if isinstance(value, float) else value[..., None]


@floored
def _kl_divergence(xp, y_true, y_pred, *, with_grad, with_hess=False,
        floor=GRAD_DENOMINATOR_FLOOR):
    # Terms with a zero target are 0 by the limit t log t -> 0 (and carry no gradient).
    # Tested as t == 0 (not t > 0) so that a NaN target keeps its NaN term, and a negative one
    # (refused by the value checks) gives log t = NaN, as on every other path.
    safe_true = xp.where(y_true == 0, 1.0, y_true)
    terms = xp.where(y_true == 0, 0.0, y_true * (xp.log(safe_true) - clamped_log(xp, y_pred)))
    if not with_grad:
        return KernelResult(xp.sum(terms, axis=-1))
    safe = xp.clip(y_pred, min=floor)
    hess = _floored_inverse_square(xp, y_true, y_pred, safe, floor) if with_hess else None
    return KernelResult(xp.sum(terms, axis=-1), -y_true / safe, hess=hess)


def _kl_divergence_with_logits(xp, y_true, logits, *, with_grad, with_hess=False):
    log_probs = log_softmax(xp, logits)
    positive = y_true > 0
    safe_true = xp.where(positive, y_true, 1.0)
    # A zero target meets a masked (-inf) logit: replace the term before the product, not after.
    terms = y_true * xp.where(positive, xp.log(safe_true) - log_probs, 0.0)
    # KL = sum t log t + cross-entropy: the cross-entropy is recomputed where x - max overflowed.
    entropy_part = xp.sum(y_true * xp.where(positive, xp.log(safe_true), 0.0), axis=-1)
    loss = _overflow_safe_loss(xp, xp.sum(terms, axis=-1), y_true, logits, log_probs, entropy_part)
    grad = hess = None
    if with_grad:
        probabilities = xp.exp(log_probs)
        total = xp.sum(y_true, axis=-1, keepdims=True)
        grad = probabilities * total - y_true
        if with_hess:
            hess = _softmax_hessian_diagonal(probabilities, total)
    return KernelResult(loss, grad, hess=hess)


def _categorical_hinge(xp, y_true, y_pred, *, with_grad, with_hess=False):
    positive_score = xp.sum(y_true * y_pred, axis=-1)
    other_scores = (1.0 - y_true) * y_pred
    negative_score = xp.max(other_scores, axis=-1)
    slack = negative_score - positive_score + 1.0
    loss = xp.clip(slack, min=0.0)
    if not with_grad:
        return KernelResult(loss)
    # Ties for the largest wrong score share the subgradient equally (as amax's backward does).
    is_max = xp.astype(other_scores == negative_score[..., None], y_pred.dtype)
    share = is_max / xp.sum(is_max, axis=-1, keepdims=True)
    active = xp.astype(slack > 0, y_pred.dtype)[..., None]
    # Piecewise linear in the scores: 0 everywhere, at the kinks (zero slack, tied wrong scores)
    # by the subgradient convention.
    hess = xp.zeros_like(y_pred) if with_hess else None
    # keep_nan: slack > 0 is False for a NaN score, which must leave the row's gradient NaN.
    grad = keep_nan(xp, active * (share * (1.0 - y_true) - y_true), slack[..., None])
    return KernelResult(loss, grad, hess=hess)


# Focal and poly-1 losses weigh each class's log-probability by its complement 1 - p_c, which
# 1 - softmax(x)_c computes badly exactly where it matters: for the confident class it cancels to
# 0, and a power gamma < 1 of that 0 has an infinite derivative. _complement_terms forms it in log
# space instead, from the sum s of the other classes' exps relative to the row's largest logit.

def _complement_terms(xp, logits):
    """``(log p, p, log(1 - p), u)`` per class, exact at any logit, with u = -p log p / (1 - p).

    For the row's (first) largest logit m, p_m = 1 / (1 + s) with s = sum_{c != m} e^{x_c - x_m}:
    -log p_m = log1p(s) and 1 - p_m = s / (1 + s) keep every digit of a tiny s, and u_m =
    log1p(s) / s -> 1 as s -> 0. Every other class has p_c <= 1/2, where log1p(-p_c) is exact;
    its u_c -> 0 as p_c -> 0 (a masked -inf logit). u is the factor of gamma in the focal
    gradient, (1 - p)^(gamma - 1) p (-log p) = (1 - p)^gamma u, so no negative power is formed.
    A row with a +inf logit or only -inf logits is NaN, as in log_softmax.
    """
    num_classes = logits.shape[-1]
    shift = xp.max(logits, axis=-1, keepdims=True)
    shift = xp.where(shift == -math.inf, 0.0, shift)
    shifted = logits - shift
    classes = xp.arange(num_classes, device=device_of(logits))
    is_top = classes == xp.argmax(logits, axis=-1)[..., None]
    exps = xp.exp(shifted)
    others = xp.sum(xp.where(is_top, 0.0, exps), axis=-1, keepdims=True)
    # The top class's shifted logit: 0, or NaN (a +inf logit) or -inf (a row of -inf only).
    top = xp.sum(xp.where(is_top, shifted, 0.0), axis=-1, keepdims=True)
    log_probs = shifted - (top + xp.log1p(others))
    probabilities = xp.exp(log_probs)
    rest = xp.where(is_top, 0.0, probabilities)  # the other classes' p <= 1/2
    has_others = others > 0
    safe_others = xp.where(has_others, others, 1.0)
    log_top_complement = xp.where(has_others, xp.log(safe_others), -math.inf) - xp.log1p(others)
    log_complement = xp.where(is_top, log_top_complement, xp.log1p(-rest))
    top_u = xp.where(has_others, xp.log1p(others) / safe_others, 1.0)
    rest_positive = rest > 0
    rest_u = rest * xp.where(rest_positive, -log_probs, 0.0) / (1.0 - rest)
    return log_probs, probabilities, log_complement, xp.where(is_top, top_u, rest_u)


def _focal_factor(xp, log_complement, gamma):
    """(1 - p)^gamma from log(1 - p); None for gamma = 0 (the factor 1, also where p = 1)."""
    return None if gamma == 0.0 else xp.exp(gamma * log_complement)


def _softmax_focal(xp, y_true, logits, *, gamma, class_weight, with_grad, with_hess=False):
    log_probs, probabilities, log_complement, u = _complement_terms(xp, logits)
    weighted = y_true if class_weight is None else y_true * class_weight
    focal = _focal_factor(xp, log_complement, gamma)
    scale = weighted if focal is None else weighted * focal
    # A class of zero target weight adds nothing, even at a masked (-inf) logit.
    loss = -xp.sum(scale * xp.where(weighted > 0, log_probs, 0.0), axis=-1)
    loss = _overflow_safe_loss(xp, loss, scale, logits, log_probs)  # soft labels at logits of +-3e38
    norm = None if class_weight is None else xp.sum(weighted, axis=-1)
    if not with_grad:
        return KernelResult(loss, None, norm)
    # d/dx_k of -sum_c a_c (1 - p_c)^gamma log p_c is p_k B - b_k with b_c = a_c (1 - p_c)^gamma
    # (1 + gamma u_c) and B = sum_c b_c: the cross-entropy's gradient with b in place of a.
    b = scale if focal is None else scale * (1.0 + gamma * u)
    grad = probabilities * xp.sum(b, axis=-1, keepdims=True) - b
    return KernelResult(loss, grad, norm)


def _sparse_softmax_focal(xp, labels, logits, *, gamma, class_weight, with_grad, with_hess=False):
    log_probs, probabilities, log_complement, u = _complement_terms(xp, logits)
    label_weight = 1.0 if class_weight is None else _label_weights(xp, labels, class_weight)
    log_p, log_q = _take_last(xp, log_probs, labels), _take_last(xp, log_complement, labels)
    focal = _focal_factor(xp, log_q, gamma)
    scale = label_weight if focal is None else label_weight * focal
    loss = -scale * log_p
    norm = None if class_weight is None else label_weight
    if not with_grad:
        return KernelResult(loss, None, norm)
    b = _expand(xp, scale if focal is None else scale * (1.0 + gamma * _take_last(xp, u, labels)))
    is_label = xp.astype(_is_label(xp, labels, logits.shape[-1]), logits.dtype)
    return KernelResult(loss, probabilities * b - is_label * b, norm)


def _poly1_cross_entropy(xp, y_true, logits, *, epsilon, with_grad, with_hess=False):
    ce = _softmax_cross_entropy(xp, y_true, logits, label_smoothing=0.0, class_weight=None,
                                with_grad=with_grad, with_hess=with_hess)
    _, probabilities, log_complement, _ = _complement_terms(xp, logits)
    # Optax's sum_c y_c (1 - p_c) (= 1 - p_t for labels summing to 1), with each 1 - p_c exact.
    complement = xp.sum(xp.where(y_true > 0, y_true * xp.exp(log_complement), 0.0), axis=-1, keepdims=True)
    loss = ce.loss + epsilon * complement[..., 0]
    if not with_grad:
        return KernelResult(loss)
    # d(sum_c y_c (1 - p_c))/dx_k = p_k (p_t - y_k), with p_t - y_k = (sum y - y_k) - complement
    # (exact for one-hot labels: -complement at the label, 1 - complement elsewhere).
    slope = probabilities * ((xp.sum(y_true, axis=-1, keepdims=True) - y_true) - complement)
    grad = ce.grad + epsilon * slope
    hess = None
    if with_hess:
        # d/dx_k of p_k (p_t - y_k) = p_k (p_t - y_k) (1 - 2 p_k).
        hess = ce.hess + epsilon * slope * (1.0 - 2.0 * probabilities)
    return KernelResult(loss, grad, hess=hess)


def _sparse_poly1_kernel(xp, labels, logits, *, epsilon, with_grad, with_hess=False):
    ce = _sparse_softmax_kernel(xp, labels, logits, label_smoothing=0.0, class_weight=None,
                                with_grad=with_grad, with_hess=with_hess)
    _, probabilities, log_complement, _ = _complement_terms(xp, logits)
    complement = xp.exp(_take_last(xp, log_complement, labels))
    loss = ce.loss + epsilon * complement
    if not with_grad:
        return KernelResult(loss)
    not_label = 1.0 - xp.astype(_is_label(xp, labels, logits.shape[-1]), logits.dtype)
    slope = probabilities * (not_label - complement[..., None])
    grad = ce.grad + epsilon * slope
    hess = ce.hess + epsilon * slope * (1.0 - 2.0 * probabilities) if with_hess else None
    return KernelResult(loss, grad, hess=hess)


# ----------------------------------------------------------------------------------- checks

def _check_dense(pred_is_probability: bool, hint: str = ""):
    def check(xp, y_true, y_pred, params):
        PROBABILITY.check(xp, y_true, "y_true", "Labels must be one-hot or soft (probabilities)")
        V.check_rows_sum_to_one(xp, y_true, "y_true")
        if pred_is_probability:
            PROBABILITY.check(xp, y_pred, "y_pred", hint)
            V.check_rows_sum_to_one(xp, y_pred, "y_pred", hint)
        if params.get("class_weight") is not None:
            check_class_weight(xp, params["class_weight"], y_pred.shape[-1])

    return check


def _check_sparse(pred_is_probability: bool, hint: str = ""):
    def check(xp, y_true, y_pred, params):
        num_classes = y_pred.shape[-1]
        ignore_index = params.get("ignore_index")
        suffix = "" if ignore_index is None else f" or equal to ignore_index={ignore_index}"
        V.check_index_range(xp, y_true, num_classes, ignore_index,
                            f"y_true must hold class indices in [0, {num_classes}){suffix}")
        if pred_is_probability:
            PROBABILITY.check(xp, y_pred, "y_pred", hint)
            V.check_rows_sum_to_one(xp, y_pred, "y_pred", hint)
        if params.get("class_weight") is not None:
            check_class_weight(xp, params["class_weight"], num_classes)

    return check


_SOFTMAX_HINT = "If these are logits (raw scores), use softmax_cross_entropy instead"
_SPARSE_SOFTMAX_HINT = "If these are logits (raw scores), use sparse_softmax_cross_entropy instead"

_CE_PITFALLS = (
    "Passing softmax outputs to a logits loss applies softmax twice: no error, but the loss cannot go below ~0.7 "
    "and learning stalls. losskit splits the two spaces into separate losses.",
)

# ----------------------------------------------------------------------------------- registry

categorical_cross_entropy = register(Loss(
    name="categorical_cross_entropy",
    aliases=("cce", "categorical_crossentropy"),
    kernel=_categorical_cross_entropy,
    has_hessian=True,
    params=(_SMOOTHING, _CLASS_WEIGHT),
    check_inputs=_check_dense(True, _SOFTMAX_HINT),
    pair="sparse_categorical_cross_entropy",
    task="multiclass", kind="dense", prediction_space="probabilities", label_format="one-hot",
    summary="Categorical cross-entropy on probabilities: -sum_c y_c log p_c, with one-hot or soft labels.",
    formula=r"\ell = -\textstyle\sum_c w_c\,y_c \log p_c",
    gradient_formula=r"\partial\ell/\partial p_c = -w_c y_c / \max(p_c, 10^{-12})",
    output_activation="softmax",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The negative log-likelihood of the labelled class (or the cross-entropy to a soft label)
        under predicted class probabilities. Rows of y_pred must be probabilities summing to 1
        (they are checked, never silently renormalised); each log is floored at -100.
    """,
    when_to_use="Mutually exclusive classes when the model already outputs softmax probabilities.",
    when_not_to_use="When logits are available (softmax_cross_entropy is exact); multi-label targets (sigmoid_cross_entropy).",
    pitfalls=(GRAD_FLOOR_PITFALL,) + _CE_PITFALLS + ("Keras renormalises y_pred rows and clips at 1e-7; losskit checks instead.",),
    equivalents=(
        Equivalent("keras", "keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)", "equal",
                   "equal for probabilities in [1e-7, 1 - 1e-7]; no class weights"),
        Equivalent("torch", "torch.nn.NLLLoss(weight=class_weight)(torch.log(y_pred), y_true.argmax(-1))", "equal",
                   "one-hot labels; PyTorch's class axis is 1; log(0) = -inf there gives inf where losskit floors at 100"),
        Equivalent("sklearn", "sklearn.metrics.log_loss(y_true.argmax(-1), y_pred)", "equal", "one-hot labels"),
    ),
    references=("https://en.wikipedia.org/wiki/Cross-entropy",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.categorical_cross_entropy([[0.0, 1.0, 0.0]], [[0.2, 0.7, 0.1]])), 6)  # -log 0.7
        0.356675
    """,
))

softmax_cross_entropy = register(Loss(
    name="softmax_cross_entropy",
    aliases=("cross_entropy",),
    kernel=_softmax_cross_entropy,
    has_hessian=True,
    params=(_SMOOTHING, _CLASS_WEIGHT, _Z_LOSS),
    check_inputs=_check_dense(False),
    pair="sparse_softmax_cross_entropy",
    task="multiclass", kind="dense", prediction_space="logits", label_format="one-hot",
    summary="Softmax cross-entropy on logits: -sum_c y_c log softmax(x)_c, with one-hot or soft labels.",
    formula=r"\ell = -\textstyle\sum_c w_c\,y_c \log\operatorname{softmax}(x)_c + z\,\big(\log\sum_c e^{x_c}\big)^2",
    gradient_formula=r"\partial\ell/\partial x = \operatorname{softmax}(x)\textstyle\sum_c w_c y_c - w\odot y"
                     r" + 2z\log\big(\sum_c e^{x_c}\big)\operatorname{softmax}(x)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        Cross-entropy of softmax(logits), computed with a stable log-softmax: exact at logits of
        +-1e4 and at -inf logits of masked classes (whose zero labels contribute nothing).
        label_smoothing mixes the labels with the uniform distribution; class_weight scales classes
        and the mean divides by the summed label weights, so one-hot labels give exactly the
        result of sparse_softmax_cross_entropy. z_loss adds PaLM's z-loss z * logsumexp(x)^2 per
        sample (not scaled by class_weight; 'mean' divides the total by the same normaliser).
    """,
    when_to_use="Mutually exclusive classes with a linear output layer (the default multiclass loss).",
    when_not_to_use="Multi-label targets (sigmoid_cross_entropy); integer labels (sparse_softmax_cross_entropy saves the one-hot).",
    pitfalls=_CE_PITFALLS + (
        "With class weights and soft labels PyTorch's 'mean' divides by N; losskit divides by the summed label weights.",
        "No framework's cross-entropy has z_loss: the equivalents hold for z_loss = 0 only.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=label_smoothing)", "equal",
                   "probability targets; PyTorch's class axis is 1; weighted mean differs for soft labels"),
        Equivalent("keras", "keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)", "equal"),
        Equivalent("optax", "optax.losses.safe_softmax_cross_entropy(logits, y_true).mean()", "equal",
                   "optax.losses.softmax_cross_entropy returns NaN with -inf logits"),
        Equivalent("tensorflow", "tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits)", "equal",
                   "probability targets; no label smoothing or class weights"),
    ),
    references=("https://en.wikipedia.org/wiki/Softmax_function",
                "Szegedy et al., 'Rethinking the Inception Architecture' (label smoothing), CVPR 2016"),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.softmax_cross_entropy([[0.0, 1.0]], [[0.0, 2.0]])), 6)  # log(1 + e^-2)
        0.126928
    """,
))

_SPARSE_PARAMS = (_SMOOTHING, _CLASS_WEIGHT, _IGNORE_INDEX)
_SPARSE_SOFTMAX_PARAMS = _SPARSE_PARAMS + (_Z_LOSS,)

sparse_categorical_cross_entropy = register(Loss(
    name="sparse_categorical_cross_entropy",
    aliases=("scce", "sparse_categorical_crossentropy", "nll"),
    kernel=_sparse(_sparse_categorical_kernel),
    has_hessian=True,
    params=_SPARSE_PARAMS,
    check_inputs=_check_sparse(True, _SPARSE_SOFTMAX_HINT),
    pair="categorical_cross_entropy",
    task="multiclass", kind="sparse", prediction_space="probabilities", label_format="integer",
    summary="Categorical cross-entropy on probabilities with integer labels: -log p[y].",
    formula=r"\ell = -w_y \log p_y",
    gradient_formula=r"\partial\ell/\partial p_c = -w_c [c = y] / \max(p_c, 10^{-12})",
    output_activation="softmax",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        categorical_cross_entropy with integer class labels. ignore_index drops positions (padding
        tokens) from both the sum and the mean's denominator; with class weights the mean divides
        by the summed weights of the kept labels, as PyTorch's NLLLoss does.
    """,
    when_to_use="Integer class labels and a model that outputs softmax probabilities.",
    when_not_to_use="When logits are available (sparse_softmax_cross_entropy).",
    pitfalls=(GRAD_FLOOR_PITFALL,) + _CE_PITFALLS,
    equivalents=(
        Equivalent("torch", "torch.nn.NLLLoss(weight=class_weight, ignore_index=ignore_index)(torch.log(y_pred), y_true)", "equal",
                   "PyTorch's class axis is 1; with every label ignored PyTorch returns NaN, losskit 0"),
        Equivalent("keras", "keras.losses.SparseCategoricalCrossentropy(ignore_class=ignore_index)", "equal",
                   "equal for probabilities in [1e-7, 1 - 1e-7]; Keras has no label smoothing here"),
        Equivalent("sklearn", "sklearn.metrics.log_loss(y_true, y_pred)", "equal"),
    ),
    references=("https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.sparse_categorical_cross_entropy([1], [[0.2, 0.7, 0.1]])), 6)
        0.356675
    """,
))

sparse_softmax_cross_entropy = register(Loss(
    name="sparse_softmax_cross_entropy",
    aliases=("sparse_cross_entropy",),
    kernel=_sparse(_sparse_softmax_kernel),
    has_hessian=True,
    params=_SPARSE_SOFTMAX_PARAMS,
    check_inputs=_check_sparse(False),
    pair="softmax_cross_entropy",
    task="multiclass", kind="sparse", prediction_space="logits", label_format="integer",
    summary="Softmax cross-entropy on logits with integer labels: logsumexp(x) - x[y].",
    formula=r"\ell = w_y\left(\log\textstyle\sum_c e^{x_c} - x_y\right) + z\,\big(\log\sum_c e^{x_c}\big)^2",
    gradient_formula=r"\partial\ell/\partial x_c = w_y\left(\operatorname{softmax}(x)_c - [c = y]\right)"
                     r" + 2z\log\big(\sum_k e^{x_k}\big)\operatorname{softmax}(x)_c",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The standard classification loss: PyTorch's CrossEntropyLoss with class indices, moved to
        a last class axis. ignore_index drops positions (padding tokens) from the sum and the
        mean's denominator; if every position is ignored the mean is 0, not NaN. z_loss adds the
        z-loss of large-model training (PaLM; Liger's lse_square_scale), z * logsumexp(x)^2 per
        kept position, which keeps log Z near 0 and the logits from drifting; ignored positions
        get none, and it is not scaled by class_weight.
    """,
    when_to_use="Mutually exclusive classes, integer labels, linear output layer: classification and language modelling.",
    when_not_to_use="Multi-label targets (sigmoid_cross_entropy); soft labels (softmax_cross_entropy).",
    pitfalls=_CE_PITFALLS + (
        "PyTorch returns NaN when every target is ignored; losskit returns 0.",
        "With class_weight, 'mean' divides the z-loss by the summed label weights like the rest of the loss; "
        "implementations that divide it by the count of kept positions (Liger's kernel passes both counts) agree "
        "only without class weights.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.CrossEntropyLoss(weight=class_weight, ignore_index=ignore_index, label_smoothing=label_smoothing)", "equal",
                   "PyTorch's class axis is 1: pass logits.movedim(-1, 1)"),
        Equivalent("keras", "keras.losses.SparseCategoricalCrossentropy(from_logits=True)", "equal"),
        Equivalent("optax", "optax.losses.softmax_cross_entropy_with_integer_labels(logits, y_true).mean()", "equal"),
        Equivalent("tensorflow", "tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=logits)", "equal",
                   "no ignore_index: TensorFlow raises on a label out of range on the CPU"),
    ),
    references=("https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.sparse_softmax_cross_entropy([1, 0], [[0.0, 2.0], [0.0, 0.0]])), 6)
        0.410038
    """,
))

kl_divergence = register(Loss(
    name="kl_divergence",
    aliases=("kld", "kl_div"),
    kernel=_kl_divergence,
    has_hessian=True,
    check_inputs=_check_dense(True, "If y_pred holds logits, use kl_divergence_with_logits"),
    task="multiclass", kind="dense", prediction_space="probabilities", label_format="distribution",
    summary="KL divergence KL(y_true || y_pred) = sum_c y_true log(y_true / y_pred), probabilities in both.",
    formula=r"\ell = \textstyle\sum_c t_c (\log t_c - \log p_c),\ 0\log 0 = 0",
    gradient_formula=r"\partial\ell/\partial p_c = -t_c / \max(p_c, 10^{-12})",
    output_activation="softmax",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        How many extra nats are needed to code samples of y_true with a code built for y_pred.
        Both arguments are probability distributions over the last axis, the truth first; zero
        targets contribute 0. Its gradient equals that of cross-entropy to the same soft labels,
        but its value is 0 at a perfect prediction. 'mean' averages over rows: the true KL per
        example (PyTorch's 'batchmean').
    """,
    when_to_use="Distillation and matching a target distribution, when the value should read as a divergence.",
    when_not_to_use="Hard labels (softmax_cross_entropy has the same gradient and is cheaper).",
    pitfalls=(
        GRAD_FLOOR_PITFALL,
        "PyTorch's kl_div takes (log y_pred, y_true), prediction first and in log space, and its default 'mean' divides by "
        "the number of elements; use 'batchmean'.",
        "Keras clips both arguments to [1e-7, 1]; Optax takes log-probabilities first.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.KLDivLoss(reduction='batchmean')(torch.log(y_pred), y_true)", "equal",
                   "2-D inputs; 'mean' in PyTorch divides by all elements"),
        Equivalent("keras", "keras.losses.KLDivergence()", "equal", "equal for probabilities >= 1e-7"),
        Equivalent("optax", "optax.losses.kl_divergence(jnp.log(y_pred), y_true).mean()", "equal"),
    ),
    references=("https://en.wikipedia.org/wiki/Kullback%E2%80%93Leibler_divergence",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.kl_divergence([[0.5, 0.5]], [[0.25, 0.75]])), 6)
        0.143841
    """,
))

kl_divergence_with_logits = register(Loss(
    name="kl_divergence_with_logits",
    kernel=_kl_divergence_with_logits,
    has_hessian=True,
    check_inputs=_check_dense(False),
    task="multiclass", kind="dense", prediction_space="logits", label_format="distribution",
    summary="KL divergence KL(y_true || softmax(logits)), computed with a stable log-softmax.",
    formula=r"\ell = \textstyle\sum_c t_c (\log t_c - \log\operatorname{softmax}(x)_c)",
    gradient_formula=r"\partial\ell/\partial x = \operatorname{softmax}(x)\textstyle\sum_c t_c - t",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        kl_divergence with the prediction given as logits: exact at extreme logits where the
        probability form floors log p at -100.
    """,
    when_to_use="Knowledge distillation from a teacher's distribution to a student's logits.",
    when_not_to_use="Hard labels (sparse_softmax_cross_entropy).",
    pitfalls=("Temperature scaling (distillation) is applied by the caller: divide the logits by T before the call.",),
    equivalents=(
        Equivalent("torch", "torch.nn.KLDivLoss(reduction='batchmean')(logits.log_softmax(-1), y_true)", "equal"),
        Equivalent("optax", "optax.losses.kl_divergence(jax.nn.log_softmax(logits), y_true).mean()", "equal"),
    ),
    references=("Hinton et al., 'Distilling the Knowledge in a Neural Network', 2015",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.kl_divergence_with_logits([[0.5, 0.5]], [[0.0, 0.0]])), 6)
        0.0
    """,
))

categorical_hinge = register(Loss(
    name="categorical_hinge",
    kernel=_categorical_hinge,
    has_hessian=True,
    check_inputs=_check_dense(False),
    task="multiclass", kind="dense", prediction_space="scores", label_format="one-hot",
    summary="Keras' categorical hinge: max(0, 1 + max_wrong - score_true), one-hot labels.",
    formula=r"\ell = \max\left(0,\ 1 + \max_c (1-y_c) f_c - \textstyle\sum_c y_c f_c\right)",
    gradient_formula=r"\partial\ell/\partial f = [\ell > 0]\left(e_{c^*}(1-y) - y\right),\ c^* = \arg\max_c (1-y_c) f_c",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=False,
    description="""
        A multiclass margin loss (Crammer-Singer style): zero when the true class's score beats
        every other score by at least 1. As in Keras, the "largest wrong score" is taken over
        (1 - y) * f, which includes a 0 for the true class.
    """,
    when_to_use="Multiclass margin classifiers; porting Keras CategoricalHinge.",
    when_not_to_use="When class probabilities are needed (softmax_cross_entropy).",
    pitfalls=("Because (1 - y) * f includes 0 for the true class, negative wrong scores count as 0 (Keras' definition).",),
    equivalents=(
        Equivalent("keras", "keras.losses.CategoricalHinge()", "equal"),
    ),
    references=("Crammer and Singer, 'On the Algorithmic Implementation of Multiclass Kernel-based Vector Machines', JMLR 2001",),
    example="""
        >>> import losskit as lk
        >>> float(lk.categorical_hinge([[0.0, 1.0, 0.0]], [[0.5, 1.0, 0.2]]))
        0.5
    """,
))

_GAMMA = Param(
    "gamma", 2.0, "finite gamma >= 0",
    "The focusing exponent of (1 - p_c): 0 gives the cross-entropy, larger values mute well-classified samples.",
    V.non_negative,
)
_FOCAL_CLASS_WEIGHT = Param(
    "class_weight", None, "None or one non-negative weight per class, shape (num_classes,)",
    "Scales each class's term (the per-class alpha of the focal-loss papers); 'mean' then divides by the summed "
    "weights of the labels. class_balanced_weights(counts) gives Cui et al.'s weights.",
    is_array=True,
)
_EPSILON = Param(
    "epsilon", 2.0, "finite epsilon >= -1",
    "The coefficient of the first polynomial term 1 - p_t; 0 gives the cross-entropy. Leng et al. use 2 for "
    "ImageNet classification and -1 for detection; below -1 the loss would reward lowering p_t near 1.",
    lambda name, value: _at_least_minus_one(name, value),
)


def _at_least_minus_one(name, value):
    number = V._as_real(name, value)
    if not number >= -1.0 or math.isinf(number):
        raise ValueError(f"{name} must be a finite number >= -1; got {value!r}")
    return number


_FOCAL_DESCRIPTION = """
        Lin et al.'s focal loss with a softmax over mutually exclusive classes: each class's
        cross-entropy term is scaled by (1 - p_c)^gamma, so confidently right samples contribute
        little and the hard ones dominate. The complement 1 - p_c and its power are computed in
        log space from the logits (for the largest logit from the other classes' sum, not as
        1 - softmax), so the value and gradient are finite and exact at logits of +-1e4 for every
        gamma >= 0, gamma < 1 included. gamma = 0 is the cross-entropy.
"""

softmax_focal = register(Loss(
    name="softmax_focal",
    aliases=("categorical_focal", "softmax_focal_loss"),
    kernel=_softmax_focal,
    params=(_GAMMA, _FOCAL_CLASS_WEIGHT),
    check_inputs=_check_dense(False),
    pair="sparse_softmax_focal",
    task="multiclass", kind="dense", prediction_space="logits", label_format="one-hot",
    summary="Softmax focal loss on logits: -sum_c w_c y_c (1 - p_c)^gamma log p_c, with one-hot or soft labels.",
    formula=r"\ell = -\textstyle\sum_c w_c\,y_c\,(1-p_c)^\gamma \log p_c,\ p = \operatorname{softmax}(x)",
    gradient_formula=r"\partial\ell/\partial x = p\textstyle\sum_c b_c - b,\ b_c = w_c y_c (1-p_c)^\gamma"
                     r"\left(1 - \gamma\,\frac{p_c \log p_c}{1-p_c}\right)",
    output_activation="linear",
    convex=False, robust_to_outliers=False, differentiable=True,
    description=_FOCAL_DESCRIPTION + """
        With soft labels every class's term is scaled by its own (1 - p_c)^gamma (Keras' and
        MONAI's convention). class_weight weighs classes and, as for softmax_cross_entropy, the
        mean divides by the summed label weights, so one-hot labels give sparse_softmax_focal.
    """,
    when_to_use="Multiclass problems with extreme class imbalance or many easy examples (dense prediction, detection heads).",
    when_not_to_use="Balanced data or when calibrated probabilities matter (softmax_cross_entropy).",
    pitfalls=(
        "Keras' CategoricalFocalCrossentropy multiplies every term by alpha (default 0.25): pass alpha=1.0 to compare, or "
        "alpha=class_weight (then Keras' mean divides by N, not by the summed label weights). It clips p to [1e-7, 1 - 1e-7].",
        "Implementations that form (1 - softmax(x))^gamma return NaN gradients for gamma < 1 at saturated logits.",
    ),
    equivalents=(
        Equivalent("keras", "keras.losses.CategoricalFocalCrossentropy(from_logits=True, alpha=1.0, gamma=gamma)", "equal",
                   "no class weights (Keras' alpha list then needs the mean over N); equal for p in [1e-7, 1 - 1e-7]"),
    ),
    references=("Lin et al., 'Focal Loss for Dense Object Detection', ICCV 2017, https://arxiv.org/abs/1708.02002",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.softmax_focal([[0.0, 1.0]], [[0.0, 2.0]], gamma=2.0)), 6)  # (1 - p)^2 * -log p
        0.001804
        >>> lk.softmax_focal.grad([[1.0, 0.0], [0.0, 1.0]], [[1e4, -1e4], [1e4, -1e4]], gamma=0.5, reduction="sum")
        array([[ 0.,  0.],
               [ 1., -1.]])
    """,
))

sparse_softmax_focal = register(Loss(
    name="sparse_softmax_focal",
    aliases=("sparse_focal", "sparse_categorical_focal"),
    kernel=_sparse(_sparse_softmax_focal),
    params=(_GAMMA, _FOCAL_CLASS_WEIGHT, _IGNORE_INDEX),
    check_inputs=_check_sparse(False),
    pair="softmax_focal",
    task="multiclass", kind="sparse", prediction_space="logits", label_format="integer",
    summary="Softmax focal loss on logits with integer labels: -w_y (1 - p_y)^gamma log p_y.",
    formula=r"\ell = -w_y\,(1-p_y)^\gamma \log p_y,\ p = \operatorname{softmax}(x)",
    gradient_formula=r"\partial\ell/\partial x_c = b\,(p_c - [c = y]),\ b = w_y (1-p_y)^\gamma"
                     r"\left(1 - \gamma\,\frac{p_y \log p_y}{1-p_y}\right)",
    output_activation="linear",
    convex=False, robust_to_outliers=False, differentiable=True,
    description=_FOCAL_DESCRIPTION + """
        softmax_focal with integer class labels. ignore_index drops positions from the sum and
        the mean's denominator; with class weights the mean divides by the summed weights of the
        kept labels, as sparse_softmax_cross_entropy does.
    """,
    when_to_use="Imbalanced multiclass classification or segmentation with integer labels and a linear output layer.",
    when_not_to_use="Balanced data or when calibrated probabilities matter (sparse_softmax_cross_entropy).",
    pitfalls=(
        "MONAI's and kornia's focal losses with a softmax put the class axis at 1 and weigh or average classes "
        "differently (kornia's alpha weighs class 0 by 1 - alpha); compare formulas before porting.",
    ),
    equivalents=(
        Equivalent("keras", "keras.losses.CategoricalFocalCrossentropy(from_logits=True, alpha=1.0, gamma=gamma)"
                            "(one_hot(y_true), logits)", "equal",
                   "one-hot labels; no class weights or ignore_index; equal for p in [1e-7, 1 - 1e-7]"),
    ),
    references=("Lin et al., 'Focal Loss for Dense Object Detection', ICCV 2017, https://arxiv.org/abs/1708.02002",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.sparse_softmax_focal([1], [[0.0, 2.0]])), 6)
        0.001804
        >>> ce = lk.sparse_softmax_cross_entropy([1], [[0.0, 2.0]])
        >>> abs(float(lk.sparse_softmax_focal([1], [[0.0, 2.0]], gamma=0.0)) - float(ce)) < 1e-15  # log1p(e^-2) either way
        True
    """,
))

_POLY_DESCRIPTION = """
        Leng et al.'s Poly-1 loss: the cross-entropy plus epsilon times its first polynomial
        term 1 - p_t, which for epsilon > 0 keeps a gradient on samples the cross-entropy already
        fits and for epsilon < 0 mutes them. epsilon = 0 is the cross-entropy exactly. 1 - p_t is
        computed in log space from the logits, exact where p_t rounds to 1.
"""

poly1_cross_entropy = register(Loss(
    name="poly1_cross_entropy",
    aliases=("poly1", "poly_loss"),
    kernel=_poly1_cross_entropy,
    has_hessian=True,
    params=(_EPSILON,),
    check_inputs=_check_dense(False),
    pair="sparse_poly1_cross_entropy",
    task="multiclass", kind="dense", prediction_space="logits", label_format="one-hot",
    summary="Poly-1 cross-entropy on logits: CE + epsilon (1 - p_t), p_t = sum_c y_c softmax(x)_c.",
    formula=r"\ell = -\textstyle\sum_c y_c\log p_c + \epsilon\sum_c y_c (1 - p_c),\ p = \operatorname{softmax}(x)",
    gradient_formula=r"\partial\ell/\partial x_k = p_k\textstyle\sum_c y_c - y_k + \epsilon\,p_k\,(p_t - y_k)",
    output_activation="linear",
    convex=False, robust_to_outliers=False, differentiable=True,
    description=_POLY_DESCRIPTION + """
        Labels are one-hot or soft; with soft labels 1 - p_t is sum_c y_c (1 - p_c), Optax's
        definition (equal to 1 - sum_c y_c p_c for rows summing to 1).
    """,
    when_to_use="Classification where tuning the weight of easy samples helps: epsilon = 2 on ImageNet-style tasks, -1 in detection.",
    when_not_to_use="When a convex objective or calibrated probabilities are needed (softmax_cross_entropy).",
    pitfalls=("Optax's softmax cross-entropy inside poly_loss_cross_entropy returns NaN at -inf (masked) logits; this one does not.",),
    equivalents=(
        Equivalent("optax", "optax.losses.poly_loss_cross_entropy(logits, y_true, epsilon=epsilon).mean()", "equal"),
    ),
    references=("Leng et al., 'PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions', ICLR 2022, "
                "https://arxiv.org/abs/2204.12511",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.poly1_cross_entropy([[0.0, 1.0]], [[0.0, 2.0]])), 6)  # -log p + 2 (1 - p)
        0.365334
    """,
))

sparse_poly1_cross_entropy = register(Loss(
    name="sparse_poly1_cross_entropy",
    aliases=("sparse_poly1",),
    kernel=_sparse(_sparse_poly1_kernel),
    has_hessian=True,
    params=(_EPSILON, _IGNORE_INDEX),
    check_inputs=_check_sparse(False),
    pair="poly1_cross_entropy",
    task="multiclass", kind="sparse", prediction_space="logits", label_format="integer",
    summary="Poly-1 cross-entropy on logits with integer labels: -log p_y + epsilon (1 - p_y).",
    formula=r"\ell = -\log p_y + \epsilon\,(1 - p_y),\ p = \operatorname{softmax}(x)",
    gradient_formula=r"\partial\ell/\partial x_c = p_c - [c = y] + \epsilon\,p_c\,(p_y - [c = y])",
    output_activation="linear",
    convex=False, robust_to_outliers=False, differentiable=True,
    description=_POLY_DESCRIPTION + """
        poly1_cross_entropy with integer class labels. ignore_index drops positions (padding
        tokens) from the sum and the mean's denominator; if every position is ignored the mean is 0.
    """,
    when_to_use="Integer-label classification where tuning the weight of easy samples helps (see poly1_cross_entropy).",
    when_not_to_use="When a convex objective or calibrated probabilities are needed (sparse_softmax_cross_entropy).",
    pitfalls=(),
    equivalents=(
        Equivalent("optax", "optax.losses.poly_loss_cross_entropy(logits, jax.nn.one_hot(y_true, num_classes), "
                            "epsilon=epsilon).mean()", "equal", "one-hot labels; Optax has no ignore_index"),
    ),
    references=("Leng et al., 'PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions', ICLR 2022, "
                "https://arxiv.org/abs/2204.12511",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.sparse_poly1_cross_entropy([1], [[0.0, 2.0]])), 6)
        0.365334
        >>> round(float(lk.sparse_poly1_cross_entropy([1, -100], [[0.0, 2.0], [5.0, 1.0]], ignore_index=-100)), 6)
        0.365334
    """,
))


# ------------------------------------------------------------------------ class weights

def class_balanced_weights(counts, *, beta=0.999):
    """Cui et al.'s class-balanced weights from per-class sample counts, for any ``class_weight``.

    The "effective number" of ``n`` samples of a class is ``(1 - beta**n) / (1 - beta)``; each
    class is weighted by its inverse, ``(1 - beta) / (1 - beta**n_c)``, and the weights are
    normalised to sum to the number of classes, so that a balanced dataset gets weights of 1.
    ``beta = 0`` weighs every class with samples equally; ``beta -> 1`` approaches inverse class
    frequency (``1 / n_c``, normalised). Cui et al. use beta in {0.9, 0.99, 0.999, 0.9999}.

    A class with zero samples has an effective number of 0 and an infinite raw weight; it gets
    weight 0 here (it has no label to weigh), and the remaining classes are normalised to sum to
    the number of classes. Counts that are all zero raise ValueError.

    Parameters
    ----------
    counts : array, shape (num_classes,)
        Non-negative samples per class (integers or floats), of any array library; the weights
        come back in that library (floating dtype, on the same device).
    beta : float, default 0.999
        In [0, 1).

    Returns
    -------
    array of shape (num_classes,), summing to num_classes.

    Examples
    --------
    >>> import numpy as np, losskit as lk
    >>> w = lk.class_balanced_weights(np.array([1000, 100, 10]), beta=0.99)
    >>> np.round(w, 4)
    array([0.2301, 0.363 , 2.4068])
    >>> float(w.sum())
    3.0
    >>> lk.class_balanced_weights(np.array([10, 0, 10]))  # an empty class gets 0
    array([1.5, 0. , 1.5])
    >>> logits = np.zeros((3, 3))
    >>> float(lk.sparse_softmax_focal(np.array([0, 1, 2]), logits, class_weight=w)) > 0
    True
    """
    beta = V._as_real("beta", beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1); got {beta!r} (beta -> 1 approaches inverse class frequency)")
    xp = namespace_of(counts=counts)
    counts = as_array(xp, counts, "counts")
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ValueError(f"counts must have shape (num_classes,), one count per class; got {tuple(counts.shape)}")
    if not is_floating(xp, counts):
        counts = xp.astype(counts, xp.float64)
    if V.is_concrete(counts):
        bad = ~(counts >= 0) | ~xp.isfinite(counts)
        if bool(xp.any(bad)):
            raise ValueError("counts must be finite and non-negative (>= 0), one sample count per class; found "
                             f"{V._first_offender(xp, bad, counts)}")
        if not bool(xp.any(counts > 0)):
            raise ValueError("counts are all zero: at least one class needs samples")
    present = counts > 0
    # 1 - beta^n = -expm1(n log beta): exact for small n (1 - beta) and any beta < 1; beta = 0 gives
    # 1 for every present class (0^n = 0), as the formula's limit.
    if beta == 0.0:
        effective = xp.where(present, 1.0, 0.0)
    else:
        effective = -xp.expm1(counts * math.log(beta))
    raw = xp.where(present, (1.0 - beta) / xp.where(present, effective, 1.0), 0.0)
    return raw * (counts.shape[0] / xp.sum(raw))


# Lets pytest --doctest-modules run the example of every loss in this module.
__test__ = {name: globals()[name].__doc__ for name in __all__}
