"""Bad input fails early and says what is wrong: the exception type and the argument it names.

Every test asserts both the type (ValueError for a wrong value or shape, TypeError for a wrong
kind of object) and, through ``match``, that the message names the offending argument and, where
there is one, the fix.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import losskit as lk
from _cases import make_case, shapes

CATALOG = lk.catalog()
LOSS_IDS = [loss.name for loss in CATALOG]
POINTWISE = [loss for loss in CATALOG if loss.kind == "pointwise"]
UNIT_INTERVAL_LABELS = [loss for loss in CATALOG if loss.label_format in ("binary", "one-hot", "distribution")]
SIGNED_LABELS = [loss for loss in CATALOG if loss.label_format == "signed"]
DENSE = [loss for loss in CATALOG if loss.kind == "dense"]
SPARSE = [loss for loss in CATALOG if loss.kind == "sparse"]
PROBABILITY_LOSSES = [loss for loss in CATALOG if loss.prediction_space == "probabilities"]


def _case(loss, shape=None):
    return make_case(loss, shape or shapes(loss)[-1])


# ------------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("loss", POINTWISE, ids=lambda loss: loss.name)
def test_column_prediction_against_flat_targets_names_both_shapes_and_the_reshape(loss):
    case = _case(loss, (4,))
    column = case.y_pred[:, None]
    message = rf"y_true has shape \(4,\) but {loss.pred_name} has shape \(4, 1\).*reshape"
    with pytest.raises(ValueError, match=message):
        loss(case.y_true, column, *(p[:, None] for p in case.more_predictions))


@pytest.mark.parametrize("loss", POINTWISE, ids=lambda loss: loss.name)
def test_column_targets_against_flat_prediction_names_both_shapes_and_the_reshape(loss):
    case = _case(loss, (4,))
    with pytest.raises(ValueError, match=r"y_true has shape \(4, 1\).*\(4,\).*reshape"):
        loss(case.y_true[:, None], *case.args[1:])


@pytest.mark.parametrize("loss", POINTWISE, ids=lambda loss: loss.name)
def test_different_lengths_are_rejected_not_broadcast(loss):
    case = _case(loss, (4,))
    with pytest.raises(ValueError, match=r"y_true has shape \(3,\).*\(4,\)"):
        loss(case.y_true[:3], *case.args[1:])


@pytest.mark.parametrize("loss", DENSE, ids=lambda loss: loss.name)
def test_integer_labels_to_a_dense_loss_point_to_the_sparse_twin(loss):
    case = _case(loss, (5, 3))
    labels = case.y_true.argmax(-1)
    expected = loss.pair or "sparse"
    with pytest.raises(ValueError, match=rf"y_true has shape \(5,\).*{loss.pred_name}.*\(5, 3\).*{expected}"):
        loss(labels, case.y_pred)


@pytest.mark.parametrize("loss", DENSE, ids=lambda loss: loss.name)
def test_dense_labels_with_a_different_class_count_are_rejected(loss):
    case = _case(loss, (5, 3))
    with pytest.raises(ValueError, match=r"y_true has shape \(5, 2\).*\(5, 3\)"):
        loss(case.y_true[:, :2], case.y_pred)


@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
def test_one_hot_labels_to_a_sparse_loss_point_to_the_dense_twin(loss):
    case = _case(loss, (5, 3))
    one_hot = np.eye(3, dtype=np.int64)[case.y_true]
    with pytest.raises(ValueError, match=rf"y_true has shape \(5, 3\).*one-hot.*{loss.pair}"):
        loss(one_hot, case.y_pred)


@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
def test_sparse_labels_with_a_trailing_axis_suggest_dropping_it(loss):
    case = _case(loss, (5, 3))
    with pytest.raises(ValueError, match=r"y_true has shape \(5, 1\).*drop the trailing axis"):
        loss(case.y_true[:, None], *case.args[1:])


@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
def test_sparse_labels_of_another_batch_size_are_rejected(loss):
    case = _case(loss, (5, 3))
    with pytest.raises(ValueError, match=r"y_true has shape \(4,\).*\(5, 3\)"):
        loss(case.y_true[:4], case.y_pred)


@pytest.mark.parametrize("loss", DENSE + SPARSE, ids=lambda loss: loss.name)
def test_a_prediction_without_a_class_axis_is_rejected(loss):
    with pytest.raises(ValueError, match=rf"{loss.pred_name} must have a class axis last"):
        loss(np.asarray(0.0), np.asarray(0.5))


# --------------------------------------------------------------------------------- label values

@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
@pytest.mark.parametrize("bad_label", [3, -1, 7])
def test_out_of_range_class_labels_name_y_true_and_the_valid_range(loss, bad_label):
    case = _case(loss, (5, 3))
    labels = case.y_true.copy()
    labels[2] = bad_label
    message = rf"y_true must hold class indices in \[0, 3\); found {bad_label} at index \(2,\)"
    with pytest.raises(ValueError, match=message):
        loss(labels, case.y_pred)


@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
def test_labels_other_than_ignore_index_are_still_range_checked(loss):
    case = _case(loss, (5, 3))
    labels = case.y_true.copy()
    labels[0], labels[1] = -100, -1
    with pytest.raises(ValueError, match=r"y_true must hold class indices.*ignore_index=-100; found -1"):
        loss(labels, case.y_pred, ignore_index=-100)


@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
def test_float_labels_to_a_sparse_loss_raise_type_error(loss):
    case = _case(loss, (5, 3))
    with pytest.raises(TypeError, match=rf"y_true of {loss.name} must be integer class indices.*astype\(int\)"):
        loss(case.y_true.astype(np.float64), case.y_pred)


@pytest.mark.parametrize("loss", PROBABILITY_LOSSES, ids=lambda loss: loss.name)
@pytest.mark.parametrize("bad_value", [1.5, -0.25])
def test_probabilities_outside_the_unit_interval_point_to_the_logits_loss(loss, bad_value):
    case = _case(loss)
    y_pred = case.y_pred.copy()
    y_pred.flat[0] = bad_value
    with pytest.raises(ValueError, match=r"y_pred must be a probability in \[0, 1\]; found .* logits"):
        loss(case.y_true, y_pred)


@pytest.mark.parametrize("loss", [loss for loss in DENSE + SPARSE if loss.prediction_space == "probabilities"],
                         ids=lambda loss: loss.name)
def test_probability_rows_not_summing_to_one_name_y_pred_and_the_logits_loss(loss):
    case = _case(loss, (5, 3))
    with pytest.raises(ValueError, match=r"each row of y_pred must sum to 1.*logits"):
        loss(case.y_true, 0.9 * case.y_pred)


@pytest.mark.parametrize("loss", DENSE, ids=lambda loss: loss.name)
def test_label_rows_not_summing_to_one_name_y_true(loss):
    case = _case(loss, (5, 3))
    labels = case.y_true.copy()
    labels[1] = 0.5 * labels[1]
    with pytest.raises(ValueError, match=r"each row of y_true must sum to 1.*index \(1,\)"):
        loss(labels, case.y_pred)


@pytest.mark.parametrize("loss", UNIT_INTERVAL_LABELS, ids=lambda loss: loss.name)
def test_labels_outside_the_unit_interval_name_y_true(loss):
    case = _case(loss)
    labels = case.y_true.copy()
    labels.flat[0] = 1.5
    with pytest.raises(ValueError, match=r"y_true must be .*\[0, 1\]; found 1.5"):
        loss(labels, case.y_pred)


@pytest.mark.parametrize("loss", [loss for loss in CATALOG if loss.label_format in ("non-negative", "counts", "positive")],
                         ids=lambda loss: loss.name)
@pytest.mark.parametrize("argument", ["y_true", "y_pred"])
def test_negative_values_for_logarithmic_and_count_losses_name_the_argument(loss, argument):
    case = _case(loss, (4,))
    arrays = {"y_true": case.y_true.copy(), "y_pred": case.y_pred.copy()}
    arrays[argument][2] = -0.5
    # The deviances need y_pred > 0 (gamma also y_true > 0): their message says positive.
    domain = r"(non-negative \(>= 0\)|positive \(> 0\))"
    with pytest.raises(ValueError, match=rf"{argument} must be {domain}; found -0.5 at index \(2,\)"):
        loss(arrays["y_true"], arrays["y_pred"])


@pytest.mark.parametrize("loss", SIGNED_LABELS, ids=lambda loss: loss.name)
@pytest.mark.parametrize("bad_label", [2.0, 0.5, -0.5])
def test_margin_labels_outside_minus_one_zero_one_name_y_true(loss, bad_label):
    with pytest.raises(ValueError, match=rf"y_true must hold labels in \{{-1, \+1\}}.*found {bad_label:g}"):
        loss(np.array([1.0, bad_label]), *_signed_predictions(loss, 2))


@pytest.mark.parametrize("loss", SIGNED_LABELS, ids=lambda loss: loss.name)
def test_margin_labels_mixing_zero_and_minus_one_are_rejected(loss):
    with pytest.raises(ValueError, match=r"y_true mixes 0 and -1 labels"):
        loss(np.array([1.0, 0.0, -1.0]), *_signed_predictions(loss, 3))


def _signed_predictions(loss, n):
    """Every prediction of a signed-label loss for n labels (rows of 3 features for a rowwise one)."""
    return [np.full((n, 3) if loss.kind == "rowwise" else (n,), 0.5) for _ in loss.inputs]


# ---------------------------------------------------------------------------------- parameters

INVALID_PARAMETERS = [
    # (loss, parameter, value, exception, message)
    ("huber", "delta", 0.0, ValueError, "delta must be a finite number > 0"),
    ("huber", "delta", -1.0, ValueError, "delta must be a finite number > 0"),
    ("huber", "delta", float("inf"), ValueError, "delta must be a finite number > 0"),
    ("huber", "delta", float("nan"), ValueError, "delta must be a number, not NaN"),
    ("huber", "delta", "1.0", TypeError, "delta must be a real number"),
    ("huber", "delta", True, TypeError, "delta must be a real number"),
    ("pseudo_huber", "delta", 0.0, ValueError, "delta must be a finite number > 0"),
    ("smooth_l1", "beta", -0.5, ValueError, "beta must be a finite number >= 0"),
    ("quantile", "q", 0.0, ValueError, r"q must lie strictly between 0 and 1"),
    ("quantile", "q", 1.0, ValueError, r"q must lie strictly between 0 and 1"),
    ("quantile", "q", 1.5, ValueError, r"q must lie strictly between 0 and 1"),
    ("epsilon_insensitive", "epsilon", -0.1, ValueError, "epsilon must be a finite number >= 0"),
    ("binary_cross_entropy", "label_smoothing", -0.1, ValueError, r"label_smoothing must lie in \[0, 1\]"),
    ("sigmoid_cross_entropy", "label_smoothing", 1.5, ValueError, r"label_smoothing must lie in \[0, 1\]"),
    ("softmax_cross_entropy", "label_smoothing", 1.01, ValueError, r"label_smoothing must lie in \[0, 1\]"),
    ("sparse_softmax_cross_entropy", "label_smoothing", -1.0, ValueError, r"label_smoothing must lie in \[0, 1\]"),
    ("sparse_softmax_cross_entropy", "ignore_index", 1.5, TypeError, "ignore_index must be an integer or None"),
    ("sparse_categorical_cross_entropy", "ignore_index", "pad", TypeError, "ignore_index must be an integer or None"),
    ("softmax_cross_entropy", "class_weight", np.ones(4), ValueError, r"class_weight must have shape \(3,\)"),
    ("sparse_softmax_cross_entropy", "class_weight", np.ones((1, 3)), ValueError,
     r"class_weight must have shape \(3,\)"),
    ("categorical_cross_entropy", "class_weight", np.array([1.0, -1.0, 1.0]), ValueError,
     r"class_weight must be non-negative \(>= 0\); found -1"),
    ("sigmoid_cross_entropy", "pos_weight", np.ones(4), ValueError,
     r"pos_weight must be a scalar or have shape \(3,\)"),
    ("sigmoid_cross_entropy", "pos_weight", -2.0, ValueError, "pos_weight must be non-negative"),
    ("sigmoid_cross_entropy", "pos_weight", "balanced", TypeError, "pos_weight must hold real numbers"),
    ("sigmoid_focal", "gamma", -0.5, ValueError, "gamma must be a finite number >= 0"),
    ("sigmoid_focal", "gamma", float("inf"), ValueError, "gamma must be a finite number >= 0"),
    ("sigmoid_focal", "alpha", 1.5, ValueError, r"alpha must lie in \[0, 1\]"),
    ("sigmoid_focal", "alpha", "balanced", TypeError, "alpha must be a real number"),
    ("softmax_focal", "gamma", float("nan"), ValueError, "gamma must be a number, not NaN"),
    ("softmax_focal", "class_weight", np.ones(4), ValueError, r"class_weight must have shape \(3,\)"),
    ("sparse_softmax_focal", "gamma", -1.0, ValueError, "gamma must be a finite number >= 0"),
    ("sparse_softmax_focal", "ignore_index", 0.5, TypeError, "ignore_index must be an integer or None"),
    ("poly1_cross_entropy", "epsilon", -1.5, ValueError, "epsilon must be a finite number >= -1"),
    ("sparse_poly1_cross_entropy", "epsilon", float("inf"), ValueError, "epsilon must be a finite number >= -1"),
    ("softmax_cross_entropy", "z_loss", -1e-4, ValueError, "z_loss must be a finite number >= 0"),
    ("sparse_softmax_cross_entropy", "z_loss", "1e-4", TypeError, "z_loss must be a real number"),
    ("gaussian_nll", "eps", 0.0, ValueError, "eps must be a finite number > 0"),
    ("linear_cross_entropy", "chunk_size", 0, ValueError, "chunk_size must be a positive integer"),
    ("linear_cross_entropy", "chunk_size", 2.5, TypeError, "chunk_size must be a positive integer"),
    ("linear_cross_entropy", "z_loss", -1.0, ValueError, "z_loss must be a finite number >= 0"),
    ("linear_cross_entropy", "bias", np.zeros(2), ValueError, r"bias must have shape \(6,\)"),
    ("gaussian_nll", "full", "yes", TypeError, "full must be True or False"),
    ("tweedie_deviance", "power", 0.5, ValueError, r"power must be <= 0 or >= 1; got 0.5: no Tweedie distribution"),
    ("tweedie_deviance", "power", float("inf"), ValueError, "power must be a finite number <= 0 or >= 1"),
    ("tweedie_deviance", "power", float("nan"), ValueError, "power must be a number, not NaN"),
    ("tweedie_deviance", "power", "1.5", TypeError, "power must be a real number"),
    ("general_robust", "alpha", float("inf"), ValueError, r"alpha must be a real number or -inf"),
    ("general_robust", "alpha", float("nan"), ValueError, "alpha must be a number, not NaN"),
    ("general_robust", "alpha", None, TypeError, "alpha must be a real number"),
    ("general_robust", "scale", 0.0, ValueError, "scale must be a finite number > 0"),
    ("cauchy", "scale", -1.0, ValueError, "scale must be a finite number > 0"),
    ("welsch", "scale", float("inf"), ValueError, "scale must be a finite number > 0"),
    ("dice", "smooth", 0.0, ValueError, "smooth must be a finite number > 0"),
    ("jaccard", "smooth", -1e-5, ValueError, "smooth must be a finite number > 0"),
    ("dice", "squared", 1, TypeError, "squared must be True or False"),
    ("dice", "batch", "yes", TypeError, "batch must be True or False"),
    ("tversky", "alpha", -0.1, ValueError, "alpha must be a finite number >= 0"),
    ("tversky", "beta", float("inf"), ValueError, "beta must be a finite number >= 0"),
    ("focal_tversky", "gamma", 0.0, ValueError, "gamma must be a finite number > 0"),
    ("cosine_distance", "eps", 0.0, ValueError, "eps must be a finite number > 0"),
    ("cosine_embedding", "margin", 1.5, ValueError, r"margin must lie in \[-1, 1\]"),
    ("margin_ranking", "margin", float("nan"), ValueError, "margin must be a number, not NaN"),
    ("triplet_margin", "margin", 0.0, ValueError, "margin must be a finite number > 0"),
    ("triplet_margin", "p", -1.0, ValueError, "p must be a finite number > 0"),
    ("triplet_margin", "eps", -1e-6, ValueError, "eps must be a finite number >= 0"),
    ("triplet_margin", "swap", 1, TypeError, "swap must be True or False"),
    ("info_nce", "temperature", 0.0, ValueError, "temperature must be a finite number > 0"),
    ("info_nce", "symmetric", "yes", TypeError, "symmetric must be True or False"),
]


@pytest.mark.parametrize(
    "name, parameter, value, error, message", INVALID_PARAMETERS,
    ids=[f"{name}-{parameter}={value!r}"[:60] for name, parameter, value, _, _ in INVALID_PARAMETERS],
)
def test_invalid_parameter_raises_naming_the_parameter(name, parameter, value, error, message):
    loss = lk.get(name)
    case = _case(loss, (5, 3))
    with pytest.raises(error, match=message):
        loss(*case.args, **{parameter: value})


def test_every_validated_parameter_of_the_catalog_has_an_invalid_value_case():
    covered = {parameter for _, parameter, *_ in INVALID_PARAMETERS}
    assert {param.name for loss in CATALOG for param in loss.params} <= covered


# -------------------------------------------------------------------- reduction and weights

@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
@pytest.mark.parametrize("reduction", ["avg", "MEAN", "batchmean", None, 0])
def test_unknown_reduction_raises_value_error_listing_the_valid_ones(loss, reduction):
    case = _case(loss)
    message = re.escape(f"reduction must be one of 'none', 'sum', 'mean'; got {reduction!r}")
    with pytest.raises(ValueError, match=message):
        loss(*case.args, reduction=reduction)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_negative_sample_weight_names_sample_weight(loss):
    case = _case(loss)
    weight = case.sample_weight.copy()
    weight[1] = -1.0
    with pytest.raises(ValueError, match=r"sample_weight must be non-negative; found -1 at index \(1,\)"):
        loss(*case.args, sample_weight=weight)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_sample_weight_that_is_not_a_prefix_of_the_loss_shape_names_both_shapes(loss):
    case = _case(loss)
    weight = np.ones(case.sample_weight.shape[0] + 1)
    message = r"sample_weight has shape \(\d+,\), which is not a prefix of the unreduced loss shape .*per sample"
    with pytest.raises(ValueError, match=message):
        loss(*case.args, sample_weight=weight)


def test_sample_weight_over_the_trailing_axis_only_is_rejected():
    # (K,) against an (N, K) elementwise loss would broadcast over the wrong axis.
    message = r"sample_weight has shape \(3,\).*\(4, 3\); pass one weight per sample, shape \(4,\)"
    with pytest.raises(ValueError, match=message):
        lk.mse(np.zeros((4, 3)), np.ones((4, 3)), sample_weight=np.ones(3))


# ------------------------------------------------------------------------ kinds of objects

@pytest.mark.parametrize(
    "y_true, y_pred, argument",
    [
        (["a", "b"], [1.0, 2.0], "y_true"),
        ([1.0, 2.0], ["a", "b"], "y_pred"),
        (np.array([1.0, None], dtype=object), np.array([1.0, 2.0]), "y_true"),
        (np.array([1.0, 2.0]), np.array([1.0, None], dtype=object), "y_pred"),
        (np.array([1.0, 2.0j]), np.array([1.0, 2.0]), "y_true"),
        ("12", [1.0, 2.0], "y_true"),
    ],
    ids=["string-truth", "string-prediction", "object-truth", "object-prediction", "complex", "str"],
)
def test_non_numeric_input_raises_type_error_naming_the_argument(y_true, y_pred, argument):
    with pytest.raises(TypeError, match=rf"{argument} must hold real numbers"):
        lk.mse(y_true, y_pred)


def test_non_numeric_sample_weight_raises_type_error():
    with pytest.raises(TypeError, match="sample_weight must hold real numbers"):
        lk.mse([1.0, 2.0], [1.0, 3.0], sample_weight=["heavy", "light"])


def test_logits_loss_names_logits_in_type_errors():
    with pytest.raises(TypeError, match="logits must hold real numbers"):
        lk.sigmoid_cross_entropy([1.0, 0.0], ["a", "b"])


@pytest.mark.parametrize(
    "arguments, named",
    [
        ({"y_true": "torch", "y_pred": "numpy"}, ["y_true is a torch array", "y_pred is a numpy array"]),
        ({"y_true": "numpy", "y_pred": "numpy", "sample_weight": "torch"}, ["sample_weight is a torch array"]),
    ],
    ids=["truth-and-prediction", "sample-weight"],
)
def test_mixing_array_libraries_raises_type_error_naming_each_argument(arguments, named):
    torch = pytest.importorskip("torch")
    make = {"torch": lambda: torch.ones(3), "numpy": lambda: np.ones(3)}
    inputs = {argument: make[library]() for argument, library in arguments.items()}
    with pytest.raises(TypeError, match="same library") as error:
        lk.mse(**inputs)
    for text in named:
        assert text in str(error.value)


def test_class_weight_of_another_library_raises_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="class_weight is a torch array"):
        lk.softmax_cross_entropy(np.eye(3), np.zeros((3, 3)), class_weight=torch.ones(3))


# --------------------------------------------------------------------------- call signature

@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_missing_prediction_names_it(loss):
    case = _case(loss)
    with pytest.raises(TypeError, match=rf"{loss.name}\(\) missing required argument '{loss.pred_name}'"):
        loss(*case.args[:len(case.args) - len(loss.inputs)])  # the target alone (nothing without one)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_unknown_keyword_lists_the_accepted_ones(loss):
    case = _case(loss)
    class_axis = ["axis"] if loss.kind != "pointwise" else []
    accepted = ", ".join([p.name for p in loss.params] + class_axis + ["sample_weight", "reduction"])
    with pytest.raises(TypeError, match=rf"unexpected keyword argument 'weights'; it accepts {accepted}"):
        loss(*case.args, weights=case.sample_weight)
