"""The kernel registry: faster implementations of a loss, each pinned to its reference kernel.

Every loss has exactly one definition, its reference kernel on the array API (``Loss.kernel``).
A backend may register faster kernels for it: a numba loop for NumPy, a torch-specialised
expression, PyTorch's own loss where its semantics equal losskit's. Each registered kernel
declares in ``accepts(call)`` exactly which calls it computes identically to the reference
(dtype, device, parameters, reduction, size, the values where it must read them), and
``select`` picks the first one that accepts a call; when none does the reference runs.

Three styles of kernel exist, because fast code comes in three shapes:

``"elementwise"``
    Same signature and result as the reference kernel (the unreduced loss, its gradient per
    prediction and the mean's normaliser); the reduction, weights and ``ignore_index`` stay the
    shared ones. A torch kernel that fuses the reference's passes is of this style.
``"reduced"``
    ``fn(call) -> (value, grads)``, already reduced: a fused loop that adds the value while it
    writes the gradient (the numba kernels). ``grads`` is a tuple, one per prediction, or None
    for a call of order 0.
``"native"``
    ``fn(call) -> value``, differentiable by the framework's own autodiff: PyTorch's native loss
    where it is exactly losskit's on the accepted calls. Used for values and for autograd; its
    gradient is pinned to the reference's by the same generic test.

``tests/test_kernels.py`` enumerates this registry and runs every (loss, kernel) pair against
the reference on each loss's edge cases, so a new kernel cannot skip the test.

Backends register on first sight of their array library (:func:`load_backend`), so the core
imports neither torch nor numba.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

from ._array import GRAD_DENOMINATOR_FLOOR
from ._reduction import reduce

__all__ = [
    "Kernel", "register_kernel", "kernels", "select", "load_backend", "reference_only", "run", "STYLES",
    "reduced_reference", "reference_style", "grad_params", "LIBRARIES", "array_libraries", "keep_nan",
    "floored", "grad_floor", "FLOAT16_GRAD_FLOOR", "GRAD_FLOOR_PITFALL",
]

STYLES = ("elementwise", "reduced", "native")

# The module that registers each backend's kernels; imported the first time a call of that
# backend is seen, or by load_backend().
_BACKEND_MODULES = {
    "numpy": "losskit.backends.numpy_fused",
    "torch": "losskit.backends.torch_kernels",
    "jax": None,  # jax.jit fuses the reference expression; the custom_vjp lives in _autodiff
}


@dataclass(frozen=True)
class Kernel:
    """A faster implementation of one loss on one backend, valid on the calls it accepts."""

    loss: str
    backend: str
    name: str
    fn: Callable[..., Any]
    accepts: Callable[[Any], bool]
    style: str = "elementwise"
    max_order: int = 1  # 0: values only; 1: value and gradient; 2: also the Hessian diagonal

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}; got {self.style!r}")


def reduced_reference(*, grad_params: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Mark a loss's reference kernel as of the "reduced" style: ``fn(call) -> (value, grads)``.

    For a loss whose gradient is not elementwise in its terms, such as a weight matrix shared by
    every token (linear_cross_entropy's ``weight``): the kernel reads the call's reduction and
    sample weights itself and returns the reduced value and the gradients of the reduced value
    (of the weighted sum for ``reduction="none"``), one per prediction, then one per array
    parameter named in ``grad_params`` that the call sets (a bias). The autodiff bridges hand
    those parameters' gradients to autograd too, and for ``reduction="none"`` recompute the
    gradients in the backward pass with the upstream gradient as per-term weights.
    """

    def mark(fn: Callable) -> Callable:
        fn.losskit_style = "reduced"
        fn.losskit_grad_params = tuple(grad_params)
        return fn

    return mark


def reference_style(loss: Any) -> str:
    """The style of ``loss``'s reference kernel: "elementwise" (the usual) or "reduced"."""
    return getattr(loss.kernel, "losskit_style", "elementwise")


def grad_params(loss: Any) -> tuple[str, ...]:
    """The array parameters whose gradients a "reduced" reference kernel returns after the predictions'."""
    return getattr(loss.kernel, "losskit_grad_params", ())


def keep_nan(xp: Any, result: Any, source: Any) -> Any:
    """``result``, but NaN wherever ``source`` is NaN: the numerical policy's "NaN in, NaN out".

    A branch picked by a comparison (``where(slack > 0, -y, 0)``) turns a NaN operand into a
    number, since every comparison with NaN is False; kernels pass such a result through here
    with the operand the comparison read (see docs/numerics.md).
    """
    return xp.where(xp.isnan(source), source, result)


# The gradient floor of float16 results: the probability losses divide by max(p, floor), and the
# float32 floor's 1 / 1e-12 is beyond float16's largest finite value (65504), so a floored
# gradient would overflow to inf when the float32 result is cast back. 2^-14 is float16's
# smallest normal number; 1 / 2^-14 = 16384 is finite. bfloat16 has float32's range and keeps
# the float32 floor. See docs/numerics.md for the table.
FLOAT16_GRAD_FLOOR = 2.0 ** -14


# The pitfall every loss with a floored gradient states (docs/numerics.md has the table).
GRAD_FLOOR_PITFALL = (
    "The gradient's denominators are floored at 1e-12 for float64, float32 and bfloat16 results and at "
    "2^-14 (6.1e-5) for float16 ones, whose largest finite value is 65504: a floored gradient stays finite "
    "(1e12, or 16384 in float16) instead of overflowing to inf."
)


def grad_floor(dtype: Any) -> float:
    """The floor of the gradient denominators (``max(p, floor)``) for results of ``dtype``.

    :data:`FLOAT16_GRAD_FLOOR` for float16, ``GRAD_DENOMINATOR_FLOOR`` (1e-12, PyTorch's BCE
    epsilon) for every other dtype: float32, float64 and bfloat16 represent 1e12.
    """
    name = str(dtype).replace("'", "").rstrip(">")
    if name.endswith("float16") and not name.endswith("bfloat16"):
        return FLOAT16_GRAD_FLOOR
    return GRAD_DENOMINATOR_FLOOR


def floored(fn: Callable) -> Callable:
    """Mark a kernel that takes ``floor=``, its gradient denominators' floor: :func:`run` passes
    :func:`grad_floor` of the call's result dtype (float16 results get a larger floor)."""
    fn.losskit_floored = True
    return fn


_REGISTRY: dict[tuple[str, str], list[Kernel]] = {}
_LOADED: set[str] = set()


def register_kernel(
    loss: str, backend: str, fn: Callable[..., Any], accepts: Callable[[Any], bool], *,
    name: str | None = None, style: str = "elementwise", max_order: int = 1,
) -> Kernel:
    """Register ``fn`` as a kernel of the catalog loss ``loss`` on ``backend`` (tried in order)."""
    from ._registry import get

    canonical = get(loss).name
    kernel = Kernel(canonical, backend, name or getattr(fn, "__name__", "kernel"), fn, accepts, style, max_order)
    entries = _REGISTRY.setdefault((canonical, backend), [])
    if any(existing.name == kernel.name for existing in entries):
        raise ValueError(f"a kernel named {kernel.name!r} is already registered for {canonical} on {backend}")
    entries.append(kernel)
    return kernel


def kernels(loss: str | None = None, backend: str | None = None) -> list[Kernel]:
    """Every registered kernel, optionally of one loss and/or one backend (loading the backends)."""
    for name in _BACKEND_MODULES:
        if backend is None or backend == name:
            load_backend(name)
    return [
        kernel
        for (loss_name, backend_name), entries in _REGISTRY.items()
        for kernel in entries
        if (loss is None or loss_name == loss) and (backend is None or backend_name == backend)
    ]


# Every array library a loss runs on, and how its gradient reaches that library's autodiff.
LIBRARIES = {
    "numpy": ("NumPy", "the reference kernel; analytic .grad"),
    "torch": ("PyTorch", "one autograd.Function with the analytic gradient"),
    "jax": ("JAX", "jax.custom_jvp: jit, grad, vmap"),
    "tensorflow": ("TensorFlow", "tf.custom_gradient: GradientTape, tf.function"),
    "dask": ("Dask", "lazy and chunked; reductions exact across chunks"),
    "cupy": ("CuPy", "through array-api-compat, on the GPU"),
    "array_api_strict": ("array-api-strict", "the standard and nothing else"),
}


def array_libraries() -> list[tuple[str, str]]:
    """``(library, how)`` for every array library the catalog runs on (each loss runs on all)."""
    return list(LIBRARIES.values())


def load_backend(backend: str) -> None:
    """Import the module that registers ``backend``'s kernels (once; a missing extra is no error)."""
    if backend in _LOADED:
        return
    _LOADED.add(backend)
    module = _BACKEND_MODULES.get(backend)
    if module is not None and module not in sys.modules:
        importlib.import_module(module)


_reference_only: contextvars.ContextVar[bool] = contextvars.ContextVar("losskit_reference_only", default=False)


@contextlib.contextmanager
def reference_only():
    """Run every call inside on the reference kernels (no registered kernel, no native twin).

    What the kernel tests compare against; also a way to rule a fast path out while debugging.
    """
    token = _reference_only.set(True)
    try:
        yield
    finally:
        _reference_only.reset(token)


def select(call: Any, *, styles: tuple[str, ...] = STYLES) -> Kernel | None:
    """The first registered kernel of ``call``'s loss and backend that accepts the call, or None."""
    if _reference_only.get():
        return None
    backend = call.backend
    if backend not in _LOADED:
        load_backend(backend)
    entries = _REGISTRY.get((call.loss.name, backend))
    if not entries:
        return None
    for kernel in entries:
        if kernel.style in styles and call.order <= kernel.max_order and kernel.accepts(call):
            return kernel
    return None


def run(call: Any, kernel: Kernel | None = None, *, reference: bool = False) -> tuple[Any, tuple | None, tuple | None]:
    """Evaluate ``call`` with ``kernel`` (default: the selected one; the reference if none or ``reference``).

    Returns ``(value, grads, hessians)`` reduced, in the compute dtype, class axis last; the
    derivatives are tuples (one per prediction) or None below the call's order.
    """
    if kernel is None and not reference:
        kernel = select(call)
    if kernel is not None and kernel.style != "elementwise":
        if kernel.style == "native":
            return kernel.fn(call), None, None
        value, grads = kernel.fn(call)
        return value, grads, None
    loss = call.loss
    if kernel is None and reference_style(loss) == "reduced":
        value, grads = loss.kernel(call)
        return value, grads, None
    fn = loss.kernel if kernel is None else kernel.fn
    extra = {"with_hess": True} if call.order >= 2 else {}
    if getattr(fn, "losskit_floored", False):
        extra["floor"] = grad_floor(call.out_dtype)
    # A kernel with losskit_grad_factor returns, when asked (factored=True), its gradient divided by
    # that power of two; reduce() applies it after the reduction's scale (2r/n without 2r overflowing).
    grad_factor = getattr(fn, "losskit_grad_factor", None) if call.order >= 1 else None
    if grad_factor is not None:
        extra["factored"] = True
    arguments = (call.y_true, *call.predictions) if loss.has_target else call.predictions
    result = fn(call.xp, *arguments, with_grad=call.order >= 1, **extra, **call.params)
    grads = result.grad
    if grads is not None and not isinstance(grads, tuple):
        grads = (grads,)
    hess = result.hess
    if hess is not None and not isinstance(hess, tuple):
        hess = (hess,)
    return reduce(call.xp, result.loss, grads, result.norm, call.weight, call.reduction, root=loss.root,
                  hessians=hess if call.order >= 2 else None, grad_factor=grad_factor)
