"""Named reductions: from the loss of each example to the cost that is minimised.

The *loss* is the penalty of one prediction (``reduction="none"``); the *cost* is what an
optimiser minimises over a batch: the weighted sum (``"sum"``) or the weighted mean
(``"mean"``). One rule for every loss in the catalog::

    none: w * l                   (elementwise, or per sample for losses over a class axis)
    sum:  sum(w * l)
    mean: sum(w * l) / sum(w * n)

``w`` is ``sample_weight`` expanded over trailing axes (1 when absent) and ``n`` is the
normaliser a loss declares: 1 everywhere, except 0 at positions equal to ``ignore_index`` and the
class weight of the label when ``class_weight`` is given (PyTorch's weighted mean). A mean over
nothing (every position ignored, an empty batch, all weights 0) is 0, not NaN.
"""

from __future__ import annotations

from typing import Any

from ._array import Namespace

REDUCTIONS = ("none", "sum", "mean")


def check_reduction(reduction: Any, allowed: tuple[str, ...], loss_name: str) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}; got {reduction!r}")
    if reduction not in allowed:
        raise ValueError(
            f"{loss_name} is defined only for reduction={allowed[0]!r} (it is the root of the mean cost, "
            f"not a per-example loss); got reduction={reduction!r}"
        )
    return reduction


def expand_weight(xp: Namespace, weight: Any, ndim: int) -> Any:
    """Reshape a prefix-shaped weight so that it broadcasts over the trailing axes."""
    missing = ndim - weight.ndim
    return weight if missing == 0 else xp.reshape(weight, tuple(weight.shape) + (1,) * missing)


def reduce(
    xp: Namespace,
    loss: Any,
    grad: Any | None,
    norm: Any | None,
    weight: Any | None,
    reduction: str,
    *,
    class_axis: bool,
    root: bool = False,
) -> tuple[Any, Any | None]:
    """Apply ``reduction`` to the unreduced ``loss`` and, when given, to its gradient.

    ``grad`` is the gradient of each unreduced loss term with respect to the prediction; the
    returned gradient is that of the reduced value (of the weighted sum for ``"none"``).
    ``class_axis`` says that ``grad`` has one more (last) axis than ``loss``.
    """
    if weight is not None:
        weight = expand_weight(xp, weight, loss.ndim)
    weighted = loss if weight is None else loss * weight

    if reduction == "mean":
        if weight is None and norm is None:
            denominator = float(max(_size(loss), 1))
            value = xp.sum(weighted) / denominator
            scale = None if grad is None else 1.0 / denominator
        else:
            terms = norm if weight is None else (weight if norm is None else weight * norm)
            total = xp.sum(xp.broadcast_to(terms, loss.shape)) if terms.shape != loss.shape else xp.sum(terms)
            safe_total = xp.where(total > 0, total, 1.0)
            value = xp.sum(weighted) / safe_total
            scale = None if grad is None else (1.0 if weight is None else weight) / safe_total
    else:
        value = weighted if reduction == "none" else xp.sum(weighted)
        scale = weight

    if grad is not None and scale is not None:
        if class_axis and not isinstance(scale, float):
            scale = scale[..., None]
        grad = grad * scale

    if root:
        value = xp.sqrt(value)
        if grad is not None:
            # d sqrt(m) = dm / (2 sqrt(m)); at m = 0 (a perfect fit) the subgradient 0 is used.
            positive = value > 0
            grad = grad * xp.where(positive, 0.5 / xp.where(positive, value, 1.0), 0.0)
    return value, grad


def _size(x: Any) -> int:
    size = 1
    for dim in x.shape:
        size *= int(dim)
    return size
