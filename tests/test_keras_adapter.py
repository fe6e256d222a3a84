"""losskit.keras: one keras.losses.Loss per catalog loss (run on the JAX backend)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")

import losskit as lk  # noqa: E402
import losskit.keras as lkk  # noqa: E402
from _cases import make_case, param_cases, shapes  # noqa: E402

CATALOG = lk.catalog()


def _cases():
    for loss in CATALOG:
        shape = shapes(loss)[-1]
        for case_id, params in param_cases(loss, shape):
            yield pytest.param(loss, shape, params, id=f"{loss.name}-{case_id}")


def _keras_loss(loss, params, **kwargs):
    return lkk.loss_class(loss)(dtype="float64", **params, **kwargs)


@pytest.mark.parametrize("loss, shape, params", _cases())
def test_keras_loss_equals_functional_value_and_gradient(loss, shape, params):
    case = make_case(loss, shape, params)
    keras_loss = _keras_loss(loss, params)
    value, grad = jax.value_and_grad(lambda y_pred: keras_loss(case.y_true, y_pred))(jax.numpy.asarray(case.y_pred))
    expected_value, expected_grad = loss.value_and_grad(case.y_true, case.y_pred, **params)
    if loss.params and any(p.name == "class_weight" for p in loss.params) and params.get("class_weight") is not None:
        # Keras's "sum_over_batch_size" divides by the number of terms, losskit's mean by the
        # summed class weights: compare the sums instead.
        keras_loss = _keras_loss(loss, params, reduction="sum")
        value, grad = jax.value_and_grad(lambda y_pred: keras_loss(case.y_true, y_pred))(jax.numpy.asarray(case.y_pred))
        expected_value, expected_grad = loss.value_and_grad(case.y_true, case.y_pred, reduction="sum", **params)
    np.testing.assert_allclose(np.asarray(value), expected_value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(grad), expected_grad, rtol=1e-9, atol=1e-12)


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


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_config_round_trip_keeps_parameters(loss):
    params = {p.name: p.default for p in loss.params}
    for p in loss.params:
        if p.name in ("delta", "beta", "epsilon"):
            params[p.name] = 0.25
        elif p.name == "q":
            params[p.name] = 0.8
        elif p.name == "label_smoothing":
            params[p.name] = 0.1
        elif p.name in ("class_weight", "pos_weight"):
            params[p.name] = [1.0, 2.0, 3.0]
        elif p.name == "ignore_index":
            params[p.name] = -1
    original = lkk.get_loss(loss.name, reduction="sum", name="my_loss", **params)
    restored = keras.losses.deserialize(keras.losses.serialize(original))
    assert type(restored) is type(original)
    assert restored.params == original.params == params
    assert (restored.reduction, restored.name) == ("sum", "my_loss")


def test_invalid_parameter_is_rejected_at_construction():
    with pytest.raises(ValueError, match="q must lie strictly between 0 and 1"):
        lkk.Quantile(q=1.5)


def _regression_data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.3]) + 0.1 * rng.normal(size=n)).astype("float32")
    return x, y


def test_model_fit_epoch_reduces_the_loss():
    keras.utils.set_random_seed(0)
    x, y = _regression_data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=lkk.Huber(delta=0.5))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_model_fit_with_sparse_labels_and_compile_by_instance():
    keras.utils.set_random_seed(0)
    x, _ = _regression_data()
    labels = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=lkk.SparseSoftmaxCrossEntropy(label_smoothing=0.05))
    history = model.fit(x, labels, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_saved_model_reloads_with_its_loss_and_parameters(tmp_path):
    x, y = _regression_data(16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=lkk.Quantile(q=0.9, reduction="sum"))
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded.loss, lkk.Quantile)
    assert reloaded.loss.params == {"q": 0.9}
    assert reloaded.loss.reduction == "sum"
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
