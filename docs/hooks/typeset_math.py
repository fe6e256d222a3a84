"""MkDocs hook: typeset the pages' math at build time as MathML, so the site needs no network.

``pymdownx.arithmatex`` (generic mode) wraps each formula of the pages in
``<div class="arithmatex">\\[ ... \\]</div>`` (``<span ...>\\( ... \\)</span>`` inline); this hook
replaces the LaTeX inside with MathML from ``latex2mathml`` (in the ``docs`` extra), which browsers
render natively (MathML Core). No script runs and nothing is fetched when a page opens, so the
formulas show offline, from ``file://`` and in any mirror of the built site. The registry keeps
its formulas in LaTeX; the command line and docstrings show them as Unicode text instead
(``losskit._formula``).

A formula that the converter leaves partly untranslated (a command it does not know would appear
as a raw ``\\name`` on the page) fails the build, naming the formula.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.S)
_INLINE = re.compile(r'<span class="arithmatex">\s*\\\((.*?)\\\)\s*</span>', re.S)
# Text of MathML elements that still holds a backslash: a command latex2mathml did not translate.
_UNTRANSLATED = re.compile(r">([^<]*\\[^<]*)<")


def _prepare(latex: str) -> str:
    """Spell the few commands that latex2mathml misreads in a form that it knows."""
    latex = re.sub(r"\\arg(?![A-Za-z])", r"\\operatorname{arg}", latex)
    # Inside \text{...} an escaped underscore is just an underscore (latex2mathml keeps the \).
    return re.sub(r"\\text\{([^{}]*)\}", lambda m: "\\text{" + m.group(1).replace("\\_", "_") + "}", latex)


def latex_to_mathml(latex: str, *, display: bool = True) -> str:
    """One formula (as arithmatex leaves it: HTML-escaped LaTeX) as a ``<math>`` element."""
    source = html.unescape(latex).strip()
    mathml = convert(_prepare(source), display="block" if display else "inline")
    untranslated = _UNTRANSLATED.search(mathml)
    if untranslated:
        raise ValueError(f"latex2mathml left {untranslated.group(1)!r} untranslated in the formula {source!r}")
    # The LaTeX stays with the formula for screen readers and for copying.
    return mathml.replace("<math ", f'<math alttext="{html.escape(source, quote=True)}" ', 1)


def typeset(page_html: str) -> str:
    """``page_html`` with every arithmatex formula replaced by MathML."""
    page_html = _BLOCK.sub(lambda m: f'<div class="arithmatex">{latex_to_mathml(m.group(1))}</div>', page_html)
    return _INLINE.sub(
        lambda m: f'<span class="arithmatex">{latex_to_mathml(m.group(1), display=False)}</span>', page_html
    )


def on_page_content(page_html, page, config, files):
    return typeset(page_html)
