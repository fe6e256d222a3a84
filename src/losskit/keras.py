"""Keras 3 losses for every loss of the catalog: ``model.compile(loss=losskit.keras.Huber(delta=0.5))``.

Each catalog loss has a ``keras.losses.Loss`` subclass here, named as in :mod:`losskit.torch`
(``huber`` -> :class:`Huber`, ``sparse_softmax_cross_entropy`` ->
:class:`SparseSoftmaxCrossEntropy`); :func:`get_loss` builds one from any name or alias::

    import os; os.environ["KERAS_BACKEND"] = "jax"
    import keras, losskit.keras as lkk
    model.compile(optimizer="adam", loss=lkk.SparseSoftmaxCrossEntropy(label_smoothing=0.1))

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
  trailing axis of 1 from ``y_true`` and cast the labels to int32.
* Serializable: ``get_config`` / ``from_config`` round-trip every parameter, and the classes are
  registered with ``keras.saving.register_keras_serializable(package="losskit")``, so a saved
  ``.keras`` model reloads with its loss and the loss's parameters.

Backends: losskit computes on the backend's own arrays through the array API, so the JAX, PyTorch
and NumPy backends work. TensorFlow tensors are not array-API objects; the TensorFlow backend is
not supported and raises ``TypeError`` naming the fix.
"""

from __future__ import annotations

from typing import Any

import keras

from ._loss import Loss
from ._registry import catalog, get

__all__ = ["LosskitLoss", "get_loss"]

_ACRONYMS = {"l1": "L1", "l2": "L2", "kl": "KL"}


def class_name(loss_name: str) -> str:
    """The Keras class name of a catalog loss: ``"smooth_l1"`` -> ``"SmoothL1"``."""
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in loss_name.split("_"))


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
    """Base class of the generated Keras losses: one catalog loss with fixed parameters.

    Parameters
    ----------
    reduction : str, default "sum_over_batch_size"
        Keras's reduction of the per-sample losses (see the module docstring for how each maps
        to losskit's).
    name : str, optional
        The loss's name in Keras logs; the catalog name by default.
    dtype : str, optional
        The dtype Keras casts y_true and y_pred to (Keras's floatx by default).
    **params
        The loss's parameters (``delta``, ``label_smoothing``, ``class_weight``, ...).
    """

    loss: Loss

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None, dtype: Any = None, **params: Any):
        super().__init__(name=name or self.loss.name, reduction=reduction, dtype=dtype)
        bound = self.loss._bind_params(params)  # validates scalar parameters at construction
        # Array parameters are kept as nested lists: JSON-serialisable, and converted to the
        # backend's arrays on each call (on the device Keras computes on).
        self._params = {
            p.name: (_to_list(bound[p.name]) if p.is_array else bound[p.name]) for p in self.loss.params
        }

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.loss.root and sample_weight is not None:
            raise ValueError(
                f"{self.loss.name} is the root of the batch's mean and takes no sample_weight; "
                f"use {self.loss.name.replace('root_', '')} for weighted training"
            )
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        loss = self.loss
        if loss.kind == "sparse":
            if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
                y_true = keras.ops.squeeze(y_true, axis=-1)
            y_true = keras.ops.cast(y_true, "int32")  # Keras hands labels over as floats
        elif loss.kind == "pointwise":
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        params = self._backend_params(y_pred)
        reduction = "mean" if loss.root else "none"
        try:
            values = loss(y_true, y_pred, reduction=reduction, **params)
        except TypeError as exc:
            if "not a supported array" in str(exc):
                raise TypeError(
                    f"losskit.keras needs a Keras backend whose tensors follow the array API "
                    f"(jax, torch or numpy); the {keras.backend.backend()!r} backend's do not. "
                    "Set KERAS_BACKEND=jax (or torch) before importing keras"
                ) from exc
            raise
        ignore_index = self._params.get("ignore_index")
        if ignore_index is not None:
            _set_keras_mask(values, keras.ops.not_equal(y_true, ignore_index))
        return values

    def _backend_params(self, like: Any) -> dict[str, Any]:
        params = dict(self._params)
        for p in self.loss.params:
            if p.is_array and params[p.name] is not None:
                params[p.name] = keras.ops.convert_to_tensor(params[p.name], dtype=like.dtype)
        return params

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._params}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"<losskit.keras.{type(self).__name__}({params}{', ' if params else ''}reduction={self.reduction!r})>"


def _to_list(value: Any) -> Any:
    if value is None:
        return None
    import numpy as np

    array = np.asarray(value, dtype=float)
    return array.tolist()


def _set_keras_mask(values: Any, mask: Any) -> None:
    # The same hook Keras's own SparseCategoricalCrossentropy(ignore_class=...) uses to drop
    # positions from the mean's denominator; it is not re-exported under keras.backend.
    from keras.src import backend as keras_backend

    keras_backend.set_keras_mask(values, mask=mask)


def _make_loss_class(loss: Loss) -> type[LosskitLoss]:
    name = class_name(loss.name)
    params = ", ".join(f"{p.name}={p.default!r}" for p in loss.params)
    doc = (
        f"Keras loss for :func:`losskit.{loss.name}`: {loss.summary}\n\n"
        f"``{name}({params + ', ' if params else ''}reduction='sum_over_batch_size', name=None, dtype=None)``; "
        "see :class:`losskit.keras.LosskitLoss`."
    )
    cls = type(name, (LosskitLoss,), {"loss": loss, "__doc__": doc, "__module__": __name__})
    return keras.saving.register_keras_serializable(package="losskit", name=name)(cls)


_CLASSES: dict[str, type[LosskitLoss]] = {}
for _loss in catalog():
    _cls = _make_loss_class(_loss)
    _CLASSES[_loss.name] = _cls
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _loss, _cls


def get_loss(loss: str | Loss, /, **params: Any) -> LosskitLoss:
    """Build the Keras loss of a catalog loss from its name or alias.

    ``get_loss("bce_with_logits", label_smoothing=0.1)`` is ``SigmoidCrossEntropy(label_smoothing=0.1)``.
    """
    return _CLASSES[get(loss).name](**params)


def loss_class(name: str | Loss) -> type[LosskitLoss]:
    """The Keras class of a catalog loss (``loss_class("mse") is MeanSquaredError``)."""
    return _CLASSES[get(name).name]


__all__.append("loss_class")
