"""Fused NumPy value-and-gradient kernels (optional: numba), with the generic path as fallback.

``Loss.value_and_grad`` on NumPy evaluates the array-API expression of a loss: each elementwise
operation is one pass over memory, so Huber's value and gradient read and write the data about
ten times. For large arrays the cost is memory traffic, and a fused loop that reads ``y_true``
and ``y_pred`` once and writes the value and the gradient once is several times faster. numba
compiles such loops (``parallel=True`` spreads them over the cores; ``fastmath=False`` keeps
IEEE semantics, so results equal the generic path's to rounding).

:func:`value_and_grad_numpy` is the entry point; it returns exactly what
``loss.value_and_grad(...)`` returns, and takes the generic path whenever numba is missing, the
inputs are not float32/float64 NumPy arrays, or the call uses something the fused kernels do not
cover (sample weights, class weights, ignore_index, label smoothing, losses without a kernel
here). Value checks cost nothing extra: each kernel counts invalid inputs in the same pass, and a
non-zero count re-runs the call on the generic path, which raises losskit's usual error.

>>> import numpy as np, losskit as lk
>>> from losskit._fast import value_and_grad_numpy
>>> value, grad = value_and_grad_numpy(lk.huber, np.zeros(3), np.array([0.5, 2.0, -3.0]), delta=1.0)
>>> float(value), grad.tolist()
(1.375, [0.16666666666666666, 0.3333333333333333, -0.3333333333333333])
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ._array import GRAD_DENOMINATOR_FLOOR, is_concrete
from ._loss import Loss

__all__ = ["value_and_grad_numpy", "fused_losses", "numba_available"]


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- pointwise bodies
#
# Each body maps one (y, p) pair and the scalar parameter a to (loss, d loss / d p, invalid),
# invalid being 1 when the pair is outside the loss's domain (checked like the generic path).

def _squared_error(y, p, a):
    r = p - y
    return r * r, 2.0 * r, 0


def _half_squared_error(y, p, a):
    r = p - y
    return 0.5 * r * r, r, 0


def _absolute_error(y, p, a):
    r = p - y
    return abs(r), (1.0 if r > 0 else (-1.0 if r < 0 else 0.0 * r)), 0


def _huber(y, p, delta):
    r = p - y
    m = abs(r)
    inner = min(m, delta)
    return inner * (m - 0.5 * inner), max(-delta, min(r, delta)), 0


def _pinball(y, p, q):
    s = y - p
    loss = max(q * s, (q - 1.0) * s)
    return loss, (-q if s > 0 else ((1.0 - q) if s < 0 else 0.0 * s)), 0


def _poisson(y, p, a):
    safe = max(p, GRAD_DENOMINATOR_FLOOR)
    cross = y * math.log(safe) if y > 0 else 0.0
    return p - cross, 1.0 - y / safe, 1 if (y < 0 or p < 0) else 0


def _sigmoid_cross_entropy(y, x, a):
    # softplus(x) = max(x, 0) + log1p(exp(-|x|)); sigmoid written with z = exp(-|x|) <= 1.
    z = math.exp(-abs(x))
    log1p_z = math.log1p(z)
    softplus_pos = max(x, 0.0) + log1p_z  # softplus(x)
    softplus_neg = max(-x, 0.0) + log1p_z  # softplus(-x)
    negative = 1.0 - y
    loss = (y * softplus_neg if y > 0 else 0.0) + (negative * softplus_pos if negative > 0 else 0.0)
    probability = (1.0 if x >= 0 else z) / (1.0 + z)
    grad = negative * probability - y * (1.0 - probability)
    return loss, grad, 1 if (y < 0 or y > 1) else 0


# name -> (body, name of its scalar parameter or None)
_POINTWISE: dict[str, tuple[Callable, str | None]] = {
    "mean_squared_error": (_squared_error, None),
    "half_squared_error": (_half_squared_error, None),
    "mean_absolute_error": (_absolute_error, None),
    "huber": (_huber, "delta"),
    "quantile": (_pinball, "q"),
    "poisson": (_poisson, None),
    "sigmoid_cross_entropy": (_sigmoid_cross_entropy, None),
}
_CLASS_AXIS = ("sparse_softmax_cross_entropy",)


def fused_losses() -> tuple[str, ...]:
    """The catalog names that have a fused kernel here."""
    return (*_POINTWISE, *_CLASS_AXIS)


# Below this many elements one thread is faster: waking numba's thread pool costs more than the
# loop itself (measured at batch 32 and 10^4 on 2 cores).
PARALLEL_THRESHOLD = 1 << 16


@lru_cache(maxsize=None)
def _compiled_pointwise(name: str, parallel: bool):
    import numba

    body = numba.njit(inline="always", fastmath=False)(_POINTWISE[name][0])

    @numba.njit(parallel=parallel, fastmath=False)
    def run(y, p, a, scale, loss_out, grad_out, reduce):
        n = p.shape[0]
        total = 0.0
        invalid = 0
        for i in numba.prange(n):
            value, grad, bad = body(y[i], p[i], a)
            grad_out[i] = grad * scale
            if reduce:
                total += value
            else:
                loss_out[i] = value
            invalid += bad
        return total, invalid

    return run


@lru_cache(maxsize=None)
def _compiled_sparse_softmax(parallel: bool):
    import numba

    @numba.njit(parallel=parallel, fastmath=False)
    def run(labels, logits, scale, loss_out, grad_out, reduce):
        n, k = logits.shape
        total = 0.0
        invalid = 0
        for i in numba.prange(n):
            label = labels[i]
            if label < 0 or label >= k:
                invalid += 1
                label = 0
            row_max = -np.inf
            for c in range(k):
                row_max = max(row_max, logits[i, c])
            if not np.isfinite(row_max):
                row_max = 0.0
            sum_exp = 0.0
            for c in range(k):
                e = math.exp(logits[i, c] - row_max)
                grad_out[i, c] = e
                sum_exp += e
            log_norm = math.log(sum_exp)
            value = log_norm - (logits[i, label] - row_max)
            factor = scale / sum_exp
            for c in range(k):
                grad_out[i, c] *= factor
            grad_out[i, label] -= scale
            if reduce:
                total += value
            else:
                loss_out[i] = value
        return total, invalid

    return run


def _is_unset(value: Any) -> bool:
    """A label smoothing that changes nothing: None or 0."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


def _supported(loss: Loss, y_true: Any, y_pred: Any, sample_weight: Any, params: dict) -> bool:
    if sample_weight is not None or not isinstance(y_pred, np.ndarray) or not isinstance(y_true, np.ndarray):
        return False
    if y_pred.dtype not in (np.float32, np.float64) or not y_pred.flags.c_contiguous:
        return False
    if loss.name in _POINTWISE:
        param_name = _POINTWISE[loss.name][1]
        unsupported = {k: v for k, v in params.items() if k != param_name}
        return y_true.dtype == y_pred.dtype and y_true.shape == y_pred.shape and y_true.flags.c_contiguous \
            and all(v is None or (k == "label_smoothing" and _is_unset(v)) for k, v in unsupported.items())
    if loss.name in _CLASS_AXIS:
        return (
            y_pred.ndim >= 1 and y_true.shape == y_pred.shape[:-1] and np.issubdtype(y_true.dtype, np.integer)
            and _is_unset(params.get("label_smoothing"))
            and params.get("class_weight") is None and params.get("ignore_index") is None
        )
    return False


def value_and_grad_numpy(loss: Loss, y_true: Any, y_pred: Any, *, sample_weight: Any = None,
                         reduction: str = "mean", **params: Any) -> tuple[Any, Any]:
    """``loss.value_and_grad(y_true, y_pred, ...)`` through a fused kernel where one applies.

    Same arguments, same results (to rounding), same errors; see the module docstring for when
    the fused path is taken.
    """
    def generic():
        # Not loss.value_and_grad, which dispatches here for large NumPy inputs.
        kwargs = dict(params, sample_weight=sample_weight, reduction=reduction)
        return loss._evaluate((y_true, y_pred), kwargs, with_grad=True)

    if reduction not in ("none", "sum", "mean") or not numba_available() \
            or not _supported(loss, y_true, y_pred, sample_weight, params):
        return generic()
    bound = loss._bind_params(params)  # validates the scalar parameters, as the generic path does
    reduce = reduction != "none"
    dtype = y_pred.dtype
    if loss.name in _POINTWISE:
        size = y_pred.size
        scale = 1.0 / max(size, 1) if reduction == "mean" else 1.0
        param_name = _POINTWISE[loss.name][1]
        a = float(bound[param_name]) if param_name else 0.0
        grad = np.empty_like(y_pred)
        values = np.empty(0 if reduce else size, dtype=dtype)
        total, invalid = _compiled_pointwise(loss.name, size >= PARALLEL_THRESHOLD)(
            y_true.reshape(-1), y_pred.reshape(-1), a, scale, values, grad.reshape(-1), reduce
        )
        loss_shape = y_pred.shape
    else:
        rows = int(np.prod(y_pred.shape[:-1]))
        scale = 1.0 / max(rows, 1) if reduction == "mean" else 1.0
        grad = np.empty_like(y_pred)
        values = np.empty(0 if reduce else rows, dtype=dtype)
        total, invalid = _compiled_sparse_softmax(y_pred.size >= PARALLEL_THRESHOLD)(
            y_true.reshape(-1), y_pred.reshape(rows, y_pred.shape[-1]), scale, values,
            grad.reshape(rows, y_pred.shape[-1]), reduce,
        )
        loss_shape = y_pred.shape[:-1]
    if invalid and _checks_on():
        return generic()  # raises losskit's error, naming the offending value
    if reduce:
        value = np.asarray(total * scale, dtype=dtype)
    else:
        value = values.reshape(loss_shape)
    return value, grad


def _checks_on() -> bool:
    return is_concrete(np.empty(0))

