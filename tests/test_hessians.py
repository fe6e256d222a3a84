"""The analytic Hessian diagonals of every loss that has one.

For every loss with ``has_hessian`` (all but the root losses), on the seeded cases of ``_cases``
(kept away from kinks and floors), ``loss.hessian`` must equal

* the diagonal of ``torch.autograd.functional.hessian`` of the reduced loss, built in float64
  from the reference kernel's *value* alone (so it checks the hand-derived second derivative
  against the formula itself, not against the hand-derived gradient),
* the diagonal of ``jax.hessian`` of the same losskit loss run on JAX arrays (through the
  custom JVP, i.e. autodiff of the analytic gradient),
* central finite differences of ``loss.grad`` in float64,
* scikit-learn's ``gradient_hessian`` for the losses whose raw prediction is the same as
  losskit's (half squared error, Huber, binomial on logits, multinomial on logits); where
  scikit-learn's convention differs (absolute and pinball losses, Huber on the band edge) the
  difference is pinned.

Every parameter setting, shape and reduction, weighted or not, is in ``HESSIAN_CASES``; each
reference runs on the part of that grid its ``_*_cases`` selection names, so that the file stays
within a few tens of seconds (the reductions only scale the Hessian, which has its own test).

The diagonal of a loss over a class axis is ``d^2 L / d x_c^2`` per class; the full Hessian of a
softmax row also has off-diagonal terms, which the comparisons leave out. At kinks the second
derivative is 0 (pinned below), and at the documented floors and extremes it stays finite.
"""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import losskit as lk
from _cases import IGNORE_INDEX, make_case, param_cases, reduction_cases, shapes

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
sklearn_loss = pytest.importorskip("sklearn._loss.loss")
LogisticRegression = pytest.importorskip("sklearn.linear_model").LogisticRegression

HESSIAN_LOSSES = [loss for loss in lk.catalog() if loss.has_hessian]
WITHOUT_HESSIAN = [loss for loss in lk.catalog() if not loss.has_hessian]

# Central differences of the gradient with step h: truncation ~h^2 g''' / 6 and rounding
# ~eps |g| / h stay near 1e-10 relative for the inputs of _cases (probabilities >= 0.02).
FD_STEP = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-8
AUTODIFF_RTOL, AUTODIFF_ATOL = 1e-10, 1e-12

_TORCH_XP = array_api_compat.array_namespace(torch.zeros(0))



HESSIAN_CASES = reduction_cases(HESSIAN_LOSSES)


def _torch_cases():
    """Every parameter setting and shape with weighted 'mean'; every reduction and weighting
    with the defaults (all reductions are linear, so they only scale the Hessian)."""
    for case in HESSIAN_CASES:
        loss, shape, params, reduction, weighted = case.values
        if (weighted and reduction == "mean") or (not params and shape == shapes(loss)[0]):
            yield case


def _finite_difference_cases():
    """Every parameter setting and shape, with weighted 'mean' and with the unweighted 'sum' (the
    kernel's Hessian as it is); the reductions in between are the scaling test's."""
    for case in HESSIAN_CASES:
        loss, shape, params, reduction, weighted = case.values
        if (weighted and reduction == "mean") or (not weighted and reduction == "sum"):
            yield case


def _jax_cases():
    """Weighted 'mean' on the widest shape with the defaults and, for the losses with an array
    parameter (which the custom JVP receives as a primal, not as a static), the last setting.

    JAX checks that the custom JVP's rule, the analytic gradient, differentiates to the Hessian;
    every JAX case costs a compile, and torch and finite differences already check the grid.
    """
    for loss in HESSIAN_LOSSES:
        shape = shapes(loss)[-1]
        settings = param_cases(loss, shape)
        if not any(param.is_array for param in loss.params):
            settings = settings[:1]
        for params_id, params in settings[:1] + settings[1:][-1:]:
            yield pytest.param(loss, shape, params, "mean", True, id=f"{loss.name}-{shape}-{params_id}-mean-weighted")


def _inputs(loss, shape, params, weighted):
    case = make_case(loss, shape, params)
    predictions = (case.y_pred, *case.more_predictions)
    return case.y_true, predictions, (case.sample_weight if weighted else None)


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _hessians(loss, y_true, predictions, params, reduction, sample_weight):
    """loss.hessian as a tuple, one diagonal per prediction."""
    return _as_tuple(loss.hessian(y_true, *predictions, **params, reduction=reduction, sample_weight=sample_weight))


def _diagonal(full_hessian, shape):
    size = int(np.prod(shape))
    return np.diagonal(np.asarray(full_hessian).reshape(size, size)).reshape(shape)


# ------------------------------------------------------------------------------------ coverage

# The losses without an analytic Hessian, and why. Every other loss has one, so gradient
# boosting (losskit.boosting) and Newton steps can use it.
NO_HESSIAN_REASONS = {
    # A root loss is the square root of a mean, not a linear reduction of per-example terms:
    # its Hessian is not diagonal and does not scale like the others.
    "root_mean_squared_error": "root of a mean",
    "root_mean_squared_logarithmic_error": "root of a mean",
    # Not used as boosting objectives; their diagonal Hessians were left out of round 2.
    "sigmoid_focal": "not yet derived", "softmax_focal": "not yet derived", "sparse_softmax_focal": "not yet derived",
    "jensen_shannon": "not yet derived",
    # Each term couples a whole region, pair or batch: a diagonal says little about the curvature.
    "dice": "coupled terms", "jaccard": "coupled terms", "tversky": "coupled terms", "focal_tversky": "coupled terms",
    "cosine_distance": "coupled terms", "cosine_embedding": "coupled terms", "margin_ranking": "two predictions",
    "triplet_margin": "coupled terms", "info_nce": "coupled terms", "linear_cross_entropy": "a weight matrix",
}


def test_every_loss_has_a_hessian_except_those_listed_with_a_reason():
    assert {loss.name for loss in WITHOUT_HESSIAN} == set(NO_HESSIAN_REASONS)
    assert {loss.name for loss in lk.catalog() if loss.root} <= set(NO_HESSIAN_REASONS)


@pytest.mark.parametrize("loss", WITHOUT_HESSIAN, ids=lambda loss: loss.name)
def test_hessian_of_a_loss_without_one_raises_and_names_those_that_have_one(loss):
    case = make_case(loss, shapes(loss)[0])
    with pytest.raises(NotImplementedError, match=f"^{loss.name} has no analytic Hessian") as info:
        loss.hessian(case.y_true, case.y_pred)
    for other in HESSIAN_LOSSES:
        assert other.name in str(info.value)
    with pytest.raises(NotImplementedError):
        loss.grad_and_hessian(case.y_true, case.y_pred)


# ------------------------------------------------------------------------------- references

def _torch_objective(loss, y_true, predictions, which, params, reduction, sample_weight):
    """The reduced loss as a function of prediction ``which``, from the reference kernel's value.

    Reduced by the contract (CONTRIBUTING.md): sum(w * l), divided by sum(w * n) for 'mean';
    the weighted sum for 'none', whose derivatives ``loss.hessian`` gives.
    """
    bound = {
        name: torch.as_tensor(value) if isinstance(value, np.ndarray) else value
        for name, value in loss.bind_params(params).items()
    }
    target = torch.as_tensor(y_true)
    fixed = [torch.as_tensor(p) for p in predictions]
    weight = None if sample_weight is None else torch.as_tensor(sample_weight)

    def objective(x):
        inputs = list(fixed)
        inputs[which] = x
        result = loss.kernel(_TORCH_XP, target, *inputs, with_grad=False, **bound)
        terms = result.loss
        w = torch.ones_like(terms) if weight is None else weight.reshape(weight.shape + (1,) * (terms.ndim - weight.ndim))
        total = (w * terms).sum()
        if reduction != "mean":
            return total
        norm = torch.ones_like(terms) if result.norm is None else result.norm
        return total / (w * norm).sum()

    return objective


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", list(_torch_cases()))
def test_hessian_matches_the_diagonal_of_torch_autograd_hessian(loss, shape, params, reduction, weighted):
    y_true, predictions, sample_weight = _inputs(loss, shape, params, weighted)
    actual = _hessians(loss, y_true, predictions, params, reduction, sample_weight)
    for which, prediction in enumerate(predictions):
        objective = _torch_objective(loss, y_true, predictions, which, params, reduction, sample_weight)
        full = torch.autograd.functional.hessian(objective, torch.as_tensor(prediction))
        expected = _diagonal(full.numpy(), prediction.shape)
        np.testing.assert_allclose(actual[which], expected, rtol=AUTODIFF_RTOL, atol=AUTODIFF_ATOL)


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", list(_jax_cases()))
def test_hessian_matches_the_diagonal_of_jax_hessian_of_the_loss(loss, shape, params, reduction, weighted):
    y_true, predictions, sample_weight = _inputs(loss, shape, params, weighted)
    actual = _hessians(loss, y_true, predictions, params, reduction, sample_weight)
    jax_params = {name: jnp.asarray(v) if isinstance(v, np.ndarray) else v for name, v in params.items()}
    jax_weight = None if sample_weight is None else jnp.asarray(sample_weight)
    jax_predictions = [jnp.asarray(p) for p in predictions]
    for which, prediction in enumerate(jax_predictions):

        def objective(x, which=which):
            inputs = list(jax_predictions)
            inputs[which] = x
            value = loss(jnp.asarray(y_true), *inputs, **jax_params, reduction=reduction, sample_weight=jax_weight)
            return value.sum() if reduction == "none" else value

        expected = _diagonal(jax.jit(jax.hessian(objective))(prediction), prediction.shape)
        np.testing.assert_allclose(actual[which], expected, rtol=AUTODIFF_RTOL, atol=AUTODIFF_ATOL)


def _central_differences_of_grad(loss, y_true, predictions, which, params, reduction, sample_weight):
    """d grad_i / d x_i by central differences of ``loss.grad`` in prediction ``which``."""
    diagonal = np.zeros_like(predictions[which])
    # A perturbed probability row no longer sums to 1; the value checks would (rightly) refuse it.
    with lk.value_checks(False):
        for index in np.ndindex(diagonal.shape):
            sides = []
            for step in (FD_STEP, -FD_STEP):
                moved = [p.copy() for p in predictions]
                moved[which][index] += step
                grads = _as_tuple(loss.grad(y_true, *moved, **params, reduction=reduction, sample_weight=sample_weight))
                sides.append(grads[which][index])
            diagonal[index] = (sides[0] - sides[1]) / (2 * FD_STEP)
    return diagonal


@pytest.mark.parametrize("loss, shape, params, reduction, weighted", list(_finite_difference_cases()))
def test_hessian_matches_central_finite_differences_of_the_gradient(loss, shape, params, reduction, weighted):
    y_true, predictions, sample_weight = _inputs(loss, shape, params, weighted)
    actual = _hessians(loss, y_true, predictions, params, reduction, sample_weight)
    for which in range(len(predictions)):
        expected = _central_differences_of_grad(loss, y_true, predictions, which, params, reduction, sample_weight)
        np.testing.assert_allclose(actual[which], expected, rtol=FD_RTOL, atol=FD_ATOL)


# ------------------------------------------------------------------------------ scikit-learn

def _sklearn_rows(y_true, y_pred):
    """scikit-learn's _loss takes 1-D samples (and (n, K) raw predictions for the multinomial)."""
    if y_pred.ndim == y_true.ndim:
        return y_true.reshape(-1), y_pred.reshape(-1)
    return y_true.reshape(-1).astype(np.float64), y_pred.reshape(-1, y_pred.shape[-1])


SKLEARN_SAME_RAW_PREDICTION = [
    pytest.param("half_squared_error", {}, lambda: sklearn_loss.HalfSquaredError(), id="half_squared_error"),
    pytest.param("huber", {"delta": 0.5}, lambda: sklearn_loss.HuberLoss(delta=0.5), id="huber-delta=0.5"),
    pytest.param("huber", {"delta": 2.0}, lambda: sklearn_loss.HuberLoss(delta=2.0), id="huber-delta=2"),
    pytest.param("sigmoid_cross_entropy", {}, lambda: sklearn_loss.HalfBinomialLoss(), id="sigmoid_cross_entropy"),
    pytest.param("sparse_softmax_cross_entropy", {}, lambda: sklearn_loss.HalfMultinomialLoss(n_classes=4),
                 id="sparse_softmax_cross_entropy"),
]


@pytest.mark.parametrize("name, params, make_reference", SKLEARN_SAME_RAW_PREDICTION)
def test_gradient_and_hessian_equal_sklearn_gradient_hessian_with_sample_weight(name, params, make_reference):
    loss = lk.get(name)
    shape = (40,) if loss.kind == "pointwise" else (40, 4)
    case = make_case(loss, shape, params, seed=3)
    grad, hess = loss.grad_and_hessian(case.y_true, case.y_pred, **params, sample_weight=case.sample_weight,
                                       reduction="sum")
    y_true, raw = _sklearn_rows(case.y_true, case.y_pred)
    expected_grad, expected_hess = make_reference().gradient_hessian(
        y_true, raw, sample_weight=case.sample_weight.reshape(-1)
    )
    np.testing.assert_allclose(grad.reshape(expected_grad.shape), expected_grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hess.reshape(expected_hess.shape), expected_hess, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, params, make_reference", [
    pytest.param("mean_absolute_error", {}, lambda: sklearn_loss.AbsoluteError(), id="absolute_error"),
    pytest.param("quantile", {"q": 0.9}, lambda: sklearn_loss.PinballLoss(quantile=0.9), id="pinball"),
])
def test_piecewise_linear_hessian_is_zero_where_sklearn_returns_a_placeholder_of_one(name, params, make_reference):
    # scikit-learn's AbsoluteError and PinballLoss declare constant_hessian and return 1: a
    # placeholder its gradient boosting replaces by a line search in each leaf. The true second
    # derivative of a piecewise-linear loss is 0 away from the kink, which losskit returns.
    loss, reference = lk.get(name), make_reference()
    case = make_case(loss, (40,), params, seed=3)
    grad, hess = loss.grad_and_hessian(case.y_true, case.y_pred, **params, reduction="sum")
    expected_grad, expected_hess = reference.gradient_hessian(case.y_true, case.y_pred)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    assert reference.constant_hessian
    np.testing.assert_array_equal(expected_hess, np.ones(40))
    np.testing.assert_array_equal(hess, np.zeros(40))


def test_huber_hessian_on_the_band_edge_is_zero_where_sklearn_takes_one():
    # The second derivative jumps from 1 to 0 at |e| = delta; losskit takes 0 at every kink,
    # scikit-learn's HuberLoss takes the band's value (|e| <= delta).
    y_pred = np.array([-0.5, 0.5])
    hess = lk.huber.hessian(np.zeros(2), y_pred, delta=0.5, reduction="sum")
    _, expected = sklearn_loss.HuberLoss(delta=0.5).gradient_hessian(np.zeros(2), y_pred)
    np.testing.assert_array_equal(hess, [0.0, 0.0])
    np.testing.assert_array_equal(expected, [1.0, 1.0])


# ------------------------------------------------------------------------------------ doors

def _default_call(loss):
    case = make_case(loss, shapes(loss)[-1])
    return (case.y_true, case.y_pred, *case.more_predictions), case.sample_weight


@pytest.mark.parametrize("loss", HESSIAN_LOSSES, ids=lambda loss: loss.name)
def test_grad_and_hessian_returns_exactly_the_grad_and_the_hessian(loss):
    args, sample_weight = _default_call(loss)
    for reduction in loss.reductions:
        grad, hess = loss.grad_and_hessian(*args, sample_weight=sample_weight, reduction=reduction)
        expected_grad = loss.grad(*args, sample_weight=sample_weight, reduction=reduction)
        expected_hess = loss.hessian(*args, sample_weight=sample_weight, reduction=reduction)
        for actual, expected in zip(_as_tuple(grad) + _as_tuple(hess), _as_tuple(expected_grad) + _as_tuple(expected_hess)):
            np.testing.assert_array_equal(actual, expected)
            assert actual.shape == args[1].shape and actual.dtype == np.float64


@pytest.mark.parametrize("loss", HESSIAN_LOSSES, ids=lambda loss: loss.name)
def test_hessian_scales_with_the_weights_and_the_reduction_like_the_gradient(loss):
    args, sample_weight = _default_call(loss)
    plain = _as_tuple(loss.hessian(*args, reduction="sum"))
    extra_axes = args[1].ndim - 1
    w = sample_weight.reshape(sample_weight.shape + (1,) * extra_axes)
    size = int(np.prod(args[1].shape if loss.kind == "pointwise" else args[1].shape[:-1]))
    rows = size // sample_weight.shape[0]  # loss terms per weight
    expected_scale = {
        ("none", False): 1.0, ("sum", False): 1.0, ("mean", False): 1.0 / size,
        ("none", True): w, ("sum", True): w, ("mean", True): w / (rows * sample_weight.sum()),
    }
    for (reduction, weighted), scale in expected_scale.items():
        hess = _as_tuple(loss.hessian(*args, reduction=reduction, sample_weight=sample_weight if weighted else None))
        for actual, unit in zip(hess, plain):
            np.testing.assert_allclose(actual, unit * scale, rtol=1e-14)


def test_sparse_softmax_hessian_mean_divides_by_the_kept_label_weights_and_ignored_rows_get_zero():
    labels = np.array([0, IGNORE_INDEX, 2, 1])
    logits = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, 0.0], [0.0, 0.1, 0.2], [1.0, 1.0, -2.0]])
    class_weight = np.array([0.5, 1.0, 2.0])
    hess = lk.sparse_softmax_cross_entropy.hessian(labels, logits, class_weight=class_weight,
                                                   ignore_index=IGNORE_INDEX)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    kept = np.array([1.0, 0.0, 1.0, 1.0])
    label_weight = class_weight[np.where(kept > 0, labels, 0)] * kept
    expected = (label_weight / label_weight.sum())[:, None] * p * (1 - p)
    np.testing.assert_allclose(hess, expected, rtol=1e-14)
    np.testing.assert_array_equal(hess[1], 0.0)


def test_softmax_hessian_on_pytorch_layout_equals_the_channels_last_one():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5))  # (N, C, H, W)
    labels = rng.integers(0, 3, size=(2, 4, 5))
    hess = lk.sparse_softmax_cross_entropy.hessian(labels, logits, axis=1)
    expected = lk.sparse_softmax_cross_entropy.hessian(labels, np.moveaxis(logits, 1, -1))
    np.testing.assert_allclose(hess, np.moveaxis(expected, -1, 1), rtol=1e-15)


def test_gaussian_nll_hessian_is_one_diagonal_per_prediction():
    y_true, mean, variance = np.array([0.0, 1.0]), np.array([1.0, 1.5]), np.array([2.0, 0.25])
    hess_mean, hess_variance = lk.gaussian_nll.hessian(y_true, mean, variance, reduction="sum")
    residual_squared = (mean - y_true) ** 2
    np.testing.assert_allclose(hess_mean, 1.0 / variance, rtol=1e-15)
    np.testing.assert_allclose(hess_variance, (residual_squared / variance - 0.5) / variance**2, rtol=1e-15)


# --------------------------------------------------------------------- kinks, floors, extremes

@pytest.mark.parametrize("name, y_true, y_pred, params, expected", [
    pytest.param("mean_absolute_error", [0.0], [0.0], {}, [0.0], id="mae-at-zero"),
    pytest.param("huber", [0.0, 0.0, 0.0], [0.0, 1.0, -1.0], {"delta": 1.0}, [1.0, 0.0, 0.0], id="huber-band-edges"),
    pytest.param("smooth_l1", [0.0, 0.0], [0.25, 0.5], {"beta": 0.5}, [2.0, 0.0], id="smooth_l1-inside-and-edge"),
    pytest.param("smooth_l1", [0.0], [0.0], {"beta": 0.0}, [0.0], id="smooth_l1-beta=0-is-mae"),
    pytest.param("quantile", [1.0], [1.0], {"q": 0.9}, [0.0], id="quantile-at-zero"),
    pytest.param("epsilon_insensitive", [0.0, 0.0], [0.1, -0.1], {"epsilon": 0.1}, [0.0, 0.0], id="epsilon-band-edge"),
    pytest.param("hinge", [1.0, 1.0], [1.0, 0.0], {}, [0.0, 0.0], id="hinge-margin-one"),
    pytest.param("squared_hinge", [1.0, 1.0], [1.0, 0.5], {}, [0.0, 2.0], id="squared_hinge-margin-one"),
    pytest.param("modified_huber", [1.0, 1.0, 1.0, 1.0], [-1.0, 1.0, 0.0, -3.0], {}, [0.0, 0.0, 2.0, 0.0],
                 id="modified_huber-both-kinks"),
    pytest.param("categorical_hinge", [[0.0, 1.0, 0.0]], [[0.5, 0.5, 0.5]], {}, [[0.0, 0.0, 0.0]],
                 id="categorical_hinge-tied-scores"),
])
def test_second_derivative_at_a_kink_is_zero(name, y_true, y_pred, params, expected):
    hess = lk.get(name).hessian(np.array(y_true), np.array(y_pred), **params, reduction="sum")
    np.testing.assert_array_equal(hess, expected)


def test_poisson_hessian_is_zero_below_the_rate_floor_where_the_gradient_is_constant():
    y_true, rate = np.array([2.0, 2.0, 0.0, 3.0]), np.array([0.0, 1e-13, 0.0, 0.5])
    grad, hess = lk.poisson.grad_and_hessian(y_true, rate, reduction="sum")
    np.testing.assert_array_equal(grad[:2], [1.0 - 2.0 / 1e-12] * 2)  # the floored gradient, constant
    np.testing.assert_array_equal(hess, [0.0, 0.0, 0.0, 3.0 / 0.25])


def test_binary_cross_entropy_hessian_is_finite_at_p_zero_and_one():
    # Each term of the floored gradient contributes 1/(1-p)^2 or 1/p^2 while its denominator is
    # above the floor; the term held constant by the floor contributes 0.
    y_true = np.array([0.0, 1.0, 0.0, 1.0])
    y_pred = np.array([0.0, 0.0, 1.0, 1.0])
    hess = lk.binary_cross_entropy.hessian(y_true, y_pred, reduction="sum")
    np.testing.assert_array_equal(hess, [1.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("name", ["categorical_cross_entropy", "kl_divergence"])
def test_probability_space_class_hessian_is_finite_at_p_zero_and_one(name):
    y_true = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    y_pred = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    hess = lk.get(name).hessian(y_true, y_pred, reduction="sum")
    # 1/p^2 weighted by the target where p > 0; 0 where the gradient's floor holds p.
    np.testing.assert_array_equal(hess, [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])


def test_sparse_categorical_hessian_is_finite_at_p_zero():
    hess = lk.sparse_categorical_cross_entropy.hessian(np.array([0, 1]), np.array([[0.0, 1.0], [0.5, 0.5]]),
                                                       reduction="sum")
    np.testing.assert_array_equal(hess, [[0.0, 0.0], [0.0, 4.0]])


@pytest.mark.parametrize("name", ["sigmoid_cross_entropy", "logistic"])
def test_logit_hessian_is_finite_at_logits_of_plus_minus_1e4_and_exact_in_the_tails(name):
    loss = lk.get(name)
    y_true = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    logits = np.array([1e4, -1e4, -1e4, 1e4, 40.0])
    hess = loss.hessian(y_true, logits, reduction="sum")
    assert np.all(np.isfinite(hess))
    np.testing.assert_array_equal(hess[:4], 0.0)  # sigmoid'(1e4) = e^-1e4 underflows to exactly 0
    # sigmoid(40) (1 - sigmoid(40)) ~ e^-40: the product form would give 0 (1 - sigmoid(40) cancels).
    np.testing.assert_allclose(hess[4], np.exp(-40.0) / (1.0 + np.exp(-40.0)) ** 2, rtol=1e-14)


def test_sigmoid_cross_entropy_hessian_carries_pos_weight_and_label_smoothing():
    y_true, logits = np.array([1.0, 0.0]), np.array([0.3, -0.7])
    hess = lk.sigmoid_cross_entropy.hessian(y_true, logits, pos_weight=2.5, label_smoothing=0.2, reduction="sum")
    target = y_true * 0.8 + 0.1
    s = 1.0 / (1.0 + np.exp(-logits))
    np.testing.assert_allclose(hess, (2.5 * target + 1.0 - target) * s * (1.0 - s), rtol=1e-14)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "sparse_softmax_cross_entropy", "kl_divergence_with_logits"])
def test_softmax_hessian_is_finite_at_logits_of_plus_minus_1e4(name):
    loss = lk.get(name)
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    labels = np.array([1, 0]) if loss.kind == "sparse" else np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    hess = loss.hessian(labels, logits, reduction="sum")
    expected_last_row = np.full(3, (1 / 3) * (2 / 3))
    np.testing.assert_array_equal(hess[0], 0.0)
    np.testing.assert_allclose(hess[1], expected_last_row, rtol=1e-14)


@pytest.mark.parametrize("name", ["log_cosh", "pseudo_huber"])
def test_smooth_robust_hessian_is_finite_and_positive_far_from_the_target(name):
    # log_cosh: sech(e)^2 ~ 4 e^{-2|e|}, which 1 - tanh(e)^2 would cancel to 0 at |e| = 20.
    hess = lk.get(name).hessian(np.zeros(3), np.array([20.0, -1e4, 1e200]), reduction="sum")
    assert np.all(np.isfinite(hess)) and np.all(hess >= 0)
    if name == "log_cosh":
        np.testing.assert_allclose(hess[0], 1.0 / np.cosh(20.0) ** 2, rtol=1e-14)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_hessian_on_float32_tensors_keeps_the_library_and_dtype(backend):
    y_true = [1.0, 0.0, 1.0]
    logits = [2.0, -1.0, 0.5]
    if backend == "torch":
        result = lk.sigmoid_cross_entropy.hessian(torch.tensor(y_true), torch.tensor(logits))
        assert isinstance(result, torch.Tensor) and result.dtype == torch.float32
        result = result.numpy()
    else:
        result = lk.sigmoid_cross_entropy.hessian(jnp.asarray(y_true, jnp.float32), jnp.asarray(logits, jnp.float32))
        assert result.dtype == jnp.float32
    s = 1.0 / (1.0 + np.exp(-np.array(logits)))
    np.testing.assert_allclose(np.asarray(result), s * (1.0 - s) / 3.0, rtol=1e-6)


# ----------------------------------------------------------------------------------- Newton

def test_newton_steps_with_grad_and_hessian_fit_a_logistic_regression_in_plain_numpy():
    rng = np.random.default_rng(0)
    features = np.column_stack([np.ones(500), rng.normal(size=(500, 3))])
    true_coef = np.array([0.3, 1.0, -2.0, 0.5])
    labels = (rng.random(500) < 1.0 / (1.0 + np.exp(-features @ true_coef))).astype(np.float64)
    coef = np.zeros(4)
    for _ in range(8):
        grad, hess = lk.sigmoid_cross_entropy.grad_and_hessian(labels, features @ coef, reduction="sum")
        # The loss is pointwise in the logits, so its Hessian in the coefficients is X^T diag(h) X.
        coef = coef - np.linalg.solve(features.T @ (hess[:, None] * features), features.T @ grad)
    gradient = features.T @ lk.sigmoid_cross_entropy.grad(labels, features @ coef, reduction="sum")
    # Newton converges quadratically only with the exact Hessian: a Hessian off by a constant
    # factor would still be a descent method, but would leave a gradient far above 1e-8 here.
    assert np.linalg.norm(gradient) < 1e-8
    # The same maximum-likelihood fit as scikit-learn's unpenalised LogisticRegression.
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(features[:, 1:], labels)
    np.testing.assert_allclose(coef, np.r_[reference.intercept_, reference.coef_[0]], rtol=1e-6)
