"""Array-library plumbing: one namespace per call, dtype policy, and the stable primitives.

Every loss is written against the namespace returned by :func:`namespace_of`, so the same code
runs on NumPy, PyTorch, JAX, CuPy and array-api-strict. Nothing here imports an array library
other than NumPy; the others are recognised lazily through ``sys.modules``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Namespace",
    "namespace_of",
    "is_concrete",
    "device_of",
    "value_checks",
    "floating_dtypes",
    "GRAD_DENOMINATOR_FLOOR",
    "softplus",
    "sigmoid",
    "log_softmax",
    "clamped_log",
    "LOG_FLOOR",
]

Namespace = Any

# The floor PyTorch uses for log(p) in binary_cross_entropy. A probability of exactly 0 for the
# true class then costs 100 instead of inf, the same in every dtype, so porting from PyTorch
# gives the same number (Keras' 1e-7 clip caps at 16.1, scikit-learn's dtype eps at 36.0).
LOG_FLOOR = -100.0

# The denominators of probability-space gradients are clamped here, as PyTorch's BCE backward
# does, so that p = 0 or 1 gives a large finite gradient instead of inf.
GRAD_DENOMINATOR_FLOOR = 1e-12

_checks_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "losskit_value_checks", default=True
)


_LIBRARY_NAMES: dict[int, str] = {}


def _library_name(xp: Namespace) -> str:
    """The array library of a namespace: "numpy", "torch", "jax", "cupy", "array_api_strict", ..."""
    name = _LIBRARY_NAMES.get(id(xp))
    if name is None:
        name = getattr(xp, "LIBRARY_NAME", None) or (
            getattr(xp, "__name__", type(xp).__name__).replace("array_api_compat.", "").split(".")[0])
        _LIBRARY_NAMES[id(xp)] = name
    return name


# array_namespace() inspects its argument's type on every call; a loss called in a training loop
# sees the same few array types millions of times, so the answer is cached per type.
_NAMESPACE_BY_TYPE: dict[type, Namespace] = {}


def _namespace_of_array(value: Any) -> Namespace | None:
    """The namespace of ``value`` if it is an array, else None (Python scalars and sequences)."""
    kind = type(value)
    xp = _NAMESPACE_BY_TYPE.get(kind)
    if xp is not None:
        return xp
    if kind in (bool, int, float, complex, list, tuple):
        return None
    if not array_api_compat.is_array_api_obj(value):
        xp = _tensorflow_namespace(value)
        if xp is None:
            return None
    else:
        xp = array_api_compat.array_namespace(value)
        if getattr(xp, "__name__", "") == "array_api_compat.dask.array":
            from .backends import dask_namespace

            xp = dask_namespace
    if len(_NAMESPACE_BY_TYPE) < 64:
        _NAMESPACE_BY_TYPE[kind] = xp
    return xp


def _tensorflow_namespace(value: Any) -> Namespace | None:
    """losskit's namespace for TensorFlow tensors and variables (array-api-compat has none)."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not isinstance(value, (tf.Tensor, tf.Variable)):
        return None
    from .backends import tensorflow_namespace

    return tensorflow_namespace


def device_of(x: Any) -> Any:
    """The device of an array, for creating new arrays next to it (TensorFlow included)."""
    if _library_name(_namespace_of_array(x) or _NUMPY) == "tensorflow":
        return x.device
    return array_api_compat.device(x)


def namespace_of(**named: Any) -> Namespace:
    """Return the array namespace shared by the named arrays.

    Python scalars, lists and tuples adopt the namespace of the arrays among the arguments, or
    NumPy when there are none. Arrays of two different libraries raise ``TypeError``: losskit
    never converts between libraries behind the caller's back.
    """
    first: Namespace | None = None
    found: dict[str, Namespace] = {}
    for arg_name, value in named.items():
        if value is None:
            continue
        try:
            xp = _namespace_of_array(value)
        except TypeError as exc:
            raise TypeError(f"{arg_name} is not a supported array: {exc}") from None
        if xp is None:
            continue
        found[arg_name] = xp
        if first is None:
            first = xp
        elif xp is not first and _library_name(xp) != _library_name(first):
            described = ", ".join(f"{arg} is a {_library_name(ns)} array" for arg, ns in found.items())
            raise TypeError(
                f"all arrays in one call must come from the same library ({described}); "
                "convert them first, e.g. torch.as_tensor(y_true) or np.asarray(y_pred)"
            )
    return first if first is not None else _NUMPY


_NUMPY = array_api_compat.array_namespace(np.empty(0))


def as_array(xp: Namespace, value: Any, arg_name: str, *, like: Any = None, dtype: Any = None) -> Any:
    """Convert ``value`` to an array of ``xp`` on the device of ``like``; reject non-numbers.

    A Python scalar, list or tuple is converted at ``dtype`` when given and it holds floats
    (the floating dtype of the call's arrays: ``[0.1]`` next to a float64 tensor is float64, not
    the library's default float32), as the array API treats Python scalars as weakly typed.
    Integer lists (class labels) keep their integer dtype.
    """
    if _namespace_of_array(value) is None:
        device = device_of(like) if like is not None else None
        options = {} if device is None else {"device": device}
        try:
            if dtype is not None and _holds_floats(value):
                # Converted from the Python values at the call's dtype, not cast after a
                # conversion at the default float32, which would already have rounded them.
                value = xp.asarray(value, dtype=dtype, **options)
            else:
                value = xp.asarray(value, **options)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{arg_name} must be numeric array-like; got {type(value).__name__}: {exc}") from None
    elif _library_name(xp) == "tensorflow" and not isinstance(value, sys.modules["tensorflow"].Tensor):
        # A tf.Variable: read it once, so that the tape records the read and the kernel sees a tensor.
        value = sys.modules["tensorflow"].convert_to_tensor(value)
    if _dtype_kind(xp, value.dtype) is None:
        raise TypeError(f"{arg_name} must hold real numbers; got dtype {value.dtype}")
    return value


def _holds_floats(value: Any) -> bool:
    """Whether a Python scalar or (nested) list / tuple holds a float (not only ints and bools)."""
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value).dtype.kind == "f"
        except (TypeError, ValueError):
            return False
    return False


_DTYPE_KINDS: dict[tuple[int, Any], str | None] = {}


def _dtype_kind(xp: Namespace, dtype: Any) -> str | None:
    """'bool', 'integral' or 'real floating' (cached), or None for anything else."""
    key = (id(xp), dtype)
    try:
        return _DTYPE_KINDS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable dtype object
        return next((k for k in ("real floating", "integral", "bool") if _isdtype(xp, dtype, k)), None)
    kind = next((k for k in ("real floating", "integral", "bool") if _isdtype(xp, dtype, k)), None)
    if kind is None and _is_ml_float(dtype):
        kind = "real floating"
    _DTYPE_KINDS[key] = kind
    return kind


def _is_ml_float(dtype: Any) -> bool:
    """Whether ``dtype`` is one of ml_dtypes' NumPy floats (bfloat16, float8_*), which NumPy's
    ``isdtype`` does not know; JAX's bfloat16 arrays are NumPy arrays of this dtype on the host."""
    return getattr(getattr(dtype, "type", None), "__module__", None) == "ml_dtypes" and "float" in str(dtype)


def finfo(xp: Namespace, dtype: Any) -> Any:
    """``xp.finfo(dtype)``, also for ml_dtypes' NumPy floats (bfloat16 arrays of NumPy)."""
    if _is_ml_float(dtype):
        import ml_dtypes

        return ml_dtypes.finfo(dtype)
    return xp.finfo(dtype)


def _isdtype(xp: Namespace, dtype: Any, kind: str) -> bool:
    try:
        return bool(xp.isdtype(dtype, kind))
    except (TypeError, ValueError):
        return False


def is_floating(xp: Namespace, x: Any) -> bool:
    return _dtype_kind(xp, x.dtype) == "real floating"


def is_integral(xp: Namespace, x: Any) -> bool:
    return _dtype_kind(xp, x.dtype) == "integral"


_FLOAT_POLICY: dict[tuple, tuple[Any, Any]] = {}


def floating_dtypes(xp: Namespace, *arrays: Any) -> tuple[Any, Any]:
    """Return (result dtype, compute dtype) for the floating arrays among ``arrays``.

    The result dtype is the promoted floating dtype of the inputs (the library's default
    floating dtype when none is floating). Narrow floats (float16, bfloat16) are computed in
    float32, because exp, log and sums lose whole digits in 8 or 11 mantissa bits; the result
    is cast back to the narrow dtype.
    """
    present = [a for a in arrays if a is not None]
    key = (id(xp),) + tuple(a.dtype for a in present)
    cached = _FLOAT_POLICY.get(key)
    if cached is not None:
        return cached
    floats = [a for a in present if is_floating(xp, a)]
    if floats:
        result = floats[0].dtype if len(floats) == 1 else xp.result_type(*floats)
    else:
        device = device_of(present[0]) if present else None
        result = xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    compute = xp.float32 if finfo(xp, result).bits < 32 else result
    if len(_FLOAT_POLICY) < 256:
        _FLOAT_POLICY[key] = (result, compute)
    return result, compute


def is_concrete(x: Any) -> bool:
    """Whether the values of ``x`` can be read now (not a JAX tracer, not under torch.compile)."""
    if not _checks_enabled.get():
        return False
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.core.Tracer):
        return False
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        compiler = getattr(torch, "compiler", None)
        if compiler is not None and compiler.is_compiling():
            return False
        if x.is_meta:
            return False
        # Under functorch's transforms (vmap, grad) reading a value raises; those calls are traced.
        transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)
        if transforms_active is not None and transforms_active():
            return False
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(x, tf.Tensor) and tf.is_symbolic_tensor(x):
        return False  # traced by tf.function
    return True


@contextlib.contextmanager
def value_checks(enabled: bool):
    """Turn the checks that read array values (label ranges, probability bounds) on or off.

    Shape, dtype and parameter checks always run: they cost nothing and never sync a device.
    The value checks (label ranges, probability bounds, NaN in class_weight, pos_weight and
    sample_weight) run by default on every call whose values can be read (not under jit,
    torch.compile or vmap). They read data, which on a GPU means a device synchronisation per
    call; inside a tuned training loop whose inputs are known to be valid they can be switched
    off (the losskit.torch modules switch them off by default for tensors off the CPU only)::

        with losskit.value_checks(False):
            loss = losskit.softmax_cross_entropy(y, logits)
    """
    token = _checks_enabled.set(bool(enabled))
    try:
        yield
    finally:
        _checks_enabled.reset(token)


def softplus(xp: Namespace, x: Any) -> Any:
    # log(1 + e^x) = logaddexp(x, 0), which every library computes as max(x, 0) +
    # log1p(e^-|x|) (no overflow, full precision for tiny e^-|x|) with the derivative sigmoid(x).
    # Writing that expression out here instead gives autograd (torch, jax) the kinks of max and
    # abs at x = 0 and the wrong derivative 0 or 1 there: a zero-initialised logistic model
    # would get a zero gradient.
    return xp.logaddexp(x, xp.zeros_like(x))


def sigmoid(xp: Namespace, x: Any) -> Any:
    # 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0, both written with z = e^-|x| <= 1.
    z = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, z) / (1.0 + z)


def log_softmax(xp: Namespace, x: Any) -> Any:
    """log softmax over the last axis, exact at huge logits and at -inf (masked) classes."""
    shift = xp.max(x, axis=-1, keepdims=True)
    # A row that is entirely -inf has no maximum to shift by; leave it at 0 so the row yields
    # -inf - log(0) = NaN only through genuinely invalid input, never through the shift. A +inf
    # logit is kept as the shift: inf - inf makes the whole row NaN (value and gradient), as
    # PyTorch's log_softmax does, rather than NaN at that class and 0 elsewhere.
    shift = xp.where(shift == -math.inf, 0.0, shift)
    shifted = x - shift
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def clamped_log(xp: Namespace, p: Any) -> Any:
    """log(p) for probabilities, floored at :data:`LOG_FLOOR` (so log(0) = -100, not -inf).

    The where() keeps autograd finite at p = 0: the log is evaluated at 1 there, and the
    floored branch contributes a zero gradient instead of 0 * inf = NaN. The test is p <= 0, not
    p > 0, so that a NaN probability stays NaN (NaN in, NaN out) instead of costing 100.
    """
    nonpositive = p <= 0
    safe = xp.where(nonpositive, 1.0, p)
    return xp.where(nonpositive, LOG_FLOOR, xp.clip(xp.log(safe), min=LOG_FLOOR))


def clamped_log1m(xp: Namespace, p: Any) -> Any:
    """log(1 - p) floored at :data:`LOG_FLOOR`, computed as log1p(-p).

    log1p keeps the digits that 1 - p loses for a small p (log(1 - 1e-10) is -1e-10, where
    log(1 - p) rounds to 0 in float32), as PyTorch's binary_cross_entropy computes it. p >= 1
    gives the floor (with a zero gradient through the where), NaN stays NaN.
    """
    saturated = p >= 1
    safe = xp.where(saturated, 0.0, p)
    return xp.where(saturated, LOG_FLOOR, xp.clip(xp.log1p(-safe), min=LOG_FLOOR))


def xlogx(xp: Namespace, t: Any) -> Any:
    """t * log(t) with the limit 0 at t = 0 (a zero target contributes nothing to entropy)."""
    positive = t > 0
    return xp.where(positive, t * xp.log(xp.where(positive, t, 1.0)), 0.0)


def sign(xp: Namespace, x: Any) -> Any:
    """sign(x) with sign(0) = 0 (PyTorch's subgradient at a kink) and sign(NaN) = NaN on every backend.

    torch.sign(nan) is 0, so a NaN residual would otherwise get a zero gradient on PyTorch and a
    NaN one on NumPy: NaN in must give NaN out on every backend.
    """
    return xp.where(x == x, xp.sign(x), x)

