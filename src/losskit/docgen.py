"""Documentation generated from the registry: one page per loss, the catalog, the advisor's rules,
the conformance table, and the catalog table of the README.

The MkDocs build calls these functions through its hook (``docs/hooks/generate_pages.py``), so the
published pages are always those of the code being built; ``python -m losskit.docgen --out DIR``
writes the same pages to disk for inspection, and ``--readme README.md`` refreshes the README's
catalog table in place.

>>> from losskit import docgen
>>> print(docgen.readme_catalog_table().splitlines()[0])
| name | aliases | task | prediction space | label format | convex | robust to outliers |
"""

from __future__ import annotations

import argparse
import io
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ._loss import LABEL_FORMATS, TASKS, Loss
from ._registry import catalog

if TYPE_CHECKING:  # pragma: no cover
    from .conformance import ConformanceTable

__all__ = [
    "README_START",
    "README_END",
    "readme_catalog_table",
    "update_readme",
    "loss_page",
    "catalog_page",
    "advisor_page",
    "conformance_page",
    "plot_svg",
    "generated_pages",
    "write_pages",
    "main",
]

README_START = "<!-- catalog-table:start -->"
README_END = "<!-- catalog-table:end -->"

TASK_TITLES = {"regression": "Regression", "binary": "Binary classification", "multiclass": "Multiclass classification",
               "segmentation": "Segmentation (overlap)", "embedding": "Embeddings and ranking"}
FRAMEWORK_TITLES = {"torch": "PyTorch", "keras": "Keras", "optax": "Optax (JAX)", "sklearn": "scikit-learn",
                    "monai": "MONAI", "kornia": "kornia", "scipy": "SciPy"}
# The registry says "optax"; the conformance table (and the command line) say "jax".
_CONFORMANCE_NAME = {"torch": "torch", "keras": "keras", "optax": "jax", "sklearn": "sklearn",
                     "monai": "monai", "kornia": "kornia", "scipy": "scipy"}


def loss_page_path(loss: Loss) -> str:
    """Where a loss's page lives, relative to the docs directory."""
    return f"losses/{loss.name}.md"


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _catalog_rows(losses: Iterable[Loss], link: str | None) -> list[list[str]]:
    rows = []
    for loss in losses:
        name = f"[`{loss.name}`]({link.format(name=loss.name)})" if link else f"`{loss.name}`"
        aliases = ", ".join(f"`{alias}`" for alias in loss.aliases)
        rows.append([name, aliases, loss.task, loss.prediction_space, LABEL_FORMATS[loss.label_format],
                     _yes_no(loss.convex), _yes_no(loss.robust_to_outliers)])
    return rows


_CATALOG_HEADER = ("name", "aliases", "task", "prediction space", "label format", "convex", "robust to outliers")


# ------------------------------------------------------------------------------------ README

def readme_catalog_table() -> str:
    """The catalog as a Markdown table for the README, one row per loss in catalog order.

    Names are not links: the loss pages exist only in the built site (they are generated at
    build time), so a relative link would be broken on a code host.
    """
    return _table(_CATALOG_HEADER, _catalog_rows(catalog(), None))


def _replace_between_markers(text: str, replacement: str, where: str) -> str:
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(
            f"{where} must contain {README_START} followed by {README_END} on their own lines; "
            "add them where the catalog table belongs"
        )
    head = text[: start + len(README_START)]
    return f"{head}\n{replacement}{text[end:]}"


def update_readme(path: str | Path) -> bool:
    """Replace the catalog table between the README's markers; return whether the file changed.

    Raises ValueError if the markers are missing, and OSError if the file cannot be read or written.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    updated = _replace_between_markers(text, readme_catalog_table(), str(path))
    if updated == text:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


def readme_is_current(path: str | Path) -> bool | None:
    """Whether the README's catalog table matches the registry (None if it has no markers)."""
    text = Path(path).read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return None
    return _replace_between_markers(text, readme_catalog_table(), str(path)) == text


# --------------------------------------------------------------------------------- loss pages

def _math_block(latex: str) -> str:
    # arithmatex (generic mode) hands $$...$$ blocks to MathJax untouched by Markdown.
    return f"$$\n{latex}\n$$\n"


def _parameters_section(loss: Loss) -> str:
    rows = [[f"`{p.name}`", f"`{p.default!r}`", p.constraint, p.description] for p in loss.params]
    rows += [
        ["`sample_weight`", "`None`", "non-negative, shape a prefix of the unreduced loss",
         "Per-sample weights; the mean divides by their sum."],
        ["`reduction`", f"`{loss.reductions[-1] if loss.root else 'mean'!r}`",
         " / ".join(f"`{r}`" for r in loss.reductions), "How the per-element losses are combined."],
    ]
    return _table(("parameter", "default", "valid values", "description"), rows)


def _signature(loss: Loss) -> str:
    keywords = [f"{p.name}={p.default!r}" for p in loss.params] + ["sample_weight=None", "reduction=\"mean\""]
    return f"lk.{loss.name}(y_true, {loss.pred_name}, *, {', '.join(keywords)})"


def _equivalents_section(loss: Loss, conformance: ConformanceTable | None) -> str:
    if not loss.equivalents:
        return "No framework among PyTorch, Keras, Optax and scikit-learn has this loss.\n"
    header = ["framework", "API", "relation", "note"]
    measured = conformance is not None and loss.name in conformance.rows
    if measured:
        header.append("measured ([conformance](../conformance.md))")
    rows = []
    for equivalent in loss.equivalents:
        row = [FRAMEWORK_TITLES.get(equivalent.framework, equivalent.framework), f"`{equivalent.api}`",
               equivalent.relation, equivalent.note or ""]
        if measured:
            cells = conformance.rows[loss.name]
            cell = cells.get(_CONFORMANCE_NAME.get(equivalent.framework, equivalent.framework))
            row.append("" if cell is None else str(cell))
        rows.append(row)
    return _table(header, rows)


def _reference(text: str) -> str:
    return f"<{text}>" if text.startswith(("http://", "https://")) else text


def _bullets(items: Iterable[str]) -> str:
    return "".join(f"- {item}\n" for item in items)


def loss_page(loss: Loss, *, conformance: ConformanceTable | None = None, plot: str | None = None) -> str:
    """The Markdown page of one loss, from its registry entry.

    ``plot`` is the file name of its figure next to the page (omitted if None);
    ``conformance``, if given, adds the measured comparison to the equivalents table.
    """
    aliases = ", ".join(f"`{alias}`" for alias in loss.aliases) or "none"
    sections = [
        f"# {loss.name}\n",
        f"{loss.summary}\n",
        _table(("aliases", "task", "prediction space", "output activation", "label format"),
               [[aliases, loss.task, f"{loss.prediction_space} (argument `{loss.pred_name}`)",
                 loss.output_activation, LABEL_FORMATS[loss.label_format]]]),
    ]
    if loss.description:
        sections.append(textwrap.dedent(loss.description).strip() + "\n")
    sections += ["## Formula\n", _math_block(loss.formula), "## Gradient\n", _math_block(loss.gradient_formula)]
    if plot is not None:
        sections += ["## Plot\n", f"![{loss.name}: the loss and its gradient]({plot})\n"]
    sections += [
        "## Usage\n", f"```python\n{_signature(loss)}\n```\n",
        "## Parameters\n", _parameters_section(loss),
        "## Properties\n",
        _table(("convex", "robust to outliers", "differentiable", "reductions"),
               [[_yes_no(loss.convex), _yes_no(loss.robust_to_outliers), _yes_no(loss.differentiable),
                 ", ".join(f"`{r}`" for r in loss.reductions)]]),
        "## When to use it\n", f"{loss.when_to_use}\n",
        "## When not to use it\n", f"{loss.when_not_to_use}\n",
    ]
    if loss.pitfalls:
        sections += ["## Pitfalls\n", _bullets(loss.pitfalls)]
    sections += ["## Equivalents in other frameworks\n", _equivalents_section(loss, conformance)]
    if loss.references:
        sections += ["## References\n", _bullets(_reference(r) for r in loss.references)]
    if loss.example:
        sections += ["## Example\n", f"```pycon\n{textwrap.dedent(loss.example).strip()}\n```\n"]
    return "\n".join(sections)


def plot_svg(loss: Loss) -> bytes:
    """The loss and its gradient (``lk.plot(name)``) as SVG bytes, with text kept as text."""
    import matplotlib

    from .plotting import plot

    figure = plot(loss.name)
    buffer = io.BytesIO()
    # Text as <text> rather than glyph paths: smaller files that render with the page's fonts;
    # no date in the metadata, so identical figures give identical files.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


# ------------------------------------------------------------------------- the other pages

def catalog_page() -> str:
    """The catalog index: one table per task, each name linking to its page."""
    sections = [
        "# Catalog\n",
        f"Every loss of losskit ({len(catalog())} in all), generated from the registry. `losskit list` prints "
        "the same table; `losskit show NAME` prints one page.\n",
    ]
    for task in TASKS:
        sections += [f"## {TASK_TITLES[task]}\n", _table(_CATALOG_HEADER, _catalog_rows(catalog(task), "losses/{name}.md"))]
    return "\n".join(sections)


def advisor_page() -> str:
    """The advisor's rules (``losskit.advisor.RULES``), one table per task, best score first."""
    from .advisor import RULES

    sections = [
        "# The advisor's rules\n",
        "`losskit recommend` and `lk.recommend(...)` match the situation you describe (or that they read from "
        "your data with `--csv FILE --target COLUMN`) against these rules and rank every matching loss by its "
        "score. Each rule is a row of data in `losskit/advisor.py`; this page is generated from it. A condition "
        "lists the values a field may take; `unknown` means the field was not stated and could not be "
        "inferred, and fields that are not listed may take any value.\n",
    ]
    for task in TASKS:
        rules = sorted((r for r in RULES if task in r.when.get("task", TASKS)), key=lambda r: -r.score)
        rows = []
        for rule in rules:
            params = ", ".join(f"{k}={v}" for k, v in rule.params.items())
            from_data = ", ".join(f"{k} from the data's {v}" for k, v in rule.params_from_data.items())
            rows.append([
                f"[`{rule.loss}`](losses/{rule.loss}.md)", "; ".join(filter(None, [params, from_data])),
                f"`{rule.condition}`", rule.score, rule.reason, rule.source,
            ])
        sections += [f"## {TASK_TITLES[task]}\n",
                     _table(("loss", "parameters", "when", "score", "why", "source"), rows)]
    return "\n".join(sections)


def conformance_page(table: ConformanceTable) -> str:
    """The conformance table with an explanation of how it is measured."""
    from . import conformance

    frameworks = ", ".join(conformance.DISPLAY_NAMES[fw] for fw in table.frameworks)
    intro = f"""\
# Conformance with other frameworks

How losskit's values compare with {frameworks}, measured when this site was built by
`losskit conformance` (the same table is available as `lk.conformance.table()`, and as JSON with
`losskit conformance --json`).

For each loss and each framework the registry lists as having it, both libraries compute the
`"mean"` reduction on fixed, seeded inputs: typical values first, then the edge cases where
libraries part ways (probabilities at exactly 0 and 1 and at 1e-7 from them, logits at ±100,
residuals of 1e3), and a weighted mean (`sample_weight`, one weight 0) where the framework
has one. Parameters that change a relation are also checked away from their default (Huber's
`delta`, SmoothL1's `beta`, the quantile `q`, the SVR `epsilon`).

- **equal** means equal on every input, within a relative difference of {conformance.RTOL_FLOAT64:g}
  (float64) or {conformance.RTOL_FLOAT32:g} where the framework computes in float32 (Keras, and Optax
  unless JAX runs with 64-bit floats); the largest difference measured is shown.
- **differs** names the first input where the values part, both values (or the measured factor,
  when one value is a constant multiple of the other), and the registry's note on why.
- The adapters call each framework's own function in losskit's argument order; they never
  rescale a result, so a documented factor shows up here as a measured difference.
- **not installed** cells are frameworks missing where the site was built; **n/a** means the
  framework has no such loss.
"""
    return intro + "\n" + table.to_markdown(loss_link="losses/{name}.md")


# ----------------------------------------------------------------------------------- output

def generated_pages(*, plots: bool = True, conformance: bool = True) -> dict[str, str | bytes]:
    """Every generated file, keyed by its path relative to the docs directory.

    ``plots=False`` leaves out the figures (and their links); ``conformance=False`` leaves out the
    conformance page and the measured column of each loss page (it imports every framework).
    """
    from . import conformance as conformance_module

    table = conformance_module.table() if conformance else None
    files: dict[str, str | bytes] = {"catalog.md": catalog_page(), "advisor.md": advisor_page()}
    if table is not None:
        files["conformance.md"] = conformance_page(table)
    for loss in catalog():
        figure = f"{loss.name}.svg" if plots else None
        files[loss_page_path(loss)] = loss_page(loss, conformance=table, plot=figure)
        if figure is not None:
            files[f"losses/{figure}"] = plot_svg(loss)
    return files


def write_pages(out: str | Path, **options: bool) -> list[Path]:
    """Write :func:`generated_pages` under ``out``; return the paths written."""
    out = Path(out)
    written = []
    for relative, content in generated_pages(**options).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m losskit.docgen",
        description="Write the documentation pages generated from the registry, or refresh the README's catalog table.",
        epilog="Examples: python -m losskit.docgen --out /tmp/pages --no-plots; python -m losskit.docgen --readme README.md",
    )
    parser.add_argument("--out", help="directory to write the pages into (default: docs, unless only --readme is given)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures (the slowest part)")
    parser.add_argument("--no-conformance", action="store_true", help="skip the conformance table (imports every framework)")
    parser.add_argument("--readme", metavar="PATH", help="refresh the catalog table between the markers of this README")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None or args.readme else "docs"
    if out is not None:
        written = write_pages(out, plots=not args.no_plots, conformance=not args.no_conformance)
        print(f"wrote {len(written)} files under {out}")
    if args.readme:
        changed = update_readme(args.readme)
        print(f"{args.readme}: catalog table {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
