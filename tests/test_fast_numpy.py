"""The fused NumPy kernels (losskit.backends.numpy_fused) return what the reference kernels return.

Every NumPy kernel of the registry is run through the public doors (``loss(...)``, ``.grad``,
``.value_and_grad``) and compared with the same call under ``lk.reference_only()``: just past the
size from which the kernels accept a call, on one whole chunk, and on many chunks with a ragged
last one (the threaded path), for every reduction, with and without sample weights, with each
formula's edge values (kinks, floors, zero residuals, saturated logits, labels all 0/1 or +-1)
placed at the start, across a chunk boundary and at the very end.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import losskit as lk
from losskit import _kernels
from losskit.backends import numpy_fused

numba = pytest.importorskip("numba")

KERNELS = _kernels.kernels(backend="numpy")
POINTWISE_KERNELS = [kernel for kernel in KERNELS if lk.get(kernel.loss).kind == "pointwise"]
CLASS_AXIS_KERNELS = [kernel for kernel in KERNELS if lk.get(kernel.loss).kind != "pointwise"]
CHUNK = numpy_fused.CHUNK_ELEMENTS
SIZES = {
    "past-threshold": numpy_fused.FUSED_MIN_ELEMENTS + 1,
    "one-chunk": CHUNK,
    "many-chunks": 3 * CHUNK + 17,
}

# Non-default parameters worth a run of their own (a kink moves, a branch of the formula opens).
PARAMS = {
    "huber": [{"delta": 0.5}],
    "smooth_l1": [{"beta": 0.0}, {"beta": 0.5}],
    "pseudo_huber": [{"delta": 2.0}],
    "quantile": [{"q": 0.9}],
    "epsilon_insensitive": [{"epsilon": 0.25}],
    "binary_cross_entropy": [{"label_smoothing": 0.2}],
    "sigmoid_cross_entropy": [{"label_smoothing": 0.2}],
    "sigmoid_focal": [{"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 5.0}],
    # Every class of power: normal, below 0, Poisson, compound Poisson-gamma, gamma, beyond 2.
    "tweedie_deviance": [{"power": p} for p in (0.0, -1.0, 1.0, 1.2, 2.0, 3.0)],
    # The limits 2, 0 and -inf, the named member -2, values between and beyond them, a scale.
    "general_robust": [{"alpha": a} for a in (2.0, 0.0, -2.0, -math.inf, 0.5, 4.0)] + [{"alpha": -1.0, "scale": 0.3}],
    "cauchy": [{"scale": 0.3}, {"scale": 3.0}],
    "geman_mcclure": [{"scale": 0.3}],
    "welsch": [{"scale": 0.3}],
}
SIGNED = {"hinge", "squared_hinge", "modified_huber", "logistic"}
DEVIANCE_POWERS = {"gamma_deviance": 2.0, "tweedie_deviance": None}  # None: the power parameter
ROBUST = {"general_robust": 1.0, "cauchy": 0.0, "geman_mcclure": -2.0, "welsch": -math.inf}  # alpha (default)


def _deviance_power(loss, params) -> float:
    fixed = DEVIANCE_POWERS[loss.name]
    return params.get("power", loss.defaults["power"]) if fixed is None else fixed


def _deviance_edges(power: float):
    """(y_true, y_pred) pairs on each branch of regression._tweedie, inside the power's domain.

    Predictions > 0; the perfect fit and the Taylor series' radius |log(mu/y)| around it; the edges
    of the log1p band |mu - y| <= y/2; ratios far from 1 (expm1's cap in float32); y = 0 below
    power 2 and y < 0 below 0. No term overflows float32.
    """
    radius = 0.5 / max(1.0, abs(1.0 - power), abs(2.0 - power))
    pairs = [(3.0, 3.0), (3.0, 3.0 * (1.0 + 1e-8)), (2.0, 2.0 * math.exp(radius)), (2.0, 2.0 * math.exp(-radius)),
             (1.0, 1.5), (1.0, 0.5), (1.0, 1.5000001), (1e-30, 1.0), (5.0, 1e-6), (2.0, 1e10), (1e4, 0.5)]
    if power < 2.0:
        pairs += [(0.0, 1e-15), (0.0, 7.0), (0.0, 1e10)]
    if power <= 0.0:
        pairs += [(-3.0, 2.0), (-1e4, 1e-3)]
    return pairs


def _finite_edges(loss, signed: bool, params=None):
    """(y_true, y_pred) pairs on each branch boundary of the loss's formula."""
    if loss.name in DEVIANCE_POWERS and _deviance_power(loss, params or {}) != 0.0:
        return _deviance_edges(_deviance_power(loss, params or {}))
    if loss.name in SIGNED:
        labels = [-1.0, 1.0] if signed else [0.0, 1.0]
        margins = [1.0, -1.0, 0.0, 0.5, -0.5, 3.0, -3.0, -1.0 - 1e-12, 40.0, -800.0]
        return [(label, m) for m in margins for label in labels]
    if loss.prediction_space == "probabilities":
        return [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1e-13), (0.0, 1.0 - 1e-13), (0.5, 0.5), (0.3, 1e-30)]
    if loss.prediction_space == "logits":
        return [(0.0, 1e4), (1.0, -1e4), (0.0, -1e4), (1.0, 1e4), (0.5, 0.0), (1.0, 0.0), (0.0, 800.0), (1.0, -800.0)]
    if loss.label_format in ("non-negative", "counts") and loss.name not in DEVIANCE_POWERS:  # power 0: any reals
        return [(0.0, 0.0), (0.0, 1e-15), (5.0, 1e-15), (1.0, 0.0), (2.0, 1e30), (0.0, 7.0), (3.0, 3.0)]
    # Residuals at every kink of the regression losses (bands, thresholds, the log-cosh branch).
    residuals = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 1e-8, 1.0 - 1e-12, 30.0, 800.0]
    if loss.name in ROBUST and (params or {}).get("alpha", ROBUST[loss.name]) < 2.0:
        # Past the square limit of float32 (9.2e18) and of float64 (6.7e153, dropped in float32),
        # where x^2 is formed in log space; the loss grows slower than x^2 there and stays finite.
        residuals += [1e20, 1e30, 1e200]
    return [(0.0, s * r) for r in residuals for s in (1.0, -1.0)] + [(1e-9, 0.0), (-3.0, -3.0)]


def _non_finite_edges(loss):
    values = [np.inf, -np.inf, np.nan, 0.0, 1.0, -1.0]
    return [(y, p) for y in values for p in values]


def _draw(loss, size: int, rng, signed: bool, params=None):
    if loss.name in DEVIANCE_POWERS:
        # Gamma-distributed targets, exact zeros below power 2, negative ones below 0; means around
        # the targets, many within the series' radius.
        power = _deviance_power(loss, params or {})
        y_true = rng.gamma(2.0, 1.5, size)
        if power < 2.0:
            y_true = np.where(rng.random(size) < 0.3, 0.0, y_true)
        if power <= 0.0:
            y_true = y_true - 2.0
        return y_true, np.maximum(np.abs(y_true), 0.05) * np.exp(rng.normal(0.0, 0.5, size))
    if loss.name in SIGNED:
        y_true = rng.integers(0, 2, size).astype(float)
        y_true = 2.0 * y_true - 1.0 if signed else y_true
        return y_true, rng.normal(0.0, 2.0, size)
    if loss.prediction_space == "probabilities":
        return rng.uniform(0.0, 1.0, size), rng.uniform(0.01, 0.99, size)
    if loss.prediction_space == "logits":
        return rng.uniform(0.0, 1.0, size), rng.normal(0.0, 5.0, size)
    if loss.label_format in ("non-negative", "counts"):
        return rng.poisson(3.0, size).astype(float), rng.uniform(0.0, 6.0, size)
    return rng.normal(0.0, 2.0, size), rng.normal(0.0, 2.0, size)


def _representable(value: float, dtype) -> bool:
    # A finite edge beyond the dtype's range (1e200 in float32) is left out rather than made inf.
    return not math.isfinite(value) or abs(value) <= float(np.finfo(dtype).max)


def _inputs(loss, size: int, dtype, edges, *, signed: bool = False, seed: int = 0, params=None):
    rng = np.random.default_rng(seed)
    y_true, y_pred = _draw(loss, size, rng, signed, params)
    edges = [(y, p) for y, p in edges if _representable(y, dtype) and _representable(p, dtype)]
    edge_true, edge_pred = (np.array(column) for column in zip(*edges))
    count = len(edges)
    for start in sorted({0, min(CHUNK - count // 2, size - count), size - count}):
        y_true[start:start + count], y_pred[start:start + count] = edge_true, edge_pred
    return y_true.astype(dtype), y_pred.astype(dtype)


def _doors(loss, y_true, y_pred, kwargs):
    value = loss(y_true, y_pred, **kwargs)
    grad = loss.grad(y_true=y_true, **{loss.pred_name: y_pred}, **kwargs)  # keywords take the kernel too
    both = loss.value_and_grad(y_true, y_pred, **kwargs)
    return value, grad, both


def _assert_equal_to_reference(kernel, y_true, y_pred, kwargs, rtol):
    loss = lk.get(kernel.loss)
    call = loss.prepare((y_true, y_pred), kwargs, order=1)
    assert _kernels.select(call) is kernel  # the doors below run the kernel under test
    value, grad, (both_value, both_grad) = _doors(loss, y_true, y_pred, kwargs)
    with lk.reference_only():
        expected_value, expected_grad = loss.value_and_grad(y_true, y_pred, **kwargs)
    for got in (value, both_value):
        assert got.dtype == expected_value.dtype and got.shape == expected_value.shape
        np.testing.assert_allclose(got, expected_value, rtol=rtol, atol=rtol)
    for got in (grad, both_grad):
        assert got.dtype == expected_grad.dtype and got.shape == expected_grad.shape
        np.testing.assert_allclose(got, expected_grad, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(value, both_value)
    np.testing.assert_array_equal(grad, both_grad)


def _cases():
    for kernel in POINTWISE_KERNELS:
        loss = lk.get(kernel.loss)
        for params in [{}] + PARAMS.get(loss.name, []):
            for signed in ((False, True) if loss.name in SIGNED else (False,)):
                label = ",".join(f"{k}={v}" for k, v in params.items()) + ("signed" if signed else "")
                yield pytest.param(kernel, params, signed, id=f"{loss.name}-{kernel.name}-{label or 'defaults'}")


def test_every_single_prediction_pointwise_loss_has_a_numpy_kernel():
    pointwise = {loss.name for loss in lk.catalog() if loss.kind == "pointwise" and len(loss.inputs) == 1}
    assert pointwise <= {kernel.loss for kernel in KERNELS}


@pytest.mark.parametrize("kernel, params, signed", _cases())
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_kernel_equals_reference_at_edge_values(kernel, params, signed, size):
    loss = lk.get(kernel.loss)
    edges = _finite_edges(loss, signed, params)
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        y_true, y_pred = _inputs(loss, size, dtype, edges, signed=signed, params=params)
        weight = np.random.default_rng(1).uniform(0.0, 2.0, size).astype(dtype)
        weight[::7] = 0.0
        for reduction in loss.reductions:
            for sample_weight in (None, weight):
                kwargs = dict(params, reduction=reduction, sample_weight=sample_weight)
                _assert_equal_to_reference(kernel, y_true, y_pred, kwargs, rtol)


@pytest.mark.parametrize("kernel", POINTWISE_KERNELS, ids=lambda k: f"{k.loss}-{k.name}")
def test_kernel_propagates_inf_and_nan_as_the_reference(kernel):
    # Unchecked values (checks off), so that NaN and inf labels reach the kernel as they reach the
    # reference; for the margin losses the NaN label also turns the {0, 1} conversion off.
    loss = lk.get(kernel.loss)
    y_true, y_pred = _inputs(loss, SIZES["many-chunks"], np.float64, _non_finite_edges(loss))
    with lk.value_checks(False), np.errstate(all="ignore"):  # the reference's ufuncs warn at inf - inf
        for reduction in loss.reductions:
            _assert_equal_to_reference(kernel, y_true, y_pred, {"reduction": reduction}, 1e-12)


@pytest.mark.parametrize("name", sorted(SIGNED))
def test_margin_losses_convert_labels_only_when_all_are_zero_or_one(name):
    loss = lk.get(name)
    kernel = next(k for k in KERNELS if k.loss == name)
    y_true, y_pred = _inputs(loss, SIZES["many-chunks"], np.float64, _finite_edges(loss, False))
    y_true[-1] = 0.5  # one label that is neither 0 nor 1, in the last chunk: no conversion
    with lk.value_checks(False):
        _assert_equal_to_reference(kernel, y_true, y_pred, {"reduction": "sum"}, 1e-12)
        converted = loss(y_true[:-1], y_pred[:-1], reduction="none")
        unconverted = loss(y_true, y_pred, reduction="none")[:-1]
    assert not np.array_equal(converted, unconverted)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the masked rows, on both sides
@pytest.mark.parametrize("name", ["huber", "sigmoid_cross_entropy", "hinge", "sparse_softmax_cross_entropy"])
def test_reduced_value_and_gradient_do_not_depend_on_the_thread_count(name):
    loss = lk.get(name)
    if loss.kind == "pointwise":
        y_true, y_pred = _inputs(loss, 8 * CHUNK + 5, np.float32, _finite_edges(loss, False))
    else:
        y_true, y_pred = _softmax_inputs(8 * SOFTMAX_CHUNK_ROWS[1000] + 5, 1000, np.float32, np.int64, ignore=False)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, 2, before} & set(range(1, numba.config.NUMBA_NUM_THREADS + 1))):
            numba.set_num_threads(threads)
            value, grad = loss.value_and_grad(y_true, y_pred, reduction="sum")
            results.append((value.tobytes(), grad.tobytes()))
    finally:
        numba.set_num_threads(before)
    assert all(result == results[0] for result in results)


SMALL_LOSS_CASES = (
    [("gamma_deviance", {})] + [("tweedie_deviance", {"power": p}) for p in (-1.0, 1.0, 1.5, 3.0)]
    + [("general_robust", {"alpha": a}) for a in (2.0, 0.0, -2.0, -math.inf, 0.5, 4.0)] + [("welsch", {"scale": 0.3})]
)


@pytest.mark.parametrize("name, params", SMALL_LOSS_CASES, ids=[f"{n}-{p}" for n, p in SMALL_LOSS_CASES])
def test_kernel_keeps_the_relative_accuracy_of_losses_near_a_perfect_fit(name, params):
    # There the losses are ~ e^2, far below the edge test's atol: the reference's Taylor series,
    # log1p and expm1 forms must be the kernel's too, to relative accuracy (atol 0).
    loss = lk.get(name)
    kernel = next(k for k in POINTWISE_KERNELS if k.loss == name)
    rng = np.random.default_rng(3)
    size = SIZES["many-chunks"]
    gap = 10.0 ** rng.uniform(-9.0, -1.0, size) * rng.choice([-1.0, 1.0], size)
    if name in DEVIANCE_POWERS:
        y_true = rng.gamma(2.0, 1.5, size) + 1e-3
        y_pred = y_true * np.exp(gap)  # log(y_pred / y_true) = gap
    else:
        y_true = rng.normal(0.0, 2.0, size)
        y_pred = y_true + gap
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        arrays = (y_true.astype(dtype), y_pred.astype(dtype))
        assert _kernels.select(loss.prepare(arrays, dict(params), order=1)) is kernel
        value, grad = loss.value_and_grad(*arrays, reduction="none", **params)
        with lk.reference_only():
            expected_value, expected_grad = loss.value_and_grad(*arrays, reduction="none", **params)
        np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=0.0)
        np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=0.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference's float32 overflows
@pytest.mark.parametrize("name, params, edge", [
    ("general_robust", {"alpha": 2.0}, (0.0, 1e20)),  # the loss 5e39
    ("tweedie_deviance", {"power": 3.0}, (1.0, 1e-13)),  # the gradient -2e39
], ids=["general_robust-loss", "tweedie_deviance-gradient"])
def test_float32_terms_beyond_its_range_are_inf_before_weight_and_scale_apply(name, params, edge):
    # The kernels widen to float64; the reference forms each term in float32, where it is inf,
    # and a zero weight then gives NaN and a mean's 1/n does not bring it back into range.
    loss = lk.get(name)
    kernel = next(k for k in POINTWISE_KERNELS if k.loss == name)
    y_true, y_pred = _inputs(loss, SIZES["many-chunks"], np.float32, [edge] * 7, params=params)
    weight = np.ones_like(y_true)
    weight[::7] = 0.0
    for reduction in ("none", "mean"):
        for sample_weight in (None, weight):
            kwargs = dict(params, reduction=reduction, sample_weight=sample_weight)
            _assert_equal_to_reference(kernel, y_true, y_pred, kwargs, 2e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the masked rows, on both sides
def test_calls_the_kernels_do_not_cover_take_the_reference():
    size = SIZES["many-chunks"]
    y_true, logits = _inputs(lk.sigmoid_cross_entropy, size, np.float64, [(0.0, 0.0)])
    declined = [
        (lk.sigmoid_cross_entropy, (y_true, logits), {"pos_weight": 2.5}),
        (lk.huber, (y_true[::2], logits[::2]), {}),  # not contiguous
        (lk.huber, (y_true[:100], logits[:100]), {}),  # small
    ]
    weight_rows = (y_true[: size - 17].reshape(-1, 16), logits[: size - 17].reshape(-1, 16))
    declined.append((lk.huber, weight_rows, {"sample_weight": np.ones(weight_rows[0].shape[0])}))  # prefix-shaped
    labels, class_logits = _softmax_inputs(ROW_COUNTS["many-chunks"](7), 7, np.float64, np.int64, ignore=False)
    declined.append((lk.sparse_softmax_cross_entropy, (labels, class_logits), {"label_smoothing": 0.1}))
    declined.append((lk.sparse_softmax_cross_entropy, (labels, np.ascontiguousarray(class_logits.T)), {"axis": 0}))
    for loss, arrays, kwargs in declined:
        call = loss.prepare(arrays, kwargs, order=1)
        kernel = _kernels.select(call)
        assert kernel is None or kernel.name != "numba_fused"
        value, grad = loss.value_and_grad(*arrays, **kwargs)
        with lk.reference_only():
            expected_value, expected_grad = loss.value_and_grad(*arrays, **kwargs)
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(grad, expected_grad)


def test_float16_inputs_of_a_large_call_take_the_kernel_on_their_float32_copies():
    y_true, y_pred = _inputs(lk.huber, SIZES["many-chunks"], np.float16, _finite_edges(lk.huber, False))
    value, grad = lk.huber.value_and_grad(y_true, y_pred, reduction="sum")
    with lk.reference_only():
        expected_value, expected_grad = lk.huber.value_and_grad(y_true, y_pred, reduction="sum")
    assert value.dtype == grad.dtype == np.float16
    np.testing.assert_allclose(value.astype(float), expected_value.astype(float), rtol=1e-3)
    np.testing.assert_allclose(grad.astype(float), expected_grad.astype(float), rtol=1e-3)


def test_invalid_value_deep_in_a_large_input_raises_the_usual_error():
    y_true, y_pred = _inputs(lk.poisson, SIZES["many-chunks"], np.float64, [(0.0, 1.0)])
    y_true[-2] = -1.0
    with pytest.raises(ValueError, match="y_true must be non-negative"):
        lk.poisson.value_and_grad(y_true, y_pred)


# --------------------------------------------------------------- losses over a class axis

SOFTMAX_CHUNK_ROWS = {classes: max(1, numpy_fused.SOFTMAX_CHUNK_ELEMENTS // classes) for classes in (7, 1000)}
# Rows of logits: the first one past the size from which the kernel accepts a call, one whole
# chunk, and many chunks with a ragged last one (the threaded path).
ROW_COUNTS = {
    "past-threshold": lambda classes: numpy_fused.FUSED_MIN_ELEMENTS // classes + 1,
    "one-chunk": lambda classes: SOFTMAX_CHUNK_ROWS[classes],
    "many-chunks": lambda classes: 3 * SOFTMAX_CHUNK_ROWS[classes] + 5,
}
IGNORE = -100  # PyTorch's default ignore_index


def _edge_rows(classes: int):
    """(label, logits row) pairs on every branch of the reference: masked, infinite, NaN and huge logits."""
    inf, nan = np.inf, np.nan
    rows = [
        (0, np.zeros(classes)),
        (1, np.r_[1e4, -1e4, np.zeros(classes - 2)]),  # saturated: softmax 1 and 0, the loss 2e4
        (0, np.r_[1e4, -1e4, np.zeros(classes - 2)]),  # the label predicted with certainty: loss 0
        (2, np.r_[-inf, 0.0, 1.0, -inf, np.full(classes - 4, 2.0)]),  # masked classes
        (0, np.r_[-inf, 0.0, 1.0, np.zeros(classes - 3)]),  # the label masked: an infinite loss
        (3, np.full(classes, -inf)),  # every class masked: NaN
        (1, np.r_[inf, np.zeros(classes - 1)]),  # shift 0, inf - inf
        (0, np.r_[inf, inf, np.zeros(classes - 2)]),
        (4, np.r_[nan, np.arange(classes - 1.0)]),
        (2, np.full(classes, -1e4)),
        (classes - 1, np.r_[np.zeros(classes - 1), 30.0]),
        (IGNORE, np.r_[nan, inf, np.zeros(classes - 2)]),  # ignored (with ignore_index): 0 whatever its logits
    ]
    return rows


def _softmax_inputs(rows: int, classes: int, dtype, label_dtype, *, ignore: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    logits = rng.normal(0.0, 3.0, (rows, classes))
    if ignore:
        labels[1::3] = IGNORE
    edges = [(label, row) for label, row in _edge_rows(classes) if ignore or label != IGNORE]
    count = len(edges)
    chunk = SOFTMAX_CHUNK_ROWS[classes]
    for start in sorted({0, min(max(chunk - count // 2, 0), rows - count), rows - count}):
        for offset, (label, row) in enumerate(edges):
            labels[start + offset], logits[start + offset] = label, row
    if not ignore or np.iinfo(label_dtype).min > IGNORE:
        labels = np.where(labels == IGNORE, 0, labels)
    return labels.astype(label_dtype), logits.astype(dtype)


def _softmax_params(classes: int, dtype):
    class_weight = np.linspace(0.0, 2.0, classes).astype(dtype)  # a class of weight 0 too
    return [
        ("defaults", {}),
        ("class_weight", {"class_weight": class_weight}),
        ("ignore_index", {"ignore_index": IGNORE}),
        ("class_weight+ignore_index", {"class_weight": class_weight, "ignore_index": IGNORE}),
    ]


def test_every_class_axis_kernel_is_sparse_softmax():
    # The tests below build sparse integer labels; a new class-axis kernel needs its own inputs.
    assert {kernel.loss for kernel in CLASS_AXIS_KERNELS} <= {"sparse_softmax_cross_entropy"}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference's ufuncs warn at inf - inf, as NumPy's exp here
@pytest.mark.parametrize("kernel", CLASS_AXIS_KERNELS, ids=lambda k: f"{k.loss}-{k.name}")
@pytest.mark.parametrize("classes", [7, 1000])
@pytest.mark.parametrize("rows", ROW_COUNTS.values(), ids=ROW_COUNTS.keys())
def test_softmax_kernel_equals_reference_at_edge_values(kernel, classes, rows):
    loss = lk.get(kernel.loss)
    rows = rows(classes)
    for dtype, rtol, label_dtype in ((np.float64, 1e-12, np.int64), (np.float32, 2e-5, np.int32),
                                     (np.float32, 2e-5, np.uint16)):
        for name, params in _softmax_params(classes, dtype):
            ignore = "ignore_index" in params
            if ignore and np.iinfo(label_dtype).min > IGNORE:
                continue  # an unsigned label cannot be -100
            labels, logits = _softmax_inputs(rows, classes, dtype, label_dtype, ignore=ignore)
            weight = np.random.default_rng(1).uniform(0.0, 2.0, rows).astype(dtype)
            weight[::7] = 0.0
            for reduction in loss.reductions:
                for sample_weight in (None, weight):
                    kwargs = dict(params, reduction=reduction, sample_weight=sample_weight)
                    _assert_equal_to_reference(kernel, labels, logits, kwargs, rtol)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_softmax_kernel_takes_leading_axes_and_a_prefix_shaped_weight():
    kernel = next(k for k in CLASS_AXIS_KERNELS if k.loss == "sparse_softmax_cross_entropy")
    labels, logits = _softmax_inputs(6 * 700, 7, np.float64, np.int8, ignore=True)
    labels, logits = labels.reshape(6, 700), logits.reshape(6, 700, 7)
    weight = np.linspace(0.0, 2.0, 6)
    for reduction in ("none", "sum", "mean"):
        kwargs = {"reduction": reduction, "sample_weight": weight, "ignore_index": IGNORE}
        _assert_equal_to_reference(kernel, labels, logits, kwargs, 1e-12)


def test_softmax_kernel_with_invalid_labels_and_checks_off_does_what_the_reference_does():
    rows = ROW_COUNTS["many-chunks"](7)
    labels, logits = _softmax_inputs(rows, 7, np.float64, np.int64, ignore=False)
    loss = lk.sparse_softmax_cross_entropy
    labels[-3] = -1  # NumPy's take_along_axis reads it from the end
    with lk.value_checks(False), np.errstate(all="ignore"):
        value, grad = loss.value_and_grad(labels, logits, reduction="sum")
        with lk.reference_only():
            expected_value, expected_grad = loss.value_and_grad(labels, logits, reduction="sum")
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(grad, expected_grad)
        labels[-3] = 7
        with pytest.raises(IndexError):
            loss.value_and_grad(labels, logits)
        with lk.reference_only(), pytest.raises(IndexError):
            loss.value_and_grad(labels, logits)


def _run_python(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], timeout=300, capture_output=True, text=True)


def test_small_numpy_calls_do_not_import_numba():
    completed = _run_python(
        "import sys, numpy as np, losskit as lk\n"
        "y, p = np.zeros(1000), np.linspace(-3.0, 3.0, 1000)\n"
        "lk.huber(y, p); lk.huber.grad(y, p); lk.sigmoid_cross_entropy.value_and_grad(y, p)\n"
        "sys.exit('numba' in sys.modules)\n"
    )
    assert completed.returncode == 0, completed.stderr or "numba was imported"


_FORK_SCRIPT = """
import os, sys
import numpy as np
import losskit as lk

rng = np.random.default_rng(11)
size = 4 * {chunk}
y_true, y_pred = rng.poisson(3.0, size).astype(float), rng.uniform(0.1, 6.0, size)
parent = float(lk.poisson(y_true, y_pred))  # the thread pool exists now
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    child = float(lk.poisson(y_true, y_pred))
    os.write(write_end, repr(child).encode())
    os._exit(0)
os.close(write_end)
_, status = os.waitpid(pid, 0)
child = float(os.read(read_end, 100).decode())
sys.exit(0 if status == 0 and child == parent else 1)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_thread_pool_works_in_a_forked_child():
    # In a fresh interpreter: forking this test process, which may run JAX's threads, is unsafe.
    completed = _run_python(_FORK_SCRIPT.format(chunk=CHUNK))
    assert completed.returncode == 0, completed.stderr
