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
    grads: tuple[Any, ...] | None,
    norm: Any | None,
    weight: Any | None,
    reduction: str,
    *,
    root: bool = False,
    hessians: tuple[Any, ...] | None = None,
) -> tuple[Any, tuple[Any, ...] | None, tuple[Any, ...] | None]:
    """Apply ``reduction`` to the unreduced ``loss`` and, when given, to its derivatives.

    ``grads`` holds the gradient of each unreduced loss term with respect to each prediction
    (a tuple, one per prediction); the returned gradients are those of the reduced value (of the
    weighted sum for ``"none"``). A gradient may have more axes than ``loss`` (the class axis):
    the per-term scale is broadcast over them. ``hessians`` (diagonals) scale like the gradients,
    since every reduction is linear in the terms.
    """
    if weight is not None:
        weight = expand_weight(xp, weight, loss.ndim)
    weighted = loss if weight is None else loss * weight

    if reduction == "mean":
        if weight is None and norm is None:
            size = _size(loss)
            if size is None:  # an axis of unknown length (TensorFlow's traced batch axis)
                denominator = xp.maximum(xp.sum(xp.ones_like(loss)), 1.0)
            else:
                denominator = float(max(size, 1))
            value = xp.sum(weighted) / denominator
            scale = 1.0 / denominator
        else:
            terms = norm if weight is None else (weight if norm is None else weight * norm)
            total = xp.sum(xp.broadcast_to(terms, loss.shape)) if terms.shape != loss.shape else xp.sum(terms)
            safe_total = xp.where(total > 0, total, 1.0)
            value = xp.sum(weighted) / safe_total
            scale = (1.0 if weight is None else weight) / safe_total
    else:
        value = weighted if reduction == "none" else xp.sum(weighted)
        scale = weight

    def scaled(derivatives):
        if derivatives is None or scale is None:
            return derivatives
        if isinstance(scale, float) or scale.ndim == 0:
            return tuple(d * scale for d in derivatives)
        return tuple(d * expand_weight(xp, scale, d.ndim) for d in derivatives)

    grads, hessians = scaled(grads), scaled(hessians)

    if root:
        value = xp.sqrt(value)
        if grads is not None:
            # d sqrt(m) = dm / (2 sqrt(m)); at m = 0 (a perfect fit) the subgradient 0 is used.
            positive = value > 0
            factor = xp.where(positive, 0.5 / xp.where(positive, value, 1.0), 0.0)
            grads = tuple(g * factor for g in grads)
    return value, grads, hessians


def _size(x: Any) -> int | None:
    size = 1
    for dim in x.shape:
        if dim is None:
            return None
        size *= int(dim)
    return size
