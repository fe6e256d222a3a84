"""Losses with several prediction inputs: one gradient per prediction, through every door.

The contract of ``loss(y_true, *predictions)``: ``grad`` and ``value_and_grad`` return a tuple
with one gradient per prediction (in call order), each of that prediction's shape; the shape rule
of every prediction is declared on the loss and enforced without broadcasting. Gaussian NLL is
pinned to ``torch.nn.GaussianNLLLoss``, value and both gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from _cases import make_case, reduction_cases

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

MULTI = [loss for loss in lk.catalog() if len(loss.inputs) > 1]
REDUCTIONS = ("none", "sum", "mean")


CASES = reduction_cases(MULTI)


def test_the_catalog_has_multi_input_losses():
    assert "gaussian_nll" in {loss.name for loss in MULTI}


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", CASES)
def test_grad_is_one_gradient_per_prediction_matching_finite_differences(loss, shape, params, reduction, weighted):
    case = make_case(loss, shape, params)
    weight = case.sample_weight if weighted else None
    kwargs = dict(params, sample_weight=weight, reduction=reduction)
    grads = loss.grad(*case.args, **kwargs)
    assert isinstance(grads, tuple) and len(grads) == len(loss.inputs)
    step = 1e-6
    first = len(case.args) - len(loss.inputs)  # 1 after the target, 0 for a loss without one
    for index, grad in enumerate(grads):
        prediction = case.args[first + index]
        assert grad.shape == prediction.shape
        numeric = np.zeros_like(prediction)
        for position in np.ndindex(prediction.shape):
            shifted = [a.copy() for a in case.args]
            shifted[first + index][position] += step
            up = np.sum(loss(*shifted, **kwargs))
            shifted[first + index][position] -= 2 * step
            down = np.sum(loss(*shifted, **kwargs))
            numeric[position] = (up - down) / (2 * step)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", CASES)
def test_value_and_grad_equals_the_value_and_the_grad(loss, shape, params, reduction, weighted):
    case = make_case(loss, shape, params)
    kwargs = dict(params, sample_weight=case.sample_weight if weighted else None, reduction=reduction)
    value, grads = loss.value_and_grad(*case.args, **kwargs)
    np.testing.assert_allclose(value, loss(*case.args, **kwargs), rtol=1e-13)
    for ours, expected in zip(grads, loss.grad(*case.args, **kwargs)):
        np.testing.assert_allclose(ours, expected, rtol=1e-13)


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", CASES)
def test_torch_autograd_and_jax_grad_equal_the_analytic_gradients(loss, shape, params, reduction, weighted):
    case = make_case(loss, shape, params)
    weight = case.sample_weight if weighted else None
    expected = loss.grad(*case.args, **params, sample_weight=weight, reduction=reduction)

    tensors = [torch.as_tensor(a) for a in case.args]
    first = len(case.args) - len(loss.inputs)  # 1 after the target, 0 for a loss without one
    for t in tensors[first:]:
        t.requires_grad_(True)
    torch_weight = None if weight is None else torch.as_tensor(weight)
    torch_params = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    loss(*tensors, **torch_params, sample_weight=torch_weight, reduction=reduction).sum().backward()
    for t, g in zip(tensors[first:], expected):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-12, atol=1e-14)

    def total(*predictions):
        target = () if case.y_true is None else (jnp.asarray(case.y_true),)
        jax_params = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
        return jnp.sum(loss(*target, *predictions, **jax_params,
                            sample_weight=None if weight is None else jnp.asarray(weight), reduction=reduction))

    argnums = tuple(range(len(loss.inputs)))
    jax_grads = jax.jit(jax.grad(total, argnums=argnums))(*(jnp.asarray(p) for p in case.args[first:]))
    for ours, g in zip(jax_grads, expected):
        np.testing.assert_allclose(np.asarray(ours), g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("eps", [1e-6, 0.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_equals_torch_gaussian_nll_loss_value_and_both_gradients(full, eps, reduction):
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    mean = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    # Some variances below eps, where both clamp the value and pass the gradient through.
    variance = (torch.rand(6, 3, generator=gen, dtype=torch.float64) * 2.0).requires_grad_(True)
    expected = torch.nn.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(mean, target, variance)
    expected.sum().backward()
    expected_grads = mean.grad.clone(), variance.grad.clone()
    mean.grad = variance.grad = None

    ours = lk.gaussian_nll(target, mean, variance, full=full, eps=eps, reduction=reduction)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    torch.testing.assert_close(mean.grad, expected_grads[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(variance.grad, expected_grads[1], rtol=1e-12, atol=1e-12)
    analytic = lk.gaussian_nll.grad(target.detach(), mean.detach(), variance.detach(), full=full, eps=eps,
                                    reduction=reduction)
    torch.testing.assert_close(analytic[1], expected_grads[1], rtol=1e-12, atol=1e-12)


def test_a_variance_of_another_shape_is_rejected_not_broadcast():
    with pytest.raises(ValueError, match=r"variance has shape \(4, 1\).*\(4, 3\).*never broadcasts"):
        lk.gaussian_nll(np.zeros((4, 3)), np.zeros((4, 3)), np.ones((4, 1)))


def test_a_negative_variance_is_rejected_naming_it():
    with pytest.raises(ValueError, match="variance must be non-negative"):
        lk.gaussian_nll(np.zeros(3), np.zeros(3), np.array([1.0, -1.0, 1.0]))


def test_missing_prediction_is_named():
    with pytest.raises(TypeError, match="missing required argument 'variance'"):
        lk.gaussian_nll(np.zeros(3), np.zeros(3))


def test_predictions_may_be_passed_by_keyword():
    y, m, v = np.zeros(3), np.array([1.0, 2.0, 0.0]), np.array([1.0, 2.0, 3.0])
    assert lk.gaussian_nll(y_true=y, mean=m, variance=v) == lk.gaussian_nll(y, m, v)


def test_a_gradient_for_the_target_flows_through_autograd():
    # The analytic gradient covers the predictions; a target that requires grad (e.g. a learned
    # target) gets autograd's gradient of the same formula.
    target = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    mean = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    variance = torch.tensor([2.0, 0.5], dtype=torch.float64)
    lk.gaussian_nll(target, mean, variance, reduction="sum").backward()
    torch.testing.assert_close(target.grad, -(mean - target).detach() / variance)
    torch.testing.assert_close(mean.grad, (mean - target).detach() / variance)
