"""``lk.plot``: a loss and its gradient, side by side, for one or several losses on shared axes.

Every loss is drawn against the quantity the model controls:

* regression: the residual ``e = y_pred - y_true`` (around a reference target, 1 by default,
  which matters only for losses that are not functions of the residual alone, such as MAPE,
  MSLE and Poisson);
* binary classification: the logit or score ``z`` of an example whose label is 1. Losses on
  probabilities are evaluated at ``p = sigmoid(z)``, so that every binary loss shares one logit
  axis, and their gradient is taken with respect to ``z`` by the chain rule;
* multiclass classification: the margin ``m = z_true - z_other`` of a 2-class problem (logits
  ``(m, 0)``, true class 0); losses on probabilities are evaluated at ``softmax((m, 0))``;
* segmentation (overlap losses): the logit ``z`` of the right answer at every pixel of a
  4-pixel image whose one class covers 1 pixel (a small structure): the predicted mask is
  ``p = sigmoid(z)`` on that pixel and ``1 - sigmoid(z)`` on the 3 others, so ``z -> +inf`` is
  the perfect mask and ``z = 0`` the uninformed one; the gradient is ``d loss / d z``;
* embeddings: a separation ``s``: the angle between the pair (``y_pred`` or ``x2`` at angle ``s`` from ``(1, 0)``; a similar pair
  for cosine_embedding), the score gap ``x1 - x2`` of a pair labelled 1 (margin_ranking), the
  distance gap ``d(anchor, negative) - d(anchor, positive)`` with the positive 3 away
  (triplet_margin), and for info_nce the angle of ``y[0]`` from its positive ``x[0] = (1, 0)``
  in a batch of two pairs (``x[1] = y[1] = (0, 1)``, the mean loss); the gradient is ``d loss / d s``.

The gradient panel uses each loss's analytic ``.grad`` (never finite differences). Matplotlib is
imported here and nowhere else in the package; figures are created without ``pyplot``, so no
window ever opens and no global figure state is kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._loss import Loss
from ._registry import get

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot", "SAVE_FORMATS"]

#: File formats ``losskit plot --out`` writes (matplotlib's vector and raster formats).
SAVE_FORMATS = ("png", "svg", "pdf")

_X_LABELS = {
    "regression": r"residual  $\hat y - y$",
    "binary": "logit / score  $z$  (label $y = 1$)",
    "multiclass": r"margin  $m = z_{true} - z_{other}$  (2 classes, true class first)",
    "segmentation": r"logit  $z$  of the right answer per pixel (mask: 1 of 4 pixels)",
    "embedding": r"separation  $s$: angle of the pair, score gap $x_1 - x_2$, or distance gap $d_{an} - d_{ap}$",
}
_PROBABILITY_NOTE = {
    "binary": r"; losses on probabilities at $p = \sigma(z)$",
    "multiclass": r"; losses on probabilities at $p = \mathrm{softmax}(m, 0)$",
    "segmentation": r"; $p = \sigma(z)$ in, $1 - \sigma(z)$ out",
}
_GRADIENT_LABELS = {
    "regression": r"gradient  $\partial\ell / \partial\hat y$",
    "binary": r"gradient  $\partial\ell / \partial z$",
    "multiclass": r"gradient  $\partial\ell / \partial m$",
    "segmentation": r"gradient  $\partial\ell / \partial z$",
    "embedding": r"gradient  $\partial\ell / \partial s$",
}
_TITLE_AXIS = {"regression": "the residual", "binary": "the logit (y = 1)", "multiclass": "the margin",
               "segmentation": "the logit of the right mask", "embedding": "the separation"}


@dataclass(frozen=True)
class _Curve:
    """One line of the plot: a loss with its parameters bound, and the parameters to show."""

    loss: Loss
    shown_params: tuple[tuple[str, Any], ...]

    def label(self, target: float) -> str:
        shown = [f"{name}={_format_value(value)}" for name, value in self.shown_params]
        if self.loss.task == "regression" and not _depends_on_residual_only(self.loss):
            shown.append(f"y={_format_value(target)}")
        return f"{self.loss.name} ({', '.join(shown)})" if shown else self.loss.name


def plot(
    *losses: str | Loss,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    x_range: Sequence[float] = (-4.0, 4.0),
    target: float = 1.0,
    num_points: int = 401,
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 4.2),
) -> Figure:
    """Plot losses (left) and their gradients (right) against the residual, logit or margin.

    Parameters
    ----------
    *losses : str or Loss
        Names or aliases from the catalog, or :class:`~losskit.Loss` objects (for instance
        ``lk.huber.with_params(delta=0.5)``). All must belong to the same task.
    params : mapping, optional
        ``{loss_name: {param: value_or_values}}``. A list of values draws one curve per value
        (one per combination when several parameters have lists), e.g.
        ``{"huber": {"delta": [0.5, 1, 2]}}``.
    x_range : (low, high)
        The interval of the x axis (residual, logit or margin); ``low < high``, both finite.
    target : float
        The regression target the residuals are taken around; it changes only losses that are
        not functions of the residual alone (their legend entry then shows ``y=...``).
    num_points : int
        Points per curve.
    title, figsize
        The figure's title (a default names the losses) and size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: ``fig.axes[0]`` the losses, ``fig.axes[1]`` the gradients, one line per curve,
        in the order given; the legend names each curve with its parameter values.

    Examples
    --------
    >>> import losskit as lk
    >>> fig = lk.plot("huber", "mse", params={"huber": {"delta": [0.5, 2.0]}})
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['huber (delta=0.5)', 'huber (delta=2)', 'mean_squared_error']
    >>> fig.savefig("losses.png")  # doctest: +SKIP
    """
    curves = _expand_curves(losses, params or {})
    task = _common_task(curves)
    low, high = _check_range(x_range)
    target = _check_target(target)
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2; got {num_points!r}")

    x = np.linspace(low, high, num_points)
    figure = _new_figure(figsize)
    loss_axis, grad_axis = figure.subplots(1, 2, sharex=True)
    for curve in curves:
        values, gradients = _evaluate(curve.loss, x, target)
        label = curve.label(target)
        (line,) = loss_axis.plot(x, values, label=label)
        grad_axis.plot(x, gradients, label=label, color=line.get_color(), linestyle=line.get_linestyle())

    x_label = _X_LABELS[task]
    if task != "regression" and any(c.loss.prediction_space == "probabilities" for c in curves):
        x_label += _PROBABILITY_NOTE[task]
    for axis, y_label, panel in ((loss_axis, "loss  $\\ell$", "Loss"), (grad_axis, _GRADIENT_LABELS[task], "Gradient")):
        axis.set_xlabel(x_label, fontsize="small")
        axis.set_ylabel(y_label)
        axis.set_title(panel)
        axis.grid(True, alpha=0.3)
    loss_axis.legend(fontsize="small")
    figure.suptitle(title if title is not None else _default_title(curves, task))
    return figure


# ------------------------------------------------------------------------------ the curves


def _expand_curves(losses: Sequence[str | Loss], params: Mapping[str, Mapping[str, Any]]) -> list[_Curve]:
    if not losses:
        raise ValueError("plot needs at least one loss name, e.g. lk.plot('huber', 'mse')")
    resolved = [get(loss) for loss in losses]
    grid_by_name = _check_params(params, {loss.name: loss for loss in resolved})
    curves: list[_Curve] = []
    for loss in resolved:
        catalog_defaults = get(loss.name).defaults
        own = {k: v for k, v in loss.defaults.items() if _differs(v, catalog_defaults[k])}
        grid = grid_by_name.get(loss.name, {})
        for combination in itertools.product(*grid.values()):
            chosen = {**own, **dict(zip(grid, combination))}
            curve = _Curve(_bind(loss, chosen), tuple(chosen.items()))
            if curve not in curves:  # the same loss asked for twice draws one curve
                curves.append(curve)
    return curves


def _check_params(params: Mapping[str, Mapping[str, Any]], plotted: dict[str, Loss]) -> dict[str, dict[str, list]]:
    """Resolve ``params`` keys to canonical names and every value to a list of values."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping {{loss_name: {{param: value}}}}; got {type(params).__name__}")
    grids: dict[str, dict[str, list]] = {}
    for name, values in params.items():
        loss = get(name)
        if loss.name not in plotted:
            raise ValueError(
                f"params were given for {name!r}, which is not among the losses to plot "
                f"({', '.join(plotted)}); add it to the losses or drop its params"
            )
        if not isinstance(values, Mapping):
            raise TypeError(f"params[{name!r}] must be a mapping {{param: value}}; got {type(values).__name__}")
        known = [p.name for p in loss.params]
        grid = grids.setdefault(loss.name, {})
        for param, value in values.items():
            if param not in known:
                accepted = f"its parameters are {', '.join(known)}" if known else "it has no parameters"
                raise ValueError(f"{loss.name} has no parameter {param!r}; {accepted}")
            choices = list(value) if isinstance(value, (list, tuple)) else [value]
            if not choices:
                raise ValueError(f"params[{name!r}][{param!r}] is an empty list; give at least one value")
            grid[param] = choices
    return grids


def _bind(loss: Loss, chosen: dict[str, Any]) -> Loss:
    try:
        return loss.with_params(**chosen)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{loss.name}: {exc}") from None


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(np.any(np.asarray(a) != np.asarray(b))) or (a is None) != (b is None)
    except (TypeError, ValueError):  # arrays of different shapes
        return True


def _common_task(curves: list[_Curve]) -> str:
    tasks = dict.fromkeys(curve.loss.task for curve in curves)
    if len(tasks) > 1:
        by_task = "; ".join(
            f"{task}: {', '.join(dict.fromkeys(c.loss.name for c in curves if c.loss.task == task))}" for task in tasks
        )
        raise ValueError(
            f"cannot plot losses of different tasks on one axis (residual, logit and margin differ); "
            f"plot each task separately ({by_task})"
        )
    return next(iter(tasks))


def _check_range(x_range: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in x_range)
    except (TypeError, ValueError):
        raise ValueError(f"x_range must be two numbers (low, high); got {x_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"x_range must be two finite numbers with low < high; got ({low:g}, {high:g})")
    return low, high


def _check_target(target: float) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
        raise ValueError(f"target must be a finite number; got {target!r}")
    return float(target)


# ------------------------------------------------------------------------------ the numbers


def _evaluate(loss: Loss, x: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """The loss and its analytic derivative with respect to ``x``, NaN where ``x`` is outside its domain.

    Some losses reject part of the axis (MSLE and Poisson reject negative predictions); those
    points are evaluated one by one so that the rest of the curve is still drawn.
    """
    if "none" in loss.reductions:
        try:
            return _evaluate_block(loss, x, target, reduction="none")
        except ValueError:
            pass
    values, gradients = np.full_like(x, np.nan), np.full_like(x, np.nan)
    reason = ""
    for i in range(x.size):
        # A cost such as RMSE is defined only for reduction="mean": of one example it is that
        # example's loss, which is what the curve shows.
        try:
            value, gradient = _evaluate_block(loss, x[i : i + 1], target, reduction=loss.reductions[-1])
        except ValueError as exc:
            reason = reason or str(exc)
            continue
        values[i], gradients[i] = np.ravel(value)[0], np.ravel(gradient)[0]
    if np.all(np.isnan(values)):
        raise ValueError(f"{loss.name} cannot be plotted on this x range: {reason}")
    return values, gradients


def _evaluate_block(loss: Loss, x: np.ndarray, target: float, *, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    if loss.task == "regression":
        y_true = np.full_like(x, target)
        # A loss with several predictions is drawn against its first (the mean of gaussian_nll)
        # with the others at 1 (a unit variance), and its gradient is the first one's.
        others = [np.ones_like(x) for _ in loss.inputs[1:]]
        value, gradient = loss.value_and_grad(y_true, y_true + x, *others, reduction=reduction)
        if isinstance(gradient, tuple):
            gradient = gradient[0]
        return np.asarray(value, dtype=float), np.asarray(gradient, dtype=float)
    if loss.task == "binary":
        return _binary_curve(loss, x, reduction)
    if loss.task == "segmentation":
        return _segmentation_curve(loss, x, reduction)
    if loss.task == "embedding":
        return _embedding_curve(loss, x, reduction)
    return _multiclass_curve(loss, x, reduction)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # never overflows, unlike 1 / (1 + exp(-x))


def _binary_curve(loss: Loss, z: np.ndarray, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.ones_like(z)
    if loss.prediction_space != "probabilities":
        value, gradient = loss.value_and_grad(y_true, z, reduction=reduction)
        return np.asarray(value, dtype=float), np.asarray(gradient, dtype=float)
    p = _sigmoid(z)
    value, gradient = loss.value_and_grad(y_true, p, reduction=reduction)
    # Chain rule to the logit axis: dl/dz = dl/dp * sigmoid'(z), sigmoid'(z) = p (1 - p).
    return np.asarray(value, dtype=float), np.asarray(gradient, dtype=float) * p * (1.0 - p)


def _multiclass_curve(loss: Loss, m: np.ndarray, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    if "free" in loss.input_shapes:
        # A linear head (linear_cross_entropy): one feature m and weight rows (1, 0) make the logits (m, 0).
        labels = np.zeros(m.shape, dtype=np.int64)
        value, gradient = loss.value_and_grad(labels, m[..., None], np.array([[1.0], [0.0]]), reduction=reduction)
        return np.asarray(value, dtype=float), np.asarray(gradient[0], dtype=float)[..., 0]
    if loss.prediction_space == "probabilities":
        predictions = np.stack([_sigmoid(m), _sigmoid(-m)], axis=-1)  # softmax((m, 0)), exactly
    else:
        predictions = np.stack([m, np.zeros_like(m)], axis=-1)
    if loss.kind == "sparse":
        y_true = np.zeros(m.shape, dtype=np.int64)
    else:
        y_true = np.stack([np.ones_like(m), np.zeros_like(m)], axis=-1)
    value, gradient = loss.value_and_grad(y_true, predictions, reduction=reduction)
    gradient = np.asarray(gradient, dtype=float)
    if loss.prediction_space == "probabilities":
        # d p0 / dm = p0 p1 and d p1 / dm = -p0 p1 for p = softmax((m, 0)).
        p0, p1 = predictions[..., 0], predictions[..., 1]
        return np.asarray(value, dtype=float), p0 * p1 * (gradient[..., 0] - gradient[..., 1])
    # The other logit is held at 0, so d/dm is the derivative with respect to the true class's logit.
    return np.asarray(value, dtype=float), gradient[..., 0]


# The target of the segmentation curves: one image of 4 pixels, one class covering the first.
_MASK = np.array([1.0, 0.0, 0.0, 0.0])


def _segmentation_curve(loss: Loss, z: np.ndarray, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    # One sample per point of the curve, shape (points, 4 pixels, 1 class): the loss per
    # (sample, class) is the curve. p = sigmoid(z) in the mask and 1 - sigmoid(z) outside.
    right = _sigmoid(z)[:, None]
    y_true = np.broadcast_to(_MASK, (z.size, _MASK.size))[..., None].copy()
    sign = np.where(_MASK > 0, 1.0, -1.0)
    y_pred = np.where(_MASK > 0, right, 1.0 - right)[..., None]
    value, gradient = loss.value_and_grad(y_true, y_pred, reduction=reduction)  # 'mean' only point by point
    # Chain rule: dp/dz = +-sigmoid'(z) = +-p (1 - p) inside (outside) the mask, summed over the pixels.
    slope = (right * (1.0 - right))[:, 0]
    grad_z = slope * np.sum(np.asarray(gradient, dtype=float)[..., 0] * sign, axis=-1)
    return np.asarray(value, dtype=float).reshape(z.shape), grad_z


def _embedding_curve(loss: Loss, s: np.ndarray, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    """The embedding losses against the separation ``s`` (see the module docstring), one row per point."""
    if loss.kind == "pointwise":  # margin_ranking: label 1, x1 = s, x2 = 0
        value, (grad_x1, _) = loss.value_and_grad(np.ones_like(s), s, np.zeros_like(s), reduction=reduction)
        return np.asarray(value, dtype=float), np.asarray(grad_x1, dtype=float)
    if len(loss.inputs) == 3:  # triplet_margin: anchor 0, positive 3, negative 3 + s on one feature
        anchor, positive = np.zeros((s.size, 1)), np.full((s.size, 1), 3.0)
        value, grads = loss.value_and_grad(anchor, positive, (3.0 + s)[:, None], reduction=reduction)
        return np.asarray(value, dtype=float), np.asarray(grads[2], dtype=float)[:, 0]
    rotated = np.stack([np.cos(s), np.sin(s)], axis=-1)
    tangent = np.stack([-np.sin(s), np.cos(s)], axis=-1)  # d rotated / ds
    reference = np.broadcast_to([1.0, 0.0], rotated.shape).copy()
    if loss.has_target:
        if loss.target_shape == "same":  # cosine_distance(y_true = (1, 0), y_pred at angle s)
            value, grad = loss.value_and_grad(reference, rotated, reduction=reduction)
        else:  # cosine_embedding of a similar pair
            value, (_, grad) = loss.value_and_grad(np.ones_like(s), reference, rotated, reduction=reduction)
        return np.asarray(value, dtype=float), np.sum(np.asarray(grad, dtype=float) * tangent, axis=-1)
    # info_nce: a batch of two pairs per point; its rows are coupled, so the curve is the batch mean.
    values, gradients = np.empty_like(s), np.empty_like(s)
    other = np.array([0.0, 1.0])
    for i in range(s.size):
        x, y = np.stack([reference[i], other]), np.stack([rotated[i], other])
        value, (_, grad_y) = loss.value_and_grad(x, y, reduction="mean")
        values[i], gradients[i] = float(value), float(np.dot(grad_y[0], tangent[i]))
    return values, gradients


def _depends_on_residual_only(loss: Loss) -> bool:
    """Whether the regression loss is unchanged when target and prediction shift together."""
    residuals = np.array([-0.75, -0.25, 0.5, 1.5])
    try:
        at_one = _evaluate_block(loss, residuals, 1.0, reduction=loss.reductions[0])[0]
        at_four = _evaluate_block(loss, residuals, 4.0, reduction=loss.reductions[0])[0]
    except ValueError:
        return False
    return bool(np.allclose(at_one, at_four, rtol=1e-9, atol=1e-12))


# ------------------------------------------------------------------------------ presentation


def _new_figure(figsize: tuple[float, float]) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("lk.plot needs matplotlib: pip install 'losskit[cli]'") from exc
    return Figure(figsize=figsize, layout="constrained")


def _default_title(curves: list[_Curve], task: str) -> str:
    names = list(dict.fromkeys(c.loss.name for c in curves))
    subject = ", ".join(names)
    if len(subject) > 60:  # a title wider than the figure is clipped; the legend names them all
        subject = f"{len(names)} {task} losses"
    return f"{subject}: loss and gradient against {_TITLE_AXIS[task]}"


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Iterable) and not isinstance(value, str):
        return "[" + ", ".join(_format_value(v) for v in np.asarray(value, dtype=float).ravel().tolist()) + "]"
    return str(value)
