"""The contract every loss of the catalog keeps: calling convention, reductions, weights, registry.

Tests are parametrized over ``lk.catalog()`` so that a loss added to the catalog is held to the
same contract without touching this file. Inputs come from ``_cases.make_case`` (seeded float64
NumPy arrays in each loss's domain); the properties pinned here are exact identities, so they are
checked to rounding error.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import losskit as lk
from _cases import IGNORE_INDEX, make_case, param_cases, shapes, single_prediction

CATALOG = lk.catalog()
LOSS_IDS = [loss.name for loss in CATALOG]

# Every (loss, prediction shape) pair the shared generators provide: a flat batch and a batch of
# rows for pointwise losses, (N, K) and (B, T, K) for losses over a class axis.
SHAPED = [(loss, shape) for loss in CATALOG for shape in shapes(loss)]
SHAPED_IDS = [f"{loss.name}-{'x'.join(map(str, shape))}" for loss, shape in SHAPED]

# Losses that are per-example (they accept every reduction), as opposed to root costs like RMSE.
PER_EXAMPLE = [(loss, shape) for loss, shape in SHAPED if "none" in loss.reductions]
PER_EXAMPLE_IDS = [f"{loss.name}-{'x'.join(map(str, shape))}" for loss, shape in PER_EXAMPLE]

# Root costs and the per-example loss whose weighted mean they take the root of.
ROOT_OF = {
    "root_mean_squared_error": "mean_squared_error",
    "root_mean_squared_logarithmic_error": "mean_squared_logarithmic_error",
}

# Called as loss(y_true, y_pred): losses of one prediction (linear_cross_entropy's class weights and
# ignored tokens are tested in tests/test_linear_cross_entropy.py).
CLASS_WEIGHTED = [loss for loss in CATALOG if "class_weight" in loss.defaults and len(loss.inputs) == 1]
IGNORING = [loss for loss in CATALOG if "ignore_index" in loss.defaults and len(loss.inputs) == 1]
SPARSE = [loss for loss in CATALOG if loss.kind == "sparse"]


def assert_close(actual, expected, rtol=1e-12, atol=1e-13):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def loss_shape(loss: lk.Loss, pred_shape: tuple) -> tuple:
    """The shape of the unreduced loss: elementwise, per sample for a class axis, per (sample, class) for overlap."""
    if loss.kind == "overlap":
        return (pred_shape[0], pred_shape[-1])
    return tuple(pred_shape) if loss.kind == "pointwise" else tuple(pred_shape[:-1])


def expanded(weight: np.ndarray, shape: tuple) -> np.ndarray:
    """A prefix-shaped sample weight broadcast over the trailing axes of the unreduced loss."""
    return np.broadcast_to(weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim)), shape)


def _first_grad(value_and_grad):
    """(value, gradient of the first prediction): the reduction identities hold for each prediction."""
    value, grad = value_and_grad
    return value, grad[0] if isinstance(grad, tuple) else grad


def _rows(case, index, loss=None):
    """The samples ``index`` of every argument; an input whose shape is its own ("free", a weight matrix) stays whole."""
    rules = ("same",) + (() if loss is None else tuple(loss.input_shapes))
    target = () if case.y_true is None else (case.y_true[index],)  # none for a loss without a target
    predictions = case.args[len(target):]
    return target + tuple(a if rule == "free" else a[index] for a, rule in zip(predictions, rules))


def call(loss: lk.Loss, case, **kwargs):
    return _first_grad(loss.value_and_grad(*case.args, **kwargs))


def first_axis_labels(loss: lk.Loss, y_true: np.ndarray) -> np.ndarray:
    """Integer labels of a sparse or one-hot case."""
    return y_true if loss.kind == "sparse" else y_true.argmax(-1)


# ------------------------------------------------------------------------ calling convention

@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_signature_takes_truth_then_prediction_then_keyword_only_options(loss):
    parameters = list(inspect.signature(loss).parameters.values())
    target = ["y_true"] if loss.has_target else []  # triplet_margin and info_nce have none
    arrays = len(target) + len(loss.inputs)
    assert [p.name for p in parameters[:arrays]] == [*target, *loss.inputs]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters[:arrays])
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[arrays:])
    class_axis = ["axis"] if loss.kind != "pointwise" else []
    expected_options = [p.name for p in loss.params] + class_axis + ["sample_weight", "reduction"]
    assert [p.name for p in parameters[arrays:]] == expected_options


@pytest.mark.parametrize("loss", single_prediction(CATALOG), ids=lambda loss: loss.name)
def test_prediction_is_named_logits_exactly_for_losses_on_logits(loss):
    expected = "logits" if loss.prediction_space == "logits" else "y_pred"
    assert loss.pred_name == expected
    assert list(inspect.signature(loss).parameters)[1] == expected


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_keyword_call_equals_positional_call(loss):
    case = make_case(loss, shapes(loss)[0])
    by_keyword = loss(**dict(zip(inspect.signature(loss).parameters, case.args)))
    assert_close(by_keyword, loss(*case.args))


@pytest.mark.parametrize("loss", [loss for loss in CATALOG if loss.pred_name == "logits"],
                         ids=lambda loss: loss.name)
def test_logits_loss_rejects_the_y_pred_keyword_and_names_logits(loss):
    case = make_case(loss, shapes(loss)[0])
    with pytest.raises(TypeError, match="'logits'"):
        loss(case.y_true, y_pred=case.y_pred)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_options_cannot_be_passed_positionally(loss):
    case = make_case(loss, shapes(loss)[0])
    with pytest.raises(TypeError, match="by keyword"):
        loss(*case.args, "mean")  # one positional argument too many


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_unknown_keyword_raises_type_error_naming_it(loss):
    case = make_case(loss, shapes(loss)[0])
    with pytest.raises(TypeError, match="'reduce'"):
        loss(*case.args, reduce="mean")


@pytest.mark.parametrize(
    "name, y_true, y_pred, params, expected",
    [
        # Each is asymmetric in its arguments, so swapping truth and prediction changes the value.
        ("binary_cross_entropy", [1.0], [0.9], {}, -np.log(0.9)),
        ("quantile", [1.0], [0.0], {"q": 0.9}, 0.9),  # under-prediction costs q
        ("poisson", [2.0], [1.0], {}, 1.0),
        ("mean_absolute_percentage_error", [100.0], [110.0], {}, 10.0),
        ("sparse_categorical_cross_entropy", [1], [[0.2, 0.8]], {}, -np.log(0.8)),
        ("kl_divergence", [[1.0, 0.0]], [[0.5, 0.5]], {}, np.log(2.0)),
    ],
)
def test_truth_comes_first(name, y_true, y_pred, params, expected):
    assert_close(lk.get(name)(y_true, y_pred, **params), expected)


# --------------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("loss, shape", PER_EXAMPLE, ids=PER_EXAMPLE_IDS)
def test_reduction_none_is_elementwise_or_per_sample(loss, shape):
    case = make_case(loss, shape)
    value, grad = call(loss, case, reduction="none")
    assert tuple(value.shape) == loss_shape(loss, shape)
    assert tuple(grad.shape) == tuple(shape)


@pytest.mark.parametrize("loss, shape", PER_EXAMPLE, ids=PER_EXAMPLE_IDS)
def test_reduction_none_multiplies_by_the_expanded_sample_weight(loss, shape):
    case = make_case(loss, shape)
    unweighted = loss(*case.args, reduction="none")
    weighted = loss(*case.args, sample_weight=case.sample_weight, reduction="none")
    assert_close(weighted, expanded(case.sample_weight, unweighted.shape) * unweighted)


@pytest.mark.parametrize("loss, shape", PER_EXAMPLE, ids=PER_EXAMPLE_IDS)
def test_reduction_sum_is_the_sum_of_weighted_losses(loss, shape):
    case = make_case(loss, shape)
    weighted = loss(*case.args, sample_weight=case.sample_weight, reduction="none")
    total, total_grad = call(loss, case, sample_weight=case.sample_weight, reduction="sum")
    _, none_grad = call(loss, case, sample_weight=case.sample_weight, reduction="none")
    assert_close(total, np.sum(weighted))
    assert_close(total_grad, none_grad)  # "none" differentiates the weighted sum


@pytest.mark.parametrize("loss, shape", PER_EXAMPLE, ids=PER_EXAMPLE_IDS)
def test_reduction_mean_divides_by_the_summed_sample_weights(loss, shape):
    case = make_case(loss, shape)
    weighted = loss(*case.args, sample_weight=case.sample_weight, reduction="none")
    total_weight = np.sum(expanded(case.sample_weight, weighted.shape))
    mean, mean_grad = call(loss, case, sample_weight=case.sample_weight, reduction="mean")
    _, sum_grad = call(loss, case, sample_weight=case.sample_weight, reduction="sum")
    assert_close(mean, np.sum(weighted) / total_weight)
    assert_close(mean_grad, sum_grad / total_weight)


@pytest.mark.parametrize("loss, shape", PER_EXAMPLE, ids=PER_EXAMPLE_IDS)
def test_reduction_mean_without_weights_is_the_plain_mean(loss, shape):
    case = make_case(loss, shape)
    unreduced = loss(*case.args, reduction="none")
    assert_close(loss(*case.args), np.mean(unreduced))


@pytest.mark.parametrize("loss, shape", PER_EXAMPLE, ids=PER_EXAMPLE_IDS)
def test_reduction_mean_equals_sum_over_count(loss, shape):
    case = make_case(loss, shape)
    count = int(np.prod(loss_shape(loss, shape)))
    mean, mean_grad = call(loss, case)
    total, total_grad = call(loss, case, reduction="sum")
    assert_close(mean, total / count)
    assert_close(mean_grad, total_grad / count)


@pytest.mark.parametrize("loss, shape", SHAPED, ids=SHAPED_IDS)
def test_unit_weights_equal_no_weights(loss, shape):
    case = make_case(loss, shape)
    ones = np.ones_like(case.sample_weight)
    for reduction in loss.reductions:
        value, grad = call(loss, case, reduction=reduction)
        unit_value, unit_grad = call(loss, case, sample_weight=ones, reduction=reduction)
        assert_close(unit_value, value)
        assert_close(unit_grad, grad)


@pytest.mark.parametrize("loss, shape", SHAPED, ids=SHAPED_IDS)
def test_full_shape_sample_weight_equals_prefix_weight(loss, shape):
    case = make_case(loss, shape)
    full = np.ascontiguousarray(expanded(case.sample_weight, loss_shape(loss, shape)))
    for reduction in loss.reductions:
        assert_close(call(loss, case, sample_weight=full, reduction=reduction)[0],
                     call(loss, case, sample_weight=case.sample_weight, reduction=reduction)[0])


# info_nce's rows are each other's negatives: a row of weight 0 (or repeated) still changes the
# others' losses, so these identities do not hold for it (tests/test_embedding.py pins its weights).
UNCOUPLED = [(loss, shape) for loss, shape in SHAPED if loss.name != "info_nce"]
UNCOUPLED_IDS = [f"{loss.name}-{'x'.join(map(str, shape))}" for loss, shape in UNCOUPLED]


@pytest.mark.parametrize("loss, shape", UNCOUPLED, ids=UNCOUPLED_IDS)
def test_zero_weights_drop_samples(loss, shape):
    case = make_case(loss, shape)
    weight = case.sample_weight.copy()
    weight[::2] = 0.0
    kept = weight > 0
    for reduction in set(loss.reductions) - {"none"}:
        value, grad = call(loss, case, sample_weight=weight, reduction=reduction)
        kept_value, kept_grad = _first_grad(loss.value_and_grad(
            *_rows(case, kept, loss), sample_weight=weight[kept], reduction=reduction
        ))
        assert_close(value, kept_value)
        assert_close(grad[kept], kept_grad)
        assert np.all(grad[~kept] == 0)


@pytest.mark.parametrize("loss, shape", UNCOUPLED, ids=UNCOUPLED_IDS)
def test_integer_weights_equal_repeated_samples(loss, shape):
    case = make_case(loss, shape)
    counts = np.arange(shape[0]) % 3 + 1
    rows = np.repeat(np.arange(shape[0]), counts)
    for reduction in set(loss.reductions) - {"none"}:
        value, grad = call(loss, case, sample_weight=counts.astype(float), reduction=reduction)
        repeated_value, repeated_grad = _first_grad(loss.value_and_grad(*_rows(case, rows, loss), reduction=reduction))
        assert_close(value, repeated_value)
        # Each sample's gradient is the sum of its copies' gradients.
        summed = np.zeros_like(grad)
        np.add.at(summed, rows, repeated_grad)
        assert_close(grad, summed)


@pytest.mark.parametrize("root_name", sorted(ROOT_OF))
def test_root_cost_is_the_root_of_the_weighted_mean(root_name):
    root, per_example = lk.get(root_name), lk.get(ROOT_OF[root_name])
    case = make_case(root, (5, 3))
    mean = per_example(case.y_true, case.y_pred, sample_weight=case.sample_weight)
    assert_close(root(case.y_true, case.y_pred, sample_weight=case.sample_weight), np.sqrt(mean))


def test_every_root_cost_has_a_per_example_twin():
    mean_only = {loss.name for loss in CATALOG if loss.reductions == ("mean",)}
    assert mean_only == set(ROOT_OF)


@pytest.mark.parametrize("root_name", sorted(ROOT_OF))
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_root_cost_rejects_reductions_other_than_mean(root_name, reduction):
    root = lk.get(root_name)
    case = make_case(root, (5,))
    with pytest.raises(ValueError, match=f"reduction='{reduction}'"):
        root(case.y_true, case.y_pred, reduction=reduction)


@pytest.mark.parametrize("root_name", sorted(ROOT_OF))
def test_root_cost_defaults_to_its_only_reduction(root_name):
    assert inspect.signature(lk.get(root_name)).parameters["reduction"].default == "mean"


# --------------------------------------------------------------------- class weights and masks

@pytest.mark.parametrize("loss", CLASS_WEIGHTED, ids=lambda loss: loss.name)
def test_class_weight_scales_each_sample_by_its_label_weight(loss):
    case = make_case(loss, (6, 4))
    class_weight = np.array([0.5, 1.0, 2.0, 3.0])
    labels = first_axis_labels(loss, case.y_true)
    plain = loss(*case.args, reduction="none")
    weighted = loss(*case.args, class_weight=class_weight, reduction="none")
    assert_close(weighted, class_weight[labels] * plain)


@pytest.mark.parametrize("loss", CLASS_WEIGHTED, ids=lambda loss: loss.name)
def test_class_weight_mean_divides_by_the_summed_label_weights(loss):
    case = make_case(loss, (6, 4))
    class_weight = np.array([0.5, 1.0, 2.0, 3.0])
    labels = first_axis_labels(loss, case.y_true)
    options = dict(class_weight=class_weight, sample_weight=case.sample_weight)
    total = loss(*case.args, reduction="sum", **options)
    mean = loss(*case.args, reduction="mean", **options)
    assert_close(mean, total / np.sum(case.sample_weight * class_weight[labels]))


def _dense_twin_settings():
    settings = [{}, {"label_smoothing": 0.2}, {"class_weight": np.array([0.5, 1.0, 2.0, 3.0])}]
    settings.append({**settings[1], **settings[2]})
    return settings


@pytest.mark.parametrize("sparse", SPARSE, ids=lambda loss: loss.name)
@pytest.mark.parametrize("params", _dense_twin_settings(), ids=["defaults", "smoothing", "class_weight", "both"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_one_hot_dense_loss_equals_sparse_loss(sparse, params, reduction):
    if not set(params) <= set(sparse.defaults):
        pytest.skip(f"{sparse.name} has no {', '.join(sorted(set(params) - set(sparse.defaults)))}")
    dense = lk.get(sparse.pair)
    case = make_case(sparse, (2, 3, 4))
    one_hot = np.eye(4)[case.y_true]
    options = dict(params, sample_weight=case.sample_weight, reduction=reduction)
    sparse_value, sparse_grad = sparse.value_and_grad(case.y_true, case.y_pred, **options)
    dense_value, dense_grad = dense.value_and_grad(one_hot, case.y_pred, **options)
    assert_close(sparse_value, dense_value, rtol=1e-14, atol=1e-15)
    assert_close(sparse_grad, dense_grad, rtol=1e-14, atol=1e-15)


def test_every_sparse_loss_names_a_dense_twin_that_names_it_back():
    for sparse in SPARSE:
        dense = lk.get(sparse.pair)
        assert dense.kind == "dense" and dense.pair == sparse.name
        assert dense.prediction_space == sparse.prediction_space


def _with_ignored_positions(loss, shape=(2, 5, 3)):
    case = make_case(loss, shape)
    labels = case.y_true.copy()
    labels[0, 1] = labels[1, 0] = labels[1, 4] = IGNORE_INDEX
    return labels, case.y_pred, case.sample_weight


@pytest.mark.parametrize("loss", IGNORING, ids=lambda loss: loss.name)
def test_ignored_positions_get_zero_loss_and_zero_gradient(loss):
    labels, y_pred, _ = _with_ignored_positions(loss)
    value, grad = loss.value_and_grad(labels, y_pred, ignore_index=IGNORE_INDEX, reduction="none")
    ignored = labels == IGNORE_INDEX
    assert np.all(value[ignored] == 0) and np.all(value[~ignored] > 0)
    assert np.all(grad[ignored] == 0)


def _class_weight_option(loss, class_weight):
    """``{"class_weight": ...}`` for the losses that take one (a weighted case is skipped for the others)."""
    if class_weight is not None and "class_weight" not in loss.defaults:
        pytest.skip(f"{loss.name} has no class_weight")
    return {} if class_weight is None else {"class_weight": class_weight}


@pytest.mark.parametrize("loss", IGNORING, ids=lambda loss: loss.name)
@pytest.mark.parametrize("class_weight", [None, np.array([0.5, 2.0, 1.5])], ids=["unweighted", "class_weight"])
def test_ignored_positions_leave_the_mean_denominator(loss, class_weight):
    labels, y_pred, weight = _with_ignored_positions(loss)
    kept = labels != IGNORE_INDEX
    weights = _class_weight_option(loss, class_weight)
    full = loss(labels, y_pred, ignore_index=IGNORE_INDEX, sample_weight=weight, **weights)
    kept_weight = np.broadcast_to(weight[:, None], labels.shape)[kept]
    subset = loss(labels[kept], y_pred[kept], sample_weight=kept_weight, **weights)
    assert_close(full, subset)


@pytest.mark.parametrize("loss", IGNORING, ids=lambda loss: loss.name)
@pytest.mark.parametrize("class_weight", [None, np.array([0.5, 2.0, 1.5])], ids=["unweighted", "class_weight"])
def test_all_positions_ignored_gives_zero_mean_and_zero_gradient(loss, class_weight):
    _, y_pred, _ = _with_ignored_positions(loss)
    labels = np.full(y_pred.shape[:-1], IGNORE_INDEX)
    value, grad = loss.value_and_grad(labels, y_pred, ignore_index=IGNORE_INDEX,
                                      **_class_weight_option(loss, class_weight))
    assert float(value) == 0.0
    assert np.all(grad == 0)


# ----------------------------------------------------------------------------------- registry

@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_get_finds_every_name_and_alias_case_insensitively(loss):
    for name in (loss.name, *loss.aliases):
        assert lk.get(name) is loss
        assert lk.get(name.upper()) is loss
        assert lk.get(name.replace("_", "-").title()) is loss
    assert lk.get(loss) is loss


@pytest.mark.parametrize("typo, suggestion", [("hubber", "huber"), ("mean_sqared_error", "mean_squared_error"),
                                              ("sparse_softmax_crossentropy", "sparse_softmax_cross_entropy")])
def test_get_unknown_name_raises_value_error_with_a_close_suggestion(typo, suggestion):
    with pytest.raises(ValueError, match=f"unknown loss '{typo}'.*did you mean.*'{suggestion}'"):
        lk.get(typo)


def test_get_rejects_a_non_string_name():
    with pytest.raises(TypeError, match="name must be a string"):
        lk.get(3)


@pytest.mark.parametrize("task", lk.TASKS)
def test_catalog_filters_by_task_in_catalog_order(task):
    selected = lk.catalog(task)
    assert selected and all(loss.task == task for loss in selected)
    assert selected == [loss for loss in CATALOG if loss.task == task]


def test_catalog_tasks_partition_the_catalog():
    assert sorted(loss.name for task in lk.TASKS for loss in lk.catalog(task)) == sorted(LOSS_IDS)


def test_catalog_rejects_an_unknown_task():
    with pytest.raises(ValueError, match="task must be one of"):
        lk.catalog("ranking")


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_every_loss_and_alias_is_a_module_attribute(loss):
    assert loss.name in lk.__all__
    assert getattr(lk, loss.name) is loss
    for alias in loss.aliases:
        assert getattr(lk, alias) is loss


def test_module_attributes_resolve_aliases_and_reject_unknown_names():
    assert lk.mse is lk.mean_squared_error and lk.huber is lk.get("huber")
    with pytest.raises(AttributeError, match="no attribute 'hubber'"):
        lk.hubber  # noqa: B018


def test_names_lists_canonical_names_then_aliases():
    canonical = lk.names(include_aliases=False)
    assert canonical == LOSS_IDS
    aliases = lk.names()[len(canonical):]
    assert sorted(aliases) == sorted(a for loss in CATALOG for a in loss.aliases)


def _non_empty_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_every_loss_has_complete_descriptive_metadata(loss):
    for field in ("formula", "gradient_formula", "summary", "description", "when_to_use",
                  "when_not_to_use", "example", "output_activation"):
        assert _non_empty_text(getattr(loss, field)), field
    assert loss.references and all(_non_empty_text(ref) for ref in loss.references)
    assert all(_non_empty_text(pitfall) for pitfall in loss.pitfalls)
    assert all(isinstance(getattr(loss, flag), bool) for flag in ("convex", "robust_to_outliers", "differentiable"))


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_every_loss_has_a_valid_task_space_and_label_format(loss):
    assert loss.task in lk.TASKS
    assert loss.prediction_space in lk.PREDICTION_SPACES
    assert loss.label_format in lk.LABEL_FORMATS
    assert loss.kind in ("pointwise", "dense", "sparse", "overlap", "rowwise")
    assert loss.reductions and set(loss.reductions) <= set(lk.REDUCTIONS)
    # Integer labels: the sparse losses, and row losses with one label per row (linear_cross_entropy).
    assert (loss.label_format == "integer") == (loss.kind == "sparse" or (loss.kind == "rowwise" and loss.target_shape == "loss"
                                                                          and "free" in loss.input_shapes))


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_every_parameter_has_a_constraint_description_and_default(loss):
    signature = inspect.signature(loss).parameters
    for param in loss.params:
        assert _non_empty_text(param.constraint) and _non_empty_text(param.description), param.name
        assert signature[param.name].default is param.default or signature[param.name].default == param.default
        assert loss.defaults[param.name] is param.default or loss.defaults[param.name] == param.default


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_every_equivalent_names_a_framework_api_and_relation(loss):
    for equivalent in loss.equivalents:
        assert equivalent.framework in ("torch", "keras", "optax", "sklearn", "monai", "kornia", "scipy", "tensorflow")
        assert equivalent.relation in ("equal", "scaled", "different")
        assert _non_empty_text(equivalent.api)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_docstring_contains_formula_parameters_and_example(loss):
    doc = loss.__doc__
    # help() shows the formulas as Unicode text; the LaTeX stays on the loss (and the docs site).
    assert loss.summary in doc and loss.formula_text in doc and loss.gradient_formula_text in doc
    assert ">>> import losskit as lk" in doc
    for param in loss.params:
        assert f"{param.name} :" in doc


# -------------------------------------------------------------------------------- with_params

WITH_PARAMS = [
    (loss, params_id, params)
    for loss in CATALOG
    for params_id, params in param_cases(loss, shapes(loss)[-1])
    if params
]


@pytest.mark.parametrize("loss, params_id, params", WITH_PARAMS,
                         ids=[f"{loss.name}-{params_id}" for loss, params_id, _ in WITH_PARAMS])
def test_with_params_returns_a_loss_with_new_defaults(loss, params_id, params):
    case = make_case(loss, shapes(loss)[-1], params)
    configured = loss.with_params(**params)
    assert configured.name == loss.name
    assert_close(configured(*case.args), loss(*case.args, **params))
    signature = inspect.signature(configured).parameters
    for name, value in params.items():
        assert configured.defaults[name] is value or configured.defaults[name] == value
        assert signature[name].default is value or signature[name].default == value


def test_with_params_leaves_the_original_loss_unchanged():
    configured = lk.huber.with_params(delta=0.25)
    assert lk.huber.defaults == {"delta": 1.0} and configured.defaults == {"delta": 0.25}
    assert lk.get("huber") is lk.huber


def test_call_time_parameters_override_with_params_defaults():
    y_true, y_pred = np.zeros(3), np.array([0.1, 1.0, 4.0])
    configured = lk.huber.with_params(delta=0.25)
    assert_close(configured(y_true, y_pred, delta=2.0), lk.huber(y_true, y_pred, delta=2.0))


@pytest.mark.parametrize(
    "loss, params, error",
    [
        (lk.huber, {"delta": 0.0}, ValueError),
        (lk.smooth_l1, {"beta": -1.0}, ValueError),
        (lk.quantile, {"q": 1.0}, ValueError),
        (lk.binary_cross_entropy, {"label_smoothing": 1.5}, ValueError),
        (lk.sparse_softmax_cross_entropy, {"ignore_index": 0.5}, TypeError),
        (lk.huber, {"detla": 0.5}, TypeError),
    ],
    ids=["delta", "beta", "q", "label_smoothing", "ignore_index", "misspelled"],
)
def test_with_params_validates_the_new_defaults(loss, params, error):
    (name,) = params
    with pytest.raises(error, match=name):
        loss.with_params(**params)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_a_call_keeps_no_reference_to_its_arrays(loss):
    # Prepared plans are cached per call signature: they must not keep a batch alive.
    import gc
    import weakref

    case = make_case(loss, shapes(loss)[0])
    arrays = [np.array(a) for a in case.args]
    loss(*arrays)
    loss.value_and_grad(*arrays)
    references = [weakref.ref(a) for a in arrays]
    del arrays
    gc.collect()
    assert all(reference() is None for reference in references)
