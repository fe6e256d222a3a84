"""The array API subset the catalog uses, on TensorFlow tensors.

array-api-compat has no TensorFlow namespace, and ``tf.experimental.numpy`` follows NumPy's
names and promotion rules (``concatenate``, no ``astype``, ``isdtype`` or
``__array_namespace_info__``; float64 results from Python floats). This module maps the few
dozen functions the kernels call onto TensorFlow ops instead, so a loss on ``tf.Tensor`` inputs
builds plain TensorFlow ops: they run eagerly, trace into ``tf.function`` and XLA, and place on
the tensors' device. It is deliberately no more than the catalog needs; a kernel that calls a
function missing here fails loudly (AttributeError) in the backend test matrix.

Differences from the standard, which the kernels never rely on: reductions of empty arrays
return TensorFlow's identities, and ``device=`` arguments place the new tensor with
``tf.device``.
"""

from __future__ import annotations

import builtins
import contextlib
from typing import Any

import numpy as np
import tensorflow as tf

LIBRARY_NAME = "tensorflow"  # what losskit reports as these arrays' library

bool = tf.bool  # noqa: A001
float16 = tf.float16
bfloat16 = tf.bfloat16
float32 = tf.float32
float64 = tf.float64
int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64

_PYTHON_SCALARS = (builtins.bool, int, float)


def _placed(device: Any):
    return tf.device(device) if device is not None else contextlib.nullcontext()


def _axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Two operands as tensors of one dtype: a Python scalar takes the tensor's dtype."""
    if isinstance(a, _PYTHON_SCALARS) and not isinstance(b, _PYTHON_SCALARS):
        b = tf.convert_to_tensor(b)
        return tf.constant(a, dtype=b.dtype), b
    if isinstance(b, _PYTHON_SCALARS) and not isinstance(a, _PYTHON_SCALARS):
        a = tf.convert_to_tensor(a)
        return a, tf.constant(b, dtype=a.dtype)
    return tf.convert_to_tensor(a), tf.convert_to_tensor(b)


# ----------------------------------------------------------------------------- dtypes

class _Info:
    def default_dtypes(self, *, device: Any = None) -> dict:
        return {"real floating": tf.float32, "integral": tf.int64, "indexing": tf.int64,
                "complex floating": tf.complex64}

    def devices(self) -> list:
        return [d.name for d in tf.config.list_logical_devices()]


def __array_namespace_info__() -> _Info:
    return _Info()


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    dtype = tf.as_dtype(dtype)
    if kind == "real floating":
        return dtype.is_floating
    if kind == "integral":
        return dtype.is_integer
    if kind == "bool":
        return dtype == tf.bool
    if kind == "numeric":
        return dtype.is_floating or dtype.is_integer or dtype.is_complex
    if isinstance(kind, str):
        return False
    return dtype == tf.as_dtype(kind)


def finfo(dtype: Any):
    dtype = tf.as_dtype(getattr(dtype, "dtype", dtype))
    if dtype == tf.bfloat16:
        import ml_dtypes

        return ml_dtypes.finfo(ml_dtypes.bfloat16)
    return np.finfo(dtype.as_numpy_dtype)


def iinfo(dtype: Any):
    return np.iinfo(tf.as_dtype(getattr(dtype, "dtype", dtype)).as_numpy_dtype)


def result_type(*arrays_and_dtypes: Any) -> Any:
    dtypes = [tf.as_dtype(getattr(a, "dtype", a)) for a in arrays_and_dtypes]
    if builtins.all(d == dtypes[0] for d in dtypes):
        return dtypes[0]
    return tf.as_dtype(np.result_type(*(d.as_numpy_dtype for d in dtypes)))


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
    return tf.cast(x, dtype)


# ----------------------------------------------------------------------------- creation

def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
    with _placed(device):
        if isinstance(obj, tf.Tensor):
            return obj if dtype is None or obj.dtype == dtype else tf.cast(obj, dtype)
        if isinstance(obj, tf.Variable):
            obj = tf.convert_to_tensor(obj)
            return obj if dtype is None else tf.cast(obj, dtype)
        if dtype is None and isinstance(obj, np.ndarray):
            return tf.constant(obj)
        array = np.asarray(obj)
        if dtype is None and array.dtype == np.float64 and not isinstance(obj, np.generic):
            dtype = tf.float32  # TensorFlow's default floating dtype, as for tf.constant(0.5)
        return tf.constant(array, dtype=dtype)


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    with _placed(device):
        return tf.zeros(shape, dtype=dtype or tf.float32)


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    with _placed(device):
        return tf.ones(shape, dtype=dtype or tf.float32)


empty = zeros


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    with _placed(device):
        if dtype is None:
            dtype = tf.float32 if isinstance(fill_value, float) else (tf.bool if isinstance(fill_value, builtins.bool) else tf.int64)
        return tf.fill(shape, tf.constant(fill_value, dtype=dtype))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.zeros_like(x, dtype=dtype)


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.ones_like(x, dtype=dtype)


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    dtype = dtype or x.dtype
    return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype))


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Any:
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = tf.int64 if builtins.all(isinstance(v, int) for v in (start, stop, step)) else tf.float32
    with _placed(device):
        return tf.range(start, stop, step, dtype=dtype)


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None, device: Any = None) -> Any:
    if k != 0:
        raise NotImplementedError("eye(k != 0) is not needed by losskit's kernels")
    with _placed(device):
        return tf.eye(n_rows, n_cols, dtype=dtype or tf.float32)


# ----------------------------------------------------------------------------- elementwise

abs = tf.math.abs  # noqa: A001
exp = tf.math.exp
expm1 = tf.math.expm1
log = tf.math.log
log1p = tf.math.log1p
sqrt = tf.math.sqrt
sign = tf.math.sign
tanh = tf.math.tanh
sinh = tf.math.sinh
isfinite = tf.math.is_finite
isnan = tf.math.is_nan
isinf = tf.math.is_inf


def maximum(a: Any, b: Any, /) -> Any:
    return tf.math.maximum(*_pair(a, b))


def minimum(a: Any, b: Any, /) -> Any:
    return tf.math.minimum(*_pair(a, b))


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:  # noqa: A002
    if min is not None:
        x = maximum(x, min)
    if max is not None:
        x = minimum(x, max)
    return x


def where(condition: Any, a: Any, b: Any, /) -> Any:
    return tf.where(condition, *_pair(a, b))


def logaddexp(a: Any, b: Any, /) -> Any:
    a, b = _pair(a, b)
    larger = tf.math.maximum(a, b)
    # Equal arguments (±inf included) would give inf - inf below.
    return tf.where(a == b, a + tf.constant(np.log(2.0), a.dtype),
                    larger + tf.math.log1p(tf.math.exp(-tf.math.abs(a - b))))


def hypot(a: Any, b: Any, /) -> Any:
    a, b = _pair(a, b)
    a, b = tf.math.abs(a), tf.math.abs(b)
    larger, smaller = tf.math.maximum(a, b), tf.math.minimum(a, b)
    ratio = tf.math.divide_no_nan(smaller, larger)  # scaled, so that squares do not overflow
    scaled = larger * tf.math.sqrt(1 + ratio * ratio)
    return tf.where(tf.math.is_inf(larger), larger, scaled)


# ----------------------------------------------------------------------------- reductions

def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    if dtype is not None and dtype != x.dtype:
        x = tf.cast(x, dtype)
    return tf.math.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)


def max(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.math.reduce_max(x, axis=_axis(axis), keepdims=keepdims)


def min(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.math.reduce_min(x, axis=_axis(axis), keepdims=keepdims)


def any(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.math.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def all(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.math.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def argmax(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
    if axis is None:
        x, axis = tf.reshape(x, (-1,)), 0
    index = tf.math.argmax(x, axis=axis, output_type=tf.int64)
    return tf.expand_dims(index, axis) if keepdims else index


# ----------------------------------------------------------------------------- shapes and indexing

def _static(shape: Any) -> Any:
    """A shape from ``tensor.shape`` inside ``tf.function``, where the batch axis may be unknown (None)."""
    shape = tuple(shape)
    unknown = [i for i, dim in enumerate(shape) if dim is None]
    if not unknown:
        return shape
    if len(unknown) > 1:
        raise ValueError(
            f"losskit needs TensorFlow tensors whose shape is known up to one axis inside tf.function; "
            f"got {shape}: give tf.function an input_signature with one None axis (the batch)"
        )
    return tuple(-1 if dim is None else dim for dim in shape)


def reshape(x: Any, /, shape: Any, *, copy: Any = None) -> Any:
    return tf.reshape(x, _static(shape))


def concat(arrays: Any, /, *, axis: int | None = 0) -> Any:
    if axis is None:
        arrays, axis = [tf.reshape(a, (-1,)) for a in arrays], 0
    return tf.concat(list(arrays), axis=axis)


def broadcast_to(x: Any, /, shape: Any) -> Any:
    return tf.broadcast_to(x, shape)


def permute_dims(x: Any, /, axes: Any) -> Any:
    return tf.transpose(x, perm=list(axes))


def matrix_transpose(x: Any, /) -> Any:
    return tf.linalg.matrix_transpose(x)


def moveaxis(x: Any, source: Any, destination: Any, /) -> Any:
    ndim = x.shape.rank
    sources = [s % ndim for s in (source if isinstance(source, (tuple, list)) else (source,))]
    destinations = [d % ndim for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    order = [axis for axis in range(ndim) if axis not in sources]
    for dest, src in sorted(zip(destinations, sources)):
        order.insert(dest, src)
    return tf.transpose(x, perm=order)


def matmul(a: Any, b: Any, /) -> Any:
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.tensordot(a, b, axes=1)
    if b.shape.rank == 1:
        return tf.linalg.matvec(a, b)
    if a.shape.rank == 1:
        return tf.linalg.matvec(b, a, transpose_a=True)
    return tf.linalg.matmul(a, b)


def take(x: Any, indices: Any, /, *, axis: Any = None) -> Any:
    if axis is None:
        x, axis = tf.reshape(x, (-1,)), 0
    return tf.gather(x, indices, axis=axis)


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    import tensorflow.experimental.numpy as tnp

    return tnp.take_along_axis(x, indices, axis=axis)
