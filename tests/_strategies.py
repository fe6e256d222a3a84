"""Inputs and comparison rules of the differential harness (``tests/test_differential.py``).

``samples(loss, dtypes)`` is a hypothesis strategy of :class:`Sample` for any loss of the catalog:
valid inputs from the loss's generator (``_cases.make_case``) or its documented edges
(``_edge_cases.edge_case``: floors, kinks, infinities, NaN), mixed row by row, permuted, scaled
towards the dtype's overflow, emptied, and NaN-injected into the float inputs that are data (never
into labels). Every input is rounded to the sample's dtype first, so the float64 reference sees
exactly the numbers a door sees. ``reference(sample)`` is the float64 NumPy reference
(``lk.reference_only()``), and ``compare`` applies the harness's rules (see the docstring of
``tests/test_differential.py``) and returns the list of violations.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

import losskit as lk
from _cases import make_case, param_cases, shapes
from _edge_cases import edge_case

try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    ml_dtypes = None

FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")

# Relative tolerance per dtype (a few units of its precision, times the conditioning of a loss
# and its reduction); the absolute tolerance is the same factor times the magnitude of the
# reference array (its largest finite |value|), floored at the dtype's smallest normal number.
RTOL = {"float64": 1e-9, "float32": 2e-5, "float16": 1e-2, "bfloat16": 2e-2}

# Label formats whose target is data (a NaN there is a missing measurement, injected by the
# harness); the others are labels (one-hot, integer, signed +-1), which are never NaN-injected.
DATA_TARGETS = ("real", "non-negative", "counts", "positive", "distribution", "binary")
# Scales applied to the scalable inputs (values, logits, scores, embeddings) to reach each
# dtype's overflow: 1e4 squares past float16's 65504, 1e30 squares past float32's 3.4e38, 3e38 is
# float32's edge, 1e200 squares past float64's.
SCALES = (1.0, 1e3, 1e4, 1e15, 1e19, 1e30, 3e38, 1e150, 1e200)


def finfo(dtype: str):
    if dtype == "bfloat16":
        return ml_dtypes.finfo(ml_dtypes.bfloat16)
    return np.finfo(np.dtype(dtype))


def numpy_dtype(dtype: str):
    return ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` rounded to ``dtype`` and back to float64 (the numbers a ``dtype`` door sees)."""
    with np.errstate(all="ignore"):
        return np.asarray(array, dtype=np.float64).astype(numpy_dtype(dtype)).astype(np.float64)


@dataclasses.dataclass
class Sample:
    """One call: float64 arrays already rounded to ``dtype`` (labels stay integers)."""

    loss: Any
    args: tuple  # (y_true, *predictions) as float64 NumPy (integer labels for sparse losses)
    params: dict
    reduction: str
    dtype: str
    label_dtype: str = "int64"
    nan_positions: tuple = ()  # (argument index, index tuple) of every NaN the harness injected
    note: str = ""
    # The reference's error on the exact inputs before rounding (None: the inputs are in the domain).
    # Validity is judged there, so that rounding a distribution to float16 (its rows then sum to
    # 1 +- 1e-3) does not make a valid sample invalid.
    domain_error: str | None = None
    # The reference's error on the rounded inputs when the exact ones are valid (a positive target of
    # 1e-10 that float16 rounds to 0): a door at the dtype may then refuse the call (ValueError/TypeError).
    rounding_error: str | None = None

    @property
    def first(self) -> int:
        """Index of the first prediction in ``args`` (1 after a target, 0 without one)."""
        return 1 if self.loss.has_target else 0

    def __repr__(self) -> str:
        return (f"Sample({self.loss.name}, dtype={self.dtype}, reduction={self.reduction!r}, params={self.params}, "
                f"labels={self.label_dtype}, nan_positions={self.nan_positions}, {self.note})")

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis prints samples through this
        printer.text(repr(self))

    def is_label(self, index: int) -> bool:
        return self.loss.has_target and index == 0 and self.loss.label_format not in DATA_TARGETS

    def numpy_args(self, dtype: str | None = None) -> tuple:
        """The arguments as NumPy arrays of ``dtype`` (default: the sample's)."""
        dtype = dtype or self.dtype
        out = []
        for i, a in enumerate(self.args):
            if self.loss.kind == "sparse" and i == 0 or (self.loss.name == "linear_cross_entropy" and i == 0):
                out.append(np.asarray(a).astype(self.label_dtype))
            else:
                with np.errstate(all="ignore"):
                    out.append(np.asarray(a, dtype=np.float64).astype(numpy_dtype(dtype)))
        return tuple(out)

    def keywords(self) -> dict:
        return {"reduction": self.reduction, **self.params}

    def reproducer(self) -> str:
        """Python lines that rebuild the call (arrays written out in float64)."""
        np.set_printoptions(precision=17, threshold=10_000)
        lines = ["import numpy as np, losskit as lk, ml_dtypes", "nan, inf = np.nan, np.inf"]
        names = self.loss._argument_names
        dtype = "ml_dtypes.bfloat16" if self.dtype == "bfloat16" else f"np.{self.dtype}"
        for i, (name, a) in enumerate(zip(names, self.args)):
            kind = f"np.{self.label_dtype}" if np.asarray(a).dtype.kind in "iu" else dtype
            lines.append(f"{name} = np.array({np.asarray(a).tolist()!r}, dtype={kind})")
        params = ", ".join(f"{k}={(v.tolist() if isinstance(v, np.ndarray) else v)!r}" for k, v in self.params.items())
        call = ", ".join(names)
        lines.append(f"# dtype={self.dtype} labels={self.label_dtype} {self.note}")
        lines.append(f"lk.{self.loss.name}({call}, reduction={self.reduction!r}{', ' + params if params else ''})")
        return "\n".join(lines)


def _same_rows(loss) -> list[int]:
    """Argument indices that share the leading (batch) axis: all but a 'free' input (linear's weight)."""
    shapes_ = ("same",) + tuple(loss.input_shapes)
    first = 1 if loss.has_target else 0
    out = [0] if loss.has_target else []
    out += [first + k for k, s in enumerate(shapes_) if s != "free"]
    return out


def _scalable(loss) -> list[int]:
    """Argument indices whose values may be scaled without leaving the loss's domain."""
    first = 1 if loss.has_target else 0
    out = []
    if loss.prediction_space == "probabilities":
        return out
    if loss.has_target and loss.label_format in ("real", "non-negative", "counts", "positive"):
        out.append(0)
    for k, name in enumerate(loss.inputs):
        if name == "variance" or (k and loss.input_shapes[k - 1] == "free"):
            continue
        out.append(first + k)
    return out


def _nan_targets(loss) -> list[int]:
    """Argument indices where the harness may inject NaN: float data, never labels."""
    first = 1 if loss.has_target else 0
    out = [first + k for k in range(len(loss.inputs))]
    if loss.has_target and loss.label_format in DATA_TARGETS and loss.kind != "sparse":
        out.append(0)
    return out


@st.composite
def samples(draw, loss, dtypes=FLOAT_DTYPES, reductions=None, allow_params=True, sizes=(12, 20, 30)):
    """A :class:`Sample` of ``loss`` at one of ``dtypes``."""
    loss = lk.get(loss)
    dtype = draw(st.sampled_from(dtypes))
    reduction = draw(st.sampled_from(reductions or loss.reductions))
    source = draw(st.sampled_from(("ordinary", "edges", "edges", "mixed", "empty")))
    seed = 2 * draw(st.integers(0, 2**15))  # even: edge_case's signed labels stay +-1
    rng = np.random.default_rng(seed)
    if source == "edges" or source == "mixed":
        size = draw(st.sampled_from(sizes))
        args = [np.array(a) for a in edge_case(loss, size, seed=seed)]
        pred_shape = args[1 if loss.has_target else 0].shape
    else:
        pred_shape = draw(st.sampled_from(shapes(loss)))
        args = None
    params = {}
    if allow_params:
        cases = param_cases(loss, pred_shape)
        _, params = draw(st.sampled_from(cases))
        if loss.name == "linear_cross_entropy" and "class_weight" in params:
            pass  # sized for the vocabulary by param_cases
    if args is None:
        args = [np.array(a) for a in make_case(loss, pred_shape, params, seed=seed).args]
    elif source == "mixed":
        ordinary = [np.array(a) for a in make_case(loss, pred_shape, seed=seed).args]
        rows = _same_rows(loss)
        keep = rng.random(pred_shape[0]) < 0.5
        order = rng.permutation(pred_shape[0])
        for i in rows:
            if ordinary[i].shape[:1] == args[i].shape[:1] and ordinary[i].dtype.kind == args[i].dtype.kind:
                mixed = np.where(keep.reshape((-1,) + (1,) * (args[i].ndim - 1)), args[i], ordinary[i])
                args[i] = mixed[order]
    note = f"source={source} seed={seed}"
    scale = draw(st.sampled_from(SCALES)) if source != "empty" else 1.0
    if scale != 1.0:
        for i in _scalable(loss):
            with np.errstate(all="ignore"):
                args[i] = args[i] * scale
        note += f" scale={scale:g}"
    if source == "empty":
        for i in _same_rows(loss):
            args[i] = args[i][:0]
    nan_positions = []
    if source != "empty" and draw(st.booleans()):
        candidates = _nan_targets(loss)
        for _ in range(draw(st.integers(1, 2))):
            i = candidates[rng.integers(len(candidates))]
            if args[i].size == 0:
                continue
            args[i] = np.array(args[i], dtype=np.float64)
            index = tuple(int(rng.integers(n)) for n in args[i].shape)
            args[i][index] = math.nan
            nan_positions.append((i, index))
        note += " nan-injected"
    exact = [np.asarray(a).astype(np.int64) if (loss.kind == "sparse" or loss.name == "linear_cross_entropy") and i == 0
             else np.asarray(a, dtype=np.float64) for i, a in enumerate(args)]
    domain_error = _domain_error(loss, exact, params, reduction)
    rounded = []
    for i, a in enumerate(args):
        if loss.kind == "sparse" and i == 0 or (loss.name == "linear_cross_entropy" and i == 0):
            rounded.append(np.asarray(a).astype(np.int64))
        else:
            rounded.append(round_to(a, dtype))
    label_dtype = "int64"
    if loss.kind == "sparse" or loss.name == "linear_cross_entropy":
        label_dtype = draw(st.sampled_from(("int64", "int32", "int16", "uint8")))
        if label_dtype == "uint8" and (rounded[0] < 0).any():
            label_dtype = "int16"
    rounding_error = None
    if domain_error is None and dtype != "float64":
        rounding_error = _domain_error(loss, rounded, params, reduction)
    return Sample(loss, tuple(rounded), dict(params), reduction, dtype, label_dtype, tuple(nan_positions), note,
                  domain_error, rounding_error)


def _domain_error(loss, args, params, reduction) -> str | None:
    """The reference's ValueError/TypeError on the exact (float64, unrounded) inputs, or None if valid."""
    try:
        with np.errstate(all="ignore"), lk.reference_only():
            loss(*args, reduction=reduction, **params)
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


# ------------------------------------------------------------------------------------ reference

@dataclasses.dataclass
class Reference:
    value: np.ndarray | None
    grads: tuple | None
    error: BaseException | None = None


def as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


@contextlib.contextmanager
def _floor_of(dtype: str):
    """Run the float64 reference with the gradient floor documented for ``dtype`` (2^-14 for float16)."""
    from losskit import _kernels

    original = _kernels.grad_floor
    floor = original(np.dtype(dtype)) if dtype != "bfloat16" else original("bfloat16")
    _kernels.grad_floor = lambda _dtype: floor
    try:
        yield
    finally:
        _kernels.grad_floor = original


def reference(sample: Sample) -> Reference:
    """The float64 NumPy reference kernels on the sample's (rounded) inputs, with the dtype's gradient floor."""
    loss = sample.loss
    if sample.domain_error is not None:
        return Reference(None, None, ValueError(sample.domain_error))
    try:
        with np.errstate(all="ignore"), lk.reference_only(), lk.value_checks(sample.dtype == "float64"), \
                _floor_of(sample.dtype):
            value, grads = loss.value_and_grad(*sample.numpy_args("float64"), **sample.keywords())
    except (ValueError, TypeError) as error:
        return Reference(None, None, error)
    return Reference(np.asarray(value, dtype=np.float64), tuple(np.asarray(g, dtype=np.float64) for g in as_tuple(grads)))


def _ignored_rows(sample: Sample) -> np.ndarray | None:
    """Boolean mask over the loss elements whose label is the ignore_index (None if none)."""
    index = sample.params.get("ignore_index")
    if index is None or not sample.loss.has_target:
        return None
    return np.asarray(sample.args[0]) == index


def _is_free(sample: Sample, i: int) -> bool:
    """Whether argument ``i`` is a free-shaped input (linear_cross_entropy's weight)."""
    k = i - sample.first
    return k >= 1 and sample.loss.input_shapes[k - 1] == "free"


def affected_loss_elements(sample: Sample, loss_shape: tuple) -> np.ndarray:
    """Loss elements (reduction="none") that an injected NaN feeds directly (its own element)."""
    mask = np.zeros(loss_shape, dtype=bool)
    loss = sample.loss
    ignored = _ignored_rows(sample)
    for i, index in sample.nan_positions:
        if _is_free(sample, i):
            mask[...] = True
            continue
        if len(index) == len(loss_shape):
            element = index
        elif loss.kind == "overlap":
            element = (index[-1],) if len(loss_shape) == 1 else (index[0], index[-1])
        else:
            element = index[:len(loss_shape)]
        mask[element] = True
    if ignored is not None and ignored.shape == loss_shape:
        mask &= ~ignored
    return mask


def nan_must_reach_value(sample: Sample) -> bool:
    """Whether an injected NaN must make a reduced (mean/sum) value NaN."""
    if not sample.nan_positions:
        return False
    ignored = _ignored_rows(sample)
    if ignored is None:
        return True
    for i, index in sample.nan_positions:
        if i == 0 or _is_free(sample, i) or not ignored[index[: ignored.ndim]]:
            return True
    return False


def policy_violations(sample: Sample, ref: Reference) -> list[str]:
    """The NaN policy applied to the reference itself: an injected NaN reaches its element and gradient."""
    if ref.error is not None or not sample.nan_positions:
        return []
    problems = []
    value = ref.value
    if sample.reduction == "none":
        expected = affected_loss_elements(sample, value.shape)
        missing = expected & ~np.isnan(value)
        if missing.any():
            problems.append(f"reference value: NaN input gives a number at loss elements {np.argwhere(missing).tolist()[:4]} "
                            f"(got {value[missing][:4].tolist()})")
    elif nan_must_reach_value(sample) and not np.isnan(value).all():
        problems.append(f"reference value: NaN input gives {value.tolist()} under reduction={sample.reduction!r}")
    ignored = _ignored_rows(sample)
    for i, index in sample.nan_positions:
        if ignored is not None and not _is_free(sample, i) and ignored[index[: ignored.ndim]]:
            continue
        for k, g in enumerate(ref.grads):
            arg = sample.first + k
            from_target = sample.loss.has_target and i == 0
            if np.shape(sample.args[arg]) != g.shape or (arg != i and not from_target):
                continue  # a free-shaped input (linear's weight) or another prediction
            if np.shape(sample.args[i]) != g.shape:
                continue
            if not np.isnan(g[index]):
                problems.append(f"reference gradient {k}: NaN input at {index} (argument {i}) gives {g[index]!r}")
    return problems


# ------------------------------------------------------------------------------------- compare

def to_float64(x) -> np.ndarray:
    """A door's output as float64 NumPy (torch bfloat16 included)."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach()
            if x.dtype == torch.bfloat16 or x.dtype == torch.float16:
                x = x.float()
            return x.cpu().numpy().astype(np.float64)
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x).astype(np.float64)


def conditioning_scale(sample: Sample, ref: Reference) -> float:
    """|L| / |x|: the size of a gradient's terms (a gradient that cancels to far below it is rounding noise)."""
    if ref.value is None:
        return 0.0
    values = np.abs(ref.value[np.isfinite(ref.value)])
    if values.size == 0:
        # A NaN reduced value (an injected NaN) hides the size of the other elements' losses.
        values = _finite_unreduced_losses(sample)
    inputs = [np.abs(np.asarray(a, dtype=np.float64)).ravel() for a in sample.args[sample.first:]]
    inputs = np.concatenate(inputs) if inputs else np.zeros(0)
    inputs = inputs[np.isfinite(inputs) & (inputs > 0)]
    if values.size == 0 or inputs.size == 0:
        return 0.0
    return float(values.max() / np.median(inputs))


def _finite_unreduced_losses(sample: Sample) -> np.ndarray:
    """|loss| of each element whose loss is finite (reduction="none" of the reference)."""
    loss = sample.loss
    if "none" not in loss.reductions:
        return np.zeros(0)
    try:
        with np.errstate(all="ignore"), lk.reference_only(), lk.value_checks(False), _floor_of(sample.dtype):
            value = loss(*sample.numpy_args("float64"), **{**sample.keywords(), "reduction": "none"})
    except (ValueError, TypeError):
        return np.zeros(0)
    value = np.abs(np.asarray(value, dtype=np.float64))
    return value[np.isfinite(value)]


def compare(got, expected: np.ndarray, dtype: str, what: str, cond_scale: float = 0.0) -> list[str]:
    """The harness's rules for one array: shape, NaN masks, IEEE overflow, tolerance."""
    got = to_float64(got)
    if got.shape != expected.shape:
        return [f"{what}: shape {got.shape}, reference {expected.shape}"]
    info = finfo(dtype)
    rtol = RTOL[dtype]
    big = float(info.max)
    problems = []
    g_nan, e_nan = np.isnan(got), np.isnan(expected)
    if (g_nan & ~e_nan).any():
        at = np.argwhere(g_nan & ~e_nan).tolist()[:3]
        problems.append(f"{what}: NaN where the reference is {expected[g_nan & ~e_nan][:3].tolist()} (at {at})")
    if (e_nan & ~g_nan).any():
        at = np.argwhere(e_nan & ~g_nan).tolist()[:3]
        problems.append(f"{what}: NaN swallowed, got {got[e_nan & ~g_nan][:3].tolist()} where the reference is NaN (at {at})")
    both = ~g_nan & ~e_nan
    g, e = got[both], expected[both]
    # Overflow: a reference beyond the dtype's largest finite number (by more than rounding) is inf.
    over = np.abs(e) > big * (1 + 2 * float(info.eps))
    wrong_over = over & ~(np.isinf(g) & (np.sign(g) == np.sign(e)))
    if wrong_over.any():
        problems.append(f"{what}: reference {e[wrong_over][:3].tolist()} overflows {dtype} (max {big:g}) "
                        f"but the door gives {g[wrong_over][:3].tolist()} (must be inf)")
    representable = np.isfinite(e) & (np.abs(e) < big * (1 - 4 * rtol))
    lost = representable & ~np.isfinite(g)
    if lost.any():
        problems.append(f"{what}: {g[lost][:3].tolist()} where the reference {e[lost][:3].tolist()} is finite in {dtype}")
    e_inf = np.isinf(e)
    bad_inf = e_inf & (g != e)
    if bad_inf.any():
        problems.append(f"{what}: {g[bad_inf][:3].tolist()} where the reference is {e[bad_inf][:3].tolist()}")
    finite = representable & np.isfinite(g)
    if finite.any():
        scale = float(np.max(np.abs(e[finite])))
        atol = max(rtol * scale, float(info.tiny), 8 * float(info.eps) * cond_scale)
        flushed = (g[finite] == 0).all() and scale > float(info.tiny) * (1 + rtol)
        if flushed:
            problems.append(f"{what}: every element is 0 where the reference reaches {scale!r} (representable in "
                            f"{dtype}): an intermediate overflowed or underflowed")
        err = np.abs(g[finite] - e[finite])
        bad = err > rtol * np.abs(e[finite]) + atol
        if bad.any():
            k = int(np.argmax(np.where(bad, err, -1)))
            problems.append(f"{what}: {g[finite][k]!r} vs reference {e[finite][k]!r} (|diff| {err[k]:.3g} > "
                            f"rtol {rtol:g} * |ref| + atol {atol:.3g}; {int(bad.sum())} of {bad.size} elements)")
    return problems
