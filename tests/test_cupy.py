"""CuPy arrays on a CUDA device: every loss of the catalog equals NumPy (value and gradients).

CuPy reaches losskit through array-api-compat. The module is skipped, with the reason shown in
pytest's summary (``-ra``), where CuPy or a CUDA device is missing, as on CI.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from _cases import make_case, param_cases, shapes


def _cupy_with_a_device():
    try:
        import cupy
    except ImportError:
        pytest.skip("CuPy is not installed (pip install cupy-cuda12x on a CUDA machine)", allow_module_level=True)
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception as exc:  # CUDARuntimeError without a driver
        pytest.skip(f"CuPy is installed but no CUDA device is available: {exc}", allow_module_level=True)
    return cupy


cp = _cupy_with_a_device()


def _device(value):
    return cp.asarray(value) if isinstance(value, np.ndarray) else value


def _tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def _cases():
    for loss in lk.catalog():
        shape = shapes(loss)[-1]
        for case_id, params in param_cases(loss, shape):
            yield pytest.param(loss, shape, params, id=f"{loss.name}-{case_id}")


@pytest.mark.parametrize("loss, shape, params", _cases())
def test_value_and_gradients_on_the_gpu_equal_numpy(loss, shape, params):
    case = make_case(loss, shape, params)
    gpu_params = {k: _device(v) for k, v in params.items()}
    for reduction in loss.reductions:
        for weight in (None, case.sample_weight):
            value, grads = loss.value_and_grad(*(_device(a) for a in case.args), **gpu_params,
                                               sample_weight=None if weight is None else _device(weight),
                                               reduction=reduction)
            assert isinstance(value, cp.ndarray) and value.device == cp.cuda.Device()
            expected_value, expected_grads = loss.value_and_grad(*case.args, **params, sample_weight=weight,
                                                                 reduction=reduction)
            np.testing.assert_allclose(cp.asnumpy(value), expected_value, rtol=1e-12, atol=1e-13)
            for ours, expected in zip(_tuple(grads), _tuple(expected_grads)):
                assert isinstance(ours, cp.ndarray)
                np.testing.assert_allclose(cp.asnumpy(ours), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_result_keeps_the_dtype_on_the_gpu(loss, dtype):
    case = make_case(loss, shapes(loss)[-1])
    args = [cp.asarray(a, dtype=dtype) if np.issubdtype(a.dtype, np.floating) else cp.asarray(a) for a in case.args]
    value, grads = loss.value_and_grad(*args)
    assert value.dtype == dtype and all(g.dtype == dtype for g in _tuple(grads))
