"""Errors that name an argument in the caller's own language.

The same mistake reaches users through the Python API (``compare(csv=...)``) and through the
command line (``losskit compare --csv FILE``). A message written once with placeholders reads
right in both: ``"pass {csv} or choose a built-in {dataset}"`` prints ``csv=`` and
``dataset=`` from Python, and ``--csv`` and ``--dataset`` from the shell. A placeholder with a
format spec carries a value: ``"{task:regression}"`` prints ``task='regression'`` or
``--task regression``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable

__all__ = ["ArgumentError", "python_spelling", "literal", "did_you_mean"]


def literal(text: object) -> str:
    """User text (a path, a column name) placed in a template, its braces kept as they are."""
    return str(text).replace("{", "{{").replace("}", "}}")


def did_you_mean(value: object, choices: "Iterable[str]") -> str:
    """``"did you mean 'rmse'? "`` for the choice closest to a mistyped ``value``, else ``""``."""
    import difflib

    choices = list(choices)
    text = str(value).strip()
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(text.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean {lowered[close[0]]!r}? " if close else ""


def python_spelling(argument: str, value: str | None) -> str:
    return f"{argument}=" if value is None else f"{argument}={value!r}"


class _Speller(string.Formatter):
    def __init__(self, spell: Callable[[str, str | None], str]):
        self._spell = spell

    def get_value(self, key, args, kwargs):  # noqa: D102 - string.Formatter protocol
        return key

    def format_field(self, value, format_spec):  # noqa: D102
        return self._spell(value, format_spec or None)


class ArgumentError(ValueError):
    """A bad value of named arguments. ``str()`` spells them as Python keywords.

    ``arguments`` lists the placeholders of ``template``; :meth:`render` spells them with any
    other convention, e.g. the command line's flags.
    """

    def __init__(self, template: str):
        self.template = template
        self.arguments = tuple(
            field for _, field, _, _ in string.Formatter().parse(template) if field
        )
        super().__init__(self.render(python_spelling))

    literal = staticmethod(literal)

    def render(self, spell: Callable[[str, str | None], str]) -> str:
        """The message with each argument spelled by ``spell(argument, value_or_None)``."""
        return _Speller(spell).format(self.template)
