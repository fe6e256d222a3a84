"""losskit.torch and the torch kernels: the modules, the functional door on tensors, PyTorch's twins.

Every fast torch path is a kernel of the registry (``losskit._kernels.kernels(backend="torch")``);
the tests below hold each to the reference kernel through the public doors, on both sides of
every data check, and pin the modules to PyTorch's conventions.
"""

from __future__ import annotations

import ast
import copy
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import losskit as lk  # noqa: E402
import losskit.torch as lkt  # noqa: E402
from _cases import make_case, param_cases, shapes, single_prediction  # noqa: E402
from losskit._kernels import kernels, reference_only, select  # noqa: E402

CATALOG = lk.catalog()
SINGLE = single_prediction(CATALOG)
REDUCTIONS = ("none", "sum", "mean")


def _cases():
    for loss in SINGLE:
        for shape in shapes(loss):
            for case_id, params in param_cases(loss, shape):
                yield pytest.param(loss, shape, params, id=f"{loss.name}-{shape}-{case_id}")


def _tensor(array):
    return torch.as_tensor(np.asarray(array))


def _forward_backward(module, y_pred, y_true, sample_weight=None):
    input = _tensor(y_pred).requires_grad_(True)
    value = module(input, _tensor(y_true), None if sample_weight is None else _tensor(sample_weight))
    value.sum().backward()
    return value.detach(), input.grad


@pytest.mark.parametrize("loss, shape, params", _cases())
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_module_equals_functional_value_and_gradient(loss, shape, params, weighted):
    case = make_case(loss, shape, params)
    weight = case.sample_weight if weighted else None
    torch_params = {k: _tensor(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    for reduction in loss.reductions:
        module = lkt.module_class(loss)(reduction=reduction, **params).to(torch.float64)
        value, grad = _forward_backward(module, case.y_pred, case.y_true, weight)
        expected_value, expected_grad = loss.value_and_grad(
            _tensor(case.y_true), _tensor(case.y_pred),
            sample_weight=None if weight is None else _tensor(weight), reduction=reduction, **torch_params,
        )
        torch.testing.assert_close(value, expected_value, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_every_catalog_loss_has_a_module_named_in_pytorch_style(loss):
    cls = lkt.module_class(loss)
    assert getattr(lkt, cls.__name__) is cls
    assert cls.__name__[0].isupper() and "_" not in cls.__name__
    assert isinstance(lkt.get_module(loss.name), torch.nn.Module)


def test_class_names_follow_pytorch_capitalisation():
    assert lkt.get_module("smooth_l1").__class__.__name__ == "SmoothL1"
    assert lkt.get_module("kld").__class__.__name__ == "KLDivergence"
    assert lkt.get_module("bce_with_logits").__class__.__name__ == "SigmoidCrossEntropy"
    assert lkt.get_module("sparse_cross_entropy").__class__.__name__ == "SparseSoftmaxCrossEntropy"


# ------------------------------------------------------------------------ native PyTorch twins

def _native_twins():
    """(module factory, native call, input maker, target maker) pairs with exactly equal semantics."""
    gen = torch.Generator().manual_seed(0)

    def real(*shape):
        return lambda: torch.randn(*shape, generator=gen, dtype=torch.float64)

    def probability(*shape):
        return lambda: torch.rand(*shape, generator=gen, dtype=torch.float64) * 0.96 + 0.02

    def labels(n, classes, ignore=None):
        def make():
            target = torch.randint(0, classes, (n,), generator=gen)
            if ignore is not None:
                target[::3] = ignore
            return target
        return make

    def soft(n, classes):
        return lambda: torch.randn(n, classes, generator=gen, dtype=torch.float64).softmax(-1)

    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    yield "mse", lambda r: lkt.MeanSquaredError(reduction=r), lambda x, t, r: F.mse_loss(x, t, reduction=r), real(9, 3), real(9, 3)
    yield "l1", lambda r: lkt.MeanAbsoluteError(reduction=r), lambda x, t, r: F.l1_loss(x, t, reduction=r), real(9), real(9)
    yield "huber", lambda r: lkt.Huber(delta=0.5, reduction=r), lambda x, t, r: F.huber_loss(x, t, reduction=r, delta=0.5), real(9), real(9)
    yield "smooth_l1", lambda r: lkt.SmoothL1(beta=0.5, reduction=r), lambda x, t, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.5), real(9), real(9)
    yield "bce", lambda r: lkt.BinaryCrossEntropy(reduction=r), lambda x, t, r: F.binary_cross_entropy(x, t, reduction=r), probability(9), probability(9)
    yield "bce_with_logits", lambda r: lkt.SigmoidCrossEntropy(pos_weight=2.5, reduction=r), (
        lambda x, t, r: F.binary_cross_entropy_with_logits(x, t, reduction=r, pos_weight=torch.tensor(2.5, dtype=torch.float64))
    ), real(9), probability(9)
    yield "cross_entropy", lambda r: lkt.SparseSoftmaxCrossEntropy(class_weight=weight, label_smoothing=0.1, reduction=r), (
        lambda x, t, r: F.cross_entropy(x, t, weight=weight, label_smoothing=0.1, reduction=r)
    ), real(12, 4), labels(12, 4)
    yield "cross_entropy_ignore_index", lambda r: lkt.SparseSoftmaxCrossEntropy(ignore_index=-100, reduction=r), (
        lambda x, t, r: F.cross_entropy(x, t, reduction=r)
    ), real(12, 4), labels(12, 4, ignore=-100)
    yield "cross_entropy_soft_labels", lambda r: lkt.SoftmaxCrossEntropy(label_smoothing=0.2, reduction=r), (
        lambda x, t, r: F.cross_entropy(x, t, label_smoothing=0.2, reduction=r)
    ), real(12, 4), soft(12, 4)
    yield "nll_loss", lambda r: lkt.SparseCategoricalCrossEntropy(class_weight=weight, reduction=r), (
        lambda x, t, r: F.nll_loss(torch.log(x), t, weight=weight, reduction=r)
    ), soft(12, 4), labels(12, 4)
    yield "kl_div", lambda r: lkt.KLDivergenceWithLogits(reduction=r), (
        lambda x, t, r: F.kl_div(x.log_softmax(-1), t, reduction={"mean": "batchmean"}.get(r, r)).sum(-1)
        if r == "none" else F.kl_div(x.log_softmax(-1), t, reduction={"mean": "batchmean"}.get(r, r))
    ), real(12, 4), soft(12, 4)
    yield "poisson_nll_loss", lambda r: lkt.Poisson(reduction=r), (
        lambda x, t, r: F.poisson_nll_loss(x, t, log_input=False, eps=0.0, reduction=r)
    ), lambda: torch.rand(9, generator=gen, dtype=torch.float64) + 0.5, lambda: torch.poisson(torch.full((9,), 2.0, dtype=torch.float64), generator=gen)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, make_module, native, make_input, make_target", list(_native_twins()), ids=lambda v: v if isinstance(v, str) else "")
def test_module_matches_its_native_pytorch_twin(name, make_module, native, make_input, make_target, reduction):
    input, target = make_input(), make_target()
    ours = input.clone().requires_grad_(True)
    theirs = input.clone().requires_grad_(True)
    value = make_module(reduction)(ours, target)
    expected = native(theirs, target, reduction)
    value.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10, atol=1e-12)


def test_huber_is_a_drop_in_replacement_for_nn_huberloss():
    input = torch.randn(64, 3, dtype=torch.float64) * 2
    target = torch.randn(64, 3, dtype=torch.float64)
    ours, theirs = input.clone().requires_grad_(True), input.clone().requires_grad_(True)
    lkt.Huber(delta=0.5)(ours, target).backward()
    torch.nn.HuberLoss(delta=0.5)(theirs, target).backward()
    assert torch.equal(ours.grad, theirs.grad)


def test_native_dispatch_and_reference_agree():
    input = torch.randn(40, 5, dtype=torch.float64)
    target = torch.randint(0, 5, (40,))
    target[::4] = 3
    results = []
    for reference in (False, True):
        x = input.clone().requires_grad_(True)
        module = lkt.SparseSoftmaxCrossEntropy(ignore_index=3, label_smoothing=0.1)
        if reference:
            with reference_only():
                value = module(x, target)
        else:
            value = module(x, target)
        value.backward()
        results.append((value.detach(), x.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)


def test_mean_over_only_ignored_positions_is_zero_not_nan():
    input = torch.randn(4, 3, requires_grad=True)
    value = lkt.SparseSoftmaxCrossEntropy(ignore_index=-100)(input, torch.full((4,), -100))
    value.backward()
    assert value.item() == 0.0
    assert torch.count_nonzero(input.grad) == 0


# ------------------------------------------------------------------------------ conventions

def test_array_parameters_are_buffers_that_follow_the_module():
    module = lkt.SparseSoftmaxCrossEntropy(class_weight=[1.0, 2.0, 3.0])
    assert "class_weight" in dict(module.named_buffers())
    module = module.to(torch.float64)
    assert module.class_weight.dtype == torch.float64
    assert "class_weight" in module.state_dict()


def test_extra_repr_shows_parameters_and_reduction():
    assert repr(lkt.Huber(delta=0.5, reduction="sum")) == "Huber(delta=0.5, reduction='sum')"
    assert "pos_weight=tensor(shape=(3,))" in repr(lkt.SigmoidCrossEntropy(pos_weight=[1.0, 2.0, 3.0]))


def test_invalid_parameter_is_rejected_at_construction():
    with pytest.raises(ValueError, match="delta"):
        lkt.Huber(delta=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        lkt.Huber(reduction="batchmean")
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        lkt.Huber(beta=1.0)


def test_shape_mismatch_raises_instead_of_broadcasting():
    with pytest.raises(ValueError, match="never broadcasts"):
        lkt.MeanSquaredError()(torch.zeros(4, 1), torch.zeros(4))


def test_float_labels_for_a_sparse_loss_raise_type_error_naming_the_fix():
    with pytest.raises(TypeError, match="target.long()"):
        lkt.SparseSoftmaxCrossEntropy()(torch.zeros(4, 3), torch.zeros(4))


def test_value_checks_are_off_by_default_and_on_with_check_values():
    labels = torch.tensor([0, 5])
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="class indices"):
        lkt.SparseCategoricalCrossEntropy(check_values=True)(logits.softmax(-1), labels.clamp(max=2) + 1)
    with pytest.raises(ValueError, match="class indices"):
        lkt.SparseSoftmaxCrossEntropy(check_values=True)(logits, labels)


def test_target_gradient_flows_when_the_target_requires_grad():
    input = torch.randn(6, dtype=torch.float64, requires_grad=True)
    target = torch.randn(6, dtype=torch.float64, requires_grad=True)
    lkt.LogCosh()(input, target).backward()
    torch.testing.assert_close(target.grad, -input.grad)


# ------------------------------------------------------------------- compile, autocast, training

@pytest.mark.parametrize("module, make_target", [
    (lkt.LogCosh(), lambda: torch.randn(16)),
    (lkt.SparseSoftmaxCrossEntropy(label_smoothing=0.1), lambda: torch.randint(0, 5, (16,))),
    (lkt.KLDivergenceWithLogits(), lambda: torch.rand(16, 5).softmax(-1)),
    (lkt.SigmoidCrossEntropy(pos_weight=2.0), lambda: (torch.rand(16) < 0.5).float()),
], ids=["pointwise", "sparse-class-axis", "dense-class-axis", "torch-specialised-kernel"])
def test_module_runs_under_torch_compile(module, make_target):
    target = make_target()
    input = torch.randn(*(target.shape if target.ndim and target.is_floating_point() else (16, 5)))
    compiled = torch.compile(module, backend="aot_eager")
    eager_input, compiled_input = input.clone().requires_grad_(True), input.clone().requires_grad_(True)
    expected = module(eager_input, target)
    value = compiled(compiled_input, target)
    expected.backward()
    value.backward()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(compiled_input.grad, eager_input.grad)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["sigmoid_cross_entropy", "sparse_softmax_cross_entropy", "log_cosh", "huber"])
def test_narrow_inputs_are_computed_in_float32(name, dtype):
    loss = lk.get(name)
    case = make_case(loss, shapes(loss)[0])
    input32 = torch.as_tensor(case.y_pred, dtype=torch.float32)
    input = input32.to(dtype).requires_grad_(True)
    target = torch.as_tensor(case.y_true)
    target = target if loss.kind == "sparse" else target.to(dtype)
    value = lkt.get_module(name)(input, target)
    value.backward()
    expected = loss(target if loss.kind == "sparse" else target.float(), input.detach().float())
    assert value.dtype == dtype and input.grad.dtype == dtype
    torch.testing.assert_close(value.float(), expected, rtol=1e-2, atol=1e-2)
    assert torch.isfinite(input.grad).all()


def test_autocast_returns_a_float32_loss():
    linear = torch.nn.Linear(4, 5)
    target = torch.randint(0, 5, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = linear(torch.randn(8, 4))
        value = lkt.SparseSoftmaxCrossEntropy()(logits, target)
    assert logits.dtype == torch.bfloat16
    assert value.dtype == torch.float32
    value.backward()
    assert torch.isfinite(linear.weight.grad).all()


def test_a_training_step_reduces_the_loss():
    torch.manual_seed(0)
    x = torch.randn(128, 6)
    y = (x @ torch.randn(6, 3)).argmax(-1)
    model = torch.nn.Linear(6, 3)
    criterion = lkt.SparseSoftmaxCrossEntropy(label_smoothing=0.05)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]



_INF = float("inf")


def _edge_cases():
    f64 = dict(dtype=torch.float64)
    logits = torch.tensor([-_INF, -_INF, _INF, _INF, 0.0, 40.0, -40.0, 800.0, -800.0, 1e-3], **f64)
    soft_labels = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.3, 0.7, 1.0], **f64)
    binary_labels = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0], **f64)
    yield "sigmoid_cross_entropy", soft_labels, logits, {}
    yield "sigmoid_cross_entropy", binary_labels, logits, {"pos_weight": 2.5}
    yield "sigmoid_cross_entropy", soft_labels, logits, {"pos_weight": 0.0, "label_smoothing": 0.1}
    yield "logistic", binary_labels, logits, {}
    yield "logistic", 2 * binary_labels - 1, logits, {}
    # Finite logits and labels in [0, 1] take the kernels' unmasked CPU branch; confident correct
    # logits (-30 on a 0 label, 30 on a 1) keep their tiny loss there.
    finite_logits = torch.tensor([-30.0, 30.0, -30.0, 30.0, 0.0, 40.0, -40.0, 800.0, -800.0, 1e-3], **f64)
    yield "sigmoid_cross_entropy", soft_labels, finite_logits, {}
    yield "sigmoid_cross_entropy", binary_labels, finite_logits, {"pos_weight": 2.5}
    yield "sigmoid_cross_entropy", soft_labels, finite_logits, {"pos_weight": 0.0, "label_smoothing": 0.1}
    yield "sigmoid_cross_entropy", soft_labels, finite_logits, {"pos_weight": torch.arange(10, **f64) / 4}
    yield "logistic", binary_labels, finite_logits, {}
    # Labels that mix 0 and -1 are invalid, and the catalog then uses them as the signs.
    yield "logistic", torch.tensor([0.0, -1.0, 1.0, 0.0, 1.0, -1.0, 0.0, 1.0, 0.0, -1.0], **f64), finite_logits, {}
    rates = torch.tensor([0.0, 1e-300, 1e-13, 1e-12, 1e-6, 1.0, 1e6, _INF], **f64)
    yield "poisson", torch.tensor([0.0, 3.0, 1.0, 0.0, 2.0, 0.0, 5.0, 0.0], **f64), rates, {}
    probabilities = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [1e-300, 0.5, 0.5]], **f64)
    labels = torch.tensor([0, 2, 1, 0])
    class_weight = torch.tensor([2.0, 0.5, 1.0], **f64)
    yield "sparse_categorical_cross_entropy", labels, probabilities, {}
    yield "sparse_categorical_cross_entropy", labels, probabilities, {"class_weight": class_weight}
    yield "sparse_categorical_cross_entropy", torch.tensor([0, -100, 1, -100]), probabilities, {"ignore_index": -100}
    yield "sparse_categorical_cross_entropy", labels, probabilities, {"label_smoothing": 0.2, "class_weight": class_weight}
    targets = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]], **f64)
    yield "kl_divergence", targets, probabilities, {}
    yield "categorical_cross_entropy", targets, probabilities, {}
    # Every p at or above the gradient floor (one exactly at it): the unfloored CPU branches.
    above_floor = torch.tensor([[1e-12, 0.5, 0.5 - 1e-12], [0.999, 1e-3 - 1e-9, 1e-9], [0.2, 0.3, 0.5], [1.0 / 3, 1.0 / 3, 1.0 / 3]], **f64)
    yield "kl_divergence", targets, above_floor, {}
    yield "categorical_cross_entropy", targets, above_floor, {}
    yield "categorical_cross_entropy", targets, above_floor, {"label_smoothing": 0.1, "class_weight": class_weight}
    # p = 0 under a zero target, p = 1e-300 (log -690.8, below the floor of -100), p just below
    # and at the gradient floor, p = 1: the clamp branch for finite p >= 0.
    tiny = torch.tensor([[0.0, 1e-300, 1.0], [0.5, 0.5, 0.0], [1e-13, 1e-12, 1.0 - 1e-12], [0.2, 0.3, 0.5]], **f64)
    yield "categorical_cross_entropy", targets, tiny, {}
    yield "categorical_cross_entropy", targets, tiny, {"label_smoothing": 0.3, "class_weight": class_weight}
    # A negative target weight (invalid) leaves the clamp branch: the catalog masks it.
    yield "categorical_cross_entropy", torch.tensor([[-0.5, 1.0, 0.5], [1.0, 0.0, 0.0]], **f64), tiny[:2], {}
    yield "categorical_cross_entropy", targets, probabilities, {"class_weight": class_weight}
    yield "categorical_cross_entropy", targets, probabilities, {"label_smoothing": 0.2, "class_weight": class_weight}
    nan_row = torch.tensor([[0.0, 1.0, 0.0], [float("nan"), 0.5, 0.5]], **f64)
    yield "categorical_cross_entropy", torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], **f64), nan_row, {}
    masked_logits = torch.tensor([[-_INF, 1.0, 2.0], [300.0, -300.0, 0.0], [0.0, 0.0, 0.0], [-_INF, -_INF, 5.0]], **f64)
    yield "kl_divergence_with_logits", targets, masked_logits, {}
    # The native twins that need no data check: residuals at the kinks, infinite and NaN ones.
    residuals = torch.tensor([-_INF, -2.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, _INF, float("nan")], **f64)
    zeros = torch.zeros_like(residuals)
    yield "mean_squared_error", zeros, residuals, {}
    yield "mean_absolute_error", zeros, residuals, {}
    yield "huber", zeros, residuals, {"delta": 0.5}
    yield "smooth_l1", zeros, residuals, {"beta": 0.5}
    yield "smooth_l1", zeros[:-1], residuals[:-1], {"beta": 0.0}
    # Masked (-inf) logits of unlabelled classes, ignored positions, smoothing with class weights.
    yield "sparse_softmax_cross_entropy", torch.tensor([1, 2, 0, 2]), masked_logits, {}
    yield "sparse_softmax_cross_entropy", torch.tensor([1, -100, 0, -100]), masked_logits, {"ignore_index": -100}
    yield "sparse_softmax_cross_entropy", labels, masked_logits.clamp(min=-50.0), {"label_smoothing": 0.2, "class_weight": class_weight}
    yield "softmax_cross_entropy", targets, masked_logits, {"label_smoothing": 0.1}
    yield "softmax_cross_entropy", targets, masked_logits.clamp(min=-50.0), {"label_smoothing": 0.1}




def _prepare(name, y_true, y_pred, reduction="mean", **params):
    with lk.value_checks(False):
        return lk.get(name).prepare((y_true, y_pred), {"reduction": reduction, **params}, order=0)


def _functional(name, y_true, y_pred, reduction, params, sample_weight=None):
    """The functional door on a tensor that requires grad: (value, autograd gradient)."""
    input = y_pred.clone().requires_grad_(True)
    with lk.value_checks(False):
        value = lk.get(name)(y_true, input, reduction=reduction, sample_weight=sample_weight, **params)
    value.sum().backward()
    return value.detach(), input.grad


def _reference(name, y_true, y_pred, reduction, params, sample_weight=None):
    with reference_only(), lk.value_checks(False):
        return lk.get(name).value_and_grad(y_true, y_pred, reduction=reduction, sample_weight=sample_weight, **params)


def _assert_equal_to_reference(name, y_true, y_pred, reduction, params, sample_weight=None):
    value, grad = _functional(name, y_true, y_pred, reduction, params, sample_weight)
    expected_value, expected_grad = _reference(name, y_true, y_pred, reduction, params, sample_weight)
    torch.testing.assert_close(value, expected_value, rtol=1e-12, atol=_value_atol(name), equal_nan=True)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=_grad_atol(name, params), equal_nan=True)


def _value_atol(name):
    """binary_cross_entropy's twin takes log1p(-p) where the catalog takes log(1 - p): an absolute difference below eps."""
    return torch.finfo(torch.float64).eps if name == "binary_cross_entropy" else 0.0


def _grad_atol(name, params):
    """Absolute tolerance of a gradient against the reference: 0, except where the formulas round differently.

    sigmoid_cross_entropy's CPU kernel writes the gradient w_n s - w_p (1 - s) as (w_n + w_p) s - w_p
    (one product less). Where the two terms cancel (s -> t, or s -> 1 on a positive label) both
    carry an absolute rounding error of a few eps times the weights, and no relative tolerance fits.
    """
    if name != "sigmoid_cross_entropy":
        return 0.0
    pos_weight = params.get("pos_weight")
    largest = 1.0 if pos_weight is None else max(1.0, float(torch.as_tensor(pos_weight).max()))
    return 4 * torch.finfo(torch.float64).eps * (1.0 + largest)


# ------------------------------------------------------------------------- the torch registry

TORCH_KERNELS = kernels(backend="torch")


def test_the_torch_backend_registers_its_kernels():
    names = {(k.loss, k.name) for k in TORCH_KERNELS}
    assert ("huber", "F.huber_loss") in names and ("kl_divergence_with_logits", "torch kernel") in names
    assert all(k.style != "native" or k.max_order == 0 for k in TORCH_KERNELS)


@pytest.mark.parametrize("loss_name", sorted({k.loss for k in TORCH_KERNELS}))
def test_every_loss_with_torch_kernels_has_edge_cases(loss_name):
    covered = {case[0] for case in _edge_cases()} | {case[0] for case in _checked_cases()} | {
        case[0] for case in _small_expression_cases()}
    assert loss_name in covered


@pytest.mark.parametrize("kernel", [k for k in TORCH_KERNELS if k.style == "elementwise"], ids=lambda k: k.loss)
@pytest.mark.parametrize("readable", [True, False], ids=["cpu", "no-host-reads"])
def test_torch_kernel_equals_the_reference_at_edge_cases(kernel, readable, monkeypatch):
    # readable=False runs the branches a GPU tensor or a traced call gets, which never read values.
    if not readable:
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    from losskit._kernels import run

    for name, y_true, y_pred, params in _edge_cases():
        if name != kernel.loss:
            continue
        for reduction in REDUCTIONS:
            call = _prepare(name, y_true, y_pred, reduction, **params).replace(order=1)
            assert kernel.accepts(call)
            value, grads, _ = run(call, kernel)
            expected_value, expected_grads, _ = run(call, reference=True)
            torch.testing.assert_close(value, expected_value, rtol=1e-12, atol=0.0, equal_nan=True)
            torch.testing.assert_close(grads, expected_grads, rtol=1e-12, atol=_grad_atol(name, params), equal_nan=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, y_true, y_pred, params", list(_edge_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_functional_autograd_equals_reference_at_edge_cases(name, y_true, y_pred, params, reduction):
    _assert_equal_to_reference(name, y_true, y_pred, reduction, params)
    # The same through the module, and through .value_and_grad (the analytic path).
    input = y_pred.clone().requires_grad_(True)
    # check_values=False: some edge inputs are outside the loss's domain on purpose (the CPU default checks them).
    value = lkt.get_module(name, reduction=reduction, check_values=False, **params).to(torch.float64)(input, y_true)
    value.sum().backward()
    expected_value, expected_grad = _reference(name, y_true, y_pred, reduction, params)
    torch.testing.assert_close(value.detach(), expected_value, rtol=1e-12, atol=0.0, equal_nan=True)
    torch.testing.assert_close(input.grad, expected_grad, rtol=1e-12, atol=_grad_atol(name, params), equal_nan=True)
    with lk.value_checks(False):
        analytic = lk.get(name).value_and_grad(y_true, y_pred, reduction=reduction, **params)
    torch.testing.assert_close(analytic[1], expected_grad, rtol=1e-12, atol=_grad_atol(name, params), equal_nan=True)


def test_infinite_logit_costs_zero_on_its_label_and_inf_on_the_other():
    logits = torch.tensor([-_INF, -_INF, _INF, _INF], requires_grad=True)
    value = lkt.SigmoidCrossEntropy(reduction="none")(logits, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    value.sum().backward()
    assert value.tolist() == [0.0, _INF, _INF, 0.0]
    assert logits.grad.tolist() == [0.0, -1.0, 1.0, 0.0]


# ------------------------------------------------------------- small inputs: plain autograd

def _small_expression_cases():
    gen = torch.Generator().manual_seed(3)
    f64 = dict(dtype=torch.float64)
    rates = torch.rand(6, 5, generator=gen, **f64) * 3 + 0.05
    counts = torch.poisson(torch.full((6, 5), 2.0, **f64), generator=gen)
    yield "poisson", counts, rates, {}
    yield "poisson", torch.tensor([0.0, 3.0, 1.0, 0.0, 2.0, 4.0], **f64), torch.tensor([0.0, 1e-300, 1e-13, 1e-12, 7e-13, _INF], **f64), {}
    logits = torch.randn(6, 5, generator=gen, **f64) * 4
    yield "logistic", torch.randint(0, 2, (6, 5), generator=gen).double() * 2 - 1, logits * 200, {}
    yield "logistic", torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0], **f64), torch.tensor([-_INF, -_INF, _INF, _INF, 800.0, 0.0], **f64), {}
    edge_labels = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.3], **f64)
    edge_logits = torch.tensor([-_INF, -_INF, _INF, _INF, 800.0, -800.0, 0.0], **f64)
    for params in ({"pos_weight": 2.5}, {"label_smoothing": 0.1}, {"pos_weight": 0.0, "label_smoothing": 0.2}):
        yield "sigmoid_cross_entropy", (torch.rand(6, 5, generator=gen) < 0.5).double(), logits, params
        yield "sigmoid_cross_entropy", torch.rand(6, 5, generator=gen, **f64), logits, params
        yield "sigmoid_cross_entropy", edge_labels, edge_logits, params


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, y_true, y_pred, params", list(_small_expression_cases()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_small_expression_equals_reference_value_and_gradient(name, y_true, y_pred, params, reduction, weighted):
    weight = torch.linspace(0.0, 2.0, y_pred.shape[0], dtype=torch.float64) if weighted else None
    with lk.value_checks(False):
        call = lk.get(name).prepare((y_true, y_pred), {"reduction": reduction, "sample_weight": weight, **params})
    assert select(call).name == "small autograd expression"  # these inputs fail the twins' checks
    _assert_equal_to_reference(name, y_true, y_pred, reduction, params, weight)


@pytest.mark.parametrize("name", ["poisson", "logistic", "sigmoid_cross_entropy"])
def test_small_and_large_inputs_take_different_kernels_with_the_same_numbers(name):
    loss = lk.get(name)
    case = make_case(loss, shapes(loss)[0], seed=3)
    params = {"pos_weight": 2.0} if name == "sigmoid_cross_entropy" else {}
    chosen = []
    for repeat in (1, 2 ** 14):
        y_true = _tensor(np.concatenate([case.y_true] * repeat))
        y_pred = _tensor(np.concatenate([case.y_pred] * repeat))
        chosen.append(select(_prepare(name, y_true, y_pred, **params)).name)
        _assert_equal_to_reference(name, y_true, y_pred, "mean", params)
    # Small inputs take a twin or the small expression (both differentiated by autograd), large ones the kernel.
    assert chosen[0] in ("small autograd expression", "F.soft_margin_loss") and chosen[1] == "torch kernel"


def test_poisson_rate_below_the_floor_keeps_the_straight_through_gradient():
    rates = torch.tensor([0.0, 1e-300, 1e-13], dtype=torch.float64, requires_grad=True)
    lkt.Poisson(reduction="sum")(rates, torch.full((3,), 2.0, dtype=torch.float64)).backward()
    torch.testing.assert_close(rates.grad, torch.full((3,), 1.0 - 2.0 / 1e-12, dtype=torch.float64), rtol=1e-12, atol=0.0)


# ------------------------------------------------------------- data-checked native twins
#
# On small CPU inputs some losses call a PyTorch twin that equals the catalog only on part of the
# input domain, after checking the data: finite margins, labels in {0, 1}, probabilities at or
# above the gradient floor, non-negative targets. Each case below sits on one side of such a
# check and says for which reductions the twin must be selected, so that a check that is too
# loose fails the value test and one that is too strict fails the selection test.

_FLOOR = 1e-12  # losskit._array.GRAD_DENOMINATOR_FLOOR
_TWIN = {  # the native twin each data-checked loss selects where its check passes
    "binary_cross_entropy": "F.binary_cross_entropy",
    "logistic": "F.soft_margin_loss",
    "sigmoid_cross_entropy": "F.soft_margin_loss",
    "kl_divergence": "F.kl_div",
    "sparse_categorical_cross_entropy": "F.nll_loss",
    "categorical_cross_entropy": "torch.xlogy",
}
_ALL, _NONE = frozenset(REDUCTIONS), frozenset()


def _below(value):
    return float(torch.nextafter(torch.tensor(value, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)))


def _checked_cases():
    """(name, y_true, y_pred, params, reductions that call the twin)."""
    gen = torch.Generator().manual_seed(5)
    f64 = dict(dtype=torch.float64)
    logits = torch.randn(6, 5, generator=gen, **f64) * 4
    zero_one = (torch.rand(6, 5, generator=gen) < 0.5).double()
    yield "logistic", zero_one, logits, {}, _ALL
    yield "logistic", 2 * zero_one - 1, logits, {}, _ALL
    # Mixed 0 / -1 labels (invalid) are used as the signs, as in the catalog.
    yield "logistic", torch.tensor([0.0, -1.0, 1.0, 0.0]), torch.tensor([2.0, -3.0, 0.5, -1.0], **f64), {}, _ALL
    # Labels beyond +-1 could push a margin past the overflow bound: no twin.
    yield "logistic", torch.tensor([2.0, -1.0, 1.0, -2.0], **f64), torch.tensor([2.0, -3.0, 0.5, -1.0], **f64), {}, _NONE
    # |x| up to half the overflow bound of e^-m (354 in float64) takes the twin, beyond it not.
    yield "logistic", torch.tensor([1.0, 0.0, 1.0]), torch.tensor([350.0, -350.0, 1.0], **f64), {}, _ALL
    yield "logistic", torch.tensor([1.0, 0.0, 1.0]), torch.tensor([400.0, -400.0, 1.0], **f64), {}, _NONE
    yield "logistic", torch.tensor([1.0, 0.0, 1.0]), torch.tensor([-800.0, -1.0, 1.0], **f64), {}, _NONE
    # A margin of -inf costs inf, where the twin's gradient is NaN.
    yield "logistic", torch.tensor([1.0, 1.0]), torch.tensor([_INF, -_INF], **f64), {}, _NONE
    yield "logistic", torch.tensor([1.0, 0.0, 1.0]), torch.tensor([float("nan"), 1.0, 2.0], **f64), {}, _NONE

    yield "sigmoid_cross_entropy", zero_one, logits, {}, _ALL
    # Confident correct logits keep their tiny loss (PyTorch's BCEWithLogits would give ~0 at -30 on a 0 label).
    yield "sigmoid_cross_entropy", torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.tensor([-30.0, 30.0, -40.0, 0.0], **f64), {}, _ALL
    yield "sigmoid_cross_entropy", torch.rand(6, 5, generator=gen, **f64), logits, {}, _NONE  # soft labels
    yield "sigmoid_cross_entropy", zero_one, logits, {"pos_weight": 2.5}, _NONE
    yield "sigmoid_cross_entropy", zero_one, logits, {"label_smoothing": 0.1}, _NONE
    yield "sigmoid_cross_entropy", torch.tensor([1.0, 0.0]), torch.tensor([-800.0, 1.0], **f64), {}, _NONE
    yield "sigmoid_cross_entropy", torch.tensor([0.0, 1.0]), torch.tensor([-_INF, -_INF], **f64), {}, _NONE

    # The twin floors p (1 - p) in its backward, losskit each denominator: equal only while
    # every p is at least sqrt(floor) away from 0 and 1.
    p = torch.rand(6, 5, generator=gen, **f64) * 0.9 + 0.05
    margin = _FLOOR ** 0.5
    for edge in (margin, 1.0 - margin):
        at_edge = p.clone()
        at_edge[0, 0] = edge
        yield "binary_cross_entropy", zero_one, at_edge, {}, _ALL
    for edge in (0.0, 1.0, _FLOOR, 1.0 - _FLOOR, _below(margin)):
        at_edge = p.clone()
        at_edge[0, 0] = edge
        yield "binary_cross_entropy", zero_one, at_edge, {}, _NONE
    yield "binary_cross_entropy", torch.rand(6, 5, generator=gen, **f64), p, {"label_smoothing": 0.2}, _ALL

    probabilities = torch.randn(6, 4, generator=gen, **f64).softmax(-1)
    soft = torch.randn(6, 4, generator=gen, **f64).softmax(-1)
    one_hot = torch.eye(4, **f64)[torch.randint(0, 4, (6,), generator=gen)]
    at_floor = probabilities.clone()
    at_floor[0] = torch.tensor([_FLOOR, 0.5, 0.25, 0.25 - _FLOOR], **f64)
    below_floor = probabilities.clone()
    below_floor[0] = torch.tensor([_below(_FLOOR), 0.5, 0.25, 0.25], **f64)
    with_zero = probabilities.clone()
    with_zero[2] = torch.tensor([0.0, 0.5, 0.25, 0.25], **f64)
    with_nan = probabilities.clone()
    with_nan[1, 1] = float("nan")
    negative_target = soft.clone()
    negative_target[3] = torch.tensor([-0.25, 0.5, 0.5, 0.25], **f64)

    yield "kl_divergence", soft, probabilities, {}, _ALL
    yield "kl_divergence", one_hot, probabilities, {}, _ALL  # zero targets: 0 log 0 = 0 in both
    yield "kl_divergence", soft, at_floor, {}, _ALL
    yield "kl_divergence", soft, below_floor, {}, _NONE
    yield "kl_divergence", soft, with_zero, {}, _NONE
    yield "kl_divergence", soft, with_nan, {}, _NONE
    yield "kl_divergence", negative_target, probabilities, {}, _NONE
    yield "kl_divergence", soft.reshape(2, 3, 4), probabilities.reshape(2, 3, 4), {}, _ALL  # mean over 6 rows, not 2

    labels = torch.randint(0, 4, (6,), generator=gen)
    class_weight = torch.tensor([2.0, 0.5, 1.0, 3.0], **f64)
    ignored = labels.clone()
    ignored[::2] = -100
    # Row 0's label is 1 (p = 0.5); its class 0 sits at the floor or below, or is 0.
    first_label = labels.clone()
    first_label[0] = 1
    yield "sparse_categorical_cross_entropy", labels, probabilities, {}, _ALL
    yield "sparse_categorical_cross_entropy", labels, probabilities, {"class_weight": class_weight}, _ALL
    yield "sparse_categorical_cross_entropy", ignored, probabilities, {"ignore_index": -100}, _ALL
    yield "sparse_categorical_cross_entropy", ignored, probabilities, {"ignore_index": -100, "class_weight": class_weight}, _ALL
    yield "sparse_categorical_cross_entropy", labels.reshape(2, 3), probabilities.reshape(2, 3, 4), {"class_weight": class_weight}, _ALL
    # Means over nothing: every position ignored, or only labels of weight 0. PyTorch's mean is NaN there.
    yield "sparse_categorical_cross_entropy", torch.full((6,), -100), probabilities, {"ignore_index": -100}, _ALL
    yield "sparse_categorical_cross_entropy", torch.zeros(6, dtype=torch.long), probabilities, {"class_weight": torch.tensor([0.0, 1.0, 1.0, 1.0], **f64)}, _ALL
    yield "sparse_categorical_cross_entropy", first_label, at_floor, {}, _ALL
    yield "sparse_categorical_cross_entropy", first_label, below_floor, {}, _NONE
    yield "sparse_categorical_cross_entropy", first_label, with_zero, {}, _NONE  # 0 in an unlabelled class
    nan_labels = labels.clone()
    # The NaN is the labelled probability. In an unlabelled class the catalog's gradient is NaN
    # there and the torch kernel's 0 (it scatters into zeros), a difference older than the twin.
    nan_labels[1] = 1
    yield "sparse_categorical_cross_entropy", nan_labels, with_nan, {}, _NONE
    yield "sparse_categorical_cross_entropy", labels, probabilities, {"label_smoothing": 0.1}, _NONE

    yield "categorical_cross_entropy", one_hot, probabilities, {}, _ALL
    yield "categorical_cross_entropy", soft, probabilities, {}, _ALL
    yield "categorical_cross_entropy", soft, probabilities, {"class_weight": class_weight}, _ALL
    yield "categorical_cross_entropy", one_hot, probabilities, {"label_smoothing": 0.2, "class_weight": class_weight}, _ALL
    yield "categorical_cross_entropy", soft.reshape(2, 3, 4), probabilities.reshape(2, 3, 4), {}, _ALL
    yield "categorical_cross_entropy", one_hot, probabilities, {"class_weight": torch.zeros(4, **f64)}, _ALL  # 0 / 0 -> 0
    yield "categorical_cross_entropy", soft, at_floor, {}, _ALL
    yield "categorical_cross_entropy", soft, below_floor, {}, _NONE
    yield "categorical_cross_entropy", one_hot, with_zero, {}, _NONE
    yield "categorical_cross_entropy", one_hot, with_nan, {}, _NONE
    yield "categorical_cross_entropy", negative_target, probabilities, {}, _NONE



def _selected(name, y_true, y_pred, **kwargs):
    kernel = select(_prepare(name, y_true, y_pred, **kwargs))
    return None if kernel is None else kernel.name


def test_every_data_checked_twin_has_cases():
    assert {case[0] for case in _checked_cases()} == set(_TWIN)
    for name, twin in _TWIN.items():
        assert twin in {k.name for k in kernels(name, "torch")}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, y_true, y_pred, params, twin_reductions", list(_checked_cases()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_data_checked_twin_equals_reference_value_and_gradient(name, y_true, y_pred, params, twin_reductions, reduction):
    selected = _selected(name, y_true, y_pred, reduction=reduction, **params)
    assert (selected == _TWIN[name]) == (reduction in twin_reductions)
    _assert_equal_to_reference(name, y_true, y_pred, reduction, params)


def _small_checked_inputs(name, dtype=torch.float32):
    """A valid small input of each data-checked loss, on which the twin is selected."""
    gen = torch.Generator().manual_seed(11)
    if name in ("logistic", "sigmoid_cross_entropy"):
        return (torch.rand(4, 8, generator=gen) < 0.5).to(dtype), torch.randn(4, 8, generator=gen, dtype=dtype) * 3
    if name == "binary_cross_entropy":
        return (torch.rand(4, 8, generator=gen) < 0.5).to(dtype), torch.rand(4, 8, generator=gen, dtype=dtype) * 0.9 + 0.05
    probabilities = torch.randn(8, 5, generator=gen, dtype=dtype).softmax(-1)
    if name == "sparse_categorical_cross_entropy":
        return torch.randint(0, 5, (8,), generator=gen), probabilities
    return torch.randn(8, 5, generator=gen, dtype=dtype).softmax(-1), probabilities


@pytest.mark.parametrize("name", sorted(_TWIN))
def test_data_checked_twin_is_not_selected_with_sample_weights(name):
    y_true, y_pred = _small_checked_inputs(name, torch.float64)
    weight = torch.linspace(0.5, 2.0, y_pred.shape[0], dtype=torch.float64)
    assert _selected(name, y_true, y_pred) == _TWIN[name]
    assert _selected(name, y_true, y_pred, sample_weight=weight) != _TWIN[name]
    _assert_equal_to_reference(name, y_true, y_pred, "mean", {}, weight)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("autocast", [False, True], ids=["plain", "autocast"])
@pytest.mark.parametrize("name", sorted(_TWIN))
def test_data_checked_twin_with_narrow_inputs(name, dtype, autocast):
    # Computed in float32 from the up-cast input, as the catalog; float32 out under autocast.
    y_true, y_pred32 = _small_checked_inputs(name)
    y_pred = y_pred32.to(dtype)
    target = y_true if y_true.dtype == torch.int64 else y_true.to(dtype)
    input = y_pred.clone().requires_grad_(True)
    if autocast:
        with torch.autocast("cpu", dtype=dtype):
            value = lkt.get_module(name)(input, target)
    else:
        value = lkt.get_module(name)(input, target)
    value.backward()
    assert value.dtype == (torch.float32 if autocast else dtype) and input.grad.dtype == dtype
    with lk.value_checks(False):  # rows rounded to bfloat16 no longer sum to 1
        expected_value, expected_grad = _reference(
            name, target if y_true.dtype == torch.int64 else target.float(), y_pred.float(), "mean", {})
    torch.testing.assert_close(value.float(), expected_value, rtol=1e-6 if autocast else 1e-2, atol=1e-6 if autocast else 1e-2)
    # The float32 gradient rounded once to the input's dtype.
    torch.testing.assert_close(input.grad, expected_grad.to(dtype), rtol=0.0, atol=0.0)


@pytest.mark.parametrize("name", sorted(_TWIN))
def test_data_checked_twin_never_reads_data_off_the_host(name):
    # On the meta device, as for a GPU tensor, a value read (item, tolist, numpy) would raise;
    # the kernel that needs none must run.
    y_true, y_pred = _small_checked_inputs(name)
    input = y_pred.to("meta").requires_grad_(True)
    assert _selected(name, y_true.to("meta"), input) != _TWIN[name]
    value = lkt.get_module(name)(input, y_true.to("meta"))
    value.backward()
    assert value.device.type == "meta" and input.grad.shape == y_pred.shape


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
@pytest.mark.parametrize("name", sorted(_TWIN))
def test_no_data_is_read_while_compiling_or_tracing(name, large, monkeypatch):
    # torch.compile and torch.jit.trace would break the graph at, or freeze, a branch on data:
    # with either flag set no value may be read, and the loss is still the catalog's.
    y_true, y_pred = _small_checked_inputs(name, torch.float64)
    if large:
        y_true, y_pred = y_true.repeat(1024, *([1] * (y_true.ndim - 1))), y_pred.repeat(1024, *([1] * (y_pred.ndim - 1)))
    expected_value, expected_grad = _reference(name, y_true, y_pred, "mean", {})
    for flag in ("compiler", "jit"):
        with monkeypatch.context() as patch:
            if flag == "compiler":
                patch.setattr(torch.compiler, "is_compiling", lambda: True)
            else:
                patch.setattr(torch.jit, "is_tracing", lambda: True)
            for method in ("item", "tolist", "numpy"):
                patch.setattr(torch.Tensor, method, _raise_on_read)
            input = y_pred.clone().requires_grad_(True)
            value = lkt.get_module(name)(input, y_true)
        value.backward()
        torch.testing.assert_close(value.detach(), expected_value, rtol=1e-12, atol=_value_atol(name))
        torch.testing.assert_close(input.grad, expected_grad, rtol=1e-12, atol=_grad_atol(name, {}))


def _raise_on_read(*args, **kwargs):
    raise AssertionError("a tensor's value was read")


@pytest.mark.parametrize("name", sorted(_TWIN))
def test_data_checked_twins_step_aside_under_functorch_transforms(name):
    assert hasattr(torch._C, "_are_functorch_transforms_active")  # the kernels' host-read test relies on it
    y_true, y_pred = _small_checked_inputs(name, torch.float64)
    module = lkt.get_module(name)
    per_row = torch.vmap(module)(y_pred, y_true)
    expected = torch.stack([_reference(name, t, x, "mean", {})[0] for t, x in zip(y_true, y_pred)])
    torch.testing.assert_close(per_row, expected, rtol=1e-12, atol=_value_atol(name))
    grad = torch.func.grad(lambda x: module(x, y_true))(y_pred)
    torch.testing.assert_close(grad, _reference(name, y_true, y_pred, "mean", {})[1], rtol=1e-12, atol=_grad_atol(name, {}))


def test_sparse_twin_keeps_the_catalogs_error_for_an_invalid_label():
    # Without ignore_index, -100 is no label: the catalog's check raises ValueError on the CPU, and
    # unchecked the twin (whose nll_loss would skip -100 by default) must not return a value instead.
    probabilities = torch.full((3, 4), 0.25)
    for module in (lkt.SparseCategoricalCrossEntropy(), lkt.SparseSoftmaxCrossEntropy()):
        with pytest.raises(ValueError, match="class indices"):
            module(probabilities, torch.tensor([0, -100, 2]))
    for module in (lkt.SparseCategoricalCrossEntropy(check_values=False), lkt.SparseSoftmaxCrossEntropy(check_values=False)):
        with pytest.raises((IndexError, RuntimeError)):
            module(probabilities, torch.tensor([0, -100, 2]))


@pytest.mark.parametrize("params", [{"ignore_index": -100}, {"class_weight": [0.0, 1.0, 1.0]}], ids=["ignored", "zero-weight"])
def test_sparse_softmax_mean_over_nothing_is_zero_with_a_zero_gradient(params):
    input = torch.randn(4, 3, requires_grad=True)
    labels = torch.full((4,), -100) if "ignore_index" in params else torch.zeros(4, dtype=torch.long)
    value = lkt.SparseSoftmaxCrossEntropy(**params)(input, labels)
    value.backward()
    assert value.item() == 0.0
    assert torch.count_nonzero(input.grad) == 0


def test_dense_softmax_twin_steps_aside_for_masked_logits():
    # F.cross_entropy multiplies a zero label by a -inf log-probability (NaN); losskit's term is 0.
    logits = torch.tensor([[-_INF, 1.0, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert _selected("softmax_cross_entropy", target, logits) is None
    assert _selected("softmax_cross_entropy", target, logits.clamp(min=-1e4)) == "F.cross_entropy"
    for reduction in REDUCTIONS:
        _assert_equal_to_reference("softmax_cross_entropy", target, logits, reduction, {})
        value, _ = _functional("softmax_cross_entropy", target, logits, reduction, {})
        assert torch.isfinite(value).all()


# ------------------------------------------------------------------- the functional door

def _every_loss_case(loss):
    case = make_case(loss, shapes(loss)[-1])
    y_true = None if case.y_true is None else _tensor(case.y_true)  # None: a loss without a target
    predictions = [_tensor(case.y_pred), *(_tensor(p) for p in case.more_predictions)]
    return y_true, predictions


def _functional_args(y_true, predictions):
    return tuple(predictions) if y_true is None else (y_true, *predictions)


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_functional_autograd_gradient_equals_grad_for_every_loss(loss):
    y_true, predictions = _every_loss_case(loss)
    inputs = [p.clone().requires_grad_(True) for p in predictions]
    for reduction in loss.reductions:
        for x in inputs:
            x.grad = None
        loss(*_functional_args(y_true, inputs), reduction=reduction).sum().backward()
        expected = loss.grad(*_functional_args(y_true, predictions), reduction=reduction)
        expected = expected if isinstance(expected, tuple) else (expected,)
        for x, want in zip(inputs, expected):
            torch.testing.assert_close(x.grad, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["huber", "sigmoid_cross_entropy", "sparse_softmax_cross_entropy", "kl_divergence"])
def test_functional_gradient_under_torch_compile(name):
    loss = lk.get(name)
    y_true, (y_pred,) = _every_loss_case(loss)
    compiled = torch.compile(lambda t, x: loss(t, x), backend="aot_eager", fullgraph=False)
    input = y_pred.clone().requires_grad_(True)
    value = compiled(y_true, input)
    value.backward()
    expected_value, expected_grad = loss.value_and_grad(y_true, y_pred)
    torch.testing.assert_close(value.detach(), expected_value, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(input.grad, expected_grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("loss", SINGLE, ids=lambda loss: loss.name)
def test_functional_under_torch_func_grad_and_vmap(loss):
    y_true, (y_pred,) = _every_loss_case(loss)
    with lk.value_checks(False):
        grad = torch.func.grad(lambda x: loss(y_true, x))(y_pred)
        torch.testing.assert_close(grad, loss.grad(y_true, y_pred), rtol=1e-12, atol=1e-300)
        per_row = torch.vmap(lambda t, x: loss(t, x))(y_true, y_pred)
        expected = torch.stack([loss(t, x) for t, x in zip(y_true, y_pred)])
    torch.testing.assert_close(per_row, expected, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("name", ["sigmoid_cross_entropy", "categorical_cross_entropy", "log_cosh", "kl_divergence"])
def test_large_input_gradient_survives_retained_graphs_and_scaled_upstreams(name, reduction):
    loss = lk.get(name)
    case = make_case(loss, shapes(loss)[0], seed=3)
    y_true = _tensor(np.concatenate([case.y_true] * 4096))
    y_pred = _tensor(np.concatenate([case.y_pred] * 4096))
    originals = (y_true.clone(), y_pred.clone())
    expected_value, expected_grad = _reference(name, y_true, y_pred, reduction, {})
    atol = _grad_atol(name, {})
    module = lkt.get_module(name, reduction=reduction)

    input = y_pred.clone().requires_grad_(True)
    value = module(input, y_true)
    first = torch.autograd.grad(value, input, retain_graph=True)[0].clone()
    second = torch.autograd.grad(value, input)[0]
    torch.testing.assert_close(value.detach(), expected_value, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(first, expected_grad, rtol=1e-12, atol=atol)
    torch.testing.assert_close(second, expected_grad, rtol=1e-12, atol=atol)

    # An upstream gradient other than 1 (a scaled loss, as under GradScaler), and accumulation.
    input = y_pred.clone().requires_grad_(True)
    (module(input, y_true) * 3.0).backward()
    module(input, y_true).backward()
    torch.testing.assert_close(input.grad, 4.0 * expected_grad, rtol=1e-12, atol=4 * atol)
    # The arguments are never written.
    assert torch.equal(y_true, originals[0]) and torch.equal(y_pred, originals[1])


# ------------------------------------------------------------ multi-input and class-axis modules

@pytest.mark.parametrize("params", [{}, {"full": True}, {"eps": 0.5}], ids=["default", "full", "eps"])
def test_gaussian_nll_equals_pytorch_value_and_both_gradients(params):
    gen = torch.Generator().manual_seed(7)
    mean = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    variance = torch.rand(8, 3, generator=gen, dtype=torch.float64) + 0.1
    variance[0, 0] = 1e-9  # below every eps: clamped, with the gradient passed through
    for reduction in REDUCTIONS:
        ours = (mean.clone().requires_grad_(True), variance.clone().requires_grad_(True))
        theirs = (mean.clone().requires_grad_(True), variance.clone().requires_grad_(True))
        value = lkt.GaussianNLL(reduction=reduction, **params)(ours[0], target, ours[1])
        expected = torch.nn.GaussianNLLLoss(reduction=reduction, **params)(theirs[0], target, theirs[1])
        value.sum().backward()
        expected.sum().backward()
        torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(ours[0].grad, theirs[0].grad, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(ours[1].grad, theirs[1].grad, rtol=1e-12, atol=1e-15)


_WEIGHT4 = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)


@pytest.mark.parametrize("params", [{}, {"class_weight": _WEIGHT4}, {"ignore_index": 2}, {"label_smoothing": 0.1},
                                    {"class_weight": _WEIGHT4, "ignore_index": 1, "label_smoothing": 0.2}],
                         ids=["plain", "class-weight", "ignore-index", "smoothing", "all"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sparse_softmax_axis_1_equals_cross_entropy_on_nchw(params, reduction):
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 3, 5), generator=gen)
    torch_params = {"weight" if k == "class_weight" else k: v for k, v in params.items()}
    _assert_module_equals(lkt.SparseSoftmaxCrossEntropy(axis=1, reduction=reduction, **params), logits, labels,
                          lambda x: F.cross_entropy(x, labels, reduction=reduction, **torch_params))


@pytest.mark.parametrize("params", [{}, {"label_smoothing": 0.1}], ids=["plain", "smoothing"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_axis_1_equals_cross_entropy_on_nchw(params, reduction):
    gen = torch.Generator().manual_seed(9)
    logits = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64)
    target = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64).softmax(1)
    _assert_module_equals(lkt.SoftmaxCrossEntropy(axis=1, reduction=reduction, **params), logits, target,
                          lambda x: F.cross_entropy(x, target, reduction=reduction, **params))


def test_softmax_axis_1_with_class_weight_equals_cross_entropy_on_one_hot_nchw():
    # With class weights PyTorch's mean of soft labels divides by N; on one-hot labels it is losskit's.
    gen = torch.Generator().manual_seed(10)
    logits = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 3, 5), generator=gen)
    one_hot = F.one_hot(labels, 4).movedim(-1, 1).double()
    _assert_module_equals(lkt.SoftmaxCrossEntropy(axis=1, class_weight=_WEIGHT4), logits, one_hot,
                          lambda x: F.cross_entropy(x, labels, weight=_WEIGHT4))


def _assert_module_equals(module, input, target, native):
    ours, theirs = input.clone().requires_grad_(True), input.clone().requires_grad_(True)
    value, expected = module.to(torch.float64)(ours, target), native(theirs)
    value.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------- pickling and static classes

def _module_inputs(loss):
    y_true, predictions = _every_loss_case(loss)
    if y_true is None:
        return tuple(predictions)
    if lkt.module_class(loss).target_last:  # PyTorch's (x1, x2, target)
        return (*predictions, y_true)
    return (predictions[0], y_true, *predictions[1:])


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_every_module_pickles_saves_and_deep_copies(loss):
    params = {"class_weight": [1.0, 2.0, 0.5, 1.5]} if "class_weight" in loss.defaults and len(loss.inputs) == 1 else {}
    reduction = loss.reductions[0]
    module = lkt.module_class(loss)(reduction=reduction, **params).to(torch.float64)
    inputs = _module_inputs(loss)
    expected = module(*inputs)
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    copies = [pickle.loads(pickle.dumps(module)), copy.deepcopy(module), torch.load(buffer, weights_only=False)]
    for restored in copies:
        assert type(restored) is type(module) and restored.reduction == reduction
        torch.testing.assert_close(restored(*inputs), expected, rtol=0.0, atol=0.0)


_TORCH_PY = Path(lkt.__file__)
_STATIC_CLASSES = {node.name for node in ast.parse(_TORCH_PY.read_text()).body if isinstance(node, ast.ClassDef)}


@pytest.mark.parametrize("loss", CATALOG, ids=lambda loss: loss.name)
def test_every_catalog_loss_has_a_module_written_in_torch_py(loss):
    cls = lkt.module_class(loss)
    assert cls.__module__ == "losskit.torch" and cls.__name__ in _STATIC_CLASSES
    assert cls.loss is loss
