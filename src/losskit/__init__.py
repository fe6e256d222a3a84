"""losskit: loss functions for deep learning, written once on the Python array API.

>>> import losskit as lk
>>> float(lk.huber([0.0, 0.0], [0.5, 3.0], delta=1.0))
1.3125
"""

from __future__ import annotations

from keyword import iskeyword as _iskeyword

# Import order is catalog order: regression, then binary, then multiclass.
from . import regression  # isort: skip
from . import robust  # isort: skip
from . import binary  # isort: skip
from . import multiclass  # isort: skip
from . import distributional  # isort: skip
from . import overlap  # isort: skip
from . import embedding  # isort: skip
from . import linear  # isort: skip
from ._array import value_checks
from ._errors import ArgumentError
from ._loss import LABEL_FORMATS, PREDICTION_SPACES, TASKS, Equivalent, Loss, Param
from ._reduction import REDUCTIONS
from ._kernels import array_libraries, reference_only
from ._registry import catalog, class_name, get, names, suggest
from .binary import *  # noqa: F403
from .distributional import *  # noqa: F403
from .embedding import *  # noqa: F403
from .linear import linear_cross_entropy  # noqa: F401
from .multiclass import *  # noqa: F403
from .multiclass import class_balanced_weights
from .overlap import *  # noqa: F403
from .regression import *  # noqa: F403
from .robust import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    "Loss",
    "Param",
    "Equivalent",
    "get",
    "catalog",
    "names",
    "suggest",
    "value_checks",
    "ArgumentError",
    "reference_only",
    "array_libraries",
    "class_name",
    "TASKS",
    "PREDICTION_SPACES",
    "LABEL_FORMATS",
    "REDUCTIONS",
    "class_balanced_weights",
    *regression.__all__,
    *robust.__all__,
    *binary.__all__,
    *multiclass.__all__,
    *distributional.__all__,
    *overlap.__all__,
    *embedding.__all__,
    "linear_cross_entropy",
]


# Optional features load on first use so that `import losskit` needs only NumPy and
# array-api-compat: lk.plot needs matplotlib, lk.lab needs torch and scikit-learn.
_LAZY = {
    "plot": ("losskit.plotting", "plot"),
    "recommend": ("losskit.advisor", "recommend"),
    "conformance": ("losskit.conformance", None),
    "lab": ("losskit.lab", None),
    "boosting": ("losskit.boosting", None),
    "torch": ("losskit.torch", None),
    "keras": ("losskit.keras", None),
}

# The aliases (lk.mse, lk.bce, ...) and the optional features are public too: listed here and in
# dir() for tab completion, and resolved by __getattr__ below (`from losskit import *` included)
# without loading anything at `import losskit`. The framework adapters (losskit.torch, .keras)
# stay out of __all__: importing them needs the framework.
_ALIASES = [alias for loss in catalog() for alias in loss.aliases if alias.isidentifier() and not _iskeyword(alias)]
__all__ += [*_ALIASES, "plot", "recommend", "conformance", "lab", "boosting"]


def __dir__() -> list[str]:
    return sorted((set(globals()) - {"annotations"}) | set(__all__) | set(_LAZY))


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    # Aliases (lk.mse, lk.bce, ...) resolve through the registry, so they can never drift
    # from the canonical objects.
    try:
        return get(name)
    except ValueError:
        raise AttributeError(f"module 'losskit' has no attribute {name!r}") from None
