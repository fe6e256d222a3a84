"""The :class:`Loss` object: one implementation, its calling convention, its gradient and its metadata."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from . import _validation as V
from ._array import Namespace, as_array, floating_dtypes, is_concrete, is_floating, is_integral, namespace_of
from ._reduction import REDUCTIONS, check_reduction, reduce

TASKS = ("regression", "binary", "multiclass")
PREDICTION_SPACES = ("values", "probabilities", "logits", "scores", "log-probabilities")
# How the class axis is used: pointwise losses pair elements one to one; "dense" losses take
# one-hot or soft labels of the prediction's shape; "sparse" ones take integer labels.
KINDS = ("pointwise", "dense", "sparse")

LABEL_FORMATS = {
    "real": "real values",
    "non-negative": "non-negative real values",
    "counts": "non-negative counts (rates' targets)",
    "binary": "{0, 1} or probabilities in [0, 1] (soft labels)",
    "signed": "{-1, +1}, or {0, 1} converted to {-1, +1}",
    "one-hot": "one-hot or soft labels (rows sum to 1)",
    "integer": "integer class indices in [0, num_classes)",
    "distribution": "probability distributions (rows sum to 1)",
}


class KernelResult(NamedTuple):
    """What a loss kernel returns: the unreduced loss, its gradient and the mean's normaliser."""

    loss: Any
    grad: Any | None = None
    norm: Any | None = None


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
        object.__setattr__(self, "_defaults", {p.name: p.default for p in self.params})
        object.__setattr__(self, "__signature__", self._signature())
        object.__setattr__(self, "__doc__", self._docstring())

    # ----------------------------------------------------------------------------- the contract

    @property
    def pred_name(self) -> str:
        """The name of the second argument: ``logits`` for losses on logits, else ``y_pred``."""
        return "logits" if self.prediction_space == "logits" else "y_pred"

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self._defaults)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value, _ = self._evaluate(args, kwargs, with_grad=False)
        return value

    def grad(self, *args: Any, **kwargs: Any) -> Any:
        """Gradient of the reduced loss with respect to the prediction (same shape as it).

        Derived by hand from the formula, so plain NumPy can run gradient descent. For
        ``reduction="none"`` it is the gradient of the (weighted) sum of the unreduced loss.
        """
        _, gradient = self._evaluate(args, kwargs, with_grad=True)
        return gradient

    def value_and_grad(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """``(loss(...), loss.grad(...))`` computed in one pass that shares the intermediates.

        With the ``fast`` extra (numba) installed, NumPy inputs of the losses in
        ``losskit._fast.fused_losses()`` take a fused kernel that reads the inputs and writes the
        value and gradient once (the first call per loss and dtype compiles it, about a second).
        """
        if len(args) == 2 and type(args[1]) is np.ndarray and args[1].size >= _FUSED_MIN_SIZE:
            fast = _fused_backend()
            if fast is not None and self.name in fast.fused_losses():
                return fast.value_and_grad_numpy(self, *args, **kwargs)
        return self._evaluate(args, kwargs, with_grad=True)

    def with_params(self, **params: Any) -> "Loss":
        """A copy of this loss whose parameter defaults are ``params`` (e.g. ``huber.with_params(delta=0.5)``)."""
        self._bind_params(params)
        known = {p.name: p for p in self.params}
        new_params = tuple(dataclasses.replace(known[p.name], default=params.get(p.name, p.default)) for p in self.params)
        return dataclasses.replace(self, params=new_params)

    # ---------------------------------------------------------------------------- the machinery

    def _split_arguments(self, args: tuple, kwargs: dict) -> tuple[Any, Any, dict]:
        pred_name = self.pred_name
        if len(args) > 2:
            raise TypeError(
                f"{self.name}() takes y_true and {pred_name} positionally; pass the rest by keyword "
                f"({', '.join(self._keyword_names())})"
            )
        y_true = args[0] if len(args) >= 1 else kwargs.pop("y_true", _MISSING)
        y_pred = args[1] if len(args) == 2 else kwargs.pop(pred_name, _MISSING)
        if y_true is _MISSING or y_pred is _MISSING:
            missing = "y_true" if y_true is _MISSING else pred_name
            raise TypeError(f"{self.name}() missing required argument {missing!r}")
        return y_true, y_pred, kwargs

    def _keyword_names(self) -> list[str]:
        return [p.name for p in self.params] + ["sample_weight", "reduction"]

    def _bind_params(self, given: dict) -> dict:
        unknown = [k for k in given if k not in self._defaults and k not in ("sample_weight", "reduction")]
        if unknown:
            raise TypeError(
                f"{self.name}() got an unexpected keyword argument {unknown[0]!r}; "
                f"it accepts {', '.join(self._keyword_names())}"
            )
        bound = {}
        for param in self.params:
            value = given.get(param.name, param.default)
            bound[param.name] = value if param.is_array else param.validate(param.name, value)
        return bound

    def _evaluate(self, args: tuple, kwargs: dict, *, with_grad: bool) -> tuple[Any, Any | None]:
        y_true, y_pred, kwargs = self._split_arguments(args, dict(kwargs))
        sample_weight = kwargs.pop("sample_weight", None)
        reduction = check_reduction(kwargs.pop("reduction", "mean"), self.reductions, self.name)
        params = self._bind_params(kwargs)
        array_params = {p.name: params[p.name] for p in self.params if p.is_array and params[p.name] is not None}

        xp = namespace_of(y_true=y_true, **{self.pred_name: y_pred}, sample_weight=sample_weight, **array_params)
        y_pred = as_array(xp, y_pred, self.pred_name)
        y_true = as_array(xp, y_true, "y_true", like=y_pred)
        out_dtype, compute_dtype = floating_dtypes(xp, y_pred, y_true if self.kind != "sparse" else None)

        if self.kind == "pointwise":
            V.check_same_shape(y_true, y_pred, self.pred_name)
            loss_shape = tuple(y_pred.shape)
        else:
            V.check_class_axis(y_pred, self.pred_name)
            if self.kind == "dense":
                V.check_dense_labels_shape(y_true, y_pred, self.pred_name, self.pair or "the sparse variant")
            else:
                V.check_sparse_labels_shape(y_true, y_pred, self.pred_name, self.pair or "the dense variant")
                if not is_integral(xp, y_true):
                    raise TypeError(
                        f"y_true of {self.name} must be integer class indices; got dtype {y_true.dtype}. "
                        f"Cast with y_true.astype(int), or use {self.pair} for one-hot or soft labels"
                    )
            loss_shape = tuple(y_pred.shape[:-1])

        # Values are checked as given, so tolerances (rows summing to 1) follow the caller's
        # precision: a bfloat16 softmax row is off by up to 2^-8, beyond float32's tolerance.
        given_pred = y_pred if is_floating(xp, y_pred) else xp.astype(y_pred, out_dtype)
        given_true = y_true if self.kind == "sparse" or is_floating(xp, y_true) else xp.astype(y_true, out_dtype)
        y_pred = xp.astype(y_pred, compute_dtype) if y_pred.dtype != compute_dtype else y_pred
        if self.kind != "sparse" and y_true.dtype != compute_dtype:
            y_true = xp.astype(y_true, compute_dtype)
        for name, value in array_params.items():
            converted = as_array(xp, value, name, like=y_pred)
            params[name] = xp.astype(converted, compute_dtype)

        weight = None
        if sample_weight is not None:
            weight = xp.astype(as_array(xp, sample_weight, "sample_weight", like=y_pred), compute_dtype)
            V.check_sample_weight_shape(weight, loss_shape)
            V.Domain(0.0, description="non-negative").check(xp, weight, "sample_weight")

        if self.check_inputs is not None:
            self.check_inputs(xp, given_true, given_pred, params)

        result = self.kernel(xp, y_true, y_pred, with_grad=with_grad, **params)
        value, gradient = reduce(
            xp, result.loss, result.grad, result.norm, weight, reduction,
            class_axis=self.kind != "pointwise", root=self.root,
        )
        if value.dtype != out_dtype:
            value = _saturating_cast(xp, value, out_dtype)
        if isinstance(value, np.generic):  # NumPy reductions return scalars; keep the 0-d array contract
            value = np.asarray(value)
        if gradient is not None and gradient.dtype != out_dtype:
            gradient = _saturating_cast(xp, gradient, out_dtype)
        return value, gradient

    # ---------------------------------------------------------------------- introspection / docs

    def _signature(self) -> inspect.Signature:
        P = inspect.Parameter
        parameters = [P("y_true", P.POSITIONAL_OR_KEYWORD), P(self.pred_name, P.POSITIONAL_OR_KEYWORD)]
        parameters += [P(p.name, P.KEYWORD_ONLY, default=p.default) for p in self.params]
        parameters += [
            P("sample_weight", P.KEYWORD_ONLY, default=None),
            P("reduction", P.KEYWORD_ONLY, default=self.reductions[-1] if self.root else "mean"),
        ]
        return inspect.Signature(parameters)

    def _docstring(self) -> str:
        shape_in = "(..., num_classes)" if self.kind != "pointwise" else "any shape"
        shape_true = {
            "pointwise": f"same shape as {self.pred_name}",
            "dense": f"same shape as {self.pred_name}",
            "sparse": f"{self.pred_name}.shape[:-1], integer dtype",
        }[self.kind]
        unreduced = f"{self.pred_name}.shape" if self.kind == "pointwise" else f"{self.pred_name}.shape[:-1]"
        lines = [self.summary, ""]
        if self.description:
            lines += [textwrap.dedent(self.description).strip(), ""]
        lines += [f"Formula: {self.formula}", f"Gradient: {self.gradient_formula}", ""]
        lines += ["Parameters", "----------"]
        lines += ["y_true : array", f"    {LABEL_FORMATS[self.label_format]}; {shape_true}."]
        lines += [f"{self.pred_name} : array", f"    {self.prediction_space}; {shape_in}."]
        for p in self.params:
            lines += [f"{p.name} : default {p.default!r}", f"    {p.description} Valid: {p.constraint}."]
        lines += [
            "sample_weight : array, optional",
            f"    Non-negative weights whose shape is a prefix of {unreduced}.",
            "reduction : {" + ", ".join(repr(r) for r in self.reductions) + "}",
            "    'none': w*l per " + ("element" if self.kind == "pointwise" else "sample")
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


def _saturating_cast(xp: Namespace, x: Any, dtype: Any) -> Any:
    """Cast a float32 result back to a narrow input dtype, saturating finite values.

    A finite float32 value beyond float16's range (a gradient of 1e12 at p = 0, a sum of many
    large losses) would otherwise become inf; it becomes the largest finite value instead, while
    an inf or NaN that came from the input stays what it is.
    """
    largest = float(xp.finfo(dtype).max)
    if float(xp.finfo(x.dtype).max) > largest:
        x = xp.where(xp.isfinite(x), xp.clip(x, min=-largest, max=largest), x)
    return xp.astype(x, dtype)

# The fused kernels win at every size (measured in benchmarks/run.py: at 32 elements a fused
# call costs 7-15 us against the generic path's 13-100 us, at 10^7 two to ten times less); an
# empty input stays on the generic path, whose errors and shapes it defines.
_FUSED_MIN_SIZE = 1
_FUSED_BACKEND: list[Any] = []


def _fused_backend() -> Any:
    """``losskit._fast`` when numba is importable, else None (looked up once)."""
    if not _FUSED_BACKEND:
        from . import _fast

        _FUSED_BACKEND.append(_fast if _fast.numba_available() else None)
    return _FUSED_BACKEND[0]


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
