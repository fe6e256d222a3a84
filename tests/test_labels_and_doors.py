"""Labels, parameters and doors: no bad input becomes a number, and every door gives the catalog's.

Regression tests of issue 10 ("Labels and parameters" and the door disagreements):

* integer labels of every integer dtype work on NumPy, PyTorch and JAX, in the functional losses,
  the torch modules and the Keras losses;
* non-integer, NaN and out-of-range labels raise ``ValueError``/``TypeError`` naming the argument
  on every door (the Keras losses receive labels as floats: integral floats are accepted);
* PyTorch's -100 is an ignore_index only where the user passes it (or uses the PyTorch-named
  ``CrossEntropyLoss`` alias, which keeps PyTorch's defaults);
* NaN parameters, NaN entries of array parameters and NaN sample weights raise;
* Python lists next to a float64 array are converted at float64; ml_dtypes.bfloat16 is accepted;
* torch autograd gives the analytic gradient of the predictions even when the labels or the
  sample weights require grad too; every native twin's autograd gradient equals the reference
  at each edge value taken on its own (where the data-checked twins accept the call).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import losskit as lk
from losskit import _kernels
from _edge_cases import edge_case

torch = pytest.importorskip("torch")
lkt = pytest.importorskip("losskit.torch")

SPARSE = [loss for loss in lk.catalog() if loss.kind == "sparse"]
SPARSE_IDS = [loss.name for loss in SPARSE]
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
TORCH_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _predictions(loss, rows=3, classes=4, seed=0):
    x = np.random.default_rng(seed).normal(size=(rows, classes))
    if loss.prediction_space == "probabilities":
        x = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    return x


# ------------------------------------------------------------------------------ integer dtypes

@pytest.mark.parametrize("loss", SPARSE, ids=SPARSE_IDS)
@pytest.mark.parametrize("library", ["numpy", "torch", "jax"])
def test_integer_labels_of_every_integer_dtype_give_the_int64_result(loss, library):
    x = _predictions(loss)
    expected = float(loss(np.array([0, 1, 3]), x))
    expected_grad = loss.grad(np.array([0, 1, 3]), x)
    for dtype in INT_DTYPES:
        labels = np.array([0, 1, 3]).astype(dtype)
        if library == "torch":
            try:
                labels = torch.from_numpy(labels)
            except TypeError:
                continue  # torch has no such dtype
            logits = torch.tensor(x, requires_grad=True)
            value = loss(labels, logits)
            value.backward()
            grad = logits.grad.numpy()
        elif library == "jax":
            jax = pytest.importorskip("jax")
            labels, logits = jax.numpy.asarray(labels), jax.numpy.asarray(x)
            value = loss(labels, logits)
            grad = np.asarray(jax.grad(lambda p: loss(labels, p))(logits))
        else:
            value, grad = loss(labels, x), loss.grad(labels, x)
        np.testing.assert_allclose(float(value), expected, rtol=1e-5, err_msg=dtype)
        np.testing.assert_allclose(np.asarray(grad, dtype=np.float64), expected_grad, rtol=1e-4, atol=1e-7, err_msg=dtype)


@pytest.mark.parametrize("loss", SPARSE, ids=SPARSE_IDS)
def test_torch_modules_take_every_torch_integer_dtype(loss):
    x = _predictions(loss)
    expected_grad = loss.grad(np.array([0, 1, 3]), x)
    module = lkt.module_class(loss.name)()
    for dtype in TORCH_INT_DTYPES:
        logits = torch.tensor(x, requires_grad=True)
        module(logits, torch.tensor([0, 1, 3], dtype=dtype)).backward()
        np.testing.assert_allclose(logits.grad.numpy(), expected_grad, rtol=1e-10, atol=1e-12, err_msg=str(dtype))


# ------------------------------------------------------------------------------ bad labels

BAD_INTEGER_LABELS = [[0, 4, 2], [0, -1, 2], [0, -100, 2]]


@pytest.mark.parametrize("loss", SPARSE, ids=SPARSE_IDS)
@pytest.mark.parametrize("labels", BAD_INTEGER_LABELS, ids=["4", "-1", "-100"])
@pytest.mark.parametrize("library", ["numpy", "torch", "jax"])
def test_out_of_range_labels_raise_value_error_naming_y_true(loss, labels, library):
    x = _predictions(loss)
    y = np.array(labels)
    if library == "torch":
        y, x = torch.tensor(y), torch.tensor(x, requires_grad=True)
    elif library == "jax":
        jnp = pytest.importorskip("jax").numpy
        y, x = jnp.asarray(y), jnp.asarray(x)
    with pytest.raises(ValueError, match="y_true must hold class indices"):
        loss(y, x)


@pytest.mark.parametrize("loss", SPARSE, ids=SPARSE_IDS)
@pytest.mark.parametrize("labels", BAD_INTEGER_LABELS, ids=["4", "-1", "-100"])
@pytest.mark.parametrize("ignore_index", [None, -100])
def test_torch_modules_refuse_out_of_range_labels_with_value_error(loss, labels, ignore_index):
    if ignore_index is not None and labels == [0, -100, 2]:
        pytest.skip("-100 is the ignored label here")
    x = torch.tensor(_predictions(loss), requires_grad=True)
    module = lkt.module_class(loss.name)(ignore_index=ignore_index)
    with pytest.raises(ValueError, match="class indices"):
        module(x, torch.tensor(labels))


@pytest.mark.parametrize("loss", SPARSE, ids=SPARSE_IDS)
def test_minus_100_is_not_an_ignore_index_unless_passed(loss):
    x = _predictions(loss)
    module = lkt.module_class(loss.name)()
    with pytest.raises(ValueError, match="class indices"):
        module(torch.tensor(x), torch.tensor([0, -100, 2]))
    ignoring = lkt.module_class(loss.name)(ignore_index=-100)
    value = ignoring(torch.tensor(x), torch.tensor([0, -100, 2]))
    expected = loss(np.array([0, 2]), x[[0, 2]])
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-12)


def test_the_pytorch_named_cross_entropy_alias_keeps_pytorchs_ignore_index():
    x = torch.tensor(_predictions(lk.sparse_softmax_cross_entropy))
    value = lkt.CrossEntropyLoss()(x, torch.tensor([0, -100, 2]))
    expected = torch.nn.functional.cross_entropy(x, torch.tensor([0, -100, 2]))
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-12)
    with pytest.raises(ValueError, match="class indices"):
        lkt.CrossEntropyLoss(ignore_index=-1)(x, torch.tensor([0, -100, 2]))
    with pytest.raises(ValueError, match="class indices"):
        lkt.CrossEntropyLoss()(x, torch.tensor([0, 4, 2]))


@pytest.mark.parametrize("loss", SPARSE, ids=SPARSE_IDS)
@pytest.mark.parametrize("labels", [[0.0, 1.7, 2.0], [0.0, math.nan, 2.0]], ids=["1.7", "nan"])
def test_float_labels_are_refused_by_the_functional_and_the_modules(loss, labels):
    x = _predictions(loss)
    with pytest.raises(TypeError, match="y_true .* must be integer class indices"):
        loss(np.array(labels), x)
    with pytest.raises(TypeError, match="target .* must be integer class indices"):
        lkt.module_class(loss.name)()(torch.tensor(x), torch.tensor(labels))


def test_module_value_checks_default_to_on_for_cpu_tensors_and_can_be_switched_off():
    module = lkt.SparseSoftmaxFocal()
    assert module.check_values is None  # automatic: on for CPU tensors, off on accelerators
    with pytest.raises(ValueError, match="class indices"):
        module(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"y_pred must be a probability"):
        lkt.BinaryCrossEntropy()(torch.tensor([1.5]), torch.tensor([1.0]))
    # Explicitly off: no value is read (the caller vouches for the data).
    lkt.BinaryCrossEntropy(check_values=False)(torch.tensor([0.5]), torch.tensor([1.0]))


# ------------------------------------------------------------------------------ parameters

@pytest.mark.parametrize("name, params", [
    ("sigmoid_cross_entropy", {"pos_weight": math.nan}),
    ("sigmoid_cross_entropy", {"pos_weight": [1.0, math.nan, 1.0]}),
    ("softmax_cross_entropy", {"class_weight": [1.0, math.nan, 1.0]}),
    ("sparse_softmax_cross_entropy", {"class_weight": np.array([1.0, 1.0, math.nan])}),
    ("softmax_focal", {"class_weight": [math.nan, 1.0, 1.0]}),
    ("huber", {"delta": math.nan}),
    ("sigmoid_focal", {"alpha": math.nan}),
    ("sigmoid_focal", {"gamma": math.nan}),
    ("sparse_softmax_cross_entropy", {"z_loss": math.nan}),
    ("softmax_cross_entropy", {"label_smoothing": math.nan}),
    ("margin_ranking", {"margin": math.nan}),
])
def test_nan_parameters_raise_naming_the_parameter(name, params):
    loss = lk.get(name)
    from _cases import make_case

    shape = (5, 3) if loss.kind != "pointwise" else (5, 3)
    args = make_case(loss, shape).args
    parameter = next(iter(params))
    with pytest.raises(ValueError, match=f"{parameter}"):
        loss(*args, **params)
    with pytest.raises(ValueError, match=f"{parameter}"):
        lkt.module_class(name)(**params)(*_module_order(loss, args))


def _module_order(loss, args):
    tensors = [torch.as_tensor(a) for a in args]
    if not loss.has_target:
        return tensors
    if lkt.module_class(loss.name).target_last:
        return [*tensors[1:], tensors[0]]
    return [tensors[1], tensors[0], *tensors[2:]]


def test_every_scalar_parameter_of_the_catalog_refuses_nan():
    from _cases import make_case

    for loss in lk.catalog():
        for param in loss.params:
            if param.is_array or not isinstance(param.default, float) or param.name == "chunk_size":
                continue
            with pytest.raises((ValueError, TypeError), match=param.name):
                loss.bind_params({param.name: math.nan})


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_nan_sample_weight_raises_naming_sample_weight(library):
    y, p, w = np.zeros(3), np.ones(3), np.array([1.0, math.nan, 1.0])
    if library == "torch":
        y, p, w = (torch.tensor(a) for a in (y, p, w))
    with pytest.raises(ValueError, match="sample_weight must be .*found nan"):
        lk.mse(y, p, sample_weight=w)


# ------------------------------------------------------------------------------ conversions

def test_a_list_next_to_a_float64_tensor_is_converted_at_float64():
    value = lk.mse([0.1], torch.tensor([0.3], dtype=torch.float64))
    assert value.dtype == torch.float64
    assert float(value) == (0.1 - 0.3) ** 2
    value = lk.mse(torch.tensor([0.1, 0.2], dtype=torch.float64), [0.3, 0.7], sample_weight=[0.1, 0.3])
    assert float(value) == float(lk.mse(np.array([0.1, 0.2]), np.array([0.3, 0.7]), sample_weight=np.array([0.1, 0.3])))
    # A list target of a float32 prediction stays float32, as NumPy's and the array API's weak scalars.
    assert lk.mse([0.1], torch.tensor([0.3])).dtype == torch.float32


def _enable_x64(jax, enabled=True):
    # conftest.py enables x64 for the session; the run without it is a subprocess (below).
    import contextlib

    if not jax.config.jax_enable_x64:
        pytest.skip("needs jax_enable_x64 (conftest.py sets it)")
    return contextlib.nullcontext()


def test_a_list_next_to_a_float64_jax_array_is_converted_at_its_dtype():
    jax = pytest.importorskip("jax")
    with _enable_x64(jax, ):
        value = lk.mse([0.1], jax.numpy.asarray([0.3], dtype=jax.numpy.float64))
        assert float(value) == (0.1 - 0.3) ** 2


def test_numpy_bfloat16_arrays_are_accepted_and_computed_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = ml_dtypes.bfloat16
    y, p = np.array([0.0, 1.0, 2.0], dtype=bf16), np.array([0.5, 1.0, 4.0], dtype=bf16)
    value = lk.mse(y, p)
    assert value.dtype == bf16
    expected = lk.mse(y.astype(np.float32), p.astype(np.float32))
    assert float(value) == float(np.asarray(expected).astype(bf16))
    grad = lk.mse.grad(y, p)
    assert grad.dtype == bf16
    np.testing.assert_allclose(grad.astype(np.float64), lk.mse.grad(y.astype(np.float32), p.astype(np.float32)), rtol=1e-2)
    labels = np.array([0, 2])
    logits = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0]], dtype=bf16)
    assert lk.sparse_softmax_cross_entropy(labels, logits).dtype == bf16


# ------------------------------------------------------------------------------ autograd doors

def test_torch_prediction_gradient_is_analytic_when_the_target_also_requires_grad():
    y = torch.tensor([1.0, 0.0, 2.0], requires_grad=True)
    rate = torch.tensor([0.0, 0.0, 1e-14], requires_grad=True)
    lk.poisson(y, rate).backward()
    np.testing.assert_allclose(rate.grad.numpy(), lk.poisson.grad(np.array([1.0, 0.0, 2.0]), np.array([0.0, 0.0, 1e-14])),
                               rtol=1e-6)
    assert y.grad is not None and torch.isfinite(y.grad).all()
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    p = a.detach().clone().requires_grad_()
    lk.root_mean_squared_error(a, p).backward()
    assert p.grad.tolist() == [0.0, 0.0] and a.grad.tolist() == [0.0, 0.0]


def test_torch_prediction_gradient_is_analytic_when_the_sample_weight_requires_grad():
    y = torch.tensor([1.0, 0.0, 2.0])
    rate = torch.tensor([0.0, 0.0, 1e-14], requires_grad=True)
    weight = torch.tensor([1.0, 2.0, 1.0], requires_grad=True)
    lk.poisson(y, rate, sample_weight=weight).backward()
    expected = lk.poisson.grad(y.numpy(), rate.detach().numpy(), sample_weight=weight.detach().numpy())
    np.testing.assert_allclose(rate.grad.numpy(), expected, rtol=1e-6)
    reference = lk.poisson(y, rate.detach(), reduction="none")
    np.testing.assert_allclose(weight.grad.numpy(), (reference / 4.0 - float(lk.poisson(y, rate.detach(), sample_weight=weight.detach())) / 4.0).numpy(), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jax_gradients_follow_the_floors_and_the_perfect_fit_rule(dtype):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with _enable_x64(jax, dtype == "float64"):
        y, rate = jnp.asarray([1.0, 0.0, 2.0], dtype=dtype), jnp.asarray([0.0, 0.0, 1e-14], dtype=dtype)
        for grad in (jax.grad(lambda r: lk.poisson(y, r)), jax.jit(jax.grad(lambda r: lk.poisson(y, r)))):
            np.testing.assert_allclose(np.asarray(grad(rate)), lk.poisson.grad(np.asarray(y), np.asarray(rate)), rtol=1e-6)
        e = jnp.asarray([0.0, 1e20, -3e19, 1.0], dtype=dtype)
        np.testing.assert_allclose(np.asarray(jax.grad(lambda p: lk.pseudo_huber(jnp.zeros_like(p), p))(e)),
                                   lk.pseudo_huber.grad(np.zeros(4, dtype), np.asarray(e)), rtol=1e-6)
        for loss in (lk.root_mean_squared_error, lk.root_mean_squared_logarithmic_error):
            a = jnp.asarray([1.0, 2.0], dtype=dtype)
            grads = jax.grad(lambda t, p: loss(t, p), argnums=(0, 1))(a, a)
            assert [np.asarray(g).tolist() for g in grads] == [[0.0, 0.0], [0.0, 0.0]], loss.name


def test_jax_gradient_floors_without_x64():
    pytest.importorskip("jax")
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np, losskit as lk
        assert not jax.config.jax_enable_x64
        y, r = jnp.asarray([1.0, 0.0, 2.0]), jnp.asarray([0.0, 0.0, 1e-14])
        for grad in (jax.grad(lambda r: lk.poisson(y, r)), jax.jit(jax.grad(lambda r: lk.poisson(y, r)))):
            np.testing.assert_allclose(np.asarray(grad(r)), lk.poisson.grad(np.asarray(y), np.asarray(r)), rtol=1e-6)
        e = jnp.asarray([0.0, 1e20, -3e19, 1.0])
        np.testing.assert_allclose(np.asarray(jax.grad(lambda p: lk.pseudo_huber(jnp.zeros_like(p), p))(e)),
                                   lk.pseudo_huber.grad(np.zeros(4, "float32"), np.asarray(e)), rtol=1e-6)
        a = jnp.asarray([1.0, 2.0])
        for loss in (lk.root_mean_squared_error, lk.root_mean_squared_logarithmic_error):
            grads = jax.grad(lambda t, p: loss(t, p), argnums=(0, 1))(a, a)
            assert [np.asarray(g).tolist() for g in grads] == [[0.0, 0.0], [0.0, 0.0]], (loss.name, grads)
        print("ok")
    """)
    env = dict(os.environ, JAX_ENABLE_X64="0")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_module_gradients_follow_the_floors_and_the_perfect_fit_rule(dtype):
    for module, target, prediction in (
        (lkt.BinaryCrossEntropy(), [1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]),
        (lkt.Poisson(), [1.0, 0.0, 2.0], [0.0, 0.0, 1e-14]),
        (lkt.RootMeanSquaredError(), [1.0, 2.0], [1.0, 2.0]),
        (lkt.RootMeanSquaredLogarithmicError(), [1.0, 2.0], [1.0, 2.0]),
        (lkt.PseudoHuber(), [0.0, 0.0, 0.0], [1e20, -3e19, 1.0]),
    ):
        p = torch.tensor(prediction, dtype=dtype, requires_grad=True)
        module(p, torch.tensor(target, dtype=dtype)).backward()
        expected = module.loss.grad(np.array(target, dtype=str(dtype)[6:]), np.array(prediction, dtype=str(dtype)[6:]))
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-6, err_msg=module.loss.name)


# Each edge value on its own: a data-checked native twin accepts the calls whose other elements
# (NaN, inf) would otherwise send the whole edge array to another kernel.
def _single_edge_calls(loss, dtype):
    args = edge_case(loss, 24, dtype)
    if loss.kind == "overlap":
        yield args
        return
    for i in range(args[0].shape[0]):
        yield tuple(a[i:i + 1] for a in args)


NATIVE = [k for k in _kernels.kernels(backend="torch") if k.style == "native"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kernel", NATIVE, ids=lambda k: f"{k.loss}-{k.name}")
def test_native_twin_autograd_equals_the_reference_at_each_edge_value(kernel):
    loss = lk.get(kernel.loss)
    for dtype in (np.float64, np.float32):
        for args in _single_edge_calls(loss, dtype):
            for reduction in loss.reductions:
                tensors = [torch.as_tensor(a) for a in args]
                try:
                    call = loss.prepare(tuple(tensors), {"reduction": reduction}, order=0)
                except ValueError:
                    continue
                predictions = tuple(p.detach().clone().requires_grad_(True) for p in call.predictions)
                differentiable = call.replace(predictions=predictions)
                if not kernel.accepts(differentiable):
                    continue
                value = kernel.fn(differentiable)
                value.sum().backward()
                with torch.no_grad():
                    expected_value, expected_grads, _ = _kernels.run(call.replace(order=1), reference=True)
                what = f"{kernel.name} {dtype.__name__} {reduction} at {[a.tolist() for a in args]}"
                rtol = 1e-10 if dtype == np.float64 else 1e-5
                np.testing.assert_allclose(value.detach().double().numpy(), expected_value.double().numpy(),
                                           rtol=rtol, atol=rtol, err_msg="value of " + what)
                for p, g in zip(predictions, expected_grads):
                    np.testing.assert_allclose(p.grad.double().numpy(), g.double().numpy(), rtol=rtol, atol=rtol,
                                               err_msg="gradient of " + what)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss", [loss for loss in lk.catalog() if loss.kind != "overlap"], ids=lambda loss: loss.name)
def test_module_value_and_gradient_equal_the_catalog_at_each_edge_value(loss):
    try:
        cls = lkt.module_class(loss.name)
    except ValueError:
        pytest.skip("no module")
    for dtype in (np.float64, np.float32):
        for args in _single_edge_calls(loss, dtype):
            for reduction in ("mean", "sum"):
                try:
                    with np.errstate(all="ignore"):
                        expected_value, expected_grads = loss.value_and_grad(*args, reduction=reduction)
                except ValueError:
                    continue
                expected_grads = expected_grads if isinstance(expected_grads, tuple) else (expected_grads,)
                tensors = [torch.as_tensor(a) for a in args]
                if loss.has_target:
                    predictions = [t.clone().requires_grad_(True) for t in tensors[1:]]
                    inputs = _module_order(loss, [tensors[0], *predictions])
                else:
                    predictions = [t.clone().requires_grad_(True) for t in tensors]
                    inputs = predictions
                value = cls(reduction=reduction)(*inputs)
                value.backward()
                what = f"{loss.name} {dtype.__name__} {reduction} at {[a.tolist() for a in args]}"
                rtol = 1e-10 if dtype == np.float64 else 1e-5
                np.testing.assert_allclose(value.detach().double().numpy(), np.asarray(expected_value, np.float64),
                                           rtol=rtol, atol=rtol, err_msg="value of " + what)
                for p, g in zip(predictions, expected_grads):
                    np.testing.assert_allclose(p.grad.double().numpy(), np.asarray(g, np.float64), rtol=rtol,
                                               atol=rtol * max(1.0, float(np.nanmax(np.abs(np.where(np.isfinite(g), g, 0)), initial=0))),
                                               err_msg="gradient of " + what)


# ------------------------------------------------------------------------------ Keras

def _run_keras(backend: str, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)


KERAS_LABELS = """
    import math, numpy as np, keras, losskit as lk, losskit.keras as lkk
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    probabilities = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    for name in {names!r}:
        cls, loss = lkk.loss_class(name), lk.get(name)
        pred = probabilities if loss.prediction_space == "probabilities" else x
        expected = float(loss(np.array([0, 1, 3]), pred))
        for dtype in ("int8", "int16", "int32", "int64", "uint8", "float32", "float64"):
            value = float(cls()(np.array([0, 1, 3]).astype(dtype), pred))
            assert abs(value - expected) < 1e-5 * abs(expected), (name, dtype, value, expected)
        for bad in ([0.0, 1.7, 2.0], [0.0, math.nan, 2.0], [0.0, 4.0, 2.0], [0.0, -1.0, 2.0], [0.0, -100.0, 2.0]):
            try:
                value = cls()(np.array(bad, dtype="float32"), pred)
            except ValueError as exc:
                assert "y_true" in str(exc), (name, bad, str(exc))
            else:
                raise AssertionError(f"{{name}} turned labels {{bad}} into {{float(value)}}")
        masked = float(cls(ignore_index=-100)(np.array([0.0, -100.0, 2.0], dtype="float32"), pred))
        assert abs(masked - float(loss(np.array([0, 2]), pred[[0, 2]]))) < 1e-5
    print("ok")
"""

KERAS_FIT = """
    import numpy as np, keras, losskit.keras as lkk
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 5)).astype("float32")
    labels = rng.integers(0, 3, size=64).astype("{label_dtype}")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=lkk.SparseSoftmaxCrossEntropy())
    history = model.fit(features, labels, epochs=2, batch_size=16, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    bad = labels.astype("float32"); bad[3] = 1.7
    # An eager step raises; a traced (compiled) step cannot read values: a bad label poisons the
    # loss instead of counting as class 1.
    try:
        history = model.fit(features, bad, epochs=1, batch_size=16, verbose=0)
    except ValueError as exc:
        assert "y_true" in str(exc), str(exc)
    else:
        assert not np.isfinite(history.history["loss"][-1]), history.history
    print("ok")
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_sparse_losses_take_integer_labels_of_any_dtype_and_refuse_bad_ones(backend):
    pytest.importorskip("keras")
    pytest.importorskip(backend)
    names = [loss.name for loss in SPARSE]
    result = _run_keras(backend, KERAS_LABELS.format(names=names))
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("backend, label_dtype", [("jax", "uint8"), ("torch", "int32")])
def test_keras_model_fit_with_a_sparse_loss(backend, label_dtype):
    pytest.importorskip("keras")
    pytest.importorskip(backend)
    result = _run_keras(backend, KERAS_FIT.format(label_dtype=label_dtype))
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
