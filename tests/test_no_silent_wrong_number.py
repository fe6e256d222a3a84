"""Regression tests for the classes of silent wrong numbers named in issue 10.

One section per class (a path that disagrees with the catalog; NaN swallowed; overflow turned into
a finite number, or a representable result lost to an intermediate overflow; inputs accepted with
the wrong meaning; crashes instead of errors), each with the concrete examples of the issue. The
differential harness (``tests/test_differential.py``) searches for new members of each class; these
pin the known ones.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy
lkt = pytest.importorskip("losskit.torch")

nan, inf = math.nan, math.inf
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _np(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().double()
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------- a path that disagrees with the catalog

def test_torch_module_bce_gradient_at_a_confident_correct_prediction_equals_grad():
    y = torch.tensor([1.0, 0.0], dtype=torch.float64)
    p = torch.tensor([1.0 - 1e-7, 1e-7], dtype=torch.float64, requires_grad=True)
    lkt.module_class("binary_cross_entropy")(reduction="sum")(p, y).backward()
    expected = lk.binary_cross_entropy.grad(y.numpy(), p.detach().numpy(), reduction="sum")
    np.testing.assert_allclose(_np(p.grad), expected, rtol=1e-12)
    assert abs(expected[0]) > 0.5  # the catalog's gradient is about -1, not 0


@pytest.mark.parametrize("rate", [0.0, 1e-300])
def test_poisson_autodiff_follows_the_documented_gradient_floor(rate):
    y = np.array([1.0, 2.0])
    p = np.array([rate, 1.0])
    expected = lk.poisson.grad(y, p)
    got = jax.grad(lambda q: lk.poisson(jnp.asarray(y), q))(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-9)
    tp = torch.tensor(p, requires_grad=True)
    lk.poisson(torch.tensor(y), tp).backward()
    np.testing.assert_allclose(_np(tp.grad), expected, rtol=1e-9)
    assert expected[0] < 0  # the sign of the floor: a rate of 0 for a count of 1 must grow


def test_pseudo_huber_jax_grad_in_float32_beyond_1e19_equals_grad():
    y = np.zeros(3, np.float32)
    p = np.array([1e19, 1e20, -3e38], np.float32)
    expected = lk.pseudo_huber.grad(y.astype(np.float64), p.astype(np.float64))
    got = jax.grad(lambda q: lk.pseudo_huber(jnp.asarray(y), q))(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-5)


@pytest.mark.parametrize("name", ["root_mean_squared_error", "root_mean_squared_logarithmic_error"])
def test_root_losses_autodiff_gradient_at_a_perfect_fit_is_the_documented_zero(name):
    loss = lk.get(name)
    y = np.array([1.0, 2.0, 3.0])
    expected = loss.grad(y, y.copy())
    assert np.all(np.isfinite(expected))
    got = jax.grad(lambda q: loss(jnp.asarray(y), q))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-12)
    tp = torch.tensor(y, requires_grad=True)
    loss(torch.tensor(y), tp).backward()
    np.testing.assert_allclose(_np(tp.grad), expected, atol=1e-12)


# ------------------------------------------------------------------------------------- NaN swallowed

NAN_CASES = [
    ("poisson", np.array([nan, 1.0]), np.array([1.0, 1.0]), (0,)),
    ("kl_divergence", np.array([[nan, 0.5], [0.5, 0.5]]), np.array([[0.5, 0.5], [0.5, 0.5]]), (0,)),
    ("categorical_cross_entropy", np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([[0.5, nan, 0.5], [0.2, 0.6, 0.2]]), (0,)),
    ("sparse_categorical_cross_entropy", np.array([0, 1]), np.array([[0.5, nan, 0.5], [0.2, 0.6, 0.2]]), (0,)),
    ("hinge", np.array([1.0, -1.0]), np.array([nan, 0.3]), (0,)),
    ("squared_hinge", np.array([1.0, -1.0]), np.array([nan, 0.3]), (0,)),
    ("modified_huber", np.array([1.0, -1.0]), np.array([nan, 0.3]), (0,)),
    ("categorical_hinge", np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([[0.5, nan, 0.5], [0.2, 0.6, 0.2]]), (0,)),
    ("quantile", np.array([nan, 1.0]), np.array([0.0, 0.0]), (0,)),
]


@pytest.mark.parametrize("name, y_true, y_pred, row", NAN_CASES, ids=[c[0] for c in NAN_CASES])
@pytest.mark.parametrize("path", ["default", "generic"])
def test_nan_input_gives_nan_value_and_gradient(name, y_true, y_pred, row, path):
    loss = lk.get(name)
    context = lk.reference_only() if path == "generic" else _Nothing()
    with context:
        value = loss(y_true, y_pred, reduction="none")
        grad = loss.grad(y_true, y_pred, reduction="none")
        mean = loss(y_true, y_pred)
    assert np.isnan(value[row]), f"{name} value at the NaN element: {value[row]}"
    assert not np.isnan(np.delete(value, row, axis=0)).any()
    assert np.isnan(mean), f"{name} mean with a NaN input: {mean}"
    assert np.isnan(grad[row]).any(), f"{name} gradient at the NaN element: {grad[row]}"


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "modified_huber", "logistic", "mean_absolute_error", "huber"])
def test_fused_and_generic_paths_agree_on_nan(name):
    loss = lk.get(name)
    y = np.array([1.0, 1.0, -1.0, 1.0]) if loss.label_format == "signed" else np.array([0.0, 1.0, 2.0, 0.5])
    p = np.array([nan, 0.5, nan, -0.2])
    fused_v, fused_g = loss.value_and_grad(y, p, reduction="none")
    with lk.reference_only():
        generic_v, generic_g = loss.value_and_grad(y, p, reduction="none")
    np.testing.assert_array_equal(np.isnan(fused_v), np.isnan(generic_v))
    np.testing.assert_array_equal(np.isnan(fused_g), np.isnan(generic_g))
    np.testing.assert_allclose(fused_g, generic_g, rtol=1e-12)
    assert np.isnan(generic_g[[0, 2]]).all()


@pytest.mark.parametrize("name, param", [("sigmoid_cross_entropy", "pos_weight"), ("huber", "delta"),
                                         ("quantile", "q"), ("softmax_cross_entropy", "label_smoothing")])
def test_nan_parameters_raise(name, param):
    loss = lk.get(name)
    y = np.eye(3) if loss.kind == "dense" else np.array([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=param):
        loss(y, np.zeros_like(y), **{param: nan})
    with pytest.raises(ValueError, match=param):
        lkt.module_class(loss)(**{param: nan})(torch.zeros(y.shape), torch.tensor(y))


def test_nan_class_weight_raises():
    with pytest.raises(ValueError, match="class_weight"):
        lk.softmax_cross_entropy(np.eye(3), np.zeros((3, 3)), class_weight=np.array([1.0, nan, 1.0]))


# --------------------------------------------------- overflow turned into a finite number / lost to an intermediate

def test_float16_mse_of_1e8_is_inf_on_every_door():
    y, p = np.zeros(2, np.float16), np.array([1e4, 1e4], np.float16)
    assert np.isposinf(lk.mean_squared_error(y, p))
    assert np.isposinf(lk.mean_squared_error(y, p, reduction="none")).all()
    assert torch.isinf(lk.mean_squared_error(torch.tensor(y), torch.tensor(p))).item()
    assert np.isposinf(np.asarray(lk.mean_squared_error(jnp.asarray(y), jnp.asarray(p)), np.float64))


def test_float32_rmse_of_residuals_1e30_is_1e30():
    y, p = np.zeros(2, np.float32), np.array([1e30, -1e30], np.float32)
    value = lk.root_mean_squared_error(y, p)
    np.testing.assert_allclose(np.float64(value), 1e30, rtol=1e-6)
    value = lk.root_mean_squared_error(torch.tensor(y), torch.tensor(p))
    np.testing.assert_allclose(_np(value), 1e30, rtol=1e-6)


def test_float32_softmax_cross_entropy_with_soft_labels_at_logits_3e38_is_finite():
    y = np.array([[0.5, 0.5]], np.float32)
    logits = np.array([[3e38, -3e38]], np.float32)
    expected = lk.softmax_cross_entropy(y.astype(np.float64), logits.astype(np.float64), reduction="none")
    assert np.isfinite(expected).all()
    got = lk.softmax_cross_entropy(y, logits, reduction="none")
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-6)


# ---------------------------------------------------------------------- inputs accepted with the wrong meaning

def test_a_python_list_next_to_a_float64_tensor_is_converted_at_float64():
    value = lk.mean_squared_error([0.1], torch.tensor([0.0], dtype=torch.float64))
    assert value.dtype == torch.float64
    assert value.item() == 0.1 * 0.1


def test_sparse_softmax_module_does_not_ignore_minus_100_unless_asked():
    logits = torch.zeros(3, 4, dtype=torch.float64)
    labels = torch.tensor([0, -100, 2])
    with pytest.raises(ValueError):
        lkt.SparseSoftmaxCrossEntropy()(logits, labels)
    kept = lkt.SparseSoftmaxCrossEntropy(ignore_index=-100)(logits, labels)
    np.testing.assert_allclose(kept.item(), math.log(4.0), rtol=1e-12)


def _keras_sparse():
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("checked on the Keras JAX backend")
    return pytest.importorskip("losskit.keras")


@pytest.mark.parametrize("name", ["sparse_softmax_cross_entropy", "sparse_categorical_cross_entropy"])
@pytest.mark.parametrize("bad", [1.7, nan])
def test_keras_sparse_losses_refuse_non_integer_and_nan_labels(name, bad):
    lkk = _keras_sparse()
    probabilities = np.full((2, 3), 1 / 3)
    with pytest.raises((ValueError, TypeError)):
        lkk.loss_class(name)()(np.array([0.0, bad]), probabilities)


@pytest.mark.parametrize("name", ["sparse_softmax_cross_entropy", "sparse_categorical_cross_entropy",
                                  "sparse_softmax_focal", "sparse_poly1_cross_entropy"])
@pytest.mark.parametrize("door", ["numpy", "torch", "jax", "module"])
def test_float_nan_labels_raise_on_every_door(name, door):
    loss = lk.get(name)
    labels = np.array([0.0, nan])
    preds = np.full((2, 3), 1 / 3)
    with pytest.raises((ValueError, TypeError)):
        if door == "numpy":
            loss(labels, preds)
        elif door == "torch":
            loss(torch.tensor(labels), torch.tensor(preds))
        elif door == "jax":
            loss(jnp.asarray(labels), jnp.asarray(preds))
        else:
            lkt.module_class(loss)()(torch.tensor(preds), torch.tensor(labels))


# ------------------------------------------------------------------------------- crashes instead of errors

SPARSE = [loss for loss in lk.catalog() if loss.kind == "sparse"]


@pytest.mark.parametrize("dtype", ["int32", "int16", "uint8"])
@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
def test_torch_integer_labels_of_any_dtype_work_on_every_sparse_path(loss, dtype):
    labels = np.array([0, 2, 1])
    preds = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    expected = loss(labels, preds, reduction="none")
    t_labels = torch.tensor(labels).to(getattr(torch, dtype))
    got = loss(t_labels, torch.tensor(preds), reduction="none")
    np.testing.assert_allclose(_np(got), expected, rtol=1e-12)
    p = torch.tensor(preds, requires_grad=True)
    lkt.module_class(loss)(reduction="sum")(p, t_labels).backward()
    np.testing.assert_allclose(_np(p.grad), loss.grad(labels, preds, reduction="sum"), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(loss(jnp.asarray(labels.astype(dtype)), jnp.asarray(preds), reduction="none")),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("loss", SPARSE, ids=lambda loss: loss.name)
@pytest.mark.parametrize("label", [3, 7, -1])
def test_modules_with_out_of_range_labels_raise_value_error(loss, label):
    preds = torch.full((2, 3), 1 / 3, dtype=torch.float64)
    with pytest.raises(ValueError):
        lkt.module_class(loss)()(preds, torch.tensor([0, label]))


def test_numpy_bfloat16_arrays_are_accepted():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    y = np.array([0.0, 1.0], ml_dtypes.bfloat16)
    p = np.array([0.5, 3.0], ml_dtypes.bfloat16)
    value = lk.mean_squared_error(y, p)
    np.testing.assert_allclose(float(value), (0.25 + 4.0) / 2, rtol=2e-2)
    grad = lk.mean_squared_error.grad(y, p)
    np.testing.assert_allclose(np.asarray(grad, np.float64), [0.5, 2.0], rtol=2e-2)
