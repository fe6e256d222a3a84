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
