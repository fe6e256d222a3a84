"""The catalog: every loss registered once under its canonical name and its aliases."""

from __future__ import annotations

import difflib

from ._loss import TASKS, Loss

_BY_NAME: dict[str, Loss] = {}
_CANONICAL: dict[str, Loss] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def register(loss: Loss) -> Loss:
    """Add ``loss`` to the catalog under its name and aliases (each name may be taken once)."""
    for name in (loss.name, *loss.aliases):
        key = _key(name)
        if key in _BY_NAME:
            raise ValueError(f"loss name {name!r} is already registered to {_BY_NAME[key].name!r}")
    for name in (loss.name, *loss.aliases):
        _BY_NAME[_key(name)] = loss
    _CANONICAL[loss.name] = loss
    return loss


def get(name: str | Loss) -> Loss:
    """Return the loss registered as ``name`` (canonical name or alias, case-insensitive).

    >>> import losskit as lk
    >>> lk.get("mse").name
    'mean_squared_error'
    """
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type(name).__name__}")
    loss = _BY_NAME.get(_key(name))
    if loss is None:
        raise UnknownLossError(name)
    return loss


class UnknownLossError(ValueError):
    """A name that is no loss of the catalog; the message offers the closest names.

    ``message(listing)`` words the hint at the end for another interface (the command line says
    ``losskit list`` where Python says ``losskit.names()``).
    """

    def __init__(self, name: str):
        self.name = name
        self.suggestions = suggest(name)
        super().__init__(self.message("`losskit.names()` lists every name"))

    def message(self, listing: str) -> str:
        return f"unknown loss {self.name!r}{_suggestion(self.name)}; {listing}"

    def __reduce__(self):  # pickled across worker processes by its name, not its message
        return UnknownLossError, (self.name,)


def suggest(name: str, n: int = 3) -> list[str]:
    """The registered names closest to ``name`` (for "did you mean" messages)."""
    return difflib.get_close_matches(_key(name), list(_BY_NAME), n=n, cutoff=0.5)


def _suggestion(name: str) -> str:
    close = suggest(name)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""


# Name parts written in capitals in class names (SmoothL1, KLDivergence, GaussianNLL), as
# PyTorch and Keras write them.
_ACRONYMS = {"l1": "L1", "l2": "L2", "kl": "KL", "nll": "NLL"}


def class_name(loss: str | Loss) -> str:
    """The adapter class name of a catalog loss: ``"smooth_l1"`` -> ``"SmoothL1"``.

    One function for every adapter, so ``losskit.torch.SmoothL1`` and ``losskit.keras.SmoothL1``
    are the same loss.
    """
    name = get(loss).name
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in name.split("_"))


def catalog(task: str | None = None) -> list[Loss]:
    """Every loss of the catalog, optionally only those of one ``task``, in catalog order.

    >>> import losskit as lk
    >>> [loss.name for loss in lk.catalog("binary")][:2]
    ['binary_cross_entropy', 'sigmoid_cross_entropy']
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
    return [loss for loss in _CANONICAL.values() if task is None or loss.task == task]


def names(include_aliases: bool = True) -> list[str]:
    """Every name :func:`get` accepts (canonical names first)."""
    canonical = list(_CANONICAL)
    if not include_aliases:
        return canonical
    return canonical + sorted(a for loss in _CANONICAL.values() for a in loss.aliases)
