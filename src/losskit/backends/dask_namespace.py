"""array-api-compat's Dask namespace, with the one function whose memory grows with the input replaced.

``array_api_compat.dask.array.clip`` broadcasts scalar bounds to an array of the input's full
shape in one chunk and rechunks it to the input's chunks, so a loss over 600 MB in 8 MB chunks
peaks at several hundred MB instead of a few chunks. With scalar bounds, ``clip`` here is an
elementwise ``maximum``/``minimum`` (NaN propagates, as in the standard's clip); array bounds go
to array-api-compat unchanged. Everything else is array-api-compat's namespace.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.dask.array as _compat
import dask.array as da
from array_api_compat.dask.array import *  # noqa: F403

LIBRARY_NAME = "dask"


def __getattr__(name: str) -> Any:
    return getattr(_compat, name)


def _scalar_or_none(bound: Any) -> bool:
    return bound is None or (isinstance(bound, (int, float)) and not isinstance(bound, bool))


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - the standard's names
    if not (_scalar_or_none(min) and _scalar_or_none(max)):
        return _compat.clip(x, min, max)
    if min is not None:
        x = da.maximum(x, min)
    if max is not None:
        x = da.minimum(x, max)
    return x
