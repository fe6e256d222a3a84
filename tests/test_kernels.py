"""Every registered kernel equals its loss's reference kernel on every call it accepts.

One generic test for the whole registry (``losskit._kernels``): each (loss, kernel) pair is run
against ``run(call, reference=True)`` on the loss's edge inputs (``_edge_cases``) at several sizes
(past every chunk and thread threshold), float64 and float32, every reduction, with and without
sample weights and with each parameter setting of ``_cases.param_cases``. Values and gradients
must agree, NaN for NaN and inf for inf. A kernel that accepts none of these calls fails: its
``accepts`` would otherwise never be tested. "native" kernels are differentiated by their
framework's autograd and that gradient is held to the reference gradient too.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import losskit as lk
from losskit import _kernels
from _cases import param_cases
from _edge_cases import edge_case

torch = pytest.importorskip("torch")

SIZES = (12, 4099, 3 * (1 << 16) + 17)
DTYPES = (np.float64, np.float32)
RTOL = {np.float64: 1e-12, np.float32: 2e-5}

KERNELS = _kernels.kernels()


def _as_backend(array, backend):
    return torch.as_tensor(array) if backend == "torch" else array


def _inputs(loss):
    """(size, dtype, arguments, parameter settings) of every input set a kernel is tried on."""
    # Odd seeds spell signed labels as {0, 1}; only the margin losses read the difference.
    seeds = (0, 1) if loss.label_format == "signed" else (0,)
    for size, dtype, seed, edges in itertools.product(SIZES, DTYPES, seeds, (True, False)):
        args = edge_case(loss, size, dtype, seed=seed, edges=edges)
        settings = param_cases(loss, args[1].shape) if size == SIZES[1] else [("defaults", {})]
        yield size, dtype, args, [params for _, params in settings]


def _calls(kernel):
    """Prepared calls of ``kernel``'s loss: edge and ordinary inputs, every setting, reduction, weighting."""
    loss = lk.get(kernel.loss)
    for size, dtype, args, settings in _inputs(loss):
        arrays = tuple(_as_backend(a, kernel.backend) for a in args)
        weightings = (False,) if size == SIZES[-1] else (False, True)
        for params, reduction, weighted in itertools.product(settings, loss.reductions, weightings):
            kwargs = {k: _as_backend(np.asarray(v, dtype=dtype), kernel.backend) if isinstance(v, np.ndarray) else v
                      for k, v in params.items()}
            kwargs["reduction"] = reduction
            if weighted:
                kwargs["sample_weight"] = _as_backend(np.linspace(0.5, 2.0, args[1].shape[0]).astype(dtype), kernel.backend)
            try:
                call = loss.prepare(arrays, kwargs, order=min(kernel.max_order, 1))
            except ValueError:
                continue  # an edge outside this parameter setting's domain
            yield call, dtype


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _assert_same(actual, expected, dtype, what):
    # Elementwise relative error, plus an absolute one relative to the array's largest finite
    # entry: a float32 gradient p - y of 1e-3 next to entries of 1 carries their rounding of 1e-7.
    expected = _numpy(expected)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = float(finite.max()) if finite.size else 1.0
    np.testing.assert_allclose(_numpy(actual), expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale, err_msg=what)


def test_the_registry_has_kernels_of_every_backend_it_ships():
    assert {kernel.backend for kernel in KERNELS} >= {"torch"}
    for kernel in KERNELS:
        assert kernel.style in _kernels.STYLES
        assert lk.get(kernel.loss).name == kernel.loss


def test_every_loss_has_edge_cases():
    for loss in lk.catalog():
        args = edge_case(loss, 20)
        assert len(args) == int(loss.has_target) + len(loss.inputs)


# NaN and infinite edges make NumPy warn (inf - inf, 0 * inf) on both sides; the results are compared.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"{k.backend}-{k.loss}-{k.name}")
def test_kernel_equals_the_reference_on_every_call_it_accepts(kernel):
    accepted = 0
    for call, dtype in _calls(kernel):
        if not kernel.accepts(call):
            continue
        accepted += 1
        label = f"{kernel.name} size={call.size} {dtype.__name__} reduction={call.reduction} " \
                f"weighted={call.weight is not None} params={ {k: v for k, v in call.params.items() if not hasattr(v, 'shape')} }"
        expected_value, expected_grads, _ = _kernels.run(call, reference=True)
        if kernel.style == "native":
            value = _native_value_and_check_gradient(kernel, call, expected_grads, dtype, label)
        else:
            value, grads, _ = _kernels.run(call, kernel)
            if call.order >= 1:
                for ours, theirs in zip(grads, expected_grads):
                    _assert_same(ours, theirs, dtype, "gradient of " + label)
        _assert_same(value, expected_value, dtype, "value of " + label)
    assert accepted, f"{kernel.name} accepted none of the edge calls of {kernel.loss}: its accepts() is untested"


def _native_value_and_check_gradient(kernel, call, expected_grads, dtype, label):
    if call.backend != "torch":
        return kernel.fn(call)
    predictions = tuple(p.detach().clone().requires_grad_(True) for p in call.predictions)
    differentiable = call.replace(predictions=predictions)
    if not kernel.accepts(differentiable):
        return kernel.fn(call)
    value = kernel.fn(differentiable)
    value.sum().backward()
    with torch.no_grad():
        _, expected_grads, _ = _kernels.run(call.replace(order=1), reference=True)
    for p, theirs in zip(predictions, expected_grads):
        _assert_same(p.grad, theirs, dtype, "autograd gradient of " + label)
    return value.detach()
