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

The root costs (``root=True``: RMSE, RMSLE) are ``sqrt(mean(r^2))`` of the residual ``r`` their
kernel returns; it is computed as a scaled norm, like ``hypot`` and LAPACK's ``nrm2``, so that
``r^2`` cannot overflow where the root mean square is representable (residuals of 1e30 in float32).
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
    grad_factor: float | None = None,
) -> tuple[Any, tuple[Any, ...] | None, tuple[Any, ...] | None]:
    """Apply ``reduction`` to the unreduced ``loss`` and, when given, to its derivatives.

    ``grads`` holds the gradient of each unreduced loss term with respect to each prediction
    (a tuple, one per prediction); the returned gradients are those of the reduced value (of the
    weighted sum for ``"none"``). A gradient may have more axes than ``loss`` (the class axis):
    the per-term scale is broadcast over them. ``hessians`` (diagonals) scale like the gradients,
    since every reduction is linear in the terms.

    With ``root``, ``loss`` is the residual ``r`` and ``grads`` its derivatives; the value is
    ``sqrt(mean(w r^2))`` and the gradients those of that root.

    ``grad_factor`` (a power of two, from a kernel's ``losskit_grad_factor``): ``grads`` are the
    gradients divided by it, and it is applied after the reduction's scale, so that a mean's
    ``2r / n`` is representable where ``2r`` overflows; a power of two changes no other bit.
    """
    if root:
        # RMSE = s sqrt(mean(w (r/s)^2)) with s = max|r|: the squares of r / s are at most 1, so
        # they neither overflow (|r| > 1.8e19 in float32) nor underflow to a zero cost (|r| <
        # 1e-23). s = 0 (a perfect fit), inf or NaN keep s = 1: the cost is then 0, inf or NaN.
        # The gradient w r r' / (W RMSE) is (w / W) (r / s) r' / sqrt(M), M the mean of the scaled squares.
        largest = xp.max(xp.abs(loss)) if _size(loss) != 0 else xp.zeros((), dtype=loss.dtype)
        root_scale = xp.where(xp.isfinite(largest) & (largest > 0), largest, xp.ones_like(largest))
        loss = loss / root_scale
        if grads is not None:
            grads = tuple(loss * g for g in grads)
        loss = loss * loss
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
    if grads is not None and grad_factor is not None:
        grads = tuple(g * grad_factor for g in grads)

    if root:
        # sqrt(m), written so that autodiff through it (a gradient of the target, which the
        # bridges take from this expression) gets the subgradient 0 at m = 0, not 0 * inf = NaN;
        # a NaN mean stays NaN.
        positive_mean = value > 0
        root_mean = xp.where(positive_mean, xp.sqrt(xp.where(positive_mean, value, 1.0)), value)
        value = root_scale * root_mean
        if grads is not None:
            # The grads hold (w / W) (r / s) r'; divided by sqrt(M). At M = 0 (a perfect fit) the
            # subgradient 0 is used.
            positive = root_mean > 0
            factor = xp.where(positive, 1.0 / xp.where(positive, root_mean, 1.0), 0.0)
            grads = tuple(g * factor for g in grads)
    return value, grads, hessians


def _size(x: Any) -> int | None:
    size = 1
    for dim in x.shape:
        if dim is None:
            return None
        size *= int(dim)
    return size
