"""Fused NumPy kernels (numba): the value and the gradient of a pointwise loss in one pass.

The reference kernels evaluate a loss as a chain of NumPy ufuncs, each one pass over memory, so
Huber's value and gradient read and write the data about ten times. A compiled loop that reads
``y_true`` and ``y_pred`` once and writes the gradient once is bound by memory bandwidth instead.
numba compiles such loops; ``fastmath=False`` keeps IEEE semantics, so the results equal the
reference's to rounding, NaN and infinities included.

The structure follows scikit-learn's ``_loss.pyx.tp``: each loss is a small element function
``(y, p, a) -> (loss, d loss / d p)`` of one target, one prediction and the loss's parameter
``a`` (one scalar, or a tuple of the constants a loss derives from several: the Tweedie power's,
Barron's alpha and scale); one shared loop, compiled per loss, applies it with the sample weights
and the reduction's scale, and writes the gradient only for calls of order 1. Hessian calls
(order 2) take the reference (``max_order=1``).

Inputs are cut into chunks of :data:`CHUNK_ELEMENTS` spread over a pool of threads (the compiled
loops release the GIL). A reduced call writes each chunk's values to a buffer and adds them in
vector lanes (a running total in the loop would stop LLVM vectorising it); the chunk totals are
added exactly (``math.fsum``) in chunk order, so a reduced value does not depend on the number of
threads.

These kernels are registered for every pointwise loss of the catalog and accept a call when all of
this holds (``_accepts``): numba is installed; the call has at least :data:`FUSED_MIN_ELEMENTS`
elements; ``y_true``, ``y_pred`` and ``sample_weight`` (if any) are C-contiguous float32/float64
NumPy arrays of the prediction's shape; the loss's parameters are ones the element function
covers (``sigmoid_cross_entropy`` without ``pos_weight``, ``sigmoid_focal`` without ``alpha``).
Any other call runs the reference.
numba itself is imported only when a call is accepted, so small calls never pay for it.

``sparse_softmax_cross_entropy`` has a kernel of its own (its section below): a hybrid of compiled
row loops and NumPy's exp, sum and log on cache-resident chunks of rows, over the same thread pool;
it accepts what :func:`_accepts_sparse_softmax` states (no label smoothing, no z_loss; class
weights, ``ignore_index`` and sample weights covered).

Transcendental functions go through numba's scalar libm calls, which LLVM does not vectorise;
with Intel's SVML runtime installed (``intel-cmplr-lib-rt``) numba vectorises them with the
high-accuracy SVML variants, at no change here.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from .._array import GRAD_DENOMINATOR_FLOOR, LOG_FLOOR
from .._kernels import grad_floor, register_kernel, run as _run_kernel
from ..regression import _deviance_series
from ..robust import _square_limit

__all__ = ["FUSED_MIN_ELEMENTS", "CHUNK_ELEMENTS", "FUSED_LOSSES"]

FUSED_MIN_ELEMENTS = 1 << 14
"""Smallest call (elements of ``y_pred``) that the fused kernels accept.

The trade-off: a call into compiled code costs a fixed few microseconds of numba's argument
dispatch and the chunk bookkeeping, and the first call in a process imports numba and loads or
compiles the loop; the reference's ufuncs cost about a microsecond each plus a pass over memory.
Below this size the reference's ufuncs on data that fits in cache cost little more than that fixed
price, and a script that only evaluates small batches never imports numba at all; above it each
extra pass the fused loop saves costs more than the dispatch.
"""

CHUNK_ELEMENTS = 1 << 16
"""Elements of one unit of work of the thread pool (and of a reduced call's value buffer).

The trade-off: between two chunks a thread runs some Python with the GIL held, which the other
threads then wait for, so smaller chunks serialise more; larger chunks leave fewer chunks to share
out on the last, ragged stretch, and a buffer that outgrows the L2 cache is written back to memory.
"""

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LOG2 = math.log(2.0)
_MAPE_EPSILON = 1e-7
_HYPOT_LARGE = 2.0 ** 60  # regression.mean_absolute_percentage_error's guard against a zero target


# --------------------------------------------------------------------------- element functions
#
# Each maps (y, p, a) to (loss, d loss / d p) for one element, exactly as the reference kernel in
# regression.py or binary.py does, NaN included: a reference clip() or maximum() propagates NaN,
# so a clamp here is written as a comparison that is false for NaN (`a if x > a else x`), and a
# reference where(c, u, v) is `u if c else v` with the same condition c.

def _squared_error(y, p, a):
    r = p - y
    return r * r, 2.0 * r


def _half_squared_error(y, p, a):
    r = p - y
    return 0.5 * r * r, r


def _nan_or(x, value):
    # keep_nan of _kernels, for one element: a branch chosen by a comparison (False for NaN)
    # must not turn a NaN operand into a number.
    return x if x != x else value


def _sign(r):
    # np.sign: NaN stays NaN.
    return 1.0 if r > 0 else (-1.0 if r < 0 else 0.0 * r)


def _absolute_error(y, p, a):
    r = p - y
    return abs(r), _sign(r)


def _huber_terms(r, delta):
    m = abs(r)
    inner = delta if m > delta else m
    grad = delta if r > delta else (-delta if r < -delta else r)
    return inner * (m - 0.5 * inner), grad


def _huber(y, p, delta):
    return _huber_terms(p - y, delta)


def _smooth_l1(y, p, beta):
    r = p - y
    if beta == 0.0:  # the reference's limit: the absolute error
        return abs(r), _sign(r)
    loss, grad = _huber_terms(r, beta)
    return loss / beta, grad / beta


def _pseudo_huber(y, p, delta):
    r = p - y
    m = abs(r)
    scaled = m / delta
    # hypot(1, a) as the reference computes it, without libm's call (which LLVM does not
    # vectorise): beyond _HYPOT_LARGE, 1 + a^2 rounds to a^2 and a^2 could overflow.
    root = math.sqrt(1.0 + scaled * scaled) if scaled < _HYPOT_LARGE else scaled
    # regression._pseudo_huber's two branches: delta^2 a^2 / (root + 1) below a = 1, delta^2 (root - 1)
    # from a = 1 on (an infinite residual costs inf there; a NaN one takes this branch too).
    if scaled < 1.0:
        return (delta * delta) * (scaled * scaled / (root + 1.0)), r / root
    return (delta * delta) * (root - 1.0), r / root


def _log_cosh(y, p, a):
    r = p - y
    m = abs(r)
    # One expm1 gives both tanh and the far branch's e^{-2|e|}: tanh|e| = -t / (2 + t) with
    # t = expm1(-2|e|) is how libm computes tanh, exact to rounding at every |e| (no cancellation
    # in 1 - e^{-2|e|}). The loss is log cosh(e) = -log(1 - tanh(e)^2) / 2 near 0, where it does not
    # cancel, and |e| + log1p(e^{-2|e|}) - log 2 from |e| = 1 on, where it cannot overflow; a NaN
    # takes the far branch, as in the reference's where(|e| < 1, near, far).
    t = math.expm1(-2.0 * m)
    tanh_m = -t / (2.0 + t)
    if m < 1.0:
        loss = -0.5 * math.log1p(-tanh_m * tanh_m)
    else:
        loss = m + math.log1p(1.0 + t) - _LOG2
    return loss, (tanh_m if r >= 0 else -tanh_m)


def _pinball(y, p, q):
    s = y - p
    above, below = q * s, (q - 1.0) * s
    # Both comparisons are False for a NaN s: the gradient stays NaN (keep_nan in the reference).
    return (above if above >= below else below), (-q if s > 0 else ((1.0 - q) if s < 0 else _nan_or(s, 0.0)))


def _epsilon_insensitive(y, p, epsilon):
    r = p - y
    excess = abs(r) - epsilon
    return (0.0 if excess < 0 else excess), (_sign(r) if excess > 0 else 0.0 * r)


def _squared_log_error(y, p, a):
    gap = math.log1p(p) - math.log1p(y)
    return gap * gap, 2.0 * gap / (1.0 + p)


def _percentage_error(y, p, epsilon):
    r = p - y
    magnitude = abs(y)
    scale = 100.0 / (epsilon if magnitude < epsilon else magnitude)
    return scale * abs(r), scale * _sign(r)


def _poisson(y, p, a):
    safe = GRAD_DENOMINATOR_FLOOR if p < GRAD_DENOMINATOR_FLOOR else p
    cross = 0.0 if y == 0 else y * math.log(safe)  # y == 0, not y > 0: a NaN count stays NaN
    return p - cross, 1.0 - y / safe


def _clamped_log(x):
    # _array.clamped_log: log(x) floored at LOG_FLOOR, with log(0) = LOG_FLOOR and NaN kept.
    if x <= 0:
        return LOG_FLOOR
    value = math.log(x)
    return LOG_FLOOR if value < LOG_FLOOR else value


def _smoothed(y, label_smoothing):
    return y if label_smoothing == 0.0 else y * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _clamped_log1m(x):
    # _array.clamped_log1m: log1p(-x) floored at LOG_FLOOR, LOG_FLOOR for x >= 1, NaN kept.
    if x >= 1.0:
        return LOG_FLOOR
    value = math.log1p(-x)
    return LOG_FLOOR if value < LOG_FLOOR else value


def _binary_cross_entropy(y, p, label_smoothing):
    t = _smoothed(y, label_smoothing)
    loss = -(t * _clamped_log(p) + (1.0 - t) * _clamped_log1m(p))
    q = 1.0 - p
    safe_q = GRAD_DENOMINATOR_FLOOR if q < GRAD_DENOMINATOR_FLOOR else q
    safe_p = GRAD_DENOMINATOR_FLOOR if p < GRAD_DENOMINATOR_FLOOR else p
    return loss, (1.0 - t) / safe_q - t / safe_p


def _sigmoid_cross_entropy(y, x, label_smoothing):
    positive = _smoothed(y, label_smoothing)
    negative = 1.0 - positive
    # softplus(x) = max(x, 0) + log1p(e^-|x|) (NumPy's logaddexp(x, 0)) and sigmoid(x) =
    # (1 or e^-|x|) / (1 + e^-|x|) (_array.sigmoid) share e^-|x| <= 1, so neither overflows.
    z = math.exp(-abs(x))
    log_term = math.log1p(z)
    softplus_x = (x if x > 0 else 0.0) + log_term
    softplus_minus_x = (-x if x < 0 else 0.0) + log_term
    probability = (1.0 if x >= 0 else z) / (1.0 + z)
    complement = (z if x >= 0 else 1.0) / (1.0 + z)  # sigmoid(-x), as the reference computes 1 - p
    # A term whose weight is 0 is dropped before the product, so an infinite logit on the label it
    # predicts costs 0, not 0 * inf = NaN.
    loss = positive * (softplus_minus_x if positive > 0 else 0.0) + negative * (softplus_x if negative > 0 else 0.0)
    return loss, negative * probability - positive * complement


def _logaddexp(a, b):
    # np.logaddexp's own steps: equal arguments (-inf twice included) give a + log 2, a NaN
    # difference propagates.
    if a == b:
        return a + _LOG2
    d = a - b
    if d > 0:
        return a + math.log1p(math.exp(-d))
    if d <= 0:
        return b + math.log1p(math.exp(d))
    return d


def _sigmoid_focal(y, x, gamma):
    # binary._sigmoid_focal without alpha (calls with alpha take the reference): the
    # cross-entropy times (1 - p_t)^gamma, with log(1 - p_t) and the slope's log r formed from
    # softplus(+-x) as there.
    ce, ce_grad = _sigmoid_cross_entropy(y, x, 0.0)
    if gamma == 0.0:
        return ce, ce_grad
    log_term = math.log1p(math.exp(-abs(x)))
    softplus_x = (x if x > 0 else 0.0) + log_term
    softplus_minus_x = (-x if x < 0 else 0.0) + log_term
    log_y = math.log(y) if y > 0 else 0.0
    log_not_y = math.log(1.0 - y) if 1.0 - y > 0 else 0.0
    positive, negative = y > 0, y < 1
    log_one_minus_pt = _logaddexp(log_y - softplus_x if positive else -math.inf,
                                  log_not_y - softplus_minus_x if negative else -math.inf)
    log_r = -_logaddexp(log_y + softplus_minus_x if positive else -math.inf,
                        log_not_y + softplus_x if negative else -math.inf)
    focal = math.exp(gamma * log_one_minus_pt)
    slope = gamma * (1.0 - 2.0 * y) * math.exp(gamma * log_one_minus_pt + log_r)
    return focal * ce, focal * ce_grad + slope * (ce if slope != 0 else 0.0)


def _signed(y, convert):
    # convert is 1 when every label of the call is 0 or 1 (binary._signed_labels).
    return 2.0 * y - 1.0 if convert != 0.0 else y


def _hinge(y, p, convert):
    s = _signed(y, convert)
    slack = 1.0 - s * p
    return (0.0 if slack < 0 else slack), (-s if slack > 0 else _nan_or(slack, 0.0))


def _squared_hinge(y, p, convert):
    s = _signed(y, convert)
    slack = 1.0 - s * p
    slack = 0.0 if slack < 0 else slack
    return slack * slack, -2.0 * s * slack


def _modified_huber(y, p, convert):
    s = _signed(y, convert)
    margin = s * p
    slack = 1.0 - margin
    slack = 0.0 if slack < 0 else slack
    if margin >= -1.0:
        return slack * slack, s * (-2.0 * slack)
    return -4.0 * margin, s * _nan_or(margin, -4.0)  # a NaN margin lands here: NaN value and gradient


def _logistic(y, p, convert):
    s = _signed(y, convert)
    x = -(s * p)
    # softplus(x) and sigmoid(x) of x = -margin, sharing e^-|x| as in _sigmoid_cross_entropy.
    z = math.exp(-abs(x))
    loss = (x if x > 0 else 0.0) + math.log1p(z)
    return loss, -s * ((1.0 if x >= 0 else z) / (1.0 + z))


# The Tweedie deviances and Barron's robust family read several constants, which their parameter
# readers (_tweedie_parameters, _barron_parameters) derive in Python with the reference's own
# float64 arithmetic and pass as a tuple ``a``. Each branch tests the condition of the reference's
# where() with the compute dtype's thresholds (expm1's cap, the square limit). Both compute in
# float64, a float32 input widened once: a float32 result then agrees with the reference's float32
# arithmetic to its rounding, and a term beyond float32's range is inf once _loop stores it.

def _power(x, c):
    # x ** c as NumPy computes an array to a scalar power: its fast paths for c = 0.5, 2 and -1
    # (sqrt, square, reciprocal) can differ from pow by an ulp, and at an edge: sqrt(-inf) is NaN
    # where pow(-inf, 0.5) is +inf.
    if c == 0.5:
        return math.sqrt(x)
    if c == 2.0:
        return x * x
    if c == -1.0:
        return 1.0 / x
    return x ** c


def _tweedie(y, mu, a):
    """regression._tweedie, step by step (its comments explain each form); ``a`` from _tweedie_parameters."""
    power, one_minus_p, two_minus_p, radius, cap, coefficients = a
    y, mu = float(y), float(mu)
    if power == 0.0:  # the squared error, for any real y and mu
        r = mu - y
        return r * r, 2.0 * r
    positive = y > 0
    if positive:
        # L = log(mu / y): log1p of the relative gap close to a perfect fit, a difference of logs
        # elsewhere (a NaN mu takes the latter, as in the reference's where()).
        if abs(mu - y) <= 0.5 * y:
            log_ratio = math.log1p((mu - y) / y)
        else:
            log_ratio = math.log(mu) - math.log(y)
        y_b = _power(y, two_minus_p)
        if abs(log_ratio) <= radius:
            # The Taylor series of expm1(bL)/b - expm1(aL)/a in L (coefficients highest first),
            # where the closed form cancels.
            series = 0.0 * log_ratio
            for c in coefficients:
                series = series * log_ratio + c
            half = y_b * (series * log_ratio * log_ratio)
        else:
            # y^b expm1(cL)/c for c = b and c = a, y^b L at c = 0; beyond the cap of expm1 the -1 is
            # negligible and the term is y^(b-c) mu^c / c.
            if two_minus_p == 0.0:
                term_b = y_b * log_ratio
            else:
                exponent = two_minus_p * log_ratio
                if exponent > cap:
                    term_b = _power(mu, two_minus_p) / two_minus_p
                else:
                    term_b = y_b * math.expm1(exponent) / two_minus_p
            if one_minus_p == 0.0:
                term_a = y_b * log_ratio
            else:
                exponent = one_minus_p * log_ratio
                if exponent > cap:
                    term_a = y * _power(mu, one_minus_p) / one_minus_p
                else:
                    term_a = y_b * math.expm1(exponent) / one_minus_p
            half = term_b - term_a
    else:
        # y <= 0 (and NaN): max(y, 0)^b / (ab) is 0, leaving mu^b / b - y mu^a / a (the second term for
        # power < 0 only: from power 1 on, y <= 0 means y = 0).
        half = _power(mu, two_minus_p) / two_minus_p if two_minus_p != 0.0 else 0.0
        if power < 0:
            half = half - y * _power(mu, one_minus_p) / one_minus_p
    # d/dmu = 2 (mu - y) mu^-p, as 2 t mu^(1-p) with t = (mu - y) / mu.
    mu_a = _power(mu, one_minus_p) if one_minus_p != 0.0 else 1.0
    return 2.0 * _nan_or(y, half), 2.0 * ((mu - y) / mu) * mu_a  # a NaN y took the y <= 0 branch


def _barron(y, p, a):
    """robust._barron, step by step (its comments explain each form); ``a`` from _barron_parameters."""
    alpha, scale, inverse_scale, sqrt_eps, eps_over_alpha, half_alpha, weight_exponent, limit = a
    x = float(p - y) / scale  # the residual in the compute dtype, as the reference forms it
    if alpha == 2.0:  # the limit alpha -> 2: half the squared scaled residual
        return 0.5 * x * x, x * inverse_scale
    magnitude = abs(x)
    if alpha < -_FLOAT_MAX:
        # The limit alpha -> -inf (Welsch): 1 - exp(-x^2/2) as -expm1, x^2 of a clipped |x|.
        clipped = limit if magnitude > limit else magnitude
        half_square = 0.5 * clipped * clipped
        return -math.expm1(-half_square), x * math.exp(-half_square) * inverse_scale
    # L = log1p(x^2 / |alpha - 2|), in log space beyond the square limit (2 log u there).
    u = magnitude / sqrt_eps
    log_term = math.log1p(u * u) if u <= limit else 2.0 * math.log(u)
    loss = log_term if alpha == 0.0 else eps_over_alpha * math.expm1(half_alpha * log_term)
    if alpha < 2.0 and 1.0 < u < math.inf:
        # robust._tail_gradient: sign(x) sqrt(eps) u^(alpha-1) (1 + 1/u^2)^(alpha/2-1) / c, whose
        # factors do not underflow where the gradient is representable.
        inverse = 1.0 / u
        power = inverse if alpha == 0.0 else u ** (alpha - 1.0)
        correction = math.exp(weight_exponent * math.log1p(inverse * inverse))
        return loss, math.copysign((sqrt_eps * inverse_scale) * power * correction, x)
    return loss, x * math.exp(weight_exponent * log_term) * inverse_scale


_FLOAT_MAX = sys.float_info.max  # alpha = -inf is "below every finite float", as in the reference


# Called by the element functions above; compiled with them (see _compiled_namespace).
_HELPERS = (_nan_or, _sign, _huber_terms, _clamped_log, _clamped_log1m, _smoothed, _signed, _logaddexp, _sigmoid_cross_entropy,
            _power)


# ------------------------------------------------------------------------------- the table

def _no_parameter(call: Any) -> float:
    return 0.0


def _parameter(name: str) -> Callable[[Any], float]:
    def read(call: Any) -> float:
        return float(call.params[name])

    return read


def _signed_labels_flag(call: Any) -> float:
    # A pass over all labels before the loss's own pass: chunked over the thread pool like it, so
    # that it is not the one stretch of the call that runs on a single core.
    labels = call.y_true.reshape(-1)
    all_zero_one = _compiled_all_zero_one()
    others = _run_chunks(labels.size, lambda start, stop, buffer: 0.0 if all_zero_one(labels[start:stop]) else 1.0,
                         labels.dtype, buffer_size=0)
    return 1.0 if others == 0 else 0.0


def _tweedie_parameters(power: float | None = None) -> Callable[[Any], tuple]:
    """Reads ``a`` of :func:`_tweedie`: the power's constants, as regression._tweedie derives them.

    (power, 1 - p, 2 - p, the series' radius, expm1's cap in the compute dtype, the series'
    coefficients highest first); ``power`` fixed (gamma_deviance) or read from the call.
    """
    def read(call: Any) -> tuple:
        p = float(call.params["power"]) if power is None else power
        one_minus_p, two_minus_p = 1.0 - p, 2.0 - p
        radius = 0.5 / max(1.0, abs(one_minus_p), abs(two_minus_p))
        cap = math.log(float(np.finfo(call.y_pred.dtype).max)) - 2.0
        coefficients = tuple(reversed(_deviance_series(p)))
        return p, one_minus_p, two_minus_p, radius, cap, coefficients

    return read


def _barron_parameters(alpha: float | None = None) -> Callable[[Any], tuple]:
    """Reads ``a`` of :func:`_barron`: alpha's and the scale's constants, as robust._barron derives them.

    ``alpha`` fixed (cauchy 0, geman_mcclure -2, welsch -inf) or read from the call; the constants a
    limit of alpha does not use are 0.
    """
    def read(call: Any) -> tuple:
        shape = float(call.params["alpha"]) if alpha is None else alpha
        scale = float(call.params["scale"])
        eps = abs(shape - 2.0)
        general = shape != 2.0 and shape >= -_FLOAT_MAX
        return (shape, scale, 1.0 / scale, math.sqrt(eps) if general else 0.0,
                eps / shape if general and shape != 0.0 else 0.0,
                0.5 * shape if general else 0.0, 0.5 * shape - 1.0 if general else 0.0,
                _square_limit(np, call.y_pred))

    return read


@dataclass(frozen=True)
class _Pointwise:
    """A pointwise loss's element function and how its parameter ``a`` is read from a call.

    ``a`` is a scalar, taken in the compute dtype, or a tuple of float64 constants.
    """

    element: Callable
    parameter: Callable[[Any], float] = _no_parameter
    root: bool = False  # rmse, rmsle: the square root of the mean
    # Whether the element function covers a call's parameters (those beyond ``a`` it does not read).
    covers: Callable[[dict], bool] = lambda params: True
    # Whether the reference kernel has losskit_grad_factor: its factor 2 applies after the scale.
    factored: bool = False


FUSED_LOSSES: dict[str, _Pointwise] = {
    "mean_squared_error": _Pointwise(_squared_error, factored=True),
    "half_squared_error": _Pointwise(_half_squared_error),
    "mean_absolute_error": _Pointwise(_absolute_error),
    "root_mean_squared_error": _Pointwise(_squared_error, root=True),
    "mean_squared_logarithmic_error": _Pointwise(_squared_log_error),
    "root_mean_squared_logarithmic_error": _Pointwise(_squared_log_error, root=True),
    "mean_absolute_percentage_error": _Pointwise(_percentage_error, lambda call: _MAPE_EPSILON),
    "huber": _Pointwise(_huber, _parameter("delta")),
    "smooth_l1": _Pointwise(_smooth_l1, _parameter("beta")),
    "pseudo_huber": _Pointwise(_pseudo_huber, _parameter("delta")),
    "log_cosh": _Pointwise(_log_cosh),
    "quantile": _Pointwise(_pinball, _parameter("q")),
    "epsilon_insensitive": _Pointwise(_epsilon_insensitive, _parameter("epsilon")),
    "poisson": _Pointwise(_poisson),
    "gamma_deviance": _Pointwise(_tweedie, _tweedie_parameters(2.0)),
    "tweedie_deviance": _Pointwise(_tweedie, _tweedie_parameters()),
    "general_robust": _Pointwise(_barron, _barron_parameters()),
    "cauchy": _Pointwise(_barron, _barron_parameters(0.0)),
    "geman_mcclure": _Pointwise(_barron, _barron_parameters(-2.0)),
    "welsch": _Pointwise(_barron, _barron_parameters(-math.inf)),
    "binary_cross_entropy": _Pointwise(_binary_cross_entropy, _parameter("label_smoothing")),
    "sigmoid_cross_entropy": _Pointwise(_sigmoid_cross_entropy, _parameter("label_smoothing")),
    "sigmoid_focal": _Pointwise(_sigmoid_focal, _parameter("gamma"), covers=lambda params: params["alpha"] is None),
    "hinge": _Pointwise(_hinge, _signed_labels_flag),
    "squared_hinge": _Pointwise(_squared_hinge, _signed_labels_flag, factored=True),
    "modified_huber": _Pointwise(_modified_huber, _signed_labels_flag),
    "logistic": _Pointwise(_logistic, _signed_labels_flag),
}
"""Every pointwise loss of the catalog that has a fused kernel, by catalog name."""


# ------------------------------------------------------------------------------ compilation

def _jit(function: Callable, **options: Any) -> Callable:
    import numba

    # error_model="numpy": a float division by zero gives inf or NaN, as in NumPy, instead of
    # numba's default Python semantics, whose ZeroDivisionError check stops LLVM vectorising.
    return numba.njit(fastmath=False, error_model="numpy", cache=True, **options)(function)


def _rebound(function: Callable, namespace: dict) -> Callable:
    return types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__)


@lru_cache(maxsize=None)
def _compiled_namespace() -> dict:
    """This module's globals with the element helpers compiled.

    numba resolves a function's globals when it compiles it, and can call only compiled
    functions; the element functions are compiled against this namespace, so the module itself
    keeps its plain Python functions (and imports no numba).
    """
    namespace = dict(globals())
    for helper in _HELPERS:
        namespace[helper.__name__] = _jit(_rebound(helper, namespace), inline="always")
    return namespace


def _element(y, p, a):
    """Stands for a loss's element function in :func:`_loop`; :func:`_compiled_loop` binds it."""
    raise NotImplementedError


def _loop(y, p, weight, a, scale, divisor, values, grad, with_grad, weighted, factored):
    # with_grad and weighted are the same for every element of a call, so LLVM hoists their tests
    # out of the loop (one vectorised loop per case) and one compiled function serves all four.
    # The element's loss and gradient (float64 where it widens) are stored, so rounded to the
    # compute dtype, before the weight and the scale apply, as the reference forms them in that
    # dtype first: a float32 term beyond float32's range is inf there, inf times a zero weight NaN.
    for i in range(p.shape[0]):
        loss, g = _element(y[i], p[i], a)
        values[i] = loss
        if weighted:
            values[i] = values[i] * weight[i]
            if with_grad:
                grad[i] = g
                grad[i] = grad[i] * (weight[i] / divisor)
                if factored and math.isinf(grad[i]) and not math.isinf(g):
                    # g (float64) overflowed the compute dtype, g times the mean's scale need not:
                    # the losses whose reference applies its factor 2 after the scale
                    # (losskit_grad_factor, _reduction.reduce) keep a float32 2r/n at |r| > 1.7e38.
                    grad[i] = g * (weight[i] / divisor)
        else:
            if with_grad:
                grad[i] = g
                grad[i] = grad[i] * scale
                if factored and math.isinf(grad[i]) and not math.isinf(g):
                    grad[i] = g * scale


@lru_cache(maxsize=None)
def _compiled_loop(name: str) -> Callable:
    """:func:`_loop` with ``name``'s element function inlined."""
    namespace = dict(_compiled_namespace())
    namespace["_element"] = _jit(_rebound(FUSED_LOSSES[name].element, namespace), inline="always")
    loop = _rebound(_loop, namespace)
    # numba's on-disk cache is keyed by a function's qualified name and bytecode, the same for
    # every loss's loop: a name of its own keeps each loss's machine code apart.
    loop.__qualname__ = f"_loop_{name}"
    return _jit(loop, nogil=True)


@lru_cache(maxsize=None)
def _compiled_total() -> Callable:
    # Reassociation is allowed in this sum only (so LLVM adds in vector lanes): the order of its
    # terms changes its rounding, not its meaning. The float64 accumulator keeps the sum of a long
    # float32 chunk at float32 accuracy.
    def total(values):
        accumulator = 0.0
        for i in range(values.shape[0]):
            accumulator += values[i]
        return accumulator

    import numba

    return numba.njit(nogil=True, fastmath={"reassoc"}, error_model="numpy", cache=True)(total)


@lru_cache(maxsize=None)
def _compiled_all_zero_one() -> Callable:
    def all_zero_one(y):
        # Counted a block at a time, not tested element by element: a loop that can exit at any
        # element is not vectorised, and labels that are all 0 or 1 are read to the end.
        size = y.shape[0]
        for start in range(0, size, _LABEL_BLOCK):
            other = 0
            for i in range(start, min(start + _LABEL_BLOCK, size)):
                other += (y[i] != 0.0) & (y[i] != 1.0)  # NaN too
            if other:
                return False
        return True

    return _jit(all_zero_one, nogil=True)


_LABEL_BLOCK = 4096


# ---------------------------------------------------------------------------- chunks, threads

_POOL: list[tuple[int, int, Any]] = []  # (process id, threads, ThreadPoolExecutor)


def _executor(threads: int):
    """A process-wide thread pool; a forked child gets its own, as the parent's threads are not its."""
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL or _POOL[0][:2] != (os.getpid(), threads):
        _POOL[:] = [(os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="losskit-fused"))]
    return _POOL[0][2]


def _thread_count() -> int:
    import numba

    return numba.get_num_threads()  # NUMBA_NUM_THREADS and numba.set_num_threads() apply here too


def _run_chunks(size: int, run_chunk: Callable[[int, int, Any], float], dtype, *,
                chunk: int = CHUNK_ELEMENTS, buffer_size: int | None = None) -> float:
    """``run_chunk(start, stop, buffer)`` over ``[0, size)`` in chunks; their totals added in chunk order.

    A unit of ``size`` is an element (pointwise losses) or a row (softmax); each thread gets one
    scratch ``buffer`` of ``buffer_size`` elements (default: one chunk's).
    """
    buffer_size = min(chunk, size) if buffer_size is None else buffer_size
    starts = list(range(0, size, chunk))
    threads = min(_thread_count(), len(starts))

    def run_block(block: list[int]) -> list[float]:
        buffer = np.empty(buffer_size, dtype=dtype)
        return [run_chunk(start, min(start + chunk, size), buffer) for start in block]

    if threads <= 1:
        totals = run_block(starts)
    else:
        per_thread = -(-len(starts) // threads)
        blocks = [starts[i:i + per_thread] for i in range(0, len(starts), per_thread)]
        futures = [_executor(threads).submit(run_block, block) for block in blocks]
        totals = [total for future in futures for total in future.result()]
    return math.fsum(totals)


# ------------------------------------------------------------------------------ the kernel

def _fused_pointwise(call: Any) -> tuple[Any, tuple | None]:
    """A "reduced" kernel (see :mod:`losskit._kernels`): ``(value, (grad,) or None)``."""
    spec = FUSED_LOSSES[call.loss.name]
    loop, chunk_total = _compiled_loop(call.loss.name), _compiled_total()
    y_pred, weight, reduction = call.y_pred, call.weight, call.reduction
    dtype, size, with_grad = y_pred.dtype, y_pred.size, call.order >= 1
    # A scalar parameter in the compute dtype, as the reference applies it: a kink (a residual equal
    # to float32's epsilon=0.1) then falls on the same side of the parameter. A tuple of constants
    # stays float64, as the reference's Python arithmetic derives them.
    a = spec.parameter(call)
    a = a if isinstance(a, tuple) else dtype.type(a)
    reduced = reduction != "none"
    # The reduction's scale, as _reduction.reduce applies it: the gradient of an unweighted mean
    # times 1/n, of a weighted one times w / sum(w) (a sum over nothing is taken as 1).
    weighted = weight is not None
    if reduction == "mean":
        denominator = float(np.sum(weight)) if weighted else float(size)
        denominator = denominator if denominator > 0 else 1.0
    else:
        denominator = 1.0
    scale = 1.0 / denominator if (reduction == "mean" and not weighted) else 1.0
    flat_true, flat_pred = call.y_true.reshape(-1), y_pred.reshape(-1)
    flat_weight = weight.reshape(-1) if weighted else flat_pred[:0]
    grad = np.empty_like(y_pred) if with_grad else None
    flat_grad = grad.reshape(-1) if with_grad else flat_pred[:0]
    values = None if reduced else np.empty_like(y_pred)
    flat_values = None if reduced else values.reshape(-1)

    def run_chunk(start: int, stop: int, buffer: Any) -> float:
        out = buffer[:stop - start] if reduced else flat_values[start:stop]
        loop(flat_true[start:stop], flat_pred[start:stop], flat_weight[start:stop] if weighted else flat_weight,
             a, scale, denominator, out, flat_grad[start:stop] if with_grad else flat_grad, with_grad, weighted,
             spec.factored)
        return chunk_total(out) if reduced else 0.0

    total = _run_chunks(size, run_chunk, dtype)
    if not reduced:
        return values, ((grad,) if with_grad else None)
    value = total / denominator if reduction == "mean" else total
    if spec.root:
        if not math.isfinite(value):
            # r^2 overflowed (or a residual is inf or NaN): the reference's scaled norm keeps a
            # representable root mean square finite (_reduction.reduce).
            value, grads, _ = _run_kernel(call, reference=True)
            return value, grads
        # _reduction.reduce: d sqrt(m) = dm / (2 sqrt(m)), the subgradient 0 at a perfect fit.
        value = math.sqrt(value)
        if with_grad:
            np.multiply(grad, 0.5 / value if value > 0 else 0.0, out=grad)
    return np.asarray(value, dtype=dtype), ((grad,) if with_grad else None)


# ------------------------------------------------------------------ sparse softmax cross-entropy
#
# A hybrid, chunk by chunk of rows: a compiled loop writes each row's logits minus its maximum into
# the gradient's rows (into a scratch buffer for a value-only call); NumPy's exp, row sum and log
# run on that cache-resident chunk; a second compiled loop finishes the loss and scales the
# gradient in place. The logits are read from memory once and the gradient written once.
#
# exp, the row sums and log are NumPy's own, not compiled ones, because they decide the result
# where it cancels: the gradient of the label's logit is softmax - 1, and in float32 a sum of
# exps one ulp apart moves it by two ulp of 1, which is all of such an entry when the label is
# predicted well. With the reference's ufuncs on the same values these entries are the
# reference's to the bit (NumPy's sum of a row does not depend on the rows around it), and every
# other step is the reference's operation in the compute dtype.

def _row_max(row):
    """The largest non-NaN entry of ``row`` (-inf if none).

    Eight running maxima, not one: a single one makes every comparison wait for the previous
    one, and LLVM may not split it itself without reassociating. A NaN is skipped here, which
    changes nothing: it makes its row's sum and every result of the row NaN whatever the shift,
    as in the reference.
    """
    size = row.shape[0]
    body = size - size % 8
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = _real(-np.inf)
    for s in range(0, body, 8):
        v = row[s]
        m0 = v if v > m0 else m0
        v = row[s + 1]
        m1 = v if v > m1 else m1
        v = row[s + 2]
        m2 = v if v > m2 else m2
        v = row[s + 3]
        m3 = v if v > m3 else m3
        v = row[s + 4]
        m4 = v if v > m4 else m4
        v = row[s + 5]
        m5 = v if v > m5 else m5
        v = row[s + 6]
        m6 = v if v > m6 else m6
        v = row[s + 7]
        m7 = v if v > m7 else m7
    largest = m0
    for m in (m1, m2, m3, m4, m5, m6, m7):
        largest = m if m > largest else largest
    for c in range(body, size):
        largest = row[c] if row[c] > largest else largest
    return largest


def _real(x):
    """Stands for the compute dtype's scalar type in the softmax loops; :func:`_compiled_softmax` binds it."""
    raise NotImplementedError


def _softmax_shift(logits, shifted, shifts):
    # multiclass._sparse_softmax_kernel: the shift is the row's maximum, 0 for a row of -inf
    # only; a +inf maximum is kept, so that the row is NaN as in the reference.
    for i in range(logits.shape[0]):
        row = logits[i]
        shift = _row_max(row)
        shift = _real(0.0) if shift == -np.inf else shift
        shifts[i] = shift
        out = shifted[i]
        for c in range(row.shape[0]):
            out[c] = row[c] - shift


def _softmax_finish(labels, logits, shifts, sums, log_sums, exps, weight, class_weight, ignore_index, divisor,
                    values, with_grad, weighted, has_class_weight, has_ignore):
    """Each row's weighted loss into ``values``; ``exps`` (the gradient's rows) turned into the gradient.

    The reference's steps in its order and dtype (multiclass._sparse_softmax_kernel, _sparse,
    _reduction.reduce): loss = w_y (log_sum - (x_y - shift)); gradient (exp / sum) w_y - onehot w_y;
    an ignored row 0 in both; then the sample weight w over the mean's divisor (1 for "sum" and
    "none").
    """
    one = _real(1.0)
    for i in range(logits.shape[0]):
        label = np.int64(labels[i])
        w = weight[i] if weighted else one
        scale = w / _real(divisor)
        if has_ignore and label == ignore_index:
            values[i] = _real(0.0) * w
            if with_grad:
                exps[i, :] = _real(0.0) * scale
            continue
        label_weight = class_weight[label] if has_class_weight else one
        values[i] = (label_weight * (log_sums[i] - (logits[i, label] - shifts[i]))) * w
        if with_grad:
            row, row_sum = exps[i], sums[i]
            for c in range(row.shape[0]):
                row[c] = (row[c] / row_sum) * label_weight
            row[label] = row[label] - label_weight
            for c in range(row.shape[0]):
                row[c] = row[c] * scale


def _softmax_labels(labels, classes, weight, class_weight, ignore_index, weighted, has_class_weight, has_ignore):
    """(sum over kept rows of w * n, the mean's denominator; count of labels outside [0, classes))."""
    total = 0.0
    invalid = 0
    for i in range(labels.shape[0]):
        label = np.int64(labels[i])
        if has_ignore and label == ignore_index:
            continue
        if label < 0 or label >= classes:
            invalid += 1
            continue
        term = class_weight[label] if has_class_weight else 1.0
        total += term * weight[i] if weighted else term
    return total, invalid


@lru_cache(maxsize=None)
def _compiled_softmax(dtype_name: str) -> tuple[Callable, Callable, Callable]:
    """:func:`_softmax_shift`, :func:`_softmax_finish` and :func:`_softmax_labels` for the compute dtype."""
    namespace = dict(_compiled_namespace())
    namespace["_real"] = getattr(np, dtype_name)
    namespace["_row_max"] = _jit(_rebound(_row_max, namespace), inline="always")
    compiled = []
    for function in (_softmax_shift, _softmax_finish, _softmax_labels):
        rebound = _rebound(function, namespace)
        rebound.__qualname__ = f"{function.__name__}_{dtype_name}"  # see _compiled_loop
        compiled.append(_jit(rebound, nogil=True))
    return tuple(compiled)


SOFTMAX_CHUNK_ELEMENTS = 1 << 18
"""Logits (whole rows, at least one) per unit of work of the sparse softmax kernel.

Each row is finished while it is in cache, so the chunk only sets how much compiled work one
dispatch from Python buys; rows of a language model's vocabulary are large, and a chunk of a few
of them keeps the GIL-holding bookkeeping between chunks small.
"""


def _fused_sparse_softmax(call: Any) -> tuple[Any, tuple | None]:
    """A "reduced" kernel of sparse_softmax_cross_entropy: ``(value, (grad,) or None)``."""
    logits = call.y_pred
    dtype, classes = logits.dtype, logits.shape[-1]
    rows = logits.size // classes
    flat_logits = logits.reshape(rows, classes)
    labels = call.y_true.reshape(-1)
    weight = call.weight
    weighted = weight is not None
    if weighted:
        missing = len(call.loss_shape) - weight.ndim
        weight = np.broadcast_to(weight.reshape(weight.shape + (1,) * missing), call.loss_shape).reshape(-1)
    else:
        weight = flat_logits[0, :0]
    class_weight = call.params.get("class_weight")
    has_class_weight = class_weight is not None
    class_weight = np.ascontiguousarray(class_weight) if has_class_weight else flat_logits[0, :0]
    ignore_index = call.params.get("ignore_index")
    has_ignore = ignore_index is not None
    ignore_index = int(ignore_index) if has_ignore else 0

    shift_rows, finish_rows, labels_pass = _compiled_softmax(dtype.name)
    total_norm, invalid = labels_pass(labels, classes, weight, class_weight, ignore_index,
                                      weighted, has_class_weight, has_ignore)
    if invalid:
        # Labels outside [0, classes) reach a kernel only with value checks off; whatever the
        # reference then does (an IndexError, or a negative label read from the end) is the answer.
        value, grads, _ = _run_kernel(call, reference=True)
        return value, grads
    reduction, with_grad = call.reduction, call.order >= 1
    if reduction != "mean":
        divisor = 1.0
    elif weighted or has_class_weight or has_ignore:
        divisor = total_norm if total_norm > 0 else 1.0
    else:
        divisor = float(rows)
    reduced = reduction != "none"
    grad = np.empty_like(logits) if with_grad else None
    flat_grad = grad.reshape(rows, classes) if with_grad else flat_logits[:0]
    values = None if reduced else np.empty(rows, dtype=dtype)
    chunk_rows = max(1, SOFTMAX_CHUNK_ELEMENTS // classes)
    # Per thread: the chunk's row values, shifts, sums and log-sums, and for a value-only call the
    # exps of its rows.
    scratch_size = 0 if with_grad else chunk_rows * classes

    def run_chunk(start: int, stop: int, buffer: Any) -> float:
        count = stop - start
        out, shifts, sums, log_sums = (buffer[j * chunk_rows:j * chunk_rows + count] for j in range(4))
        exps = flat_grad[start:stop] if with_grad else buffer[4 * chunk_rows:4 * chunk_rows + count * classes].reshape(count, classes)
        chunk_logits = flat_logits[start:stop]
        shift_rows(chunk_logits, exps, shifts)
        np.exp(exps, out=exps)
        np.sum(exps, axis=-1, out=sums)
        np.log(sums, out=log_sums)
        finish_rows(labels[start:stop], chunk_logits, shifts, sums, log_sums, exps,
                    weight[start:stop] if weighted else weight, class_weight, ignore_index, divisor,
                    out if reduced else values[start:stop], with_grad, weighted, has_class_weight, has_ignore)
        return _compiled_total()(out) if reduced else 0.0

    total = _run_chunks(rows, run_chunk, dtype, chunk=chunk_rows, buffer_size=4 * chunk_rows + scratch_size)
    grads = (grad,) if with_grad else None
    if not reduced:
        return values.reshape(call.loss_shape), grads
    return np.asarray(total / divisor if reduction == "mean" else total, dtype=dtype), grads


# ------------------------------------------------------------------------------ acceptance

@lru_cache(maxsize=None)
def numba_available() -> bool:
    """Whether numba can be imported (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def _fused_array(x: Any, dtype: Any) -> bool:
    return type(x) is np.ndarray and x.dtype == dtype and x.flags.c_contiguous


def _accepts(call: Any) -> bool:
    """The calls where the fused kernel equals the reference (see the module docstring)."""
    y_pred = call.y_pred
    if call.size < FUSED_MIN_ELEMENTS or not numba_available() or len(call.predictions) != 1:
        return False
    dtype = y_pred.dtype
    if dtype not in _FLOAT_DTYPES or not _fused_array(y_pred, dtype) or not _fused_array(call.y_true, dtype):
        return False
    weight = call.weight
    if weight is not None and (weight.shape != y_pred.shape or not _fused_array(weight, dtype)):
        return False  # a prefix-shaped weight would need an index division per element
    if call.loss.name in _FLOORED and grad_floor(call.out_dtype) != GRAD_DENOMINATOR_FLOOR:
        return False  # a float16 result's larger gradient floor (_kernels.grad_floor) takes the reference
    return call.params.get("pos_weight") is None and FUSED_LOSSES[call.loss.name].covers(call.params)


# The element functions that divide by max(p, GRAD_DENOMINATOR_FLOOR), compiled with that constant.
_FLOORED = frozenset(("binary_cross_entropy", "poisson"))

for _name in FUSED_LOSSES:
    register_kernel(_name, "numpy", _fused_pointwise, _accepts, name="numba_fused", style="reduced", max_order=1)
del _name


def _accepts_sparse_softmax(call: Any) -> bool:
    """The calls where :func:`_fused_sparse_softmax` equals the reference.

    numba is installed; at least :data:`FUSED_MIN_ELEMENTS` logits, a C-contiguous float32/float64
    NumPy array (the class axis last as given: a moved axis is a strided view); integer labels of
    any integer dtype; no label smoothing and no z_loss; class weights, ``ignore_index`` (within int64) and
    sample weights of any accepted shape are covered.
    """
    if call.size < FUSED_MIN_ELEMENTS or not numba_available() or len(call.predictions) != 1:
        return False
    logits, labels = call.y_pred, call.y_true
    if logits.dtype not in _FLOAT_DTYPES or not _fused_array(logits, logits.dtype):
        return False
    if type(labels) is not np.ndarray or labels.dtype.kind not in "iu":
        return False
    params = call.params
    if params.get("label_smoothing") or params.get("z_loss"):
        return False
    class_weight = params.get("class_weight")
    if class_weight is not None and type(class_weight) is not np.ndarray:
        return False
    ignore_index = params.get("ignore_index")
    if ignore_index is not None and not -(1 << 63) <= int(ignore_index) < (1 << 63):
        return False
    weight = call.weight
    return weight is None or type(weight) is np.ndarray


register_kernel("sparse_softmax_cross_entropy", "numpy", _fused_sparse_softmax, _accepts_sparse_softmax,
                name="numba_fused", style="reduced", max_order=1)
