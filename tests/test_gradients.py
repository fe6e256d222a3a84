"""The hand-derived gradients of every loss, against autograd and finite differences.

For every loss, shape, parameter setting (class_weight, ignore_index, label_smoothing,
pos_weight, thresholds) and reduction, with and without sample weights, ``loss.grad`` must equal

* PyTorch autograd of the same losskit loss run on float64 tensors,
* central finite differences of the NumPy loss in float64 (inputs are kept away from kinks),
* ``jax.grad`` of the same losskit loss run on JAX arrays,

and ``loss.value_and_grad`` must return exactly ``(loss(...), loss.grad(...))``. At the kinks
themselves the subgradient is the one PyTorch uses (sign(0) = 0), pinned value by value below.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from _cases import make_case, param_cases, reduction_cases, shapes, single_prediction

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

# Central differences with step h have truncation error ~h^2 f''' and rounding error ~eps f / h;
# h = 1e-6 keeps both near 1e-10 for the inputs of _cases (probabilities >= 0.02).
FD_STEP = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-8
AUTOGRAD_RTOL, AUTOGRAD_ATOL = 1e-10, 1e-12



GRADIENT_CASES = reduction_cases(single_prediction(lk.catalog()))  # several predictions: test_multi_input.py


def _jax_cases():
    """Every parameter setting with weighted 'mean' on the widest shape, and every reduction once.

    Each new shape or reduction costs JAX a compile per primitive, and torch autograd already
    checks the whole grid; JAX adds the traced path (value checks skipped, where() on tracers).
    """
    for case in GRADIENT_CASES:
        loss, shape, params, reduction, weighted = case.values
        weighted_mean = weighted and reduction == "mean" and shape == shapes(loss)[-1]
        every_reduction_once = not weighted and shape == shapes(loss)[0] and not params
        if weighted_mean or every_reduction_once:
            yield case


def _inputs(loss, shape, params, weighted):
    case = make_case(loss, shape, params)
    return case.y_true, case.y_pred, (case.sample_weight if weighted else None)


def _reduced_value(loss, y_true, y_pred, params, reduction, sample_weight):
    """The scalar whose gradient loss.grad is: the reduced loss, or the weighted sum for 'none'."""
    value = loss(y_true, y_pred, **params, reduction=reduction, sample_weight=sample_weight)
    return value.sum() if reduction == "none" else value


def _convert(params: dict, convert) -> dict:
    return {name: convert(value) if isinstance(value, np.ndarray) else value for name, value in params.items()}


# ------------------------------------------------------------------------------------ coverage

@pytest.mark.parametrize("loss", single_prediction(lk.catalog()), ids=lambda loss: loss.name)
def test_every_parameter_of_every_loss_has_a_gradient_case(loss):
    exercised = {name for shape in shapes(loss) for _, params in param_cases(loss, shape) for name in params}
    assert exercised == {param.name for param in loss.params}


# ------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("loss, shape, params, reduction, weighted", GRADIENT_CASES)
def test_grad_matches_torch_autograd_of_the_loss(loss, shape, params, reduction, weighted):
    y_true, y_pred, sample_weight = _inputs(loss, shape, params, weighted)
    prediction = torch.tensor(y_pred, requires_grad=True)
    value = _reduced_value(
        loss, torch.as_tensor(y_true), prediction, _convert(params, torch.as_tensor), reduction,
        None if sample_weight is None else torch.as_tensor(sample_weight),
    )
    value.backward()
    expected = prediction.grad.numpy()
    actual = loss.grad(y_true, y_pred, **params, reduction=reduction, sample_weight=sample_weight)
    np.testing.assert_allclose(actual, expected, rtol=AUTOGRAD_RTOL, atol=AUTOGRAD_ATOL)


def _central_differences(loss, y_true, y_pred, params, reduction, sample_weight):
    gradient = np.zeros_like(y_pred)
    # A perturbed probability row no longer sums to 1; the value checks would (rightly) refuse it.
    with lk.value_checks(False):
        for index in np.ndindex(y_pred.shape):
            up, down = y_pred.copy(), y_pred.copy()
            up[index] += FD_STEP
            down[index] -= FD_STEP
            gradient[index] = (
                _reduced_value(loss, y_true, up, params, reduction, sample_weight)
                - _reduced_value(loss, y_true, down, params, reduction, sample_weight)
            ) / (2 * FD_STEP)
    return gradient


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", GRADIENT_CASES)
def test_grad_matches_central_finite_differences(loss, shape, params, reduction, weighted):
    y_true, y_pred, sample_weight = _inputs(loss, shape, params, weighted)
    expected = _central_differences(loss, y_true, y_pred, params, reduction, sample_weight)
    actual = loss.grad(y_true, y_pred, **params, reduction=reduction, sample_weight=sample_weight)
    np.testing.assert_allclose(actual, expected, rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", GRADIENT_CASES)
def test_value_and_grad_returns_the_value_and_the_grad(loss, shape, params, reduction, weighted):
    y_true, y_pred, sample_weight = _inputs(loss, shape, params, weighted)
    arguments = dict(params, reduction=reduction, sample_weight=sample_weight)
    value, gradient = loss.value_and_grad(y_true, y_pred, **arguments)
    # Exactly, on the generic path; to rounding where a fused NumPy kernel (losskit._fast, with
    # numba installed) computes them in its own order of operations.
    generic_value, generic_gradient = loss._evaluate((y_true, y_pred), arguments, with_grad=True)
    np.testing.assert_array_equal(generic_value, loss(y_true, y_pred, **arguments))
    np.testing.assert_array_equal(generic_gradient, loss.grad(y_true, y_pred, **arguments))
    np.testing.assert_allclose(value, generic_value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gradient, generic_gradient, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", list(_jax_cases()))
def test_grad_matches_jax_grad_of_the_loss(loss, shape, params, reduction, weighted):
    y_true, y_pred, sample_weight = _inputs(loss, shape, params, weighted)
    jax_params = _convert(params, jnp.asarray)
    jax_weight = None if sample_weight is None else jnp.asarray(sample_weight)
    jax_true = jnp.asarray(y_true)

    def objective(prediction):
        return _reduced_value(loss, jax_true, prediction, jax_params, reduction, jax_weight)

    expected = np.asarray(jax.grad(objective)(jnp.asarray(y_pred)))
    actual = loss.grad(y_true, y_pred, **params, reduction=reduction, sample_weight=sample_weight)
    np.testing.assert_allclose(actual, expected, rtol=AUTOGRAD_RTOL, atol=AUTOGRAD_ATOL)


# ------------------------------------------------------------------------- kinks (subgradients)

def _elementwise_grad(loss, y_true, y_pred, **params):
    return loss.grad(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float), **params, reduction="sum")


def _torch_grad(module, y_true, y_pred):
    prediction = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    module(prediction, torch.tensor(y_true, dtype=torch.float64)).backward()
    return prediction.grad.numpy()


def test_mean_absolute_error_subgradient_at_zero_residual_is_zero_as_in_torch():
    y_true, y_pred = [1.0, 1.0, 1.0], [1.0, 3.0, -2.0]
    expected = _torch_grad(torch.nn.L1Loss(reduction="sum"), y_true, y_pred)
    np.testing.assert_array_equal(expected, [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(_elementwise_grad(lk.mae, y_true, y_pred), expected)


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_gradient_at_zero_and_at_plus_minus_delta_matches_torch(delta):
    y_true, y_pred = [0.0, 0.0, 0.0], [0.0, delta, -delta]
    expected = _torch_grad(torch.nn.HuberLoss(reduction="sum", delta=delta), y_true, y_pred)
    np.testing.assert_array_equal(expected, [0.0, delta, -delta])
    np.testing.assert_array_equal(_elementwise_grad(lk.huber, y_true, y_pred, delta=delta), expected)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_smooth_l1_gradient_at_zero_and_at_plus_minus_beta_matches_torch(beta):
    y_true, y_pred = [0.0, 0.0, 0.0], [0.0, beta, -beta]
    expected = _torch_grad(torch.nn.SmoothL1Loss(reduction="sum", beta=beta), y_true, y_pred)
    np.testing.assert_array_equal(_elementwise_grad(lk.smooth_l1, y_true, y_pred, beta=beta), expected)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_quantile_subgradient_at_zero_residual_is_zero(q):
    gradient = _elementwise_grad(lk.quantile, [1.0, 1.0, 1.0], [1.0, 0.0, 2.0], q=q)
    np.testing.assert_allclose(gradient, [0.0, -q, 1.0 - q], rtol=1e-15)


def test_binary_cross_entropy_gradient_at_confidently_wrong_p_matches_torch_clamped_denominator():
    y_true, y_pred = [1.0, 0.0], [0.0, 1.0]
    gradient = _elementwise_grad(lk.bce, y_true, y_pred)
    np.testing.assert_array_equal(gradient, [-1e12, 1e12])  # -y / max(p, 1e-12), (1 - y) / max(1 - p, 1e-12)
    # PyTorch's clamp constant is 1e-12 rounded through float32: equal to 4e-9 relative.
    expected = _torch_grad(torch.nn.BCELoss(reduction="sum"), y_true, y_pred)
    np.testing.assert_allclose(gradient, expected, rtol=1e-8)


def test_binary_cross_entropy_gradient_at_confidently_right_p_is_the_one_sided_derivative():
    # d/dp -log(1 - p) = 1 at p = 0, and d/dp -log(p) = -1 at p = 1. PyTorch's combined
    # (p - y) / max(p(1 - p), eps) gives 0 there; losskit keeps the true derivative.
    gradient = _elementwise_grad(lk.bce, [0.0, 1.0], [0.0, 1.0])
    np.testing.assert_array_equal(gradient, [1.0, -1.0])


def test_hinge_subgradient_at_margin_exactly_one_is_zero():
    gradient = _elementwise_grad(lk.hinge, [1.0, -1.0, 1.0], [1.0, -1.0, 0.5])
    np.testing.assert_array_equal(gradient, [0.0, 0.0, -1.0])


def test_epsilon_insensitive_subgradient_on_the_band_edge_is_zero():
    gradient = _elementwise_grad(lk.epsilon_insensitive, [0.0, 0.0, 0.0, 0.0], [0.5, -0.5, 0.0, 0.75], epsilon=0.5)
    np.testing.assert_array_equal(gradient, [0.0, 0.0, 0.0, 1.0])


def test_mean_absolute_percentage_error_subgradient_at_zero_residual_is_zero():
    gradient = _elementwise_grad(lk.mape, [2.0, 2.0], [2.0, 3.0])
    np.testing.assert_array_equal(gradient, [0.0, 50.0])


def test_categorical_hinge_subgradient_at_zero_slack_is_zero():
    # slack = 1 + max wrong score (0.5) - true score (1.5) = 0
    gradient = _elementwise_grad(lk.categorical_hinge, [[0.0, 1.0, 0.0]], [[0.5, 1.5, 0.2]])
    np.testing.assert_array_equal(gradient, [[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("name", ["root_mean_squared_error", "root_mean_squared_logarithmic_error"])
def test_root_loss_at_a_perfect_fit_has_zero_value_and_zero_gradient(name):
    loss = lk.get(name)
    y = np.array([0.5, 1.0, 2.0])
    value, gradient = loss.value_and_grad(y, y.copy())
    assert float(value) == 0.0
    np.testing.assert_array_equal(gradient, np.zeros(3))
