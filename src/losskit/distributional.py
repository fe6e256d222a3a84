"""Distributional regression losses: the model predicts a distribution, not only a point.

A loss here takes several prediction inputs (the mean and the variance of a Gaussian) and has an
analytic gradient for each; ``loss.grad`` returns one gradient per prediction, in call order.
"""

from __future__ import annotations

import math

from . import _validation as V
from ._array import clamped_log
from ._kernels import keep_nan
from ._loss import NON_NEGATIVE, PROBABILITY, Equivalent, KernelResult, Loss, Param
from ._registry import register

__all__ = ["gaussian_nll", "jensen_shannon"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _gaussian_nll(xp, y_true, mean, variance, *, full, eps, with_grad, with_hess=False):
    # The variance is clamped at eps in the value and, as PyTorch does (its clamp runs under
    # no_grad), the derivative is taken at the clamped variance and passed straight through: a
    # variance head that collapses to 0 still receives the gradient that pushes it back up,
    # instead of the zero gradient of a clamp.
    clamped = xp.clip(variance, min=eps)
    residual = mean - y_true
    squared = residual * residual
    # r^2 / v as (r / 2) (r / v): r^2 alone overflows at |r| ~ 1.8e19 in float32 where the loss
    # (v large) is representable; the product overflows only where the loss does.
    loss = 0.5 * xp.log(clamped) + (0.5 * residual) * (residual / clamped)
    if full:
        loss = loss + _HALF_LOG_2PI
    if not with_grad:
        return KernelResult(loss)
    grad_mean = residual / clamped
    grad_variance = 0.5 * (1.0 - squared / clamped) / clamped
    if not with_hess:
        return KernelResult(loss, (grad_mean, grad_variance))
    # One diagonal per prediction (the mixed term -(mu - y) / v^2 is not part of either).
    # d/dv of the variance gradient is (r^2 / v - 1/2) / v^2 above eps, negative for r^2 < v/2
    # (the loss is not convex in v); below eps the passed-through gradient is constant in v,
    # so its derivative is 0 there, as for the other floors of the catalog.
    hess_mean = 1.0 / clamped
    hess_variance = xp.where(variance > eps, (squared / clamped - 0.5) / (clamped * clamped), 0.0)
    return KernelResult(loss, (grad_mean, grad_variance), hess=(hess_mean, hess_variance))


def _check_gaussian(xp, y_true, mean, variance, params):
    NON_NEGATIVE.check(xp, variance, "variance", "PyTorch raises on a negative variance too; use a softplus output")


gaussian_nll = register(Loss(
    name="gaussian_nll",
    aliases=("gaussian_nll_loss",),
    kernel=_gaussian_nll,
    has_hessian=True,
    inputs=("mean", "variance"),
    input_shapes=("same",),
    check_inputs=_check_gaussian,
    params=(
        Param("full", False, "True or False", "Add the constant 0.5 log(2 pi) of the full log-likelihood.", V.boolean),
        Param("eps", 1e-6, "> 0", "Floor of the variance, for stability.", V.positive),
    ),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Gaussian negative log-likelihood of y_true under N(mean, variance): 0.5 (log v + (mean - y)^2 / v).",
    formula=r"\ell = \tfrac12\left(\log\max(v,\epsilon) + \frac{(\mu - y)^2}{\max(v,\epsilon)}\right) "
            r"\ [+\tfrac12\log 2\pi\ \text{if full}]",
    gradient_formula=r"\partial\ell/\partial\mu = (\mu - y)/\tilde v,\ "
                     r"\partial\ell/\partial v = \tfrac12\left(1 - (\mu - y)^2/\tilde v\right)/\tilde v,\ "
                     r"\tilde v = \max(v, \epsilon)",
    output_activation="linear, softplus",  # one per prediction: the mean, the variance
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        A model with two outputs, a mean and a variance per target, fitted by maximum
        likelihood: it learns where it is uncertain (heteroscedastic regression). With a fixed
        variance it is mean_squared_error scaled by 1 / (2 v) plus a constant. The variance is
        floored at eps; the gradient is taken at the floored value and passed through, as in
        PyTorch's GaussianNLLLoss.
    """,
    when_to_use="Regression that must report its own uncertainty (heteroscedastic noise, active learning, calibrated intervals).",
    when_not_to_use="When only a point prediction is needed (mean_squared_error); heavy-tailed noise (a Student-t or Laplace likelihood).",
    pitfalls=(
        "The variance must be positive: use softplus or exp on the variance head, never a linear output.",
        "PyTorch broadcasts a variance of shape (N, 1) or (N,) against (N, D); losskit requires the mean's shape.",
        "Early in training the model can explain residuals by inflating the variance; a warm-up with a fixed variance helps.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.GaussianNLLLoss(full=full, eps=eps)(mean, y_true, variance)", "equal",
                   "value and both gradients; PyTorch broadcasts a variance of fewer dimensions"),
        Equivalent("keras", "none", "different", "Keras has no Gaussian likelihood loss"),
    ),
    references=("Nix and Weigend, 'Estimating the mean and variance of the target probability distribution', ICNN 1994",
                "https://pytorch.org/docs/stable/generated/torch.nn.GaussianNLLLoss.html"),
    example="""
        >>> import losskit as lk
        >>> float(lk.gaussian_nll([0.0, 0.0], [1.0, 2.0], [1.0, 4.0]))  # (0.5 * (0 + 1) + 0.5 * (log 4 + 1)) / 2
        0.8465735902799727
        >>> grad_mean, grad_variance = lk.gaussian_nll.grad([0.0], [1.0], [1.0])
        >>> float(grad_mean[0]), float(grad_variance[0])
        (1.0, 0.0)
    """,
))


# ---------------------------------------------------------------------------- jensen_shannon

def _jensen_shannon(xp, y_true, y_pred, *, with_grad, with_hess=False):
    # 0.5 KL(t || m) + 0.5 KL(p || m), m = (t + p) / 2, written as t log(2t / (t + p)): each term
    # is 0 where its own probability is 0 (x log x -> 0, as scipy's rel_entr), and t + p > 0
    # wherever the term is kept, so nothing divides by 0.
    total = y_true + y_pred
    safe_total = xp.where(total > 0, total, 1.0)

    def half_term(a):
        positive = a > 0
        ratio = xp.where(positive, 2.0 * a / safe_total, 1.0)
        return xp.where(positive, a * xp.log(ratio), xp.where(a == a, 0.0, a))  # NaN in, NaN out

    loss = 0.5 * xp.sum(half_term(y_true) + half_term(y_pred), axis=-1)
    if not with_grad:
        return KernelResult(loss)
    # d/dp of the sum is 0.5 log(2p / (t + p)) = 0.5 log(p / m): the terms in 1/(t + p) cancel.
    # At p = 0 < t it is -inf; it is floored by clamped_log as the catalog's other logs. At
    # t = p = 0 the limit (p -> 0+) is 0.5 log 2.
    ratio = keep_nan(xp, xp.where(total > 0, 2.0 * y_pred / safe_total, 2.0), total)  # NaN in, NaN out
    return KernelResult(loss, 0.5 * clamped_log(xp, ratio))


def _check_distributions(xp, y_true, y_pred, params):
    PROBABILITY.check(xp, y_true, "y_true", "Both arguments are probability distributions")
    V.check_rows_sum_to_one(xp, y_true, "y_true", "scipy normalises its inputs; losskit requires distributions")
    PROBABILITY.check(xp, y_pred, "y_pred", "If y_pred holds logits, apply a softmax first")
    V.check_rows_sum_to_one(xp, y_pred, "y_pred", "If y_pred holds logits, apply a softmax first; scipy normalises "
                            "its inputs, losskit requires distributions")


jensen_shannon = register(Loss(
    name="jensen_shannon",
    aliases=("js_divergence", "jensen_shannon_divergence"),
    kernel=_jensen_shannon,
    check_inputs=_check_distributions,
    task="multiclass", kind="dense", prediction_space="probabilities", label_format="distribution",
    summary="Jensen-Shannon divergence of two distributions over the last axis (natural log), symmetric and bounded by log 2.",
    formula=r"\ell = \tfrac12\textstyle\sum_c \left(t_c\log\frac{t_c}{m_c} + p_c\log\frac{p_c}{m_c}\right),\ "
            r"m = \tfrac12(t + p),\ 0\log 0 = 0",
    gradient_formula=r"\partial\ell/\partial p_c = \tfrac12\log(p_c / m_c)\ "
                     r"(\text{floored at } \tfrac12\cdot(-100) \text{ where } p_c = 0 < t_c)",
    output_activation="softmax",
    convex=True, robust_to_outliers=True, differentiable=True,
    description="""
        The symmetrised, smoothed KL divergence: the mean KL of both distributions to their
        midpoint. It is 0 for equal distributions, log 2 for disjoint ones, finite wherever one
        of them is 0 (unlike KL), and symmetric in its arguments (so the gradient in y_true has
        the same form, 0.5 log(t / m)). Its square root is SciPy's jensenshannon distance.
    """,
    when_to_use="Comparing distributions that may have disjoint support (GAN theory, distribution shift, soft-label agreement).",
    when_not_to_use="Distillation of a teacher's soft labels (kl_divergence or softmax_cross_entropy have better gradients).",
    pitfalls=(
        "SciPy's jensenshannon is the distance, the square root of this divergence, and it normalises its inputs to sum 1; losskit requires distributions.",
        "Near disjoint supports the gradient vanishes (the loss saturates at log 2), the known weakness of the original GAN objective.",
        "The natural log: divide by log 2 for bits (SciPy's base=2).",
    ),
    equivalents=(
        Equivalent("scipy", "scipy.spatial.distance.jensenshannon(y_true, y_pred, axis=-1) ** 2", "equal",
                   "SciPy returns the distance (its square root) and normalises rows to sum 1"),
        Equivalent("torch", "none", "different", "PyTorch has no Jensen-Shannon loss"),
    ),
    references=("Lin, 'Divergence measures based on the Shannon entropy', IEEE Trans. Inf. Theory 1991",
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.spatial.distance.jensenshannon.html"),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.jensen_shannon([[1.0, 0.0]], [[0.0, 1.0]])), 6)  # disjoint: log 2
        0.693147
    """,
))

__test__ = {name: globals()[name].__doc__ for name in __all__}
