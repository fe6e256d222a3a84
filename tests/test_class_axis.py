"""The class axis: ``axis=1`` takes PyTorch's (N, C, d1, ...) layout for every loss over classes.

``loss(y, x, axis=1)`` is defined as ``loss(moved y, moved x)`` with the class axis moved last
(labels of sparse losses have no class axis and are not moved); the gradient comes back in the
caller's layout. Pinned to PyTorch's ``F.cross_entropy`` / ``F.nll_loss`` on (N, C, H, W) inputs
and to finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from _cases import IGNORE_INDEX, make_case, param_cases

torch = pytest.importorskip("torch")
F = torch.nn.functional

# A loss with an input of its own shape ("free", linear_cross_entropy's weight matrix) is called
# with several predictions; its feature axis is tested in its own module, as are those of the
# embedding losses with several predictions or none (tests/test_embedding.py).
CLASS_AXIS = [loss for loss in lk.catalog() if loss.kind != "pointwise" and "free" not in loss.input_shapes
              and len(loss.inputs) == 1 and loss.has_target]
SHAPE = (2, 3, 2, 4)  # channels-last (N, H, W, C): 4 classes, moved to axis 1 for the tests


def _channels_first(loss, case):
    y_true = case.y_true if loss.kind == "sparse" else np.moveaxis(case.y_true, -1, 1)
    return y_true, np.moveaxis(case.y_pred, -1, 1)


def _cases():
    for loss in CLASS_AXIS:
        for params_id, params in param_cases(loss, SHAPE):
            for reduction in loss.reductions:
                yield pytest.param(loss, params, reduction, id=f"{loss.name}-{params_id}-{reduction}")


@pytest.mark.parametrize("loss, params, reduction", list(_cases()))
def test_axis_one_equals_the_channels_last_call_on_moved_axes(loss, params, reduction):
    case = make_case(loss, SHAPE, params)
    y_first, x_first = _channels_first(loss, case)
    kwargs = dict(params, sample_weight=case.sample_weight, reduction=reduction)
    value, grad = loss.value_and_grad(y_first, x_first, axis=1, **kwargs)
    expected_value, expected_grad = loss.value_and_grad(case.y_true, case.y_pred, **kwargs)
    np.testing.assert_allclose(value, expected_value, rtol=1e-13, atol=1e-15)
    assert grad.shape == x_first.shape
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1), expected_grad, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss", CLASS_AXIS, ids=lambda loss: loss.name)
def test_negative_and_positive_axis_name_the_same_axis(loss):
    case = make_case(loss, SHAPE)
    y_first, x_first = _channels_first(loss, case)
    np.testing.assert_allclose(loss(y_first, x_first, axis=1), loss(y_first, x_first, axis=-3), rtol=1e-15)
    np.testing.assert_allclose(loss(case.y_true, case.y_pred, axis=3), loss(case.y_true, case.y_pred), rtol=1e-15)


@pytest.mark.parametrize("loss", CLASS_AXIS, ids=lambda loss: loss.name)
def test_axis_one_gradient_matches_finite_differences(loss):
    case = make_case(loss, (2, 3, 2), {})  # (N, d1, C) -> (N, C, d1)
    y_true = case.y_true if loss.kind == "sparse" else np.moveaxis(case.y_true, -1, 1)
    x = np.moveaxis(case.y_pred, -1, 1).copy()
    grad = loss.grad(y_true, x, axis=1)
    numeric = np.zeros_like(x)
    for position in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[position] += 1e-6
        down[position] -= 1e-6
        numeric[position] = (loss(y_true, up, axis=1) - loss(y_true, down, axis=1)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("options", [
    {},
    {"label_smoothing": 0.1},
    {"class_weight": [0.5, 2.0, 1.0, 3.0]},
    {"class_weight": [0.5, 2.0, 1.0, 3.0], "ignore_index": IGNORE_INDEX},
], ids=["plain", "label_smoothing", "class_weight", "class_weight+ignore_index"])
def test_sparse_softmax_on_nchw_equals_torch_cross_entropy(reduction, options):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 4, (2, 3, 5), generator=gen)
    labels[0, 0, :2] = IGNORE_INDEX if "ignore_index" in options else 1
    weight = None if "class_weight" not in options else torch.tensor(options["class_weight"], dtype=torch.float64)
    expected = F.cross_entropy(logits, labels, weight=weight, label_smoothing=options.get("label_smoothing", 0.0),
                               ignore_index=options.get("ignore_index", -100), reduction=reduction)
    expected.sum().backward()
    expected_grad = logits.grad.clone()
    logits.grad = None
    kwargs = {**options, "class_weight": weight} if weight is not None else dict(options)
    ours = lk.sparse_softmax_cross_entropy(labels, logits, axis=1, reduction=reduction, **kwargs)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    torch.testing.assert_close(logits.grad, expected_grad, rtol=1e-12, atol=1e-12)
    analytic = lk.sparse_softmax_cross_entropy.grad(labels, logits.detach(), axis=1, reduction=reduction, **kwargs)
    torch.testing.assert_close(analytic, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_soft_labels_on_nchw_equal_torch_cross_entropy_with_probabilities(reduction):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    soft = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64).softmax(1)
    expected = F.cross_entropy(logits, soft, label_smoothing=0.2, reduction=reduction)
    expected.sum().backward()
    expected_grad = logits.grad.clone()
    logits.grad = None
    ours = lk.softmax_cross_entropy(soft, logits, axis=1, label_smoothing=0.2, reduction=reduction)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    torch.testing.assert_close(logits.grad, expected_grad, rtol=1e-12, atol=1e-12)


def test_sparse_categorical_on_nchw_equals_torch_nll_of_the_log():
    gen = torch.Generator().manual_seed(2)
    probabilities = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64).softmax(1)
    labels = torch.randint(0, 5, (3, 4), generator=gen)
    expected = F.nll_loss(torch.log(probabilities), labels, reduction="none")
    torch.testing.assert_close(lk.sparse_categorical_cross_entropy(labels, probabilities, axis=1, reduction="none"),
                               expected, rtol=1e-12, atol=1e-12)


def test_jax_axis_one_under_jit_equals_channels_last():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    case = make_case(lk.softmax_cross_entropy, SHAPE)
    y_first, x_first = (jnp.asarray(a) for a in _channels_first(lk.softmax_cross_entropy, case))
    grad = jax.jit(jax.grad(lambda x: lk.softmax_cross_entropy(y_first, x, axis=1)))(x_first)
    expected = lk.softmax_cross_entropy.grad(case.y_true, case.y_pred)
    np.testing.assert_allclose(np.moveaxis(np.asarray(grad), 1, -1), expected, rtol=1e-12, atol=1e-14)


def test_out_of_range_axis_names_the_layouts():
    with pytest.raises(ValueError, match=r"axis=2 is out of range for logits with 2 dimension\(s\)"):
        lk.softmax_cross_entropy(np.eye(3), np.zeros((3, 3)), axis=2)


def test_axis_on_a_pointwise_loss_is_rejected():
    with pytest.raises(TypeError, match="no class axis"):
        lk.mse(np.zeros(3), np.zeros(3), axis=0)


def test_non_integer_axis_is_rejected():
    with pytest.raises(TypeError, match="axis must be an integer"):
        lk.softmax_cross_entropy(np.eye(3), np.zeros((3, 3)), axis=1.0)
