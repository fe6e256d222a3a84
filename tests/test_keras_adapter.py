"""losskit.keras: one static keras.losses.Loss per catalog loss.

The module runs on the backend Keras was imported with (JAX unless KERAS_BACKEND says otherwise);
``test_model_fit_on_the_torch_backend`` reruns the ``model.fit`` tests in a subprocess with
``KERAS_BACKEND=torch``, and ``test_the_tensorflow_backend`` the gradient, fit and save tests
with ``KERAS_BACKEND=tensorflow``, since Keras reads the backend once, at import.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import losskit as lk  # noqa: E402
import losskit.keras as lkk  # noqa: E402
from _cases import make_case, param_cases, shapes  # noqa: E402
from losskit._registry import class_name  # noqa: E402

# Losses the (y_true, y_pred) protocol cannot carry get no class, each with its reason.
EXCLUDED = [loss for loss in lk.catalog() if loss.name in lkk.EXCLUDED]
CATALOG = [loss for loss in lk.catalog() if loss.name not in lkk.EXCLUDED]
BACKEND = keras.backend.backend()
# Losses of several stacked predictions (or no target) over a feature axis are checked with axis=
# in their own module (tests/test_embedding.py).
CLASS_AXIS = [loss for loss in CATALOG if loss.kind != "pointwise" and len(loss.inputs) == 1 and loss.has_target]

jax_backend = pytest.mark.skipif(BACKEND not in ("jax", "tensorflow"),
                                 reason="the gradients are read with jax.grad or tf.GradientTape")


def _keras_inputs(case):
    """``(y_true, y_pred)`` as Keras passes them: several predictions stacked on a last axis.

    A loss without a target ignores y_true; Keras still passes one (zeros of the batch here).
    """
    y_true = np.zeros(case.y_pred.shape[:1]) if case.y_true is None else case.y_true
    if not case.more_predictions:
        return y_true, case.y_pred
    return y_true, np.stack([case.y_pred, *case.more_predictions], axis=-1)


def _stacked(grad):
    return np.stack(grad, axis=-1) if isinstance(grad, tuple) else grad


def _non_default_params(loss, shape):
    """Every non-default parameter setting of ``param_cases`` merged into one (later ones win)."""
    merged = {}
    for _, params in param_cases(loss, shape):
        merged.update(params)
    return merged


def _channels_first(loss, case):
    """The case with the class axis moved to axis 1 (sparse labels have no class axis)."""
    y_true = case.y_true if loss.kind == "sparse" else np.moveaxis(case.y_true, -1, 1)
    return y_true, np.moveaxis(case.y_pred, -1, 1)


# ------------------------------------------------------------------------- the classes


def _static_classes():
    """``{catalog name: (class name, decorators)}`` of the classes written out in keras.py."""
    tree = ast.parse(Path(lkk.__file__).read_text())
    found = {}
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "LosskitLoss" for b in node.bases)):
            continue
        for statement in node.body:
            if (isinstance(statement, ast.Assign) and [getattr(t, "id", None) for t in statement.targets] == ["loss"]
                    and isinstance(statement.value, ast.Call) and ast.unparse(statement.value.func) == "_registry.get"):
                found[statement.value.args[0].value] = (node.name, [ast.unparse(d) for d in node.decorator_list])
    return found


def test_every_catalog_loss_has_a_static_registered_class_named_by_the_registry():
    classes = _static_classes()
    assert sorted(classes) == sorted(loss.name for loss in CATALOG)
    for loss in CATALOG:
        name, decorators = classes[loss.name]
        assert name == class_name(loss)
        assert decorators == ["keras.saving.register_keras_serializable(package='losskit')"]
        cls = getattr(lkk, name)
        assert cls.loss is loss and lkk.loss_class(loss) is cls and name in lkk.__all__
        assert keras.saving.get_registered_object(f"losskit>{name}") is cls


def test_the_excluded_losses_are_documented_and_refused_with_their_reason():
    assert [loss.name for loss in EXCLUDED] == ["linear_cross_entropy"]
    for loss in EXCLUDED:
        assert not hasattr(lkk, class_name(loss))
        with pytest.raises(ValueError, match="y_true, y_pred"):
            lkk.loss_class(loss.name)


def test_a_loss_whose_inputs_do_not_stack_into_y_pred_gets_no_class():
    # One variance per row cannot stack with a mean of shape (..., D) on a last axis.
    per_row = dataclasses.replace(lk.gaussian_nll, name="per_row", kind="rowwise", input_shapes=("loss",))
    with pytest.raises(TypeError, match="per_row takes y_true, mean, variance, which do not stack"):
        type("PerRow", (lkk.LosskitLoss,), {"loss": per_row})


def test_loss_class_resolves_aliases_and_rejects_unknown_names():
    assert lkk.loss_class("bce_with_logits") is lkk.SigmoidCrossEntropy
    assert lkk.loss_class("gaussian_nll_loss") is lkk.GaussianNLL
    with pytest.raises(ValueError, match="did you mean"):
        lkk.get_loss("hubber")


# ----------------------------------------------------------- values and JAX gradients


def _value_cases():
    for loss in CATALOG:
        shape = shapes(loss)[-1]
        for case_id, params in param_cases(loss, shape):
            yield pytest.param(loss, shape, params, id=f"{loss.name}-{case_id}")


def _keras_value_and_grad(keras_loss, y_true, y_pred):
    if BACKEND == "tensorflow":
        import tensorflow as tf

        y_pred = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = keras_loss(tf.constant(y_true), y_pred)
        return value, tape.gradient(value, y_pred)
    import jax

    return jax.value_and_grad(lambda p: keras_loss(y_true, p))(jax.numpy.asarray(y_pred))


@jax_backend
@pytest.mark.parametrize("loss, shape, params", _value_cases())
def test_keras_loss_and_its_gradient_equals_the_functional_loss(loss, shape, params):
    case = make_case(loss, shape, params)
    # Keras's "sum_over_batch_size" divides by the number of terms and losskit's mean by the
    # summed class weights: with class weights, compare the sums.
    weighted = params.get("class_weight") is not None
    keras_loss = lkk.loss_class(loss)(dtype="float64", reduction="sum" if weighted else "sum_over_batch_size", **params)
    value, grad = _keras_value_and_grad(keras_loss, *_keras_inputs(case))
    expected_value, expected_grad = loss.value_and_grad(*case.args, reduction="sum" if weighted else "mean", **params)
    np.testing.assert_allclose(np.asarray(value), expected_value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(grad), _stacked(expected_grad), rtol=1e-9, atol=1e-12)


@jax_backend
@pytest.mark.parametrize("loss", CLASS_AXIS, ids=lambda loss: loss.name)
def test_axis_one_takes_channels_first_inputs_as_the_functional_loss(loss):
    case = make_case(loss, (2, 3, 4))
    y_true, y_pred = _channels_first(loss, case)  # predictions (2, 4, 3): 4 classes on axis 1
    value, grad = _keras_value_and_grad(lkk.loss_class(loss)(axis=1, dtype="float64"), y_true, y_pred)
    expected_value, expected_grad = loss.value_and_grad(y_true, y_pred, axis=1)
    np.testing.assert_allclose(np.asarray(value), expected_value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(grad), expected_grad, rtol=1e-9, atol=1e-12)


def test_pointwise_loss_has_no_axis():
    with pytest.raises(TypeError, match="has no class axis"):
        lkk.Huber(axis=1)


def test_gaussian_nll_reads_mean_and_variance_from_the_last_axis_against_a_column_target():
    y_true = np.array([[0.5], [-1.0], [2.0]])  # (N, 1), as a model fitted on a column target sees it
    mean, variance = np.array([0.0, 1.0, 2.5]), np.array([0.5, 2.0, 1.0])
    value = lkk.GaussianNLL(full=True, dtype="float64")(y_true, np.stack([mean, variance], axis=-1))
    np.testing.assert_allclose(np.asarray(value), lk.gaussian_nll(y_true[:, 0], mean, variance, full=True), rtol=1e-12)


def test_gaussian_nll_rejects_a_prediction_without_a_last_axis_of_two():
    convention = r"last axis of size 2 \(y_pred\[\.\.\., 0\] the mean, y_pred\[\.\.\., 1\] the variance\)"
    with pytest.raises(ValueError, match=convention):
        lkk.GaussianNLL()(np.zeros(3), np.ones((3, 3)))


def test_sample_weight_with_mean_with_sample_weight_is_losskits_weighted_mean():
    case = make_case(lk.huber, (7,), {"delta": 0.5})
    keras_loss = lkk.Huber(delta=0.5, reduction="mean_with_sample_weight", dtype="float64")
    value = keras_loss(case.y_true, case.y_pred, sample_weight=case.sample_weight)
    expected = lk.huber(case.y_true, case.y_pred, delta=0.5, sample_weight=case.sample_weight)
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-12)


def test_column_predictions_against_flat_labels_follow_keras_rank_rule():
    y_true = np.array([0.0, 1.0, 2.0])
    y_pred = np.array([[0.5], [1.0], [4.0]])
    value = lkk.MeanSquaredError(dtype="float64")(y_true, y_pred)
    np.testing.assert_allclose(np.asarray(value), lk.mse(y_true, y_pred[:, 0]))


def test_other_shape_mismatches_still_raise():
    with pytest.raises(ValueError, match="never broadcasts"):
        lkk.MeanSquaredError()(np.zeros((3, 2)), np.zeros((3, 4)))


def test_sparse_loss_accepts_float_labels_with_a_trailing_axis():
    labels = np.array([[0.0], [2.0], [1.0]])
    logits = np.random.default_rng(0).normal(size=(3, 3))
    value = lkk.SparseSoftmaxCrossEntropy(dtype="float64")(labels, logits)
    np.testing.assert_allclose(np.asarray(value), lk.sparse_softmax_cross_entropy(labels[:, 0].astype(int), logits))


def test_ignored_positions_leave_the_mean_as_in_keras_ignore_class():
    labels = np.array([0, 2, -100, 1])
    logits = np.random.default_rng(1).normal(size=(4, 3))
    value = lkk.SparseSoftmaxCrossEntropy(ignore_index=-100, dtype="float64")(labels.astype(float), logits)
    expected = lk.sparse_softmax_cross_entropy(labels, logits, ignore_index=-100)
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-12)


def test_root_loss_rejects_sample_weight():
    with pytest.raises(ValueError, match="sample_weight"):
        lkk.RootMeanSquaredError()(np.zeros(3), np.ones(3), sample_weight=np.ones(3))


def test_invalid_parameter_is_rejected_at_construction():
    with pytest.raises(ValueError, match="q must lie strictly between 0 and 1"):
        lkk.Quantile(q=1.5)


# ------------------------------------------------------------------------ serialization


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_config_round_trip_keeps_parameters_and_outputs(loss):
    shape = shapes(loss)[-1]
    params = _non_default_params(loss, shape)
    case = make_case(loss, shape, params)
    y_true, y_pred = _keras_inputs(case)
    args = case.args
    if loss in CLASS_AXIS:
        params["axis"] = 1
        y_true, y_pred = args = _channels_first(loss, case)
    original = lkk.get_loss(loss.name, reduction="sum", name="my_loss", dtype="float64", **params)
    config = original.get_config()
    assert json.loads(json.dumps(config)) == config
    for restored in (type(original).from_config(config), keras.losses.deserialize(keras.losses.serialize(original))):
        assert type(restored) is type(original)
        assert restored.get_config() == config
        assert (restored.reduction, restored.name, restored.dtype) == ("sum", "my_loss", "float64")
        np.testing.assert_array_equal(np.asarray(restored(y_true, y_pred)), np.asarray(original(y_true, y_pred)))
    expected = loss(*args, reduction="mean" if loss.root else "sum", **params)
    np.testing.assert_allclose(np.asarray(original(y_true, y_pred)), expected, rtol=1e-9)


def test_saved_model_reloads_with_its_loss_and_parameters(tmp_path):
    x, _ = _regression_data(16)
    labels = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    loss = lkk.SparseSoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5], label_smoothing=0.1, reduction="sum")
    model.compile(optimizer="sgd", loss=loss)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded.loss, lkk.SparseSoftmaxCrossEntropy)
    assert reloaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(reloaded.evaluate(x, labels, verbose=0), model.evaluate(x, labels, verbose=0), rtol=1e-6)


# ---------------------------------------------------------------------------- model.fit


def _regression_data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.3]) + 0.1 * rng.normal(size=n)).astype("float32")
    return x, y


def _huber_fit():
    x, y = _regression_data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    # (N,) targets against the (N, 1) output: Keras's rank rule
    return model, lkk.Huber(delta=0.5), x, y, lambda pred: lk.huber(y, pred[:, 0], delta=0.5)


def _sparse_fit():
    x, _ = _regression_data()
    labels = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    loss = lkk.SparseSoftmaxCrossEntropy(label_smoothing=0.05)
    return model, loss, x, labels, lambda logits: lk.sparse_softmax_cross_entropy(labels, logits, label_smoothing=0.05)


def _gaussian_fit():
    x, y = _regression_data()
    inputs = keras.Input((4,))
    mean = keras.layers.Dense(1)(inputs)
    variance = keras.layers.Dense(1, activation="softplus")(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([mean, variance]))
    return model, lkk.GaussianNLL(), x, y, lambda pred: lk.gaussian_nll(y, pred[:, 0], pred[:, 1])


FIT_SETUPS = {"huber": _huber_fit, "sparse": _sparse_fit, "gaussian_nll": _gaussian_fit}


@pytest.mark.parametrize("setup", FIT_SETUPS.values(), ids=FIT_SETUPS.keys())
def test_model_fit_reports_the_functional_loss_of_the_batch(setup):
    keras.utils.set_random_seed(0)
    model, loss, x, y, functional = setup()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    before = [np.array(w) for w in model.get_weights()]
    expected = functional(np.asarray(model.predict(x, verbose=0), dtype=np.float64))
    # One batch, one epoch: the reported loss is the loss of the weights before the update.
    history = model.fit(x, y, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    assert any(not np.array_equal(b, a) for b, a in zip(before, model.get_weights())), "fit did not update the weights"


@pytest.mark.skipif(BACKEND != "jax", reason="spawned once, from the JAX run")
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow")
def test_the_tensorflow_backend():
    # Gradients through tf.GradientTape, model.fit (tf.function with an unknown batch axis) and a
    # saved model's reload, on Keras's TensorFlow backend.
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
         "model_fit_reports or saved_model_reloads or gradient_equals or channels_first or config_round_trip"],
        env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout[-2000:]


@pytest.mark.skipif(BACKEND != "jax", reason="spawned once, from the JAX run")
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_model_fit_on_the_torch_backend():
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    env.pop("PYTEST_ADDOPTS", None)  # the child runs exactly the fit tests, in one process
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "model_fit_reports"],
        env=env, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{len(FIT_SETUPS)} passed" in result.stdout
