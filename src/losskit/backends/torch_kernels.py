"""PyTorch kernels of the catalog's losses, registered in :mod:`losskit._kernels`.

Imported the first time a call on torch tensors is seen. Three kinds of kernel live here, each
registered with an ``accepts(call)`` that states exactly the calls on which it computes the
reference kernel's value and gradient:

* **Native twins** (style ``"native"``): PyTorch's own loss where its semantics are losskit's
  for the arguments of the call. PyTorch's fused ATen kernels beat any composition of
  elementwise ops, so a loss uses its twin whenever the twin is exact. Some twins are exact only
  on part of the input domain (finite margins, {0, 1} labels, probabilities at or above the
  gradient floor); they are accepted only after a check of the data, and only where reading a
  value is free (see :func:`_host_readable`).
* **Short autograd expressions** (style ``"native"``): for a few losses without an exact twin, a
  plain torch expression whose autograd gradient is exactly the catalog's, accepted on small
  inputs only (see ``_SMALL_NUMEL``).
* **Torch-specialised kernels** (style ``"elementwise"``): the catalog's formula with fused torch
  operations, returning what the reference kernel returns, so reductions, sample weights and
  ``ignore_index`` stay the shared ones; :mod:`losskit._autodiff` carries their analytic
  gradient into autograd.

Every kernel is held to the reference, values and gradients on both sides of every data check,
by ``tests/test_torch_adapter.py`` (and by the registry-wide kernel tests).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .._array import GRAD_DENOMINATOR_FLOOR, LOG_FLOOR
from .._kernels import floored, grad_floor, register_kernel
from .._loss import KernelResult
from .._reduction import reduce
from ..binary import _signed_labels, _smooth_binary
from ..multiclass import _kl_divergence_with_logits, _sparse, _sparse_categorical_kernel

__all__: list[str] = []


# ------------------------------------------------------------------- values read on the host
#
# Some kernels below are exact only on part of the input domain. Choosing them reads the data,
# which is free for a CPU tensor but a device synchronisation on a GPU, and losskit never
# synchronises unasked (value checks are off in the torch modules by default for that reason).
# So they are chosen only where _host_readable() holds; elsewhere the kernel that is exact for
# every input runs, and gives the same value and gradient.

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
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
        and not _functorch_transforms_active()
    )


# A data check costs a few small reductions and a host read per call: worth it where a call is
# dominated by its fixed overhead, where a native twin is by far the cheapest path. Above this
# size the torch-specialised kernels, which need no check, are as fast as the twins.
_CHECKED_TWIN_NUMEL = 1 << 14


def _checkable(call: Any) -> bool:
    """Whether a data-checked twin may be considered: small enough to be overhead-bound, and readable."""
    return call.size <= _CHECKED_TWIN_NUMEL and _host_readable(call.y_pred)


def _extremes(tensor: torch.Tensor) -> tuple[float, float]:
    """(min, max) in one pass without a temporary; NaN if any value is NaN. Host-readable, non-empty tensors only."""
    smallest, largest = torch.aminmax(tensor.detach())
    return smallest.item(), largest.item()


def _at_least(tensor: torch.Tensor, low: float) -> bool:
    """Every value >= low (False for a NaN): a min and one read, cheaper than _within. Non-empty tensors."""
    return tensor.detach().min().item() >= low


def _within(tensor: torch.Tensor, low: float, high: float) -> bool:
    """low <= every value <= high (False for a NaN). Host-readable tensors only."""
    if tensor.numel() == 0:
        return True
    smallest, largest = _extremes(tensor)
    return low <= smallest and largest <= high


def _all_zero_one(labels: torch.Tensor) -> bool:
    """binary._signed_labels' test (every label 0 or 1) as a Python bool. Host-readable tensors only.

    For a few dozen labels a set of Python floats is the cheapest test (one C call, no ufunc
    dispatch); beyond that NumPy's ``labels == labels.astype(bool)``, cheaper than torch's
    comparison and reduction between two training steps. A NaN or any other value fails both.
    """
    if labels.numel() <= 64:
        return set(labels.reshape(-1).tolist()) <= {0.0, 1.0}
    values = labels.detach().numpy()
    return bool((values.astype(bool) == values).all())


# torch.lerp(-1, 1, y) is 2y - 1 in one op instead of two (where ops cost their call overhead),
# exact for y in {0, 1}: lerp computes -1 + 0 * 2 at 0 and 1 - 2 * 0 at 1.
_LERP_ENDS: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}


def _signs_from_zero_one(labels: torch.Tensor) -> torch.Tensor:
    """2y - 1 for CPU labels that are all 0 or 1."""
    ends = _LERP_ENDS.get(labels.dtype)
    if ends is None:
        ends = _LERP_ENDS[labels.dtype] = tuple(torch.tensor(end, dtype=labels.dtype) for end in (-1.0, 1.0))
    return torch.lerp(ends[0], ends[1], labels)


def _mean_is_defined(call: Any) -> bool:
    # PyTorch's mean over nothing is 0/0 = NaN; losskit's is 0.
    return call.reduction != "mean" or call.size > 0


def _rows(call: Any) -> int:
    return call.size // call.y_pred.shape[-1]


def _class_axis_second(x: torch.Tensor) -> torch.Tensor:
    # losskit's kernels see the class axis last; PyTorch's class-axis losses want it at dim 1.
    return x.movedim(-1, 1) if x.ndim > 2 else x


# --------------------------------------------------------------------- native PyTorch twins
#
# Twins that are exact on every input of an accepted call. They need no data and run on any
# device, under torch.compile and under functorch transforms.
#   * mse, l1, huber, smooth_l1: the same formula and the same subgradient at the kinks
#     (huber's clip(e, -delta, delta), l1's sign(0) = 0, smooth_l1 with beta = 0 the l1 loss).
#   * softmax_cross_entropy with soft labels and no class_weight (PyTorch's weighted mean of
#     soft labels divides by N), on logits above -inf: PyTorch multiplies the zero label of a
#     masked (-inf) logit by its -inf log-probability, NaN where losskit's term is 0.
#   * sparse_softmax_cross_entropy with int64 labels (PyTorch's only index dtype): class
#     weights, ignore_index and label smoothing as losskit defines them, except the mean over
#     nothing, which is 0 here (see _sparse_softmax_cross_entropy_native).
#   Neither twin takes a call with z_loss (PyTorch's cross-entropy has none).


def _no_weight(call: Any) -> bool:
    return call.weight is None and _mean_is_defined(call)


# PyTorch's reduction codes, as torch.nn._reduction.get_enum maps them.
_REDUCTION_CODES = {"none": 0, "mean": 1, "sum": 2}


def _l1_accepts(call: Any) -> bool:
    # F.l1_loss's backward takes sign(NaN) as 0 in its vectorised loop, where the catalog's
    # gradient at a NaN residual is NaN: the twin serves values, the analytic path gradients.
    return _no_weight(call) and not any(p.requires_grad for p in call.predictions)


def _pointwise_native(function: Callable[..., torch.Tensor], *param_names: str) -> Callable[[Any], torch.Tensor]:
    """Call the ATen kernel behind ``function`` directly, or ``function`` where there is none.

    The shapes are already checked equal by Loss.prepare, so the Python wrapper's broadcasting
    check and warning (``torch.nn.functional``) would only add its call overhead, which at small
    batch sizes is as large as the kernel itself.
    """
    aten = getattr(torch._C._nn, function.__name__, None)
    if aten is None:
        def native(call):
            kwargs = {name: call.params[name] for name in param_names}
            return function(call.y_pred, call.y_true, reduction=call.reduction, **kwargs)
    else:
        def native(call):
            return aten(call.y_pred, call.y_true, _REDUCTION_CODES[call.reduction],
                        *(call.params[name] for name in param_names))

    native.__name__ = function.__name__
    return native


_smooth_l1_aten = _pointwise_native(F.smooth_l1_loss, "beta")
_l1_aten = _pointwise_native(F.l1_loss)


def _smooth_l1_native(call):
    # As F.smooth_l1_loss does: ATen's smooth_l1 backward at beta = 0 gives sign(0) = -1 at a
    # zero residual, its l1 kernel the catalog's 0.
    return _l1_aten(call) if call.params["beta"] == 0.0 else _smooth_l1_aten(call)


def _softmax_cross_entropy_accepts(call: Any) -> bool:
    if call.params.get("z_loss") or call.params["class_weight"] is not None or not _no_weight(call) \
            or not _host_readable(call.y_pred):
        return False
    if call.size == 0:
        return False
    # The min is NaN if any logit is, and NaN > -inf is False: those calls go to the reference;
    # so do logits whose range overflows (x - max(x) = -inf at +-3e38 in float32), where the
    # reference keeps a representable soft-label loss finite (multiclass._overflow_safe_loss).
    smallest, largest = _extremes(call.y_pred.detach())
    return smallest > -math.inf and largest - smallest <= torch.finfo(call.y_pred.dtype).max


def _softmax_cross_entropy_native(call):
    return F.cross_entropy(
        _class_axis_second(call.y_pred), _class_axis_second(call.y_true),
        reduction=call.reduction, label_smoothing=call.params["label_smoothing"],
    )


# nll_loss and cross_entropy always ignore some label value; without ignore_index it is one no
# class index can take, so an invalid label raises as in the catalog instead of being skipped.
_NO_LABEL = -(2**63)


def _sparse_native_accepts(call: Any) -> bool:
    # F.cross_entropy has no z-loss: calls with one take the reference.
    return call.weight is None and call.y_true.dtype == torch.int64 and not call.params.get("z_loss")


def _sparse_softmax_cross_entropy_native(call):
    params = call.params
    ignore_index, class_weight = params["ignore_index"], params["class_weight"]
    logits, target = _class_axis_second(call.y_pred), call.y_true
    arguments = dict(
        weight=class_weight,
        ignore_index=_NO_LABEL if ignore_index is None else ignore_index,
        label_smoothing=params["label_smoothing"],
    )
    if call.reduction != "mean" or (ignore_index is None and class_weight is None and call.size > 0):
        return F.cross_entropy(logits, target, reduction=call.reduction, **arguments)
    # PyTorch's mean is NaN when nothing counts (every position ignored, every label of weight 0,
    # an empty batch); losskit's mean over nothing is 0. The sum and the denominator cost one
    # pass over the N labels, not over the N x C logits.
    total = F.cross_entropy(logits, target, reduction="sum", **arguments)
    kept = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    if class_weight is None:
        denominator = kept.sum().to(total.dtype)
    else:
        denominator = torch.where(kept, class_weight[target.clamp(min=0) * kept], 0.0).sum()
    return torch.where(denominator > 0, total / denominator.clamp(min=torch.finfo(total.dtype).tiny), 0.0)


# ------------------------------------------------------------------ data-checked native twins
#
# Twins equal to losskit's loss only on part of the input domain. Accepted only without sample
# weights, on inputs that _checkable() lets them inspect, after a check of the data.
#   * binary_cross_entropy: F.binary_cross_entropy, on the smoothed target, while every p is in
#     [sqrt(GRAD_DENOMINATOR_FLOOR), 1 - sqrt(GRAD_DENOMINATOR_FLOOR)]. Its backward floors the product
#     p (1 - p) where losskit floors each denominator of (1 - y) / (1 - p) - y / p: at p = y = 0
#     PyTorch's gradient is 0 / floor = 0, the catalog's the one-sided derivative 1.
#   * logistic: F.soft_margin_loss(x, sign), with {0, 1} labels converted to sign = 2y - 1 as
#     binary._signed_labels does, and other labels used as the signs. Its log1p(e^-m) and the
#     backward's e^-m / (1 + e^-m) are the catalog's softplus(-m) and sigmoid(-m) until e^-m
#     overflows, where they give inf and NaN; so the call needs labels in [-1, 1] (then
#     |m| <= |x|) and |x| <= log(finfo.max) / 2, half the overflow bound.
#   * sigmoid_cross_entropy with {0, 1} labels, no pos_weight and no label_smoothing: the same
#     call, since then it is the logistic loss. Not F.binary_cross_entropy_with_logits: besides
#     its NaN at -inf logits, it computes (1 - t) x - w log sigmoid(x), whose two terms cancel
#     for a confident correct negative (x -> -inf, t = 0): at x = -30 it returns 0 in float32
#     where the loss is about 9.4e-14, an absolute error of about eps * |x| per element. The
#     gradient is exact; the value is not, so soft labels, label_smoothing and pos_weight keep
#     the small expression or the torch-specialised kernel.
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
#   * poisson (F.poisson_nll_loss adds eps=1e-8 inside the log);
#   * cross-entropies with class_weight and soft labels (PyTorch's mean divides by N).


def _checked(call: Any) -> bool:
    return call.weight is None and call.size > 0 and _checkable(call)


def _float32_floor(call: Any) -> bool:
    # The twins below floor (or not) as PyTorch does, at 1e-12; a float16 result's gradient
    # floor is larger (_kernels.grad_floor), so those calls take the floored kernels.
    return grad_floor(call.out_dtype) == GRAD_DENOMINATOR_FLOOR


# Where p and 1 - p are both at least sqrt(floor), p (1 - p) is far above the floor, so neither
# PyTorch's floor nor losskit's is active; closer to 0 or 1 the two floors start to differ.
_BCE_MARGIN = math.sqrt(GRAD_DENOMINATOR_FLOOR)


def _binary_cross_entropy_accepts(call: Any) -> bool:
    # F.binary_cross_entropy raises on a target outside [0, 1] (NaN included): those calls take the
    # torch kernel, which gives the catalog's NaN.
    return _checked(call) and _float32_floor(call) and _within(call.y_pred, _BCE_MARGIN, 1.0 - _BCE_MARGIN) \
        and _within(call.y_true, 0.0, 1.0)


def _binary_cross_entropy_native(call):
    target = _smooth_binary(call.y_true, call.params["label_smoothing"])
    return F.binary_cross_entropy(call.y_pred, target, reduction=call.reduction)


def _margin_limit(x: torch.Tensor) -> float:
    return 0.5 * math.log(torch.finfo(x.dtype).max)


def _logistic_accepts(call: Any) -> bool:
    if not _checked(call):
        return False
    limit = _margin_limit(call.y_pred)
    if not _within(call.y_pred, -limit, limit):
        return False
    return _all_zero_one(call.y_true) or _within(call.y_true, -1.0, 1.0)


def _logistic_native(call):
    labels = call.y_true
    sign = _signs_from_zero_one(labels) if _all_zero_one(labels) else labels
    return F.soft_margin_loss(call.y_pred, sign, reduction=call.reduction)


def _sigmoid_cross_entropy_accepts(call: Any) -> bool:
    params = call.params
    if params["pos_weight"] is not None or params["label_smoothing"] or not _checked(call):
        return False
    limit = _margin_limit(call.y_pred)
    return _within(call.y_pred, -limit, limit) and _all_zero_one(call.y_true)


def _sigmoid_cross_entropy_native(call):
    return F.soft_margin_loss(call.y_pred, _signs_from_zero_one(call.y_true), reduction=call.reduction)


def _kl_divergence_accepts(call: Any) -> bool:
    if not (_checked(call) and _float32_floor(call)):
        return False
    finite_max = torch.finfo(call.y_pred.dtype).max
    return _within(call.y_pred, GRAD_DENOMINATOR_FLOOR, finite_max) and _within(call.y_true, 0.0, finite_max)


def _kl_divergence_native(call):
    reduction = call.reduction
    terms = F.kl_div(torch.log(call.y_pred), call.y_true, reduction="none" if reduction == "none" else "sum")
    if reduction == "none":
        return terms.sum(-1)
    return terms if reduction == "sum" else terms / _rows(call)


def _sparse_categorical_cross_entropy_accepts(call: Any) -> bool:
    return (
        not call.params["label_smoothing"] and _sparse_native_accepts(call) and _checked(call) and _float32_floor(call)
        and _at_least(call.y_pred, GRAD_DENOMINATOR_FLOOR)
    )


def _sparse_categorical_cross_entropy_native(call):
    params = call.params
    ignore_index, class_weight = params["ignore_index"], params["class_weight"]
    log_probs = _class_axis_second(torch.log(call.y_pred))
    arguments = dict(target=call.y_true, weight=class_weight, ignore_index=_NO_LABEL if ignore_index is None else ignore_index)
    value = F.nll_loss(log_probs, reduction=call.reduction, **arguments)
    if call.reduction == "mean" and (ignore_index is not None or class_weight is not None):
        # With every p >= the floor, a NaN mean comes from a zero denominator (the sum is then 0,
        # with a zero gradient, as the catalog's mean over nothing), or from an infinite p under
        # a class weight of 0, where the catalog's value is NaN too and so is the sum.
        if math.isnan(value.item()):
            value = F.nll_loss(log_probs, reduction="sum", **arguments)
    return value


def _target_weights(call: Any) -> torch.Tensor:
    """w_c t'_c, the smoothed targets times the class weights (as multiclass._cross_entropy)."""
    params = call.params
    smoothing, class_weight = params["label_smoothing"], params["class_weight"]
    weighted = call.y_true
    if smoothing:
        weighted = weighted * (1.0 - smoothing) + smoothing / weighted.shape[-1]
    if class_weight is not None:
        weighted = weighted * class_weight
    return weighted


def _categorical_cross_entropy_accepts(call: Any) -> bool:
    return (_checked(call) and _float32_floor(call) and _at_least(call.y_pred, GRAD_DENOMINATOR_FLOOR)
            and _at_least(_target_weights(call), 0.0))


def _categorical_cross_entropy_native(call):
    weighted = _target_weights(call)
    reduction = call.reduction
    if reduction == "none":
        return torch.xlogy(weighted, call.y_pred).sum(-1).neg()
    total = torch.xlogy(weighted, call.y_pred).sum()
    if reduction == "sum":
        return total.neg()
    class_weight = call.params["class_weight"]
    if class_weight is None:
        return total * (-1.0 / _rows(call))
    # losskit's weighted mean divides by sum_c w_c t_c over the rows, 1 where that is 0.
    denominator = (call.y_true * class_weight).sum().item()
    return total * (-1.0 / (denominator if denominator > 0 else 1.0))


# ------------------------------------------------------------- small inputs: plain autograd
#
# The generic autograd.Function of losskit._autodiff has a fixed price per call (its Python
# forward and backward, the ctx) that dominates at batch sizes of a few dozen elements, where
# each torch op costs its call overhead whatever its size. For the losses below, a short torch
# expression has exactly the catalog's value and, through autograd, exactly its analytic
# gradient, including the floored and infinite edge cases; at or below _SMALL_NUMEL elements it
# is used instead of the Function. Above it, autograd's saved intermediates make the Function
# cheaper again. On CPU inputs that pass its data check, logistic's and sigmoid_cross_entropy's
# native twin (above) is cheaper still; the expression remains for the rest (soft labels,
# pos_weight, label_smoothing, overflowing margins, GPU tensors, traced calls).
# The other torch-specialised losses have no expression shorter than their analytic kernel
# (their floored gradients or masked terms need extra ops under autograd), so they keep the
# Function at every size.

_SMALL_NUMEL = 4096


def _small(call: Any) -> bool:
    return call.size <= _SMALL_NUMEL


def _poisson_expression(y_true: torch.Tensor, y_pred: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    # regression._poisson. The rate floor must be straight-through: below GRAD_DENOMINATOR_FLOOR
    # the catalog's gradient is 1 - y / floor, but clamp_min's backward would zero the log
    # term's. Adding the detached gap to the floor leaves the value at the floor (to one ulp)
    # and the derivative at 1; above the floor the gap is exactly 0. xlogy is 0 at a zero count,
    # in value and in gradient, as the catalog's where(y > 0, ...).
    gap_to_floor = torch.rsub(y_pred.detach(), GRAD_DENOMINATOR_FLOOR).clamp_min_(0.0)
    return y_pred - torch.xlogy(y_true, y_pred + gap_to_floor)


def _logistic_expression(y_true: torch.Tensor, y_pred: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
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
    # ~(w <= 0) rather than w > 0: a NaN target keeps its term, so value and gradient are NaN.
    positive_term = torch.where(~(positive_weight <= 0), torch.logaddexp(-logits, zero), zero)
    negative_term = torch.where(~(negative_weight <= 0), torch.logaddexp(logits, zero), zero)
    return positive_weight * positive_term + negative_weight * negative_term


def _reduced_expression(expression: Callable[..., torch.Tensor]) -> Callable[[Any], torch.Tensor]:
    def native(call):
        elementwise = expression(call.y_true, call.y_pred, call.params)
        if call.weight is None and call.reduction != "none":
            # mean() is sum / size in one autograd node; a mean over nothing is 0 in the catalog.
            if call.reduction == "sum" or elementwise.numel() == 0:
                return elementwise.sum()
            return elementwise.mean()
        return reduce(call.xp, elementwise, None, None, call.weight, call.reduction)[0]

    native.__name__ = expression.__name__
    return native


# ------------------------------------------------------------------ torch-specialised kernels
#
# The catalog's kernels are written once against the array API; through array-api-compat each
# of their operations is a Python wrapper around a torch call, and their where-chains make
# several passes over memory. For the losses whose PyTorch twin is not exact everywhere, the
# kernels below compute the same formula with fused torch operations (log1p, gather, scatter,
# in-place updates of their own temporaries). On the CPU a new tensor the size of the input can
# cost more than an elementwise pass (the allocator returns large blocks to the system, so
# every new one is page-faulted in again), so these kernels write into as few fresh tensors as
# they can. They take and return what the catalog's kernels do, so the reductions, sample
# weights and ignore_index (multiclass._sparse) are shared. They never write their arguments.


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


@floored
def _torch_binary_cross_entropy(xp, y_true, y_pred, *, label_smoothing, with_grad, floor=GRAD_DENOMINATOR_FLOOR):
    # binary._binary_cross_entropy: both logs floored at -100, each denominator of the gradient
    # floored separately (the twin floors their product; see above).
    target = _smooth_binary(y_true, label_smoothing)
    negative_target = torch.rsub(target, 1.0)
    complement = torch.rsub(y_pred, 1.0)
    loss = _torch_clamped_log(y_pred).mul_(target)
    # _array.clamped_log1m: log1p(-p) floored, the floor for p >= 1.
    log_complement = torch.log1p(-y_pred).clamp_min_(LOG_FLOOR).masked_fill_(y_pred >= 1, LOG_FLOOR)
    loss.add_(log_complement.mul_(negative_target)).neg_()
    grad = None
    if with_grad:
        grad = negative_target.div_(complement.clamp_min_(floor))
        grad.sub_(torch.div(target, y_pred.clamp_min(floor)))
    return KernelResult(loss, grad)


@floored
def _torch_poisson(xp, y_true, y_pred, *, with_grad, floor=GRAD_DENOMINATOR_FLOOR):
    # regression._poisson, with the same rate floor and the same zero-count rule.
    safe_rate = y_pred.clamp_min(floor)
    cross = torch.where(y_true == 0, 0.0, y_true * torch.log(safe_rate))  # y == 0: a NaN count stays NaN
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
    without pos_weight: where its two terms cancel it carries an absolute rounding error of a
    few eps times the weights, as the catalog's w_n s - w_p (1 - s) does.
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


@floored
def _torch_sparse_categorical(xp, labels, y_pred, *, label_smoothing, class_weight, with_grad, with_hess=False,
                              floor=GRAD_DENOMINATOR_FLOOR):
    # multiclass._sparse (which passes with_hess on) wraps this kernel; registered with
    # max_order=1, it is never asked for a Hessian.
    # multiclass._sparse_categorical_kernel without label smoothing: only the labelled
    # probability enters the loss, so its gradient is scattered into the gradient of the other
    # classes instead of dividing every target weight by its probability.
    if label_smoothing:
        return _sparse_categorical_kernel(xp, labels, y_pred, label_smoothing=label_smoothing,
                                          class_weight=class_weight, with_grad=with_grad, floor=floor)
    index = labels[..., None]
    picked_probability = y_pred.gather(-1, index)[..., 0]
    label_weight = 1.0 if class_weight is None else class_weight[labels]
    loss = -label_weight * _torch_clamped_log(picked_probability)
    # A NaN in any class makes the row invalid (multiclass._sparse_categorical_kernel).
    loss = loss.add_(y_pred.sum(-1).mul_(0.0))
    norm = None if class_weight is None else label_weight
    grad = None
    if with_grad:
        picked_grad = -label_weight / picked_probability.clamp_min(floor)
        # The other classes' gradient is the catalog's -0 / max(p, floor): -0, and NaN at a NaN p
        # (zeros would hide it).
        grad = y_pred.clamp_min(floor).reciprocal_().mul_(-0.0)
        grad.scatter_(-1, index, picked_grad[..., None])
    return KernelResult(loss, grad, norm)


@floored
def _torch_kl_divergence(xp, y_true, y_pred, *, with_grad, floor=GRAD_DENOMINATOR_FLOOR):
    # multiclass._kl_divergence: terms with a zero target are 0 (the limit t log t -> 0).
    if _host_readable(y_pred) and y_pred.numel():
        finite_max = torch.finfo(y_pred.dtype).max
        if _within(y_pred, floor, finite_max) and _within(y_true, 0.0, finite_max):
            return _kl_divergence_unfloored(y_true, y_pred, with_grad)
    terms = torch.log(y_true).sub_(_torch_clamped_log(y_pred)).mul_(y_true)
    terms.masked_fill_(y_true == 0, 0.0)  # t == 0, not ~(t > 0): a NaN target keeps its NaN term
    grad = torch.div(y_true, y_pred.clamp_min(floor)).neg_() if with_grad else None
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
    if not _host_readable(logits) or not _kl_logit_range_is_safe(logits):
        return _kl_divergence_with_logits(xp, y_true, logits, with_grad=with_grad)
    log_probs = torch.log_softmax(logits, dim=-1)
    terms = torch.log(y_true).sub_(log_probs).masked_fill_(~(y_true > 0), 0.0).mul_(y_true)
    grad = None
    if with_grad:
        grad = log_probs.exp_().mul_(y_true.sum(-1, keepdim=True)).sub_(y_true)
    return KernelResult(terms.sum(-1), grad)


def _kl_logit_range_is_safe(logits: torch.Tensor) -> bool:
    # x - max(x) is finite for every finite logit (else the reference's overflow-safe sum runs).
    if not logits.numel():
        return True
    smallest, largest = _extremes(logits)
    finite = torch.finfo(logits.dtype).max
    return not (-finite <= smallest and largest - smallest > finite)


@floored
def _torch_categorical_cross_entropy(xp, y_true, y_pred, *, label_smoothing, class_weight, with_grad,
                                     floor=GRAD_DENOMINATOR_FLOOR):
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
            loss, grad = _categorical_cross_entropy_unmasked(y_pred, weighted, with_grad, smallest < floor, floor)
            return KernelResult(loss, grad, norm)
    # A NaN probability is kept even under a zero weight: its row is invalid, its loss NaN.
    log_probs = _torch_clamped_log(y_pred).masked_fill_(~(weighted > 0) & ~torch.isnan(y_pred), 0.0)
    loss = log_probs.mul_(weighted).sum(-1).neg_()
    grad = torch.div(weighted, y_pred.clamp_min(floor)).neg_() if with_grad else None
    return KernelResult(loss, grad, norm)


def _categorical_cross_entropy_unmasked(y_pred, weighted, with_grad, floored, floor):
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
    denominator = torch.clamp(y_pred, min=floor, out=buffer) if floored else y_pred
    return loss, torch.addcdiv(y_pred.new_zeros(()), weighted, denominator, value=-1.0, out=buffer)


# --------------------------------------------------------------------------------- registry
#
# Per loss, in the order select() tries them: the native twin, the small expression, the
# torch-specialised kernel (which accepts every call; the reference is never reached for these).


def _always(call: Any) -> bool:
    return True


def _native(loss: str, fn: Callable[[Any], torch.Tensor], accepts: Callable[[Any], bool], name: str) -> None:
    register_kernel(loss, "torch", fn, accepts, name=name, style="native", max_order=0)


_native("mean_squared_error", _pointwise_native(F.mse_loss), _no_weight, "F.mse_loss")
_native("mean_absolute_error", _pointwise_native(F.l1_loss), _l1_accepts, "F.l1_loss")
_native("huber", _pointwise_native(F.huber_loss, "delta"), _no_weight, "F.huber_loss")
_native("smooth_l1", _smooth_l1_native, _no_weight, "F.smooth_l1_loss")
_native("softmax_cross_entropy", _softmax_cross_entropy_native, _softmax_cross_entropy_accepts, "F.cross_entropy")
_native("sparse_softmax_cross_entropy", _sparse_softmax_cross_entropy_native, _sparse_native_accepts, "F.cross_entropy")

_native("binary_cross_entropy", _binary_cross_entropy_native, _binary_cross_entropy_accepts, "F.binary_cross_entropy")
_native("logistic", _logistic_native, _logistic_accepts, "F.soft_margin_loss")
_native("sigmoid_cross_entropy", _sigmoid_cross_entropy_native, _sigmoid_cross_entropy_accepts, "F.soft_margin_loss")
_native("kl_divergence", _kl_divergence_native, _kl_divergence_accepts, "F.kl_div")
_native("sparse_categorical_cross_entropy", _sparse_categorical_cross_entropy_native,
        _sparse_categorical_cross_entropy_accepts, "F.nll_loss")
_native("categorical_cross_entropy", _categorical_cross_entropy_native, _categorical_cross_entropy_accepts, "torch.xlogy")

_native("poisson", _reduced_expression(_poisson_expression), lambda call: _small(call) and _float32_floor(call),
        "small autograd expression")
_native("logistic", _reduced_expression(_logistic_expression), _small, "small autograd expression")
_native("sigmoid_cross_entropy", _reduced_expression(_sigmoid_cross_entropy_expression), _small,
        "small autograd expression")

for _loss, _fn in (
    ("binary_cross_entropy", _torch_binary_cross_entropy),
    ("categorical_cross_entropy", _torch_categorical_cross_entropy),
    ("poisson", _torch_poisson),
    ("logistic", _torch_logistic),
    ("sigmoid_cross_entropy", _torch_sigmoid_cross_entropy),
    ("sparse_categorical_cross_entropy", _sparse(_torch_sparse_categorical)),
    ("kl_divergence", _torch_kl_divergence),
    ("kl_divergence_with_logits", _torch_kl_divergence_with_logits),
):
    register_kernel(_loss, "torch", _fn, _always, name="torch kernel", style="elementwise")
del _loss, _fn
