"""TensorFlow tensors: every loss of the catalog, eagerly and under tf.function, through GradientTape.

losskit drives ``tf.Tensor`` inputs through its own thin array namespace
(``losskit.backends.tensorflow_namespace``) and ``tf.custom_gradient`` (``losskit._autodiff``), so a
tape sees the analytic gradient, floors and kinks included. Each result is compared with the
float64 NumPy result of the same call.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import losskit as lk  # noqa: E402
from _cases import make_case, param_cases, shapes  # noqa: E402

CATALOG = lk.catalog()


def _tensor(value):
    return tf.constant(value) if isinstance(value, np.ndarray) else value


def _tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def _first_prediction(loss, case) -> int:
    """The position of the first prediction among ``case.args`` (after the target, if any)."""
    return len(case.args) - len(loss.inputs)


def _cases():
    for loss in CATALOG:
        shape = shapes(loss)[-1]
        for case_id, params in param_cases(loss, shape):
            yield pytest.param(loss, shape, params, id=f"{loss.name}-{case_id}")


@pytest.mark.parametrize("loss, shape, params", _cases())
def test_value_grad_and_tape_gradient_equal_numpy(loss, shape, params):
    case = make_case(loss, shape, params)
    tensors = [_tensor(a) for a in case.args]
    tf_params = {k: _tensor(v) for k, v in params.items()}
    first = _first_prediction(loss, case)
    for reduction in loss.reductions:
        for weight in (None, case.sample_weight):
            options = dict(params, sample_weight=weight, reduction=reduction)
            expected_value, expected_grads = loss.value_and_grad(*case.args, **options)
            tf_options = dict(tf_params, sample_weight=None if weight is None else tf.constant(weight),
                              reduction=reduction)
            value, grads = loss.value_and_grad(*tensors, **tf_options)
            assert isinstance(value, tf.Tensor) and value.dtype == tf.float64
            np.testing.assert_allclose(value.numpy(), expected_value, rtol=1e-12, atol=1e-13)
            for ours, expected in zip(_tuple(grads), _tuple(expected_grads)):
                np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-13)

            predictions = [tf.Variable(t) for t in tensors[first:]]
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(loss(*tensors[:first], *predictions, **tf_options))
            taped = tape.gradient(total, predictions)
            # The gradient of sum(loss) is the weighted sum's gradient for reduction="none".
            hand = _tuple(loss.grad(*case.args, **options))
            for ours, expected in zip(taped, hand):
                np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_tf_function_traces_the_value_the_tape_gradient_and_grad(loss):
    case = make_case(loss, shapes(loss)[-1])
    first = _first_prediction(loss, case)
    weight = tf.constant(case.sample_weight)

    @tf.function
    def step(*args):
        predictions = list(args[first:])
        with tf.GradientTape() as tape:
            tape.watch(predictions)
            value = loss(*args[:first], *predictions, sample_weight=weight)
        return value, tape.gradient(value, predictions), _tuple(loss.grad(*args, sample_weight=weight))

    value, taped, hand = step(*(tf.constant(a) for a in case.args))
    expected_value, expected_grads = loss.value_and_grad(*case.args, sample_weight=case.sample_weight)
    np.testing.assert_allclose(value.numpy(), expected_value, rtol=1e-12, atol=1e-13)
    for ours, hand_grad, expected in zip(taped, hand, _tuple(expected_grads)):
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hand_grad.numpy(), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float32], ids=lambda d: d.name)
@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_result_keeps_the_callers_dtype_and_narrow_floats_compute_in_float32(loss, dtype):
    case = make_case(loss, shapes(loss)[-1])

    def cast(a, to):
        return tf.cast(tf.constant(a), to) if np.issubdtype(a.dtype, np.floating) else tf.constant(a)

    narrow = [cast(a, dtype) for a in case.args]
    value, grads = loss.value_and_grad(*narrow)
    assert value.dtype == dtype and all(g.dtype == dtype for g in _tuple(grads))
    assert value.device == narrow[-1].device
    # The narrow inputs widened to float32 are the reference (as on PyTorch and JAX).
    with lk.value_checks(False):
        wide_value, wide_grads = loss.value_and_grad(*(tf.cast(a, tf.float32) if a.dtype == dtype else a
                                                       for a in narrow))
    np.testing.assert_array_equal(tf.cast(value, tf.float32).numpy(),
                                  tf.cast(tf.cast(wide_value, dtype), tf.float32).numpy())
    for ours, wide in zip(_tuple(grads), _tuple(wide_grads)):
        np.testing.assert_array_equal(tf.cast(ours, tf.float32).numpy(),
                                      tf.cast(tf.cast(wide, dtype), tf.float32).numpy())


@pytest.mark.parametrize("label_dtype", [tf.int32, tf.int64, tf.uint8, tf.int16], ids=lambda d: d.name)
def test_integer_labels_of_any_integer_dtype(label_dtype):
    logits = np.random.default_rng(0).normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    expected = lk.sparse_softmax_cross_entropy(labels, logits)
    ours = lk.sparse_softmax_cross_entropy(tf.constant(labels, dtype=label_dtype), tf.constant(logits))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-13)


def test_an_unknown_batch_axis_under_tf_function_is_handled():
    # Keras traces its train step with the batch axis unknown (None).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, 3], tf.float64)])
    def cost(labels, logits):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = lk.sparse_softmax_cross_entropy(labels, logits, label_smoothing=0.1)
        return value, tape.gradient(value, logits)

    logits = np.random.default_rng(1).normal(size=(7, 3))
    labels = np.array([0, 1, 2, 2, 1, 0, 0])
    value, grad = cost(tf.constant(labels), tf.constant(logits))
    expected_value, expected_grad = lk.sparse_softmax_cross_entropy.value_and_grad(labels, logits, label_smoothing=0.1)
    np.testing.assert_allclose(value.numpy(), expected_value, rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-12)


def test_two_unknown_axes_work_where_no_reshape_needs_them_and_are_refused_with_the_fix_elsewhere():
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float64)] * 2)
    def elementwise(y_true, y_pred):
        return lk.mse(y_true, y_pred), lk.mse.grad(y_true, y_pred)

    value, grad = elementwise(tf.zeros((2, 3), tf.float64), tf.ones((2, 3), tf.float64))
    np.testing.assert_allclose(value.numpy(), 1.0)
    np.testing.assert_allclose(grad.numpy(), np.full((2, 3), 1 / 3))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None, None, 3], tf.float64)])
    def weighted(labels, logits):
        return lk.sparse_softmax_cross_entropy(labels, logits, class_weight=[1.0, 2.0, 3.0])

    with pytest.raises(ValueError, match="input_signature with one None axis"):
        weighted(tf.zeros((2, 4), tf.int64), tf.ones((2, 4, 3), tf.float64))


def test_value_checks_run_eagerly_and_are_skipped_while_tracing():
    bad = tf.constant([0.5, 1.5], tf.float64)  # a probability above 1
    with pytest.raises(ValueError, match="y_pred"):
        lk.bce(tf.constant([1.0, 0.0], tf.float64), bad)
    traced = tf.function(lambda y, p: lk.bce(y, p))(tf.constant([1.0, 0.0], tf.float64), bad)
    assert traced.shape == ()


def test_a_gradient_of_the_target_flows_through_the_reference_expression():
    y_true = tf.Variable([0.2, 0.7], dtype=tf.float64)
    logits = tf.constant([0.3, -1.2], tf.float64)
    with tf.GradientTape() as tape:
        value = lk.sigmoid_cross_entropy(y_true, logits)
    # d/dy of mean(softplus(z) - y z) is -z / N.
    np.testing.assert_allclose(tape.gradient(value, y_true).numpy(), -logits.numpy() / 2, rtol=1e-12)


def test_the_poisson_gradient_floor_is_the_catalogs_under_the_tape():
    # Autodiff of the expression at rate 0 would differ from the documented floored gradient.
    y_true, rate = tf.constant([1.0, 0.0], tf.float64), tf.Variable([0.0, 1.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        value = lk.poisson(y_true, rate)
    np.testing.assert_array_equal(tape.gradient(value, rate).numpy(), lk.poisson.grad([1.0, 0.0], [0.0, 1.0]))


def test_hessians_equal_numpy():
    y, p = np.array([0.0, 1.0, 3.0]), np.array([0.5, 1.5, 0.0])
    ours = lk.huber.hessian(tf.constant(y), tf.constant(p), delta=1.0)
    np.testing.assert_array_equal(ours.numpy(), lk.huber.hessian(y, p, delta=1.0))


def test_mixing_tensorflow_and_numpy_arrays_raises_type_error():
    with pytest.raises(TypeError, match="y_true is a tensorflow array, y_pred is a numpy array"):
        lk.mse(tf.ones(3), np.ones(3))


def test_a_python_list_next_to_a_tensor_becomes_a_tensor():
    value = lk.mse([0.0, 1.0], tf.constant([0.5, 1.0], tf.float64))
    assert isinstance(value, tf.Tensor) and value.dtype == tf.float64
    np.testing.assert_allclose(value.numpy(), 0.125)
