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

A module is a thin adapter: it swaps the argument order to PyTorch's, holds the parameters
(array parameters as buffers) and PyTorch's defaults, and calls the functional loss, which picks
the kernel (PyTorch's native loss where its semantics are exactly losskit's, a torch-specialised
kernel, or the reference) and carries the analytic gradient into autograd
(:mod:`losskit._autodiff`). ``lkt.Huber(delta=0.5)(input, target)`` and
``lk.huber(target, input, delta=0.5)`` run the same code and give the same numbers.

Drop-in aliases named as ``torch.nn``'s losses (:class:`MSELoss`, :class:`CrossEntropyLoss`,
:class:`HuberLoss`, ... listed in ``PYTORCH_ALIASES``) take PyTorch's constructor arguments and
defaults and follow its conventions throughout (class axis 1, ``ignore_index=-100``,
PyTorch's ``weight=``); see the section at the end of this module.

What follows PyTorch and what follows losskit:

* ``criterion(input, target)``, prediction first; ``reduction=`` and the loss parameters are
  given at construction. ``forward`` also takes an optional ``sample_weight`` (losskit's
  weighted mean: ``sum(w * l) / sum(w)``). A loss with several predictions takes them as
  PyTorch's twin does: ``GaussianNLL()(input, target, var)``.
* Array parameters (``class_weight``, ``pos_weight``) are registered buffers, so
  ``criterion.to(device)`` moves them and they are saved in ``state_dict``.
* The class axis is the **last** axis by default, as everywhere in losskit; pass ``axis=1`` at
  construction for PyTorch's ``(N, C, d1, ...)`` layout.
* Shapes are strict, as in losskit: ``(N, 1)`` against ``(N,)`` raises ``ValueError`` instead of
  broadcasting with a warning.
* Value checks (labels in range, probabilities in [0, 1], no NaN in weights) read the data. On
  CPU tensors, where reading is free, they always run by default (``check_values=None``): a bad
  label raises ``ValueError`` naming it, never torch's ``IndexError`` and never a number. On an
  accelerator reading the data synchronises the device on every call; PyTorch's losses do not
  check there, and neither do these modules by default: pass ``check_values=True`` to turn them
  on (while debugging), or ``check_values=False`` to skip them on the CPU too.
* **ignore_index.** The losskit-named modules (:class:`SparseSoftmaxCrossEntropy`, ...) ignore
  no label unless ``ignore_index=`` is given, as the functional losses: PyTorch's default -100
  is a label like any other there, and out of range, so it raises ``ValueError``. Only the
  PyTorch-named alias :class:`CrossEntropyLoss`, a drop-in for ``torch.nn.CrossEntropyLoss``,
  keeps PyTorch's default ``ignore_index=-100``.
* float16 / bfloat16 inputs are computed in float32. Outside autocast the result has the input's
  dtype (losskit's contract); inside ``torch.autocast`` it is float32, as autocast's policy for
  PyTorch's own losses, so that ``GradScaler`` never scales a float16 loss into overflow.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import _registry
from ._array import value_checks
from ._loss import Loss
from ._reduction import check_reduction
from ._registry import class_name, get

__all__ = ["LossModule", "get_module", "module_class", "class_name"]

_NARROW = (torch.float16, torch.bfloat16)


class LossModule(nn.Module):
    """Base class of the modules: one catalog loss with fixed parameters.

    Subclasses set :attr:`loss`; use them as ``criterion = Huber(delta=0.5)`` and
    ``criterion(input, target)``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
        As in PyTorch; 'mean' is losskit's weighted mean ``sum(w * l) / sum(w * n)``.
    check_values : bool or None, default None
        Check the values of the inputs (label ranges, probability bounds, rows summing to 1, NaN
        weights). None (the default): on CPU tensors, where reading the data is free; not on an
        accelerator, as PyTorch's losses there, since the checks would synchronise the device on
        every call. True: always; False: never. Shapes and dtypes are always checked.
    axis : int, default -1
        The class axis of losses over classes; 1 for PyTorch's ``(N, C, d1, ...)`` layout.
    **params
        The loss's parameters (``delta``, ``class_weight``, ...); see ``losskit.<name>``.
    """

    loss: Loss
    # Where forward takes the target: second (PyTorch's (input, target, ...)) or, for the pair
    # losses whose PyTorch twins take (input1, input2, target), last.
    target_last: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        loss = cls.__dict__.get("loss")
        if loss is not None:
            params = ", ".join(f"{p.name}={p.default!r}" for p in loss.params)
            cls.__doc__ = (
                f"``torch.nn.Module`` for :func:`losskit.{loss.name}`: {loss.summary}\n\n"
                f"``{cls.__name__}({params + ', ' if params else ''}reduction='mean', check_values=None)``, "
                f"called with the prediction ({loss.prediction_space}) first. See :class:`losskit.torch.LossModule`."
            )

    def __init__(self, *, reduction: str = "mean", check_values: bool | None = None, axis: int = -1, **params: Any):
        super().__init__()
        loss = self.loss
        self.reduction = check_reduction(reduction, loss.reductions, loss.name)
        self.check_values = None if check_values is None else bool(check_values)
        if axis != -1 and loss.kind == "pointwise":
            raise TypeError(f"{type(self).__name__} has no class axis; axis= applies to losses over classes")
        self.axis = int(axis)
        bound = loss.bind_params(params)  # validates scalar parameters once, at construction
        self._scalar_params = {p.name: bound[p.name] for p in loss.params if not p.is_array}
        self._array_param_names = tuple(p.name for p in loss.params if p.is_array)
        for name in self._array_param_names:
            value = bound[name]
            tensor = None if value is None else torch.as_tensor(value, dtype=torch.get_default_dtype())
            if tensor is not None and tensor.device.type == "cpu" and bool(torch.isnan(tensor).any()):
                raise ValueError(f"{name} must not contain NaN; got {tensor.tolist()}")
            self.register_buffer(name, tensor)

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
        if self.axis != -1:
            parts.append(f"axis={self.axis}")
        parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)

    def forward(self, *inputs: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The reduced loss: ``forward(input, target[, *other_predictions], sample_weight=None)``.

        ``input`` is the prediction (values, probabilities or logits); losses without a target
        (``(anchor, positive, negative)``) take their predictions only.
        """
        loss = self.loss
        expected = len(loss.inputs) + int(loss.has_target)
        if len(inputs) == expected + 1 and sample_weight is None:
            *inputs, sample_weight = inputs  # PyTorch-style positional weight: criterion(input, target, w)
        if len(inputs) != expected:
            if not loss.has_target:
                names = list(loss.inputs)
            elif self.target_last:
                names = [*loss.inputs, "target"]
            else:
                names = [loss.inputs[0], "target", *loss.inputs[1:]]
            order = ", ".join(names)
            raise TypeError(f"{type(self).__name__}() takes ({order}); got {len(inputs)} tensors")
        for tensor in inputs:
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(
                    f"{type(self).__name__} takes torch tensors; got {type(tensor).__name__}. "
                    f"Use losskit.{loss.name} for other arrays"
                )
        predictions = list(inputs)
        if loss.has_target:
            target = predictions.pop(-1 if self.target_last else 1)
        if not predictions[0].is_floating_point():
            raise TypeError(f"input of {type(self).__name__} must be a floating tensor; got dtype {predictions[0].dtype}")
        if loss.kind == "sparse" and (target.is_floating_point() or target.dtype == torch.bool):
            # The functional loss would name its own argument (y_true) and NumPy's cast.
            raise TypeError(
                f"target of {type(self).__name__} must be integer class indices; got dtype {target.dtype}. "
                f"Cast with target.long(), or use {class_name(loss.pair)} for one-hot or soft labels"
            )
        checks = self.check_values
        if checks is None:  # on the CPU reading the values is free: never turn a bad label into a number
            checks = all(t.device.type == "cpu" for t in inputs)
        autocast = predictions[0].dtype in _NARROW and torch.is_autocast_enabled(predictions[0].device.type)
        if autocast:  # autocast's policy for losses: computed and returned in float32
            if checks:
                # The values are checked as given (a bfloat16 softmax row sums to 1 only to 2^-8).
                params = self._params_for(predictions[0].dtype)
                if self.axis != -1:
                    params["axis"] = self.axis
                given = (target, *predictions) if loss.has_target else tuple(predictions)
                with value_checks(True):
                    loss.prepare(given, {"sample_weight": sample_weight, "reduction": self.reduction, **params})
                checks = False
            predictions = [p.float() for p in predictions]
        params = self._params_for(predictions[0].dtype)
        if self.axis != -1:
            params["axis"] = self.axis
        arguments = (target, *predictions) if loss.has_target else tuple(predictions)
        with value_checks(checks):
            return loss(*arguments, sample_weight=sample_weight, reduction=self.reduction, **params)

    def _params_for(self, dtype: torch.dtype) -> dict[str, Any]:
        params = dict(self._scalar_params)
        buffers = self._buffers  # not getattr: nn.Module finds buffers through a Python __getattr__
        for name in self._array_param_names:
            buffer = buffers[name]
            params[name] = buffer if buffer is None or buffer.dtype == dtype or not dtype.is_floating_point else buffer.to(dtype)
        return params


def get_module(loss: str | Loss, /, **params: Any) -> LossModule:
    """Build the module of a catalog loss from its name or alias.

    >>> import losskit.torch as lkt
    >>> lkt.get_module("mse", reduction="sum")
    MeanSquaredError(reduction='sum')
    """
    return module_class(loss)(**params)


def module_class(name: str | Loss) -> type[LossModule]:
    """The module class of a catalog loss (``module_class("bce_with_logits") is SigmoidCrossEntropy``)."""
    cls = globals().get(class_name(name))
    if not (isinstance(cls, type) and issubclass(cls, LossModule)):
        raise ValueError(f"losskit.torch has no module for {get(name).name!r}")
    return cls


# ------------------------------------------------------------------------- the modules
# Written out, not generated, so that IDEs, type checkers and pickle see them;
# tests/test_torch_adapter.py checks that every catalog loss has one.


class MeanSquaredError(LossModule):
    """Module for :data:`losskit.mean_squared_error`; see :class:`LossModule`."""

    loss = _registry.get("mean_squared_error")


class HalfSquaredError(LossModule):
    """Module for :data:`losskit.half_squared_error`; see :class:`LossModule`."""

    loss = _registry.get("half_squared_error")


class MeanAbsoluteError(LossModule):
    """Module for :data:`losskit.mean_absolute_error`; see :class:`LossModule`."""

    loss = _registry.get("mean_absolute_error")


class RootMeanSquaredError(LossModule):
    """Module for :data:`losskit.root_mean_squared_error`; see :class:`LossModule`."""

    loss = _registry.get("root_mean_squared_error")


class MeanSquaredLogarithmicError(LossModule):
    """Module for :data:`losskit.mean_squared_logarithmic_error`; see :class:`LossModule`."""

    loss = _registry.get("mean_squared_logarithmic_error")


class RootMeanSquaredLogarithmicError(LossModule):
    """Module for :data:`losskit.root_mean_squared_logarithmic_error`; see :class:`LossModule`."""

    loss = _registry.get("root_mean_squared_logarithmic_error")


class MeanAbsolutePercentageError(LossModule):
    """Module for :data:`losskit.mean_absolute_percentage_error`; see :class:`LossModule`."""

    loss = _registry.get("mean_absolute_percentage_error")


class Huber(LossModule):
    """Module for :data:`losskit.huber`; see :class:`LossModule`."""

    loss = _registry.get("huber")


class SmoothL1(LossModule):
    """Module for :data:`losskit.smooth_l1`; see :class:`LossModule`."""

    loss = _registry.get("smooth_l1")


class PseudoHuber(LossModule):
    """Module for :data:`losskit.pseudo_huber`; see :class:`LossModule`."""

    loss = _registry.get("pseudo_huber")


class LogCosh(LossModule):
    """Module for :data:`losskit.log_cosh`; see :class:`LossModule`."""

    loss = _registry.get("log_cosh")


class Quantile(LossModule):
    """Module for :data:`losskit.quantile`; see :class:`LossModule`."""

    loss = _registry.get("quantile")


class EpsilonInsensitive(LossModule):
    """Module for :data:`losskit.epsilon_insensitive`; see :class:`LossModule`."""

    loss = _registry.get("epsilon_insensitive")


class Poisson(LossModule):
    """Module for :data:`losskit.poisson`; see :class:`LossModule`."""

    loss = _registry.get("poisson")


class GammaDeviance(LossModule):
    """Module for :data:`losskit.gamma_deviance`; see :class:`LossModule`."""

    loss = _registry.get("gamma_deviance")


class TweedieDeviance(LossModule):
    """Module for :data:`losskit.tweedie_deviance`; see :class:`LossModule`."""

    loss = _registry.get("tweedie_deviance")


class GeneralRobust(LossModule):
    """Module for :data:`losskit.general_robust`; see :class:`LossModule`."""

    loss = _registry.get("general_robust")


class Cauchy(LossModule):
    """Module for :data:`losskit.cauchy`; see :class:`LossModule`."""

    loss = _registry.get("cauchy")


class GemanMcclure(LossModule):
    """Module for :data:`losskit.geman_mcclure`; see :class:`LossModule`."""

    loss = _registry.get("geman_mcclure")


class Welsch(LossModule):
    """Module for :data:`losskit.welsch`; see :class:`LossModule`."""

    loss = _registry.get("welsch")


class BinaryCrossEntropy(LossModule):
    """Module for :data:`losskit.binary_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("binary_cross_entropy")


class SigmoidCrossEntropy(LossModule):
    """Module for :data:`losskit.sigmoid_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("sigmoid_cross_entropy")


class SigmoidFocal(LossModule):
    """Module for :data:`losskit.sigmoid_focal`; see :class:`LossModule`."""

    loss = _registry.get("sigmoid_focal")


class Hinge(LossModule):
    """Module for :data:`losskit.hinge`; see :class:`LossModule`."""

    loss = _registry.get("hinge")


class SquaredHinge(LossModule):
    """Module for :data:`losskit.squared_hinge`; see :class:`LossModule`."""

    loss = _registry.get("squared_hinge")


class ModifiedHuber(LossModule):
    """Module for :data:`losskit.modified_huber`; see :class:`LossModule`."""

    loss = _registry.get("modified_huber")


class Logistic(LossModule):
    """Module for :data:`losskit.logistic`; see :class:`LossModule`."""

    loss = _registry.get("logistic")


class CategoricalCrossEntropy(LossModule):
    """Module for :data:`losskit.categorical_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("categorical_cross_entropy")


class SoftmaxCrossEntropy(LossModule):
    """Module for :data:`losskit.softmax_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("softmax_cross_entropy")


class SparseCategoricalCrossEntropy(LossModule):
    """Module for :data:`losskit.sparse_categorical_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("sparse_categorical_cross_entropy")


class SparseSoftmaxCrossEntropy(LossModule):
    """Module for :data:`losskit.sparse_softmax_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("sparse_softmax_cross_entropy")


class SoftmaxFocal(LossModule):
    """Module for :data:`losskit.softmax_focal`; see :class:`LossModule`."""

    loss = _registry.get("softmax_focal")


class SparseSoftmaxFocal(LossModule):
    """Module for :data:`losskit.sparse_softmax_focal`; see :class:`LossModule`."""

    loss = _registry.get("sparse_softmax_focal")


class Poly1CrossEntropy(LossModule):
    """Module for :data:`losskit.poly1_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("poly1_cross_entropy")


class SparsePoly1CrossEntropy(LossModule):
    """Module for :data:`losskit.sparse_poly1_cross_entropy`; see :class:`LossModule`."""

    loss = _registry.get("sparse_poly1_cross_entropy")


class KLDivergence(LossModule):
    """Module for :data:`losskit.kl_divergence`; see :class:`LossModule`."""

    loss = _registry.get("kl_divergence")


class KLDivergenceWithLogits(LossModule):
    """Module for :data:`losskit.kl_divergence_with_logits`; see :class:`LossModule`."""

    loss = _registry.get("kl_divergence_with_logits")


class CategoricalHinge(LossModule):
    """Module for :data:`losskit.categorical_hinge`; see :class:`LossModule`."""

    loss = _registry.get("categorical_hinge")


class GaussianNLL(LossModule):
    """Module for :data:`losskit.gaussian_nll`; see :class:`LossModule`."""

    loss = _registry.get("gaussian_nll")


class LinearCrossEntropy(LossModule):
    """Module for :data:`losskit.linear_cross_entropy`: the loss of a linear head without its logits.

    ``LinearCrossEntropy(head)(hidden, target)`` with an ``nn.Linear(D, V)`` head (its weight
    ``(V, D)`` and bias are used, and receive their gradients), or
    ``LinearCrossEntropy()(hidden, target, weight, bias=None)`` with the weight passed per call::

        head = nn.Linear(512, 32000)
        criterion = LinearCrossEntropy(head, ignore_index=-100)
        loss = criterion(hidden, labels)       # = F.cross_entropy(head(hidden), labels, ignore_index=-100)
        loss.backward()                         # hidden.grad, head.weight.grad, head.bias.grad
    """

    loss = _registry.get("linear_cross_entropy")

    def __init__(self, head: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        if head is not None and not hasattr(head, "weight"):
            raise TypeError(f"head must be an nn.Linear (or a module with .weight (V, D)); got {type(head).__name__}")
        self.head = head

    def forward(self, hidden: Any, target: Any, weight: Any = None, bias: Any = None, *, sample_weight: Any = None) -> Any:
        if weight is None:
            if self.head is None:
                raise TypeError("LinearCrossEntropy needs a head (nn.Linear) at construction or a weight per call")
            weight, bias = self.head.weight, getattr(self.head, "bias", None)
        params = self._params_for(hidden.dtype)
        fixed_bias = params.pop("bias", None)
        if bias is None:
            bias = fixed_bias
        if self.axis != -1:
            params["axis"] = self.axis
        checks = self.check_values
        if checks is None:
            checks = hidden.device.type == "cpu" and target.device.type == "cpu"
        with value_checks(checks):
            return self.loss(target, hidden, weight, bias=bias, sample_weight=sample_weight, reduction=self.reduction,
                             **params)


class Dice(LossModule):
    """Module for :data:`losskit.dice`; see :class:`LossModule` (``axis=1`` for ``(N, C, d1, ...)`` masks)."""

    loss = _registry.get("dice")


class Jaccard(LossModule):
    """Module for :data:`losskit.jaccard`; see :class:`LossModule` (``axis=1`` for ``(N, C, d1, ...)`` masks)."""

    loss = _registry.get("jaccard")


class Tversky(LossModule):
    """Module for :data:`losskit.tversky`; see :class:`LossModule` (``axis=1`` for ``(N, C, d1, ...)`` masks)."""

    loss = _registry.get("tversky")


class FocalTversky(LossModule):
    """Module for :data:`losskit.focal_tversky`; see :class:`LossModule` (``axis=1`` for ``(N, C, d1, ...)`` masks)."""

    loss = _registry.get("focal_tversky")


class JensenShannon(LossModule):
    """Module for :data:`losskit.jensen_shannon`; see :class:`LossModule`."""

    loss = _registry.get("jensen_shannon")


class CosineDistance(LossModule):
    """Module for :data:`losskit.cosine_distance`: ``CosineDistance()(input, target)``; see :class:`LossModule`."""

    loss = _registry.get("cosine_distance")


class CosineEmbedding(LossModule):
    """Module for :data:`losskit.cosine_embedding`, called as PyTorch's ``CosineEmbeddingLoss``: ``(x1, x2, target)``."""

    loss = _registry.get("cosine_embedding")
    target_last = True


class MarginRanking(LossModule):
    """Module for :data:`losskit.margin_ranking`, called as PyTorch's ``MarginRankingLoss``: ``(x1, x2, target)``."""

    loss = _registry.get("margin_ranking")
    target_last = True


class TripletMargin(LossModule):
    """Module for :data:`losskit.triplet_margin`: ``TripletMargin()(anchor, positive, negative)``, no target."""

    loss = _registry.get("triplet_margin")


class InfoNce(LossModule):
    """Module for :data:`losskit.info_nce`: ``InfoNce(temperature=0.07)(x, y)`` on paired (N, D) rows, no target."""

    loss = _registry.get("info_nce")


__all__ += [name for name, value in list(globals().items()) if isinstance(value, type) and issubclass(value, LossModule)
            and value is not LossModule]


# ------------------------------------------------------------------------- PyTorch-named aliases
# Drop-in replacements named and called exactly as torch.nn's losses, with PyTorch's constructor
# arguments and defaults: ``MSELoss``, ``CrossEntropyLoss``, ``HuberLoss``, ... They follow
# PyTorch's conventions, unlike the losskit-named classes above: the prediction comes first
# (``forward(input, target)``; ``GaussianNLLLoss`` takes ``(input, target, var)``, the pair
# losses ``(input1, input2, target)``), the class axis is 1 (``(N, C)`` or ``(N, C, d1, ...)``),
# ``CrossEntropyLoss`` ignores the label -100 by default (a drop-in keeps PyTorch's defaults; the
# losskit-named SparseSoftmaxCrossEntropy ignores nothing unless asked), and ``weight=`` means what it means in
# PyTorch (a per-element or per-class weight, see each class). They are plain ``nn.Module``
# classes over the functional losses, not catalog modules: ``module_class``/``get_module``
# never return them.


def _check_torch_reduction(reduction: str) -> str:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum' (as in PyTorch); got {reduction!r}")
    return reduction


def _buffer(value: Any) -> torch.Tensor | None:
    """A weight as given (PyTorch keeps a float64 weight float64); non-floating values in the default dtype."""
    if value is None:
        return None
    value = torch.as_tensor(value)
    return value if value.is_floating_point() else value.to(torch.get_default_dtype())


def _like(buffer: torch.Tensor | None, input: torch.Tensor) -> torch.Tensor | None:
    return None if buffer is None else buffer.to(device=input.device, dtype=input.dtype)


def _element_weighted(values: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """PyTorch's ``weight=`` of the elementwise losses: ``w * l`` per element, and 'mean' divides
    ``sum(w * l)`` by the element count (not by ``sum(w)``, which is losskit's weighted mean)."""
    if weight is not None:
        values = values * weight
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()


class _PyTorchAlias(nn.Module):
    """Base of the PyTorch-named aliases: ``reduction`` as in PyTorch."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_torch_reduction(reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_PyTorchAlias):
    """``torch.nn.MSELoss(reduction='mean')`` on :func:`losskit.mean_squared_error`: ``forward(input, target)``."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _registry.get("mean_squared_error")(target, input, reduction=self.reduction)


class L1Loss(_PyTorchAlias):
    """``torch.nn.L1Loss(reduction='mean')`` on :func:`losskit.mean_absolute_error`: ``forward(input, target)``."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _registry.get("mean_absolute_error")(target, input, reduction=self.reduction)


class HuberLoss(_PyTorchAlias):
    """``torch.nn.HuberLoss(reduction='mean', delta=1.0)`` on :func:`losskit.huber`: ``forward(input, target)``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _registry.get("huber")(target, input, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta!r}, reduction={self.reduction!r}"


class SmoothL1Loss(_PyTorchAlias):
    """``torch.nn.SmoothL1Loss(reduction='mean', beta=1.0)`` on :func:`losskit.smooth_l1` (PyTorch's
    definition; ``beta=0`` is the L1 loss, as in PyTorch): ``forward(input, target)``."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        if beta < 0:
            raise ValueError(f"beta must be >= 0 (as in PyTorch); got {beta!r}")
        self.beta = float(beta)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.beta == 0.0:
            return _registry.get("mean_absolute_error")(target, input, reduction=self.reduction)
        return _registry.get("smooth_l1")(target, input, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta!r}, reduction={self.reduction!r}"


class BCELoss(_PyTorchAlias):
    """``torch.nn.BCELoss(weight=None, reduction='mean')`` on :func:`losskit.binary_cross_entropy`.

    ``forward(input, target)`` with probabilities ``input``. ``weight`` (broadcast to the input)
    multiplies each element's loss, and 'mean' divides ``sum(w * l)`` by the element count, as
    in PyTorch (not by ``sum(w)``, losskit's weighted mean).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = _like(self.weight, input)
        if weight is None:
            return _registry.get("binary_cross_entropy")(target, input, reduction=self.reduction)
        values = _registry.get("binary_cross_entropy")(target, input, reduction="none")
        return _element_weighted(values, weight, self.reduction)


class BCEWithLogitsLoss(_PyTorchAlias):
    """``torch.nn.BCEWithLogitsLoss(weight=None, reduction='mean', pos_weight=None)`` on
    :func:`losskit.sigmoid_cross_entropy`.

    ``forward(input, target)`` with logits ``input``. ``pos_weight`` (a scalar or one per class,
    broadcast along the last axis) weighs the positive term; ``weight`` (broadcast to the input)
    multiplies each element's loss and 'mean' divides ``sum(w * l)`` by the element count, as in
    PyTorch (not by ``sum(w)``, losskit's weighted mean).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = _registry.get("sigmoid_cross_entropy")
        weight, pos_weight = _like(self.weight, input), _like(self.pos_weight, input)
        if weight is None:
            return loss(target, input, reduction=self.reduction, pos_weight=pos_weight)
        return _element_weighted(loss(target, input, reduction="none", pos_weight=pos_weight), weight, self.reduction)


class CrossEntropyLoss(_PyTorchAlias):
    """``torch.nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0)``.

    ``forward(input, target)`` with logits ``input`` of shape ``(C,)``, ``(N, C)`` or
    ``(N, C, d1, ...)``: the class axis is 1, as in PyTorch. Integer class targets (``(N,)`` or
    ``(N, d1, ...)``) run :func:`losskit.sparse_softmax_cross_entropy` with ``axis=1``,
    ``class_weight=weight`` and ``ignore_index`` (PyTorch's weighted mean over the kept targets);
    floating targets (class probabilities, the input's shape) run
    :func:`losskit.softmax_cross_entropy` with ``axis=1``. With probability targets and
    ``weight``, PyTorch's 'mean' divides by N rather than by the weights: not supported here.
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if input.ndim == 1:  # unbatched (C,): as a batch of one
            value = self.forward(input.unsqueeze(0), target.unsqueeze(0))
            return value.squeeze(0) if self.reduction == "none" else value
        weight = _like(self.weight, input)
        if target.is_floating_point():
            if weight is not None:
                raise ValueError(
                    "CrossEntropyLoss(weight=...) with probability targets: PyTorch's 'mean' then divides by N, "
                    "not by the weights; pass integer class targets, or weight=None with probability targets"
                )
            return _registry.get("softmax_cross_entropy")(
                target, input, axis=1, label_smoothing=self.label_smoothing, reduction=self.reduction)
        return _registry.get("sparse_softmax_cross_entropy")(
            target, input, axis=1, class_weight=weight, ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing, reduction=self.reduction)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index!r}, label_smoothing={self.label_smoothing!r}, "
                f"reduction={self.reduction!r}")


class GaussianNLLLoss(_PyTorchAlias):
    """``torch.nn.GaussianNLLLoss(full=False, eps=1e-6, reduction='mean')`` on :func:`losskit.gaussian_nll`.

    ``forward(input, target, var)`` in PyTorch's order (mean first). ``var`` may have one
    dimension fewer than ``input`` or a last dimension of 1 (one variance per row), as in PyTorch.
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full = bool(full)
        self.eps = float(eps)

    def forward(self, input: torch.Tensor, target: torch.Tensor, var: torch.Tensor | float) -> torch.Tensor:
        if not isinstance(var, torch.Tensor):
            var = torch.full_like(input, float(var))
        if var.shape != input.shape:
            if var.ndim == input.ndim - 1 and var.shape == input.shape[:-1]:
                var = var.unsqueeze(-1)
            if var.ndim == input.ndim and var.shape[-1] == 1 and var.shape[:-1] == input.shape[:-1]:
                var = var.expand_as(input)
            else:
                raise ValueError(f"var of shape {tuple(var.shape)} does not fit input of shape {tuple(input.shape)}")
        return _registry.get("gaussian_nll")(target, input, var, full=self.full, eps=self.eps, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"full={self.full!r}, eps={self.eps!r}, reduction={self.reduction!r}"


class MarginRankingLoss(_PyTorchAlias):
    """``torch.nn.MarginRankingLoss(margin=0.0, reduction='mean')`` on :func:`losskit.margin_ranking`:
    ``forward(input1, input2, target)`` with ``target`` in {-1, +1}."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = float(margin)

    def forward(self, input1: torch.Tensor, input2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _registry.get("margin_ranking")(target, input1, input2, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin!r}, reduction={self.reduction!r}"


class CosineEmbeddingLoss(_PyTorchAlias):
    """``torch.nn.CosineEmbeddingLoss(margin=0.0, reduction='mean')`` on :func:`losskit.cosine_embedding`:
    ``forward(input1, input2, target)`` with ``(N, D)`` inputs and ``target`` in {-1, +1}."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = float(margin)

    def forward(self, input1: torch.Tensor, input2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _registry.get("cosine_embedding")(target, input1, input2, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin!r}, reduction={self.reduction!r}"


class TripletMarginLoss(_PyTorchAlias):
    """``torch.nn.TripletMarginLoss(margin=1.0, p=2.0, eps=1e-6, swap=False, reduction='mean')`` on
    :func:`losskit.triplet_margin`: ``forward(anchor, positive, negative)``."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.margin, self.p, self.eps, self.swap = float(margin), float(p), float(eps), bool(swap)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        return _registry.get("triplet_margin")(anchor, positive, negative, margin=self.margin, p=self.p,
                                                eps=self.eps, swap=self.swap, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin!r}, p={self.p!r}, eps={self.eps!r}, swap={self.swap!r}, reduction={self.reduction!r}"


class SoftMarginLoss(_PyTorchAlias):
    """``torch.nn.SoftMarginLoss(reduction='mean')`` on :func:`losskit.logistic`: ``forward(input, target)``
    with ``target`` in {-1, +1}, ``log(1 + exp(-target * input))``."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _registry.get("logistic")(target, input, reduction=self.reduction)


PYTORCH_ALIASES = ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss",
                   "CrossEntropyLoss", "GaussianNLLLoss", "MarginRankingLoss", "CosineEmbeddingLoss",
                   "TripletMarginLoss", "SoftMarginLoss")
__all__ += [*PYTORCH_ALIASES, "PYTORCH_ALIASES"]
