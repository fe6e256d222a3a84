"""The framework equivalents of every loss, as a table you can run.

Each loss's registry entry lists, under ``equivalents``, what PyTorch, Optax, Keras,
scikit-learn, MONAI, kornia and SciPy call the same loss and how it differs (``api``, ``relation``, ``note``): that text
is what the docs and ``losskit show`` print, and it lives next to the loss in its family module.
This module adds to each of those entries the one thing the text cannot say, how to run it:

``fn(y_true, *predictions, reduction="mean", sample_weight=None, **params)``
    The framework's own function in losskit's argument order, on the framework's arrays (torch
    tensors, JAX arrays, NumPy arrays for Keras and scikit-learn). It converts the form of the
    arguments (prediction first, class axis at 1, log of probabilities, {-1, +1} labels, a
    trailing axis for Keras) but never rescales the result, so a documented factor (SmoothL1 =
    Huber / beta, scikit-learn's MAPE as a fraction) is measured, not hidden. Frameworks
    import on the first call.
``params``
    The losskit parameters it expresses, read from ``fn``'s keyword arguments (not restated).
``reductions`` / ``weighted`` / ``sample_weight``
    The reductions it computes; those at which it takes sample weights and equals losskit
    (Optax and scikit-learn's per-sample losses are reduced here, with NumPy or ``jax.numpy``);
    and whether the framework's own API takes sample weights (the conformance table then
    compares its weighted mean, and a mismatch is a finding).
``factor``
    For ``relation == "scaled"``: losskit = factor(params) x framework.
``differentiable``
    Torch and Optax results are differentiable in the predictions: the benchmark times
    ``fn(target, input).backward()`` and ``jax.value_and_grad`` of it against losskit's;
    ``value_and_grad``, where set, is a framework routine that returns per-sample losses and
    gradients without autodiff (scikit-learn's ``_loss`` classes).

One place per fact: the text of an equivalent is written once, in the registry; how to run it
once, here, keyed by (loss, framework); :func:`entries` joins the two, and
``tests/test_conformance.py`` fails if either side lacks the other. Entries given an ``api``
here are additional references, another API of the same framework computing the same loss
(scikit-learn's ``_loss`` classes next to its metrics): they are not in the registry's text
(``documented`` is False) and the reference tests check them like the others.

The conformance table (:mod:`losskit.conformance`), the reference tests
(``tests/test_reference_frameworks.py``) and the benchmarks (``benchmarks/run.py``) all read
:func:`entries`.

>>> from losskit import equivalents
>>> entry = equivalents.find("huber", "torch")
>>> entry.api, sorted(entry.params), entry.differentiable
('torch.nn.HuberLoss(delta=delta)', ['delta'], True)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._reduction import REDUCTIONS

__all__ = ["Entry", "entries", "find", "FRAMEWORKS"]

# The registry's framework names (the conformance table shows "jax" for Optax).
FRAMEWORKS = ("torch", "optax", "keras", "sklearn", "monai", "kornia", "scipy", "tensorflow")
# MONAI and kornia compute on torch tensors, so their results are differentiated by autograd.
_TORCH_BASED = ("torch", "monai", "kornia")
_DIFFERENTIABLE = (*_TORCH_BASED, "optax", "tensorflow")


@dataclass(frozen=True)
class Entry:
    """One framework's version of one loss: the registry's text and how to run it."""

    loss: str
    framework: str
    fn: Callable[..., Any] | None
    reductions: tuple[str, ...] = REDUCTIONS
    weighted: tuple[str, ...] = ()
    sample_weight: bool = False
    factor: Callable[[dict], float] | None = field(default=None, repr=False)
    value_and_grad: Callable[..., Any] | None = field(default=None, repr=False)
    # False where the framework's function equals losskit's only on the domain (rows summing to
    # 1), so its gradient may differ in the directions that leave it.
    equal_gradient: bool = True
    # Test tolerances; atol covers a documented epsilon (PyTorch's 1e-8 inside a log).
    rtol: float = 1e-6
    atol: float = 1e-10
    api: str = ""
    relation: str = "equal"
    note: str = ""
    documented: bool = True

    @property
    def params(self) -> frozenset[str]:
        """The losskit parameters ``fn`` expresses (its keyword arguments)."""
        if self.fn is None:
            return frozenset()
        signature = inspect.signature(self.fn)
        return frozenset(
            name for name, p in signature.parameters.items()
            if p.kind is p.KEYWORD_ONLY and name not in ("reduction", "sample_weight")
        )

    @property
    def differentiable(self) -> bool:
        """Whether the framework's result has an autodiff gradient in the predictions (PyTorch, Optax)."""
        return self.fn is not None and self.framework in _DIFFERENTIABLE

    @property
    def id(self) -> str:
        return f"{self.loss}-{self.framework}:{self.api}"

    def accepts(self, params: dict) -> bool:
        """Whether every parameter in ``params`` is one the framework expresses."""
        return set(params) <= self.params

    def scale(self, params: dict) -> float:
        """The documented factor: losskit = scale x framework (1 unless ``relation == "scaled"``)."""
        return 1.0 if self.factor is None else float(self.factor(params))

    def compute(self, y_true: Any, *predictions: Any, params: dict | None = None, reduction: str = "mean",
                sample_weight: Any = None) -> np.ndarray:
        """The framework's value on NumPy inputs, as a NumPy array (float64 in, float64 where it can).

        ``params`` may hold every parameter of the loss; those the framework does not express
        are dropped (callers check :meth:`accepts` for non-default values), the others default
        to losskit's. A prefix-shaped ``sample_weight`` is broadcast to the loss's shape, as
        losskit does.
        """
        convert = _CONVERTERS[self.framework]
        y_true, predictions = self._target_and_predictions(y_true, predictions)
        call = self._bind(y_true, predictions, params, reduction, sample_weight, convert)
        return _to_numpy(call(*map(convert, predictions)))

    def _target_and_predictions(self, y_true: Any, predictions: tuple) -> tuple[Any, tuple]:
        """A loss without a target (triplet_margin) is called with its predictions only."""
        from ._registry import get

        return (y_true, predictions) if get(self.loss).has_target else (None, (y_true, *predictions))

    def gradient(self, y_true: Any, *predictions: Any, params: dict | None = None, reduction: str = "mean",
                 sample_weight: Any = None) -> tuple[np.ndarray, ...]:
        """The framework's autodiff gradient of its reduced value, one NumPy array per prediction.

        For ``reduction="none"`` the gradient of the sum, as losskit's ``grad`` defines it.
        PyTorch and Optax only (:attr:`differentiable`).
        """
        if not self.differentiable:
            raise ValueError(f"{self.framework}'s {self.loss} is not differentiable here")
        convert = _CONVERTERS[self.framework]
        y_true, predictions = self._target_and_predictions(y_true, predictions)
        call = self._bind(y_true, predictions, params, reduction, sample_weight, convert)
        if self.framework in _TORCH_BASED:
            inputs = [convert(p).requires_grad_(True) for p in predictions]
            call(*inputs).sum().backward()
            return tuple(_to_numpy(x.grad) for x in inputs)
        if self.framework == "tensorflow":
            import tensorflow as tf

            inputs = [convert(p) for p in predictions]
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                total = tf.reduce_sum(call(*inputs))
            return tuple(_to_numpy(g) for g in tape.gradient(total, inputs))
        import jax

        arguments = tuple(map(convert, predictions))
        grads = jax.grad(lambda *xs: call(*xs).sum(), argnums=tuple(range(len(arguments))))(*arguments)
        return tuple(_to_numpy(g) for g in grads)

    def _bind(self, y_true, predictions, params, reduction, sample_weight, convert) -> Callable[..., Any]:
        """``fn`` with everything but the predictions filled in, on the framework's arrays."""
        if self.fn is None:
            raise ValueError(f"{self.framework} has no equivalent of {self.loss}")
        from ._registry import get

        # losskit's defaults, not the framework's (SGD's huber epsilon is 0.1, losskit's delta 1).
        given = {**get(self.loss).defaults, **(params or {})}
        kwargs = {k: v for k, v in given.items() if k in self.params}
        if sample_weight is not None:
            loss_shape = _loss_shape(self.loss, predictions[0], given)
            sample_weight = convert(_broadcast(np.asarray(sample_weight, dtype=np.float64), loss_shape))
        for name in ("pos_weight", "class_weight"):
            if kwargs.get(name) is not None:
                kwargs[name] = convert(np.asarray(kwargs[name], dtype=np.float64))
        target = () if y_true is None else (convert(y_true),)
        return functools.partial(self.fn, *target, reduction=reduction, sample_weight=sample_weight, **kwargs)


def _loss_shape(loss: str, prediction: Any, params: dict | None = None) -> tuple:
    from ._registry import get

    return get(loss).loss_shape(tuple(np.shape(prediction)), params or {})


def _broadcast(weight: np.ndarray, shape: tuple) -> np.ndarray:
    """A prefix-shaped sample weight expanded to ``shape``, as a writable copy."""
    return np.array(np.broadcast_to(weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim)), shape))


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x)


def _as_tensor(x):
    import torch

    return torch.as_tensor(np.array(x))  # a copy: NumPy views may be read-only


def _as_tf(x):
    import os

    # TensorFlow's C++ start-up notices (CPU features, oneDNN) would interleave with the table.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.constant(np.asarray(x))


def _as_jax(x):
    import jax.numpy as jnp

    return jnp.asarray(x)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "torch": _as_tensor, "optax": _as_jax, "keras": np.asarray, "sklearn": np.asarray,
    "monai": _as_tensor, "kornia": _as_tensor, "scipy": np.asarray, "tensorflow": _as_tf,
}


# ------------------------------------------------------------------------ shared conversions
# Written on the array's own methods or with xp.where so they run on NumPy, torch and JAX alike,
# also under jax.jit (no Python branch on values).

def _signed(y):
    """{0, 1} labels as {-1, +1} (the conversion losskit applies); {-1, +1} labels unchanged."""
    zero_one = ((y == 0) | (y == 1)).all() * 1.0
    return y + (y - 1) * zero_one  # 2y - 1 when every label is 0 or 1


def _class_axis_first(x):
    """Class axis last (losskit) to axis 1 (PyTorch); 1-D and 2-D inputs are unchanged."""
    return x if x.ndim < 3 else x.movedim(-1, 1)


def _mean_here(values, reduction, sample_weight, xp):
    """The contract's reductions applied here to a framework's per-example values."""
    if sample_weight is not None:
        values = values * sample_weight
    if reduction == "none":
        return values
    total = xp.sum(values)
    if reduction == "sum":
        return total
    denominator = math.prod(values.shape) if sample_weight is None else xp.sum(sample_weight)
    return total / denominator if denominator > 0 else total * 0.0


# ------------------------------------------------------------------------------------ table

_SPECS: list[Entry] = []


def _add(loss: str, framework: str, fn: Callable | None = None, **options: Any) -> Callable | None:
    """Add how to run ``framework``'s version of ``loss`` (the registry's entry unless ``api`` is given)."""
    _SPECS.append(Entry(loss, framework, fn, documented=not options.get("api"), **options))
    return fn


# --- PyTorch: torch.nn.functional on tensors, prediction first, the class axis at 1.

def _F():
    import torch.nn.functional as F

    return F


def _torch_elementwise(name: str):
    """A torch.nn.functional loss taking (input, target, reduction, weight=)."""

    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None):
        kwargs = {} if sample_weight is None else {"weight": sample_weight}
        return getattr(_F(), name)(y_pred, y_true, reduction=reduction, **kwargs)

    fn.__name__ = f"torch_{name}"
    return fn


_add("mean_squared_error", "torch", _torch_elementwise("mse_loss"),
     weighted=REDUCTIONS, sample_weight=True)
_add("half_squared_error", "torch", _torch_elementwise("mse_loss"),
     weighted=REDUCTIONS, sample_weight=True, factor=lambda k: 0.5)
_add("mean_absolute_error", "torch", _torch_elementwise("l1_loss"),
     weighted=REDUCTIONS, sample_weight=True)


def _torch_rmse(y_true, y_pred, *, reduction="mean", sample_weight=None):
    return _torch_elementwise("mse_loss")(y_true, y_pred, sample_weight=sample_weight).sqrt()


_add("root_mean_squared_error", "torch", _torch_rmse, reductions=("mean",), weighted=("mean",), sample_weight=True)


def _torch_huber(y_true, y_pred, *, reduction="mean", sample_weight=None, delta=1.0):
    kwargs = {} if sample_weight is None else {"weight": sample_weight}
    return _F().huber_loss(y_pred, y_true, reduction=reduction, delta=delta, **kwargs)


# F.huber_loss(weight=w) divides sum(w * l) by the element count: equal only where nothing is divided.
_add("huber", "torch", _torch_huber, weighted=("none", "sum"), sample_weight=True)


def _torch_smooth_l1(y_true, y_pred, *, reduction="mean", sample_weight=None, beta=1.0):
    return _F().smooth_l1_loss(y_pred, y_true, reduction=reduction, beta=beta)


_add("smooth_l1", "torch", _torch_smooth_l1)


def _torch_poisson(y_true, y_pred, *, reduction="mean", sample_weight=None):
    return _F().poisson_nll_loss(y_pred, y_true, log_input=False, reduction=reduction)


# PyTorch adds eps = 1e-8 inside the log: a difference of at most y * 1e-8 / y_pred.
_add("poisson", "torch", _torch_poisson, atol=1e-6)


def _torch_bce(y_true, y_pred, *, reduction="mean", sample_weight=None):
    return _F().binary_cross_entropy(y_pred, y_true, weight=sample_weight, reduction=reduction)


# PyTorch's weight= multiplies each term and its 'mean' still divides by the element count.
_add("binary_cross_entropy", "torch", _torch_bce, weighted=("none", "sum"), sample_weight=True)


def _torch_bce_with_logits(y_true, logits, *, reduction="mean", sample_weight=None, pos_weight=None):
    return _F().binary_cross_entropy_with_logits(logits, y_true, weight=sample_weight, pos_weight=pos_weight,
                                                 reduction=reduction)


_add("sigmoid_cross_entropy", "torch", _torch_bce_with_logits, weighted=("none", "sum"), sample_weight=True)


def _torch_soft_margin(y_true, y_pred, *, reduction="mean", sample_weight=None):
    return _F().soft_margin_loss(y_pred, _signed(y_true), reduction=reduction)


_add("logistic", "torch", _torch_soft_margin)


def _torch_index_loss(y_true, scores, *, reduction, class_weight, ignore_index, label_smoothing):
    F = _F()
    index = -100 if ignore_index is None else ignore_index
    return F.cross_entropy(_class_axis_first(scores), y_true, weight=class_weight, ignore_index=index,
                           reduction=reduction, label_smoothing=label_smoothing)


def _torch_nll_one_hot(y_true, y_pred, *, reduction="mean", sample_weight=None, class_weight=None):
    return _F().nll_loss(_class_axis_first(y_pred.log()), y_true.argmax(-1), weight=class_weight, reduction=reduction)


_add("categorical_cross_entropy", "torch", _torch_nll_one_hot)


def _torch_cross_entropy_log_p_one_hot(y_true, y_pred, *, reduction="mean", sample_weight=None, class_weight=None,
                                       label_smoothing=0.0):
    # log p are logits whose log_softmax is log p again (rows sum to 1), so CrossEntropyLoss
    # checks the label smoothing of the probability losses too.
    return _torch_index_loss(y_true.argmax(-1), y_pred.log(), reduction=reduction, class_weight=class_weight,
                             ignore_index=None, label_smoothing=label_smoothing)


# log_softmax(log p) renormalises p: the gradient gains the softmax's term along (1, ..., 1).
_add("categorical_cross_entropy", "torch", _torch_cross_entropy_log_p_one_hot, equal_gradient=False,
     api="torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=label_smoothing)"
         "(torch.log(y_pred), y_true.argmax(-1))")


def _torch_cross_entropy_probabilities(y_true, logits, *, reduction="mean", sample_weight=None, label_smoothing=0.0):
    # Probability targets: with class weights PyTorch's mean divides by N (the documented difference).
    return _F().cross_entropy(_class_axis_first(logits), _class_axis_first(y_true), reduction=reduction,
                              label_smoothing=label_smoothing)


_add("softmax_cross_entropy", "torch", _torch_cross_entropy_probabilities)


def _torch_cross_entropy_one_hot(y_true, logits, *, reduction="mean", sample_weight=None, class_weight=None,
                                 label_smoothing=0.0):
    return _torch_index_loss(y_true.argmax(-1), logits, reduction=reduction, class_weight=class_weight,
                             ignore_index=None, label_smoothing=label_smoothing)


_add("softmax_cross_entropy", "torch", _torch_cross_entropy_one_hot,
     api="torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=label_smoothing)(logits, y_true.argmax(-1))")


def _torch_nll(y_true, y_pred, *, reduction="mean", sample_weight=None, class_weight=None, ignore_index=None):
    index = -100 if ignore_index is None else ignore_index
    return _F().nll_loss(_class_axis_first(y_pred.log()), y_true, weight=class_weight, ignore_index=index,
                         reduction=reduction)


_add("sparse_categorical_cross_entropy", "torch", _torch_nll)


def _torch_cross_entropy_log_p(y_true, y_pred, *, reduction="mean", sample_weight=None, class_weight=None,
                               ignore_index=None, label_smoothing=0.0):
    return _torch_index_loss(y_true, y_pred.log(), reduction=reduction, class_weight=class_weight,
                             ignore_index=ignore_index, label_smoothing=label_smoothing)


_add("sparse_categorical_cross_entropy", "torch", _torch_cross_entropy_log_p, equal_gradient=False,
     api="torch.nn.CrossEntropyLoss(weight=class_weight, ignore_index=ignore_index, "
         "label_smoothing=label_smoothing)(torch.log(y_pred), y_true)")


def _torch_cross_entropy(y_true, logits, *, reduction="mean", sample_weight=None, class_weight=None,
                         ignore_index=None, label_smoothing=0.0):
    return _torch_index_loss(y_true, logits, reduction=reduction, class_weight=class_weight,
                             ignore_index=ignore_index, label_smoothing=label_smoothing)


_add("sparse_softmax_cross_entropy", "torch", _torch_cross_entropy)


def _reduce_torch(values, reduction, denominator=None):
    """'none', 'sum' or the mean over ``denominator`` (default: the count) of per-example values; 0 over nothing."""
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    denominator = values.numel() if denominator is None else denominator
    return total / denominator if denominator > 0 else total * 0.0


# No framework's cross-entropy has PaLM's z-loss: these references add it to F.cross_entropy with
# torch.logsumexp, as a PyTorch user writes it, and check z_loss (value and autograd gradient).
_Z_LOSS_API = " + z_loss * torch.logsumexp(logits, -1) ** 2"


def _torch_cross_entropy_z_loss(y_true, logits, *, reduction="mean", sample_weight=None, label_smoothing=0.0,
                                z_loss=0.0):
    import torch

    values = _F().cross_entropy(_class_axis_first(logits), _class_axis_first(y_true), reduction="none",
                                label_smoothing=label_smoothing)
    return _reduce_torch(values + z_loss * torch.logsumexp(logits, -1) ** 2, reduction)


def _torch_sparse_cross_entropy_z_loss(y_true, logits, *, reduction="mean", sample_weight=None, ignore_index=None,
                                       label_smoothing=0.0, z_loss=0.0):
    import torch

    index = -100 if ignore_index is None else ignore_index
    keep = y_true != index
    values = _F().cross_entropy(_class_axis_first(logits), y_true, ignore_index=index, reduction="none",
                                label_smoothing=label_smoothing)
    values = values + torch.where(keep, z_loss * torch.logsumexp(logits, -1) ** 2, 0.0)
    return _reduce_torch(values, reduction, keep.sum())


_add("softmax_cross_entropy", "torch", _torch_cross_entropy_z_loss,
     api="torch.nn.functional.cross_entropy(logits, y_true, label_smoothing=label_smoothing, reduction='none')"
         + _Z_LOSS_API)
_add("sparse_softmax_cross_entropy", "torch", _torch_sparse_cross_entropy_z_loss,
     api="torch.nn.functional.cross_entropy(logits, y_true, ignore_index=ignore_index, label_smoothing=label_smoothing, "
         "reduction='none')" + _Z_LOSS_API + " at kept positions")


def _torch_kl(log_input: Callable):
    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None):
        # 'batchmean' divides by the first axis: (B, T, K) becomes rows of K first.
        rows_true, rows_pred = y_true.reshape(-1, y_true.shape[-1]), y_pred.reshape(-1, y_pred.shape[-1])
        torch_reduction = {"none": "none", "sum": "sum", "mean": "batchmean"}[reduction]
        value = _F().kl_div(log_input(rows_pred), rows_true, reduction=torch_reduction)
        return value.sum(-1).reshape(y_true.shape[:-1]) if reduction == "none" else value

    return fn


_add("kl_divergence", "torch", _torch_kl(lambda p: p.log()))
_add("kl_divergence_with_logits", "torch", _torch_kl(lambda x: x.log_softmax(-1)))


def _torch_gaussian_nll(y_true, mean, variance, *, reduction="mean", sample_weight=None, full=False, eps=1e-6):
    return _F().gaussian_nll_loss(mean, y_true, variance, full=full, eps=eps, reduction=reduction)


_add("gaussian_nll", "torch", _torch_gaussian_nll)


def _torch_linear_cross_entropy(y_true, hidden, weight, *, reduction="mean", sample_weight=None, bias=None,
                                ignore_index=None, label_smoothing=0.0, class_weight=None):
    # PyTorch 2.13's fused head loss (its reference path); older versions: the dense composition.
    F = _F()
    flat, labels = hidden.reshape(-1, hidden.shape[-1]), y_true.reshape(-1)
    index = -100 if ignore_index is None else ignore_index
    if hasattr(F, "linear_cross_entropy"):
        values = F.linear_cross_entropy(flat, weight, labels, linear_bias=bias, weight=class_weight,
                                        reduction=reduction, ignore_index=index, label_smoothing=label_smoothing)
    else:
        values = F.cross_entropy(F.linear(flat, weight, bias), labels, weight=class_weight, reduction=reduction,
                                 ignore_index=index, label_smoothing=label_smoothing)
    return values.reshape(y_true.shape) if reduction == "none" else values


_add("linear_cross_entropy", "torch", _torch_linear_cross_entropy)


# Embeddings: PyTorch's functional losses on rows, prediction first, the labels last.

def _torch_rows(values, reduction):
    return values if reduction == "none" else (values.sum() if reduction == "sum" else values.mean())


def _torch_cosine_distance(y_true, y_pred, *, reduction="mean", sample_weight=None, eps=1e-8):
    return _torch_rows(1.0 - _F().cosine_similarity(y_pred, y_true, dim=-1, eps=eps), reduction)


def _torch_cosine_embedding(y_true, x1, x2, *, reduction="mean", sample_weight=None, margin=0.0):
    # PyTorch takes (N, D) or (D,) only: rows of any batch shape are flattened and shaped back.
    values = _F().cosine_embedding_loss(x1.reshape(-1, x1.shape[-1]), x2.reshape(-1, x2.shape[-1]),
                                        _signed(y_true).reshape(-1), margin=margin, reduction="none")
    return _torch_rows(values.reshape(y_true.shape), reduction)


def _torch_margin_ranking(y_true, x1, x2, *, reduction="mean", sample_weight=None, margin=0.0):
    return _F().margin_ranking_loss(x1, x2, _signed(y_true), margin=margin, reduction=reduction)


def _torch_triplet_margin(anchor, positive, negative, *, reduction="mean", sample_weight=None, margin=1.0, p=2.0,
                          eps=1e-6, swap=False):
    return _F().triplet_margin_loss(anchor, positive, negative, margin=margin, p=p, eps=eps, swap=swap,
                                    reduction=reduction)


def _torch_info_nce(x, y, *, reduction="mean", sample_weight=None, temperature=0.07, symmetric=True):
    # The CLIP loss as written in PyTorch: cross-entropy of the cosine matrix against the diagonal.
    import torch

    F = _F()
    logits = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T / temperature
    labels = torch.arange(x.shape[0])
    values = F.cross_entropy(logits, labels, reduction="none")
    if symmetric:
        values = 0.5 * (values + F.cross_entropy(logits.T, labels, reduction="none"))
    return _torch_rows(values, reduction)


_add("cosine_distance", "torch", _torch_cosine_distance)
_add("cosine_embedding", "torch", _torch_cosine_embedding)
_add("margin_ranking", "torch", _torch_margin_ranking)
_add("triplet_margin", "torch", _torch_triplet_margin)
_add("info_nce", "torch", _torch_info_nce)
# PyTorch has no Jensen-Shannon loss: the registry says so, and there is nothing to run.
_add("jensen_shannon", "torch", None)


# --- MONAI and kornia: overlap losses on channels-first (N, C, d1, ...) tensors. MONAI's
# reduction='none' is per (sample, class) (with singleton spatial axes for DiceLoss); with sample
# weights it is reduced here, as MONAI takes none.

def _torch_reduce_here(values, reduction, sample_weight):
    """The contract's reductions of per-term torch values (``_mean_here`` reads NumPy's ``.size``)."""
    if sample_weight is not None:
        values = values * sample_weight
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    return total / (values.numel() if sample_weight is None else sample_weight.sum())


def _monai_overlap(make, y_true, y_pred, reduction, sample_weight, batch, power=None):
    """``make(reduction)`` (a MONAI loss) on channels-last masks; ``power`` raises its terms (focal Tversky)."""
    terms_only = sample_weight is not None or power is not None
    values = make("none" if terms_only else reduction)(y_pred.movedim(-1, 1), y_true.movedim(-1, 1))
    if not terms_only and reduction != "none":
        return values
    values = values.reshape((y_pred.shape[-1],) if batch else (y_pred.shape[0], y_pred.shape[-1]))
    if power is not None:
        values = values**power
    return _torch_reduce_here(values, reduction, sample_weight)


def _monai_dice(y_true, y_pred, *, reduction="mean", sample_weight=None, smooth=1e-5, squared=False, batch=False):
    from monai.losses import DiceLoss

    return _monai_overlap(lambda r: DiceLoss(smooth_nr=smooth, smooth_dr=smooth, squared_pred=squared, batch=batch,
                                             reduction=r), y_true, y_pred, reduction, sample_weight, batch)


def _monai_jaccard(y_true, y_pred, *, reduction="mean", sample_weight=None, smooth=1e-5, batch=False):
    from monai.losses import DiceLoss

    # MONAI's Jaccard is (2I + s) / (2U + s): losskit's (I + s') / (U + s') at s = 2 s'.
    return _monai_overlap(lambda r: DiceLoss(jaccard=True, smooth_nr=2.0 * smooth, smooth_dr=2.0 * smooth, batch=batch,
                                             reduction=r), y_true, y_pred, reduction, sample_weight, batch)


def _monai_tversky_loss(alpha, beta, smooth, batch):
    from monai.losses import TverskyLoss

    return lambda r: TverskyLoss(alpha=alpha, beta=beta, smooth_nr=smooth, smooth_dr=smooth, batch=batch, reduction=r)


def _monai_tversky(y_true, y_pred, *, reduction="mean", sample_weight=None, alpha=0.5, beta=0.5, smooth=1e-5,
                   batch=False):
    return _monai_overlap(_monai_tversky_loss(alpha, beta, smooth, batch), y_true, y_pred, reduction, sample_weight,
                          batch)


def _monai_focal_tversky(y_true, y_pred, *, reduction="mean", sample_weight=None, alpha=0.5, beta=0.5, gamma=0.75,
                         smooth=1e-5, batch=False):
    return _monai_overlap(_monai_tversky_loss(alpha, beta, smooth, batch), y_true, y_pred, reduction, sample_weight,
                          batch, power=gamma)


for _loss, _fn in (("dice", _monai_dice), ("jaccard", _monai_jaccard), ("tversky", _monai_tversky),
                   ("focal_tversky", _monai_focal_tversky)):
    _add(_loss, "monai", _fn, weighted=REDUCTIONS)
del _loss, _fn


def _kornia_inputs(y_true, y_pred):
    """kornia's (logits, labels): log p are logits whose softmax is p again (rows summing to 1)."""
    return y_pred.log().movedim(-1, 1), y_true.argmax(-1)


def _kornia_dice(y_true, y_pred, *, reduction="mean", sample_weight=None):
    import kornia

    return kornia.losses.dice_loss(*_kornia_inputs(y_true, y_pred), average="macro")


def _kornia_tversky(y_true, y_pred, *, reduction="mean", sample_weight=None, alpha=0.5, beta=0.5):
    import kornia

    return kornia.losses.tversky_loss(*_kornia_inputs(y_true, y_pred), alpha=alpha, beta=beta)


# The softmax inside renormalises p: kornia's gradient is in the logits' directions only.
_add("dice", "kornia", _kornia_dice, reductions=("mean",), equal_gradient=False)
_add("tversky", "kornia", _kornia_tversky, reductions=("mean",), equal_gradient=False)


# kornia's robust losses: Barron's loss of img1 - img2 at scale 1 (no scale argument, no weights;
# kornia's own convention for a scale c is to pass img1 / c and img2 / c, done here).

def _kornia_robust(name: str, parameter: str):
    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None, **params):
        import kornia

        scale = params.get(parameter, 1.0)
        return getattr(kornia.losses, name)(y_pred / scale, y_true / scale, reduction=reduction)

    P = inspect.Parameter
    fn.__signature__ = inspect.Signature(
        [P("y_true", P.POSITIONAL_OR_KEYWORD), P("y_pred", P.POSITIONAL_OR_KEYWORD),
         P("reduction", P.KEYWORD_ONLY, default="mean"), P("sample_weight", P.KEYWORD_ONLY, default=None),
         P(parameter, P.KEYWORD_ONLY, default=1.0)]
    )
    fn.__name__ = f"kornia_{name}"
    return fn


_add("cauchy", "kornia", _kornia_robust("cauchy_loss", "scale"))
_add("geman_mcclure", "kornia", _kornia_robust("geman_mcclure_loss", "scale"))
_add("welsch", "kornia", _kornia_robust("welsch_loss", "scale"))
# Charbonnier is pseudo-Huber at delta = 1; at other delta, pseudo_huber = delta^2 x charbonnier(e / delta).
_add("pseudo_huber", "kornia", _kornia_robust("charbonnier_loss", "delta"), factor=lambda k: k.get("delta", 1.0) ** 2)
# kornia has Barron's loss only at four alphas (the named losses above): nothing to run for a general alpha.
_add("general_robust", "kornia", None)


# --- Optax: per-example functions (prediction first), reduced here with jax.numpy.

def _optax_loss(per_example: Callable):
    """An Optax loss ``per_example(y_true, *predictions, **params)``, reduced here (no weights in Optax)."""

    @functools.wraps(per_example)
    def fn(y_true, *predictions, reduction="mean", sample_weight=None, **params):
        import jax.numpy as jnp

        return _mean_here(per_example(y_true, *predictions, **params), reduction, sample_weight, jnp)

    fn.__signature__ = _with_reduction(per_example)
    return fn


def _with_reduction(per_example: Callable) -> inspect.Signature:
    P = inspect.Parameter
    signature = inspect.signature(per_example)
    extra = [P("reduction", P.KEYWORD_ONLY, default="mean"), P("sample_weight", P.KEYWORD_ONLY, default=None)]
    return signature.replace(parameters=[*signature.parameters.values(), *extra])


def _optax():
    import optax

    return optax


def _optax_log_softmax(x):
    import jax

    return jax.nn.log_softmax(x, axis=-1)


def _optax_huber(y_true, y_pred, *, delta=1.0):
    return _optax().losses.huber_loss(y_pred, y_true, delta=delta)


def _optax_softmax_cross_entropy(y_true, logits, *, label_smoothing=0.0):
    optax = _optax()
    return optax.losses.safe_softmax_cross_entropy(logits, optax.smooth_labels(y_true, label_smoothing))


_add("mean_squared_error", "optax", _optax_loss(lambda y, p: _optax().losses.squared_error(p, y)))
_add("half_squared_error", "optax", _optax_loss(lambda y, p: _optax().losses.l2_loss(p, y)))
_add("huber", "optax", _optax_loss(_optax_huber))
_add("log_cosh", "optax", _optax_loss(lambda y, p: _optax().losses.log_cosh(p, y)))
_add("sigmoid_cross_entropy", "optax",
     _optax_loss(lambda y, x: _optax().losses.sigmoid_binary_cross_entropy(x, y)))
_add("hinge", "optax", _optax_loss(lambda y, f: _optax().losses.hinge_loss(f, _signed(y))))
_add("softmax_cross_entropy", "optax", _optax_loss(_optax_softmax_cross_entropy))
_add("sparse_softmax_cross_entropy", "optax",
     _optax_loss(lambda y, x: _optax().losses.softmax_cross_entropy_with_integer_labels(x, y)))


def _optax_sigmoid_focal(y_true, logits, *, gamma=2.0, alpha=None):
    return _optax().losses.sigmoid_focal_loss(logits, y_true, alpha=alpha, gamma=gamma)


def _optax_poly1(y_true, logits, *, epsilon=2.0):
    return _optax().losses.poly_loss_cross_entropy(logits, y_true, epsilon=epsilon)


def _optax_sparse_poly1(y_true, logits, *, epsilon=2.0):
    import jax

    one_hot = jax.nn.one_hot(y_true, logits.shape[-1], dtype=logits.dtype)
    return _optax().losses.poly_loss_cross_entropy(logits, one_hot, epsilon=epsilon)


_add("sigmoid_focal", "optax", _optax_loss(_optax_sigmoid_focal))
_add("poly1_cross_entropy", "optax", _optax_loss(_optax_poly1))
_add("sparse_poly1_cross_entropy", "optax", _optax_loss(_optax_sparse_poly1))


def _optax_sparse_poly1_ignoring(y_true, logits, *, epsilon=2.0, ignore_index=None):
    # An ignored position becomes a zero label row, whose Poly-1 loss is 0; Optax's mean would
    # still count it, so only 'none' and 'sum' are compared.
    import jax
    import jax.numpy as jnp

    keep = jnp.ones(y_true.shape, bool) if ignore_index is None else y_true != ignore_index
    one_hot = jax.nn.one_hot(jnp.where(keep, y_true, 0), logits.shape[-1], dtype=logits.dtype) * keep[..., None]
    return _optax().losses.poly_loss_cross_entropy(logits, one_hot, epsilon=epsilon)


_add("sparse_poly1_cross_entropy", "optax", _optax_loss(_optax_sparse_poly1_ignoring), reductions=("none", "sum"),
     api="optax.losses.poly_loss_cross_entropy(logits, one_hot(y_true) * (y_true != ignore_index), epsilon=epsilon)")
_add("kl_divergence", "optax", _optax_loss(lambda t, p: _optax().losses.kl_divergence(_log(p), t)))
_add("kl_divergence_with_logits", "optax",
     _optax_loss(lambda t, x: _optax().losses.kl_divergence(_optax_log_softmax(x), t)))


def _log(x):
    import jax.numpy as jnp

    return jnp.log(x)


def _optax_cosine_distance(y_true, y_pred, *, eps=1e-8):
    return _optax().losses.cosine_distance(y_pred, y_true, epsilon=eps)


def _optax_triplet_margin(anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6):
    return _optax().losses.triplet_margin_loss(anchor, positive, negative, norm_degree=p, margin=margin, eps=eps)


_add("cosine_distance", "optax", _optax_loss(_optax_cosine_distance))
# Optax adds eps to the sum of powers, not to the difference, and raises differences to p without abs.
_add("triplet_margin", "optax", _optax_loss(_optax_triplet_margin))


# --- Keras 3: (y_true, y_pred) on NumPy arrays, in float64. Pointwise inputs get a trailing
# axis of 1 (Keras averages the last axis first). 'mean' is "sum_over_batch_size" unweighted and
# "mean_with_sample_weight" (sum(w l) / sum(w)) weighted; weights come broadcast to the loss shape.

def _keras():
    import os

    # Keras picks its backend at import time; TensorFlow is not a dependency of losskit.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return keras


def _keras_loss(class_name: str, *, pointwise: bool = True, rename: dict | None = None, **fixed):
    rename = rename or {}

    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None, **params):
        if reduction == "mean":
            keras_reduction = "sum_over_batch_size" if sample_weight is None else "mean_with_sample_weight"
        else:
            keras_reduction = reduction
        kwargs = {**fixed, **{rename[k]: v for k, v in params.items() if k in rename}}
        loss = getattr(_keras().losses, class_name)(reduction=keras_reduction, dtype="float64", **kwargs)
        if pointwise:
            y_true, y_pred = y_true[..., None], y_pred[..., None]
        return loss(y_true, y_pred, sample_weight=sample_weight)

    fn.__signature__ = _renamed_signature(rename)
    return fn


def _renamed_signature(rename) -> inspect.Signature:
    """``(y_true, y_pred, *, reduction, sample_weight, <losskit names of the renamed options>)``.

    An adapter whose options are passed through under other names declares the losskit names, so
    that ``Entry.params`` reads them off the signature as for every other adapter.
    """
    P = inspect.Parameter
    return inspect.Signature(
        [P("y_true", P.POSITIONAL_OR_KEYWORD), P("y_pred", P.POSITIONAL_OR_KEYWORD),
         P("reduction", P.KEYWORD_ONLY, default="mean"), P("sample_weight", P.KEYWORD_ONLY, default=None)]
        + [P(name, P.KEYWORD_ONLY, default=None) for name in rename]
    )


def _keras_add(loss: str, class_name: str, **options):
    keras_options = {k: options.pop(k) for k in ("pointwise", "rename", "from_logits") if k in options}
    _add(loss, "keras", _keras_loss(class_name, **keras_options), weighted=("mean",), sample_weight=True, **options)


_keras_add("mean_squared_error", "MeanSquaredError")
_keras_add("half_squared_error", "MeanSquaredError", factor=lambda k: 0.5)
_keras_add("mean_absolute_error", "MeanAbsoluteError")
_keras_add("mean_squared_logarithmic_error", "MeanSquaredLogarithmicError")
_keras_add("mean_absolute_percentage_error", "MeanAbsolutePercentageError")
_keras_add("huber", "Huber", rename={"delta": "delta"})
_keras_add("smooth_l1", "Huber", rename={"beta": "delta"}, factor=lambda k: 1.0 / k.get("beta", 1.0))
_keras_add("log_cosh", "LogCosh")
# Keras adds 1e-7 inside the log: a difference of at most y * 1e-7 / y_pred.
_keras_add("poisson", "Poisson", atol=1e-5)
_keras_add("binary_cross_entropy", "BinaryCrossentropy", rename={"label_smoothing": "label_smoothing"})
_keras_add("sigmoid_cross_entropy", "BinaryCrossentropy", from_logits=True,
           rename={"label_smoothing": "label_smoothing"})
_keras_add("hinge", "Hinge")
_keras_add("squared_hinge", "SquaredHinge")
_keras_add("categorical_cross_entropy", "CategoricalCrossentropy", pointwise=False,
           rename={"label_smoothing": "label_smoothing"})
_keras_add("softmax_cross_entropy", "CategoricalCrossentropy", pointwise=False, from_logits=True,
           rename={"label_smoothing": "label_smoothing"})
_keras_add("sparse_categorical_cross_entropy", "SparseCategoricalCrossentropy", pointwise=False,
           rename={"ignore_index": "ignore_class"})
_keras_add("sparse_softmax_cross_entropy", "SparseCategoricalCrossentropy", pointwise=False, from_logits=True)
_keras_add("kl_divergence", "KLDivergence", pointwise=False)
_keras_add("categorical_hinge", "CategoricalHinge", pointwise=False)


def _keras_sigmoid_focal(y_true, logits, *, reduction="mean", sample_weight=None, gamma=2.0, alpha=None):
    # Keras' alpha applies only with apply_class_balancing=True; losskit's alpha=None is Keras' default off.
    balancing = {} if alpha is None else {"apply_class_balancing": True, "alpha": alpha}
    loss = _keras_loss("BinaryFocalCrossentropy", from_logits=True, gamma=gamma, **balancing)
    return loss(y_true, logits, reduction=reduction, sample_weight=sample_weight)


def _keras_softmax_focal(y_true, logits, *, reduction="mean", sample_weight=None, gamma=2.0):
    # alpha=1.0: Keras multiplies every term by alpha (0.25 by default).
    loss = _keras_loss("CategoricalFocalCrossentropy", pointwise=False, from_logits=True, alpha=1.0, gamma=gamma)
    return loss(y_true, logits, reduction=reduction, sample_weight=sample_weight)


def _keras_sparse_softmax_focal(y_true, logits, *, reduction="mean", sample_weight=None, gamma=2.0):
    one_hot = np.eye(logits.shape[-1], dtype=logits.dtype)[np.asarray(y_true)]
    return _keras_softmax_focal(one_hot, logits, reduction=reduction, sample_weight=sample_weight, gamma=gamma)


for _loss, _fn in (("sigmoid_focal", _keras_sigmoid_focal), ("softmax_focal", _keras_softmax_focal),
                   ("sparse_softmax_focal", _keras_sparse_softmax_focal)):
    _add(_loss, "keras", _fn, weighted=("mean",), sample_weight=True)
del _loss, _fn


def _keras_softmax_focal_alpha(y_true, logits, *, reduction="mean", sample_weight=None, gamma=2.0, class_weight=None):
    # Keras' per-class alpha is class_weight; its mean divides by N, losskit's by the summed label
    # weights, so only 'none' and 'sum' are compared.
    alpha = 1.0 if class_weight is None else [float(w) for w in np.asarray(class_weight)]
    loss = _keras_loss("CategoricalFocalCrossentropy", pointwise=False, from_logits=True, alpha=alpha, gamma=gamma)
    return loss(y_true, logits, reduction=reduction, sample_weight=sample_weight)


def _keras_sparse_softmax_focal_alpha(y_true, logits, *, reduction="mean", sample_weight=None, gamma=2.0,
                                      class_weight=None, ignore_index=None):
    labels = np.asarray(y_true)
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    # An ignored position becomes a zero label row, whose focal loss is 0.
    one_hot = np.eye(logits.shape[-1], dtype=logits.dtype)[np.where(keep, labels, 0)] * keep[..., None]
    return _keras_softmax_focal_alpha(one_hot, logits, reduction=reduction, sample_weight=sample_weight, gamma=gamma,
                                      class_weight=class_weight)


_add("softmax_focal", "keras", _keras_softmax_focal_alpha, reductions=("none", "sum"), weighted=("none", "sum"),
     sample_weight=True, api="keras.losses.CategoricalFocalCrossentropy(from_logits=True, alpha=class_weight, gamma=gamma)")
_add("sparse_softmax_focal", "keras", _keras_sparse_softmax_focal_alpha, reductions=("none", "sum"),
     weighted=("none", "sum"), sample_weight=True,
     api="keras.losses.CategoricalFocalCrossentropy(from_logits=True, alpha=class_weight, gamma=gamma)"
         "(one_hot(y_true) * (y_true != ignore_index), logits)")


def _keras_rmse(y_true, y_pred, *, reduction="mean", sample_weight=None):
    metric = _keras().metrics.RootMeanSquaredError(dtype="float64")
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return metric.result()


_add("root_mean_squared_error", "keras", _keras_rmse, reductions=("mean",), weighted=("mean",), sample_weight=True)
# Keras has no Gaussian likelihood loss: the registry says so, and there is nothing to run.
_add("gaussian_nll", "keras", None)
_add("linear_cross_entropy", "keras", None)
# Keras' CosineSimilarity is -cos: losskit's cosine_distance minus 1, measured by the table.
_keras_add("cosine_distance", "CosineSimilarity", pointwise=False)
for _name in ("cosine_embedding", "margin_ranking", "triplet_margin", "info_nce"):
    _add(_name, "keras", None)


def _keras_overlap(class_name: str, y_true, y_pred, reduction, sample_weight, **options):
    """A Keras overlap loss per (sample, class): its axis= names the spatial axes (channels last)."""
    keras_reduction = {"mean": "sum_over_batch_size" if sample_weight is None else "mean_with_sample_weight"}
    loss = getattr(_keras().losses, class_name)(axis=tuple(range(1, y_pred.ndim - 1)), dtype="float64",
                                                reduction=keras_reduction.get(reduction, reduction), **options)
    return loss(y_true, y_pred, sample_weight=sample_weight)


def _keras_dice(y_true, y_pred, *, reduction="mean", sample_weight=None):
    return _keras_overlap("Dice", y_true, y_pred, reduction, sample_weight)


def _keras_tversky(y_true, y_pred, *, reduction="mean", sample_weight=None, alpha=0.5, beta=0.5):
    # Keras's alpha multiplies sum((1 - p) y), losskit's false negatives: the weights swap.
    return _keras_overlap("Tversky", y_true, y_pred, reduction, sample_weight, alpha=beta, beta=alpha)


_add("dice", "keras", _keras_dice, weighted=("mean",), sample_weight=True)
_add("tversky", "keras", _keras_tversky, weighted=("mean",), sample_weight=True)


# --- scikit-learn: metrics take (y_true, y_pred, sample_weight=) and give the weighted mean of
# the flattened samples; the SGD estimators' and sklearn._loss's per-sample losses are reduced here.

def _sklearn_metric(name: str, *, rows: bool = False, rename: dict | None = None, **fixed):
    """A sklearn.metrics function; pointwise inputs are flattened (losskit means every element,
    scikit-learn would average per-output scores), class-axis inputs become rows of (n, K)."""
    rename = rename or {}

    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None, **params):
        import sklearn.metrics

        if rows:
            labels = y_true.reshape(-1, *y_true.shape[y_pred.ndim - 1:])
            scores = y_pred.reshape(-1, y_pred.shape[-1])
            fixed_labels = {"labels": np.arange(y_pred.shape[-1])}
        else:
            labels, scores, fixed_labels = y_true.ravel(), y_pred.ravel(), {}
        weight = None if sample_weight is None else sample_weight.ravel()
        kwargs = {**fixed, **fixed_labels, **{rename[k]: v for k, v in params.items() if k in rename}}
        return getattr(sklearn.metrics, name)(labels, scores, sample_weight=weight, **kwargs)

    fn.__signature__ = _renamed_signature(rename)
    return fn


def _metric_add(loss: str, name: str, **options):
    metric_options = {k: options.pop(k) for k in ("rows", "rename") if k in options}
    fixed = options.pop("fixed", {})
    _add(loss, "sklearn", _sklearn_metric(name, **metric_options, **fixed), reductions=("mean",), weighted=("mean",),
         sample_weight=True, **options)


_metric_add("mean_squared_error", "mean_squared_error")
_metric_add("mean_absolute_error", "mean_absolute_error")
_metric_add("root_mean_squared_error", "root_mean_squared_error")
_metric_add("mean_squared_logarithmic_error", "mean_squared_log_error")
_metric_add("root_mean_squared_logarithmic_error", "root_mean_squared_log_error")
_metric_add("mean_absolute_percentage_error", "mean_absolute_percentage_error", factor=lambda k: 100.0)
_metric_add("quantile", "mean_pinball_loss", rename={"q": "alpha"})
# The deviance adds y log y - y and doubles the loss ("different" in the registry): run as named.
_metric_add("poisson", "mean_poisson_deviance")
_metric_add("gamma_deviance", "mean_gamma_deviance")
_metric_add("tweedie_deviance", "mean_tweedie_deviance", rename={"power": "power"})
_metric_add("binary_cross_entropy", "log_loss", fixed={"labels": [0.0, 1.0]})
_metric_add("hinge", "hinge_loss")
_metric_add("sparse_categorical_cross_entropy", "log_loss", rows=True)


def _sklearn_log_loss_one_hot(y_true, y_pred, *, reduction="mean", sample_weight=None):
    return _sklearn_metric("log_loss", rows=True)(y_true.argmax(-1), y_pred, sample_weight=sample_weight)


_add("categorical_cross_entropy", "sklearn", _sklearn_log_loss_one_hot, reductions=("mean",), weighted=("mean",),
     sample_weight=True)


def _sgd_loss(estimator: str, name: str, *, parameter: str | None = None, signed_labels: bool = False):
    """The per-sample loss an SGD estimator minimises, read from its ``loss_functions`` table
    (the class and default arguments ``fit`` uses); ``parameter`` names the losskit parameter
    that replaces the default (scikit-learn calls it ``epsilon``). Reduced here."""

    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None, **params):
        import sklearn.linear_model

        loss_class, *arguments = getattr(sklearn.linear_model, estimator).loss_functions[name]
        if parameter is not None:
            arguments = [params.get(parameter, arguments[0])]
        loss = loss_class(*arguments)
        # SGD's classifiers see {-1, +1} targets, except log_loss which keeps {0, 1}.
        target = np.where(y_true > 0, 1.0, -1.0) if signed_labels else np.asarray(y_true, dtype=np.float64)
        raw = np.ascontiguousarray(y_pred.ravel(), dtype=np.float64)
        target = np.ascontiguousarray(target.ravel())
        if hasattr(loss, "py_loss"):
            values = np.array([loss.py_loss(p, y) for p, y in zip(raw, target)])
        else:
            values = np.empty_like(raw)
            loss.loss(y_true=target, raw_prediction=raw, sample_weight=None, loss_out=values, n_threads=1)
        return _mean_here(values.reshape(y_pred.shape), reduction, sample_weight, np)

    P = inspect.Parameter
    fn.__signature__ = inspect.Signature(
        [P("y_true", P.POSITIONAL_OR_KEYWORD), P("y_pred", P.POSITIONAL_OR_KEYWORD),
         P("reduction", P.KEYWORD_ONLY, default="mean"), P("sample_weight", P.KEYWORD_ONLY, default=None)]
        + ([P(parameter, P.KEYWORD_ONLY, default=None)] if parameter else [])
    )
    return fn


def _sgd_add(loss: str, estimator: str, name: str, **options):
    sgd_options = {k: options.pop(k) for k in ("parameter", "signed_labels") if k in options}
    _add(loss, "sklearn", _sgd_loss(estimator, name, **sgd_options), weighted=REDUCTIONS, **options)


_sgd_add("half_squared_error", "SGDRegressor", "squared_error")
_sgd_add("huber", "SGDRegressor", "huber", parameter="delta")
_sgd_add("epsilon_insensitive", "SGDRegressor", "epsilon_insensitive", parameter="epsilon")
_sgd_add("sigmoid_cross_entropy", "SGDClassifier", "log_loss")
_sgd_add("squared_hinge", "SGDClassifier", "squared_hinge", signed_labels=True)
_sgd_add("modified_huber", "SGDClassifier", "modified_huber", signed_labels=True)
_sgd_add("hinge", "SGDClassifier", "hinge", signed_labels=True, api="SGDClassifier(loss='hinge')")


def _sklearn_loss_class(class_name: str, *, raw: Callable = lambda p: p, classes: bool = False,
                        parameters: dict | None = None):
    """A ``sklearn._loss`` class: per-sample losses (its own weighted mean for 'mean').

    ``raw`` maps losskit's prediction to scikit-learn's raw prediction (the log rate of the
    Poisson loss); ``parameters`` maps losskit parameter names to the class's.
    """
    parameters = parameters or {}

    def make(y_pred, params):
        from sklearn._loss import loss as sk

        kwargs = {parameters[k]: v for k, v in params.items() if k in parameters}
        if classes:
            kwargs["n_classes"] = y_pred.shape[-1]
        return getattr(sk, class_name)(**kwargs)

    def flat(y_true, y_pred):
        # scikit-learn's loops take labels in the raw prediction's float dtype.
        dtype = y_pred.dtype if y_pred.dtype in (np.float32, np.float64) else np.float64
        labels = np.ascontiguousarray(np.asarray(y_true, dtype=dtype).ravel())
        width = (y_pred.shape[-1],) if classes else ()
        return labels, np.ascontiguousarray(raw(y_pred).reshape(-1, *width))

    def fn(y_true, y_pred, *, reduction="mean", sample_weight=None, **params):
        loss = make(y_pred, params)
        labels, prediction = flat(y_true, y_pred)
        weight = None if sample_weight is None else np.ascontiguousarray(sample_weight.ravel())
        if reduction == "mean" and not classes:
            return loss(labels, prediction, sample_weight=weight)
        values = loss.loss(labels, prediction).reshape(y_true.shape)
        return _mean_here(values, reduction, sample_weight, np)

    def value_and_grad(y_true, y_pred, **params):
        return make(y_pred, params).loss_gradient(*flat(y_true, y_pred))

    P = inspect.Parameter
    fn.__signature__ = inspect.Signature(
        [P("y_true", P.POSITIONAL_OR_KEYWORD), P("y_pred", P.POSITIONAL_OR_KEYWORD),
         P("reduction", P.KEYWORD_ONLY, default="mean"), P("sample_weight", P.KEYWORD_ONLY, default=None)]
        + [P(name, P.KEYWORD_ONLY, default=None) for name in parameters]
    )
    return fn, value_and_grad


def _loss_class_add(loss: str, class_name: str, api: str, **options):
    class_options = {k: options.pop(k) for k in ("raw", "classes", "parameters") if k in options}
    fn, value_and_grad = _sklearn_loss_class(class_name, **class_options)
    _add(loss, "sklearn", fn, weighted=REDUCTIONS, sample_weight=True, value_and_grad=value_and_grad,
         api=api, **options)


_loss_class_add("half_squared_error", "HalfSquaredError", "sklearn._loss.loss.HalfSquaredError()")
_loss_class_add("mean_absolute_error", "AbsoluteError", "sklearn._loss.loss.AbsoluteError()")
_loss_class_add("quantile", "PinballLoss", "sklearn._loss.loss.PinballLoss(quantile=q)", parameters={"q": "quantile"})
_loss_class_add("huber", "HuberLoss", "sklearn._loss.loss.HuberLoss(delta=delta)", parameters={"delta": "delta"})
_loss_class_add("poisson", "HalfPoissonLoss", "sklearn._loss.loss.HalfPoissonLoss()(y_true, log(y_pred))", raw=np.log)
_loss_class_add("sigmoid_cross_entropy", "HalfBinomialLoss", "sklearn._loss.loss.HalfBinomialLoss()")
_loss_class_add("sparse_softmax_cross_entropy", "HalfMultinomialLoss",
                "sklearn._loss.loss.HalfMultinomialLoss(n_classes)", classes=True)


# --- SciPy: NumPy functions; jensenshannon is the distance, squared here to give the divergence.

def _scipy_jensen_shannon(y_true, y_pred, *, reduction="mean", sample_weight=None):
    from scipy.spatial import distance

    values = distance.jensenshannon(y_true, y_pred, axis=-1) ** 2
    return _mean_here(values, reduction, sample_weight, np)


_add("jensen_shannon", "scipy", _scipy_jensen_shannon, weighted=REDUCTIONS)


# --- TensorFlow: tf.nn's fused per-example losses on tensors (its Keras losses are the keras
# column), reduced here by the contract's rule.

def _tf_reduce(values, reduction, sample_weight):
    from .backends import tensorflow_namespace

    return _mean_here(values, reduction, sample_weight, tensorflow_namespace)


def _tf_sigmoid_cross_entropy(y_true, logits, *, reduction="mean", sample_weight=None, pos_weight=None):
    import tensorflow as tf

    if pos_weight is None:
        values = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits)
    else:
        values = tf.nn.weighted_cross_entropy_with_logits(labels=y_true, logits=logits, pos_weight=pos_weight)
    return _tf_reduce(values, reduction, sample_weight)


def _tf_softmax_cross_entropy(y_true, logits, *, reduction="mean", sample_weight=None):
    import tensorflow as tf

    return _tf_reduce(tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits), reduction, sample_weight)


def _tf_sparse_softmax_cross_entropy(y_true, logits, *, reduction="mean", sample_weight=None):
    import tensorflow as tf

    values = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y_true, tf.int64), logits=logits)
    return _tf_reduce(values, reduction, sample_weight)


def _tf_squared_difference(y_true, y_pred, *, reduction="mean", sample_weight=None):
    import tensorflow as tf

    return _tf_reduce(tf.math.squared_difference(y_pred, y_true), reduction, sample_weight)


_add("sigmoid_cross_entropy", "tensorflow", _tf_sigmoid_cross_entropy, weighted=REDUCTIONS, sample_weight=True)
_add("softmax_cross_entropy", "tensorflow", _tf_softmax_cross_entropy, weighted=REDUCTIONS, sample_weight=True)
_add("sparse_softmax_cross_entropy", "tensorflow", _tf_sparse_softmax_cross_entropy, weighted=REDUCTIONS,
     sample_weight=True)
_add("mean_squared_error", "tensorflow", _tf_squared_difference, weighted=REDUCTIONS, sample_weight=True)


# ----------------------------------------------------------------------------------- joins

@functools.lru_cache(maxsize=None)
def _joined() -> tuple[Entry, ...]:
    from ._registry import catalog

    text = {(loss.name, e.framework): e for loss in catalog() for e in loss.equivalents}
    joined = []
    for spec in _SPECS:
        if spec.documented:
            registry = text.get((spec.loss, spec.framework))
            if registry is None:
                raise LookupError(f"equivalents.py runs {spec.framework}'s {spec.loss}, which its registry entry does "
                                  "not list under equivalents; add the text there or give an api= here")
            spec = dataclasses.replace(spec, api=registry.api, relation=registry.relation, note=registry.note)
        joined.append(spec)
    return tuple(joined)


def entries(loss: str | None = None, framework: str | None = None, *, documented: bool | None = None) -> list[Entry]:
    """Every runnable equivalent, in the order added; optionally of one loss, framework, or kind.

    ``framework`` uses the registry's names (``torch``, ``optax``, ``keras``, ``sklearn``,
    ``monai``, ``kornia``, ``scipy``, ``tensorflow``);
    ``documented=True`` keeps the registry's entries, ``False`` the additional references.
    """
    if loss is not None:
        from ._registry import get

        loss = get(loss).name
    return [
        e for e in _joined()
        if (loss is None or e.loss == loss) and (framework is None or e.framework == framework)
        and (documented is None or e.documented == documented)
    ]


def find(loss: str, framework: str) -> Entry | None:
    """The registry's equivalent of ``loss`` in ``framework``, or None if the registry lists none."""
    found = entries(loss, framework, documented=True)
    return found[0] if found else None
