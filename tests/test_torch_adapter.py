"""losskit.torch: one nn.Module per catalog loss, equal to the functional loss and to PyTorch's twins."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import losskit as lk  # noqa: E402
import losskit.torch as lkt  # noqa: E402
from _cases import make_case, param_cases, shapes  # noqa: E402

CATALOG = lk.catalog()
REDUCTIONS = ("none", "sum", "mean")


def _cases():
    for loss in CATALOG:
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


def test_native_dispatch_and_analytic_path_agree():
    input = torch.randn(40, 5, dtype=torch.float64)
    target = torch.randint(0, 5, (40,))
    target[::4] = 3
    results = []
    for use_native in (True, False):
        x = input.clone().requires_grad_(True)
        value = lkt.SparseSoftmaxCrossEntropy(ignore_index=3, label_smoothing=0.1, use_native=use_native)(x, target)
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


# ------------------------------------------------------------ torch-specialised kernels (speed)
#
# losskit.torch computes some losses with a torch-specific kernel (lkt._TORCH_KERNELS) instead of
# the catalog's array-API kernel. These tests pin each one to its catalog kernel: the module
# tests above cover random inputs, every reduction and sample weights; these cover the edge
# cases where the formulas are most likely to differ (infinite logits, probabilities 0 and 1,
# rates near 0, zero targets, ignored positions).

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
    yield "categorical_cross_entropy", targets, probabilities, {"class_weight": class_weight}
    yield "categorical_cross_entropy", targets, probabilities, {"label_smoothing": 0.2, "class_weight": class_weight}
    nan_row = torch.tensor([[0.0, 1.0, 0.0], [float("nan"), 0.5, 0.5]], **f64)
    yield "categorical_cross_entropy", torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], **f64), nan_row, {}
    masked_logits = torch.tensor([[-_INF, 1.0, 2.0], [300.0, -300.0, 0.0], [0.0, 0.0, 0.0], [-_INF, -_INF, 5.0]], **f64)
    yield "kl_divergence_with_logits", targets, masked_logits, {}


def _with_defaults(loss, params):
    return {**loss.defaults, **params}


@pytest.mark.parametrize("name", sorted(lkt._TORCH_KERNELS))
def test_every_torch_kernel_has_edge_cases(name):
    assert name in {case[0] for case in _edge_cases()}


@pytest.mark.parametrize("name, y_true, y_pred, params", list(_edge_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_torch_kernel_equals_catalog_kernel_at_edge_cases(name, y_true, y_pred, params):
    loss = lk.get(name)
    arguments = _with_defaults(loss, {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, float) and k == "pos_weight" else v
                                      for k, v in params.items()})
    ours = lkt._TORCH_KERNELS[name](lkt.xp_torch, y_true, y_pred, with_grad=True, **arguments)
    expected = loss.kernel(lkt.xp_torch, y_true, y_pred, with_grad=True, **arguments)
    for got, want in zip(ours, expected):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, y_true, y_pred, params", list(_edge_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_module_equals_functional_at_edge_cases(name, y_true, y_pred, params, reduction):
    loss = lk.get(name)
    input = y_pred.clone().requires_grad_(True)
    value = lkt.get_module(name, reduction=reduction, **params).to(torch.float64)(input, y_true)
    value.sum().backward()
    with lk.value_checks(False):
        expected_value, expected_grad = loss.value_and_grad(y_true, y_pred, reduction=reduction, **params)
    torch.testing.assert_close(value.detach(), expected_value, rtol=1e-12, atol=0.0, equal_nan=True)
    torch.testing.assert_close(input.grad, expected_grad, rtol=1e-12, atol=0.0, equal_nan=True)


def test_infinite_logit_costs_zero_on_its_label_and_inf_on_the_other():
    logits = torch.tensor([-_INF, -_INF, _INF, _INF], requires_grad=True)
    value = lkt.SigmoidCrossEntropy(reduction="none")(logits, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    value.sum().backward()
    assert value.tolist() == [0.0, _INF, _INF, 0.0]
    assert logits.grad.tolist() == [0.0, -1.0, 1.0, 0.0]


# ------------------------------------------------------- small inputs: plain autograd (speed)
#
# At or below lkt._SMALL_NUMEL elements some losses are computed by a plain torch expression
# differentiated by autograd (lkt._SMALL_EXPRESSIONS) instead of the analytic Function. These
# tests pin that path to the functional loss; the edge cases above already run through it, as
# they are small.

def _small_expression_cases():
    gen = torch.Generator().manual_seed(3)
    f64 = dict(dtype=torch.float64)
    rates = torch.rand(6, 5, generator=gen, **f64) * 3 + 0.05
    counts = torch.poisson(torch.full((6, 5), 2.0, **f64), generator=gen)
    yield "poisson", counts, rates
    yield "poisson", torch.tensor([0.0, 3.0, 1.0, 0.0, 2.0, 4.0], **f64), torch.tensor([0.0, 1e-300, 1e-13, 1e-12, 7e-13, _INF], **f64)
    logits = torch.randn(6, 5, generator=gen, **f64) * 4
    yield "logistic", (torch.rand(6, 5, generator=gen) < 0.5).double(), logits
    yield "logistic", torch.randint(0, 2, (6, 5), generator=gen).double() * 2 - 1, logits
    yield "logistic", torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0], **f64), torch.tensor([-_INF, -_INF, _INF, _INF, 800.0, 0.0], **f64)
    edge_labels = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.3], **f64)
    edge_logits = torch.tensor([-_INF, -_INF, _INF, _INF, 800.0, -800.0, 0.0], **f64)
    for params in ({}, {"pos_weight": 2.5}, {"label_smoothing": 0.1}, {"pos_weight": 0.0, "label_smoothing": 0.2}):
        yield "sigmoid_cross_entropy", (torch.rand(6, 5, generator=gen) < 0.5).double(), logits, params
        yield "sigmoid_cross_entropy", torch.rand(6, 5, generator=gen, **f64), logits, params
        yield "sigmoid_cross_entropy", edge_labels, edge_logits, params


def _small_cases_with_params():
    for case in _small_expression_cases():
        yield case if len(case) == 4 else (*case, {})


def test_every_small_expression_has_cases():
    assert set(lkt._SMALL_EXPRESSIONS) == {case[0] for case in _small_expression_cases()}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, y_true, y_pred, params", list(_small_cases_with_params()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_small_expression_equals_functional_value_and_gradient(name, y_true, y_pred, params, reduction, weighted):
    assert y_pred.numel() <= lkt._SMALL_NUMEL
    loss = lk.get(name)
    weight = torch.linspace(0.0, 2.0, y_pred.numel(), dtype=torch.float64).reshape(y_pred.shape) if weighted else None
    input = y_pred.clone().requires_grad_(True)
    value = lkt.get_module(name, reduction=reduction, **params)(input, y_true, weight)
    value.sum().backward()
    with lk.value_checks(False):
        expected_value, expected_grad = loss.value_and_grad(
            y_true, y_pred, sample_weight=weight, reduction=reduction, **params
        )
    torch.testing.assert_close(value.detach(), expected_value, rtol=1e-12, atol=0.0, equal_nan=True)
    torch.testing.assert_close(input.grad, expected_grad, rtol=1e-12, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("name", sorted(lkt._SMALL_EXPRESSIONS))
def test_small_expression_and_analytic_function_agree_across_the_size_threshold(name, monkeypatch):
    loss = lk.get(name)
    case = make_case(loss, shapes(loss)[0])
    results = []
    for threshold in (lkt._SMALL_NUMEL, -1):  # the expression, then the Function
        monkeypatch.setattr(lkt, "_SMALL_NUMEL", threshold)
        input = _tensor(case.y_pred).requires_grad_(True)
        value = lkt.get_module(name)(input, _tensor(case.y_true))
        value.backward()
        results.append((value.detach(), input.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=0.0)


def test_poisson_rate_below_the_floor_keeps_the_straight_through_gradient():
    rates = torch.tensor([0.0, 1e-300, 1e-13], dtype=torch.float64, requires_grad=True)
    lkt.Poisson(reduction="sum")(rates, torch.full((3,), 2.0, dtype=torch.float64)).backward()
    torch.testing.assert_close(rates.grad, torch.full((3,), 1.0 - 2.0 / 1e-12, dtype=torch.float64), rtol=1e-12, atol=0.0)
