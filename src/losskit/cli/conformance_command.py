"""``losskit conformance``: losskit's values next to PyTorch's, Optax's, Keras's, scikit-learn's, MONAI's, kornia's and SciPy's."""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
from typing import Optional

import typer

from . import CLIError, app
from ._layout import Column, console, print_table

_STYLES = {"equal": "green", "differs": "yellow", "not-applicable": "dim", "not-installed": "dim"}


@app.command()
def conformance(
    framework: Optional[str] = typer.Option(
        None, "--framework", "-f", metavar="LIST",
        help="Comma-separated frameworks to compare with: torch, jax (Optax), keras, sklearn, monai, kornia, scipy. "
             "Default: all.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON (status, max_rel_diff, reason per cell)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
) -> None:
    """Compare every loss with PyTorch, Optax, Keras, scikit-learn, MONAI, kornia and SciPy on fixed inputs with edge cases.

    A cell is "equal (max rel. diff ...)" when the values agree on every input, or "differs: ..." with the input where they part, both values and the documented reason. When the table is wider than the terminal, each loss is printed as a block with one line per framework. A progress bar is drawn on stderr when it is a terminal.

    Example: losskit conformance --framework torch,sklearn
    """
    from .. import conformance as conformance_module

    if as_json and markdown:
        raise CLIError("choose one output format: --json or --markdown, not both")
    frameworks = _check_frameworks(framework, conformance_module)
    with _progress(enabled=not as_json and not markdown) as progress:
        result = conformance_module.table(frameworks=frameworks, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    elif markdown:
        typer.echo(result.to_markdown(), nl=False)
    else:
        _print_rich(result, conformance_module.DISPLAY_NAMES)


def _check_frameworks(framework: Optional[str], module) -> Optional[list[str]]:
    """The frameworks of ``--framework``, each checked, with a did-you-mean for a typo."""
    if framework is None:
        return None
    names = [part.strip() for part in framework.split(",") if part.strip()]
    if not names:
        raise CLIError(f"--framework needs at least one of {', '.join(module.FRAMEWORKS)}")
    known = [*module.FRAMEWORKS, *getattr(module, "_SYNONYMS", {})]
    for name in names:
        try:
            module._framework_name(name)
        except (TypeError, ValueError):
            close = difflib.get_close_matches(name.lower(), known, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise CLIError(
                f"unknown framework {name!r} in --framework{hint} (choose from {', '.join(module.FRAMEWORKS)}; jax means Optax)"
            ) from None
    return names


@contextlib.contextmanager
def _progress(enabled: bool):
    """A progress bar on stderr while the losses are compared; nothing when stderr is no terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("comparing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console(stderr=True), transient=True,
    )
    task = bar.add_task("", total=None)

    def progress(done: int, total: int, loss: str) -> None:
        bar.update(task, completed=done, total=total, description=loss)

    with bar:
        yield progress


def _cell_text(cell) -> str:
    """A cell as the table shows it: the status and a short number, or the reason."""
    if cell.status == "equal":
        return str(cell).replace("max rel. diff ", "≤ ")
    return str(cell)


def _print_rich(result, display_names) -> None:
    from rich.text import Text

    con = console()
    columns = [Column("loss", no_wrap=True), *(Column(display_names[fw]) for fw in result.frameworks)]
    rows = [
        (loss, *(Text(_cell_text(cell), style=_STYLES[cell.status]) for cell in cells.values()))
        for loss, cells in result.rows.items()
    ]
    print_table(
        con, "losskit conformance (mean reduction, fixed seeded inputs; equal (≤ d): max relative difference d)",
        columns, rows, show_lines=True,
    )
