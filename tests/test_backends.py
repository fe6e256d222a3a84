"""One implementation, every array library: NumPy, PyTorch, JAX, TensorFlow, Dask and array-api-strict.

array-api-strict implements the array API standard and nothing else, so a loss that passes here
uses no NumPy-only function. Each library is compared with the float64 NumPy result, and the
result must keep the caller's library, device and floating dtype (float16 and bfloat16 computed
in float32). JAX runs in float64 here (conftest.py enables x64). TensorFlow and Dask join when
installed (tests/test_tensorflow.py and tests/test_dask.py test their gradients, tracing and
memory); CuPy has tests/test_cupy.py, run where a CUDA device is.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import array_api_compat
import numpy as np
import pytest

import losskit as lk
from losskit._array import device_of, namespace_of
from _cases import make_case, param_cases, shapes, single_prediction

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
xps = pytest.importorskip("array_api_strict")

# Multi-prediction losses have their own tests (test_multi_input.py).
CATALOG = single_prediction(lk.catalog())
LOSS_IDS = [loss.name for loss in CATALOG]


@dataclass(frozen=True)
class Backend:
    """How to move NumPy test data into one array library and back."""

    name: str
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    is_array: Callable[[Any], bool]
    float32: Any
    float64: Any
    narrow: tuple = ()  # (name, dtype) of the float16/bfloat16 dtypes the library has

    def __repr__(self) -> str:
        return self.name


def _torch_to_numpy(x):
    x = x.detach().cpu()
    return (x.float() if x.dtype == torch.bfloat16 else x).numpy()


NUMPY = Backend("numpy", np.asarray, np.asarray, lambda x: isinstance(x, np.ndarray), np.float32, np.float64)
TORCH = Backend("torch", torch.asarray, _torch_to_numpy, torch.is_tensor, torch.float32, torch.float64,
                (("float16", torch.float16), ("bfloat16", torch.bfloat16)))
# JAX compiles every eager operation once per dtype, so it gets one narrow dtype (the one TPUs
# train in); float16 is covered on PyTorch.
JAX = Backend("jax", jnp.asarray, lambda x: np.asarray(x.astype(jnp.float32) if x.dtype == jnp.bfloat16 else x),
              lambda x: isinstance(x, jax.Array), jnp.float32, jnp.float64, (("bfloat16", jnp.bfloat16),))
STRICT = Backend("array_api_strict", xps.asarray, np.from_dlpack, lambda x: isinstance(x, type(xps.asarray(0.0))),
                 xps.float32, xps.float64)

OPTIONAL_BACKENDS = []
try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - the test extra installs it
    tf = None
else:
    OPTIONAL_BACKENDS.append(Backend("tensorflow", tf.constant, lambda x: x.numpy(), lambda x: isinstance(x, tf.Tensor),
                                     tf.float32, tf.float64))
try:
    import dask.array as da
except ImportError:  # pragma: no cover
    da = None
else:
    OPTIONAL_BACKENDS.append(Backend("dask", lambda x: da.from_array(x, chunks=(2,) + x.shape[1:] if x.ndim else ()),
                                     lambda x: np.asarray(x.compute()), lambda x: isinstance(x, da.Array),
                                     np.float32, np.float64))

BACKENDS = [NUMPY, TORCH, JAX, STRICT, *OPTIONAL_BACKENDS]
OTHER_BACKENDS = [TORCH, JAX, STRICT, *OPTIONAL_BACKENDS]
NARROW = [(backend, dtype) for backend in (TORCH, JAX) for _, dtype in backend.narrow]
NARROW_IDS = [f"{backend.name}-{name}" for backend in (TORCH, JAX) for name, _ in backend.narrow]


def _convert(backend: Backend, value, dtype=None):
    """A NumPy array (or a parameter) in ``backend``; floats are cast to ``dtype`` when given."""
    if not isinstance(value, np.ndarray):
        return value
    array = backend.asarray(value)
    if dtype is not None and np.issubdtype(value.dtype, np.floating):
        array = namespace_of(x=array).astype(array, dtype)
    return array


def _inputs(backend: Backend, case, params: dict, dtype=None):
    y_true = _convert(backend, case.y_true, dtype)
    y_pred = _convert(backend, case.y_pred, dtype)
    weight = _convert(backend, case.sample_weight, dtype)
    converted = {name: _convert(backend, value, dtype) for name, value in params.items()}
    return y_true, y_pred, weight, converted


def assert_close(actual, expected, rtol=1e-12, atol=1e-13):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# Every loss with its non-default parameter settings (array parameters included), at the shape
# with the most axes: (5, 3) for pointwise losses, (2, 3, 4) for losses over a class axis.
PARAMETRIZED = [
    (loss, params_id, params)
    for loss in CATALOG
    for params_id, params in param_cases(loss, shapes(loss)[-1])
]
PARAMETRIZED_IDS = [f"{loss.name}-{params_id}" for loss, params_id, _ in PARAMETRIZED]


# ----------------------------------------------------------------------- same numbers everywhere

# JAX, TensorFlow and Dask see the defaults only here: JAX's eager mode compiles each operation per
# shape and dtype, and the parameters' code paths are library-independent array-API code that
# torch and array-api-strict already run (test_tensorflow.py and test_dask.py run them all).
MATCH_NUMPY = [
    (backend, loss, params_id, params)
    for loss, params_id, params in PARAMETRIZED
    for backend in OTHER_BACKENDS
    if backend in (TORCH, STRICT) or params_id == "defaults"
]


@pytest.mark.parametrize(
    "backend, loss, params_id, params", MATCH_NUMPY,
    ids=[f"{backend.name}-{loss.name}-{params_id}" for backend, loss, params_id, _ in MATCH_NUMPY],
)
def test_value_and_gradient_match_numpy(backend, loss, params_id, params):
    case = make_case(loss, shapes(loss)[-1], params)
    y_true, y_pred, weight, converted = _inputs(backend, case, params)
    for reduction in loss.reductions:
        options = dict(converted, sample_weight=weight, reduction=reduction)
        value, grad = loss.value_and_grad(y_true, y_pred, **options)
        expected_value, expected_grad = loss.value_and_grad(
            case.y_true, case.y_pred, **params, sample_weight=case.sample_weight, reduction=reduction
        )
        assert_close(backend.to_numpy(value), expected_value)
        assert_close(backend.to_numpy(grad), expected_grad)


@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_result_keeps_the_callers_library_device_and_dtype(backend, precision, loss):
    case = make_case(loss, shapes(loss)[-1])
    dtype = getattr(backend, precision)
    y_true, y_pred, weight, _ = _inputs(backend, case, {}, dtype)
    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=weight)
    for result in (value, grad, loss(y_true, y_pred, reduction=loss.reductions[0])):
        assert backend.is_array(result)
        assert result.dtype == dtype
        assert device_of(result) == device_of(y_pred)
    assert tuple(value.shape) == () and tuple(grad.shape) == tuple(y_pred.shape)


@pytest.mark.parametrize("backend, dtype", NARROW, ids=NARROW_IDS)
@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_narrow_floats_are_computed_in_float32_and_cast_back(backend, dtype, loss):
    case = make_case(loss, shapes(loss)[-1])
    y_true, y_pred, weight, _ = _inputs(backend, case, {}, dtype)
    xp = array_api_compat.array_namespace(y_pred)

    def widen(x):
        return x if x.dtype != dtype else xp.astype(x, xp.float32)

    for reduction in loss.reductions:
        value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=weight, reduction=reduction)
        # The narrow values widened to float32 are the reference: a narrow softmax row no longer
        # sums to 1 within float32's tolerance, so its value checks are off for that call.
        with lk.value_checks(False):
            wide_value, wide_grad = loss.value_and_grad(
                widen(y_true), widen(y_pred), sample_weight=widen(weight), reduction=reduction
            )
        assert value.dtype == dtype and grad.dtype == dtype
        np.testing.assert_array_equal(backend.to_numpy(value), backend.to_numpy(xp.astype(wide_value, dtype)))
        np.testing.assert_array_equal(backend.to_numpy(grad), backend.to_numpy(xp.astype(wide_grad, dtype)))


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_python_lists_give_numpy_float64(loss):
    case = make_case(loss, shapes(loss)[0])
    value, grad = loss.value_and_grad(case.y_true.tolist(), case.y_pred.tolist(),
                                      sample_weight=case.sample_weight.tolist())
    assert isinstance(value, np.ndarray) and value.dtype == np.float64 and value.shape == ()
    assert isinstance(grad, np.ndarray) and grad.dtype == np.float64
    assert_close(value, loss(case.y_true, case.y_pred, sample_weight=case.sample_weight))


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "hinge", "poisson"])
def test_python_ints_give_numpy_float64(name):
    value = lk.get(name)([1, 0, 1], [2, 1, 1])
    assert isinstance(value, np.ndarray) and value.dtype == np.float64


MIXED = [(first, second) for first in BACKENDS for second in BACKENDS if first is not second]


@pytest.mark.parametrize("first, second", MIXED, ids=[f"{a.name}-{b.name}" for a, b in MIXED])
def test_mixing_array_libraries_in_one_call_raises_type_error(first, second):
    with pytest.raises(TypeError, match="y_true is a .* array, y_pred is a .* array"):
        lk.mse(first.asarray(np.ones(3)), second.asarray(np.ones(3)))


# ------------------------------------------------------------------------ autograd and tracing

@pytest.mark.parametrize("loss, params_id, params", PARAMETRIZED, ids=PARAMETRIZED_IDS)
def test_torch_autograd_gives_finite_gradients_equal_to_the_hand_gradient(loss, params_id, params):
    case = make_case(loss, shapes(loss)[-1], params)
    y_true, y_pred, weight, converted = _inputs(TORCH, case, params)
    for reduction in loss.reductions:
        prediction = y_pred.clone().requires_grad_(True)
        value = loss(y_true, prediction, **converted, sample_weight=weight, reduction=reduction)
        value.sum().backward()
        assert bool(torch.isfinite(prediction.grad).all())
        hand = loss.grad(y_true, y_pred, **converted, sample_weight=weight, reduction=reduction)
        torch.testing.assert_close(prediction.grad, hand, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", [loss for loss in CATALOG if "ignore_index" in loss.defaults],
                         ids=lambda loss: loss.name)
def test_torch_autograd_of_an_all_ignored_batch_is_zero_not_nan(loss):
    probabilities = torch.full((2, 3, 4), 0.25, dtype=torch.float64, requires_grad=True)
    labels = torch.full((2, 3), -100)
    weights = {"class_weight": torch.ones(4, dtype=torch.float64)} if "class_weight" in loss.defaults else {}
    value = loss(labels, probabilities, ignore_index=-100, **weights)
    value.backward()
    assert float(value.detach()) == 0.0
    assert bool((probabilities.grad == 0).all())


@functools.lru_cache(maxsize=None)
def _compiled(loss: lk.Loss):
    """The weighted mean's value, hand gradient and jax.grad, computed under jax.jit.

    One compilation per loss serves the two tests below (a compilation costs a fraction of a
    second). The eager reference is NumPy, which JAX's eager mode equals (see above): eager
    jax.grad would compile every backward operation one by one.
    """
    case = make_case(loss, shapes(loss)[-1])
    y_true, y_pred, weight, _ = _inputs(JAX, case, {})

    # Labels and weights are closed over, as in a training step: they stay concrete arrays while
    # everything computed from them inside the trace is traced.
    def evaluate(y_pred):
        def cost(y_pred):
            return loss(y_true, y_pred, sample_weight=weight)

        value, hand_grad = loss.value_and_grad(y_true, y_pred, sample_weight=weight)
        return value, hand_grad, jax.grad(cost)(y_pred)

    compiled = jax.jit(evaluate)(y_pred)
    eager = loss.value_and_grad(case.y_true, case.y_pred, sample_weight=case.sample_weight)
    return [np.asarray(result) for result in compiled], eager


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_jit_compiled_loss_equals_the_eager_loss(loss):
    (value, hand_grad, _), (eager_value, eager_grad) = _compiled(loss)
    assert_close(value, eager_value)
    assert_close(hand_grad, eager_grad)


@pytest.mark.parametrize("loss", CATALOG, ids=LOSS_IDS)
def test_jax_grad_under_jit_equals_the_hand_gradient(loss):
    (_, hand_grad, autodiff), _ = _compiled(loss)
    assert np.all(np.isfinite(autodiff))
    assert_close(autodiff, hand_grad, rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------- value checks and tracers

def _out_of_domain(loss: lk.Loss, case):
    """Inputs of the right shape and dtype whose values the loss rejects (eagerly)."""
    y_true = case.y_true.copy()
    if loss.label_format in ("non-negative", "counts", "positive"):
        y_true.flat[0] = -0.5
    elif loss.label_format == "binary":
        y_true.flat[0] = 2.0
    elif loss.label_format == "signed":
        y_true.flat[0] = 3.0
    elif loss.label_format in ("one-hot", "distribution"):
        y_true = 2.0 * y_true  # rows sum to 2
    elif loss.label_format == "integer":
        y_true.flat[0] = -1  # a class index below 0 (NumPy and JAX index it without an error)
    return y_true, case.y_pred


CHECKED = [loss for loss in CATALOG if loss.label_format != "real"]


def test_every_label_format_but_real_values_has_value_checks():
    # Keeps _out_of_domain complete: a new label format must say what is out of its domain.
    assert {loss.label_format for loss in CHECKED} == set(lk.LABEL_FORMATS) - {"real"}


@pytest.mark.parametrize("loss", CHECKED, ids=lambda loss: loss.name)
def test_jit_skips_value_checks_on_tracers(loss):
    y_true, y_pred = _out_of_domain(loss, make_case(loss, shapes(loss)[-1]))
    with pytest.raises(ValueError, match="y_true"):
        loss(jnp.asarray(y_true), jnp.asarray(y_pred))
    value = jax.jit(lambda y_true, y_pred: loss(y_true, y_pred))(jnp.asarray(y_true), jnp.asarray(y_pred))
    assert value.shape == ()


@pytest.mark.parametrize("loss", CHECKED, ids=lambda loss: loss.name)
def test_value_checks_can_be_switched_off_and_back_on(loss):
    y_true, y_pred = _out_of_domain(loss, make_case(loss, shapes(loss)[0]))
    with lk.value_checks(False):
        value = loss(y_true, y_pred)
    assert value.shape == ()
    with pytest.raises(ValueError, match="y_true"):
        loss(y_true, y_pred)


def test_value_checks_off_still_checks_shapes_and_parameters():
    with lk.value_checks(False):
        with pytest.raises(ValueError, match="shape"):
            lk.mse(np.ones(3), np.ones((3, 1)))
        with pytest.raises(ValueError, match="delta"):
            lk.huber(np.ones(3), np.ones(3), delta=-1.0)


def test_value_checks_are_restored_after_an_exception():
    with pytest.raises(RuntimeError):
        with lk.value_checks(False):
            raise RuntimeError("inside")
    with pytest.raises(ValueError, match="y_pred"):
        lk.bce(np.ones(2), np.array([0.5, 1.5]))


def test_narrow_probability_rows_pass_the_sum_check_at_their_own_precision():
    # softmax rows rounded to bfloat16 sum to 1 only within ~2^-8; float32's tolerance is 3e-4.
    logits = np.random.default_rng(0).normal(size=(64, 10))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    narrow = torch.asarray(probabilities).to(torch.bfloat16)
    assert float((narrow.float().sum(-1) - 1).abs().max()) > math.sqrt(np.finfo(np.float32).eps)
    value = lk.sparse_categorical_cross_entropy(torch.zeros(64, dtype=torch.int64), narrow)
    assert value.dtype == torch.bfloat16 and bool(torch.isfinite(value))


@pytest.mark.parametrize(
    "name, y_true, y_pred",
    [
        ("binary_cross_entropy", [True, False], [0.75, 0.25]),
        ("hinge", [True, False], [0.5, -0.5]),
        ("softmax_cross_entropy", [[True, False]], [[0.5, 0.25]]),
        ("mean_squared_logarithmic_error", [1, 2], [1, 3]),
        ("poisson", [1, 2], [1, 3]),
    ],
)
def test_bool_and_integer_inputs_are_checked_and_computed_on_array_api_strict(name, y_true, y_pred):
    # array-api-strict refuses comparisons of bool arrays with numbers, so value checks must see
    # the inputs as floats, exactly as the kernel does.
    import array_api_strict as xs

    loss = lk.get(name)
    strict = float(loss(xs.asarray(y_true), xs.asarray(y_pred)))
    expected = float(loss(np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)))
    assert strict == pytest.approx(expected, rel=1e-12)
