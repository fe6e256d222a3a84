"""Binary classification losses: one probability, logit or score per element.

Cross-entropies take labels in [0, 1] (soft labels allowed). Margin losses (hinge family,
logistic) take labels in {-1, +1}; labels that are all 0 or 1 are converted with 2y - 1, as
Keras does, and any other value raises ValueError.
"""

from __future__ import annotations

import math

from . import _validation as V
from ._array import GRAD_DENOMINATOR_FLOOR, clamped_log, clamped_log1m, sigmoid, softplus
from ._kernels import GRAD_FLOOR_PITFALL, floored, keep_nan
from ._loss import PROBABILITY, Equivalent, KernelResult, Loss, Param, check_domains
from ._registry import register

__all__ = [
    "binary_cross_entropy",
    "sigmoid_cross_entropy",
    "sigmoid_focal",
    "hinge",
    "squared_hinge",
    "modified_huber",
    "logistic",
]

_BINARY_SMOOTHING = Param(
    "label_smoothing", 0.0, "0 <= label_smoothing <= 1",
    "Moves labels toward 0.5: y * (1 - label_smoothing) + 0.5 * label_smoothing.", V.closed_unit_interval,
)


def _smooth_binary(y_true, label_smoothing):
    return y_true if label_smoothing == 0.0 else y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _sigmoid_curvature(xp, x):
    """sigmoid(x) * (1 - sigmoid(x)) = sigmoid'(x), exact in both tails."""
    # 1 - sigmoid(x) cancels to 0 beyond x ~ 37 in float64, where the product is still ~e^-x;
    # z / (1 + z)^2 with z = e^{-|x|} <= 1 keeps every digit and is finite at any x, +-inf too.
    z = xp.exp(-xp.abs(x))
    return z / ((1.0 + z) * (1.0 + z))


# ------------------------------------------------------------------------------------ kernels

@floored
def _binary_cross_entropy(xp, y_true, y_pred, *, label_smoothing, with_grad, with_hess=False,
                          floor=GRAD_DENOMINATOR_FLOOR):
    target = _smooth_binary(y_true, label_smoothing)
    # Each log is floored at -100 (PyTorch's choice), so p = 0 or 1 gives a finite loss of at
    # most 100 per element instead of inf; zero-weight terms are skipped so 0 * -100 never adds.
    loss = -(target * clamped_log(xp, y_pred) + (1.0 - target) * clamped_log1m(xp, y_pred))
    if not with_grad:
        return KernelResult(loss)
    # -y/p + (1 - y)/(1 - p), each denominator floored (floor: 1e-12, 2^-14 for float16 results,
    # _kernels.grad_floor) as PyTorch floors p(1 - p): a confident
    # wrong prediction gets a large finite gradient, and a confident right one (p = y = 0) its
    # true one-sided derivative 1 rather than the 0/0 -> 0 of the combined (p - y)/(p(1 - p)).
    complement = 1.0 - y_pred
    safe_complement = xp.clip(complement, min=floor)
    safe = xp.clip(y_pred, min=floor)
    grad = (1.0 - target) / safe_complement - target / safe
    hess = None
    if with_hess:
        # The derivative of that floored gradient: (1 - y)/(1 - p)^2 + y/p^2, each term only
        # while its denominator is above the floor; where the floor holds a term constant its
        # derivative is 0. So p = 0 or 1 gives a finite Hessian, as it gives a finite gradient.
        hess = xp.where(complement > floor, (1.0 - target) / (safe_complement * safe_complement), 0.0)
        hess = hess + xp.where(y_pred > floor, target / (safe * safe), 0.0)
    return KernelResult(loss, grad, hess=hess)


def _sigmoid_cross_entropy(xp, y_true, logits, *, pos_weight, label_smoothing, with_grad, with_hess=False):
    target = _smooth_binary(y_true, label_smoothing)
    positive_weight = target if pos_weight is None else pos_weight * target
    negative_weight = 1.0 - target
    # -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x), both overflow-free.
    # A term whose weight is 0 is dropped before it is multiplied, so a -inf logit on a negative
    # label (or +inf on a positive one) costs 0 instead of 0 * inf = NaN (and NumPy never warns).
    loss = positive_weight * xp.where(positive_weight > 0, softplus(xp, -logits), 0.0) + (
        negative_weight * xp.where(negative_weight > 0, softplus(xp, logits), 0.0)
    )
    if not with_grad:
        return KernelResult(loss)
    probability = sigmoid(xp, logits)
    # 1 - sigmoid(x) as sigmoid(-x): exact where sigmoid(x) rounds to 1 (x beyond ~37 in float64,
    # where the true gradient -e^-x of a positive label would otherwise come out as 0).
    grad = negative_weight * probability - positive_weight * sigmoid(xp, -logits)
    # The gradient is sigmoid(x) (w_- + w_+) - w_+, so the Hessian is sigmoid'(x) times the total
    # weight of the two terms, pos_weight and label smoothing included.
    hess = (negative_weight + positive_weight) * _sigmoid_curvature(xp, logits) if with_hess else None
    return KernelResult(loss, grad, hess=hess)


def _log_where_positive(xp, x):
    """log(x) where x > 0 and 0 elsewhere: every use masks those elements with a where()."""
    return xp.log(xp.where(x > 0, x, 1.0))


def _sigmoid_focal(xp, y_true, logits, *, gamma, alpha, with_grad, with_hess=False):
    # The cross-entropy term, exactly as sigmoid_cross_entropy computes it (so gamma = 0 without
    # alpha returns its value and gradient bit for bit).
    ce = _sigmoid_cross_entropy(xp, y_true, logits, pos_weight=None, label_smoothing=0.0, with_grad=with_grad)
    positive, negative = y_true > 0, y_true < 1
    softplus_x, softplus_minus_x = softplus(xp, logits), softplus(xp, -logits)
    log_y, log_not_y = _log_where_positive(xp, y_true), _log_where_positive(xp, 1.0 - y_true)
    if gamma == 0.0:
        focal = None  # (1 - p_t)^0 = 1 everywhere, p_t = 1 included (0 * log 0 would be NaN)
    else:
        # log(1 - p_t) = log(y (1 - p) + (1 - y) p) with log(1 - p) = -softplus(x) and
        # log p = -softplus(-x): exact in both tails, where 1 - sigmoid(x) rounds to 0 and a
        # power gamma < 1 of that 0 would have an infinite derivative. A label weight of 0 drops
        # its term before the sum (where(), not log(0) + inf).
        log_one_minus_pt = xp.logaddexp(
            xp.where(positive, log_y - softplus_x, -math.inf),
            xp.where(negative, log_not_y - softplus_minus_x, -math.inf),
        )
        focal = xp.exp(gamma * log_one_minus_pt)
    loss = ce.loss if focal is None else focal * ce.loss
    alpha_t = None if alpha is None else alpha * y_true + (1.0 - alpha) * (1.0 - y_true)
    if alpha_t is not None:
        loss = alpha_t * xp.where(alpha_t > 0, loss, 0.0)  # alpha_t = 0 silences even an infinite loss
    if not with_grad:
        return KernelResult(loss)
    grad = ce.grad if focal is None else focal * ce.grad
    if focal is not None:
        # d(1 - p_t)^gamma / dx = gamma (1 - 2y) (1 - p_t)^gamma * r with r = p (1 - p) / (1 - p_t)
        # = 1 / (y / p + (1 - y) / (1 - p)), taken in log space: log r = -logaddexp(log y +
        # softplus(-x), log(1 - y) + softplus(x)). This is the exact limit where 1 - p_t -> 0
        # (r -> p or 1 - p), finite for every gamma >= 0; (1 - p_t)^(gamma - 1) is never formed.
        log_r = -xp.logaddexp(
            xp.where(positive, log_y + softplus_minus_x, -math.inf),
            xp.where(negative, log_not_y + softplus_x, -math.inf),
        )
        slope = gamma * (1.0 - 2.0 * y_true) * xp.exp(gamma * log_one_minus_pt + log_r)
        # A zero slope (an underflow, or a saturated logit) drops its product with the
        # cross-entropy, which may be infinite there (a logit of +inf on a negative label).
        grad = grad + slope * xp.where(slope != 0, ce.loss, 0.0)
    if alpha_t is not None:
        grad = alpha_t * xp.where(alpha_t > 0, grad, 0.0)
    return KernelResult(loss, grad)


def _signed_labels(xp, y_true):
    # Branch-free so it also works under jax.jit: labels that are all 0 or 1 become -1 / +1.
    all_zero_one = xp.all((y_true == 0.0) | (y_true == 1.0))
    return xp.where(all_zero_one, 2.0 * y_true - 1.0, y_true)


# The margin losses' second derivatives in f carry a factor sign^2 = 1, left out below.

def _hinge(xp, y_true, y_pred, *, with_grad, with_hess=False):
    sign = _signed_labels(xp, y_true)
    slack = 1.0 - sign * y_pred
    loss = xp.clip(slack, min=0.0)
    # keep_nan: slack > 0 is False for a NaN score (or label), whose gradient must stay NaN.
    grad = keep_nan(xp, xp.where(slack > 0, -sign, 0.0), slack) if with_grad else None
    # Piecewise linear: 0 on both sides and, by the subgradient convention, at the margin 1.
    hess = xp.zeros_like(slack) if with_hess else None
    return KernelResult(loss, grad, hess=hess)


def _squared_hinge(xp, y_true, y_pred, *, with_grad, with_hess=False, factored=False):
    sign = _signed_labels(xp, y_true)
    slack = xp.clip(1.0 - sign * y_pred, min=0.0)
    # 2 while the margin is violated, 0 beyond it and (the kink's convention) at margin 1.
    hess = 2.0 * xp.astype(slack > 0, slack.dtype) if with_hess else None
    # factored: without the factor 2, applied after the mean's 1/n (regression._squared_error).
    grad = ((-sign * slack) if factored else -2.0 * sign * slack) if with_grad else None
    return KernelResult(slack * slack, grad, hess=hess)


_squared_hinge.losskit_grad_factor = 2.0


def _modified_huber(xp, y_true, y_pred, *, with_grad, with_hess=False):
    sign = _signed_labels(xp, y_true)
    margin = sign * y_pred
    slack = xp.clip(1.0 - margin, min=0.0)
    quadratic_zone = margin >= -1.0
    loss = xp.where(quadratic_zone, slack * slack, -4.0 * margin)
    grad = sign * keep_nan(xp, xp.where(quadratic_zone, -2.0 * slack, -4.0), margin) if with_grad else None
    hess = None
    if with_hess:
        # 2 on the quadratic part -1 < z < 1, 0 on the linear tail and beyond the margin; both
        # ends, where the second derivative jumps, take 0 as every kink of the catalog does.
        hess = 2.0 * xp.astype((margin > -1.0) & (margin < 1.0), margin.dtype)
    return KernelResult(loss, grad, hess=hess)


def _logistic(xp, y_true, y_pred, *, with_grad, with_hess=False):
    sign = _signed_labels(xp, y_true)
    margin = sign * y_pred
    loss = softplus(xp, -margin)  # log(1 + e^{-z}) without overflow, unlike PyTorch's SoftMarginLoss
    # d/df of -y sigmoid(-y f) is sigmoid'(y f), symmetric in the margin's sign.
    hess = _sigmoid_curvature(xp, margin) if with_hess else None
    return KernelResult(loss, -sign * sigmoid(xp, -margin) if with_grad else None, hess=hess)


# ----------------------------------------------------------------------------------- checks

def _check_signed_labels(xp, y_true, y_pred, params):
    if not V.is_concrete(y_true):  # before any pass over the labels: a tuned loop pays nothing
        return
    zero = y_true == 0.0
    ok = zero | (xp.abs(y_true) == 1.0)
    V.check_values(xp, ok, y_true, "y_true must hold labels in {-1, +1} (or {0, 1}, converted to {-1, +1})")
    # Under jax.jit a closed-over concrete y_true still gives traced comparisons: test the results.
    has_zero = xp.any(zero)
    if V.is_concrete(has_zero) and bool(has_zero) and bool(xp.any(y_true == -1.0)):
        raise ValueError(
            "y_true mixes 0 and -1 labels; use {-1, +1} or {0, 1} consistently (0 is only read as the negative "
            "class when every label is 0 or 1)"
        )


def _check_sigmoid_inputs(xp, y_true, logits, params):
    PROBABILITY.check(xp, y_true, "y_true", "Labels must be 0, 1 or a probability in between")
    pos_weight = params.get("pos_weight")
    if pos_weight is not None:
        if pos_weight.ndim > 1 or (pos_weight.ndim == 1 and tuple(pos_weight.shape) != tuple(logits.shape[-1:])):
            raise ValueError(
                f"pos_weight must be a scalar or have shape ({logits.shape[-1] if logits.ndim else 1},), one weight per "
                f"output column (the last axis of logits); got shape {tuple(pos_weight.shape)}"
            )
        V.Domain(0.0, description="non-negative").check(xp, pos_weight, "pos_weight")


_PROBABILITY_HINT = "If these are logits (raw scores), use sigmoid_cross_entropy instead"

# ----------------------------------------------------------------------------------- registry

binary_cross_entropy = register(Loss(
    name="binary_cross_entropy",
    aliases=("bce", "log_loss", "binary_crossentropy"),
    kernel=_binary_cross_entropy,
    has_hessian=True,
    params=(_BINARY_SMOOTHING,),
    check_inputs=check_domains(
        V.Domain(0.0, 1.0, description="a label in [0, 1]"), PROBABILITY, y_pred_hint=_PROBABILITY_HINT
    ),
    pair="sigmoid_cross_entropy",
    task="binary", kind="pointwise", prediction_space="probabilities", label_format="binary",
    summary="Binary cross-entropy on probabilities: -(y log p + (1 - y) log(1 - p)), finite at p = 0 and 1.",
    formula=r"\ell = -\left(y\log p + (1-y)\log(1-p)\right),\ \log\text{ floored at }-100",
    gradient_formula=r"\partial\ell/\partial p = (1-y)/\max(1-p, 10^{-12}) - y/\max(p, 10^{-12})",
    output_activation="sigmoid",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The negative log-likelihood of a Bernoulli label. Takes probabilities (after a sigmoid);
        the logit form, sigmoid_cross_entropy, is more accurate and should be preferred when the
        model's raw output is available. Each log is floored at -100, as in PyTorch, so a
        confident wrong prediction of exactly 0 or 1 costs 100 rather than inf.
    """,
    when_to_use="Binary or multi-label targets when only probabilities are available.",
    when_not_to_use="When the model outputs logits: sigmoid_cross_entropy is exact where this one saturates.",
    pitfalls=(
        GRAD_FLOOR_PITFALL,
        "Keras clips p to [1e-7, 1 - 1e-7] (max 16.12 per element), PyTorch floors the log at -100, scikit-learn "
        "clips at the dtype's eps (36.04 in float64): identical for moderate p, different at the extremes.",
        "Passing logits raises ValueError here (values outside [0, 1]).",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.BCELoss()", "equal",
                   "unweighted; BCELoss(weight=w) divides sum(w*l) by the element count, not by sum(w)"),
        Equivalent("keras", "keras.losses.BinaryCrossentropy()", "equal",
                   "equal for p in [1e-7, 1 - 1e-7]; Keras clips there"),
        Equivalent("sklearn", "sklearn.metrics.log_loss(y_true, y_pred)", "equal",
                   "equal away from 0 and 1; scikit-learn clips at the dtype's eps"),
    ),
    references=("https://en.wikipedia.org/wiki/Cross-entropy#Cross-entropy_loss_function_and_logistic_regression",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.bce([1.0, 0.0], [0.9, 0.2])), 6)
        0.164252
        >>> float(lk.bce([1.0], [0.0]))  # finite at p = 0
        100.0
    """,
))

sigmoid_cross_entropy = register(Loss(
    name="sigmoid_cross_entropy",
    aliases=("bce_with_logits", "sigmoid_binary_cross_entropy"),
    kernel=_sigmoid_cross_entropy,
    has_hessian=True,
    params=(
        Param("pos_weight", None, "None, a scalar or one value per output column, >= 0",
              "Multiplies the loss of positive labels (PyTorch's pos_weight): n_negative / n_positive balances classes.",
              is_array=True),
        _BINARY_SMOOTHING,
    ),
    check_inputs=_check_sigmoid_inputs,
    pair="binary_cross_entropy",
    task="binary", kind="pointwise", prediction_space="logits", label_format="binary",
    summary="Binary cross-entropy on logits: softplus(x) - y x, exact at any logit.",
    formula=r"\ell = w_+\,y\,\operatorname{softplus}(-x) + (1-y)\operatorname{softplus}(x),\ w_+ = \text{pos\_weight}",
    gradient_formula=r"\partial\ell/\partial x = (1-y)\sigma(x) - w_+ y\,\sigma(-x)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The binary cross-entropy of sigmoid(logits), computed in log space: softplus never
        overflows, so logits of +-1e4 give the exact loss and gradient where the probability form
        saturates. Labels may be soft; label_smoothing moves them toward 0.5 and pos_weight scales
        the positive term.
    """,
    when_to_use="Binary and multi-label classification with a linear output layer (the default choice).",
    when_not_to_use="Mutually exclusive classes (softmax_cross_entropy); when only probabilities are available (binary_cross_entropy).",
    pitfalls=(
        "Passing probabilities (sigmoid outputs) applies the sigmoid twice: the loss stays near log 2 and learning stalls.",
        "A -inf logit on a positive label is an infinite loss; on a negative label it costs 0 (PyTorch returns NaN).",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)", "equal",
                   "unweighted; weight=w divides sum(w*l) by the element count, not by sum(w)"),
        Equivalent("keras", "keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=label_smoothing)", "equal"),
        Equivalent("optax", "optax.losses.sigmoid_binary_cross_entropy(logits, y_true).mean()", "equal"),
        Equivalent("sklearn", "SGDClassifier(loss='log_loss')", "equal", "the per-sample loss of SGD"),
        Equivalent("tensorflow", "tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits)", "equal",
                   "with pos_weight: tf.nn.weighted_cross_entropy_with_logits(..., pos_weight=pos_weight)"),
    ),
    references=("https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.sigmoid_cross_entropy([1.0, 0.0], [2.0, -1.0])), 6)
        0.220095
        >>> float(lk.sigmoid_cross_entropy([1.0], [-10000.0]))  # exact far beyond any clip
        10000.0
    """,
))

def _optional_unit_interval(name, value):
    return None if value is None else V.closed_unit_interval(name, value)


def _check_focal_inputs(xp, y_true, logits, params):
    PROBABILITY.check(xp, y_true, "y_true", "Labels must be 0, 1 or a probability in between")


sigmoid_focal = register(Loss(
    name="sigmoid_focal",
    aliases=("binary_focal", "sigmoid_focal_loss", "focal"),
    kernel=_sigmoid_focal,
    params=(
        Param("gamma", 2.0, "finite gamma >= 0",
              "The focusing exponent of (1 - p_t): 0 gives the cross-entropy, larger values mute easy examples.",
              V.non_negative),
        Param("alpha", None, "None or 0 <= alpha <= 1",
              "Weighs positive labels by alpha and negative ones by 1 - alpha (alpha_t = alpha y + (1 - alpha)(1 - y)); "
              "None weighs both by 1.",
              _optional_unit_interval),
    ),
    check_inputs=_check_focal_inputs,
    task="binary", kind="pointwise", prediction_space="logits", label_format="binary",
    summary="Sigmoid focal loss on logits: alpha_t (1 - p_t)^gamma times the binary cross-entropy, exact at any logit.",
    formula=r"\ell = \alpha_t\,(1-p_t)^\gamma\,\mathrm{CE}(y, x),\ p_t = y\sigma(x) + (1-y)(1-\sigma(x)),\ "
            r"\alpha_t = \alpha y + (1-\alpha)(1-y)",
    gradient_formula=r"\partial\ell/\partial x = \alpha_t (1-p_t)^\gamma\left[\sigma(x) - y + \gamma(1-2y)\,"
                     r"\frac{\sigma(x)(1-\sigma(x))}{1-p_t}\,\mathrm{CE}(y, x)\right]",
    output_activation="linear",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        Lin et al.'s focal loss for dense detection and heavily imbalanced binary or multi-label
        data: the cross-entropy of each element is scaled by (1 - p_t)^gamma, so well-classified
        (easy) elements contribute little and the rare hard ones dominate the gradient. alpha, if
        given, weighs positive against negative labels. Labels may be soft (p_t = y p + (1 - y)(1 - p)).
        The focal factor and its derivative are computed in log space from the logits
        (log(1 - p_t) through softplus), so the value and gradient are finite and exact at logits
        of +-1e4 for every gamma >= 0, gamma < 1 included, where (1 - p_t)^gamma has an infinite
        derivative in p_t. gamma = 0 without alpha is sigmoid_cross_entropy exactly.
    """,
    when_to_use="Binary or multi-label classification with many easy negatives (object detection, rare-event labels).",
    when_not_to_use="Balanced data (sigmoid_cross_entropy is convex and calibrated); when calibrated probabilities matter "
                    "(the focal factor biases them toward 0.5).",
    pitfalls=(
        "torchvision.ops.sigmoid_focal_loss defaults to alpha=0.25 (alpha < 0 disables it) and Keras' "
        "BinaryFocalCrossentropy to alpha=0.25 applied only with apply_class_balancing=True; losskit and Optax default "
        "to no alpha. In all of them alpha weighs the positive label.",
        "With gamma < 1 the focal factor has an infinite slope at p_t = 1; implementations that form (1 - p)^gamma from "
        "probabilities return NaN gradients at saturated logits (kornia#918). This one does not.",
        "Keras applies the sigmoid and clips the probability to [1e-7, 1 - 1e-7], so it differs beyond |logit| ~ 16.",
    ),
    equivalents=(
        Equivalent("optax", "optax.losses.sigmoid_focal_loss(logits, y_true, alpha=alpha, gamma=gamma).mean()", "equal"),
        Equivalent("keras", "keras.losses.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=alpha is not None, "
                            "alpha=alpha, gamma=gamma)", "equal",
                   "equal for |logits| below ~16 (Keras clips the sigmoid at 1e-7); Keras' label_smoothing is the "
                   "caller's y * (1 - s) + s / 2 here"),
    ),
    references=(
        "Lin et al., 'Focal Loss for Dense Object Detection', ICCV 2017, https://arxiv.org/abs/1708.02002",
        "https://pytorch.org/vision/main/generated/torchvision.ops.sigmoid_focal_loss.html",
    ),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.sigmoid_focal([1.0, 0.0], [2.0, -1.0])), 6)
        0.012231
        >>> float(lk.sigmoid_focal([1.0], [-2.0], gamma=0.0)) == float(lk.sigmoid_cross_entropy([1.0], [-2.0]))
        True
        >>> lk.sigmoid_focal.grad([1.0, 1.0], [1e4, -1e4], gamma=0.5, reduction="sum")  # finite at saturation
        array([ 0., -1.])
    """,
))

_MARGIN_DESCRIPTION = "Labels are -1/+1; labels that are all 0/1 are converted with 2y - 1."

hinge = register(Loss(
    name="hinge",
    kernel=_hinge,
    has_hessian=True,
    check_inputs=_check_signed_labels,
    task="binary", kind="pointwise", prediction_space="scores", label_format="signed",
    summary="Hinge loss of a margin classifier: max(0, 1 - y * f).",
    formula=r"\ell = \max(0, 1 - y f),\ y\in\{-1,+1\}",
    gradient_formula=r"\partial\ell/\partial f = -y\,[y f < 1]",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=False,
    description=f"""
        The loss of support vector machines: zero once an example is on the right side with margin
        at least 1, linear otherwise. It yields a decision function, not probabilities. {_MARGIN_DESCRIPTION}
    """,
    when_to_use="When only a maximum-margin decision is needed, not calibrated probabilities.",
    when_not_to_use="When probabilities are needed (sigmoid_cross_entropy).",
    pitfalls=("Optax's hinge_loss does not convert {0, 1} labels (a 0 label always costs 1).",),
    equivalents=(
        Equivalent("keras", "keras.losses.Hinge()", "equal"),
        Equivalent("optax", "optax.losses.hinge_loss(y_pred, 2 * y_true - 1).mean()", "equal", "Optax needs -1/+1 labels"),
        Equivalent("sklearn", "sklearn.metrics.hinge_loss(y_true, y_pred)", "equal"),
    ),
    references=("https://en.wikipedia.org/wiki/Hinge_loss",),
    example="""
        >>> import losskit as lk
        >>> lk.hinge([1.0, 0.0, 1.0], [2.0, 0.5, 0.25], reduction="none")
        array([0.  , 1.5 , 0.75])
    """,
))

squared_hinge = register(Loss(
    name="squared_hinge",
    kernel=_squared_hinge,
    has_hessian=True,
    check_inputs=_check_signed_labels,
    task="binary", kind="pointwise", prediction_space="scores", label_format="signed",
    summary="Squared hinge loss: max(0, 1 - y * f)^2, a differentiable hinge.",
    formula=r"\ell = \max(0, 1 - y f)^2",
    gradient_formula=r"\partial\ell/\partial f = -2y\max(0, 1 - y f)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description=f"""
        The hinge squared: differentiable everywhere and harsher on large violations. {_MARGIN_DESCRIPTION}
    """,
    when_to_use="Margin classifiers trained by gradient methods that prefer a smooth loss (L2-SVM).",
    when_not_to_use="Data with mislabelled points: the squared penalty lets them dominate.",
    pitfalls=(),
    equivalents=(
        Equivalent("keras", "keras.losses.SquaredHinge()", "equal"),
        Equivalent("sklearn", "SGDClassifier(loss='squared_hinge')", "equal", "the per-sample loss of SGD"),
    ),
    references=("https://en.wikipedia.org/wiki/Hinge_loss",),
    example="""
        >>> import losskit as lk
        >>> lk.squared_hinge([1.0, -1.0], [0.5, 0.5], reduction="none")
        array([0.25, 2.25])
    """,
))

modified_huber = register(Loss(
    name="modified_huber",
    kernel=_modified_huber,
    has_hessian=True,
    check_inputs=_check_signed_labels,
    task="binary", kind="pointwise", prediction_space="scores", label_format="signed",
    summary="scikit-learn's modified Huber: max(0, 1 - y f)^2 for y f >= -1, else -4 y f.",
    formula=r"\ell = \begin{cases}\max(0, 1 - z)^2 & z \ge -1\\ -4z & z < -1\end{cases},\ z = y f",
    gradient_formula=r"\partial\ell/\partial f = y\cdot\begin{cases}-2\max(0, 1-z) & z\ge -1\\ -4 & z<-1\end{cases}",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=True,
    description=f"""
        A squared hinge whose tail becomes linear for badly misclassified points, so label noise
        cannot dominate; also yields rough probabilities (clip(f, -1, 1) + 1) / 2. {_MARGIN_DESCRIPTION}
    """,
    when_to_use="Margin classifiers on noisy labels; scikit-learn SGDClassifier(loss='modified_huber') ports.",
    when_not_to_use="When calibrated probabilities are needed.",
    pitfalls=(),
    equivalents=(
        Equivalent("sklearn", "SGDClassifier(loss='modified_huber')", "equal", "the per-sample loss of SGD"),
    ),
    references=("Zhang, 'Solving large scale linear prediction problems using SGD', ICML 2004",),
    example="""
        >>> import losskit as lk
        >>> lk.modified_huber([1.0, 1.0], [0.5, -3.0], reduction="none")
        array([ 0.25, 12.  ])
    """,
))

logistic = register(Loss(
    name="logistic",
    aliases=("soft_margin",),
    kernel=_logistic,
    has_hessian=True,
    check_inputs=_check_signed_labels,
    task="binary", kind="pointwise", prediction_space="scores", label_format="signed",
    summary="Logistic (soft-margin) loss: log(1 + exp(-y * f)), without overflow.",
    formula=r"\ell = \log(1 + e^{-y f})",
    gradient_formula=r"\partial\ell/\partial f = -y\,\sigma(-y f)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description=f"""
        Logistic regression's loss written with -1/+1 labels; equal to sigmoid_cross_entropy on
        the same scores with {{0, 1}} labels. {_MARGIN_DESCRIPTION}
    """,
    when_to_use="Porting code written for PyTorch's SoftMarginLoss or with -1/+1 labels.",
    when_not_to_use="With {0, 1} labels and logits sigmoid_cross_entropy says the same more plainly.",
    pitfalls=("PyTorch's SoftMarginLoss overflows to inf for margins below about -88 in float32; this one does not.",),
    equivalents=(
        Equivalent("torch", "torch.nn.SoftMarginLoss()", "equal", "equal where PyTorch does not overflow; needs -1/+1 labels"),
    ),
    references=("https://en.wikipedia.org/wiki/Loss_functions_for_classification#Logistic_loss",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.logistic([1.0], [-1000.0])), 3)
        1000.0
    """,
))

# Lets pytest --doctest-modules run the example of every loss in this module.
__test__ = {name: globals()[name].__doc__ for name in __all__}
