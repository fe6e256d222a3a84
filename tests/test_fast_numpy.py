"""losskit._fast: the fused NumPy kernels return exactly what the generic value_and_grad returns."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from losskit import _fast
from _cases import make_case, param_cases  # noqa: E402

FUSED = [lk.get(name) for name in _fast.fused_losses()]


def _cases():
    for loss in FUSED:
        shape = (5, 3) if loss.kind == "pointwise" else (6, 4)
        for case_id, params in param_cases(loss, shape):
            for dtype in (np.float64, np.float32):
                yield pytest.param(loss, shape, params, dtype, id=f"{loss.name}-{case_id}-{np.dtype(dtype).name}")


@pytest.mark.parametrize("loss, shape, params, dtype", _cases())
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_fused_value_and_grad_equals_generic(loss, shape, params, dtype, reduction):
    case = make_case(loss, shape, params)
    y_true = case.y_true if loss.kind == "sparse" else case.y_true.astype(dtype)
    y_pred = case.y_pred.astype(dtype)
    value, grad = _fast.value_and_grad_numpy(loss, y_true, y_pred, reduction=reduction, **params)
    expected_value, expected_grad = loss.value_and_grad(y_true, y_pred, reduction=reduction, **params)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert value.dtype == expected_value.dtype and value.shape == expected_value.shape
    np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance)


def test_fused_path_raises_the_generic_error_on_invalid_values():
    with pytest.raises(ValueError, match="y_true must be non-negative"):
        _fast.value_and_grad_numpy(lk.poisson, np.array([-1.0, 2.0]), np.array([1.0, 1.0]))


def test_invalid_labels_pass_without_value_checks_as_on_the_generic_path():
    with lk.value_checks(False):
        value, _ = _fast.value_and_grad_numpy(lk.sigmoid_cross_entropy, np.array([1.5]), np.array([0.0]))
    assert np.isfinite(value)


def test_unsupported_arguments_fall_back_to_the_generic_path():
    y_true, y_pred = np.zeros(4), np.arange(4.0)
    weight = np.array([1.0, 2.0, 0.0, 1.0])
    value, grad = _fast.value_and_grad_numpy(lk.huber, y_true, y_pred, sample_weight=weight)
    expected = lk.huber.value_and_grad(y_true, y_pred, sample_weight=weight)
    np.testing.assert_array_equal(value, expected[0])
    np.testing.assert_array_equal(grad, expected[1])


# ----------------------------------------------------------------- hybrid kernels, in chunks
#
# poisson, sigmoid_cross_entropy and sparse_softmax_cross_entropy are computed per chunk, NumPy
# and numba alternating, over a thread pool (the small cases above take their scalar bodies in
# one compiled loop instead). The cases below cover one chunk, several chunks with a ragged last
# one, and the threaded path, with the edge values that decide each formula's branches.

LARGE = _fast.PARALLEL_THRESHOLD + 3 * _fast.CHUNK_ELEMENTS + 17  # threaded, last chunk ragged
ONE_CHUNK = _fast.SCALAR_MAX_ELEMENTS + 1


def _large_pointwise_case(name: str, dtype, rng, size: int = LARGE):
    if name == "poisson":
        y_true = rng.poisson(3.0, size).astype(dtype)
        y_pred = rng.uniform(0.0, 6.0, size).astype(dtype)
        edges_true = [0.0, 0.0, 5.0, 1.0, 2.0, 0.0]
        edges_pred = [0.0, 1e-15, 1e-15, 0.0, 1e30, 7.0]
    else:
        y_true = rng.uniform(0.0, 1.0, size).astype(dtype)
        y_true[::3] = rng.integers(0, 2, y_true[::3].shape)
        y_pred = rng.normal(0.0, 5.0, size).astype(dtype)
        edges_true = [0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0]
        edges_pred = [-np.inf, np.inf, np.inf, -np.inf, 1e4, -1e4, 0.0]
    # Edges at the start, across a chunk boundary (where there is one) and at the very end.
    for position in {0, min(_fast.CHUNK_ELEMENTS - 3, size // 2), size - len(edges_true)}:
        y_true[position:position + len(edges_true)] = edges_true
        y_pred[position:position + len(edges_pred)] = edges_pred
    return y_true, y_pred


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("size", [ONE_CHUNK, LARGE], ids=["one-chunk", "threaded"])
@pytest.mark.parametrize("name", ["poisson", "sigmoid_cross_entropy"])
def test_hybrid_pointwise_kernels_equal_generic_across_chunks_and_threads(name, size, reduction, dtype):
    loss = lk.get(name)
    y_true, y_pred = _large_pointwise_case(name, dtype, np.random.default_rng(3), size)
    value, grad = _fast.value_and_grad_numpy(loss, y_true, y_pred, reduction=reduction)
    expected_value, expected_grad = loss._evaluate((y_true, y_pred), {"reduction": reduction}, with_grad=True)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    assert value.dtype == expected_value.dtype and value.shape == expected_value.shape
    np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("classes, rows", [
    (3, 400),  # one chunk
    (3, 2 * _fast.PARALLEL_THRESHOLD // 3 + 3),  # many rows a chunk, threaded
    (1000, 2 * _fast.PARALLEL_THRESHOLD // 1000 + 3),
    (_fast.CHUNK_ELEMENTS + 5, 8),  # rows longer than a chunk
])
def test_hybrid_softmax_kernel_equals_generic_across_chunks_and_threads(classes, rows, reduction, dtype):
    rng = np.random.default_rng(classes)
    logits = rng.normal(0.0, 4.0, (rows, classes)).astype(dtype)
    labels = rng.integers(0, classes, rows)
    logits[1, :] = -np.inf  # masked classes: all but one
    logits[1, labels[1]] = 0.5
    logits[2, 0] = 1e4
    logits[rows - 1, :] = -1e4
    logits = logits.reshape(rows // 2, 2, classes) if rows % 2 == 0 else logits  # batch axes are flattened
    labels = labels.reshape(logits.shape[:-1])
    loss = lk.sparse_softmax_cross_entropy
    value, grad = _fast.value_and_grad_numpy(loss, labels, logits, reduction=reduction)
    expected_value, expected_grad = loss._evaluate((labels, logits), {"reduction": reduction}, with_grad=True)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    assert value.dtype == expected_value.dtype and value.shape == expected_value.shape
    np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance)


def test_reduced_value_does_not_depend_on_the_thread_count():
    import numba

    y_true, y_pred = _large_pointwise_case("sigmoid_cross_entropy", np.float32, np.random.default_rng(5))
    before = numba.get_num_threads()
    values = []
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            values.append(_fast.value_and_grad_numpy(lk.sigmoid_cross_entropy, y_true, y_pred, reduction="sum")[0])
    finally:
        numba.set_num_threads(before)
    assert all(value.tobytes() == values[0].tobytes() for value in values)


def test_invalid_value_deep_in_a_large_input_raises_the_generic_error():
    y_true, y_pred = _large_pointwise_case("poisson", np.float64, np.random.default_rng(7))
    y_true[LARGE - 2] = -1.0
    with pytest.raises(ValueError, match="y_true must be non-negative"):
        _fast.value_and_grad_numpy(lk.poisson, y_true, y_pred)
    labels = np.zeros(LARGE // 10, dtype=np.int64)
    labels[-1] = 10
    with pytest.raises(ValueError, match="y_true"):
        _fast.value_and_grad_numpy(lk.sparse_softmax_cross_entropy, labels, np.zeros((LARGE // 10, 10)))


_FORK_SCRIPT = """
import os, sys
import numpy as np
import losskit as lk
from losskit import _fast

rng = np.random.default_rng(11)
size = 4 * _fast.CHUNK_ELEMENTS
y_true, y_pred = rng.poisson(3.0, size).astype(float), rng.uniform(0.1, 6.0, size)
parent = float(_fast.value_and_grad_numpy(lk.poisson, y_true, y_pred)[0])  # the pool exists now
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    child = float(_fast.value_and_grad_numpy(lk.poisson, y_true, y_pred)[0])
    os.write(write_end, repr(child).encode())
    os._exit(0)
os.close(write_end)
_, status = os.waitpid(pid, 0)
child = float(os.read(read_end, 100).decode())
sys.exit(0 if status == 0 and child == parent else 1)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_thread_pool_works_in_a_forked_child():
    # In a fresh interpreter: forking this test process, which runs JAX's threads, is unsafe.
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], timeout=300, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
