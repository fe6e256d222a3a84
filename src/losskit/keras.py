"""Keras 3 losses for every loss of the catalog: ``model.compile(loss=losskit.keras.Huber(delta=0.5))``.

Each catalog loss has a ``keras.losses.Loss`` subclass here, written out below and named as in
:mod:`losskit.torch` by :func:`losskit._registry.class_name` (``huber`` -> :class:`Huber`,
``sparse_softmax_cross_entropy`` -> :class:`SparseSoftmaxCrossEntropy`, ``gaussian_nll`` ->
:class:`GaussianNLL`); :func:`get_loss` builds one from any name or alias::

    import os; os.environ["KERAS_BACKEND"] = "jax"
    import keras, losskit.keras as lkk
    model.compile(optimizer="adam", loss=lkk.SparseSoftmaxCrossEntropy(label_smoothing=0.1))

A class is a thin adapter: it applies Keras's rank rule to ``(y_true, y_pred)``, casts sparse
labels to integers, holds the parameters (as JSON values, so that they serialise) and calls the
functional loss, which picks the kernel and carries the analytic gradient into the backend's
autodiff. ``jax.grad`` of a Keras loss is ``losskit.<name>.grad``.

Conventions, chosen to be Keras's:

* Called as ``loss(y_true, y_pred, sample_weight=None)``, truth first.
* ``call`` returns losskit's unreduced loss (per element for pointwise losses, per sample for
  losses over a class axis), and Keras applies ``sample_weight``, masks and ``reduction``:
  ``"sum_over_batch_size"`` (Keras's default) is ``sum(w * l) / number of loss terms``, equal to
  losskit's ``"mean"`` without sample weights; ``"mean_with_sample_weight"`` is
  ``sum(w * l) / sum(w)``, losskit's weighted ``"mean"``; ``"sum"`` and ``"none"`` are losskit's.
  Positions equal to ``ignore_index`` are masked out of the mean, as Keras's own ``ignore_class``.
  With ``class_weight`` Keras's mean divides by the number of terms, not by the summed class
  weights (PyTorch's and losskit's weighted mean); use ``reduction="sum"`` and your own
  normaliser if you need the latter. The root losses (``root_mean_squared_error``, ...) are a
  root of the whole batch mean: ``call`` returns that scalar and they take no sample weights.
* Keras hands the loss float ``y_true`` (even integer labels) and often ``y_pred`` of shape
  ``(N, 1)`` for a ``(N,)`` target. losskit's functions never broadcast such pairs, but Keras's
  documented contract for its losses is ``squeeze_or_expand_to_same_rank``: when the ranks differ
  by exactly one and the longer one's last axis is 1, that axis is squeezed (or the rank-1
  array expanded). The adapter does exactly that rank adjustment and nothing more, so any
  other mismatch still raises losskit's ``ValueError``. Integer-label (sparse) losses drop a
  trailing axis of 1 from ``y_true`` and cast the labels to int32, as Keras's
  ``sparse_categorical_crossentropy`` does (int64 on the torch backend).
* **Labels of the sparse losses.** Any integer dtype is accepted, and so are floats that hold
  integers (Keras passes labels as floats). A label that is not a class index (1.7, NaN, inf,
  outside ``[0, num_classes)`` and not ``ignore_index``) raises ``ValueError`` naming ``y_true``
  where the values can be read (eager calls, the torch backend's ``fit``); inside a traced
  step (``jit``, ``tf.function``, the JAX backend's ``fit``), where no value can be read, that
  label's loss is NaN instead, so a bad label never counts as a class (Keras's own losses
  truncate 1.7 to class 1).
* Losses over a class axis take ``axis=-1`` at construction (the last axis, Keras's layout);
  ``axis=1`` takes channels-first ``(N, C, d1, ...)`` predictions.
* **Losses with several predictions.** Keras calls a loss with one ``y_pred``, so a loss of
  several predictions takes them stacked on a new last axis, in the functional loss's order:
  for :class:`GaussianNLL`, ``y_pred[..., 0]`` is the mean and ``y_pred[..., 1]`` the variance
  (``y_pred`` has shape ``y_true.shape + (2,)``), the output of
  ``keras.layers.Concatenate()([mean_head, variance_head])`` for ``(N, 1)`` heads and ``(N,)``
  or ``(N, 1)`` targets. Keras's rank rule then applies between ``y_true`` and each prediction.
* **Losses without a target, and labels per row.** :class:`TripletMargin` and :class:`InfoNce`
  have no target: ``y_true`` is ignored (pass any array to ``fit``, e.g. ``np.zeros(N)``) and
  ``y_pred`` stacks their inputs on a new last axis (``(N, D, 3)``: anchor, positive, negative;
  ``(N, D, 2)``: x, y), the output of ``keras.ops.stack([a, p, n], axis=-1)`` in the model.
  :class:`CosineEmbedding` takes its labels, one per row, as ``y_true`` of shape ``(N,)`` or
  ``(N, 1)``, and ``y_pred`` of shape ``(N, D, 2)`` stacking x1 and x2.
* Serializable: ``get_config`` / ``from_config`` round-trip every parameter, ``axis`` and
  ``dtype``, and the classes are registered with
  ``keras.saving.register_keras_serializable(package="losskit")``, so a saved ``.keras`` model
  reloads with its loss and the loss's parameters.

Backends: losskit computes on the backend's own arrays, so the JAX, PyTorch, TensorFlow and NumPy
backends work, gradients included (``jax.grad``, torch autograd and ``tf.GradientTape`` all see
the analytic gradient). TensorFlow tensors are not array-API objects: losskit drives them through
its own thin namespace (``losskit.backends.tensorflow_namespace``), and inside Keras's
``tf.function`` the batch axis may be unknown; tensors with two or more unknown axes are refused
with a ``ValueError``.
"""

from __future__ import annotations

import inspect
import operator
import os
from typing import Any


def _keras_import_error(exc: ImportError) -> ImportError:
    """Keras's bare ``No module named 'tensorflow'`` as a message that says how to choose a backend."""
    if getattr(exc, "name", None) == "keras":
        return ImportError("losskit.keras needs Keras 3 (pip install keras) and a backend: set KERAS_BACKEND=jax "
                           "(or torch, or tensorflow) with that library installed")
    chosen = os.environ.get("KERAS_BACKEND")
    where = "KERAS_BACKEND" if chosen else "Keras's default (KERAS_BACKEND is not set)"
    if not chosen:
        import json

        config = os.path.join(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"),
                              "keras.json")
        try:
            with open(config) as file:
                chosen, where = json.load(file)["backend"], f"{config} (KERAS_BACKEND is not set)"
        except (OSError, ValueError, KeyError, TypeError):
            chosen = "tensorflow"
    return ImportError(
        f"Keras found no backend: it chose {chosen!r} from {where} and could not import it ({exc}). "
        f"Set KERAS_BACKEND=jax (or torch, or tensorflow) before Python imports keras, with that library "
        f"installed, or install {chosen}"
    )


try:
    import keras
except ImportError as _exc:  # Keras imports its backend at import: a missing one fails here
    raise _keras_import_error(_exc) from _exc
import numpy as np

from . import _registry
from ._loss import Loss
from ._registry import class_name, get

__all__ = ["LosskitLoss", "get_loss", "loss_class", "class_name", "EXCLUDED"]


def squeeze_or_expand_to_same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras's rank adjustment of a (y_true, y_pred) pair, and only that.

    When the ranks differ by exactly one and the longer array's last axis is 1, that axis is
    squeezed, or a rank-1 partner is expanded, as ``keras.losses.LossFunctionWrapper`` does for
    every built-in Keras loss. This is Keras's documented contract for ``(N,)`` labels against a
    ``(N, 1)`` output; every other shape mismatch is left to losskit, which raises.
    """
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        if true_rank == 1:
            y_true = keras.ops.expand_dims(y_true, axis=-1)
        else:
            y_pred = keras.ops.squeeze(y_pred, axis=-1)
    elif true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        if pred_rank == 1:
            y_pred = keras.ops.expand_dims(y_pred, axis=-1)
        else:
            y_true = keras.ops.squeeze(y_true, axis=-1)
    return y_true, y_pred


class LosskitLoss(keras.losses.Loss):
    """Base class of the Keras losses: one catalog loss with fixed parameters.

    Subclasses set :attr:`loss`; use them as ``model.compile(loss=Huber(delta=0.5))``.

    Parameters
    ----------
    reduction : str, default "sum_over_batch_size"
        Keras's reduction of the unreduced losses (see the module docstring for how each maps
        to losskit's).
    name : str, optional
        The loss's name in Keras logs; the catalog name by default.
    dtype : str, optional
        The dtype Keras casts y_true and y_pred to (Keras's floatx by default).
    axis : int, default -1
        The class axis of losses over classes; 1 for channels-first ``(N, C, d1, ...)``.
    **params
        The loss's parameters (``delta``, ``label_smoothing``, ``class_weight``, ...).
    """

    loss: Loss

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        loss = cls.__dict__.get("loss")
        if loss is None:
            return
        if loss.kind != "pointwise" and "loss" in loss.input_shapes:
            # Keras always passes y_true and one y_pred, and stacking several predictions on a
            # last axis needs them all to have the first one's shape.
            raise TypeError(
                f"{cls.__name__}: {loss.name} takes {', '.join(loss._argument_names)}, which do not stack into "
                "Keras's (y_true, y_pred); it needs its own calling convention in losskit.keras"
            )
        params = "".join(f"{p.name}={p.default!r}, " for p in loss.params)
        axis = "axis=-1, " if loss.kind != "pointwise" else ""
        if len(loss.inputs) > 1:
            stacked = ", ".join(f"the {name} (``y_pred[..., {i}]``)" for i, name in enumerate(loss.inputs))
            y_pred = f"``y_pred`` stacking {stacked}"
        else:
            y_pred = f"``y_pred`` holding {loss.prediction_space}"
        cls.__doc__ = "\n\n".join([
            inspect.cleandoc(cls.__doc__ or f"Keras loss for :data:`losskit.{loss.name}`."),
            loss.summary,
            f"``{cls.__name__}({params}{axis}reduction='sum_over_batch_size', name=None, dtype=None)``, "
            f"called as ``loss(y_true, y_pred)`` with {y_pred}. See :class:`losskit.keras.LosskitLoss`.",
        ])

    def __init__(
        self,
        *,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        axis: int = -1,
        **params: Any,
    ):
        super().__init__(name=name or self.loss.name, reduction=reduction, dtype=dtype)
        if isinstance(axis, bool) or not hasattr(axis, "__index__"):
            raise TypeError(f"axis must be an integer; got {type(axis).__name__}")
        if axis != -1 and self.loss.kind == "pointwise":
            raise TypeError(f"{type(self).__name__} has no class axis; axis= applies to losses over classes")
        self.axis = operator.index(axis)
        bound = self.loss.bind_params(params)  # validates scalar parameters once, at construction
        # Array parameters are kept as nested lists: JSON-serialisable, and converted to the
        # backend's arrays on each call (on the device Keras computes on).
        self._params = {
            p.name: (_to_list(bound[p.name]) if p.is_array else bound[p.name]) for p in self.loss.params
        }

    @property
    def params(self) -> dict[str, Any]:
        """The loss parameters as given to the functional loss (array parameters as lists)."""
        return dict(self._params)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.loss.root and sample_weight is not None:
            raise ValueError(
                f"{self.loss.name} is the root of the batch's mean and takes no sample_weight; "
                f"use {self.loss.name.replace('root_', '')} for weighted training"
            )
        if sample_weight is not None and self.loss.kind == "overlap" and not self._params.get("batch"):
            # Keras broadcasts a weight against the loss only when the ranks match (or differ by a
            # trailing 1), and its weighted mean divides by the weights as given: one weight per
            # sample, (N,), is spread over the sample's classes, (N, C), as losskit does.
            sample_weight = keras.ops.convert_to_tensor(sample_weight)
            if len(sample_weight.shape) == 1:
                classes = y_pred.shape[self.axis]
                sample_weight = keras.ops.broadcast_to(keras.ops.expand_dims(sample_weight, -1),
                                                       (sample_weight.shape[0], classes))
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        loss = self.loss
        pairs = [squeeze_or_expand_to_same_rank(y_true, p) for p in self._predictions(y_pred)]
        # The predictions share one shape, so the rank rule changes y_true alike in every pair.
        y_true, predictions = pairs[0][0], [p for _, p in pairs]
        if loss.target_shape == "loss" and loss.has_target:  # one label per row: (N,) or (N, 1)
            if len(y_true.shape) == len(predictions[0].shape) and y_true.shape[-1] == 1:
                y_true = keras.ops.squeeze(y_true, axis=-1)
        bad_labels = None
        if loss.kind == "sparse":
            # Keras hands labels over as floats; they are cast to the index dtype of Keras's own
            # sparse_categorical_crossentropy on this backend (torch indexes with int64), after
            # a check that the cast loses nothing (1.7 must not count as class 1, NaN as class 0).
            bad_labels = self._check_labels(y_true, predictions[0])
            y_true = keras.ops.cast(y_true, "int64" if keras.backend.backend() == "torch" else "int32")
        kwargs = self._backend_params(predictions[0])
        if loss.kind != "pointwise":
            kwargs["axis"] = self.axis
        try:
            # A loss without a target ignores y_true (Keras always passes one).
            arguments = (y_true, *predictions) if loss.has_target else tuple(predictions)
            values = loss(*arguments, reduction="mean" if loss.root else "none", **kwargs)
        except TypeError as exc:
            if "not a supported array" in str(exc):
                raise TypeError(
                    f"losskit.keras needs a Keras backend whose tensors follow the array API "
                    f"(jax, torch, tensorflow or numpy); the {keras.backend.backend()!r} backend's do not. "
                    "Set KERAS_BACKEND=jax (or torch, or tensorflow) before importing keras"
                ) from exc
            raise
        if bad_labels is not None:
            # Traced labels (model.fit's compiled step) cannot raise on their values: a label that
            # is not a class index makes its loss NaN, visible in the logs, instead of a number.
            values = keras.ops.where(bad_labels, float("nan"), values)
        ignore_index = self._params.get("ignore_index")
        if ignore_index is not None:
            _set_keras_mask(values, keras.ops.not_equal(y_true, ignore_index))
        return values

    def _check_labels(self, y_true: Any, y_pred: Any) -> Any:
        """Refuse labels that are not class indices; the mask of bad ones where values cannot be read.

        Keras passes integer labels as floats: integral floats are accepted. Concrete labels
        that are not integral, NaN, or outside [0, num_classes) (and not ignore_index) raise
        ``ValueError`` naming y_true; for traced labels the mask of those is returned (None when
        every label is checked and valid).
        """
        num_classes = y_pred.shape[self.axis]
        ignore_index = self._params.get("ignore_index")
        if keras.backend.is_float_dtype(keras.backend.standardize_dtype(y_true.dtype)):
            integral = keras.ops.equal(keras.ops.floor(y_true), y_true)  # False for NaN and inf
        else:
            integral = keras.ops.ones_like(y_true, dtype="bool")
        valid = keras.ops.logical_and(integral, keras.ops.greater_equal(y_true, 0))
        if num_classes is not None:
            valid = keras.ops.logical_and(valid, keras.ops.less(y_true, num_classes))
        if ignore_index is not None:
            valid = keras.ops.logical_or(valid, keras.ops.equal(y_true, ignore_index))
        if not _readable_on_host(valid):
            # A tracer (jax.jit, tf.function, torch.compile), an accelerator's tensor (reading it
            # would synchronise the device every step) or lk.value_checks(False): masked instead.
            return keras.ops.logical_not(valid)
        try:
            values = keras.ops.convert_to_numpy(valid)
        except Exception:  # a tracer the test above did not recognise: no value to read
            return keras.ops.logical_not(valid)
        if not values.all():
            labels = np.asarray(keras.ops.convert_to_numpy(y_true)).reshape(-1)
            position = int(np.argmin(values.reshape(-1)))
            suffix = "" if ignore_index is None else f" or equal to ignore_index={ignore_index}"
            raise ValueError(
                f"y_true of {type(self).__name__} must hold integer class indices in [0, {num_classes}){suffix} "
                f"(Keras passes them as floats: integral floats are accepted); found {labels[position]:g} at flat "
                f"index {position}"
            )
        return None

    def _predictions(self, y_pred: Any) -> list[Any]:
        inputs = self.loss.inputs
        if len(inputs) == 1:
            return [y_pred]
        if len(y_pred.shape) == 0 or y_pred.shape[-1] != len(inputs):
            stacked = ", ".join(f"y_pred[..., {i}] the {name}" for i, name in enumerate(inputs))
            raise ValueError(
                f"{type(self).__name__} takes y_pred with a last axis of size {len(inputs)} ({stacked}); "
                f"got shape {tuple(y_pred.shape)}"
            )
        return keras.ops.unstack(y_pred, num=len(inputs), axis=-1)

    def _backend_params(self, like: Any) -> dict[str, Any]:
        params = dict(self._params)
        for p in self.loss.params:
            if p.is_array and params[p.name] is not None:
                params[p.name] = keras.ops.convert_to_tensor(params[p.name], dtype=like.dtype)
        return params

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "dtype": self.dtype, **self._params}
        if self.loss.kind != "pointwise":
            config["axis"] = self.axis
        return config

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self._params.items()]
        if self.axis != -1:
            parts.append(f"axis={self.axis}")
        parts.append(f"reduction={self.reduction!r}")
        return f"<losskit.keras.{type(self).__name__}({', '.join(parts)})>"


def _readable_on_host(x: Any) -> bool:
    """Whether the values of ``x`` can be read now, for free: concrete, on the CPU, value checks on."""
    from ._array import device_of, is_concrete

    if not is_concrete(x):
        return False
    try:
        device = device_of(x)
    except Exception:
        return False
    platform = getattr(device, "platform", None) or getattr(device, "type", None) or str(device)
    return "cpu" in str(platform).lower()


def _to_list(value: Any) -> Any:
    return None if value is None else np.asarray(value, dtype=float).tolist()


def _set_keras_mask(values: Any, mask: Any) -> None:
    # The same hook Keras's own SparseCategoricalCrossentropy(ignore_class=...) uses to drop
    # positions from the mean's denominator; it is not re-exported under keras.backend.
    from keras.src import backend as keras_backend

    keras_backend.set_keras_mask(values, mask=mask)


def get_loss(loss: str | Loss, /, **params: Any) -> LosskitLoss:
    """Build the Keras loss of a catalog loss from its name or alias.

    >>> import losskit.keras as lkk
    >>> lkk.get_loss("bce_with_logits", label_smoothing=0.1)
    <losskit.keras.SigmoidCrossEntropy(pos_weight=None, label_smoothing=0.1, reduction='sum_over_batch_size')>
    """
    return loss_class(loss)(**params)


# Catalog losses that the Keras protocol cannot carry, and why (no class is written for them).
EXCLUDED = {
    "linear_cross_entropy": (
        "Keras losses are called as loss(y_true, y_pred) on the model's output; linear_cross_entropy takes the "
        "hidden states and the head's weight matrix (V, D) instead of the logits, and a weight matrix is a layer's "
        "variable, not a per-sample prediction that could be stacked into y_pred. Use the functional "
        "losskit.linear_cross_entropy in a custom train_step, or keras.losses.SparseCategoricalCrossentropy on the logits."
    ),
}


def loss_class(name: str | Loss) -> type[LosskitLoss]:
    """The Keras class of a catalog loss (``loss_class("mse") is MeanSquaredError``)."""
    canonical = get(name).name
    if canonical in EXCLUDED:
        raise ValueError(f"losskit.keras has no loss class for {canonical!r}: {EXCLUDED[canonical]}")
    cls = globals().get(class_name(name))
    if not (isinstance(cls, type) and issubclass(cls, LosskitLoss)):
        raise ValueError(f"losskit.keras has no loss class for {get(name).name!r}")
    return cls


# ------------------------------------------------------------------------- the losses
# Written out, not generated, so that IDEs, type checkers and Keras's serialization registry
# see them; tests/test_keras_adapter.py checks that every catalog loss has one.


@keras.saving.register_keras_serializable(package="losskit")
class MeanSquaredError(LosskitLoss):
    """Keras loss for :data:`losskit.mean_squared_error`."""

    loss = _registry.get("mean_squared_error")

@keras.saving.register_keras_serializable(package="losskit")
class HalfSquaredError(LosskitLoss):
    """Keras loss for :data:`losskit.half_squared_error`."""

    loss = _registry.get("half_squared_error")

@keras.saving.register_keras_serializable(package="losskit")
class MeanAbsoluteError(LosskitLoss):
    """Keras loss for :data:`losskit.mean_absolute_error`."""

    loss = _registry.get("mean_absolute_error")

@keras.saving.register_keras_serializable(package="losskit")
class RootMeanSquaredError(LosskitLoss):
    """Keras loss for :data:`losskit.root_mean_squared_error`."""

    loss = _registry.get("root_mean_squared_error")

@keras.saving.register_keras_serializable(package="losskit")
class MeanSquaredLogarithmicError(LosskitLoss):
    """Keras loss for :data:`losskit.mean_squared_logarithmic_error`."""

    loss = _registry.get("mean_squared_logarithmic_error")

@keras.saving.register_keras_serializable(package="losskit")
class RootMeanSquaredLogarithmicError(LosskitLoss):
    """Keras loss for :data:`losskit.root_mean_squared_logarithmic_error`."""

    loss = _registry.get("root_mean_squared_logarithmic_error")

@keras.saving.register_keras_serializable(package="losskit")
class MeanAbsolutePercentageError(LosskitLoss):
    """Keras loss for :data:`losskit.mean_absolute_percentage_error`."""

    loss = _registry.get("mean_absolute_percentage_error")

@keras.saving.register_keras_serializable(package="losskit")
class Huber(LosskitLoss):
    """Keras loss for :data:`losskit.huber`."""

    loss = _registry.get("huber")

@keras.saving.register_keras_serializable(package="losskit")
class SmoothL1(LosskitLoss):
    """Keras loss for :data:`losskit.smooth_l1`."""

    loss = _registry.get("smooth_l1")

@keras.saving.register_keras_serializable(package="losskit")
class PseudoHuber(LosskitLoss):
    """Keras loss for :data:`losskit.pseudo_huber`."""

    loss = _registry.get("pseudo_huber")

@keras.saving.register_keras_serializable(package="losskit")
class LogCosh(LosskitLoss):
    """Keras loss for :data:`losskit.log_cosh`."""

    loss = _registry.get("log_cosh")

@keras.saving.register_keras_serializable(package="losskit")
class Quantile(LosskitLoss):
    """Keras loss for :data:`losskit.quantile`."""

    loss = _registry.get("quantile")

@keras.saving.register_keras_serializable(package="losskit")
class EpsilonInsensitive(LosskitLoss):
    """Keras loss for :data:`losskit.epsilon_insensitive`."""

    loss = _registry.get("epsilon_insensitive")

@keras.saving.register_keras_serializable(package="losskit")
class Poisson(LosskitLoss):
    """Keras loss for :data:`losskit.poisson`."""

    loss = _registry.get("poisson")


@keras.saving.register_keras_serializable(package="losskit")
class GammaDeviance(LosskitLoss):
    """Keras loss for :data:`losskit.gamma_deviance`."""

    loss = _registry.get("gamma_deviance")


@keras.saving.register_keras_serializable(package="losskit")
class TweedieDeviance(LosskitLoss):
    """Keras loss for :data:`losskit.tweedie_deviance`."""

    loss = _registry.get("tweedie_deviance")


@keras.saving.register_keras_serializable(package="losskit")
class GeneralRobust(LosskitLoss):
    """Keras loss for :data:`losskit.general_robust`."""

    loss = _registry.get("general_robust")


@keras.saving.register_keras_serializable(package="losskit")
class Cauchy(LosskitLoss):
    """Keras loss for :data:`losskit.cauchy`."""

    loss = _registry.get("cauchy")


@keras.saving.register_keras_serializable(package="losskit")
class GemanMcclure(LosskitLoss):
    """Keras loss for :data:`losskit.geman_mcclure`."""

    loss = _registry.get("geman_mcclure")


@keras.saving.register_keras_serializable(package="losskit")
class Welsch(LosskitLoss):
    """Keras loss for :data:`losskit.welsch`."""

    loss = _registry.get("welsch")

@keras.saving.register_keras_serializable(package="losskit")
class BinaryCrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.binary_cross_entropy`."""

    loss = _registry.get("binary_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SigmoidCrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.sigmoid_cross_entropy`."""

    loss = _registry.get("sigmoid_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SigmoidFocal(LosskitLoss):
    """Keras loss for :data:`losskit.sigmoid_focal`."""

    loss = _registry.get("sigmoid_focal")

@keras.saving.register_keras_serializable(package="losskit")
class Hinge(LosskitLoss):
    """Keras loss for :data:`losskit.hinge`."""

    loss = _registry.get("hinge")

@keras.saving.register_keras_serializable(package="losskit")
class SquaredHinge(LosskitLoss):
    """Keras loss for :data:`losskit.squared_hinge`."""

    loss = _registry.get("squared_hinge")

@keras.saving.register_keras_serializable(package="losskit")
class ModifiedHuber(LosskitLoss):
    """Keras loss for :data:`losskit.modified_huber`."""

    loss = _registry.get("modified_huber")

@keras.saving.register_keras_serializable(package="losskit")
class Logistic(LosskitLoss):
    """Keras loss for :data:`losskit.logistic`."""

    loss = _registry.get("logistic")

@keras.saving.register_keras_serializable(package="losskit")
class CategoricalCrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.categorical_cross_entropy`."""

    loss = _registry.get("categorical_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SoftmaxCrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.softmax_cross_entropy`."""

    loss = _registry.get("softmax_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SparseCategoricalCrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.sparse_categorical_cross_entropy`."""

    loss = _registry.get("sparse_categorical_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SparseSoftmaxCrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.sparse_softmax_cross_entropy`."""

    loss = _registry.get("sparse_softmax_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SoftmaxFocal(LosskitLoss):
    """Keras loss for :data:`losskit.softmax_focal`."""

    loss = _registry.get("softmax_focal")

@keras.saving.register_keras_serializable(package="losskit")
class SparseSoftmaxFocal(LosskitLoss):
    """Keras loss for :data:`losskit.sparse_softmax_focal`."""

    loss = _registry.get("sparse_softmax_focal")

@keras.saving.register_keras_serializable(package="losskit")
class Poly1CrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.poly1_cross_entropy`."""

    loss = _registry.get("poly1_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class SparsePoly1CrossEntropy(LosskitLoss):
    """Keras loss for :data:`losskit.sparse_poly1_cross_entropy`."""

    loss = _registry.get("sparse_poly1_cross_entropy")

@keras.saving.register_keras_serializable(package="losskit")
class KLDivergence(LosskitLoss):
    """Keras loss for :data:`losskit.kl_divergence`."""

    loss = _registry.get("kl_divergence")

@keras.saving.register_keras_serializable(package="losskit")
class KLDivergenceWithLogits(LosskitLoss):
    """Keras loss for :data:`losskit.kl_divergence_with_logits`."""

    loss = _registry.get("kl_divergence_with_logits")

@keras.saving.register_keras_serializable(package="losskit")
class CategoricalHinge(LosskitLoss):
    """Keras loss for :data:`losskit.categorical_hinge`."""

    loss = _registry.get("categorical_hinge")


@keras.saving.register_keras_serializable(package="losskit")
class JensenShannon(LosskitLoss):
    """Keras loss for :data:`losskit.jensen_shannon`."""

    loss = _registry.get("jensen_shannon")


@keras.saving.register_keras_serializable(package="losskit")
class CosineDistance(LosskitLoss):
    """Keras loss for :data:`losskit.cosine_distance` (Keras' ``CosineSimilarity`` plus 1)."""

    loss = _registry.get("cosine_distance")


@keras.saving.register_keras_serializable(package="losskit")
class CosineEmbedding(LosskitLoss):
    """Keras loss for :data:`losskit.cosine_embedding`: labels ``y_true`` (N,) and ``y_pred`` (N, D, 2) stacking x1, x2."""

    loss = _registry.get("cosine_embedding")


@keras.saving.register_keras_serializable(package="losskit")
class MarginRanking(LosskitLoss):
    """Keras loss for :data:`losskit.margin_ranking`: ``y_pred[..., 0]`` is x1 and ``y_pred[..., 1]`` x2."""

    loss = _registry.get("margin_ranking")


@keras.saving.register_keras_serializable(package="losskit")
class TripletMargin(LosskitLoss):
    """Keras loss for :data:`losskit.triplet_margin`: ``y_pred`` (N, D, 3) stacks anchor, positive, negative; y_true is ignored."""

    loss = _registry.get("triplet_margin")


@keras.saving.register_keras_serializable(package="losskit")
class InfoNce(LosskitLoss):
    """Keras loss for :data:`losskit.info_nce`: ``y_pred`` (N, D, 2) stacks the paired rows x, y; y_true is ignored.

    Every row's loss depends on the whole batch, so Keras's batch is the set of negatives.
    """

    loss = _registry.get("info_nce")


@keras.saving.register_keras_serializable(package="losskit")
class GaussianNLL(LosskitLoss):
    """Keras loss for :data:`losskit.gaussian_nll`, with the mean and the variance stacked in ``y_pred``.

    ``y_pred[..., 0]`` is the mean and ``y_pred[..., 1]`` the variance, so ``y_pred`` has shape
    ``y_true.shape + (2,)``: a model ends in a mean head and a positive variance head,
    concatenated::

        inputs = keras.Input((4,))
        mean = keras.layers.Dense(1)(inputs)
        variance = keras.layers.Dense(1, activation="softplus")(inputs)
        model = keras.Model(inputs, keras.layers.Concatenate()([mean, variance]))
        model.compile(optimizer="adam", loss=GaussianNLL())   # targets of shape (N,) or (N, 1)

    >>> import numpy as np
    >>> import losskit as lk, losskit.keras as lkk
    >>> y_true, mean, variance = np.zeros(2), np.array([1.0, 2.0]), np.array([1.0, 4.0])
    >>> float(lkk.GaussianNLL()(y_true, np.stack([mean, variance], axis=-1)))
    0.8466
    >>> float(lk.gaussian_nll(y_true, mean, variance))
    0.8465735902799727
    """

    loss = _registry.get("gaussian_nll")


@keras.saving.register_keras_serializable(package="losskit")
class Dice(LosskitLoss):
    """Keras loss for :data:`losskit.dice`: ``call`` returns the loss per (sample, class), ``(N, C)``."""

    loss = _registry.get("dice")


@keras.saving.register_keras_serializable(package="losskit")
class Jaccard(LosskitLoss):
    """Keras loss for :data:`losskit.jaccard`: ``call`` returns the loss per (sample, class), ``(N, C)``."""

    loss = _registry.get("jaccard")


@keras.saving.register_keras_serializable(package="losskit")
class Tversky(LosskitLoss):
    """Keras loss for :data:`losskit.tversky`: ``call`` returns the loss per (sample, class), ``(N, C)``."""

    loss = _registry.get("tversky")


@keras.saving.register_keras_serializable(package="losskit")
class FocalTversky(LosskitLoss):
    """Keras loss for :data:`losskit.focal_tversky`: ``call`` returns the loss per (sample, class), ``(N, C)``."""

    loss = _registry.get("focal_tversky")


__all__ += [name for name, value in list(globals().items())
            if isinstance(value, type) and issubclass(value, LosskitLoss) and value is not LosskitLoss]
