"""PyTorch modules for every loss of the catalog, with PyTorch's conventions.

Each loss ``losskit.<name>`` has a module class here, named in PyTorch's style
(``mean_squared_error`` -> :class:`MeanSquaredError`, ``smooth_l1`` -> :class:`SmoothL1`,
``sparse_softmax_cross_entropy`` -> :class:`SparseSoftmaxCrossEntropy`), and
:func:`get_module` builds one from any catalog name or alias::

    >>> import torch
    >>> import losskit.torch as lkt
    >>> criterion = lkt.Huber(delta=0.5)          # was: torch.nn.HuberLoss(delta=0.5)
    >>> input = torch.tensor([0.0, 2.0], requires_grad=True)
    >>> loss = criterion(input, torch.tensor([0.25, 0.0]))   # prediction first, as in PyTorch
    >>> loss.backward()
    >>> round(float(loss), 6), input.grad.tolist()
    (0.453125, [-0.125, 0.25])

What follows PyTorch and what follows losskit:

* ``criterion(input, target)``, prediction first; ``reduction=`` and the loss parameters are
  given at construction. ``forward`` also takes an optional ``sample_weight`` (losskit's
  weighted mean: ``sum(w * l) / sum(w)``).
* Array parameters (``class_weight``, ``pos_weight``) are registered buffers, so
  ``criterion.to(device)`` moves them and they are saved in ``state_dict``.
* The class axis is the **last** axis, as everywhere in losskit (PyTorch's is axis 1): logits of
  shape ``(N, C)`` are the same in both; for ``(N, C, d1, ...)`` pass ``logits.movedim(1, -1)``.
* Shapes are strict, as in losskit: ``(N, 1)`` against ``(N,)`` raises ``ValueError`` instead of
  broadcasting with a warning.
* Value checks (labels in range, probabilities in [0, 1]) read the data and therefore synchronise
  the device on every call. PyTorch's losses do not make them on the GPU, and neither do these
  modules by default: pass ``check_values=True`` to turn them on while debugging.
* float16 / bfloat16 inputs are computed in float32. Outside autocast the result has the input's
  dtype (losskit's contract); inside ``torch.autocast`` it is float32, as autocast's policy for
  PyTorch's own losses, so that ``GradScaler`` never scales a float16 loss into overflow.

Speed: a module takes the cheapest of three paths, all with the catalog's value and gradient.
Where PyTorch has a native kernel with exactly losskit's semantics for the arguments of the call
(see ``_NATIVE``) the module calls it. For some losses that holds only on part of the input
domain (finite margins, {0, 1} labels, probabilities at or above the gradient floor): small CPU
inputs are checked for it first, in a few microseconds, and inputs on a GPU or in a traced call
never are, since reading a value there would synchronise the device or break the graph. Small
inputs that no twin takes are, for a few losses, a short plain-autograd expression
(``_SMALL_EXPRESSIONS``). Everything else computes value and gradient in one forward pass (the
analytic gradient of the catalog's kernel, or of a torch-specialised kernel of the same formula,
``_TORCH_KERNELS``, which on the CPU takes a cheaper branch where the values allow) inside a
``torch.autograd.Function`` whose backward is at most one multiply, so autograd keeps one
gradient tensor instead of a graph of intermediates.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import array_api_compat.torch as xp_torch
import torch
import torch.nn.functional as F
from torch import nn

from . import _validation as V
from ._array import GRAD_DENOMINATOR_FLOOR, LOG_FLOOR
from ._loss import KernelResult, Loss
from ._reduction import check_reduction, reduce
from ._registry import catalog, get
from .binary import _signed_labels, _smooth_binary
from .multiclass import _sparse, _sparse_categorical_kernel

__all__ = ["LossModule", "get_module"]

# Name parts written in capitals in class names (SmoothL1, KLDivergence), as PyTorch writes them.
_ACRONYMS = {"l1": "L1", "l2": "L2", "kl": "KL"}


def class_name(loss_name: str) -> str:
    """The module class name of a catalog loss: ``"smooth_l1"`` -> ``"SmoothL1"``."""
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in loss_name.split("_"))


# ------------------------------------------------------------------------- the analytic path

def _compute_value_and_grad(
    kernel: Callable[..., KernelResult], loss: Loss, target: torch.Tensor, input: torch.Tensor,
    weight: torch.Tensor | None, params: dict[str, Any], reduction: str,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Reduced value, gradient w.r.t. ``input`` up to a constant factor, and that factor.

    ``kernel`` is the catalog's kernel, or its torch specialisation from ``_TORCH_KERNELS``. It is
    called directly with the array-api-compat torch namespace: the checks that ``Loss.__call__``
    makes per call (namespace lookup, dtype policy, value checks that read the data) were made by
    the module already, once and cheaply.

    An unweighted sum or mean scales every gradient entry by the same number (1 or 1/size);
    that factor is returned instead of applied, and backward folds it into the upstream
    gradient, a scalar, saving a pass over a gradient of the input's size. Every other case goes
    through ``_reduction.reduce``, the catalog's one definition of the reductions.
    """
    result = kernel(xp_torch, target, input, with_grad=True, **params)
    if reduction != "none" and weight is None and result.norm is None and not loss.root:
        value = result.loss.sum()
        if reduction == "sum":
            return value, result.grad, 1.0
        denominator = float(max(result.loss.numel(), 1))  # as reduce(): a mean over nothing is 0
        return value / denominator, result.grad, 1.0 / denominator
    value, grad = reduce(
        xp_torch, result.loss, result.grad, result.norm, weight, reduction,
        class_axis=loss.kind != "pointwise", root=loss.root,
    )
    return value, grad, 1.0


class _AnalyticLoss(torch.autograd.Function):
    """Forward computes value and gradient together; backward scales the saved gradient.

    Autograd then holds exactly one tensor of the input's size (the gradient, in the compute
    dtype) instead of every intermediate of the expression, and backward is one multiply, or
    none (see forward).
    """

    @staticmethod
    def forward(ctx, input, target, weight, kernel, loss, params, reduction, out_dtype):
        value, grad, grad_scale = _compute_value_and_grad(kernel, loss, target, input, weight, params, reduction)
        # On the CPU, a large scalar loss's gradient is scaled here, in place, so that the usual
        # backward (an upstream gradient of exactly 1) can hand the saved tensor itself to
        # autograd: without retain_graph autograd has released it by then and adopts it as
        # input.grad, where a multiply would allocate a new tensor of the input's size (at 10^7
        # elements a fresh tensor costs more than the pass that fills it; small ones come from
        # the allocator's cache). Autograd writes into a gradient buffer only when it holds the
        # last reference, so a retained graph keeps its saved gradient intact. Only a fresh,
        # contiguous gradient that shares no memory with the arguments is scaled in place.
        ctx.pass_through = (
            value.ndim == 0 and grad.numel() > _SMALL_NUMEL and _host_readable(grad) and _owns(grad, input, target, weight)
        )
        if ctx.pass_through and grad_scale != 1.0:
            grad.mul_(grad_scale)
            grad_scale = 1.0
        ctx.save_for_backward(grad)
        ctx.per_sample = reduction == "none" and loss.kind != "pointwise"
        ctx.grad_scale = grad_scale
        return value if value.dtype == out_dtype else value.to(out_dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        if ctx.pass_through and not grad_output.requires_grad and grad_output.item() == 1.0:
            return grad, None, None, None, None, None, None, None
        if ctx.per_sample:  # one upstream gradient per sample, broadcast over the class axis
            grad_output = grad_output[..., None]
        if grad_output.dtype != grad.dtype:
            grad_output = grad_output.to(grad.dtype)
        if ctx.grad_scale != 1.0:
            grad_output = grad_output * ctx.grad_scale
        return grad * grad_output, None, None, None, None, None, None, None


def _owns(grad: torch.Tensor, *arguments: torch.Tensor | None) -> bool:
    """Whether ``grad`` may be written in place: contiguous, and sharing no memory with an argument."""
    if not grad.is_contiguous():
        return False
    pointer = grad.untyped_storage().data_ptr()
    return all(argument is None or argument.untyped_storage().data_ptr() != pointer for argument in arguments)


# ------------------------------------------------------------------- values read on the host
#
# Some fast paths below are exact only on part of the input domain: finite logits, labels in
# [0, 1], probabilities at or above GRAD_DENOMINATOR_FLOOR (where neither the log floor nor the
# gradient floor is active). Choosing them reads the data, which is free for a CPU tensor but a
# device synchronisation on a GPU, and the modules never synchronise unasked (see check_values).
# So they are chosen only where _host_readable() holds; elsewhere the module runs the path that is
# exact for every input, and gives the same value and gradient.

# functorch's transforms (vmap, grad, ...) wrap tensors; under vmap reading a value fails. There is
# no public test for them; without this private one every call is treated as transformed, which
# is slower but exact (tests/test_torch_adapter.py asserts that it exists).
_functorch_transforms_active: Callable[[], bool] = getattr(torch._C, "_are_functorch_transforms_active", lambda: True)


def _host_readable(tensor: torch.Tensor) -> bool:
    """Whether a Python branch on the values of ``tensor`` is free and allowed.

    Only on the CPU, and not while torch.compile or torch.jit.trace record the call (a branch on
    data would break the graph or be frozen into it) or a functorch transform wraps it.
    """
    return (
        tensor.is_cpu
        and not _functorch_transforms_active()
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
    )


def _extremes(tensor: torch.Tensor) -> tuple[float, float]:
    """(min, max) in one pass without a temporary; NaN if any value is NaN. Host-readable, non-empty tensors only."""
    smallest, largest = torch.aminmax(tensor.detach())
    return smallest.item(), largest.item()


def _at_least(tensor: torch.Tensor, low: float) -> bool:
    """Every value >= low (False for a NaN): a min and one read, cheaper than _within at batch 32. Non-empty tensors."""
    return tensor.detach().min().item() >= low


def _within(tensor: torch.Tensor, low: float, high: float) -> bool:
    """low <= every value <= high (False for a NaN). Host-readable tensors only."""
    if tensor.numel() == 0:
        return True
    smallest, largest = _extremes(tensor)
    return low <= smallest and largest <= high


def _all_zero_one(labels: torch.Tensor) -> bool:
    """binary._signed_labels' test (every label 0 or 1) as a Python bool. Host-readable tensors only.

    Measured inside a training step, where autograd's backward runs between two calls: up to
    64 labels a set of Python floats is the cheapest test (one C call, no ufunc dispatch), and
    beyond that NumPy's labels == labels.astype(bool) (about 10 ms at 10^7 labels, torch's
    comparisons and reduction about 40 ms). A NaN or any other value fails both.
    """
    if labels.numel() <= 64:
        return set(labels.reshape(-1).tolist()) <= {0.0, 1.0}
    values = labels.detach().numpy()
    return bool((values.astype(bool) == values).all())


# torch.lerp(-1, 1, y) is 2y - 1 in one op instead of two (a third of the cost at batch 32, where
# ops cost their call overhead), exact for y in {0, 1}: lerp computes -1 + 0 * 2 at 0 and
# 1 - 2 * 0 at 1.
_LERP_ENDS: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}


def _signs_from_zero_one(labels: torch.Tensor) -> torch.Tensor:
    """2y - 1 for CPU labels that are all 0 or 1."""
    ends = _LERP_ENDS.get(labels.dtype)
    if ends is None:
        ends = _LERP_ENDS[labels.dtype] = tuple(torch.tensor(end, dtype=labels.dtype, device="cpu") for end in (-1.0, 1.0))
    return torch.lerp(ends[0], ends[1], labels)


# ------------------------------------------------------------------ torch-specialised kernels
#
# The catalog's kernels are written once against the array API; through array-api-compat each
# of their operations is a Python wrapper around a torch call, and their where-chains make
# several passes over memory. For the losses whose PyTorch twin is not exact (so the module
# cannot dispatch to it, see below) and which the benchmark measured slower than that twin, the
# kernels below compute the same formula with fused torch operations (log1p, gather, scatter,
# in-place updates of their own temporaries). On the CPU a new tensor of 10^7 elements costs
# more than an elementwise pass (the allocator returns large blocks to the system, so every new
# one is page-faulted in again), so these kernels write into as few fresh tensors as they can.
# They take and return what the catalog's kernels do, so the reductions, sample weights and
# ignore_index (multiclass._sparse) are shared.
# Each is pinned to its catalog kernel, value and gradient, every reduction and weighting, on
# random inputs and at the edge cases (infinite logits, probabilities 0 and 1, rates near 0),
# by tests/test_torch_adapter.py::test_torch_kernel_equals_catalog_kernel*.


def _torch_clamped_log(p: torch.Tensor) -> torch.Tensor:
    """_array.clamped_log in three fused passes: log(p) floored at LOG_FLOOR, and LOG_FLOOR for p <= 0.

    Only used on a forward without autograd, so the log of a non-positive p (NaN or -inf) may
    be computed and then overwritten; a NaN p stays NaN, as in the catalog.
    """
    return torch.log(p).clamp_min_(LOG_FLOOR).masked_fill_(p <= 0, LOG_FLOOR)


def _torch_softplus_pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """softplus(-x) and softplus(x), sharing log1p(e^-|x|).

    softplus(x) = max(x, 0) + log1p(e^-|x|) is how torch.logaddexp(x, 0) (the catalog's
    softplus) computes it; the shared term is computed once instead of twice.
    """
    shared = x.abs().neg_().exp_().log1p_()
    return torch.relu(-x).add_(shared), torch.relu(x).add_(shared)


def _torch_poisson(xp, y_true, y_pred, *, with_grad):
    # regression._poisson, with the same rate floor and the same zero-count rule.
    safe_rate = y_pred.clamp_min(GRAD_DENOMINATOR_FLOOR)
    cross = torch.where(y_true > 0, y_true * torch.log(safe_rate), 0.0)
    grad = torch.div(y_true, safe_rate).neg_().add_(1.0) if with_grad else None
    return KernelResult(y_pred - cross, grad)


def _torch_logistic(xp, y_true, y_pred, *, with_grad):
    # binary._logistic: softplus(-m) and -sign * sigmoid(-m) with the margin m = sign * y_pred.
    # softplus(-m) is written as relu(-m) + log1p(e^-|m|), the expression torch.logaddexp(-m, 0)
    # (the catalog's softplus) evaluates, so infinite margins give 0 and inf as there.
    readable = _host_readable(y_true)
    if readable and _all_zero_one(y_true):
        # A Python branch instead of _signed_labels' where(): with sign = 2y - 1 = +-1 exactly,
        # -m = (1 - 2y) x and -sign * s = s - 2 y s are exact, and no sign tensor is kept.
        negative_margin = torch.mul(y_true, -2.0).add_(1.0).mul_(y_pred)
        grad = None
        if with_grad:
            grad = torch.sigmoid(negative_margin)
            grad.addcmul_(y_true, grad, value=-2.0)
    else:
        sign = y_true if readable else _signed_labels(xp, y_true)
        negative_margin = torch.mul(sign, y_pred).neg_()
        grad = torch.sigmoid(negative_margin).mul_(sign).neg_() if with_grad else None
    shared = negative_margin.abs().neg_().exp_().log1p_()
    return KernelResult(negative_margin.clamp_min_(0.0).add_(shared), grad)


def _torch_sigmoid_cross_entropy(xp, y_true, logits, *, pos_weight, label_smoothing, with_grad):
    # binary._sigmoid_cross_entropy: w_p softplus(-x) + w_n softplus(x), w_p = pos_weight * t and
    # w_n = 1 - t for the smoothed target t.
    target = _smooth_binary(y_true, label_smoothing)
    if _host_readable(logits) and _within(target, 0.0, 1.0) and (pos_weight is None or _within(pos_weight, 0.0, math.inf)):
        result = _sigmoid_cross_entropy_unmasked(logits, target, pos_weight, with_grad)
        # Exact for finite logits; an infinite or NaN one makes its term inf or NaN instead (0 * inf
        # where the catalog's mask drops it). So the sum of the terms is read, not the logits.
        if math.isfinite(result.loss.sum().item()):
            return result
    # A term whose weight is 0 is dropped before the product, so an infinite logit on the label it
    # predicts costs 0 (not NaN) and on the other label costs inf.
    positive_weight = target if pos_weight is None else pos_weight * target
    negative_weight = 1.0 - target
    softplus_negative, softplus_positive = _torch_softplus_pair(logits)
    loss = softplus_negative.masked_fill_(~(positive_weight > 0), 0.0).mul_(positive_weight)
    loss.add_(softplus_positive.masked_fill_(~(negative_weight > 0), 0.0).mul_(negative_weight))
    grad = None
    if with_grad:
        probability = torch.sigmoid(logits)
        # n p - w (1 - p), as the catalog writes it.
        grad = (negative_weight * probability).sub_(probability.neg_().add_(1.0).mul_(positive_weight))
    return KernelResult(loss, grad)


def _sigmoid_cross_entropy_unmasked(logits, target, pos_weight, with_grad):
    """The same loss for labels in [0, 1] and pos_weight >= 0 (so both weights >= 0), in two fresh tensors.

    With both weights non-negative, w_n relu(x) + w_p relu(-x) = max(w_n x, -w_p x), and
    softplus(+-x) = relu(+-x) + log1p(e^-|x|); each product is rounded once, as in the catalog,
    so a confident correct logit keeps its tiny loss (PyTorch's (1 - t) x - w log sigmoid(x)
    cancels it to 0). Only the weights' zero masks are missing; they matter only at an infinite
    logit, where this loss is inf or NaN (never a finite wrong value) and the caller falls back
    to the masked kernel. The gradient is (w_n + w_p) sigmoid(x) - w_p, with w_n + w_p = 1
    without pos_weight.
    """
    if pos_weight is None:
        positive_weight, total_weight = target, None
    else:
        positive_weight = pos_weight * target
        total_weight = positive_weight - target + 1.0
    loss = torch.rsub(target, 1.0).mul_(logits)
    shared = torch.mul(positive_weight, logits).neg_()
    torch.maximum(loss, shared, out=loss)
    torch.abs(logits, out=shared).neg_().exp_().log1p_()
    loss = loss.add_(shared) if total_weight is None else loss.addcmul_(shared, total_weight)
    grad = None
    if with_grad:
        grad = torch.sigmoid(logits, out=shared)
        if total_weight is not None:
            grad.mul_(total_weight)
        grad.sub_(positive_weight)
    return KernelResult(loss, grad)


def _torch_sparse_categorical(xp, labels, y_pred, *, label_smoothing, class_weight, with_grad):
    # multiclass._sparse_categorical_kernel without label smoothing: only the labelled
    # probability enters the loss, so its gradient is scattered into zeros instead of
    # dividing every entry by the probability.
    if label_smoothing:
        return _sparse_categorical_kernel(xp, labels, y_pred, label_smoothing=label_smoothing,
                                          class_weight=class_weight, with_grad=with_grad)
    index = labels[..., None]
    picked_probability = y_pred.gather(-1, index)[..., 0]
    label_weight = 1.0 if class_weight is None else class_weight[labels]
    loss = -label_weight * _torch_clamped_log(picked_probability)
    norm = None if class_weight is None else label_weight
    grad = None
    if with_grad:
        picked_grad = -label_weight / picked_probability.clamp_min(GRAD_DENOMINATOR_FLOOR)
        grad = torch.zeros_like(y_pred).scatter_(-1, index, picked_grad[..., None])
    return KernelResult(loss, grad, norm)


def _torch_kl_divergence(xp, y_true, y_pred, *, with_grad):
    # multiclass._kl_divergence: terms with a zero target are 0 (the limit t log t -> 0).
    if _host_readable(y_pred) and y_pred.numel():
        finite_max = torch.finfo(y_pred.dtype).max
        if _within(y_pred, GRAD_DENOMINATOR_FLOOR, finite_max) and _within(y_true, 0.0, finite_max):
            return _kl_divergence_unfloored(y_true, y_pred, with_grad)
    terms = torch.log(y_true).sub_(_torch_clamped_log(y_pred)).mul_(y_true)
    terms.masked_fill_(~(y_true > 0), 0.0)
    grad = torch.div(y_true, y_pred.clamp_min(GRAD_DENOMINATOR_FLOOR)).neg_() if with_grad else None
    return KernelResult(terms.sum(-1), grad)


def _kl_divergence_unfloored(y_true, y_pred, with_grad):
    """The same loss for finite p >= GRAD_DENOMINATOR_FLOOR and finite targets >= 0, in one fresh tensor.

    There neither floor is active and xlogy(t, t) is 0 at t = 0 as the catalog's zero-target rule,
    so each row is sum xlogy(t, t) - sum t log p (F.kl_div's terms, summed per row before the
    difference: the rounding error is of the order of eps times the row's entropy and
    cross-entropy either way, as in the catalog's t (log t - log p)). One buffer holds t log p,
    then xlogy(t, t), then the gradient -t / p.
    """
    buffer = torch.log(y_pred).mul_(y_true)
    cross = buffer.sum(-1)
    loss = torch.xlogy(y_true, y_true, out=buffer).sum(-1).sub_(cross)
    grad = torch.addcdiv(y_pred.new_zeros(()), y_true, y_pred, value=-1.0, out=buffer) if with_grad else None
    return KernelResult(loss, grad)


def _torch_kl_divergence_with_logits(xp, y_true, logits, *, with_grad):
    # multiclass._kl_divergence_with_logits, on torch's fused log_softmax (the same shifted
    # formula as _array.log_softmax, masked -inf classes included).
    log_probs = torch.log_softmax(logits, dim=-1)
    terms = torch.log(y_true).sub_(log_probs).masked_fill_(~(y_true > 0), 0.0).mul_(y_true)
    grad = None
    if with_grad:
        grad = log_probs.exp_().mul_(y_true.sum(-1, keepdim=True)).sub_(y_true)
    return KernelResult(terms.sum(-1), grad)


def _torch_categorical_cross_entropy(xp, y_true, y_pred, *, label_smoothing, class_weight, with_grad):
    # multiclass._categorical_cross_entropy: -sum_c w_c t'_c log p_c with the floored log; a
    # class whose target weight is 0 contributes 0 even where its log is NaN.
    smoothed = y_true
    if label_smoothing:
        smoothed = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    weighted = smoothed if class_weight is None else smoothed * class_weight
    norm = None if class_weight is None else (y_true * class_weight).sum(-1)
    if _host_readable(y_pred) and y_pred.numel() and _within(weighted, 0.0, math.inf):
        smallest, largest = _extremes(y_pred)
        if 0.0 <= smallest and largest <= torch.finfo(y_pred.dtype).max:
            floored = smallest < GRAD_DENOMINATOR_FLOOR
            loss, grad = _categorical_cross_entropy_unmasked(y_pred, weighted, with_grad, floored)
            return KernelResult(loss, grad, norm)
    log_probs = _torch_clamped_log(y_pred).masked_fill_(~(weighted > 0), 0.0)
    loss = log_probs.mul_(weighted).sum(-1).neg_()
    grad = torch.div(weighted, y_pred.clamp_min(GRAD_DENOMINATOR_FLOOR)).neg_() if with_grad else None
    return KernelResult(loss, grad, norm)


def _categorical_cross_entropy_unmasked(y_pred, weighted, with_grad, floored):
    """The same loss for finite p >= 0 and target weights >= 0, in one fresh tensor.

    There the floored log is log(p) clamped at LOG_FLOOR (log 0 = -inf included; the log is
    clamped, not p, whose floor e^-100 is a float32 denormal), always finite, so the zero-weight
    mask is a no-op. With every p >= GRAD_DENOMINATOR_FLOOR (floored=False) neither the log nor
    the gradient's denominator needs its clamp, two passes fewer. One buffer holds the log, then
    the denominator, then the gradient -w / max(p, floor), written by one addcdiv (0 - w / d)
    instead of a division and a negation.
    """
    buffer = torch.log(y_pred)
    if floored:
        buffer.clamp_min_(LOG_FLOOR)
    loss = buffer.mul_(weighted).sum(-1).neg_()
    if not with_grad:
        return loss, None
    denominator = torch.clamp(y_pred, min=GRAD_DENOMINATOR_FLOOR, out=buffer) if floored else y_pred
    return loss, torch.addcdiv(y_pred.new_zeros(()), weighted, denominator, value=-1.0, out=buffer)


_TORCH_KERNELS: dict[str, Callable[..., KernelResult]] = {
    "categorical_cross_entropy": _torch_categorical_cross_entropy,
    "poisson": _torch_poisson,
    "logistic": _torch_logistic,
    "sigmoid_cross_entropy": _torch_sigmoid_cross_entropy,
    "sparse_categorical_cross_entropy": _sparse(_torch_sparse_categorical),
    "kl_divergence": _torch_kl_divergence,
    "kl_divergence_with_logits": _torch_kl_divergence_with_logits,
}


# ------------------------------------------------------------- small inputs: plain autograd
#
# A custom autograd.Function has a fixed price per call (its Python forward and backward, the
# ctx) that dominates at batch sizes of a few dozen elements, where each torch op costs a few
# microseconds whatever its size. For the losses below, a short torch expression has exactly the
# catalog's value and, through autograd, exactly its analytic gradient, including the floored
# and infinite edge cases; at or below _SMALL_NUMEL elements the module evaluates that
# expression instead of the Function. Above it, autograd's saved intermediates make the
# Function cheaper again. Measured on CPU (batch 32, forward + backward, time of the PyTorch
# twin = 1): poisson 1.5x -> 1.1x, logistic 2.0x -> 1.7x, sigmoid_cross_entropy 4.1x -> 3.1x.
# On CPU inputs that pass its data check, logistic's and sigmoid_cross_entropy's native twin
# (see _NATIVE) is cheaper still; the expression remains for the rest (soft labels, pos_weight,
# label_smoothing, overflowing margins, GPU tensors, traced calls).
# The other torch-specialised losses have no expression shorter than their analytic kernel
# (their floored gradients or masked terms need extra ops under autograd), so they keep the
# Function at every size.

_SMALL_NUMEL = 4096


def _poisson_expression(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    # regression._poisson. The rate floor must be straight-through: below GRAD_DENOMINATOR_FLOOR
    # the catalog's gradient is 1 - y / floor, but clamp_min's backward would zero the log
    # term's. Adding the detached gap to the floor leaves the value at the floor (to one ulp)
    # and the derivative at 1; above the floor the gap is exactly 0. xlogy is 0 at a zero count,
    # in value and in gradient, as the catalog's where(y > 0, ...).
    gap_to_floor = torch.rsub(y_pred.detach(), GRAD_DENOMINATOR_FLOOR).clamp_min_(0.0)
    return y_pred - torch.xlogy(y_true, y_pred + gap_to_floor)


def _logistic_expression(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    # binary._logistic: softplus(-sign * x) = logaddexp(-sign * x, 0), whose autograd derivative
    # 1 / (1 + e^{sign x}) is the catalog's sigmoid(-margin), 0 or 1 at infinite margins.
    all_zero_one = ((y_true == 0.0) | (y_true == 1.0)).all()
    negative_sign = torch.where(all_zero_one, torch.rsub(y_true, 1.0, alpha=2.0), -y_true)  # -(2y - 1), or -y
    return torch.logaddexp(negative_sign * y_pred, y_pred.new_zeros(()))


def _sigmoid_cross_entropy_expression(y_true: torch.Tensor, logits: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    # binary._sigmoid_cross_entropy, term for term: softplus as logaddexp(., 0), whose autograd
    # derivative is the catalog's sigmoid, and each term masked before it is weighted so that an
    # infinite logit on the label it predicts costs 0 (value and gradient) instead of 0 * inf.
    target = _smooth_binary(y_true, params["label_smoothing"])
    positive_weight = target if params["pos_weight"] is None else params["pos_weight"] * target
    negative_weight = 1.0 - target
    zero = logits.new_zeros(())
    positive_term = torch.where(positive_weight > 0, torch.logaddexp(-logits, zero), zero)
    negative_term = torch.where(negative_weight > 0, torch.logaddexp(logits, zero), zero)
    return positive_weight * positive_term + negative_weight * negative_term


_SMALL_EXPRESSIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]] = {
    "poisson": lambda y_true, y_pred, params: _poisson_expression(y_true, y_pred),
    "logistic": lambda y_true, y_pred, params: _logistic_expression(y_true, y_pred),
    "sigmoid_cross_entropy": _sigmoid_cross_entropy_expression,
}


def _reduce_expression(loss: Loss, elementwise: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Reduce an autograd loss tensor as _compute_value_and_grad reduces the analytic one."""
    if reduction != "none" and weight is None and not loss.root:
        # mean() is sum / size in one autograd node; a mean over nothing is 0 in the catalog.
        if reduction == "sum" or elementwise.numel() == 0:
            return elementwise.sum()
        return elementwise.mean()
    value, _ = reduce(xp_torch, elementwise, None, None, weight, reduction, class_axis=False, root=loss.root)
    return value


# --------------------------------------------------------------------- native PyTorch kernels
#
# Measured on CPU (benchmarks/results-cpu.md) and chosen per loss: PyTorch's fused ATen kernels
# beat any composition of elementwise ops, so a loss uses its native twin whenever the twin's
# value and gradient are exactly losskit's for the arguments of the call. Each function below
# returns None when they are not (a sample_weight, or a parameter the twin treats differently),
# and the module falls back to the small expression or the analytic path.
#
# Some twins equal losskit's loss only on part of the input domain. Those are called only at
# or below _CHECKED_TWIN_NUMEL elements, on inputs that _host_readable() lets them inspect (CPU,
# no trace), after a check of the data that costs a few microseconds (see _CHECKED_TWIN_NUMEL).
#   * logistic: F.soft_margin_loss(x, sign), with {0, 1} labels converted to sign = 2y - 1 as
#     binary._signed_labels does, and other labels used as the signs. Its log1p(e^-m) and the
#     backward's e^-m / (1 + e^-m) are the catalog's softplus(-m) and sigmoid(-m) until e^-m
#     overflows (m < -88 in float32), where they give inf and NaN. For a sum or a mean that
#     shows in the value itself, which is read back (a finite value means no term overflowed);
#     for "none" the call needs |x| <= log(finfo.max) / 2 and labels in [-1, 1] beforehand.
#   * sigmoid_cross_entropy with {0, 1} labels, no pos_weight and no label_smoothing: the same
#     call, since then it is the logistic loss. Not F.binary_cross_entropy_with_logits: besides
#     its NaN at -inf logits, it computes (1 - t) x - w log sigmoid(x), whose two terms cancel
#     for a confident correct negative (x -> -inf, t = 0): at x = -30 it returns 0 in float32
#     and 9.24e-14 in float64 where the loss is 9.36e-14, an absolute error of about eps * |x|
#     per element. The gradient is exact; the value is not, so soft labels, label_smoothing and
#     pos_weight keep the small expression.
#   * kl_divergence: F.kl_div(log p, t, reduction="sum"), divided by the number of rows for
#     losskit's per-row mean (F.kl_div's "batchmean" divides by the first axis only), summed
#     over the class axis for "none". Equal while p >= GRAD_DENOMINATOR_FLOOR (so neither the
#     floor of log p at -100 nor the floor of the gradient's denominator is active) and p is
#     finite, and the targets are finite and >= 0 (xlogy(t, t) is 0 at t = 0 as losskit's
#     zero-target rule; a negative target, which losskit drops, would be NaN there).
#   * sparse_categorical_cross_entropy without label_smoothing: F.nll_loss(log p, labels) with
#     class_weight and ignore_index, while p >= GRAD_DENOMINATOR_FLOOR everywhere (log's
#     backward divides the zero gradient of unpicked classes by p, NaN at p = 0). Its mean is
#     losskit's (sum(w_y l) / sum(w_y) over kept positions) except over nothing, where it is NaN
#     and losskit's is 0: then the sum, also 0 with a zero gradient, is returned.
#   * categorical_cross_entropy: PyTorch has no dense-label loss on probabilities; the twin is
#     the expression its users write, -sum(xlogy(w t, p)), whose autograd gradient -w t / p is
#     losskit's while p >= GRAD_DENOMINATOR_FLOOR, and which is 0 at a zero target weight as
#     losskit's masked term, provided the target weights are >= 0.
# Deliberately not native:
#   * sigmoid_cross_entropy on soft labels or with pos_weight (above) and logistic beyond the
#     margin bound: the exact small expression or the torch-specialised kernel;
#   * poisson (F.poisson_nll_loss adds eps=1e-8 inside the log);
#   * cross-entropies with class_weight and soft labels (PyTorch's mean divides by N).

NativeFn = Callable[["LossModule", torch.Tensor, torch.Tensor], "torch.Tensor | None"]


def _pointwise_native(function: Callable[..., torch.Tensor], **param_names: str) -> NativeFn:
    def call(module, input, target):
        kwargs = {torch_name: module.params[name] for torch_name, name in param_names.items()}
        return function(input, target, reduction=module.reduction, **kwargs)

    return call


def _binary_cross_entropy_native(module, input, target):
    smoothing = module.params["label_smoothing"]
    if smoothing:
        target = target * (1.0 - smoothing) + 0.5 * smoothing
    return F.binary_cross_entropy(input, target, reduction=module.reduction)


def _softmax_cross_entropy_native(module, input, target):
    if module.params["class_weight"] is not None:  # PyTorch's weighted mean of soft labels divides by N
        return None
    return F.cross_entropy(
        input.movedim(-1, 1) if input.ndim > 2 else input,
        target.movedim(-1, 1) if target.ndim > 2 else target,
        reduction=module.reduction, label_smoothing=module.params["label_smoothing"],
    )


def _sparse_softmax_cross_entropy_native(module, input, target):
    params = module.params
    ignore_index = params["ignore_index"]
    class_weight = params["class_weight"]
    logits = input.movedim(-1, 1) if input.ndim > 2 else input
    arguments = dict(
        weight=None if class_weight is None else class_weight.to(input.dtype),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=params["label_smoothing"],
    )
    if module.reduction != "mean" or ignore_index is None:
        return F.cross_entropy(logits, target, reduction=module.reduction, **arguments)
    # With every position ignored PyTorch's mean is 0/0 = NaN; losskit's mean over nothing is 0.
    # The sum and the denominator cost one pass over the N labels, not over the N x C logits.
    total = F.cross_entropy(logits, target, reduction="sum", **arguments)
    kept = target != ignore_index
    if class_weight is None:
        denominator = kept.sum().to(total.dtype)
    else:
        denominator = torch.where(kept, class_weight[target.clamp(min=0) * kept], 0.0).sum().to(total.dtype)
    return torch.where(denominator > 0, total / denominator.clamp(min=torch.finfo(total.dtype).tiny), 0.0)


# At batch 32 a loss call is overhead-bound and a native call the cheapest by far. Measured on
# CPU (forward + backward, one thread), the twins' time over the analytic Function's was 0.5 to
# 0.9 at 8192 and 16384 elements for all five losses, 0.7 to 1.15 at 65536 and 1.0 to 1.4 at
# 262144, where the kernels' fewer fresh tensors (and the twin's data check) start to count.
_CHECKED_TWIN_NUMEL = 1 << 14


def _checkable(input: torch.Tensor) -> bool:
    """Whether a data-checked twin may be considered: small enough to be overhead-bound, and readable."""
    return input.numel() <= _CHECKED_TWIN_NUMEL and _host_readable(input)


def _soft_margin_native(module, input, sign):
    """F.soft_margin_loss(input, sign) where it is exact: while e^-m of no margin m overflows.

    For reduction "none" the caller guarantees |sign| <= 1, so that |m| <= |input|.
    """
    reduction = module.reduction
    if reduction == "none":
        limit = 0.5 * math.log(torch.finfo(input.dtype).max)
        if not _within(input, -limit, limit):
            return None
        return F.soft_margin_loss(input, sign, reduction="none")
    # A sum or mean shows the overflow itself: an overflowing margin makes its term, and so the
    # reduced value, inf (an infinite logit too, whose gradient would be NaN). One read of the
    # result replaces a pass over the input; the discarded graph is never differentiated.
    value = F.soft_margin_loss(input, sign, reduction=reduction)
    return value if math.isfinite(value.item()) else None


def _logistic_native(module, input, target):
    if not _checkable(input):
        return None
    if _all_zero_one(target):
        return _soft_margin_native(module, input, _signs_from_zero_one(target))
    # Other labels are the signs themselves, as in binary._signed_labels. Valid ones are +-1; for
    # "none" the margin bound assumes |sign| <= 1, so anything larger goes to the kernel.
    if module.reduction == "none" and not _within(target, -1.0, 1.0):
        return None
    return _soft_margin_native(module, input, target)


def _sigmoid_cross_entropy_native(module, input, target):
    params = module.params
    if params["pos_weight"] is not None or params["label_smoothing"] or not _checkable(input):
        return None
    if not _all_zero_one(target):
        return None
    return _soft_margin_native(module, input, _signs_from_zero_one(target))


def _rows(input: torch.Tensor) -> int:
    return input.numel() // input.shape[-1]


def _kl_divergence_native(module, input, target):
    if not _checkable(input) or input.numel() == 0:
        return None
    finite_max = torch.finfo(input.dtype).max
    if not (_within(input, GRAD_DENOMINATOR_FLOOR, finite_max) and _within(target, 0.0, finite_max)):
        return None
    reduction = module.reduction
    terms = F.kl_div(torch.log(input), target, reduction="none" if reduction == "none" else "sum")
    if reduction == "none":
        return terms.sum(-1)
    return terms if reduction == "sum" else terms / _rows(input)


# nll_loss always ignores some label value; without ignore_index it is one no class index can
# take, so an invalid label still raises as in the catalog instead of being skipped.
_NO_LABEL = -(2**63)


def _sparse_categorical_cross_entropy_native(module, input, target):
    params = module.params
    # Labels other than int64 make the catalog's gather raise (and the kernel's): left to them.
    if params["label_smoothing"] or target.dtype != torch.int64 or not _checkable(input) or input.numel() == 0:
        return None
    if not _at_least(input, GRAD_DENOMINATOR_FLOOR):
        return None
    ignore_index = params["ignore_index"]
    log_probs = torch.log(input)
    arguments = dict(
        target=target,
        weight=params["class_weight"],
        ignore_index=_NO_LABEL if ignore_index is None else ignore_index,
    )
    if log_probs.ndim > 2:
        log_probs = log_probs.movedim(-1, 1)
    value = F.nll_loss(log_probs, reduction=module.reduction, **arguments)
    if module.reduction == "mean" and (ignore_index is not None or params["class_weight"] is not None):
        # With every p >= the floor, a NaN mean comes from a zero denominator (the sum is then 0,
        # with a zero gradient, as the catalog's mean over nothing), or from an infinite p under
        # a class weight of 0, where the catalog's value is NaN too and so is the sum.
        if math.isnan(value.item()):
            value = F.nll_loss(log_probs, reduction="sum", **arguments)
    return value


def _categorical_cross_entropy_native(module, input, target):
    params = module.params
    if not _checkable(input) or input.numel() == 0:
        return None
    smoothing, class_weight = params["label_smoothing"], params["class_weight"]
    weighted = target
    if smoothing:
        weighted = target * (1.0 - smoothing) + smoothing / target.shape[-1]
    if class_weight is not None:
        weighted = weighted * class_weight
    if not (_at_least(input, GRAD_DENOMINATOR_FLOOR) and _at_least(weighted, 0.0)):
        return None
    reduction = module.reduction
    if reduction == "none":
        return torch.xlogy(weighted, input).sum(-1).neg()
    total = torch.xlogy(weighted, input).sum()
    if reduction == "sum":
        return total.neg()
    if class_weight is None:
        return total * (-1.0 / _rows(input))
    # losskit's weighted mean divides by sum_c w_c t_c over the rows, 1 where that is 0.
    denominator = (target * class_weight).sum().item()
    return total * (-1.0 / (denominator if denominator > 0 else 1.0))


_NATIVE: dict[str, NativeFn] = {
    "mean_squared_error": _pointwise_native(F.mse_loss),
    "mean_absolute_error": _pointwise_native(F.l1_loss),
    "huber": _pointwise_native(F.huber_loss, delta="delta"),
    "smooth_l1": _pointwise_native(F.smooth_l1_loss, beta="beta"),
    "binary_cross_entropy": _binary_cross_entropy_native,
    "softmax_cross_entropy": _softmax_cross_entropy_native,
    "sparse_softmax_cross_entropy": _sparse_softmax_cross_entropy_native,
    # Data-checked, small inputs on the CPU only (see above).
    "logistic": _logistic_native,
    "sigmoid_cross_entropy": _sigmoid_cross_entropy_native,
    "kl_divergence": _kl_divergence_native,
    "sparse_categorical_cross_entropy": _sparse_categorical_cross_entropy_native,
    "categorical_cross_entropy": _categorical_cross_entropy_native,
}


# ---------------------------------------------------------------------------------- modules

class LossModule(nn.Module):
    """Base class of the generated modules: one catalog loss with fixed parameters.

    Subclasses set :attr:`loss`; use them as ``criterion = Huber(delta=0.5)`` and
    ``criterion(input, target)``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
        As in PyTorch; 'mean' is losskit's weighted mean ``sum(w * l) / sum(w * n)``.
    check_values : bool, default False
        Also check the values of the inputs (label ranges, probability bounds, rows summing to
        1). Off by default, as in PyTorch's losses on the GPU: the checks read the data and so
        synchronise the device on every call. Shapes and dtypes are always checked.
    use_native : bool, default True
        Call PyTorch's own kernel where it computes exactly the same value and gradient.
    **params
        The loss's parameters (``delta``, ``class_weight``, ...); see ``losskit.<name>``.
    """

    loss: Loss

    def __init__(self, *, reduction: str = "mean", check_values: bool = False, use_native: bool = True, **params: Any):
        super().__init__()
        loss = self.loss
        self.reduction = check_reduction(reduction, loss.reductions, loss.name)
        self.check_values = bool(check_values)
        self.use_native = bool(use_native)
        bound = loss._bind_params(params)  # validates scalar parameters once, at construction
        self._scalar_params = {p.name: bound[p.name] for p in loss.params if not p.is_array}
        self._array_param_names = tuple(p.name for p in loss.params if p.is_array)
        for name in self._array_param_names:
            value = bound[name]
            self.register_buffer(name, None if value is None else torch.as_tensor(value, dtype=torch.get_default_dtype()))
        self._native = _NATIVE.get(loss.name) if self.use_native else None
        self._kernel = _TORCH_KERNELS.get(loss.name, loss.kernel)
        self._small_expression = _SMALL_EXPRESSIONS.get(loss.name)

    @property
    def params(self) -> dict[str, Any]:
        """The loss parameters, array parameters as the module's buffers."""
        return {**self._scalar_params, **{name: getattr(self, name) for name in self._array_param_names}}

    def extra_repr(self) -> str:
        parts = [f"{name}={value!r}" for name, value in self._scalar_params.items()]
        for name in self._array_param_names:
            buffer = getattr(self, name)
            if buffer is not None:
                parts.append(f"{name}=tensor(shape={tuple(buffer.shape)})")
        parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)

    def forward(self, input: torch.Tensor, target: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The reduced loss of ``input`` (the prediction: values, probabilities or logits) against ``target``."""
        loss = self.loss
        if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__} takes torch tensors (input, target); got {type(input).__name__} and "
                f"{type(target).__name__}. Use losskit.{loss.name} for other arrays"
            )
        if not input.is_floating_point():
            raise TypeError(f"input of {type(self).__name__} must be a floating tensor; got dtype {input.dtype}")
        target = self._check_target(input, target)
        if sample_weight is not None:
            V.check_sample_weight_shape(sample_weight, self._loss_shape(input))

        out_dtype = input.dtype
        compute_input = input
        if out_dtype in _NARROW:
            compute_input = input.float()
            if torch.is_autocast_enabled(input.device.type):
                out_dtype = torch.float32
        if loss.kind != "sparse" and target.dtype != compute_input.dtype:
            target = target.to(compute_input.dtype)
        params = self._params_for(compute_input.dtype)
        weight = None if sample_weight is None else sample_weight.to(compute_input.dtype)
        if self.check_values:
            self._check_values(target, compute_input, params, weight)

        if target.requires_grad or (weight is not None and weight.requires_grad):
            # Gradients for the target or the weights: differentiate losskit's array-API
            # expression with autograd (slower, but every input gets its gradient).
            with _value_checks(self.check_values):
                value = loss(target, compute_input, sample_weight=weight, reduction=self.reduction, **params)
            return value.to(out_dtype)
        if self._native is not None and weight is None:
            native_value = self._native(_NativeView(self, params), compute_input, target)
            if native_value is not None:
                return native_value if native_value.dtype == out_dtype else native_value.to(out_dtype)
        if self._small_expression is not None and compute_input.numel() <= _SMALL_NUMEL:
            value = _reduce_expression(loss, self._small_expression(target, compute_input, params), weight, self.reduction)
            return value if value.dtype == out_dtype else value.to(out_dtype)
        return _AnalyticLoss.apply(compute_input, target, weight, self._kernel, loss, params, self.reduction, out_dtype)

    # ----------------------------------------------------------------------------- helpers

    def _loss_shape(self, input: torch.Tensor) -> tuple:
        return tuple(input.shape) if self.loss.kind == "pointwise" else tuple(input.shape[:-1])

    def _check_target(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Each check compares torch.Size objects first and calls the validator, which builds the
        # message, only on a mismatch: at batch 32 the whole call costs tens of microseconds.
        loss = self.loss
        kind = loss.kind
        if kind == "pointwise":
            if target.shape != input.shape:
                V.check_same_shape(target, input, loss.pred_name)
            return target
        if input.ndim < 1 or input.shape[-1] < 1:
            V.check_class_axis(input, loss.pred_name)
        if kind == "dense":
            if target.shape != input.shape:
                V.check_dense_labels_shape(target, input, loss.pred_name, loss.pair or "the sparse variant")
            return target
        if target.shape != input.shape[:-1]:
            V.check_sparse_labels_shape(target, input, loss.pred_name, loss.pair or "the dense variant")
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(
                f"target of {type(self).__name__} must be integer class indices; got dtype {target.dtype}. "
                f"Cast with target.long(), or use {class_name(loss.pair)} for one-hot or soft labels"
            )
        return target

    def _params_for(self, dtype: torch.dtype) -> dict[str, Any]:
        if not self._array_param_names:  # nothing to cast; the kernels never mutate their params
            return self._scalar_params
        params = dict(self._scalar_params)
        buffers = self._buffers  # not getattr: nn.Module finds buffers through a Python __getattr__
        for name in self._array_param_names:
            buffer = buffers[name]
            params[name] = buffer if buffer is None or buffer.dtype == dtype else buffer.to(dtype)
        return params

    def _check_values(self, target, input, params, weight) -> None:
        if self.loss.check_inputs is not None:
            with _value_checks(True):
                self.loss.check_inputs(xp_torch, target, input, params)
        if weight is not None:
            V.Domain(0.0, description="non-negative").check(xp_torch, weight, "sample_weight")


class _NativeView:
    """What a native dispatcher reads: the reduction and the parameters in the compute dtype."""

    __slots__ = ("reduction", "params")

    def __init__(self, module: LossModule, params: dict[str, Any]):
        self.reduction = module.reduction
        self.params = params


_NARROW = (torch.float16, torch.bfloat16)


def _value_checks(enabled: bool):
    from ._array import value_checks

    return value_checks(enabled)


# ------------------------------------------------------------------------- generated classes

def _make_module_class(loss: Loss) -> type[LossModule]:
    params = ", ".join(f"{p.name}={p.default!r}" for p in loss.params)
    doc = (
        f"``torch.nn.Module`` for :func:`losskit.{loss.name}`: {loss.summary}\n\n"
        f"``{class_name(loss.name)}({params + ', ' if params else ''}reduction='mean', check_values=False)``, "
        f"called as ``criterion(input, target, sample_weight=None)`` with the prediction "
        f"({loss.prediction_space}) first. See :class:`losskit.torch.LossModule`."
    )
    return type(class_name(loss.name), (LossModule,), {"loss": loss, "__doc__": doc, "__module__": __name__})


_CLASSES: dict[str, type[LossModule]] = {}
for _loss in catalog():
    _cls = _make_module_class(_loss)
    _CLASSES[_loss.name] = _cls
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _loss, _cls


def get_module(loss: str | Loss, /, **params: Any) -> LossModule:
    """Build the module of a catalog loss from its name or alias.

    >>> import losskit.torch as lkt
    >>> lkt.get_module("mse", reduction="sum")
    MeanSquaredError(reduction='sum')
    """
    return _CLASSES[get(loss).name](**params)


def module_class(name: str | Loss) -> type[LossModule]:
    """The module class of a catalog loss (``module_class("bce_with_logits") is SigmoidCrossEntropy``)."""
    return _CLASSES[get(name).name]


__all__.append("module_class")
