"""Every door gives the same numbers: NumPy, PyTorch, JAX, the modules and the Keras losses.

For every loss of the catalog, the value and the gradient reached through each door equal the
float64 NumPy reference (``lk.reference_only()``): ``loss(...)``, ``.grad`` and
``.value_and_grad`` on NumPy; on PyTorch the functional call without grad, under autograd and
under ``torch.compile``, and the ``losskit.torch`` module; on JAX eager, ``jit``, ``grad`` and
``jit(grad)``; and the ``losskit.keras`` loss. Checked at ordinary values and at the loss's edge
values (floors, kinks, infinities, NaN: ``_edge_cases``), where fast kernels, native twins and
autodiff part ways if anything does.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import losskit as lk
from _cases import make_case, shapes
from _edge_cases import edge_case

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy
lkt = pytest.importorskip("losskit.torch")

CATALOG = lk.catalog()
RTOL, ATOL = 1e-12, 1e-14


def _inputs(loss, kind):
    if kind == "ordinary":
        return make_case(loss, shapes(loss)[-1]).args
    return edge_case(loss, 12)


def _reference(loss, args, reduction):
    with np.errstate(all="ignore"), lk.reference_only():
        value, grads = loss.value_and_grad(*args, reduction=reduction)
    return np.asarray(value), _as_tuple(grads)


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def _close(actual, expected, what):
    actual = actual.detach().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def _door_cases():
    for loss in CATALOG:
        for kind in ("ordinary", "edges"):
            for reduction in loss.reductions:
                yield pytest.param(loss, kind, reduction, id=f"{loss.name}-{kind}-{reduction}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss, kind, reduction", list(_door_cases()))
def test_numpy_doors_equal_the_reference(loss, kind, reduction):
    args = _inputs(loss, kind)
    value, grads = _reference(loss, args, reduction)
    _close(loss(*args, reduction=reduction), value, "loss(...)")
    for ours, expected in zip(_as_tuple(loss.grad(*args, reduction=reduction)), grads):
        _close(ours, expected, ".grad")
    both_value, both_grads = loss.value_and_grad(*args, reduction=reduction)
    _close(both_value, value, ".value_and_grad value")
    for ours, expected in zip(_as_tuple(both_grads), grads):
        _close(ours, expected, ".value_and_grad gradient")
    keywords = dict(zip(loss._argument_names, args))
    _close(loss(**keywords, reduction=reduction), value, "keyword call")


def _torch_inputs(loss, args):
    first = len(args) - len(loss.inputs)  # 1 after the target, 0 for a loss without one
    target = torch.as_tensor(args[0]) if first else None
    predictions = [torch.as_tensor(a).clone().requires_grad_(True) for a in args[first:]]
    return target, predictions


def _with_target(target, predictions):
    """The functional call's positional arguments (no target for a loss without one)."""
    return tuple(predictions) if target is None else (target, *predictions)


def _module_arguments(loss, target, predictions):
    """PyTorch's order: (input, target, ...), (x1, x2, target) for the pair losses, no target if none."""
    if target is None:
        return tuple(predictions)
    if lkt.module_class(loss).target_last:
        return (*predictions, target)
    return (predictions[0], target, *predictions[1:])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss, kind, reduction", list(_door_cases()))
def test_torch_doors_equal_the_reference(loss, kind, reduction):
    args = _inputs(loss, kind)
    value, grads = _reference(loss, args, reduction)
    target, predictions = _torch_inputs(loss, args)

    with torch.no_grad():
        _close(loss(*_with_target(target, predictions), reduction=reduction), value, "torch value without grad")

    functional = loss(*_with_target(target, predictions), reduction=reduction)
    _close(functional, value, "torch functional value")
    functional.sum().backward()
    for p, expected in zip(predictions, grads):
        _close(p.grad, expected, "torch autograd gradient of the functional call")

    target, predictions = _torch_inputs(loss, args)
    module = lkt.module_class(loss)(reduction=reduction)
    module_value = module(*_module_arguments(loss, target, predictions))
    _close(module_value, value, "module value")
    module_value.sum().backward()
    for p, expected in zip(predictions, grads):
        _close(p.grad, expected, "module autograd gradient")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_torch_compile_equals_the_reference(loss):
    args = _inputs(loss, "edges")
    reduction = loss.reductions[-1]
    value, grads = _reference(loss, args, reduction)
    target, predictions = _torch_inputs(loss, args)
    compiled = torch.compile(lambda *p: loss(*_with_target(target, p), reduction=reduction), backend="eager")
    result = compiled(*predictions)
    _close(result, value, "torch.compile value")
    result.backward()
    for p, expected in zip(predictions, grads):
        _close(p.grad, expected, "torch.compile gradient")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss, kind, reduction", list(_door_cases()))
def test_jax_doors_equal_the_reference(loss, kind, reduction):
    args = _inputs(loss, kind)
    value, grads = _reference(loss, args, reduction)
    first = len(args) - len(loss.inputs)  # 1 after the target, 0 for a loss without one
    target = jnp.asarray(args[0]) if first else None
    predictions = tuple(jnp.asarray(a) for a in args[first:])

    def function(*p):
        return loss(*_with_target(target, p), reduction=reduction)

    def total(*p):
        return jnp.sum(function(*p))

    argnums = tuple(range(len(predictions)))
    _close(function(*predictions), value, "jax eager value")
    _close(jax.jit(function)(*predictions), value, "jax.jit value")
    for ours, expected in zip(jax.grad(total, argnums=argnums)(*predictions), grads):
        _close(ours, expected, "jax.grad gradient")
    for ours, expected in zip(jax.jit(jax.grad(total, argnums=argnums))(*predictions), grads):
        _close(ours, expected, "jax.jit(jax.grad) gradient")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss", [loss for loss in CATALOG if "none" in loss.reductions], ids=lambda loss: loss.name)
def test_keras_loss_equals_the_reference_per_sample(loss):
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("the Keras door is checked on the JAX backend here")
    lkk = pytest.importorskip("losskit.keras")
    if loss.name in lkk.EXCLUDED:
        pytest.skip(f"no Keras class: {lkk.EXCLUDED[loss.name]}")
    args = make_case(loss, shapes(loss)[-1]).args
    value, _ = _reference(loss, args, "none")
    keras_loss = lkk.loss_class(loss)(reduction=None, dtype="float64")
    first = len(args) - len(loss.inputs)
    # A loss without a target ignores Keras's y_true: any array of the batch will do.
    y_true = args[0] if first else np.zeros(args[0].shape[:1])
    if len(loss.inputs) > 1:  # Keras passes one y_pred: the predictions stacked on a last axis
        prediction = np.stack(args[first:], axis=-1)
    else:
        prediction = args[1]
    _close(np.asarray(keras_loss(jnp.asarray(y_true), jnp.asarray(prediction))), value, "Keras loss")
