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
* Value checks (labels in range, probabilities in [0, 1]) read the data and therefore synchronise
  the device on every call. PyTorch's losses do not make them on the GPU, and neither do these
  modules by default: pass ``check_values=True`` to turn them on while debugging.
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
    check_values : bool, default False
        Also check the values of the inputs (label ranges, probability bounds, rows summing to
        1). Off by default, as in PyTorch's losses on the GPU: the checks read the data and so
        synchronise the device on every call. Shapes and dtypes are always checked.
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
                f"``{cls.__name__}({params + ', ' if params else ''}reduction='mean', check_values=False)``, "
                f"called with the prediction ({loss.prediction_space}) first. See :class:`losskit.torch.LossModule`."
            )

    def __init__(self, *, reduction: str = "mean", check_values: bool = False, axis: int = -1, **params: Any):
        super().__init__()
        loss = self.loss
        self.reduction = check_reduction(reduction, loss.reductions, loss.name)
        self.check_values = bool(check_values)
        if axis != -1 and loss.kind == "pointwise":
            raise TypeError(f"{type(self).__name__} has no class axis; axis= applies to losses over classes")
        self.axis = int(axis)
        bound = loss.bind_params(params)  # validates scalar parameters once, at construction
        self._scalar_params = {p.name: bound[p.name] for p in loss.params if not p.is_array}
        self._array_param_names = tuple(p.name for p in loss.params if p.is_array)
        for name in self._array_param_names:
            value = bound[name]
            self.register_buffer(name, None if value is None else torch.as_tensor(value, dtype=torch.get_default_dtype()))

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
        autocast = predictions[0].dtype in _NARROW and torch.is_autocast_enabled(predictions[0].device.type)
        if autocast:  # autocast's policy for losses: computed and returned in float32
            predictions = [p.float() for p in predictions]
        params = self._params_for(predictions[0].dtype)
        if self.axis != -1:
            params["axis"] = self.axis
        arguments = (target, *predictions) if loss.has_target else tuple(predictions)
        with value_checks(self.check_values):
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
        with value_checks(self.check_values):
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
