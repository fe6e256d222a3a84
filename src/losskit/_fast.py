"""Fused NumPy value-and-gradient kernels (optional: numba), with the generic path as fallback.

``Loss.value_and_grad`` on NumPy evaluates the array-API expression of a loss: each elementwise
operation is one pass over memory, so Huber's value and gradient read and write the data about
ten times, and at batch 32 the array-API machinery costs more than the arithmetic. A compiled
loop that reads ``y_true`` and ``y_pred`` once and writes the value and the gradient once is
several times faster at every size. numba compiles such loops (``fastmath=False`` keeps IEEE
semantics, so results equal the generic path's to rounding).

Inputs are cut into chunks of ``CHUNK_ELEMENTS`` spread over a pool of threads (the compiled
loops release the GIL). A reduced call writes each chunk's values to a buffer and adds them in
vector lanes (a running total in the loop would stop LLVM vectorising it); the chunk totals are
added in chunk order, so a reduced value does not depend on the number of threads.

The losses whose time goes into transcendental functions (poisson's log, the sigmoid
cross-entropy's exp and log1p, softmax's exp) take a hybrid path: numba's scalar libm calls cost
about 10 ns an element, where NumPy's SIMD ufuncs (SVML on AVX-512) cost 1 to 3 ns. On each
chunk NumPy evaluates the transcendental functions into buffers that stay in cache, and a numba
loop finishes the value and the gradient. Inputs of up to ``SCALAR_MAX_ELEMENTS`` skip the NumPy
calls and run the same element formula in one compiled loop, so a batch of 32 costs one call
into compiled code.

:func:`value_and_grad_numpy` is the entry point; it returns what ``loss.value_and_grad(...)``
returns (which calls it for NumPy inputs), and takes the generic path whenever numba is missing,
the inputs are not float32/float64 NumPy arrays, or the call uses something the fused kernels do
not cover (sample weights, class weights, ignore_index, label smoothing, losses without a kernel
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
import os
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ._array import GRAD_DENOMINATOR_FLOOR, is_concrete
from ._loss import Loss

__all__ = ["value_and_grad_numpy", "fused_losses", "numba_available"]


@lru_cache(maxsize=None)
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


# name -> (body, name of its scalar parameter or None)
_POINTWISE: dict[str, tuple[Callable, str | None]] = {
    "mean_squared_error": (_squared_error, None),
    "half_squared_error": (_half_squared_error, None),
    "mean_absolute_error": (_absolute_error, None),
    "huber": (_huber, "delta"),
    "quantile": (_pinball, "q"),
}


def fused_losses() -> tuple[str, ...]:
    """The catalog names that have a fused kernel here."""
    return (*_POINTWISE, *_HYBRID_POINTWISE, *_CLASS_AXIS)


# Below this many elements one thread is faster: waking the thread pool costs more than the
# loop itself (measured at batch 32 and 10^4 on 2 cores).
PARALLEL_THRESHOLD = 1 << 16

# Elements in a chunk. The Python between a chunk's compiled calls costs about 15 us and holds
# the GIL, which the other threads then wait for; at 2^16 elements (256 KiB of float32 an array)
# that is a few percent, and a hybrid loss's buffers are still read back from the L2/L3 caches.
# Measured on 2 cores at 10^7 elements: 2^14 gave no gain from the second thread, 2^16 1.3-1.7x.
CHUNK_ELEMENTS = 1 << 16


@lru_cache(maxsize=None)
def _scalar_kernel(name: str) -> Callable:
    """The compiled loop of a pointwise loss over a chunk: value into loss_out, scaled gradient."""
    import numba

    def compiled(function):
        return numba.njit(inline="always", fastmath=False, error_model="numpy")(function)

    if name in _POINTWISE:
        body = compiled(_POINTWISE[name][0])
    else:  # a hybrid loss on a small input: its element body on terms from numba's libm
        element_body, _, scalar_terms = _HYBRID_POINTWISE[name]
        element, terms = compiled(element_body), compiled(scalar_terms)

        @compiled
        def body(y, p, a):
            first, second = terms(p)
            return element(y, p, first, second)

    # No running total here: a strict-order float reduction stops LLVM vectorising the loop, so
    # a reduced call writes the values to a chunk buffer and _chunk_total adds them.
    @numba.njit(nogil=True, fastmath=False, error_model="numpy")
    def run(y, p, a, scale, loss_out, grad_out):
        invalid = 0
        for i in range(p.shape[0]):
            value, grad, bad = body(y[i], p[i], a)
            loss_out[i] = value
            grad_out[i] = grad * scale
            invalid += bad
        return invalid

    return run


@lru_cache(maxsize=None)
def _chunk_total() -> Callable:
    import numba

    # Reassociation is allowed in this sum only (so LLVM adds in vector lanes): the order of its
    # terms changes its rounding, not its meaning; the kernels keep IEEE order (fastmath=False).
    # The float64 accumulator keeps the sum of a long float32 chunk or row at float32 accuracy.
    @numba.njit(nogil=True, fastmath={"reassoc"}, error_model="numpy")
    def total(values):
        accumulator = 0.0
        for i in range(values.shape[0]):
            accumulator += values[i]
        return accumulator

    return total


# --------------------------------------------------------------------------- hybrid kernels
#
# Each hybrid pointwise loss has an element body, mapping (y, p) and two transcendental terms to
# (loss, d loss / d p, invalid); a NumPy step, which computes those terms for a whole chunk into
# two buffers; and a scalar step (the terms through numba's libm) for inputs too small to pay for
# the NumPy calls. Both paths run the same element body.

def _poisson_element(y, rate, safe_rate, log_safe_rate):
    # regression._poisson: rate - count log(rate), the cross term 0 at a zero count, and the
    # gradient 1 - count / rate with the rate floored.
    cross = y * log_safe_rate if y > 0 else 0.0
    return rate - cross, 1.0 - y / safe_rate, 1 if (y < 0 or rate < 0) else 0


def _poisson_terms(rate, safe_rate, log_safe_rate):
    np.maximum(rate, GRAD_DENOMINATOR_FLOOR, out=safe_rate)
    np.log(safe_rate, out=log_safe_rate)


def _poisson_scalar_terms(rate):
    safe_rate = max(rate, GRAD_DENOMINATOR_FLOOR)
    return safe_rate, math.log(safe_rate)


def _sigmoid_element(y, x, shared_exp, shared_log1p):
    # binary._sigmoid_cross_entropy: a term whose weight is 0 is dropped before the product, so
    # an infinite logit on the label it predicts costs 0, not NaN.
    softplus_positive = max(x, 0.0) + shared_log1p
    softplus_negative = max(-x, 0.0) + shared_log1p
    negative = 1.0 - y
    loss = (y * softplus_negative if y > 0 else 0.0) + (negative * softplus_positive if negative > 0 else 0.0)
    probability = (1.0 if x >= 0 else shared_exp) / (1.0 + shared_exp)
    return loss, negative * probability - y * (1.0 - probability), 1 if (y < 0 or y > 1) else 0


def _sigmoid_terms(logits, shared_exp, shared_log1p):
    # softplus(x) = max(x, 0) + log1p(e^-|x|) and sigmoid(x) = (1 or e^-|x|) / (1 + e^-|x|)
    # share e^-|x|, which is never above 1, so neither overflows.
    np.abs(logits, out=shared_exp)
    np.negative(shared_exp, out=shared_exp)
    np.exp(shared_exp, out=shared_exp)
    np.log1p(shared_exp, out=shared_log1p)


def _sigmoid_scalar_terms(x):
    shared_exp = math.exp(-abs(x))
    return shared_exp, math.log1p(shared_exp)


# name -> (element body, NumPy step, scalar step)
_HYBRID_POINTWISE: dict[str, tuple[Callable, Callable, Callable]] = {
    "poisson": (_poisson_element, _poisson_terms, _poisson_scalar_terms),
    "sigmoid_cross_entropy": (_sigmoid_element, _sigmoid_terms, _sigmoid_scalar_terms),
}
# Up to this many elements a hybrid loss takes its scalar body in one compiled loop: two NumPy
# calls and their buffers cost about 5 us, the libm calls about 10 ns an element more.
SCALAR_MAX_ELEMENTS = 1 << 10
_CLASS_AXIS = ("sparse_softmax_cross_entropy",)


def _softmax_shift(logits, row_max, shifted):
    # logits - row_max, with a row of -inf logits (every class masked) shifted by 0 as
    # _array.log_softmax does; row_max is corrected in place for the finishing step.
    rows, classes = logits.shape
    for i in range(rows):
        if not np.isfinite(row_max[i]):
            row_max[i] = 0.0
        shift = row_max[i]
        for c in range(classes):
            shifted[i, c] = logits[i, c] - shift


@lru_cache(maxsize=None)
def _softmax_finish_jitted() -> Callable:
    import numba

    row_total = _chunk_total()

    @numba.njit(nogil=True, fastmath=False, error_model="numpy")
    def finish(labels, logits, row_max, grad, loss_out, scale):
        # grad holds exp(logits - row_max); the loss is log(sum) - (logit of the label - row_max)
        # and the gradient softmax - one_hot(label).
        rows, classes = grad.shape
        invalid = 0
        for i in range(rows):
            label = labels[i]
            if label < 0 or label >= classes:
                invalid += 1
                label = 0
            row_sum = row_total(grad[i])
            loss_out[i] = math.log(row_sum) - (logits[i, label] - row_max[i])
            factor = scale / row_sum
            for c in range(classes):
                grad[i, c] *= factor
            grad[i, label] -= scale
        return invalid

    return finish


@lru_cache(maxsize=None)
def _softmax_small_jitted() -> Callable:
    """Sparse softmax cross-entropy in one compiled call, for inputs up to SCALAR_MAX_ELEMENTS."""
    import numba

    finish = _softmax_finish_jitted()

    @numba.njit(nogil=True, fastmath=False, error_model="numpy")
    def small(labels, logits, grad, loss_out, scale):
        rows, classes = logits.shape
        row_max = np.empty(rows, dtype=logits.dtype)
        for i in range(rows):
            largest = -np.inf
            for c in range(classes):
                largest = max(largest, logits[i, c])
            # As in _softmax_shift; a NaN logit makes its row NaN whatever the shift.
            row_max[i] = largest if np.isfinite(largest) else 0.0
            for c in range(classes):
                grad[i, c] = math.exp(logits[i, c] - row_max[i])
        return finish(labels, logits, row_max, grad, loss_out, scale)

    return small


@lru_cache(maxsize=None)
def _jitted(function: Callable) -> Callable:
    import numba

    # error_model="numpy": a float division by zero gives inf or NaN, as in NumPy, instead of
    # numba's default Python semantics, whose ZeroDivisionError check stops LLVM vectorising.
    return numba.njit(nogil=True, fastmath=False, error_model="numpy")(function)


@lru_cache(maxsize=None)
def _hybrid_steps(name: str) -> tuple[Callable, Callable]:
    """The NumPy step of a hybrid loss and its compiled finishing loop over a chunk."""
    import numba

    element_body, numpy_step, _ = _HYBRID_POINTWISE[name]
    element = numba.njit(inline="always", fastmath=False, error_model="numpy")(element_body)

    @numba.njit(nogil=True, fastmath=False, error_model="numpy")
    def finish(y, p, first, second, loss_out, grad_out, scale):
        invalid = 0
        for i in range(p.shape[0]):
            value, grad, bad = element(y[i], p[i], first[i], second[i])
            loss_out[i] = value
            grad_out[i] = grad * scale
            invalid += bad
        return invalid

    return numpy_step, finish


def _pointwise_chunk(kernel, steps, a: float, y, p, loss_out, grad_out, scale: float, buffers) -> tuple[float, int]:
    """One chunk of a pointwise loss: the scalar kernel, or a hybrid loss's NumPy step and
    finishing loop (``steps``); loss_out is None for a reduced call, whose values go to a buffer."""
    size = p.shape[0]
    first, second, values = buffers if buffers.shape[1] == size else buffers[:, :size]
    out = values if loss_out is None else loss_out
    if steps is None:
        invalid = kernel(y, p, a, scale, out, grad_out)
    else:
        numpy_step, finish = steps
        numpy_step(p, first, second)
        invalid = finish(y, p, first, second, out, grad_out, scale)
    return (_chunk_total()(values) if loss_out is None else 0.0), invalid


def _softmax_chunk(labels, logits, loss_out, grad, scale: float, buffers) -> tuple[float, int]:
    """One chunk of rows of sparse softmax cross-entropy; loss_out is None for a reduced call."""
    rows = logits.shape[0]
    row_max = logits.max(axis=-1)
    _jitted(_softmax_shift)(logits, row_max, grad)
    np.exp(grad, out=grad)
    values = buffers[2][:rows] if loss_out is None else loss_out
    invalid = _softmax_finish_jitted()(labels, logits, row_max, grad, values, scale)
    return (_chunk_total()(values) if loss_out is None else 0.0), invalid


_POOL: list[tuple[int, int, Any]] = []  # (process id, threads, ThreadPoolExecutor)


def _executor(threads: int):
    """A process-wide thread pool; a forked child gets its own, as the parent's threads are not its."""
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL or _POOL[0][:2] != (os.getpid(), threads):
        _POOL[:] = [(os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="losskit-fast"))]
    return _POOL[0][2]


def _thread_count() -> int:
    import numba

    return numba.get_num_threads()  # NUMBA_NUM_THREADS and numba.set_num_threads() apply here too


def _run_chunks(units: int, chunk_units: int, run_chunk: Callable, dtype, parallel: bool) -> tuple[float, int]:
    """run_chunk(start, stop, buffers) over [0, units) in chunks; totals added in chunk order.

    A unit is an element (pointwise losses) or a row (class-axis losses); each thread gets three
    buffers of one chunk's units.
    """
    buffer_units = min(chunk_units, units)
    if units <= chunk_units:  # one chunk (small inputs): no pool, no bookkeeping
        return run_chunk(0, units, np.empty((3, buffer_units), dtype=dtype)) if units else (0.0, 0)
    starts = list(range(0, units, chunk_units))
    threads = min(_thread_count(), len(starts)) if parallel else 1

    def run_block(block: list[int]) -> list[tuple[float, int]]:
        buffers = np.empty((3, buffer_units), dtype=dtype)
        return [run_chunk(start, min(start + chunk_units, units), buffers) for start in block]

    if threads <= 1:
        results = run_block(starts)
    else:
        per_thread = -(-len(starts) // threads)
        blocks = [starts[i:i + per_thread] for i in range(0, len(starts), per_thread)]
        results = [r for future in [_executor(threads).submit(run_block, b) for b in blocks] for r in future.result()]
    return math.fsum(total for total, _ in results), sum(invalid for _, invalid in results)


def _is_unset(value: Any) -> bool:
    """A label smoothing that changes nothing: None or 0."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _supported(loss: Loss, y_true: Any, y_pred: Any, sample_weight: Any, params: dict) -> bool:
    if sample_weight is not None or type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray:
        return False
    if y_pred.dtype not in _FLOAT_DTYPES or not y_pred.flags.c_contiguous:
        return False
    name = loss.name
    if name in _POINTWISE or name in _HYBRID_POINTWISE:
        param_name = _POINTWISE[name][1] if name in _POINTWISE else None
        return y_true.dtype == y_pred.dtype and y_true.shape == y_pred.shape and y_true.flags.c_contiguous \
            and all(v is None or k == param_name or (k == "label_smoothing" and _is_unset(v)) for k, v in params.items())
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
    if reduction not in ("none", "sum", "mean") or not numba_available() \
            or not _supported(loss, y_true, y_pred, sample_weight, params):
        return _generic(loss, y_true, y_pred, sample_weight, reduction, params)
    bound = loss._bind_params(params)  # validates the scalar parameters, as the generic path does
    reduce = reduction != "none"
    dtype = y_pred.dtype
    grad = np.empty_like(y_pred)
    parallel = y_pred.size >= PARALLEL_THRESHOLD
    if loss.name in _POINTWISE or loss.name in _HYBRID_POINTWISE:
        size = y_pred.size
        scale = 1.0 / max(size, 1) if reduction == "mean" else 1.0
        param_name = _POINTWISE[loss.name][1] if loss.name in _POINTWISE else None
        a = float(bound[param_name]) if param_name else 0.0
        scalar = loss.name in _POINTWISE or size <= SCALAR_MAX_ELEMENTS
        kernel, steps = (_scalar_kernel(loss.name), None) if scalar else (None, _hybrid_steps(loss.name))
        flat_true, flat_pred, flat_grad = y_true.reshape(-1), y_pred.reshape(-1), grad.reshape(-1)
        values = np.empty(0 if reduce else size, dtype=dtype)

        def run_chunk(start, stop, buffers):
            return _pointwise_chunk(kernel, steps, a, flat_true[start:stop], flat_pred[start:stop],
                                    None if reduce else values[start:stop], flat_grad[start:stop], scale, buffers)

        total, invalid = _run_chunks(size, CHUNK_ELEMENTS, run_chunk, dtype, parallel)
        loss_shape = y_pred.shape
    else:
        classes = y_pred.shape[-1]
        rows = math.prod(y_pred.shape[:-1])
        scale = 1.0 / max(rows, 1) if reduction == "mean" else 1.0
        labels, logits = y_true.reshape(-1), y_pred.reshape(rows, classes)
        grad_rows = grad.reshape(rows, classes)
        values = np.empty(0 if reduce else rows, dtype=dtype)
        chunk_rows = max(1, CHUNK_ELEMENTS // max(classes, 1))

        def run_chunk(start, stop, buffers):
            return _softmax_chunk(labels[start:stop], logits[start:stop], None if reduce else values[start:stop],
                                  grad_rows[start:stop], scale, buffers)

        if y_pred.size <= SCALAR_MAX_ELEMENTS:
            row_values = np.empty(rows, dtype=dtype) if reduce else values
            invalid = _softmax_small_jitted()(labels, logits, grad_rows, row_values, scale)
            total = _chunk_total()(row_values) if reduce else 0.0
        else:
            total, invalid = _run_chunks(rows, chunk_rows, run_chunk, dtype, parallel)
        loss_shape = y_pred.shape[:-1]
    if invalid and _checks_on():  # the generic path raises losskit's error, naming the offending value
        return _generic(loss, y_true, y_pred, sample_weight, reduction, params)
    if reduce:
        value = np.asarray(total * scale, dtype=dtype)
    else:
        value = values.reshape(loss_shape)
    return value, grad


def _generic(loss: Loss, y_true: Any, y_pred: Any, sample_weight: Any, reduction: str, params: dict):
    # Not loss.value_and_grad, which dispatches to value_and_grad_numpy.
    kwargs = dict(params, sample_weight=sample_weight, reduction=reduction)
    return loss._evaluate((y_true, y_pred), kwargs, with_grad=True)


def _checks_on() -> bool:
    return is_concrete(np.empty(0))

