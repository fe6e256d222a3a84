"""The numerical policy (docs/numerics.md), on every path: the reference kernels, the fused NumPy
kernels, the PyTorch kernels and native twins, and the autodiff bridges.

1. NaN in any input gives NaN in the value and in the gradient of the affected elements.
2. A result that overflows its dtype is inf (IEEE), never a clipped finite number (float16 too).
3. Intermediates do not overflow where the result is representable (RMSE as a scaled norm,
   soft-label cross-entropies at logits of +-3e38, pseudo-Huber's autodiff at huge residuals).
4. Gradient floors are per dtype: 1e-12, and 2^-14 for float16 results.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import losskit as lk
from losskit import _kernels
from losskit.backends.numpy_fused import FUSED_MIN_ELEMENTS
from _cases import make_case, shapes

torch = pytest.importorskip("torch")

# NaN and inf inputs make NumPy warn ("invalid value"); here they are the point.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

CATALOG = lk.catalog()


def _float_inputs(loss, case):
    """(position, name, array) of every floating input of a case (NaN can only be put in those)."""
    arrays = ([case.y_true] if loss.has_target else []) + [case.y_pred, *case.more_predictions]
    names = (["y_true"] if loss.has_target else []) + list(loss.inputs)
    return arrays, [(i, n) for i, (n, a) in enumerate(zip(names, arrays)) if np.issubdtype(np.asarray(a).dtype, np.floating)]


def _gradient_of(loss, grads, position):
    """The gradient that shares an element with input ``position`` (y_true: the first prediction's)."""
    grads = grads if isinstance(grads, tuple) else (grads,)
    index = position - 1 if loss.has_target else position
    return grads[max(index, 0)]


def _large_shape(loss):
    if loss.kind == "pointwise":
        return (FUSED_MIN_ELEMENTS + 5,)
    return (FUSED_MIN_ELEMENTS // 4 + 3, 4)


PATHS = ("reference", "dispatch", "fused", "torch")


def _nan_cases():
    for loss in CATALOG:
        for path in PATHS:
            if path == "fused" and not _kernels.kernels(loss.name, "numpy"):
                continue
            if path == "fused" and loss.kind not in ("pointwise", "sparse"):
                continue
            yield pytest.param(loss, path, id=f"{loss.name}-{path}")


def _run(loss, arrays, path):
    if path == "torch":
        arrays = [torch.as_tensor(a) for a in arrays]
    context = lk.reference_only() if path == "reference" else contextlib.nullcontext()
    with context, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "invalid value" for NaN arithmetic
        value, grads = loss.value_and_grad(*arrays)
    to_numpy = (lambda x: x.numpy()) if path == "torch" else np.asarray
    grads = tuple(map(to_numpy, grads)) if isinstance(grads, tuple) else to_numpy(grads)
    return float(to_numpy(value)), grads


@pytest.mark.parametrize("loss, path", list(_nan_cases()))
def test_nan_in_any_input_gives_nan_value_and_gradient(loss, path):
    shape = _large_shape(loss) if path == "fused" else shapes(loss)[0]
    case = make_case(loss, shape)
    arrays, positions = _float_inputs(loss, case)
    failures = []
    for position, name in positions:
        size = np.asarray(arrays[position]).size
        for flat in sorted({0, 1, size - 1}):
            injected = [np.array(a, copy=True) for a in arrays]
            injected[position].flat[flat] = np.nan
            if name == "y_true" and loss.label_format == "signed":
                # A NaN label is no label: the signed losses refuse it (labels are validated).
                with pytest.raises(ValueError, match="y_true"):
                    _run(loss, injected, path)
                continue
            value, grads = _run(loss, injected, path)
            if not np.isnan(value):
                failures.append(f"{name}[{flat}]: value {value}")
            grad = _gradient_of(loss, grads, position)
            if grad.shape == injected[position].shape and not np.isnan(grad.flat[flat]):
                failures.append(f"{name}[{flat}]: gradient {grad.flat[flat]}")
    assert not failures, f"{loss.name} on {path}: NaN swallowed at " + "; ".join(failures)


# ---------------------------------------------------------------- 1. NaN: the known violations

def test_poisson_nan_target_gives_nan():
    value, grad = lk.poisson.value_and_grad(np.array([np.nan, 2.0]), np.array([1.0, 1.0]), reduction="none")
    assert np.isnan(value[0]) and np.isnan(grad[0]) and value[1] == 1.0 - 2.0 * np.log(1.0)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_kl_divergence_nan_target_gives_nan_not_zero(library):
    y = np.array([[np.nan, 0.5], [0.5, 0.5]])
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    arrays = (torch.as_tensor(y), torch.as_tensor(p)) if library == "torch" else (y, p)
    value = np.asarray(lk.kl_divergence(*arrays, reduction="none"))
    assert np.isnan(value[0]) and value[1] == 0.0


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("name", ["categorical_cross_entropy", "sparse_categorical_cross_entropy"])
def test_nan_probability_of_a_non_label_class_makes_the_row_nan(name, library):
    loss = lk.get(name)
    y = np.array([0, 0]) if loss.kind == "sparse" else np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.5, np.nan, 0.5], [0.5, 0.25, 0.25]])
    arrays = (torch.as_tensor(y), torch.as_tensor(p)) if library == "torch" else (y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value, grad = loss.value_and_grad(*arrays, reduction="none")
    value, grad = np.asarray(value), np.asarray(grad)
    assert np.isnan(value[0]) and value[1] == pytest.approx(-np.log(0.5))
    assert np.isnan(grad[0, 1]) and np.isfinite(grad[1]).all()


@pytest.mark.parametrize("path", ["generic", "fused"])
@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "modified_huber", "logistic", "quantile",
                                  "epsilon_insensitive", "mean_absolute_error", "huber"])
def test_margin_and_piecewise_losses_give_nan_gradient_at_a_nan_score(name, path):
    loss = lk.get(name)
    size = FUSED_MIN_ELEMENTS + 1 if path == "fused" else 3
    y = np.ones(size)
    p = np.full(size, 0.25)
    p[0] = np.nan
    grad = loss.grad(y, p, reduction="sum")
    assert np.isnan(grad[0]) and np.isfinite(grad[1:]).all()


def test_fused_and_generic_numpy_paths_agree_on_nan():
    # The disagreement the review found: [-0.5, 0.5] on one path, [nan, 0.5] on the other.
    size = FUSED_MIN_ELEMENTS + 1
    y, p = np.zeros(size), np.ones(size)
    p[0] = np.nan
    fused = lk.quantile.grad(y, p, q=0.5, reduction="sum")
    with lk.reference_only():
        generic = lk.quantile.grad(y, p, q=0.5, reduction="sum")
    np.testing.assert_array_equal(fused, generic)
    assert np.isnan(fused[0]) and fused[1] == 0.5


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_margin_ranking_nan_score_gives_nan_gradients(library):
    y, a, b = np.array([1.0, 1.0]), np.array([np.nan, 0.0]), np.array([0.0, 1.0])
    arrays = tuple(torch.as_tensor(x) for x in (y, a, b)) if library == "torch" else (y, a, b)
    grad_a, grad_b = lk.margin_ranking.grad(*arrays, reduction="sum")
    assert np.isnan(np.asarray(grad_a)[0]) and np.isnan(np.asarray(grad_b)[0])


# ---------------------------------------------------------------------- 2. overflow is inf

@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_float16_mse_that_overflows_is_inf_not_65504(library):
    y, p = np.zeros(1, np.float16), np.array([1e4], np.float16)  # true MSE 1e8 > 65504
    arrays = (torch.as_tensor(y), torch.as_tensor(p)) if library == "torch" else (y, p)
    value, grad = lk.mean_squared_error.value_and_grad(*arrays)
    assert str(value.dtype).endswith("float16") and np.isposinf(float(value))
    assert float(np.asarray(grad)[0]) == 2e4  # the gradient, 2e4, is representable


def test_float16_gradient_that_overflows_is_inf():
    y, p = np.zeros(1, np.float16), np.array([6e4], np.float16)  # gradient 1.2e5 > 65504
    assert np.isposinf(lk.mean_squared_error.grad(y, p)[0])


def test_float16_torch_autograd_overflow_is_inf():
    p = torch.tensor([6e4], dtype=torch.float16, requires_grad=True)
    lk.mean_squared_error(torch.zeros(1, dtype=torch.float16), p).backward()
    assert torch.isposinf(p.grad).all()


# ------------------------------------------------------------- 3. intermediates that overflow

@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_rmse_of_float32_residuals_of_1e30_is_1e30(library):
    y, p = np.zeros(4, np.float32), np.array([1e30, -1e30, 1e30, -1e30], np.float32)
    arrays = (torch.as_tensor(y), torch.as_tensor(p)) if library == "torch" else (y, p)
    value, grad = lk.root_mean_squared_error.value_and_grad(*arrays)
    assert float(value) == pytest.approx(1e30, rel=1e-6)
    np.testing.assert_allclose(np.asarray(grad), [0.25, -0.25, 0.25, -0.25], rtol=1e-6)


def test_rmse_fused_path_of_huge_residuals_is_finite():
    size = FUSED_MIN_ELEMENTS + 4
    p = np.where(np.arange(size) % 2 == 0, 1e30, -1e30).astype(np.float32)
    value = lk.root_mean_squared_error(np.zeros(size, np.float32), p)
    assert float(value) == pytest.approx(1e30, rel=1e-6)


def test_rmse_of_tiny_residuals_does_not_underflow_to_zero():
    p = np.full(3, 1e-30, np.float32)
    assert float(lk.root_mean_squared_error(np.zeros(3, np.float32), p)) == pytest.approx(1e-30, rel=1e-6)


def test_rmse_scaled_norm_keeps_perfect_fit_nan_and_weights():
    y = np.zeros(2)
    value, grad = lk.root_mean_squared_error.value_and_grad(y, y)
    assert value == 0.0 and np.all(grad == 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(lk.root_mean_squared_error(y, np.array([np.nan, 1.0])))
        assert np.isposinf(lk.root_mean_squared_error(y, np.array([np.inf, 1.0])))
    weights = np.array([1.0, 3.0])
    value, grad = lk.root_mean_squared_error.value_and_grad(y, np.array([3.0, 4.0]), sample_weight=weights)
    expected = np.sqrt((9.0 + 3.0 * 16.0) / 4.0)
    assert value == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(grad, weights * np.array([3.0, 4.0]) / (4.0 * expected), rtol=1e-15)


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "kl_divergence_with_logits"])
def test_soft_labels_at_logits_of_3e38_give_the_representable_loss(name, library):
    logits = np.array([[3e38, -3e38], [1.0, 2.0]], np.float32)
    y = np.array([[0.5, 0.5], [0.5, 0.5]], np.float32)
    arrays = (torch.as_tensor(y), torch.as_tensor(logits)) if library == "torch" else (y, logits)
    value = np.asarray(lk.get(name)(*arrays, reduction="none"))
    # 0.5 (max - x) = 3e38 for the second class, log 2 terms negligible; KL adds sum t log t = -log 2.
    assert value[0] == pytest.approx(3e38, rel=1e-6)
    with lk.reference_only():
        reference = np.asarray(lk.get(name)(y.astype(np.float64), logits.astype(np.float64), reduction="none"))
    assert value[1] == pytest.approx(reference[1], rel=1e-6)


def test_soft_label_loss_beyond_the_dtype_range_is_still_inf():
    logits = np.array([[3e38, -3e38]], np.float32)
    assert np.isposinf(lk.softmax_cross_entropy(np.array([[0.0, 1.0]], np.float32), logits))  # true value 6e38


@pytest.mark.parametrize("residual", [1e18, 3e19, 1e30])
def test_pseudo_huber_autodiff_gradient_does_not_double_at_huge_residuals(residual):
    y = torch.zeros(1, requires_grad=True)
    lk.pseudo_huber(y, torch.tensor([residual]), reduction="sum").backward()
    assert float(y.grad[0]) == pytest.approx(-1.0, rel=1e-6)
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    grad = jax.grad(lambda t: lk.pseudo_huber(t, jnp.asarray([residual], jnp.float32), reduction="sum"))(
        jnp.zeros(1, jnp.float32))
    assert float(grad[0]) == pytest.approx(-1.0, rel=1e-6)


def test_pseudo_huber_value_is_exact_on_both_sides_of_the_branch():
    e = np.array([1e-4, 0.5, 0.999, 1.0, 1.5, 1e3, 1e200])
    delta = 2.0
    a = e[:-1] / delta
    expected = delta**2 * a**2 / (np.sqrt(1.0 + a**2) + 1.0)  # sqrt(1 + a^2) - 1 without cancellation
    value = lk.pseudo_huber(np.zeros_like(e), e, delta=delta, reduction="none")
    np.testing.assert_allclose(value[:-1], expected, rtol=1e-12)
    assert value[-1] == pytest.approx(delta * 1e200, rel=1e-12)


# ----------------------------------------------------------------------- 4. floors per dtype

def test_the_gradient_floor_table():
    assert _kernels.grad_floor(np.float64) == _kernels.grad_floor(np.float32) == 1e-12
    assert _kernels.grad_floor(torch.bfloat16) == 1e-12
    assert _kernels.grad_floor(np.float16) == _kernels.grad_floor(torch.float16) == 2.0**-14
    assert _kernels.FLOAT16_GRAD_FLOOR == 2.0**-14


FLOORED = [
    ("binary_cross_entropy", [1.0], [0.0], (0,)),
    ("categorical_cross_entropy", [[1.0, 0.0]], [[0.0, 1.0]], (0, 0)),
    ("sparse_categorical_cross_entropy", [0], [[0.0, 1.0]], (0, 0)),
    ("kl_divergence", [[1.0, 0.0]], [[0.0, 1.0]], (0, 0)),
    ("poisson", [1.0], [0.0], (0,)),
]


@pytest.mark.parametrize("library", ["numpy", "torch", "torch-autograd"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name, y_true, y_pred, index", FLOORED, ids=[f[0] for f in FLOORED])
def test_floored_gradient_is_minus_one_over_the_dtype_floor(name, y_true, y_pred, index, dtype, library):
    loss = lk.get(name)
    if library == "numpy":
        if dtype == "bfloat16":
            pytest.skip("NumPy has no bfloat16")
        labels = np.array(y_true) if loss.kind == "sparse" else np.array(y_true, dtype)
        grad = loss.grad(labels, np.array(y_pred, dtype), reduction="sum")
    else:
        torch_dtype = getattr(torch, dtype)
        labels = torch.tensor(y_true) if loss.kind == "sparse" else torch.tensor(y_true, dtype=torch_dtype)
        prediction = torch.tensor(y_pred, dtype=torch_dtype)
        if library == "torch":
            grad = loss.grad(labels, prediction, reduction="sum")
        else:
            prediction.requires_grad_(True)
            loss(labels, prediction, reduction="sum").backward()
            grad = prediction.grad
        grad = grad.float().numpy()
    floor = 2.0**-14 if dtype == "float16" else 1e-12
    # poisson's gradient is 1 - y / floor; the others' -1 / floor (y = 1).
    expected = 1.0 - 1.0 / floor if name == "poisson" else -1.0 / floor
    assert np.isfinite(grad).all()
    assert float(np.asarray(grad)[index]) == pytest.approx(expected, rel=1e-2 if dtype == "bfloat16" else 1e-3)


def test_float16_floor_under_jax_grad():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    y, p = jnp.array([1.0], jnp.float16), jnp.array([0.0], jnp.float16)
    grad = jax.grad(lambda q: lk.binary_cross_entropy(y, q))(p)
    assert float(grad[0]) == -(2.0**14)


# ---------------------------------------------------------------------------- value checks

def test_value_checks_can_be_turned_off():
    with pytest.raises(ValueError, match="y_pred"):
        lk.binary_cross_entropy(np.array([1.0]), np.array([1.5]))
    with lk.value_checks(False):
        lk.binary_cross_entropy(np.array([1.0]), np.array([1.5]))  # not read, not refused


def test_value_checks_are_skipped_under_jax_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    value = jax.jit(lambda p: lk.binary_cross_entropy(jnp.array([1.0]), p))(jnp.array([1.5]))
    assert value.shape == ()


def test_float16_poisson_floored_gradient_overflows_honestly_from_a_count_of_4():
    grad = lk.poisson.grad(np.array([3.0, 4.0], np.float16), np.zeros(2, np.float16), reduction="none")
    assert grad[0] == np.float16(1.0 - 3.0 * 2.0**14) and np.isneginf(grad[1])


def test_floored_hessian_is_zero_where_the_floor_holds():
    hess = lk.binary_cross_entropy.hessian(np.array([1.0]), np.array([0.0]), reduction="sum")
    assert hess[0] == 0.0


FLOORED_NAMES = ["binary_cross_entropy", "categorical_cross_entropy", "sparse_categorical_cross_entropy",
                 "kl_divergence", "poisson"]


@pytest.mark.parametrize("name", FLOORED_NAMES)
def test_every_floored_loss_states_its_floor_per_dtype(name):
    assert _kernels.GRAD_FLOOR_PITFALL in lk.get(name).pitfalls
    assert "1e-12" in _kernels.GRAD_FLOOR_PITFALL and "2^-14" in _kernels.GRAD_FLOOR_PITFALL


@pytest.mark.parametrize("name, y_pred, expected", [
    ("log_cosh", [1e4, -1e4], 1e4 - np.log(2.0)),
    ("logistic", [-1e4, -1e4], 1e4),
    ("sigmoid_cross_entropy", [-1e4, -1e4], 1e4),
])
def test_exp_and_cosh_do_not_overflow_where_the_loss_is_finite(name, y_pred, expected):
    loss = lk.get(name)
    y = np.array([0.0, 0.0]) if name == "log_cosh" else np.array([1.0, 1.0])
    value = loss(y.astype(np.float32), np.array(y_pred, np.float32))
    assert float(value) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("case", ["softmax_focal-soft", "sparse_softmax_cross_entropy-smoothing"])
def test_class_axis_losses_with_soft_weights_at_logits_of_3e38(case):
    logits = np.array([[3e38, -3e38]], np.float32)
    with lk.reference_only():
        if case == "softmax_focal-soft":
            # 0.5 * (3e38 - (-3e38)) for the improbable class; the confident one has focal weight 0.
            value = lk.softmax_focal(np.array([[0.5, 0.5]], np.float32), logits)
            expected = 3e38
        else:
            # 0.9 * 0 for the label plus (0.1 / 2) * (0 + 6e38).
            value = lk.sparse_softmax_cross_entropy(np.array([0]), logits, label_smoothing=0.1)
            expected = 3e37
    assert np.isfinite(value) and float(value) == pytest.approx(expected, rel=1e-6)
    default = (lk.softmax_focal(np.array([[0.5, 0.5]], np.float32), logits) if case == "softmax_focal-soft"
               else lk.sparse_softmax_cross_entropy(np.array([0]), logits, label_smoothing=0.1))
    assert float(default) == pytest.approx(expected, rel=1e-6)
    # The masked-class rule is kept: a -inf logit with a smoothed label weight is inf.
    masked = np.array([[3e38, -3e38, -np.inf]], np.float32)
    assert np.isposinf(lk.sparse_softmax_cross_entropy(np.array([0]), masked, label_smoothing=0.1))


def _numerics_blocks():
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "numerics.md"
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def test_the_numerics_page_examples_run():
    blocks = _numerics_blocks()
    assert len(blocks) >= 4
    for block in blocks:
        exec(compile(block, "docs/numerics.md", "exec"), {})


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_categorical_hinge_nan_score_of_the_label_gives_nan_gradient(library):
    y = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    p = np.array([[0.2, np.nan, 0.1], [0.2, 0.5, 0.1]])
    arrays = (torch.as_tensor(y), torch.as_tensor(p)) if library == "torch" else (y, p)
    grad = np.asarray(lk.categorical_hinge.grad(*arrays, reduction="sum"))
    assert np.isnan(grad[0]).all() and np.isfinite(grad[1]).all()


def test_gaussian_nll_value_does_not_overflow_in_the_squared_residual():
    y, mean, variance = np.zeros(1, np.float32), np.array([1e20], np.float32), np.array([1e30], np.float32)
    value = lk.gaussian_nll(y, mean, variance)
    expected = 0.5 * np.log(1e30) + 0.5 * 1e40 / 1e30
    assert float(value) == pytest.approx(expected, rel=1e-5)


def _bfloat16():
    return pytest.importorskip("ml_dtypes").bfloat16


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name, params, expected", [
    ("cauchy", {}, [2e-30, -1e-30]),                        # 2 r / (2 + r^2) ~ 2 / r
    ("general_robust", {"alpha": 0.0}, [2e-30, -1e-30]),
    ("general_robust", {"alpha": 0.5}, None),
    ("geman_mcclure", {}, None),                           # 16 / r^3: underflows at 1e30, not at 1e12
])
@pytest.mark.parametrize("path", ["default", "generic"])
def test_robust_gradient_does_not_underflow_where_it_is_representable(dtype, name, params, expected, path):
    # The IRLS weight (1 + x^2/|a-2|)^(a/2 - 1) alone underflows (1e-60 for Cauchy at 1e30) where
    # the gradient x times it is representable.
    np_dtype = np.float32 if dtype == "float32" else _bfloat16()
    residuals = np.array([1e30, -2e30, 1e12, -3e11]) if name != "geman_mcclure" else np.array([1e12, -3e11])
    loss = getattr(lk, name)
    reference = loss.grad(np.zeros(residuals.size), residuals.astype(np_dtype).astype(np.float64),
                          reduction="sum", **params)
    context = lk.reference_only() if path == "generic" else contextlib.nullcontext()
    with context:
        grad = loss.grad(np.zeros(residuals.size, np_dtype), residuals.astype(np_dtype), reduction="sum", **params)
    grad = np.asarray(grad, np.float64)
    assert np.all(reference != 0)
    np.testing.assert_allclose(grad, reference, rtol=1e-5 if dtype == "float32" else 2e-2)
    if expected is not None:
        np.testing.assert_allclose(grad[:2], expected, rtol=1e-5 if dtype == "float32" else 2e-2)


@pytest.mark.parametrize("door", ["torch autograd", "jax grad", "fused"])
def test_cauchy_gradient_at_huge_residuals_on_every_door(door):
    residuals = np.array([1e30, -2e30, 1e12, 3.0], np.float32)
    expected = lk.cauchy.grad(np.zeros(4), residuals.astype(np.float64), reduction="sum")
    if door == "torch autograd":
        p = torch.tensor(residuals, requires_grad=True)
        lk.cauchy(torch.zeros(4), p, reduction="sum").backward()
        grad = p.grad.numpy()
    elif door == "jax grad":
        jax = pytest.importorskip("jax")
        jnp = jax.numpy
        grad = np.asarray(jax.jit(jax.grad(lambda q: lk.cauchy(jnp.zeros(4, jnp.float32), q, reduction="sum")))(
            jnp.asarray(residuals)))
    else:
        n = FUSED_MIN_ELEMENTS
        big = np.resize(np.array([1e200, -2e200, 1e30, 3.0]), n)
        grad = lk.cauchy.grad(np.zeros(n), big, reduction="sum")[:4]
        expected = np.array([2e-200, -1e-200, 2e-30, 3.0 / (1.0 + 4.5)])
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


@pytest.mark.parametrize("library", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("name", ["mean_squared_error", "squared_hinge"])
def test_squared_gradient_of_the_mean_is_not_lost_to_2r_overflowing(library, name):
    # 2r overflows float32 at |r| > 1.7e38, the mean's 2r/n does not.
    residuals = np.array([3e38, -3e38, 1.0], np.float32)
    y, p = (np.zeros(3, np.float32), residuals) if name == "mean_squared_error" else (np.ones(3, np.float32), -residuals)
    expected = getattr(lk, name).grad(y.astype(np.float64), p.astype(np.float64))
    if library == "torch":
        y, p = torch.as_tensor(y), torch.as_tensor(p)
    elif library == "jax":
        jnp = pytest.importorskip("jax").numpy
        y, p = jnp.asarray(y), jnp.asarray(p)
    grad = np.asarray(getattr(lk, name).grad(y, p), np.float64)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    # Ordinary values are those of 2r * (1/n), to the bit.
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=7).astype(np.float32), rng.normal(size=7).astype(np.float32)
    if name == "mean_squared_error":
        assert np.array_equal(lk.mean_squared_error.grad(y, p), (np.float32(2.0) * (p - y)) * np.float32(1 / 7))


def test_squared_gradient_of_the_mean_on_the_fused_path():
    n = FUSED_MIN_ELEMENTS
    p = np.resize(np.array([3e38, -3e38, 1.0], np.float32), n)
    grad = lk.mean_squared_error.grad(np.zeros(n, np.float32), p)
    np.testing.assert_allclose(grad[:3].astype(np.float64), 2.0 * p[:3].astype(np.float64) / n, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "torch bfloat16"])
def test_tweedie_overflowing_y_power_gives_inf_not_nan(dtype):
    # power = -1: y^3 overflows float32; the deviances 1.7e90 and 2.7e90 overflow too (inf, not
    # inf - inf = NaN), and a perfect fit at y = 2e30 is 0 with gradient 0.
    y, mu = [-1e30, 2e30, 2e30], [1e30, 3e30, 2e30]
    if dtype == "torch bfloat16":
        y, mu = torch.tensor(y, dtype=torch.bfloat16), torch.tensor(mu, dtype=torch.bfloat16)
    else:
        np_dtype = np.float32 if dtype == "float32" else _bfloat16()
        y, mu = np.array(y, np_dtype), np.array(mu, np_dtype)
    value, grad = lk.tweedie_deviance.value_and_grad(y, mu, power=-1.0, reduction="none")
    if dtype == "torch bfloat16":
        value, grad = value.float(), grad.float()
    value, grad = np.asarray(value, np.float64), np.asarray(grad, np.float64)
    assert np.isposinf(value[:2]).all() and value[2] == 0.0
    assert np.isposinf(grad[:2]).all() and grad[2] == 0.0


def test_gaussian_nll_keras_value_at_huge_residuals_with_a_floored_variance():
    lkk = pytest.importorskip("losskit.keras")
    y = np.zeros(2, np.float32)
    mean, variance = np.array([5e18, -5.2e18], np.float32), np.array([0.01, 0.05], np.float32)
    loss = lkk.GaussianNLL(eps=0.1, reduction=None)
    value = np.asarray(loss(y, np.stack([mean, variance], axis=-1)), np.float64)
    expected = 0.5 * np.log(0.1) + 0.5 * mean.astype(np.float64) ** 2 / 0.1
    np.testing.assert_allclose(value, expected, rtol=1e-5)


# ---- embedding losses at rows near the dtype's range (issue 10, harness items C, D, 12, 13)

def _jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


@pytest.mark.parametrize("door", ["value_and_grad", "jit(grad)"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float32", "float64"])
def test_cosine_distance_on_jax_at_rows_near_the_range(door, dtype):
    # XLA computes x / m as x * (1 / m), and 1 / m is subnormal (flushed to 0 on CPU) for
    # m = 3e38 in float32/bfloat16; a closed-over target is constant-folded with u * u
    # reassociated into (x * x) * (1/m)^2 (inf * 0 = NaN at 1e200 in float64).
    jax, jnp = _jax_x64()
    scale = 1e162 if dtype == "float64" else 1.0  # 3e38 * 1e162 = 3e200
    y = np.array([[3e38, -1e38, -7e37]]) * scale
    p = np.array([[6e37, -1.7e38, 1.5e37]]) * scale
    jt, jp = jnp.asarray(y, getattr(jnp, dtype)), jnp.asarray(p, getattr(jnp, dtype))
    with lk.reference_only():
        expected_value, expected = lk.cosine_distance.value_and_grad(
            np.asarray(jt, np.float64), np.asarray(jp, np.float64), reduction="sum")
    if door == "value_and_grad":
        value, grad = lk.cosine_distance.value_and_grad(jt, jp, reduction="sum")
        np.testing.assert_allclose(float(value), float(expected_value), rtol=2e-2)
    else:
        grad = jax.jit(jax.grad(lambda q: lk.cosine_distance(jt, q, reduction="sum")))(jp)
    grad = np.asarray(grad, np.float64)
    assert np.isfinite(grad).all()
    # The gradient is ~4e-39, subnormal in float32/bfloat16: XLA on CPU may flush it to 0.
    tiny = 0.0 if dtype == "float64" else float(np.finfo(np.float32).tiny)
    np.testing.assert_allclose(grad, expected, rtol=2e-2, atol=tiny)


@pytest.mark.parametrize("door", ["numpy", "value_and_grad", "jit(grad)"])
def test_triplet_margin_bfloat16_rows_whose_distances_overflow(door):
    # |a - n| = 5.8e38 overflows float32 (bfloat16's compute dtype) although the loss (4.6e36)
    # and the gradients are representable: the row is computed halved.
    a = [[3e38, -1e38, -7e37, -1e38]]
    b = [[-2.5e38, -6e37, 8e37, -1e37]]
    c = [[-1.9e38, 1e38, -1e38, 1.2e38]]
    bf = [np.asarray(v, _bfloat16()) for v in (a, b, c)]
    with lk.reference_only():
        expected_value, expected = lk.triplet_margin.value_and_grad(
            *(v.astype(np.float64) for v in bf), reduction="sum")
    if door == "numpy":
        value, grads = lk.triplet_margin.value_and_grad(*bf, reduction="sum")
    else:
        jax, jnp = _jax_x64()
        ja = [jnp.asarray(v.astype(np.float64), jnp.bfloat16) for v in bf]
        if door == "value_and_grad":
            value, grads = lk.triplet_margin.value_and_grad(*ja, reduction="sum")
        else:
            value = lk.triplet_margin(*ja, reduction="sum")
            grads = jax.jit(jax.grad(lambda x, y, z: lk.triplet_margin(x, y, z, reduction="sum"),
                                     argnums=(0, 1, 2)))(*ja)
    np.testing.assert_allclose(float(np.asarray(value, np.float64)), float(expected_value), rtol=2e-2)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(g, np.float64), e, rtol=2e-2, atol=1e-2)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_info_nce_empty_batch_gives_the_empty_batch_value(backend, reduction):
    # Every rowwise loss gives an empty batch an empty 'none' and 0 for 'sum' and 'mean'; info_nce
    # reduced an empty axis (NumPy's ValueError, torch's IndexError from amax).
    if backend == "numpy":
        x = np.zeros((0, 4))
    elif backend == "torch":
        x = torch.zeros((0, 4), dtype=torch.float64)
    else:
        _, jnp = _jax_x64()
        x = jnp.zeros((0, 4))
    value, (gx, gy) = lk.info_nce.value_and_grad(x, 2 * x, reduction=reduction)
    for other in ("cosine_distance",):
        expected = lk.get(other)(x, x, reduction=reduction)
        assert tuple(value.shape) == tuple(expected.shape)
    value = np.asarray(value.detach() if backend == "torch" else value, np.float64)
    if reduction == "none":
        assert value.shape == (0,)
    else:
        assert value.shape == () and value == 0.0
    assert tuple(gx.shape) == (0, 4) and tuple(gy.shape) == (0, 4)
    if backend == "torch":
        xg = torch.zeros((0, 4), dtype=torch.float64, requires_grad=True)
        lk.info_nce(xg, xg * 2, reduction="sum").backward()
        assert tuple(xg.grad.shape) == (0, 4)
