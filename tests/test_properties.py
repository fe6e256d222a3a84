"""Numerical properties of every loss, over generated inputs and at the edges of each domain.

Hypothesis draws inputs anywhere in a loss's domain, extremes included: values and logits up to
+-1e4, probabilities of exactly 0 and 1, zero targets in distributions. NumPy warnings are errors
in this suite (pyproject.toml), so an intermediate overflow or 0 * inf fails a test even when the
final value happens to come out finite.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import losskit as lk
from _cases import make_case, shapes, single_prediction

# Multi-prediction losses have their own tests (test_multi_input.py).
CATALOG = single_prediction(lk.catalog())
LOSS_IDS = [loss.name for loss in CATALOG]

# The largest magnitude drawn for unbounded inputs (values, logits, scores).
EXTREME = 1e4

# Hypothesis runs each parametrized test as its own search, so examples are budgeted: the
# finiteness search gets the profile's full count; the properties that also have exact
# deterministic tests (test_contract.py) get fewer. 27 losses x 5 searches must stay in seconds.
SECONDARY_EXAMPLES = 15
IDENTITY_EXAMPLES = 10

# A NumPy overflow or 0 * inf inside a loss fails these tests even if the final value is finite
# (pyproject.toml does the same for the whole suite; this keeps the tests honest when run alone).
warnings_are_errors = pytest.mark.filterwarnings("error::RuntimeWarning")


# ------------------------------------------------------------------------------------ strategies

def _floats(low: float, high: float):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


def _unbounded():
    return _floats(-EXTREME, EXTREME)


def _rows_summing_to_one(draw, shape):
    """Probability rows with exact zeros and, sometimes, an exact one."""
    weights = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.just(0.0), _floats(1e-3, 1.0))))
    empty = weights.sum(-1) == 0
    weights[empty, 0] = 1.0
    return weights / weights.sum(-1, keepdims=True)


# The deviances' y_pred is a mean > 0 (their value is infinite at 0); their positive draws start
# here, small enough to be extreme (a ratio y/y_pred of 1e12) and far from overflow.
SMALLEST_POSITIVE = 1e-8
POSITIVE_PREDICTIONS = {"gamma_deviance", "tweedie_deviance"}


def _labels(draw, loss: lk.Loss, shape: tuple) -> np.ndarray:
    fmt = loss.label_format
    if fmt == "real":
        return draw(hnp.arrays(np.float64, shape, elements=_unbounded()))
    if fmt == "positive":
        return draw(hnp.arrays(np.float64, shape, elements=_floats(SMALLEST_POSITIVE, EXTREME)))
    if fmt in ("non-negative", "counts"):
        return draw(hnp.arrays(np.float64, shape, elements=_floats(0.0, EXTREME)))
    if fmt == "binary":
        return draw(hnp.arrays(np.float64, shape, elements=_floats(0.0, 1.0)))
    if fmt == "signed":
        classes = draw(st.sampled_from([(-1.0, 1.0), (0.0, 1.0)]))
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(classes)))
    if fmt == "one-hot":
        hot = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
        return np.eye(shape[-1])[hot]
    if fmt == "distribution":
        return _rows_summing_to_one(draw, shape)
    if fmt == "integer":
        return draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    raise AssertionError(f"no strategy for label format {fmt!r}")


def _predictions(draw, loss: lk.Loss, shape: tuple) -> np.ndarray:
    if loss.prediction_space == "probabilities":
        if loss.kind == "pointwise":
            return draw(hnp.arrays(np.float64, shape, elements=_floats(0.0, 1.0)))
        return _rows_summing_to_one(draw, shape)
    if loss.name in POSITIVE_PREDICTIONS:
        return draw(hnp.arrays(np.float64, shape, elements=_floats(SMALLEST_POSITIVE, EXTREME)))
    if loss.label_format in ("non-negative", "counts"):
        return draw(hnp.arrays(np.float64, shape, elements=_floats(0.0, EXTREME)))
    return draw(hnp.arrays(np.float64, shape, elements=_unbounded()))


@st.composite
def loss_inputs(draw, loss: lk.Loss):
    """(y_true, y_pred) anywhere in the domain of ``loss``, extremes included."""
    if loss.kind == "pointwise":
        shape = (draw(st.integers(1, 6)),)
    else:
        shape = (draw(st.integers(1, 4)), draw(st.integers(2, 5)))
    return _labels(draw, loss, shape), _predictions(draw, loss, shape)


# ------------------------------------------------------------------------- finite and bounded

@warnings_are_errors
@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
@given(data=st.data())
def test_finite_input_in_the_domain_gives_finite_value_and_gradient(loss, data):
    y_true, y_pred = data.draw(loss_inputs(loss))
    for reduction in loss.reductions:
        value, grad = loss.value_and_grad(y_true, y_pred, reduction=reduction)
        assert np.all(np.isfinite(value)), reduction
        assert np.all(np.isfinite(grad)), reduction


# The losses that can be negative, and why.
CAN_BE_NEGATIVE = {
    "poisson": "y_pred - y log y_pred drops the log(y!) term: at y = y_pred = 10 it is 10 - 10 log 10 < 0",
}


@pytest.mark.parametrize("loss", [loss for loss in CATALOG if loss.name not in CAN_BE_NEGATIVE],
                         ids=lambda loss: loss.name)
@given(data=st.data())
@settings(max_examples=SECONDARY_EXAMPLES)
def test_loss_is_non_negative(loss, data):
    y_true, y_pred = data.draw(loss_inputs(loss))
    value = loss(y_true, y_pred, reduction=loss.reductions[0])
    # KL divergence is a difference of logs that rounds to a few ulps below 0 near p = q.
    assert np.all(value >= -1e-12 * (1.0 + np.abs(value)))


@pytest.mark.parametrize("name", sorted(CAN_BE_NEGATIVE))
def test_losses_listed_as_possibly_negative_are_negative_somewhere(name):
    assert float(lk.get(name)([10.0], [10.0])) < 0


# ----------------------------------------------------------------------- zero at the optimum

# The losses whose minimum over the prediction is not 0, and why.
NOT_ZERO_AT_OPTIMUM = {
    "poisson": "the negative log-likelihood without log(y!) is y - y log y at y_pred = y_true",
}


def _perfect_prediction(loss: lk.Loss, y_true: np.ndarray, num_classes: int) -> np.ndarray:
    """A prediction at which ``loss`` attains 0 for these labels."""
    if loss.kind == "sparse":
        one_hot = np.eye(num_classes)[y_true]
        return one_hot if loss.prediction_space == "probabilities" else EXTREME * one_hot
    if loss.name in POSITIVE_PREDICTIONS:  # y_pred = 0 is outside the domain: the limit from above
        return np.where(y_true > 0, y_true, 1e-300)
    if loss.prediction_space in ("values", "probabilities"):
        return y_true.copy()
    if loss.label_format == "signed":
        signs = 2 * y_true - 1 if np.all((y_true == 0) | (y_true == 1)) else y_true
        return EXTREME * signs  # a margin so large that even the logistic loss rounds to 0
    if loss.label_format == "distribution":
        with np.errstate(divide="ignore"):
            return np.log(y_true)  # softmax(log t) = t; zero targets get -inf (masked) logits
    if loss.kind == "pointwise":  # logits of hard binary labels
        return EXTREME * (2 * y_true - 1)
    return (EXTREME if loss.prediction_space == "logits" else 2.0) * y_true  # one-hot rows


@st.composite
def perfect_inputs(draw, loss: lk.Loss, num_classes: int = 4):
    shape = (draw(st.integers(1, 6)),) if loss.kind == "pointwise" else (draw(st.integers(1, 4)), num_classes)
    y_true = _labels(draw, loss, shape)
    if loss.label_format == "binary":
        y_true = np.round(y_true)  # a soft label's optimum is its entropy, not 0
    if loss.name == "cosine_distance":  # a row of norm below eps has no direction (cosine ~0): replace it
        with np.errstate(over="ignore"):
            tiny = np.linalg.norm(y_true, axis=-1, keepdims=True) < 1e-6
        y_true = np.where(tiny, 1.0, y_true)
    return y_true, _perfect_prediction(loss, y_true, num_classes)


@pytest.mark.parametrize("loss", [loss for loss in CATALOG if loss.name not in NOT_ZERO_AT_OPTIMUM],
                         ids=lambda loss: loss.name)
@given(data=st.data())
@settings(max_examples=SECONDARY_EXAMPLES)
def test_loss_is_zero_at_a_perfect_prediction(loss, data):
    y_true, y_pred = data.draw(perfect_inputs(loss))
    value = loss(y_true, y_pred, reduction=loss.reductions[0])
    np.testing.assert_allclose(value, 0.0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(NOT_ZERO_AT_OPTIMUM))
def test_losses_listed_as_not_zero_at_the_optimum_are_not(name):
    loss = lk.get(name)
    y_true = np.array([1.0, 2.0, 5.0])
    assert float(loss(y_true, y_true)) != 0.0


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "modified_huber"])
@given(margin=hnp.arrays(np.float64, st.integers(1, 6), elements=_floats(1.0, EXTREME)),
       signs=st.sampled_from([-1.0, 1.0]))
def test_margin_losses_are_zero_at_margin_at_least_one(name, margin, signs):
    y_true = np.full(margin.shape, signs)
    value, grad = lk.get(name).value_and_grad(y_true, y_true * margin, reduction="sum")
    assert float(value) == 0.0 and np.all(grad == 0)


# ------------------------------------------------------------------------ reduction identities

@pytest.mark.parametrize("loss", [loss for loss in CATALOG if "sum" in loss.reductions], ids=lambda loss: loss.name)
@given(data=st.data())
@settings(max_examples=IDENTITY_EXAMPLES)
def test_mean_equals_sum_over_count(loss, data):
    y_true, y_pred = data.draw(loss_inputs(loss))
    count = y_pred.size if loss.kind == "pointwise" else y_pred.size // y_pred.shape[-1]
    if loss.kind == "overlap":  # one term per (sample, class)
        count = y_pred.shape[0] * y_pred.shape[-1]
    mean, total = loss(y_true, y_pred), loss(y_true, y_pred, reduction="sum")
    np.testing.assert_allclose(mean, total / count, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
@given(data=st.data())
@settings(max_examples=IDENTITY_EXAMPLES)
def test_unit_sample_weights_equal_no_weights(loss, data):
    y_true, y_pred = data.draw(loss_inputs(loss))
    ones = np.ones(y_pred.shape[:1])
    for reduction in loss.reductions:
        np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=ones, reduction=reduction),
                                   loss(y_true, y_pred, reduction=reduction), rtol=1e-12, atol=1e-300)


# ------------------------------------------------------------------------------- NaN and dtype

@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_nan_prediction_gives_nan_loss(loss):
    case = make_case(loss, shapes(loss)[-1])
    y_pred = case.y_pred.copy()
    y_pred[0] = np.nan  # a diverged sample: every output of it is NaN
    # NumPy warns about arithmetic on NaN; the value is what this test is about.
    with np.errstate(invalid="ignore"):
        value = loss(case.y_true, y_pred)
    assert np.isnan(value)


@pytest.mark.parametrize("loss", [loss for loss in CATALOG if loss.label_format == "real"], ids=lambda loss: loss.name)
def test_nan_target_gives_nan_loss(loss):
    case = make_case(loss, shapes(loss)[-1])
    y_true = case.y_true.copy()
    y_true.flat[0] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.isnan(loss(y_true, case.y_pred))


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_is_close_to_float64(loss, seed):
    case = make_case(loss, shapes(loss)[-1], seed=seed)
    narrow_true = case.y_true if loss.kind == "sparse" else case.y_true.astype(np.float32)
    narrow = loss.value_and_grad(narrow_true, case.y_pred.astype(np.float32),
                                 sample_weight=case.sample_weight.astype(np.float32))
    wide = loss.value_and_grad(case.y_true, case.y_pred, sample_weight=case.sample_weight)
    for narrow_result, wide_result in zip(narrow, wide):
        assert narrow_result.dtype == np.float32
        scale = np.max(np.abs(wide_result)) + 1.0
        np.testing.assert_allclose(narrow_result, wide_result, rtol=1e-5, atol=1e-5 * scale)


# ------------------------------------------------------------------------------ explicit edges

def _finite(loss, y_true, y_pred, **options):
    value, grad = loss.value_and_grad(y_true, y_pred, **options)
    assert np.all(np.isfinite(np.asarray(value, dtype=np.float64)))
    assert np.all(np.isfinite(np.asarray(grad, dtype=np.float64)))
    return value, grad


@warnings_are_errors
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "name, y_true, logits, expected",
    [
        ("sigmoid_cross_entropy", [1.0, 0.0, 1.0, 0.0], [1e4, -1e4, -1e4, 1e4], 5e3),
        ("logistic", [1.0, -1.0, 1.0], [1e4, -1e4, -1e4], 1e4 / 3),
        ("softmax_cross_entropy", [[1.0, 0.0], [0.0, 1.0]], [[1e4, -1e4], [1e4, -1e4]], 1e4),
        ("sparse_softmax_cross_entropy", [0, 1], [[1e4, -1e4], [1e4, -1e4]], 1e4),
        ("kl_divergence_with_logits", [[1.0, 0.0], [0.0, 1.0]], [[1e4, -1e4], [1e4, -1e4]], 1e4),
    ],
)
def test_logits_of_ten_thousand_give_the_exact_finite_loss(name, y_true, logits, expected, dtype):
    loss = lk.get(name)
    labels = np.asarray(y_true) if loss.kind == "sparse" else np.asarray(y_true, dtype=dtype)
    value, _ = _finite(loss, labels, np.asarray(logits, dtype=dtype))
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@warnings_are_errors
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "name, y_true, y_pred, expected",
    [
        # A confidently wrong probability of exactly 0 or 1 costs -log(floor) = 100 (PyTorch's floor).
        ("binary_cross_entropy", [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], 50.0),
        ("categorical_cross_entropy", [[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]], 50.0),
        ("sparse_categorical_cross_entropy", [0, 1], [[0.0, 1.0], [0.0, 1.0]], 50.0),
        ("kl_divergence", [[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]], 50.0),
    ],
)
def test_probabilities_of_exactly_zero_and_one_give_finite_loss_and_gradient(name, y_true, y_pred, expected, dtype):
    loss = lk.get(name)
    labels = np.asarray(y_true) if loss.kind == "sparse" else np.asarray(y_true, dtype=dtype)
    value, _ = _finite(loss, labels, np.asarray(y_pred, dtype=dtype))
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@warnings_are_errors
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["log_cosh", "pseudo_huber", "huber", "smooth_l1", "mean_absolute_error"])
def test_residuals_of_ten_thousand_stay_finite_and_linear(name, dtype):
    loss = lk.get(name)
    value, grad = _finite(loss, np.zeros(2, dtype=dtype), np.array([1e4, -1e4], dtype=dtype), reduction="none")
    # Every one of these grows linearly: the loss is within 1 of |e| and the slope is at most 1.
    np.testing.assert_allclose(value, 1e4, atol=1.0)
    assert np.all(np.abs(grad) <= 1.0)


@warnings_are_errors
@pytest.mark.parametrize(
    "name, y_pred, expected",
    [
        ("kl_divergence", [[0.5, 0.5, 0.0]], np.log(2.0)),  # p = 0 where t = 0 as well
        ("kl_divergence_with_logits", [[0.0, 0.0, -3.0]], np.log(2.0 + np.exp(-3.0))),
    ],
)
def test_zero_targets_contribute_nothing_to_kl(name, y_pred, expected):
    value, _ = _finite(lk.get(name), np.array([[0.0, 1.0, 0.0]]), np.array(y_pred))
    np.testing.assert_allclose(value, expected, rtol=1e-14)


@warnings_are_errors
@pytest.mark.parametrize(
    "name, y_true",
    [
        ("softmax_cross_entropy", [[1.0, 0.0, 0.0]]),
        ("sparse_softmax_cross_entropy", [0]),
        ("kl_divergence_with_logits", [[1.0, 0.0, 0.0]]),
    ],
)
def test_masked_minus_inf_logits_with_zero_labels_are_ignored(name, y_true):
    loss = lk.get(name)
    labels = np.asarray(y_true)
    masked = np.array([[1.0, -np.inf, 2.0]])
    value, grad = _finite(loss, labels, masked)
    # Masking a class is the same as removing it.
    kept = labels if loss.kind == "sparse" else labels[:, [0, 2]]
    unmasked_value, unmasked_grad = loss.value_and_grad(kept, masked[:, [0, 2]])
    np.testing.assert_allclose(value, unmasked_value, rtol=1e-14)
    np.testing.assert_allclose(grad[:, [0, 2]], unmasked_grad, rtol=1e-14)
    assert grad[0, 1] == 0.0


@warnings_are_errors
def test_infinite_logits_on_the_side_of_their_label_cost_nothing():
    value, grad = _finite(lk.sigmoid_cross_entropy, np.array([0.0, 1.0]), np.array([-np.inf, np.inf]))
    assert float(value) == 0.0 and np.all(grad == 0.0)


# ------------------------------------------------------------------------- float16 and bfloat16

torch = pytest.importorskip("torch")

NARROW_DTYPES = [torch.float16, torch.bfloat16]
NARROW_IDS = ["float16", "bfloat16"]


@pytest.mark.parametrize("dtype", NARROW_DTYPES, ids=NARROW_IDS)
@pytest.mark.parametrize(
    "name, y_true, y_pred",
    [
        ("sigmoid_cross_entropy", [1.0, 0.0, 1.0, 0.0], [1e4, -1e4, -1e4, 1e4]),
        ("logistic", [1.0, -1.0, 1.0], [1e4, -1e4, -1e4]),
        ("softmax_cross_entropy", [[1.0, 0.0], [0.0, 1.0]], [[1e4, -1e4], [1e4, -1e4]]),
        ("sparse_softmax_cross_entropy", [0, 1], [[1e4, -1e4], [1e4, -1e4]]),
        ("kl_divergence_with_logits", [[0.5, 0.5], [0.0, 1.0]], [[1e4, -1e4], [1e4, -1e4]]),
        ("log_cosh", [0.0, 0.0], [1e4, -1e4]),
        ("pseudo_huber", [0.0, 0.0], [1e4, -1e4]),
        ("huber", [0.0, 0.0], [1e4, -1e4]),
        ("binary_cross_entropy", [1.0, 0.0], [0.5, 0.25]),
        ("categorical_cross_entropy", [[1.0, 0.0]], [[0.75, 0.25]]),
    ],
)
def test_narrow_float_extremes_give_finite_value_and_gradient(name, y_true, y_pred, dtype):
    loss = lk.get(name)
    labels = torch.tensor(y_true) if loss.kind == "sparse" else torch.tensor(y_true, dtype=dtype)
    prediction = torch.tensor(y_pred, dtype=dtype, requires_grad=True)
    value, grad = loss.value_and_grad(labels, prediction.detach())
    assert value.dtype == dtype and grad.dtype == dtype
    assert bool(torch.isfinite(value)) and bool(torch.isfinite(grad).all())
    loss(labels, prediction).backward()
    assert bool(torch.isfinite(prediction.grad).all())


@pytest.mark.parametrize(
    "name, y_true, y_pred",
    [
        ("binary_cross_entropy", [1.0], [0.0]),
        ("categorical_cross_entropy", [[1.0, 0.0]], [[0.0, 1.0]]),
        ("sparse_categorical_cross_entropy", [0], [[0.0, 1.0]]),
        ("kl_divergence", [[1.0, 0.0]], [[0.0, 1.0]]),
    ],
)
def test_float16_probability_of_exactly_zero_gives_a_finite_gradient(name, y_true, y_pred):
    loss = lk.get(name)
    labels = torch.tensor(y_true) if loss.kind == "sparse" else torch.tensor(y_true, dtype=torch.float16)
    grad = loss.grad(labels, torch.tensor(y_pred, dtype=torch.float16))
    assert bool(torch.isfinite(grad).all())


@pytest.mark.parametrize(
    "name, y_true",
    [
        ("softmax_cross_entropy", [[1.0, 0.0, 0.0]]),
        ("sparse_softmax_cross_entropy", [0]),
        ("kl_divergence_with_logits", [[1.0, 0.0, 0.0]]),
    ],
)
def test_masked_logits_give_finite_torch_autograd_gradients(name, y_true):
    loss = lk.get(name)
    logits = torch.tensor([[1.0, -float("inf"), 2.0]], dtype=torch.float64, requires_grad=True)
    loss(torch.tensor(y_true), logits).backward()
    assert bool(torch.isfinite(logits.grad).all()) and float(logits.grad[0, 1]) == 0.0
