"""Early, explicit input checks. Every message names the argument and says how to fix it."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._array import Namespace, finfo, is_concrete


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _reshape_hint(true_shape: tuple, pred_shape: tuple, pred_name: str) -> str:
    if true_shape == pred_shape[:-1] and pred_shape[-1:] == (1,):
        return f"reshape y_true to {_shape(pred_shape)} (y_true[..., None]) or {pred_name} to {_shape(true_shape)}"
    if pred_shape == true_shape[:-1] and true_shape[-1:] == (1,):
        return f"reshape y_true to {_shape(pred_shape)} (y_true[..., 0]) or {pred_name} to {_shape(true_shape)}"
    if math.prod(true_shape) == math.prod(pred_shape):
        return f"reshape y_true to {_shape(pred_shape)} if the elements correspond one to one"
    return "pass arrays with one target per prediction"


def check_same_shape(y_true: Any, y_pred: Any, pred_name: str = "y_pred") -> None:
    """Pointwise losses never broadcast: (N,) against (N, 1) is a bug, not an outer product."""
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if true_shape != pred_shape:
        raise ValueError(
            f"y_true has shape {_shape(true_shape)} but {pred_name} has shape {_shape(pred_shape)}; "
            f"losskit never broadcasts them: {_reshape_hint(true_shape, pred_shape, pred_name)}"
        )


def check_class_axis(y_pred: Any, pred_name: str) -> None:
    if y_pred.ndim < 1 or y_pred.shape[-1] < 1:
        raise ValueError(
            f"{pred_name} must have a class axis last, shape (..., num_classes); got {_shape(tuple(y_pred.shape))}"
        )


def _channels_first(true_shape: tuple, pred_shape: tuple) -> bool:
    """Labels (N, d1, ...) against PyTorch's (N, C, d1, ...) read with the class axis last."""
    return len(pred_shape) >= 3 and true_shape == pred_shape[:1] + pred_shape[2:]


_AXIS_1 = "PyTorch's channels-first (N, C, d1, ...) layout has its class axis at 1: pass axis=1"


def check_dense_labels_shape(y_true: Any, y_pred: Any, pred_name: str, sparse_name: str) -> None:
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if true_shape == pred_shape:
        return
    if _channels_first(true_shape, pred_shape):
        raise ValueError(
            f"y_true has shape {_shape(true_shape)}, which looks like integer class labels for {pred_name} "
            f"of shape {_shape(pred_shape)} with its classes on axis 1; {_AXIS_1} to {sparse_name} for integer "
            f"labels, or one-hot encode y_true to {_shape(pred_shape)} and pass axis=1 here"
        )
    if true_shape == pred_shape[:-1]:
        raise ValueError(
            f"y_true has shape {_shape(true_shape)}, which looks like integer class labels for {pred_name} "
            f"of shape {_shape(pred_shape)}; use {sparse_name} for integer labels, or one-hot encode y_true "
            f"to {_shape(pred_shape)}"
        )
    raise ValueError(
        f"y_true has shape {_shape(true_shape)} but {pred_name} has shape {_shape(pred_shape)}; "
        f"one-hot or soft labels must have exactly the shape of {pred_name} (..., num_classes)"
    )


def check_sparse_labels_shape(y_true: Any, y_pred: Any, pred_name: str, dense_name: str) -> None:
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if true_shape == pred_shape[:-1]:
        return
    if true_shape == pred_shape:
        hint = f"these look like one-hot labels: use {dense_name}, or pass y_true.argmax(-1)"
    elif _channels_first(true_shape, pred_shape):
        hint = f"{_AXIS_1} (the class axis of {pred_name}; the default, axis=-1, takes the classes last)"
    elif true_shape == pred_shape[:-1] + (1,):
        hint = f"drop the trailing axis of y_true: y_true[..., 0] has shape {_shape(pred_shape[:-1])}"
    else:
        hint = f"integer labels must have the shape of {pred_name} without its class axis, {_shape(pred_shape[:-1])}"
    raise ValueError(
        f"y_true has shape {_shape(true_shape)} but {pred_name} has shape {_shape(pred_shape)}; {hint}"
    )


def check_sample_weight_shape(sample_weight: Any, loss_shape: tuple) -> None:
    weight_shape = tuple(sample_weight.shape)
    if weight_shape != tuple(loss_shape[: len(weight_shape)]):
        raise ValueError(
            f"sample_weight has shape {_shape(weight_shape)}, which is not a prefix of the unreduced loss "
            f"shape {_shape(tuple(loss_shape))}; pass one weight per sample, shape {_shape(tuple(loss_shape[:1]))}"
        )


def _first_offender(xp: Namespace, bad: Any, values: Any) -> str:
    """Describe one offending element (value and index) for an error message."""
    flat_bad = xp.reshape(bad, (-1,))
    position = int(xp.argmax(xp.astype(flat_bad, xp.int32)))
    value = float(xp.reshape(values, (-1,))[position])
    shape = tuple(values.shape)
    index = []
    for size in reversed(shape):
        index.append(position % size)
        position //= size
    return f"{value:g} at index {tuple(reversed(index))}"


@dataclass(frozen=True)
class Domain:
    """A closed or open interval that the values of an input must lie in (NaN always passes).

    NaN is let through on purpose: NaN in gives NaN out, so a diverged model is visible in the
    loss rather than hidden behind a ValueError about a value it never produced.
    """

    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = True
    high_inclusive: bool = True
    description: str = ""

    def violations(self, xp: Namespace, x: Any) -> Any:
        below = (x < self.low) if self.low_inclusive else (x <= self.low)
        above = (x > self.high) if self.high_inclusive else (x >= self.high)
        return below | above

    def contains(self, low: float, high: float) -> bool:
        """Whether [low, high] lies inside the domain (False when either is NaN)."""
        above_low = low >= self.low if self.low_inclusive else low > self.low
        below_high = high <= self.high if self.high_inclusive else high < self.high
        return above_low and below_high

    def check(self, xp: Namespace, x: Any, arg_name: str, hint: str = "") -> None:
        if not is_concrete(x):
            return
        # The common case first: two reductions and two reads instead of three passes, an any()
        # and a read. A NaN makes both extremes NaN and falls through to the elementwise test,
        # which lets it pass; a violation falls through to it for the message.
        if x.ndim == 0 or math.prod(x.shape) > 0:
            smallest, largest = xp.min(x), xp.max(x)
            if not is_concrete(smallest):  # jax.jit: a closed-over concrete x still traces
                return
            smallest, largest = _read_together(smallest, largest)
            if self.contains(_scalar(smallest), _scalar(largest)):
                return
        bad = self.violations(xp, x)
        # Under jax.jit even a closed-over concrete x gives a traced comparison: test the result too.
        if is_concrete(bad) and bool(xp.any(bad)):
            raise ValueError(
                f"{arg_name} must be {self.description}; found {_first_offender(xp, bad, x)}"
                + (f". {hint}" if hint else "")
            )


def _read_together(*arrays: Any) -> tuple:
    """Lazy (Dask) reductions computed in one pass over the data instead of one pass each."""
    dask = sys.modules.get("dask")
    if dask is not None and dask.is_dask_collection(arrays[0]):
        return dask.compute(*arrays)
    return arrays


def _scalar(x: Any) -> float:
    """A 0-d array as a Python float; a tensor that requires grad is read without its graph."""
    detach = getattr(x, "detach", None)
    return float(detach() if detach is not None else x)


def check_no_nan(xp: Namespace, x: Any, arg_name: str, description: str = "") -> None:
    """Raise ``ValueError`` naming ``arg_name`` if ``x`` holds a NaN (concrete values only).

    For the inputs whose NaN is a caller's bug rather than a model's output: parameter arrays
    (class_weight, pos_weight), sample weights, class labels.
    """
    if not is_concrete(x) or math.prod(x.shape) == 0:
        return
    nan = xp.isnan(x)
    any_nan = xp.any(nan)
    if is_concrete(any_nan) and bool(any_nan):
        what = description or "a number, not NaN"
        raise ValueError(f"{arg_name} must be {what}; found {_first_offender(xp, nan, x)}")


def check_index_range(xp: Namespace, labels: Any, num_classes: int, ignore_index: int | None, message: str) -> None:
    """Integer labels must lie in [0, num_classes) or equal ``ignore_index`` (concrete values only)."""
    if not is_concrete(labels) or math.prod(labels.shape) == 0:
        return
    smallest, largest = xp.min(labels), xp.max(labels)
    if not is_concrete(smallest):
        return
    smallest, largest = _read_together(smallest, largest)
    if 0 <= int(smallest) and int(largest) < num_classes:
        return
    ok = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        ok = ok | (labels == ignore_index)
    check_values(xp, ok, labels, message)


def check_values(xp: Namespace, ok: Any, x: Any, message: str) -> None:
    """Raise ``ValueError(message + offender)`` unless ``ok`` holds everywhere (concrete values only)."""
    if not is_concrete(x) or not is_concrete(ok):
        return
    if not bool(xp.all(ok)):
        raise ValueError(f"{message}; found {_first_offender(xp, ~ok, x)}")


def check_rows_sum_to_one(xp: Namespace, x: Any, arg_name: str, hint: str = "") -> None:
    """Rows on the last axis must sum to 1 within max(sqrt(machine eps), 1e-4)."""
    if not is_concrete(x) or x.shape[-1] == 0:
        return
    # Loose enough for a float32 softmax cast to float64 or summed over 10^5 classes, tight enough
    # to catch sigmoid outputs or logits passed where a distribution is expected.
    tolerance = max(math.sqrt(float(finfo(xp, x.dtype).eps)), 1e-4)
    totals = xp.sum(x, axis=-1)
    bad = xp.abs(totals - 1.0) > tolerance
    if is_concrete(bad) and bool(xp.any(bad)):
        raise ValueError(
            f"each row of {arg_name} must sum to 1 over the last (class) axis; a row sums to "
            f"{_first_offender(xp, bad, totals)}" + (f". {hint}" if hint else "")
        )


# Parameter validators: plain Python values, checked once per call before any arithmetic.

Validator = Callable[[str, Any], Any]


def _as_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number; got {value!r}") from None
    if math.isnan(number):
        raise ValueError(f"{name} must be a number, not NaN")
    return number


def positive(name: str, value: Any) -> float:
    number = _as_real(name, value)
    if not number > 0 or math.isinf(number):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return number


def non_negative(name: str, value: Any) -> float:
    number = _as_real(name, value)
    if not number >= 0 or math.isinf(number):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return number


def open_unit_interval(name: str, value: Any) -> float:
    number = _as_real(name, value)
    if not 0 < number < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {value!r}")
    return number


def closed_unit_interval(name: str, value: Any) -> float:
    number = _as_real(name, value)
    if not 0 <= number <= 1:
        raise ValueError(f"{name} must lie in [0, 1]; got {value!r}")
    return number


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def optional_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an integer or None; got {type(value).__name__}")
    return int(value)


def passthrough(name: str, value: Any) -> Any:
    return value
