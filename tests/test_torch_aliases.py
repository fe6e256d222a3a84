"""The PyTorch-named aliases of losskit.torch against the real torch.nn classes.

Each alias is built with the same arguments as its torch.nn twin and compared on random float64
inputs at every reduction: the value and the gradient of every floating input (autograd).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import losskit.torch as lkt  # noqa: E402

REDUCTIONS = ("none", "sum", "mean")
RTOL, ATOL = 1e-6, 1e-12
_MAX_DIFF: dict[str, float] = {}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _real(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _prob(g, *shape):
    return torch.rand(*shape, generator=g, dtype=torch.float64) * 0.96 + 0.02


def _signs(g, *shape):
    return torch.randint(0, 2, shape, generator=g).to(torch.float64) * 2 - 1


def _compare(ours_module, theirs_module, inputs, differentiable):
    """Run both modules on copies of ``inputs``; compare values and the gradients of ``differentiable``."""
    ours_in = [x.clone().requires_grad_(True) if i in differentiable else x for i, x in enumerate(inputs)]
    theirs_in = [x.clone().requires_grad_(True) if i in differentiable else x for i, x in enumerate(inputs)]
    ours = ours_module(*ours_in)
    theirs = theirs_module(*theirs_in)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)
    # a random cotangent, so that the 'none' gradients are not just sums
    cotangent = _real(_gen(99), *theirs.shape) if theirs.ndim else torch.tensor(1.0, dtype=torch.float64)
    (ours * cotangent).sum().backward()
    (theirs * cotangent).sum().backward()
    diff = _relative(ours.detach(), theirs.detach())
    for i in differentiable:
        torch.testing.assert_close(ours_in[i].grad, theirs_in[i].grad, rtol=RTOL, atol=ATOL)
        diff = max(diff, _relative(ours_in[i].grad, theirs_in[i].grad))
    return diff


def _relative(a, b):
    """The largest relative difference (over max(|b|, 1e-300))."""
    if a.numel() == 0:
        return 0.0
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


def _cases():
    g = _gen(0)
    w_elem = _prob(g, 7, 3) * 3
    w_row = _prob(g, 3) * 3
    pos_w = _prob(g, 3) * 4
    cls_w = _prob(g, 5) * 3
    yield "MSELoss", lambda r: (lkt.MSELoss(reduction=r), nn.MSELoss(reduction=r)), (_real(g, 7, 3), _real(g, 7, 3)), (0, 1)
    yield "L1Loss", lambda r: (lkt.L1Loss(reduction=r), nn.L1Loss(reduction=r)), (_real(g, 7, 3), _real(g, 7, 3)), (0, 1)
    yield "HuberLoss", lambda r: (lkt.HuberLoss(reduction=r), nn.HuberLoss(reduction=r)), (_real(g, 7, 3) * 2, _real(g, 7, 3)), (0, 1)
    yield "HuberLoss-delta", lambda r: (lkt.HuberLoss(reduction=r, delta=0.3), nn.HuberLoss(reduction=r, delta=0.3)), (
        _real(g, 7, 3), _real(g, 7, 3)), (0, 1)
    yield "SmoothL1Loss", lambda r: (lkt.SmoothL1Loss(reduction=r), nn.SmoothL1Loss(reduction=r)), (
        _real(g, 7, 3) * 2, _real(g, 7, 3)), (0, 1)
    yield "SmoothL1Loss-beta", lambda r: (lkt.SmoothL1Loss(reduction=r, beta=0.4), nn.SmoothL1Loss(reduction=r, beta=0.4)), (
        _real(g, 7, 3), _real(g, 7, 3)), (0, 1)
    yield "SmoothL1Loss-beta0", lambda r: (lkt.SmoothL1Loss(reduction=r, beta=0.0), nn.SmoothL1Loss(reduction=r, beta=0.0)), (
        _real(g, 7, 3), _real(g, 7, 3)), (0,)
    yield "BCELoss", lambda r: (lkt.BCELoss(reduction=r), nn.BCELoss(reduction=r)), (_prob(g, 7, 3), _prob(g, 7, 3)), (0,)
    yield "BCELoss-weight", lambda r: (lkt.BCELoss(weight=w_elem, reduction=r), nn.BCELoss(weight=w_elem, reduction=r)), (
        _prob(g, 7, 3), _prob(g, 7, 3)), (0,)
    yield "BCELoss-weight-broadcast", lambda r: (lkt.BCELoss(weight=w_row, reduction=r), nn.BCELoss(weight=w_row, reduction=r)), (
        _prob(g, 7, 3), _prob(g, 7, 3)), (0,)
    yield "BCEWithLogitsLoss", lambda r: (lkt.BCEWithLogitsLoss(reduction=r), nn.BCEWithLogitsLoss(reduction=r)), (
        _real(g, 7, 3) * 3, _prob(g, 7, 3)), (0,)
    yield "BCEWithLogitsLoss-weight-pos_weight", lambda r: (
        lkt.BCEWithLogitsLoss(weight=w_elem, reduction=r, pos_weight=pos_w),
        nn.BCEWithLogitsLoss(weight=w_elem, reduction=r, pos_weight=pos_w)), (_real(g, 7, 3) * 3, _prob(g, 7, 3)), (0,)
    yield "BCEWithLogitsLoss-weight-broadcast", lambda r: (
        lkt.BCEWithLogitsLoss(weight=w_row, reduction=r), nn.BCEWithLogitsLoss(weight=w_row, reduction=r)), (
        _real(g, 7, 3) * 3, _prob(g, 7, 3)), (0,)
    labels = torch.randint(0, 5, (8,), generator=g)
    ignored = labels.clone()
    ignored[::3] = -100
    yield "CrossEntropyLoss", lambda r: (lkt.CrossEntropyLoss(reduction=r), nn.CrossEntropyLoss(reduction=r)), (
        _real(g, 8, 5), labels), (0,)
    yield "CrossEntropyLoss-weight-smoothing", lambda r: (
        lkt.CrossEntropyLoss(weight=cls_w, reduction=r, label_smoothing=0.15),
        nn.CrossEntropyLoss(weight=cls_w, reduction=r, label_smoothing=0.15)), (_real(g, 8, 5), labels), (0,)
    yield "CrossEntropyLoss-ignore_index", lambda r: (
        lkt.CrossEntropyLoss(weight=cls_w, reduction=r), nn.CrossEntropyLoss(weight=cls_w, reduction=r)), (
        _real(g, 8, 5), ignored), (0,)
    other = labels.clone()
    other[1::2] = 2
    yield "CrossEntropyLoss-custom-ignore_index", lambda r: (
        lkt.CrossEntropyLoss(ignore_index=2, reduction=r, label_smoothing=0.1),
        nn.CrossEntropyLoss(ignore_index=2, reduction=r, label_smoothing=0.1)), (_real(g, 8, 5), other), (0,)
    spatial = torch.randint(0, 5, (4, 6), generator=g)
    spatial[0, ::2] = -100
    yield "CrossEntropyLoss-NCL", lambda r: (
        lkt.CrossEntropyLoss(weight=cls_w, reduction=r, label_smoothing=0.1),
        nn.CrossEntropyLoss(weight=cls_w, reduction=r, label_smoothing=0.1)), (_real(g, 4, 5, 6), spatial), (0,)
    yield "CrossEntropyLoss-NCHW", lambda r: (lkt.CrossEntropyLoss(reduction=r), nn.CrossEntropyLoss(reduction=r)), (
        _real(g, 2, 5, 3, 4), torch.randint(0, 5, (2, 3, 4), generator=g)), (0,)
    yield "CrossEntropyLoss-probabilities", lambda r: (
        lkt.CrossEntropyLoss(reduction=r, label_smoothing=0.2), nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2)), (
        _real(g, 8, 5), _real(g, 8, 5).softmax(1)), (0, 1)
    yield "CrossEntropyLoss-probabilities-NCL", lambda r: (lkt.CrossEntropyLoss(reduction=r), nn.CrossEntropyLoss(reduction=r)), (
        _real(g, 4, 5, 6), _real(g, 4, 5, 6).softmax(1)), (0,)
    yield "GaussianNLLLoss", lambda r: (lkt.GaussianNLLLoss(reduction=r), nn.GaussianNLLLoss(reduction=r)), (
        _real(g, 7, 3), _real(g, 7, 3), _prob(g, 7, 3)), (0, 2)
    yield "GaussianNLLLoss-full-eps", lambda r: (
        lkt.GaussianNLLLoss(full=True, eps=1e-2, reduction=r), nn.GaussianNLLLoss(full=True, eps=1e-2, reduction=r)), (
        _real(g, 7, 3), _real(g, 7, 3), _prob(g, 7, 3) * 0.02), (0, 2)
    yield "GaussianNLLLoss-row-variance", lambda r: (lkt.GaussianNLLLoss(reduction=r), nn.GaussianNLLLoss(reduction=r)), (
        _real(g, 7, 3), _real(g, 7, 3), _prob(g, 7, 1)), (0, 2)
    yield "MarginRankingLoss", lambda r: (
        lkt.MarginRankingLoss(margin=0.3, reduction=r), nn.MarginRankingLoss(margin=0.3, reduction=r)), (
        _real(g, 9), _real(g, 9), _signs(g, 9)), (0, 1)
    yield "MarginRankingLoss-default", lambda r: (lkt.MarginRankingLoss(reduction=r), nn.MarginRankingLoss(reduction=r)), (
        _real(g, 9), _real(g, 9), _signs(g, 9)), (0, 1)
    yield "CosineEmbeddingLoss", lambda r: (
        lkt.CosineEmbeddingLoss(margin=0.2, reduction=r), nn.CosineEmbeddingLoss(margin=0.2, reduction=r)), (
        _real(g, 9, 4), _real(g, 9, 4), _signs(g, 9)), (0, 1)
    yield "TripletMarginLoss", lambda r: (lkt.TripletMarginLoss(reduction=r), nn.TripletMarginLoss(reduction=r)), (
        _real(g, 9, 4), _real(g, 9, 4), _real(g, 9, 4)), (0, 1, 2)
    yield "TripletMarginLoss-p1-swap", lambda r: (
        lkt.TripletMarginLoss(margin=2.0, p=1.0, eps=1e-3, swap=True, reduction=r),
        nn.TripletMarginLoss(margin=2.0, p=1.0, eps=1e-3, swap=True, reduction=r)), (
        _real(g, 9, 4), _real(g, 9, 4), _real(g, 9, 4)), (0, 1, 2)
    yield "SoftMarginLoss", lambda r: (lkt.SoftMarginLoss(reduction=r), nn.SoftMarginLoss(reduction=r)), (
        _real(g, 7, 3) * 3, _signs(g, 7, 3)), (0,)


CASES = list(_cases())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, make, inputs, differentiable", CASES, ids=[c[0] for c in CASES])
def test_alias_equals_torch_nn(name, make, inputs, differentiable, reduction):
    ours, theirs = make(reduction)
    diff = _compare(ours, theirs, inputs, differentiable)
    print(f"max relative difference {name}-{reduction}: {diff:.3g}")
    assert diff < RTOL


def test_every_alias_is_exported_and_named_as_in_torch_nn():
    for name in lkt.PYTORCH_ALIASES:
        assert name in lkt.__all__
        cls = getattr(lkt, name)
        assert hasattr(nn, name)
        assert issubclass(cls, nn.Module)
        assert not issubclass(cls, lkt.LossModule)  # not a catalog module


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss",
                                  "CrossEntropyLoss", "GaussianNLLLoss", "MarginRankingLoss", "CosineEmbeddingLoss",
                                  "TripletMarginLoss", "SoftMarginLoss"])
def test_constructor_defaults_match_pytorch(name):
    import inspect

    ours = inspect.signature(getattr(lkt, name)).parameters
    theirs = {k: v for k, v in inspect.signature(getattr(nn, name)).parameters.items()
              if k not in ("size_average", "reduce")}
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key
        assert ours[key].kind == param.kind, key


def test_buffers_follow_the_module():
    weight = torch.tensor([1.0, 2.0, 3.0])
    module = lkt.CrossEntropyLoss(weight=weight).to(torch.float64)
    assert module.weight.dtype == torch.float64
    assert "weight" in module.state_dict()
    module = lkt.BCEWithLogitsLoss(pos_weight=weight)
    assert "pos_weight" in module.state_dict()


def test_cross_entropy_probability_targets_with_weight_is_refused():
    module = lkt.CrossEntropyLoss(weight=torch.ones(5, dtype=torch.float64))
    logits = torch.randn(4, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="divides by N"):
        module(logits, logits.softmax(1))


def test_unbatched_cross_entropy():
    logits = torch.randn(5, dtype=torch.float64)
    target = torch.tensor(3)
    for reduction in REDUCTIONS:
        torch.testing.assert_close(lkt.CrossEntropyLoss(reduction=reduction)(logits, target),
                                   nn.CrossEntropyLoss(reduction=reduction)(logits, target))


def test_invalid_reduction():
    with pytest.raises(ValueError, match="reduction"):
        lkt.MSELoss(reduction="avg")
