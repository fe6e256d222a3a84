"""The :class:`Loss` object: one implementation, its calling convention, its gradient and its metadata."""

from __future__ import annotations

import dataclasses
import inspect
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from . import _autodiff
from . import _validation as V
from ._array import (
    _NAMESPACE_BY_TYPE, Namespace, _library_name, as_array, finfo, floating_dtypes, is_concrete, is_floating, is_integral, namespace_of,
)
from ._reduction import REDUCTIONS, check_reduction

TASKS = ("regression", "binary", "multiclass", "segmentation", "embedding")
PREDICTION_SPACES = ("values", "probabilities", "logits", "scores", "log-probabilities")
# How the last axis is used: pointwise losses pair elements one to one; "dense" losses take
# one-hot or soft labels of the prediction's shape; "sparse" ones take integer labels;
# "overlap" losses (Dice) sum over every axis but the batch axis (0) and the class axis, one
# loss per sample and class; "rowwise" losses reduce a feature axis (an embedding) to one loss
# per row. Every kind but pointwise takes axis= for that last axis.
KINDS = ("pointwise", "dense", "sparse", "overlap", "rowwise")

LABEL_FORMATS = {
    "real": "real values",
    "non-negative": "non-negative real values",
    "positive": "positive real values (> 0)",
    "counts": "non-negative counts (rates' targets)",
    "binary": "{0, 1} or probabilities in [0, 1] (soft labels)",
    "signed": "{-1, +1}, or {0, 1} converted to {-1, +1}",
    "one-hot": "one-hot or soft labels (rows sum to 1)",
    "integer": "integer class indices in [0, num_classes)",
    "distribution": "probability distributions (rows sum to 1)",
}


class KernelResult(NamedTuple):
    """What a loss kernel returns, all unreduced.

    ``loss``: the loss of each element (or sample); ``grad``: its derivative with respect to the
    prediction (a tuple, one per prediction, for a loss with several); ``norm``: the mean's
    normaliser per term (None for 1); ``hess``: the diagonal of the second derivative (kernels of
    losses with ``has_hessian``, when called with ``with_hess=True``).
    """

    loss: Any
    grad: Any | None = None
    norm: Any | None = None
    hess: Any | None = None


@dataclass(frozen=True)
class Param:
    """A loss parameter: its default, its valid range (as text) and its validator."""

    name: str
    default: Any
    constraint: str
    description: str
    validate: V.Validator = V.passthrough
    is_array: bool = False


@dataclass(frozen=True)
class Equivalent:
    """The same loss in another framework, and exactly how it differs."""

    framework: str  # "torch", "keras", "optax", "sklearn"
    api: str
    relation: str  # "equal", "scaled", "different"
    note: str = ""


@dataclass(frozen=True)
class Loss:
    """A loss function of the catalog, callable as ``loss(y_true, y_pred, *, params, sample_weight, reduction)``.

    Use the catalog's instances (``losskit.huber``, ``losskit.get("mse")``); the attributes
    below are the registry's metadata, read by the command line, the docs and the advisor.
    Every way of calling a loss (``loss(...)``, ``.grad``, ``.value_and_grad``, ``.hessian``, the
    PyTorch modules, the Keras losses) goes through :meth:`prepare` once and then through the
    kernel registry (:mod:`losskit._kernels`), so each door gives the same numbers.
    """

    name: str
    kernel: Callable[..., KernelResult] = field(repr=False)
    task: str
    kind: str
    prediction_space: str
    label_format: str
    summary: str
    formula: str
    gradient_formula: str
    output_activation: str
    convex: bool
    robust_to_outliers: bool
    differentiable: bool
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    reductions: tuple[str, ...] = REDUCTIONS
    root: bool = False
    check_inputs: Callable[..., None] | None = field(default=None, repr=False)
    # The prediction inputs, in call order (default: one, named y_pred or logits), and the shape
    # rule of each after the first: "same" (the first prediction's shape) or "loss" (the shape of
    # the unreduced loss, e.g. one variance per sample).
    inputs: tuple[str, ...] = ()
    input_shapes: tuple[str, ...] = ()
    has_target: bool = True
    # The kernel also returns the diagonal of the Hessian when called with with_hess=True.
    has_hessian: bool = False
    # The shape of y_true: "same" (the first prediction's) or "loss" (one label per loss term);
    # default "loss" for sparse losses, "same" otherwise.
    target_shape: str = ""
    description: str = ""
    when_to_use: str = ""
    when_not_to_use: str = ""
    pitfalls: tuple[str, ...] = ()
    equivalents: tuple[Equivalent, ...] = ()
    references: tuple[str, ...] = ()
    example: str = ""
    pair: str | None = None  # the catalog's twin in the other prediction space or label format

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}")
        if self.prediction_space not in PREDICTION_SPACES:
            raise ValueError(f"prediction_space must be one of {PREDICTION_SPACES}; got {self.prediction_space!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")
        if self.label_format not in LABEL_FORMATS:
            raise ValueError(f"label_format must be one of {tuple(LABEL_FORMATS)}; got {self.label_format!r}")
        if not self.inputs:
            object.__setattr__(self, "inputs", ("logits" if self.prediction_space == "logits" else "y_pred",))
        if not self.input_shapes:
            object.__setattr__(self, "input_shapes", ("same",) * (len(self.inputs) - 1))
        # "free": the shape is the loss's own business (a weight matrix), checked by check_inputs.
        if len(self.input_shapes) != len(self.inputs) - 1 or not set(self.input_shapes) <= {"same", "loss", "free"}:
            raise ValueError(
                f"input_shapes must give 'same', 'loss' or 'free' for each input after the first; got {self.input_shapes!r}"
            )
        if not self.target_shape:
            object.__setattr__(self, "target_shape", "loss" if self.kind == "sparse" else "same")
        if self.target_shape not in ("same", "loss"):
            raise ValueError(f"target_shape must be 'same' or 'loss'; got {self.target_shape!r}")
        object.__setattr__(self, "_defaults", {p.name: p.default for p in self.params})
        object.__setattr__(self, "_plans", {})
        object.__setattr__(self, "_array_params", tuple(p.name for p in self.params if p.is_array))
        object.__setattr__(self, "_argument_names", (("y_true",) if self.has_target else ()) + self.inputs)
        object.__setattr__(self, "__signature__", self._signature())
        object.__setattr__(self, "__doc__", self._docstring())

    # ----------------------------------------------------------------------------- the contract

    @property
    def pred_name(self) -> str:
        """The name of the (first) prediction argument: ``logits`` for losses on logits, else ``y_pred``."""
        return self.inputs[0]

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self._defaults)

    @property
    def formula_text(self) -> str:
        """:attr:`formula` as Unicode text for terminals: ``ℓ = ½e² if |e| ≤ δ, else δ(|e| − ½δ), …``."""
        from ._formula import latex_to_text

        return latex_to_text(self.formula)

    @property
    def gradient_formula_text(self) -> str:
        """:attr:`gradient_formula` as Unicode text for terminals (see :attr:`formula_text`)."""
        from ._formula import latex_to_text

        return latex_to_text(self.gradient_formula)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.evaluate(self.prepare(args, kwargs, order=0))[0]

    def grad(self, *args: Any, **kwargs: Any) -> Any:
        """Gradient of the reduced loss with respect to the prediction (same shape as it).

        Derived by hand from the formula, so plain NumPy can run gradient descent. For
        ``reduction="none"`` it is the gradient of the (weighted) sum of the unreduced loss. A loss
        with several prediction inputs returns a tuple, one gradient per prediction.
        """
        return self.evaluate(self.prepare(args, kwargs, order=1))[1]

    def value_and_grad(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """``(loss(...), loss.grad(...))`` computed in one pass that shares the intermediates.

        On NumPy with the ``fast`` extra (numba), the losses that have a fused kernel compute
        both in one compiled loop (see :mod:`losskit.backends.numpy_fused`); ``loss(...)`` and
        ``.grad`` take the same kernel.
        """
        value, gradient, _ = self.evaluate(self.prepare(args, kwargs, order=1))
        return value, gradient

    def hessian(self, *args: Any, **kwargs: Any) -> Any:
        """Diagonal of the Hessian of the reduced loss with respect to the prediction.

        Elementwise for pointwise losses; for losses over a class axis the diagonal
        ``d^2 L / d x_c^2`` per class, as scikit-learn's ``gradient_hessian`` gives for the
        multinomial loss. Newton steps and gradient-boosting objectives use it with
        :meth:`grad_and_hessian`.
        """
        return self.grad_and_hessian(*args, **kwargs)[1]

    def grad_and_hessian(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """``(loss.grad(...), loss.hessian(...))`` from one evaluation of the kernel."""
        if not self.has_hessian:
            raise NotImplementedError(
                f"{self.name} has no analytic Hessian; losses that have one: "
                + ", ".join(loss.name for loss in _catalog() if loss.has_hessian)
            )
        _, gradient, hess = self.evaluate(self.prepare(args, kwargs, order=2))
        return gradient, hess

    def with_params(self, **params: Any) -> "Loss":
        """A copy of this loss whose parameter defaults are ``params`` (e.g. ``huber.with_params(delta=0.5)``)."""
        self.bind_params(params)
        known = {p.name: p for p in self.params}
        new_params = tuple(dataclasses.replace(known[p.name], default=params.get(p.name, p.default)) for p in self.params)
        return dataclasses.replace(self, params=new_params)

    # ---------------------------------------------------------------------------- the machinery

    def _split_arguments(self, args: tuple, kwargs: dict) -> tuple[list, dict]:
        names = self._argument_names
        if len(args) > len(names):
            raise TypeError(
                f"{self.name}() takes {', '.join(names)} positionally; pass the rest by keyword "
                f"({', '.join(self._keyword_names())})"
            )
        values = list(args)
        for arg_name in names[len(args):]:
            value = kwargs.pop(arg_name, _MISSING)
            if value is _MISSING:
                raise TypeError(f"{self.name}() missing required argument {arg_name!r}")
            values.append(value)
        return values, kwargs

    def _keyword_names(self) -> list[str]:
        extra = ["axis"] if self.kind != "pointwise" else []
        return [p.name for p in self.params] + extra + ["sample_weight", "reduction"]

    def bind_params(self, given: dict) -> dict:
        """Validate the loss parameters in ``given`` and complete them with the defaults."""
        defaults = self._defaults
        for key in given:
            if key not in defaults and key not in ("sample_weight", "reduction", "axis"):
                raise TypeError(
                    f"{self.name}() got an unexpected keyword argument {key!r}; "
                    f"it accepts {', '.join(self._keyword_names())}"
                )
        bound = {}
        for param in self.params:
            value = given.get(param.name, param.default)
            bound[param.name] = value if param.is_array else param.validate(param.name, value)
        return bound

    _bind_params = bind_params

    def prepare(self, args: tuple, kwargs: dict, *, order: int = 0) -> "Call":
        """Normalise one call once: namespace, dtypes, shapes, class axis, weights, parameters, checks.

        A training loop calls a loss with arrays of the same types, dtypes and shapes and the same
        scalar options every step, so everything but the value checks is decided once per such
        signature and reused (``_PreparedPlan``); a call that needed a conversion, an axis move,
        weights or array parameters always takes the whole path.
        """
        key = _plan_key(args, kwargs, len(self._argument_names))
        if key is not None:
            plan = self._plans.get(key)
            if plan is not None:
                return plan.call(args, order)
        call, cacheable = self._prepare(args, kwargs, order)
        if key is not None and cacheable:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = _PreparedPlan(call)
        return call

    def _prepare(self, args: tuple, kwargs: dict, order: int) -> tuple["Call", bool]:
        values, kwargs = self._split_arguments(args, dict(kwargs))
        sample_weight = kwargs.pop("sample_weight", None)
        reduction = check_reduction(kwargs.pop("reduction", "mean"), self.reductions, self.name)
        axis = kwargs.pop("axis", -1)
        if axis != -1 and self.kind == "pointwise":
            raise TypeError(f"{self.name}() got an unexpected keyword argument 'axis'; it has no class axis")
        params = self.bind_params(kwargs)
        array_params = {name: params[name] for name in self._array_params if params[name] is not None}
        names = self._argument_names
        named = dict(zip(names, values))

        xp = namespace_of(**named, sample_weight=sample_weight, **array_params)
        # Python scalars and lists are converted at the floating dtype of the call's arrays (a
        # list next to a float64 tensor is float64), as the array API's weakly typed scalars.
        given_dtype = _given_floating_dtype(xp, [named[n] for n in self.inputs]
                                            + ([named["y_true"]] if self.has_target else []))
        first = as_array(xp, values[len(names) - len(self.inputs)], self.pred_name, dtype=given_dtype)
        predictions = [first] + [as_array(xp, named[n], n, like=first, dtype=given_dtype) for n in self.inputs[1:]]
        y_true = (as_array(xp, named["y_true"], "y_true", like=first, dtype=None if self.label_format == "integer"
                           else given_dtype) if self.has_target else None)
        integer_labels = self.label_format == "integer"
        float_true = y_true if self.has_target and not integer_labels else None
        out_dtype, compute_dtype = floating_dtypes(xp, *predictions, float_true)

        moved = False
        if self.kind != "pointwise":
            axis = _class_axis(axis, first, self.pred_name)
            if self.kind == "overlap" and axis == 0 and first.ndim > 1:
                raise ValueError(
                    f"axis=0 is the batch axis of {self.name}; pass the class axis (1 for PyTorch's and MONAI's "
                    "(N, C, d1, ...) layout, -1 for channels last)"
                )
            if axis != first.ndim - 1:
                # The kernels see the class axis last; gradients are moved back in evaluate().
                # Only arrays of the first prediction's shape move; their shapes are checked after.
                shape = tuple(first.shape)
                predictions = [
                    xp.moveaxis(p, axis, -1) if i == 0 or (self.input_shapes[i - 1] == "same" and tuple(p.shape) == shape)
                    else p for i, p in enumerate(predictions)
                ]
                first = predictions[0]
                if y_true is not None and self.target_shape == "same" and tuple(y_true.shape) == shape:
                    y_true = xp.moveaxis(y_true, axis, -1)
                moved = True
        loss_shape = self._check_shapes(xp, y_true, predictions, params)
        backend = _library_name(xp)
        if integer_labels and backend in ("torch", "tensorflow") and y_true.dtype != xp.int64:
            # torch's gather and take index with int64 only; TensorFlow compares only equal dtypes.
            y_true = xp.astype(y_true, xp.int64)

        # Values are checked as given, so tolerances (rows summing to 1) follow the caller's
        # precision: a bfloat16 softmax row is off by up to 2^-8, beyond float32's tolerance.
        given = [p if is_floating(xp, p) else xp.astype(p, out_dtype) for p in predictions]
        if y_true is not None and not integer_labels and not is_floating(xp, y_true):
            given_true = xp.astype(y_true, out_dtype)
        else:
            given_true = y_true
        predictions = [p if p.dtype == compute_dtype else xp.astype(p, compute_dtype) for p in predictions]
        if float_true is not None and y_true.dtype != compute_dtype:
            y_true = xp.astype(y_true, compute_dtype)
        differentiable = _differentiable_array_params(self)
        for name, value in array_params.items():
            converted = as_array(xp, value, name, like=first, dtype=compute_dtype)
            if name not in differentiable:
                # A weight given as a parameter (class_weight, pos_weight) is a constant of the
                # caller's: a NaN in it is a bug, not a value to propagate (a learned bias may be NaN).
                V.check_no_nan(xp, converted, name)
            params[name] = converted if converted.dtype == compute_dtype else xp.astype(converted, compute_dtype)

        weight = None
        if sample_weight is not None:
            weight = as_array(xp, sample_weight, "sample_weight", like=first, dtype=compute_dtype)
            if weight.dtype != compute_dtype:
                weight = xp.astype(weight, compute_dtype)
            V.check_sample_weight_shape(weight, loss_shape)
            # NaN sample weights raise (scikit-learn's rule), where the values can be read: one
            # NaN weight would make the whole weighted mean NaN.
            V.Domain(0.0, description="non-negative").check(xp, weight, "sample_weight")
            V.check_no_nan(xp, weight, "sample_weight", "non-negative and not NaN")

        if self.check_inputs is not None:
            self.check_inputs(xp, given_true, *given, params)
        call = Call(
            loss=self, xp=xp, backend=backend, y_true=y_true, predictions=tuple(predictions),
            params=params, weight=weight, reduction=reduction, order=order, out_dtype=out_dtype,
            compute_dtype=compute_dtype, loss_shape=loss_shape, axis=axis if moved else None,
        )
        unchanged = all(p is v for p, v in zip(call.predictions, values[len(values) - len(self.inputs):]))
        unchanged = unchanged and (not self.has_target or y_true is values[0]) and given_true is y_true
        cacheable = unchanged and not moved and weight is None and not array_params
        return call, cacheable

    def loss_shape(self, shape: tuple, params: dict) -> tuple:
        """The shape of the unreduced loss for a first prediction of ``shape`` (class axis last)."""
        if self.kind == "pointwise":
            return tuple(shape)
        if self.kind == "overlap":
            # One loss per sample and class; batch=True pools the batch into one region per class.
            return (shape[-1],) if params.get("batch") else (shape[0], shape[-1])
        return tuple(shape[:-1])

    def _check_shapes(self, xp: Namespace, y_true: Any, predictions: list, params: dict) -> tuple:
        first, pred_name = predictions[0], self.pred_name
        if self.kind == "pointwise":
            if y_true is not None:
                V.check_same_shape(y_true, first, pred_name)
            loss_shape = tuple(first.shape)
        elif self.kind == "overlap":
            if first.ndim < 2:
                raise ValueError(
                    f"{pred_name} of {self.name} must have a batch axis first and a class axis, shape "
                    f"(N, ..., num_classes) (or (N, num_classes, ...) with axis=1); got {tuple(first.shape)}"
                )
            V.check_same_shape(y_true, first, pred_name)
            loss_shape = self.loss_shape(tuple(first.shape), params)
        else:
            V.check_class_axis(first, pred_name)
            if self.kind == "dense":
                V.check_dense_labels_shape(y_true, first, pred_name, self.pair or "the sparse variant")
            elif self.kind == "sparse":
                V.check_sparse_labels_shape(y_true, first, pred_name, self.pair or "the dense variant")
            elif y_true is not None:
                if self.target_shape == "same":
                    V.check_same_shape(y_true, first, pred_name)
                elif tuple(y_true.shape) != tuple(first.shape[:-1]):
                    raise ValueError(
                        f"y_true has shape {tuple(y_true.shape)} but {self.name} needs one label per row of "
                        f"{pred_name}, shape {tuple(first.shape[:-1])}; losskit never broadcasts its inputs"
                    )
            if self.label_format == "integer" and not is_integral(xp, y_true):
                alternative = f", or use {self.pair} for one-hot or soft labels" if self.pair else ""
                raise TypeError(
                    f"y_true of {self.name} must be integer class indices; got dtype {y_true.dtype}. "
                    f"Cast with y_true.astype(int){alternative}"
                )
            loss_shape = tuple(first.shape[:-1])
        for name, rule, value in zip(self.inputs[1:], self.input_shapes, predictions[1:]):
            if rule == "free":
                continue
            expected = tuple(first.shape) if rule == "same" else loss_shape
            if tuple(value.shape) != expected:
                raise ValueError(
                    f"{name} has shape {tuple(value.shape)} but {self.name} needs {expected} "
                    f"({'the shape of ' + pred_name if rule == 'same' else 'one value per loss term'}); "
                    "losskit never broadcasts its inputs"
                )
        return loss_shape

    def evaluate(self, call: "Call") -> tuple[Any, Any, Any]:
        """Run a prepared call through its backend's bridge and kernels; ``(value, grad, hessian)``.

        ``grad`` and ``hessian`` are None below their order; with several predictions ``grad``
        is a tuple.
        """
        if call.order == 0:
            value = _autodiff.value(call)
            grads = hess = None
        else:
            value, grads, hess = _autodiff.derivatives(call)
        out_dtype, xp = call.out_dtype, call.xp
        if value.dtype != out_dtype:
            value = _saturating_cast(xp, value, out_dtype)
        if isinstance(value, np.generic):  # NumPy reductions return scalars; keep the 0-d array contract
            value = np.asarray(value)
        if grads is not None:
            grads = tuple(g if g.dtype == out_dtype else _saturating_cast(xp, g, out_dtype) for g in grads)
            if hess is not None:
                hess = tuple(h if h.dtype == out_dtype else _saturating_cast(xp, h, out_dtype) for h in hess)
            if call.axis is not None:
                # The gradients of array parameters (a bias) follow the predictions' and never move.
                moved = (True,) + tuple(rule == "same" for rule in self.input_shapes)
                moved += (False,) * (len(grads) - len(moved))
                grads = tuple(xp.moveaxis(g, -1, call.axis) if m else g for g, m in zip(grads, moved))
                if hess is not None:
                    hess = tuple(xp.moveaxis(h, -1, call.axis) if m else h for h, m in zip(hess, moved))
            grads = grads[0] if len(grads) == 1 else grads
            if hess is not None:
                hess = hess[0] if len(hess) == 1 else hess
        return value, grads, hess

    def _evaluate(self, args: tuple, kwargs: dict, *, with_grad: bool) -> tuple[Any, Any | None]:
        """The reference kernel alone (no registered kernel, no autodiff bridge): ``(value, grad)``."""
        from ._kernels import reference_only

        with reference_only():
            value, gradient, _ = self.evaluate(self.prepare(args, kwargs, order=int(with_grad)))
        return value, gradient

    # ---------------------------------------------------------------------- introspection / docs

    def _signature(self) -> inspect.Signature:
        P = inspect.Parameter
        parameters = [P(name, P.POSITIONAL_OR_KEYWORD) for name in self._argument_names]
        parameters += [P(p.name, P.KEYWORD_ONLY, default=p.default) for p in self.params]
        if self.kind != "pointwise":
            parameters.append(P("axis", P.KEYWORD_ONLY, default=-1))
        parameters += [
            P("sample_weight", P.KEYWORD_ONLY, default=None),
            P("reduction", P.KEYWORD_ONLY, default=self.reductions[-1] if self.root else "mean"),
        ]
        return inspect.Signature(parameters)

    def _docstring(self) -> str:
        shape_in = {
            "pointwise": "any shape", "dense": "(..., num_classes)", "sparse": "(..., num_classes)",
            "overlap": "(N, ..., num_classes)", "rowwise": "(..., num_features)",
        }[self.kind]
        if self.target_shape == "same":
            shape_true = f"same shape as {self.pred_name}"
        else:
            shape_true = f"{self.pred_name}.shape[:-1]" + (", integer dtype" if self.label_format == "integer" else "")
        unreduced = {
            "pointwise": f"{self.pred_name}.shape",
            "overlap": "(N, num_classes), or (num_classes,) with batch=True",
        }.get(self.kind, f"{self.pred_name}.shape[:-1]")
        lines = [self.summary, ""]
        if self.description:
            lines += [textwrap.dedent(self.description).strip(), ""]
        # Unicode for help() and terminals; the docs site typesets the LaTeX itself.
        lines += [f"Formula: {self.formula_text}", f"Gradient: {self.gradient_formula_text}", ""]
        lines += ["Parameters", "----------"]
        if self.has_target:
            lines += ["y_true : array", f"    {LABEL_FORMATS[self.label_format]}; {shape_true}."]
        lines += [f"{self.pred_name} : array", f"    {self.prediction_space}; {shape_in}."]
        for name, rule in zip(self.inputs[1:], self.input_shapes):
            shape = {"same": "same shape as " + self.pred_name, "loss": "shape " + unreduced,
                     "free": "see the description"}[rule]
            lines += [f"{name} : array", f"    {shape}."]
        for p in self.params:
            lines += [f"{p.name} : default {p.default!r}", f"    {p.description} Valid: {p.constraint}."]
        if self.kind == "rowwise":
            lines += ["axis : int, default -1", f"    The feature axis of {self.pred_name}."]
        elif self.kind != "pointwise":
            lines += [
                "axis : int, default -1",
                f"    The class axis of {self.pred_name}; 1 takes PyTorch's (N, C, d1, ...) layout.",
            ]
        lines += [
            "sample_weight : array, optional",
            f"    Non-negative weights whose shape is a prefix of {unreduced}.",
            "reduction : {" + ", ".join(repr(r) for r in self.reductions) + "}",
            "    'none': w*l per " + {"pointwise": "element", "overlap": "sample and class", "rowwise": "row"}.get(self.kind, "sample")
            + "; 'sum': sum(w*l); 'mean': sum(w*l)/sum(w).",
            "",
            "Returns",
            "-------",
            f"array of the input's library and floating dtype: 0-d, or {unreduced} for 'none'.",
        ]
        if self.example:
            lines += ["", "Examples", "--------", textwrap.dedent(self.example).strip()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        params = ", ".join(f"{p.name}={p.default!r}" for p in self.params)
        return f"<losskit.Loss {self.name}({params}) task={self.task} prediction_space={self.prediction_space}>"


_MISSING = object()

# Keyword values that may key a prepared plan: immutable, hashable and compared by value.
_PLAIN_OPTION_TYPES = frozenset((type(None), bool, int, float, str))
_MAX_PLANS = 64


def _plan_key(args: tuple, kwargs: dict, arity: int) -> tuple | None:
    """What fixes everything ``prepare`` decides about a call, or None when the call is not plain.

    Plain: every array positional and of a known array type, every option a Python scalar.
    """
    if len(args) != arity:
        return None
    known = _NAMESPACE_BY_TYPE
    arrays = []
    for a in args:
        kind = type(a)
        if kind not in known:
            return None
        arrays.append((kind, a.dtype, a.shape))
    for value in kwargs.values():
        if type(value) not in _PLAIN_OPTION_TYPES:
            return None
    return tuple(arrays), tuple(kwargs.items())


class _PreparedPlan:
    """The decisions of one prepared call, replayed for a new call with the same signature.

    It keeps no array of the call it was made from (a plan outlives its call: holding a batch
    of logits would keep it alive), only the namespace, the dtypes, the shapes and the options.
    """

    __slots__ = ("loss", "xp", "backend", "params", "reduction", "out_dtype", "compute_dtype", "loss_shape")

    def __init__(self, call: "Call"):
        self.loss, self.xp, self.backend, self.params = call.loss, call.xp, call.backend, call.params
        self.reduction, self.out_dtype, self.compute_dtype = call.reduction, call.out_dtype, call.compute_dtype
        self.loss_shape = call.loss_shape

    def call(self, args: tuple, order: int) -> "Call":
        loss = self.loss
        if loss.has_target:
            y_true, predictions = args[0], tuple(args[1:])
        else:
            y_true, predictions = None, tuple(args)
        if loss.check_inputs is not None:
            loss.check_inputs(self.xp, y_true, *predictions, self.params)
        return Call(loss, self.xp, self.backend, y_true, predictions, self.params, None, self.reduction, order,
                    self.out_dtype, self.compute_dtype, self.loss_shape)


def _saturating_cast(xp: Namespace, x: Any, dtype: Any) -> Any:
    """Cast a float32 result back to a narrow input dtype, as IEEE arithmetic rounds.

    A value beyond the narrow dtype's range becomes +-inf (an MSE of 1e8 is inf in float16, not
    65504): the numerical policy (docs/numerics.md) never turns an overflow into a finite number.
    Floored gradients stay finite because float16 results get a larger floor
    (``_kernels.grad_floor``). NumPy's warning for that overflow is silenced: it is the result.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        with np.errstate(over="ignore"):
            return xp.astype(x, dtype)
    return xp.astype(x, dtype)

@dataclass(slots=True)
class Call:
    """One prepared call of a loss: what every kernel, bridge and adapter reads.

    Built once by :meth:`Loss.prepare`: the arrays are in the compute dtype, on one library, the
    class axis last, the shapes and (for concrete values) the values checked, the parameters
    validated. ``order`` is 0 for the value, 1 with the gradient, 2 with the Hessian diagonal.
    Treat it as immutable (``replace`` makes a changed copy); it is a plain slotted class
    rather than a frozen dataclass because it is built on every call of a loss.
    """

    loss: Loss
    xp: Namespace
    backend: str  # "numpy", "torch", "jax", "cupy", "array_api_strict", ...
    y_true: Any
    predictions: tuple[Any, ...]
    params: dict[str, Any]
    weight: Any | None
    reduction: str
    order: int
    out_dtype: Any
    compute_dtype: Any
    loss_shape: tuple
    axis: int | None = None  # the caller's class axis when it was not last (moved back after)

    @property
    def y_pred(self) -> Any:
        return self.predictions[0]

    @property
    def size(self) -> int:
        """Number of elements of the first prediction."""
        return math.prod(self.predictions[0].shape)

    def replace(self, **changes: Any) -> "Call":
        return dataclasses.replace(self, **changes)


def _given_floating_dtype(xp: Namespace, values: list) -> Any:
    """The promoted floating dtype of the arrays among ``values`` (None when none is a floating array)."""
    from ._array import _namespace_of_array

    dtypes = [v.dtype for v in values if v is not None and _namespace_of_array(v) is not None]
    floats = [d for d in dtypes if _dtype_is_floating(xp, d)]
    if not floats:
        return None
    if len(floats) == 1 or all(d == floats[0] for d in floats):
        return floats[0]
    try:
        return xp.result_type(*floats)
    except (TypeError, ValueError):
        return None


def _dtype_is_floating(xp: Namespace, dtype: Any) -> bool:
    from ._array import _dtype_kind

    return _dtype_kind(xp, dtype) == "real floating"


def _differentiable_array_params(loss: "Loss") -> tuple[str, ...]:
    from ._kernels import grad_params

    return grad_params(loss)


def _class_axis(axis: Any, x: Any, pred_name: str) -> int:
    if isinstance(axis, bool) or not hasattr(axis, "__index__"):
        raise TypeError(f"axis must be an integer (the class axis of {pred_name}); got {type(axis).__name__}")
    axis = int(axis)
    ndim = x.ndim
    if ndim == 0:
        V.check_class_axis(x, pred_name)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis={axis} is out of range for {pred_name} with {ndim} dimension(s); use -1 for a class axis last "
            "or 1 for PyTorch's (N, C, d1, ...) layout"
        )
    return axis % ndim


def _catalog() -> list[Loss]:
    from ._registry import catalog

    return catalog()


# ----------------------------------------------------------------------------- shared checks

def check_domains(
    y_true_domain: V.Domain | None = None,
    y_pred_domain: V.Domain | None = None,
    *,
    pred_name: str = "y_pred",
    y_pred_hint: str = "",
    rows_sum_to_one: tuple[str, ...] = (),
    row_hint: str = "",
) -> Callable[..., None]:
    """Build a ``check_inputs`` hook from value domains (skipped for traced values)."""

    def check(xp: Namespace, y_true: Any, y_pred: Any, params: dict) -> None:
        if y_true_domain is not None:
            y_true_domain.check(xp, y_true, "y_true")
        if y_pred_domain is not None:
            y_pred_domain.check(xp, y_pred, pred_name, y_pred_hint)
        if "y_true" in rows_sum_to_one:
            V.check_rows_sum_to_one(xp, y_true, "y_true")
        if pred_name in rows_sum_to_one:
            V.check_rows_sum_to_one(xp, y_pred, pred_name, row_hint)

    return check


PROBABILITY = V.Domain(0.0, 1.0, description="a probability in [0, 1]")
NON_NEGATIVE = V.Domain(0.0, description="non-negative (>= 0)")


def check_class_weight(xp: Namespace, class_weight: Any, num_classes: int) -> None:
    if tuple(class_weight.shape) != (num_classes,):
        raise ValueError(
            f"class_weight must have shape ({num_classes},), one weight per class; got {tuple(class_weight.shape)}"
        )
    NON_NEGATIVE.check(xp, class_weight, "class_weight")


def concrete(x: Any) -> bool:
    return is_concrete(x)
