"""Regression losses: pointwise penalties of the residual ``e = y_pred - y_true``.

Each kernel returns the unreduced loss and, when asked, its derivative with respect to
``y_pred``; :class:`losskit.Loss` applies the shape checks, the weights and the reduction.
"""

from __future__ import annotations

import math

from . import _validation as V
from ._array import GRAD_DENOMINATOR_FLOOR, sign, softplus
from ._kernels import GRAD_FLOOR_PITFALL, floored, keep_nan
from ._loss import NON_NEGATIVE, Equivalent, KernelResult, Loss, Param, check_domains
from ._registry import register

__all__ = [
    "mean_squared_error",
    "half_squared_error",
    "mean_absolute_error",
    "root_mean_squared_error",
    "mean_squared_logarithmic_error",
    "root_mean_squared_logarithmic_error",
    "mean_absolute_percentage_error",
    "huber",
    "smooth_l1",
    "pseudo_huber",
    "log_cosh",
    "quantile",
    "epsilon_insensitive",
    "poisson",
    "gamma_deviance",
    "tweedie_deviance",
]

_LOG2 = math.log(2.0)


# ------------------------------------------------------------------------------------ kernels

def _squared_error(xp, y_true, y_pred, *, with_grad, with_hess=False, factored=False):
    # factored (passed by _kernels.run, see losskit_grad_factor): the gradient without its factor
    # 2, which the reduction applies after its 1/n, so that the mean's 2r/n is not lost to 2r
    # overflowing (|r| > 1.7e38 in float32). 2 is a power of two: the order changes no other bit.
    residual = y_pred - y_true
    hess = xp.full_like(residual, 2.0) if with_hess else None
    grad = (residual if factored else 2.0 * residual) if with_grad else None
    return KernelResult(residual * residual, grad, hess=hess)


_squared_error.losskit_grad_factor = 2.0


def _half_squared_error(xp, y_true, y_pred, *, with_grad, with_hess=False):
    residual = y_pred - y_true
    hess = xp.ones_like(residual) if with_hess else None
    return KernelResult(0.5 * residual * residual, residual if with_grad else None, hess=hess)


def _absolute_error(xp, y_true, y_pred, *, with_grad, with_hess=False):
    residual = y_pred - y_true
    # Linear on each side of the kink; at e = 0 the second derivative is taken as 0, the same
    # convention as the subgradient sign(0) = 0 (the true one is a Dirac delta).
    hess = xp.zeros_like(residual) if with_hess else None
    return KernelResult(xp.abs(residual), sign(xp, residual) if with_grad else None, hess=hess)


# The root costs' kernels return the residual r and dr/dy_pred; _reduction.reduce(root=True)
# forms sqrt(mean(w r^2)) from them as a scaled norm, so r^2 never overflows (docs/numerics.md).

def _residual(xp, y_true, y_pred, *, with_grad):
    residual = y_pred - y_true
    return KernelResult(residual, xp.ones_like(residual) if with_grad else None)


def _log_residual(xp, y_true, y_pred, *, with_grad):
    return KernelResult(xp.log1p(y_pred) - xp.log1p(y_true), 1.0 / (1.0 + y_pred) if with_grad else None)


def _squared_log_error(xp, y_true, y_pred, *, with_grad, with_hess=False):
    log_gap = xp.log1p(y_pred) - xp.log1p(y_true)
    grad = 2.0 * log_gap / (1.0 + y_pred) if with_grad else None
    hess = None
    if with_hess:
        # 2 (1 - gap) / (1 + p)^2 is negative once log1p(p) exceeds log1p(y) by more than 1: the
        # loss is not convex in y_pred there. It is returned as it is, not floored at 0, so a
        # Newton method sees the true curvature and chooses its own safeguard.
        one_plus = 1.0 + y_pred
        hess = 2.0 * (1.0 - log_gap) / (one_plus * one_plus)
    return KernelResult(log_gap * log_gap, grad, hess=hess)


def _make_percentage_error(epsilon: float):
    def kernel(xp, y_true, y_pred, *, with_grad, with_hess=False, epsilon=epsilon):
        residual = y_pred - y_true
        # Keras' guard: a target of 0 is divided by epsilon, a huge but finite percentage.
        scale = 100.0 / xp.clip(xp.abs(y_true), min=epsilon)
        # Linear in y_pred on each side of e = 0, where the second derivative is taken as 0.
        hess = xp.zeros_like(residual) if with_hess else None
        return KernelResult(scale * xp.abs(residual), scale * sign(xp, residual) if with_grad else None, hess=hess)

    return kernel


def _huber(xp, y_true, y_pred, *, delta, with_grad, with_hess=False):
    residual = y_pred - y_true
    magnitude = xp.abs(residual)
    # With q = min(|e|, delta): q * (|e| - q/2) is 0.5 e^2 inside the band and
    # delta * (|e| - delta/2) outside it, one expression with no branch to differentiate twice.
    inner = xp.clip(magnitude, max=delta)
    loss = inner * (magnitude - 0.5 * inner)
    # 1 inside the band, 0 on the linear tails. At |e| = delta the second derivative jumps from 1
    # to 0 and is taken as 0, the catalog's convention at every kink (scikit-learn's HuberLoss
    # takes 1 there).
    hess = xp.astype(magnitude < delta, residual.dtype) if with_hess else None
    return KernelResult(loss, xp.clip(residual, min=-delta, max=delta) if with_grad else None, hess=hess)


def _smooth_l1(xp, y_true, y_pred, *, beta, with_grad, with_hess=False):
    if beta == 0.0:  # PyTorch's limit: SmoothL1 with beta = 0 is the absolute error.
        return _absolute_error(xp, y_true, y_pred, with_grad=with_grad, with_hess=with_hess)
    result = _huber(xp, y_true, y_pred, delta=beta, with_grad=with_grad, with_hess=with_hess)
    return KernelResult(
        result.loss / beta,
        None if result.grad is None else result.grad / beta,
        hess=None if result.hess is None else result.hess / beta,
    )


def _pseudo_huber(xp, y_true, y_pred, *, delta, with_grad, with_hess=False):
    residual = y_pred - y_true
    magnitude = xp.abs(residual)
    scaled = magnitude / delta
    root = xp.hypot(xp.ones_like(scaled), scaled)  # sqrt(1 + (e/delta)^2) without overflow
    # delta^2 (sqrt(1 + a^2) - 1), a = |e|/delta. Below a = 1 as delta^2 a^2 / (root + 1), which
    # does not cancel; from a = 1 on as delta^2 (root - 1), which cannot cancel there either
    # (root - 1 >= 0.41). Autodiff (a target's gradient, taken from this expression) then sees
    # no a^2 beyond a = 1: d/da of a^2 / (root + 1) divides by (root + 1)^2, which overflows at
    # a ~ 1.8e19 in float32 and doubled the gradient. The near branch sees a clipped a, so that
    # neither branch overflows (an inf in the unused branch of a where() poisons autograd).
    near_scaled = xp.clip(scaled, max=1.0)
    near = near_scaled * near_scaled / (xp.hypot(xp.ones_like(near_scaled), near_scaled) + 1.0)
    loss = (delta * delta) * xp.where(scaled < 1.0, near, root - 1.0)
    hess = None
    if with_hess:
        # d/de (e / root) = 1/root - (e/delta)^2 / root^3 = 1/root^3, as root^2 = 1 + (e/delta)^2;
        # it underflows gracefully to 0 for huge residuals instead of cancelling.
        inverse = 1.0 / root
        hess = inverse * inverse * inverse
    return KernelResult(loss, residual / root if with_grad else None, hess=hess)


def _log_cosh(xp, y_true, y_pred, *, with_grad, with_hess=False):
    residual = y_pred - y_true
    magnitude = xp.abs(residual)
    # Far from 0: log cosh(e) = |e| + log(1 + e^{-2|e|}) - log 2, because cosh itself overflows
    # at |e| ~ 89 in float32. Near 0 that difference cancels (a residual of 1e-4 gives 0 in
    # float32), so there log cosh(e) = log1p(2 sinh(e/2)^2), exact to rounding. The near branch
    # sees a clipped residual so that neither branch can overflow (an inf in the unused branch
    # of a where() still poisons autograd).
    half = xp.clip(residual, min=-1.0, max=1.0) * 0.5
    sinh_half = xp.sinh(half)
    near = xp.log1p(2.0 * sinh_half * sinh_half)
    far = magnitude + softplus(xp, -2.0 * magnitude) - _LOG2
    loss = xp.where(magnitude < 1.0, near, far)
    hess = None
    if with_hess:
        # sech(e)^2 = 1 - tanh(e)^2 cancels to 0 beyond |e| ~ 19 in float64 (and 1 / cosh(e)^2
        # overflows); 4z / (1 + z)^2 with z = e^{-2|e|} <= 1 is exact and finite at any residual.
        z = xp.exp(-2.0 * magnitude)
        hess = 4.0 * z / ((1.0 + z) * (1.0 + z))
    return KernelResult(loss, xp.tanh(residual) if with_grad else None, hess=hess)


def _pinball(xp, y_true, y_pred, *, q, with_grad, with_hess=False):
    shortfall = y_true - y_pred  # positive when the prediction is below the target
    loss = xp.maximum(q * shortfall, (q - 1.0) * shortfall)
    if not with_grad:
        return KernelResult(loss)
    zero = xp.zeros_like(shortfall)
    grad = xp.where(shortfall > 0, -q + zero, xp.where(shortfall < 0, (1.0 - q) + zero, zero))
    grad = keep_nan(xp, grad, shortfall)  # both comparisons are False for NaN: keep it NaN
    # Piecewise linear: 0 on both sides and, by the subgradient convention, at the kink e = 0
    # (scikit-learn's PinballLoss returns 1 everywhere, a placeholder for its tree updates).
    return KernelResult(loss, grad, hess=zero if with_hess else None)


def _epsilon_insensitive(xp, y_true, y_pred, *, epsilon, with_grad, with_hess=False):
    residual = y_pred - y_true
    excess = xp.abs(residual) - epsilon
    loss = xp.clip(excess, min=0.0)
    # keep_nan: excess > 0 is False for a NaN residual, whose gradient must stay NaN.
    grad = keep_nan(xp, xp.where(excess > 0, sign(xp, residual), 0.0 * residual), residual) if with_grad else None
    # Piecewise linear: 0 everywhere, the band edges (kinks) included.
    hess = xp.zeros_like(residual) if with_hess else None
    return KernelResult(loss, grad, hess=hess)


@floored
def _poisson(xp, y_true, y_pred, *, with_grad, with_hess=False, floor=GRAD_DENOMINATOR_FLOOR):
    # Rates below the floor (1e-12; 2^-14 for float16 results, _kernels.grad_floor) are taken as it inside the log and in the gradient's
    # denominator (as PyTorch clamps its BCE backward): a rate that underflowed to 0 then costs a
    # large finite amount and still gets a finite gradient that pushes it up, instead of inf.
    # A zero count contributes no log term at all (0 * log 0 is taken as its limit, 0).
    safe_rate = xp.clip(y_pred, min=floor)
    # Tested as y == 0 (not y > 0) so that a NaN count keeps its NaN term.
    cross = xp.where(y_true == 0, 0.0, y_true * xp.log(safe_rate))
    loss = y_pred - cross
    hess = None
    if with_hess:
        # y / p^2 above the floor. At and below it the gradient 1 - y / RATE_FLOOR is constant
        # in the rate (the loss is linear there), so its derivative is 0: the Hessian stays
        # finite at a rate of 0, as the gradient does.
        hess = xp.where(y_pred > floor, y_true / (safe_rate * safe_rate), 0.0)
    return KernelResult(loss, 1.0 - y_true / safe_rate if with_grad else None, hess=hess)

def _deviance_series(power: float, terms: int = 17) -> tuple[float, ...]:
    """Taylor coefficients of f(L) = expm1(bL)/b - expm1(aL)/a, a = 1 - p, b = 2 - p, in L = log(mu/y).

    f(L) = sum_k c_k L^k with c_k = (b^(k-1) - a^(k-1)) / k! for k >= 2 (c_0 = c_1 = 0): the
    half deviance over y^(2-p) near a perfect fit, where the closed form cancels (f ~ L^2 / 2).
    """
    a, b = 1.0 - power, 2.0 - power
    # Powers by repeated products: under torch.compile a power that varies between calls is a
    # symbolic float, and a symbolic pow of a negative base fails to trace.
    coefficients, a_power, b_power = [], 1.0, 1.0
    for k in range(2, terms + 1):
        a_power, b_power = a_power * a, b_power * b
        coefficients.append((b_power - a_power) / math.factorial(k))
    return tuple(coefficients)


def _power_term(xp, c: float, log_ratio, y_b, far):
    """y^b expm1(c L) / c, continuous in c (y^b L at c = 0, the Poisson and gamma limits).

    ``far()`` is y^(b-c) mu^c, what y^b e^(cL) is, used where expm1(cL) would overflow (the -1 is
    then negligible).
    """
    if c == 0.0:
        return y_b * log_ratio
    exponent = c * log_ratio
    cap = math.log(float(xp.finfo(log_ratio.dtype).max)) - 2.0  # 707.8 in float64, 86.7 in float32
    capped = xp.clip(exponent, max=cap)
    return xp.where(exponent > cap, far() / c, y_b * xp.expm1(capped) / c)


def _tweedie(xp, y_true, y_pred, *, power, with_grad, with_hess=False):
    mu, y, p = y_pred, y_true, power
    if p == 0.0:  # the normal distribution: the squared error, for any real y and y_pred
        return _squared_error(xp, y_true, y_pred, with_grad=with_grad, with_hess=with_hess)
    a, b = 1.0 - p, 2.0 - p
    positive = y > 0
    y_pos = xp.where(positive, y, 1.0)  # the branch for y <= 0 sees a harmless 1 here
    # L = log(mu / y). Close to a perfect fit log1p((mu - y) / y) keeps its relative accuracy
    # (log(mu) - log(y) would lose |log y| ulps); elsewhere the difference of logs cannot
    # overflow the way mu / y can. The near branch sees a clipped ratio, so it never overflows.
    near = xp.abs(mu - y_pos) <= 0.5 * y_pos
    gap = xp.clip(mu - y_pos, min=-0.5 * y_pos, max=0.5 * y_pos) / y_pos
    log_ratio = xp.where(near, xp.log1p(gap), xp.log(mu) - xp.log(y_pos))
    # For y > 0 the half deviance is y^b f(L), f(L) = expm1(bL)/b - expm1(aL)/a = (r^b - 1)/b - (r^a - 1)/a,
    # r = mu/y: the integral of (t - y) t^-p from y to mu. expm1(cL)/c is continuous in the power
    # through p = 1 and p = 2 (c = 0 gives L), where scikit-learn's y^b/(ab) - y mu^a/a + mu^b/b
    # divides two huge terms by a tiny a or b (at p = 1 + 1e-9 it loses 9 digits).
    # f ~ L^2/2 near a perfect fit, where the two expm1 terms cancel: there a Taylor series in L
    # (exact to rounding for |L| * max(|a|, |b|) <= 1/2, 17 terms) replaces them.
    radius = 0.5 / max(1.0, abs(a), abs(b))
    small = xp.clip(log_ratio, min=-radius, max=radius)
    series = 0.0 * small
    for c in reversed(_deviance_series(p)):
        series = series * small + c
    series = series * small * small
    # Far from the fit expm1(cL) can overflow where the deviance does not (y tiny, mu moderate):
    # beyond cL ~ 708 (float64) the -1 of expm1 is negligible and y^b expm1(cL)/c is y^(b-c) mu^c / c.
    y_b = y_pos ** b
    term_b = _power_term(xp, b, log_ratio, y_b, lambda: mu ** b)
    term_a = _power_term(xp, a, log_ratio, y_b, lambda: y_pos * mu ** a)
    closed = term_b - term_a
    near_fit = xp.abs(log_ratio) <= radius
    half_positive = xp.where(near_fit, y_b * series, closed)
    # y^b itself overflows (y = 2e30 at p = -1 in float32) where the half deviance y^b f may or may
    # not: y^b inf times a series of 0 is NaN, and inf - inf in `closed` is NaN. There y^b f is
    # taken in log space, exp(b log y + log f): inf where it overflows, its value where it does not.
    exponent_cap = math.log(float(xp.finfo(log_ratio.dtype).max)) - 2.0
    capped_b = xp.clip(b * log_ratio, max=exponent_cap)
    capped_a = xp.clip(a * log_ratio, max=exponent_cap)
    factor_b = log_ratio if b == 0.0 else xp.expm1(capped_b) / b
    factor_a = log_ratio if a == 0.0 else xp.expm1(capped_a) / a
    within_cap = ((b * log_ratio) <= exponent_cap) & ((a * log_ratio) <= exponent_cap)
    factor = xp.where(near_fit, series, factor_b - factor_a)
    overflowed = xp.isinf(y_b) & (near_fit | within_cap) & (factor >= 0)
    safe_factor = xp.where(overflowed & (factor > 0), factor, xp.ones_like(factor))
    in_log_space = xp.exp(b * xp.log(y_pos) + xp.log(safe_factor))
    in_log_space = xp.where(factor > 0, in_log_space, xp.zeros_like(factor))
    half_positive = xp.where(overflowed, in_log_space, half_positive)
    # y = 0 (any p < 2) and y < 0 (p < 0 only): y^b/(ab) is 0 there (max(y, 0)^b, scikit-learn's
    # convention), leaving -y mu^a/a + mu^b/b, a sum of non-negative terms: no cancellation.
    # For p >= 1, y <= 0 means y = 0 (the domain check), so the -y mu^a/a term is dropped
    # rather than divided by a = 0 at p = 1.
    half_other = mu ** b / b if b != 0.0 else xp.zeros_like(mu)
    if p < 0:
        half_other = half_other - xp.where(positive, 0.0, y) * mu ** a / a
    # keep_nan: a NaN target fails y > 0 and would take the y = 0 branch, which ignores y.
    loss = keep_nan(xp, 2.0 * xp.where(positive, half_positive, half_other), y)
    if not with_grad:
        return KernelResult(loss)
    # d/dmu = 2 (mu - y) mu^-p = 2 t mu^a with t = (mu - y)/mu: mu^-p alone overflows for tiny mu
    # at p >= 1 where the product does not.
    relative = (mu - y) / mu
    mu_a = mu ** a if a != 0.0 else xp.ones_like(mu)
    grad = 2.0 * relative * mu_a
    if a > 0.0:
        # mu^a overflows (mu = 2e30 at p = -1 in float32) where t mu^a need not (0 at a perfect
        # fit, not 0 * inf = NaN): t mu^(a/2) mu^(a/2) there.
        mu_half = mu ** (0.5 * a)
        split = 2.0 * ((relative * mu_half) * mu_half)
        split = xp.where(relative == 0.0, relative, split)
        grad = xp.where(xp.isinf(mu_a) & xp.isfinite(mu), split, grad)
    hess = None
    if with_hess:
        # 2 mu^-p (1 - p t): negative where t > 1/p (mu > y p/(p-1) for p > 1): the deviance is
        # not convex in mu for p > 1 (it is in log(mu), the link boosting uses). Returned as it is.
        hess = 2.0 * ((1.0 - p * relative) / mu) * mu_a
    return KernelResult(loss, grad, hess=hess)


def _gamma(xp, y_true, y_pred, *, with_grad, with_hess=False):
    # The Tweedie deviance at power 2, so gamma_deviance and tweedie_deviance(power=2) are one code path.
    return _tweedie(xp, y_true, y_pred, power=2.0, with_grad=with_grad, with_hess=with_hess)

# ----------------------------------------------------------------------------------- registry

_DELTA = Param("delta", 1.0, "> 0", "Residual magnitude where the loss turns from quadratic to linear.", V.positive)

_TORCH_BROADCAST = (
    "PyTorch broadcasts (N,1) against (N,) with only a warning; losskit raises ValueError instead."
)

mean_squared_error = register(Loss(
    name="mean_squared_error",
    aliases=("mse", "l2"),
    kernel=_squared_error,
    has_hessian=True,
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Mean squared error: the average of (y_pred - y_true)^2.",
    formula=r"\ell = (\hat y - y)^2",
    gradient_formula=r"\partial\ell/\partial\hat y = 2(\hat y - y)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The maximum-likelihood loss for Gaussian noise: its minimiser is the conditional mean.
        Squaring makes large residuals dominate: one target of 1 predicted as 1000 outweighs
        a million residuals of 1.
    """,
    when_to_use="Regression with roughly Gaussian noise and a linear output, when large errors are much worse than small ones.",
    when_not_to_use="Targets with outliers or heavy tails (use huber, log_cosh or mean_absolute_error).",
    pitfalls=(_TORCH_BROADCAST, "Its value is in squared target units; report root_mean_squared_error for a readable number."),
    equivalents=(
        Equivalent("torch", "torch.nn.functional.mse_loss(y_pred, y_true)", "equal"),
        Equivalent("keras", "keras.losses.MeanSquaredError()", "equal",
                   "Keras averages the last axis first, then the batch; equal for equal-sized rows."),
        Equivalent("optax", "optax.losses.squared_error(y_pred, y_true).mean()", "equal"),
        Equivalent("sklearn", "sklearn.metrics.mean_squared_error(y_true, y_pred)", "equal"),
        Equivalent("tensorflow", "tf.math.squared_difference(y_pred, y_true)", "equal", "per element; reduced by the contract"),
    ),
    references=("https://en.wikipedia.org/wiki/Mean_squared_error",),
    example="""
        >>> import losskit as lk
        >>> float(lk.mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]))
        1.3333333333333333
    """,
))

half_squared_error = register(Loss(
    name="half_squared_error",
    kernel=_half_squared_error,
    has_hessian=True,
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Half squared error: 0.5 * (y_pred - y_true)^2, whose gradient is the plain residual.",
    formula=r"\ell = \tfrac12 (\hat y - y)^2",
    gradient_formula=r"\partial\ell/\partial\hat y = \hat y - y",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The Bishop convention: the 1/2 cancels the 2 of the derivative. Optax's ``l2_loss`` and
        scikit-learn's SGD ``squared_error`` are this loss, half of mean_squared_error.
    """,
    when_to_use="The same problems as mean_squared_error, when porting from Optax l2_loss or scikit-learn SGD.",
    when_not_to_use="Targets with outliers; comparisons with an MSE computed elsewhere (it is half of it).",
    pitfalls=("Porting between `l2_loss` and MSE silently changes the effective learning rate by 2.",),
    equivalents=(
        Equivalent("optax", "optax.losses.l2_loss(y_pred, y_true).mean()", "equal"),
        Equivalent("torch", "0.5 * torch.nn.functional.mse_loss(y_pred, y_true)", "scaled", "MSELoss is twice this loss."),
        Equivalent("keras", "0.5 * keras.losses.MeanSquaredError()", "scaled", "Keras MSE is twice this loss."),
        Equivalent("sklearn", "SGDRegressor(loss='squared_error')", "equal", "the objective minimised by SGD"),
    ),
    references=("Bishop, Pattern Recognition and Machine Learning (2006), eq. 1.2",),
    example="""
        >>> import losskit as lk
        >>> float(lk.half_squared_error([0.0, 0.0], [1.0, 3.0]))
        2.5
    """,
))

mean_absolute_error = register(Loss(
    name="mean_absolute_error",
    aliases=("mae", "l1"),
    kernel=_absolute_error,
    has_hessian=True,
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Mean absolute error: the average of |y_pred - y_true|.",
    formula=r"\ell = |\hat y - y|",
    gradient_formula=r"\partial\ell/\partial\hat y = \operatorname{sign}(\hat y - y)\ (0\text{ at }0)",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=False,
    description="""
        The maximum-likelihood loss for Laplace noise: its minimiser is the conditional median,
        so a few gross outliers barely move the fit. The gradient has constant magnitude, which
        makes convergence near the optimum slower than with squared losses.
    """,
    when_to_use="Regression with outliers in the targets, or when the median is the quantity of interest.",
    when_not_to_use="Clean Gaussian-like noise (mean_squared_error converges faster); when a smooth gradient near zero matters (huber, log_cosh).",
    pitfalls=("The derivative at a residual of exactly 0 is taken as 0, as in PyTorch.",),
    equivalents=(
        Equivalent("torch", "torch.nn.functional.l1_loss(y_pred, y_true)", "equal"),
        Equivalent("keras", "keras.losses.MeanAbsoluteError()", "equal"),
        Equivalent("sklearn", "sklearn.metrics.mean_absolute_error(y_true, y_pred)", "equal"),
    ),
    references=("https://en.wikipedia.org/wiki/Mean_absolute_error",),
    example="""
        >>> import losskit as lk
        >>> float(lk.mae([1.0, 2.0, 3.0], [1.0, 2.0, 6.0]))
        1.0
    """,
))

root_mean_squared_error = register(Loss(
    name="root_mean_squared_error",
    aliases=("rmse",),
    kernel=_residual,
    root=True, reductions=("mean",),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Root mean squared error: sqrt of the (weighted) mean of (y_pred - y_true)^2.",
    formula=r"\mathrm{RMSE} = \sqrt{\textstyle\sum_i w_i (\hat y_i - y_i)^2 / \sum_i w_i}",
    gradient_formula=r"\partial\,\mathrm{RMSE}/\partial\hat y_i = w_i(\hat y_i - y_i) / (\mathrm{RMSE}\sum_j w_j)\ (0\text{ when RMSE}=0)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=False,
    description="""
        A cost, not a per-example loss: the root is taken after averaging, so only
        ``reduction="mean"`` exists. It is in the units of the target, which makes it the
        readable companion of mean_squared_error; both have the same minimiser.
    """,
    when_to_use="Reporting or minimising error in target units.",
    when_not_to_use="Per-example losses or sums (use mean_squared_error).",
    pitfalls=("Not differentiable at a perfect fit; losskit uses the subgradient 0 there.",),
    equivalents=(
        Equivalent("sklearn", "sklearn.metrics.root_mean_squared_error(y_true, y_pred)", "equal"),
        Equivalent("torch", "torch.sqrt(torch.nn.functional.mse_loss(y_pred, y_true))", "equal"),
        Equivalent("keras", "keras.metrics.RootMeanSquaredError()", "equal", "a metric in Keras, not a loss"),
    ),
    references=("https://en.wikipedia.org/wiki/Root_mean_square_deviation",),
    example="""
        >>> import losskit as lk
        >>> float(lk.rmse([0.0, 0.0], [3.0, 4.0]))  # sqrt((9 + 16) / 2)
        3.5355339059327378
    """,
))

_LOG_DOMAIN_HINT = "Logarithmic losses need non-negative values; use a softplus or exp output"

_msle_checks = check_domains(NON_NEGATIVE, NON_NEGATIVE, y_pred_hint=_LOG_DOMAIN_HINT)

mean_squared_logarithmic_error = register(Loss(
    name="mean_squared_logarithmic_error",
    aliases=("msle",),
    kernel=_squared_log_error,
    has_hessian=True,
    check_inputs=_msle_checks,
    task="regression", kind="pointwise", prediction_space="values", label_format="non-negative",
    summary="Mean squared logarithmic error: the average of (log1p(y_pred) - log1p(y_true))^2.",
    formula=r"\ell = (\log(1+\hat y) - \log(1+y))^2",
    gradient_formula=r"\partial\ell/\partial\hat y = 2(\log(1+\hat y) - \log(1+y)) / (1+\hat y)",
    output_activation="softplus",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        Penalises relative rather than absolute error, so a target spanning several orders of
        magnitude (prices, counts) is fitted evenly across its range, and under-prediction costs
        more than over-prediction by the same amount.
    """,
    when_to_use="Non-negative targets spanning orders of magnitude, where relative error matters.",
    when_not_to_use="Targets that can be negative; when absolute error is what matters.",
    pitfalls=("Keras silently clamps negative values to 1e-7; losskit raises ValueError, as scikit-learn does.",),
    equivalents=(
        Equivalent("keras", "keras.losses.MeanSquaredLogarithmicError()", "equal",
                   "equal on non-negative inputs; Keras clamps negatives silently"),
        Equivalent("sklearn", "sklearn.metrics.mean_squared_log_error(y_true, y_pred)", "equal"),
    ),
    references=("https://scikit-learn.org/stable/modules/model_evaluation.html#mean-squared-log-error",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.msle([0.0, 1.0], [0.0, 3.0])), 6)  # (log 4 - log 2)^2 / 2
        0.240227
    """,
))

root_mean_squared_logarithmic_error = register(Loss(
    name="root_mean_squared_logarithmic_error",
    aliases=("rmsle",),
    kernel=_log_residual,
    check_inputs=_msle_checks,
    root=True, reductions=("mean",),
    task="regression", kind="pointwise", prediction_space="values", label_format="non-negative",
    summary="Root mean squared logarithmic error: sqrt of the (weighted) mean of (log1p(y_pred) - log1p(y_true))^2.",
    formula=r"\mathrm{RMSLE} = \sqrt{\textstyle\sum_i w_i (\log(1+\hat y_i) - \log(1+y_i))^2 / \sum_i w_i}",
    gradient_formula=r"\partial\,\mathrm{RMSLE}/\partial\hat y_i = w_i(\log(1+\hat y_i) - \log(1+y_i)) / ((1+\hat y_i)\,\mathrm{RMSLE}\sum_j w_j)",
    output_activation="softplus",
    convex=False, robust_to_outliers=True, differentiable=False,
    description="""
        The root of mean_squared_logarithmic_error, a cost defined only for ``reduction="mean"``;
        roughly the typical relative error for small errors.
    """,
    when_to_use="Reporting relative error of non-negative targets (a common competition metric).",
    when_not_to_use="Targets that can be negative; per-example losses.",
    pitfalls=("Not differentiable at a perfect fit; losskit uses the subgradient 0 there.",),
    equivalents=(
        Equivalent("sklearn", "sklearn.metrics.root_mean_squared_log_error(y_true, y_pred)", "equal"),
    ),
    references=("https://scikit-learn.org/stable/modules/model_evaluation.html#mean-squared-log-error",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.rmsle([0.0, 1.0], [0.0, 3.0])), 6)
        0.490129
    """,
))

_MAPE_EPSILON = 1e-7

mean_absolute_percentage_error = register(Loss(
    name="mean_absolute_percentage_error",
    aliases=("mape",),
    kernel=_make_percentage_error(_MAPE_EPSILON),
    has_hessian=True,
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Mean absolute percentage error, in percent: 100 * |y_pred - y_true| / max(|y_true|, 1e-7).",
    formula=r"\ell = 100\,|\hat y - y| / \max(|y|, \epsilon),\ \epsilon = 10^{-7}",
    gradient_formula=r"\partial\ell/\partial\hat y = 100\,\operatorname{sign}(\hat y - y) / \max(|y|, \epsilon)",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=False,
    description="""
        Relative error in percent, as Keras defines it (scikit-learn's is the same divided by
        100). A target near zero makes the loss explode: epsilon only keeps it finite.
    """,
    when_to_use="Strictly positive targets far from zero, when errors are judged relative to the target.",
    when_not_to_use="Targets at or near zero; when over- and under-prediction should cost the same relative amount (MAPE favours under-prediction).",
    pitfalls=("Keras returns percent, scikit-learn a fraction: a factor of 100 when porting.",),
    equivalents=(
        Equivalent("keras", "keras.losses.MeanAbsolutePercentageError()", "equal"),
        Equivalent("sklearn", "100 * sklearn.metrics.mean_absolute_percentage_error(y_true, y_pred)", "scaled",
                   "scikit-learn returns a fraction and uses float64 eps as the guard"),
    ),
    references=("https://en.wikipedia.org/wiki/Mean_absolute_percentage_error",),
    example="""
        >>> import losskit as lk
        >>> float(lk.mape([100.0, 200.0], [110.0, 180.0]))
        10.0
    """,
))

huber = register(Loss(
    name="huber",
    aliases=("huber_loss",),
    kernel=_huber,
    has_hessian=True,
    params=(_DELTA,),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Huber loss: quadratic for |e| <= delta, linear (slope delta) beyond.",
    formula=r"\ell = \begin{cases}\tfrac12 e^2 & |e|\le\delta\\ \delta(|e| - \tfrac12\delta) & |e|>\delta\end{cases},\ e = \hat y - y",
    gradient_formula=r"\partial\ell/\partial\hat y = \operatorname{clip}(e, -\delta, \delta)",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=True,
    description="""
        Squared error for small residuals and absolute error (scaled by delta) for large ones:
        smooth near the optimum like MSE, with bounded gradients like MAE so that outliers cannot
        dominate. delta sets the scale in target units beyond which a residual counts as an outlier.
    """,
    when_to_use="Regression with some outliers when you can name the scale (delta) of a normal residual.",
    when_not_to_use="Clean Gaussian noise (mean_squared_error); when no sensible scale exists (mean_absolute_error).",
    pitfalls=(
        "PyTorch's SmoothL1Loss(beta) is Huber(delta=beta)/beta: equal only at 1 (see smooth_l1).",
        "scikit-learn's SGD huber uses epsilon=0.1 as delta by default.",
        "PyTorch's F.huber_loss(weight=...) averages w*l over elements instead of dividing by sum(w).",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.HuberLoss(delta=delta)", "equal",
                   "unweighted; F.huber_loss(weight=w) divides sum(w*l) by the element count, not by sum(w)"),
        Equivalent("keras", "keras.losses.Huber(delta=delta)", "equal"),
        Equivalent("optax", "optax.losses.huber_loss(y_pred, y_true, delta=delta).mean()", "equal"),
        Equivalent("sklearn", "SGDRegressor(loss='huber', epsilon=delta)", "equal", "the per-sample loss of SGD"),
    ),
    references=("Huber, 'Robust Estimation of a Location Parameter', Ann. Math. Statist. 35 (1964)",
                "https://en.wikipedia.org/wiki/Huber_loss"),
    example="""
        >>> import losskit as lk
        >>> lk.huber([0.0, 0.0], [0.5, 3.0], delta=1.0, reduction="none")
        array([0.125, 2.5  ])
    """,
))

smooth_l1 = register(Loss(
    name="smooth_l1",
    aliases=("smooth_l1_loss",),
    kernel=_smooth_l1,
    has_hessian=True,
    params=(Param("beta", 1.0, ">= 0", "Width of the quadratic zone; 0 gives the absolute error.", V.non_negative),),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="PyTorch's SmoothL1Loss: huber(delta=beta) / beta, so the linear part has slope 1.",
    formula=r"\ell = \begin{cases}\tfrac{1}{2\beta} e^2 & |e|<\beta\\ |e| - \tfrac12\beta & |e|\ge\beta\end{cases}",
    gradient_formula=r"\partial\ell/\partial\hat y = \operatorname{clip}(e/\beta, -1, 1)",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=True,
    description="""
        Huber rescaled so the tails are exactly the absolute error; popular in object
        detection (Fast R-CNN box regression). At beta = 0 it is mean_absolute_error.
    """,
    when_to_use="Porting PyTorch code that uses SmoothL1Loss; box regression.",
    when_not_to_use="When you mean Huber with a threshold: huber(delta) = beta * smooth_l1(beta) only for beta = delta.",
    pitfalls=("At delta = beta = 0.5 and residual 3, huber gives 1.375 and smooth_l1 gives 2.75.",),
    equivalents=(
        Equivalent("torch", "torch.nn.SmoothL1Loss(beta=beta)", "equal"),
        Equivalent("keras", "keras.losses.Huber(delta=beta) / beta", "scaled"),
    ),
    references=("Girshick, 'Fast R-CNN', ICCV 2015",),
    example="""
        >>> import losskit as lk
        >>> lk.smooth_l1([0.0, 0.0], [0.25, 3.0], beta=0.5, reduction="none")
        array([0.0625, 2.75  ])
    """,
))

pseudo_huber = register(Loss(
    name="pseudo_huber",
    aliases=("charbonnier",),
    kernel=_pseudo_huber,
    has_hessian=True,
    params=(_DELTA,),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Pseudo-Huber loss: delta^2 * (sqrt(1 + (e/delta)^2) - 1), a smooth Huber.",
    formula=r"\ell = \delta^2\left(\sqrt{1 + (e/\delta)^2} - 1\right)",
    gradient_formula=r"\partial\ell/\partial\hat y = e / \sqrt{1 + (e/\delta)^2}",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=True,
    description="""
        Like Huber, about e^2/2 for small residuals and about delta*|e| for large ones, but with
        derivatives of every order (useful for second-order optimisers and smooth curvature).
        At delta = 1 it is the Charbonnier (L1-L2) loss sqrt(e^2 + 1) - 1 of image restoration,
        Barron's general_robust at alpha = 1 (general_robust(alpha=1, scale=delta) is this / delta^2).
    """,
    when_to_use="Outlier-robust regression when a smooth Hessian is wanted.",
    when_not_to_use="When exact Huber behaviour or a published Huber baseline must be matched.",
    pitfalls=(
        "Computed as delta*|e|*a/(sqrt(1+a^2)+1), a = |e|/delta: no cancellation near 0, no overflow of a^2.",
        "kornia's charbonnier_loss has no delta: it equals pseudo_huber at delta = 1 and, for other delta, "
        "pseudo_huber = delta^2 * charbonnier_loss(y_pred / delta, y_true / delta). Some papers' Charbonnier is "
        "sqrt(e^2 + eps^2) without the -1: that is (pseudo_huber(delta=eps) + eps^2) / eps, the same gradient "
        "only at eps = 1.",
    ),
    equivalents=(
        Equivalent("kornia", "kornia.losses.charbonnier_loss(y_pred / delta, y_true / delta)", "scaled",
                   "kornia has no delta (its scale is 1): losskit = delta^2 x kornia on inputs divided by delta, "
                   "equal at delta = 1"),
    ),
    references=("Charbonnier et al., 'Deterministic edge-preserving regularization', 1997",
                "https://en.wikipedia.org/wiki/Huber_loss#Pseudo-Huber_loss_function"),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.pseudo_huber([0.0], [3.0], delta=1.0)), 6)  # sqrt(10) - 1
        2.162278
    """,
))

log_cosh = register(Loss(
    name="log_cosh",
    aliases=("logcosh",),
    kernel=_log_cosh,
    has_hessian=True,
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Log-cosh loss: log(cosh(y_pred - y_true)), computed without overflow.",
    formula=r"\ell = \log\cosh(e) = |e| + \log(1 + e^{-2|e|}) - \log 2",
    gradient_formula=r"\partial\ell/\partial\hat y = \tanh(e)",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=True,
    description="""
        About e^2/2 for small residuals and |e| - log 2 for large ones: a smooth, parameter-free
        Huber with threshold about 1 in target units (standardise targets first).
    """,
    when_to_use="Outlier-robust regression on standardised targets without a delta to tune.",
    when_not_to_use="Targets whose natural scale is far from 1 and cannot be standardised (use huber with delta).",
    pitfalls=("The naive log(cosh(e)) overflows to inf at |e| ~ 89 in float32 (torchmetrics); losskit is finite at 1e4 and beyond.",),
    equivalents=(
        Equivalent("keras", "keras.losses.LogCosh()", "equal"),
        Equivalent("optax", "optax.losses.log_cosh(y_pred, y_true).mean()", "equal"),
    ),
    references=("https://en.wikipedia.org/wiki/Huber_loss",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.log_cosh([0.0], [10000.0])), 4)  # |e| - log 2, no overflow
        9999.3069
    """,
))

quantile = register(Loss(
    name="quantile",
    aliases=("pinball",),
    kernel=_pinball,
    has_hessian=True,
    params=(Param("q", 0.5, "0 < q < 1", "Target quantile: 0.9 penalises under-prediction 9 times more than over-prediction.", V.open_unit_interval),),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Quantile (pinball) loss: max(q * (y_true - y_pred), (q - 1) * (y_true - y_pred)).",
    formula=r"\ell = \max(q(y - \hat y),\ (q - 1)(y - \hat y))",
    gradient_formula=r"\partial\ell/\partial\hat y = -q\ (\hat y < y),\ 1 - q\ (\hat y > y),\ 0\ (\hat y = y)",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=False,
    description="""
        Its minimiser is the q-th conditional quantile: q = 0.5 gives half the absolute error
        (the median); q = 0.05 and 0.95 give a 90% prediction interval.
    """,
    when_to_use="Prediction intervals and asymmetric costs of over- and under-prediction.",
    when_not_to_use="When a point estimate of the mean is wanted (mean_squared_error).",
    pitfalls=("At q = 0.5 it is half of mean_absolute_error, not equal to it.",),
    equivalents=(
        Equivalent("sklearn", "sklearn.metrics.mean_pinball_loss(y_true, y_pred, alpha=q)", "equal"),
    ),
    references=("Koenker and Bassett, 'Regression Quantiles', Econometrica 46 (1978)",),
    example="""
        >>> import losskit as lk
        >>> lk.quantile([1.0, 1.0], [0.0, 2.0], q=0.9, reduction="none")
        array([0.9, 0.1])
    """,
))

epsilon_insensitive = register(Loss(
    name="epsilon_insensitive",
    kernel=_epsilon_insensitive,
    has_hessian=True,
    params=(Param("epsilon", 0.1, ">= 0", "Half-width of the band of residuals that cost nothing.", V.non_negative),),
    task="regression", kind="pointwise", prediction_space="values", label_format="real",
    summary="Epsilon-insensitive loss (support vector regression): max(0, |y_pred - y_true| - epsilon).",
    formula=r"\ell = \max(0, |\hat y - y| - \epsilon)",
    gradient_formula=r"\partial\ell/\partial\hat y = \operatorname{sign}(e)\,[|e| > \epsilon]",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=False,
    description="""
        Residuals inside a band of width epsilon cost nothing; beyond it the cost grows linearly,
        as in the absolute error. The loss of support vector regression.
    """,
    when_to_use="When errors below a tolerance are irrelevant; linear SVR.",
    when_not_to_use="When every error should be reduced (epsilon = 0 is mean_absolute_error).",
    pitfalls=("scikit-learn's default epsilon is 0.1 in target units: standardise the targets first.",),
    equivalents=(
        Equivalent("sklearn", "SGDRegressor(loss='epsilon_insensitive', epsilon=epsilon)", "equal", "the per-sample loss of SGD"),
    ),
    references=("Vapnik, The Nature of Statistical Learning Theory (1995)",),
    example="""
        >>> import losskit as lk
        >>> lk.epsilon_insensitive([0.0, 0.0], [0.05, -0.5], epsilon=0.1, reduction="none")
        array([0. , 0.4])
    """,
))

poisson = register(Loss(
    name="poisson",
    aliases=("poisson_nll",),
    kernel=_poisson,
    has_hessian=True,
    check_inputs=check_domains(NON_NEGATIVE, NON_NEGATIVE,
                               y_pred_hint="y_pred is a rate: use an exp or softplus output (a log-rate needs exp first)"),
    task="regression", kind="pointwise", prediction_space="values", label_format="counts",
    summary="Poisson negative log-likelihood for a predicted rate: y_pred - y_true * log(y_pred).",
    formula=r"\ell = \hat y - y\log\hat y",
    gradient_formula=r"\partial\ell/\partial\hat y = 1 - y/\hat y",
    output_activation="exp",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The negative log-likelihood of counts under a Poisson model with rate y_pred, dropping
        the log(y!) term that does not depend on the prediction. y_pred is the rate itself (not
        its log), so the model needs a positive output (exp or softplus).
    """,
    when_to_use="Count targets (events, visits, claims) whose variance grows with their mean.",
    when_not_to_use="Targets that can be negative; over-dispersed counts where a negative binomial fits better.",
    pitfalls=(
        GRAD_FLOOR_PITFALL,
        "PyTorch's PoissonNLLLoss takes the log-rate by default (log_input=True).",
        "Keras adds 1e-7 inside the log; losskit is exact for rates >= 1e-12 and floors smaller rates at 1e-12.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.PoissonNLLLoss(log_input=False)", "equal", "PyTorch adds eps=1e-8 inside the log"),
        Equivalent("keras", "keras.losses.Poisson()", "equal", "Keras adds 1e-7 inside the log"),
        Equivalent("sklearn", "sklearn.metrics.mean_poisson_deviance(y_true, y_pred) / 2", "different",
                   "the deviance adds y log y - y and doubles the result; same minimiser"),
    ),
    references=("https://en.wikipedia.org/wiki/Poisson_regression",),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.poisson([2.0], [2.0])), 6)  # 2 - 2 log 2
        0.613706
    """,
))

# The intervals of scikit-learn's Tweedie family: a target of 0 is allowed below power 2 (the
# compound Poisson-gamma of insurance claims has exact zeros), never at 2 and above.
POSITIVE = V.Domain(0.0, low_inclusive=False, description="positive (> 0)")
_MEAN_HINT = "y_pred is the predicted mean: use an exp or softplus output (a log-mean needs exp first)"


def _tweedie_power(name, value):
    number = V._as_real(name, value)
    if math.isinf(number):
        raise ValueError(f"{name} must be a finite number <= 0 or >= 1; got {value!r}")
    if 0.0 < number < 1.0:
        raise ValueError(
            f"{name} must be <= 0 or >= 1; got {value!r}: no Tweedie distribution has 0 < power < 1 "
            "(its variance function mu^power belongs to no exponential family there), so the deviance "
            "is undefined, and scikit-learn raises as well. Use 0 (normal), 1 (Poisson), (1, 2) "
            "(compound Poisson-gamma), 2 (gamma) or 3 (inverse Gaussian)"
        )
    return number


def _check_tweedie(xp, y_true, y_pred, params):
    power = params["power"]
    if power == 0.0:  # the normal distribution: any real target and mean
        return
    if power >= 2.0:
        POSITIVE.check(xp, y_true, "y_true",
                       f"tweedie_deviance(power={power:g}) needs positive targets; power in [1, 2) allows zeros")
    elif power >= 1.0:
        NON_NEGATIVE.check(xp, y_true, "y_true", f"tweedie_deviance(power={power:g}) needs non-negative targets")
    POSITIVE.check(xp, y_pred, "y_pred", _MEAN_HINT)


def _check_gamma(xp, y_true, y_pred, params):
    POSITIVE.check(xp, y_true, "y_true", "the gamma deviance is undefined at y_true = 0; "
                   "for targets with zeros use tweedie_deviance with 1 <= power < 2")
    POSITIVE.check(xp, y_pred, "y_pred", _MEAN_HINT)


_DEVIANCE_NUMERICS = (
    "Computed as 2 y^(2-p) f(log(mu/y)) with f = expm1((2-p)L)/(2-p) - expm1((1-p)L)/(1-p): continuous "
    "in the power through 1 and 2 (scikit-learn's closed form divides huge terms by 1-p or 2-p there) and "
    "replaced by its Taylor series near a perfect fit, where f ~ L^2/2 would cancel; y = 0 takes the limit "
    "2 mu^(2-p)/(2-p)."
)

gamma_deviance = register(Loss(
    name="gamma_deviance",
    aliases=("mean_gamma_deviance",),
    kernel=_gamma,
    has_hessian=True,
    check_inputs=_check_gamma,
    task="regression", kind="pointwise", prediction_space="values", label_format="positive",
    summary="Gamma deviance: 2 (log(y_pred / y_true) + y_true / y_pred - 1), for positive targets.",
    formula=r"\ell = 2\left(\log\frac{\hat y}{y} + \frac{y}{\hat y} - 1\right)",
    gradient_formula=r"\partial\ell/\partial\hat y = 2(\hat y - y)/\hat y^2",
    output_activation="exp",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        Twice the negative log-likelihood ratio of a gamma model with mean y_pred against the
        saturated model: the Tweedie deviance at power 2. It depends only on the ratio
        y_pred / y_true, so an error of 10% costs the same on a target of 1 as on a target of
        10^6: the loss for positive, right-skewed quantities whose spread grows with their
        mean (claim sizes, durations, prices). Zero at y_pred = y_true; convex in log(y_pred).
    """,
    when_to_use="Strictly positive, right-skewed targets whose standard deviation is proportional to the mean (claim severity, waiting times).",
    when_not_to_use="Targets that can be 0 (use tweedie_deviance with 1 <= power < 2, or poisson); additive noise (mean_squared_error).",
    pitfalls=(
        "y_true = 0 or y_pred <= 0 raise ValueError (the deviance is infinite there), as in scikit-learn.",
        "Not convex in y_pred beyond y_pred = 2 y_true (the Hessian 2(2y - mu)/mu^3 turns negative); "
        "it is convex in log(y_pred), so fit a log-link (exp output).",
        "scikit-learn's HalfGammaLoss is half of this minus the constant log(y) + 1, on raw = log(y_pred).",
    ),
    equivalents=(
        Equivalent("sklearn", "sklearn.metrics.mean_gamma_deviance(y_true, y_pred)", "equal"),
    ),
    references=("McCullagh and Nelder, Generalized Linear Models, 2nd ed. (1989), ch. 8",
                "https://scikit-learn.org/stable/modules/model_evaluation.html#mean-poisson-gamma-and-tweedie-deviances"),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.gamma_deviance([1.0, 10.0], [2.0, 20.0])), 6)  # 2 (log 2 + 1/2 - 1) twice
        0.386294
    """,
))

tweedie_deviance = register(Loss(
    name="tweedie_deviance",
    aliases=("mean_tweedie_deviance", "tweedie"),
    kernel=_tweedie,
    has_hessian=True,
    params=(Param("power", 1.5, "<= 0 or >= 1",
                  "Tweedie power p of the variance function mu^p: 0 normal, 1 Poisson, (1, 2) compound "
                  "Poisson-gamma, 2 gamma, 3 inverse Gaussian.", _tweedie_power),),
    check_inputs=_check_tweedie,
    task="regression", kind="pointwise", prediction_space="values", label_format="non-negative",
    summary="Tweedie deviance of power p: 2 (max(y,0)^(2-p)/((1-p)(2-p)) - y mu^(1-p)/(1-p) + mu^(2-p)/(2-p)).",
    formula=r"\ell = 2\left(\frac{\max(y,0)^{2-p}}{(1-p)(2-p)} - \frac{y\,\hat y^{1-p}}{1-p} + \frac{\hat y^{2-p}}{2-p}\right)"
            r"\ (p = 0: (y - \hat y)^2;\ p = 1: 2(y\log\frac{y}{\hat y} - y + \hat y);\ p = 2: \text{gamma deviance})",
    gradient_formula=r"\partial\ell/\partial\hat y = 2(\hat y - y)\,\hat y^{-p}",
    output_activation="exp",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        The deviance of the Tweedie family of exponential-dispersion models with variance
        proportional to mu^p. Between 1 and 2 it is the compound Poisson-gamma model of
        zero-inflated, non-negative targets (insurance losses, rainfall, sales): exact zeros
        and a continuous positive part in one likelihood. p = 0, 1, 2 give the squared error, the
        Poisson deviance and the gamma deviance, and the formula is continuous in p across them.
    """,
    when_to_use="Non-negative targets with many exact zeros and a skewed positive part (1 < power < 2, typically 1.5), or any of the Tweedie family members by choosing power.",
    when_not_to_use="Targets that can be negative (except power <= 0); symmetric noise (mean_squared_error).",
    pitfalls=(
        "Domains depend on power, as in scikit-learn: y_true any real for power <= 0, >= 0 for 1 <= power < 2, "
        "> 0 for power >= 2; y_pred > 0 except at power 0. 0 < power < 1 raises ValueError.",
        _DEVIANCE_NUMERICS,
        "LightGBM's and XGBoost's tweedie objectives are the negative log-likelihood on the log scale, "
        "not this deviance: same minimiser, different values.",
    ),
    equivalents=(
        Equivalent("sklearn", "sklearn.metrics.mean_tweedie_deviance(y_true, y_pred, power=power)", "equal"),
    ),
    references=("Jorgensen, The Theory of Dispersion Models (1997)",
                "https://scikit-learn.org/stable/modules/model_evaluation.html#mean-poisson-gamma-and-tweedie-deviances"),
    example="""
        >>> import losskit as lk
        >>> round(float(lk.tweedie_deviance([0.0, 2.0], [1.0, 2.0], power=1.5)), 6)  # 2 * 1/0.5 at y = 0, then 0
        2.0
        >>> float(lk.tweedie_deviance([1.0], [3.0], power=0))  # the squared error
        4.0
    """,
))

# Lets pytest --doctest-modules run the example of every loss in this module.
__test__ = {name: globals()[name].__doc__ for name in __all__}
