"""``losskit conformance``: losskit's values next to PyTorch's, Optax's, Keras's, scikit-learn's, MONAI's, kornia's and SciPy's."""

from __future__ import annotations

import json
from typing import Optional

import typer

from . import CLIError, app

_STYLES = {"equal": "green", "differs": "yellow", "not-applicable": "dim", "not-installed": "dim"}


@app.command()
def conformance(
    framework: Optional[str] = typer.Option(
        None, "--framework", "-f",
        help="Comma-separated frameworks to compare with: torch, jax (Optax), keras, sklearn, monai, kornia, scipy. "
             "Default: all.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON (status, max_rel_diff, reason per cell)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
) -> None:
    """Compare every loss with PyTorch, Optax, Keras, scikit-learn, MONAI, kornia and SciPy on fixed inputs with edge cases.

    A cell is "equal (max rel. diff ...)" when the values agree on every input, or "differs: ..." with the input where they part, both values and the documented reason.

    Example: losskit conformance --framework torch,sklearn
    """
    from .. import conformance as conformance_module

    if as_json and markdown:
        raise CLIError("choose one output format: --json or --markdown, not both")
    result = conformance_module.table(frameworks=framework)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    elif markdown:
        typer.echo(result.to_markdown(), nl=False)
    else:
        _print_rich(result, conformance_module.DISPLAY_NAMES)


def _print_rich(result, display_names) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="losskit conformance (mean reduction, fixed seeded inputs)", show_lines=True)
    table.add_column("loss", style="bold", no_wrap=True)
    for fw in result.frameworks:
        table.add_column(display_names[fw])
    for loss, cells in result.rows.items():
        table.add_row(loss, *(f"[{_STYLES[cell.status]}]{_escape(str(cell))}[/]" for cell in cells.values()))
    Console().print(table)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
