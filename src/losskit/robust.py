"""Robust regression losses: Barron's general and adaptive robust loss and its named members.

Barron (2019) writes a one-parameter family of penalties of the scaled residual ``x = e / c``,
``e = y_pred - y_true``::

    rho(x, alpha) = |alpha - 2| / alpha * ((x^2 / |alpha - 2| + 1)^(alpha / 2) - 1)

whose shape parameter ``alpha`` moves continuously from the squared error (alpha = 2) through
pseudo-Huber / Charbonnier (1), Cauchy (0) and Geman-McClure (-2) to Welsch (-inf). The formula
itself is 0/0 at alpha = 0 and 2 and undefined at -inf; the kernel here takes the limits there
and a form without cancellation everywhere else, so the loss and its gradient are continuous in
alpha (``general_robust(alpha=2 - 1e-9)`` is the half squared error to ~1e-8).

Every loss returns the unreduced penalty and, when asked, its derivative with respect to
``y_pred``; :class:`losskit.Loss` applies the shape checks, the weights and the reduction.
"""

from __future__ import annotations

import math
import sys

from . import _validation as V
from ._loss import Equivalent, KernelResult, Loss, Param
from ._registry import register

__all__ = ["general_robust", "cauchy", "geman_mcclure", "welsch"]



# ------------------------------------------------------------------------------------ kernels

def _square_limit(xp, x) -> float:
    """The largest magnitude whose square is safely finite in x's dtype (6.7e153 in float64, 9.2e18 in float32).

    Beyond it residuals are squared in log space: log1p(x^2 / eps) is at most ~710 even where x^2
    overflows, and the bounded losses stay exact there.
    """
    return 0.5 * math.sqrt(float(xp.finfo(x.dtype).max))


def _log1p_scaled_square(xp, magnitude, eps: float):
    """log1p(x^2 / eps) for |x| = magnitude >= 0, without overflowing x^2.

    With u = |x| / sqrt(eps): log1p(u^2) below the square limit, 2 log u above it (their
    difference, log1p(1/u^2), is below 1e-37 there). Each branch sees a clipped u, so neither
    overflows.
    """
    limit = _square_limit(xp, magnitude)
    u = magnitude / math.sqrt(eps)
    inside = xp.clip(u, max=limit)
    outside = xp.clip(u, min=limit)
    return xp.where(u <= limit, xp.log1p(inside * inside), 2.0 * xp.log(outside))


def _tail_gradient(xp, x, magnitude, grad, alpha, eps, inverse_scale):
    """The gradient x (1 + u^2)^(alpha/2 - 1) / c for u = |x| / sqrt(eps) > 1, without underflow.

    The weight (1 + u^2)^(alpha/2 - 1) alone underflows while x times it is representable (Cauchy
    at |x| = 1e30 in float32: the weight 1e-60, the gradient 2e-30). For u > 1 the gradient is
    sign(x) sqrt(eps) u^(alpha - 1) (1 + 1/u^2)^(alpha/2 - 1) / c: for alpha < 2 each factor is
    at most the result's magnitude times a bounded constant, so it underflows only where the
    result does. u = inf and NaN keep the weighted form (NaN there, as before).
    """
    u = magnitude / math.sqrt(eps)
    tail = (u > 1.0) & (u < math.inf)
    safe = xp.where(tail, u, xp.full_like(u, 2.0))
    inverse = 1.0 / safe
    correction = xp.exp((0.5 * alpha - 1.0) * xp.log1p(inverse * inverse))
    power = inverse if alpha == 0.0 else safe ** (alpha - 1.0)
    tail_grad = xp.sign(x) * ((math.sqrt(eps) * inverse_scale) * power * correction)
    return xp.where(tail, tail_grad, grad)


def _barron(xp, y_true, y_pred, *, alpha, scale, with_grad, with_hess=False):
    residual = y_pred - y_true
    x = residual / scale
    magnitude = xp.abs(x)
    inverse_scale = 1.0 / scale
    if alpha == 2.0:
        # The limit alpha -> 2: half the squared scaled residual.
        loss = 0.5 * x * x
        grad = x * inverse_scale if with_grad else None
        hess = xp.full_like(x, inverse_scale * inverse_scale) if with_hess else None
        return KernelResult(loss, grad, hess=hess)
    # -inf is tested as "below every finite float": torch.compile turns a float argument that
    # changes between calls into a symbolic one, whose comparison with -inf itself misfires.
    if alpha < -sys.float_info.max:
        # The limit alpha -> -inf (Welsch / Leclerc): 1 - exp(-x^2/2), written -expm1 so that
        # small residuals keep their relative accuracy. x^2 is formed from a clipped |x|: beyond
        # the square limit the exponential is 0 either way.
        clipped = xp.clip(magnitude, max=_square_limit(xp, magnitude))
        half_square = 0.5 * clipped * clipped
        loss = -xp.expm1(-half_square)
        if not with_grad:
            return KernelResult(loss)
        weight = xp.exp(-half_square)
        grad = x * weight * inverse_scale
        hess = (1.0 - 2.0 * half_square) * weight * inverse_scale * inverse_scale if with_hess else None
        return KernelResult(loss, grad, hess=hess)
    eps = abs(alpha - 2.0)
    # L = log(1 + x^2/|alpha - 2|): the whole family is a function of it. (1 + q)^(alpha/2) - 1 is
    # expm1(alpha/2 L), so the loss |alpha-2|/alpha expm1(alpha L / 2) has no cancellation for
    # small residuals and tends to L itself as alpha -> 0 (expm1(t)/t -> 1): alpha = 1e-9 is
    # Cauchy to ~1e-9 and alpha = 0 takes that limit exactly. Near alpha = 2, q = x^2/eps is huge
    # but L stays ~log(1/eps) and the product tends to x^2/2 without a 0/0.
    log_term = _log1p_scaled_square(xp, magnitude, eps)
    if alpha == 0.0:
        loss = log_term  # Cauchy / Lorentzian: log(1 + x^2/2)
    else:
        loss = (eps / alpha) * xp.expm1((0.5 * alpha) * log_term)
    if not with_grad:
        return KernelResult(loss)
    # d rho / d x = x (1 + q)^(alpha/2 - 1) = x exp((alpha/2 - 1) L): a weight in (0, 1] for
    # alpha <= 2 (the IRLS weight of the residual), 1 in the alpha -> 2 limit.
    weight = xp.exp((0.5 * alpha - 1.0) * log_term)
    grad = x * weight * inverse_scale
    if alpha < 2.0:
        grad = _tail_gradient(xp, x, magnitude, grad, alpha, eps, inverse_scale)
    hess = None
    if with_hess:
        # d^2 rho / d x^2 = (1 + q)^(alpha/2 - 2) (1 + (alpha - 1) q)
        #                 = (1 + q)^(alpha/2 - 1) ((alpha - 1) + (2 - alpha) / (1 + q)),
        # written with 1 / (1 + q) = exp(-L) so that a huge q (alpha near 2) cannot overflow.
        # Negative beyond |x| = sqrt(eps / (1 - alpha)) for alpha < 1: the loss is not convex there.
        hess = weight * ((alpha - 1.0) + (2.0 - alpha) * xp.exp(-log_term)) * inverse_scale * inverse_scale
    return KernelResult(loss, grad, hess=hess)


# The named members are plain functions with their alpha written out, not closures over a float:
# torch.compile may treat a closed-over float that differs between compiled calls as a dynamic
# input, and the Python branches on alpha above must see a constant.

def _cauchy(xp, y_true, y_pred, *, scale, with_grad, with_hess=False):
    return _barron(xp, y_true, y_pred, alpha=0.0, scale=scale, with_grad=with_grad, with_hess=with_hess)


def _geman_mcclure(xp, y_true, y_pred, *, scale, with_grad, with_hess=False):
    return _barron(xp, y_true, y_pred, alpha=-2.0, scale=scale, with_grad=with_grad, with_hess=with_hess)


def _welsch(xp, y_true, y_pred, *, scale, with_grad, with_hess=False):
    return _barron(xp, y_true, y_pred, alpha=-math.inf, scale=scale, with_grad=with_grad, with_hess=with_hess)


# ----------------------------------------------------------------------------------- registry

def _shape_parameter(name, value):
    number = V._as_real(name, value)
    if number == math.inf:
        raise ValueError(
            f"{name} must be a real number or -inf; got {value!r} (alpha = +inf, exp(x^2/2) - 1, grows "
            "faster than any power and is not supported)"
        )
    return number


_SCALE = Param("scale", 1.0, "> 0",
               "Scale c of the residual: residuals well below c cost about (e/c)^2 / 2, the quadratic zone.",
               V.positive)
_KORNIA_SCALE = "kornia has no scale argument: it is losskit's at scale 1, and at scale c on inputs divided by c"
_BARRON = ("Barron, 'A General and Adaptive Robust Loss Function', CVPR 2019, arXiv:1701.03077",)

general_robust = register(Loss(
    name="general_robust",
    aliases=("barron", "general_adaptive_robust"),
    kernel=_barron,
    has_hessian=True,
    params=(
        Param("alpha", 1.0, "a real number or -inf",
              "Shape: 2 squared error, 1 pseudo-Huber, 0 Cauchy, -2 Geman-McClure, -inf Welsch; lower is more robust.",
              _shape_parameter),
        _SCALE,
    ),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Barron's general robust loss: |a-2|/a * (((e/c)^2/|a-2| + 1)^(a/2) - 1), with its limits at a = 2, 0, -inf.",
    formula=r"\rho = \frac{|\alpha-2|}{\alpha}\left(\left(\frac{(e/c)^2}{|\alpha-2|} + 1\right)^{\alpha/2} - 1\right);\ "
            r"\alpha=2: \tfrac12(e/c)^2,\ \alpha=0: \log(\tfrac12(e/c)^2 + 1),\ \alpha=-\infty: 1 - e^{-(e/c)^2/2}",
    gradient_formula=r"\partial\rho/\partial\hat y = \frac{e}{c^2}\left(\frac{(e/c)^2}{|\alpha-2|} + 1\right)^{\alpha/2 - 1}",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        One loss whose shape parameter alpha interpolates between the classic robust penalties:
        about (e/c)^2 / 2 for residuals below the scale c whatever alpha is, and growing like
        |e|^alpha beyond it (bounded for alpha <= 0, so gross outliers stop pulling at all). It
        is convex only for alpha >= 1. The limits alpha = 2, 0 and -inf are taken exactly, and
        the loss and its gradient are continuous in alpha across them.
    """,
    when_to_use="Regression with outliers when the degree of robustness should be tuned (or annealed from 2 down) rather than fixed; robust fitting in vision (flow, depth, registration).",
    when_not_to_use="Clean Gaussian noise (alpha = 2 is just half_squared_error); when a convex problem is needed (keep alpha >= 1, or use huber).",
    pitfalls=(
        "alpha < 1 is non-convex: start from alpha = 2 (or a robust initial fit) and lower it, or the fit "
        "can ignore most of the data.",
        "The scale c is in target units: standardise targets or set c to a typical inlier residual.",
        "Barron's adaptive version also learns alpha and c through a normalised likelihood; this is the "
        "loss with both fixed (the gradient is with respect to y_pred only).",
        "Near alpha = 2 the family departs from (e/c)^2/2 like |alpha - 2| log(1/|alpha - 2|): "
        "continuous, but not differentiable in alpha there.",
    ),
    equivalents=(
        Equivalent("kornia", "kornia.losses.charbonnier_loss (alpha=1), cauchy_loss (0), geman_mcclure_loss (-2), "
                   "welsch_loss (-inf)", "different",
                   "kornia has the loss only at these four alphas and scale 1 (see cauchy, geman_mcclure, welsch, "
                   "pseudo_huber), no general alpha"),
    ),
    references=_BARRON,
    example="""
        >>> import losskit as lk
        >>> [round(float(lk.general_robust([0.0], [2.0], alpha=a)), 6) for a in (2.0, 1.0, 0.0, -2.0, float("-inf"))]
        [2.0, 1.236068, 1.098612, 1.0, 0.864665]
    """,
))

cauchy = register(Loss(
    name="cauchy",
    aliases=("cauchy_loss", "lorentzian"),
    kernel=_cauchy,
    has_hessian=True,
    params=(_SCALE,),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Cauchy (Lorentzian) loss: log(0.5 (e/c)^2 + 1), Barron's loss at alpha = 0.",
    formula=r"\rho = \log\left(\tfrac12 (e/c)^2 + 1\right)",
    gradient_formula=r"\partial\rho/\partial\hat y = \frac{e}{c^2 + e^2/2}",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        The negative log-likelihood of Cauchy noise (up to a constant): quadratic near 0 and
        logarithmic beyond the scale, so an outlier's pull e / (c^2 + e^2/2) fades like 1/e.
        Unbounded, but so slowly that a residual of 1e6 costs only about 27.
    """,
    when_to_use="Regression or fitting with heavy-tailed noise and many outliers, when a bounded loss (welsch) is too aggressive.",
    when_not_to_use="Convex problems that must stay convex (huber, pseudo_huber); clean data (mean_squared_error).",
    pitfalls=("Non-convex beyond |e| = sqrt(2) c: initialise from a convex fit.",),
    equivalents=(
        Equivalent("kornia", "kornia.losses.cauchy_loss(y_pred / scale, y_true / scale)", "equal", _KORNIA_SCALE),
    ),
    references=_BARRON + ("Black and Anandan, 'The robust estimation of multiple motions', CVIU 63 (1996)",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.cauchy([0.0], [2.0])), 6)  # log(3)
        1.098612
    """,
))

geman_mcclure = register(Loss(
    name="geman_mcclure",
    aliases=("geman_mcclure_loss",),
    kernel=_geman_mcclure,
    has_hessian=True,
    params=(_SCALE,),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Geman-McClure loss: 2 (e/c)^2 / ((e/c)^2 + 4), Barron's loss at alpha = -2; bounded by 2.",
    formula=r"\rho = \frac{2 (e/c)^2}{(e/c)^2 + 4}",
    gradient_formula=r"\partial\rho/\partial\hat y = \frac{16\,e/c^2}{((e/c)^2 + 4)^2}",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        A bounded penalty: about (e/c)^2 / 2 for small residuals, saturating at 2 for large
        ones, so a gross outlier costs a constant and its gradient vanishes like 1/e^3.
    """,
    when_to_use="Fitting with gross outliers (registration, structure from motion) from a good initialisation.",
    when_not_to_use="Training from scratch where many residuals start large (their gradient is almost 0); convex problems.",
    pitfalls=(
        "Barron's form (used here and by kornia) is 2x^2/(x^2+4), x = e/c; the original Geman-McClure "
        "e^2/(e^2 + sigma^2) is half of it at scale c = sigma/2.",
    ),
    equivalents=(
        Equivalent("kornia", "kornia.losses.geman_mcclure_loss(y_pred / scale, y_true / scale)", "equal", _KORNIA_SCALE),
    ),
    references=_BARRON + ("Geman and McClure, 'Statistical methods for tomographic image reconstruction', 1987",),
    example="""
        >>> import losskit as lk
        >>> float(lk.geman_mcclure([0.0], [2.0]))  # 2 * 4 / 8
        1.0
    """,
))

welsch = register(Loss(
    name="welsch",
    aliases=("welsch_loss", "leclerc"),
    kernel=_welsch,
    has_hessian=True,
    params=(_SCALE,),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Welsch (Leclerc) loss: 1 - exp(-(e/c)^2 / 2), Barron's loss at alpha = -inf; bounded by 1.",
    formula=r"\rho = 1 - \exp\left(-\tfrac12 (e/c)^2\right)",
    gradient_formula=r"\partial\rho/\partial\hat y = \frac{e}{c^2}\exp\left(-\tfrac12 (e/c)^2\right)",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        One minus a Gaussian kernel of the residual (correntropy): quadratic near 0 and
        saturating at 1, with a gradient that vanishes exponentially, so residuals beyond a few
        scales are ignored entirely. The most robust member of Barron's family.
    """,
    when_to_use="Fitting with a large fraction of gross outliers from a good initialisation (mode seeking, correntropy).",
    when_not_to_use="Training from a poor start: residuals beyond ~3 scales get no gradient at all.",
    pitfalls=("Computed as -expm1(-x^2/2): exact for small residuals, 1 (not NaN) at residuals of 1e30 and beyond.",),
    equivalents=(
        Equivalent("kornia", "kornia.losses.welsch_loss(y_pred / scale, y_true / scale)", "equal", _KORNIA_SCALE),
    ),
    references=_BARRON + ("Dennis and Welsch, 'Techniques for nonlinear least squares and robust regression', 1978",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.welsch([0.0, 0.0], [2.0, 1e30])), 6)  # (1 - exp(-2) + 1) / 2
        0.932332
    """,
))

# Lets pytest --doctest-modules run the example of every loss in this module.
__test__ = {name: globals()[name].__doc__ for name in __all__}
