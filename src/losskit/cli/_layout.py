"""Tables that fit the terminal: wrapped at spaces, never cut, compact below a width.

Every table of the command line goes through :func:`print_table`. It measures the table's
narrowest layout that keeps each word whole (rich's minimum width of a cell is its longest word,
the whole text for a ``no_wrap`` column); when that fits the console, the table is printed with
its cells wrapped at spaces. When it does not, the rows are printed as blocks, one per row: the
first cell as a heading, then one ``label  value`` line per other cell, each value wrapped at
spaces under itself. Nothing is cut with an ellipsis and no word is split, at any width (a
single word longer than the whole line is the only thing that can still fold).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Column", "console", "fit_columns", "fits", "print_table", "print_blocks"]


@dataclass(frozen=True)
class Column:
    """A table column: ``header`` and whether its cells are short tokens that must not wrap."""

    header: str
    no_wrap: bool = False
    justify: str = "left"


def console(stderr: bool = False):
    """A rich console of the terminal's width (``COLUMNS`` wins); 120 columns when piped."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, soft_wrap=False, width=120 if piped else None, stderr=stderr)


def _text(value: Any):
    from rich.text import Text

    if isinstance(value, Text):
        text = value.copy()
    else:
        text = Text(str(value))
    text.overflow = "fold"  # only reached by a single word wider than the whole line
    return text


def fits(con, renderable) -> bool:
    """Whether ``renderable`` can be laid out in ``con``'s width without splitting a word."""
    from rich.measure import Measurement

    return Measurement.get(con, con.options, renderable).minimum <= con.width


def make_table(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Any]], show_lines: bool = False):
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
        padding=(0, 1), show_lines=show_lines, header_style="bold",
    )
    for column in columns:
        table.add_column(column.header, no_wrap=column.no_wrap, justify=column.justify, overflow="fold")
    for row in rows:
        table.add_row(*(_text(cell) for cell in row))
    return table


def fit_columns(con, table) -> bool:
    """Give ``table``'s columns widths that fit ``con`` with every word whole; False if none do.

    Each column gets at least its longest word (its longest cell when ``no_wrap``); the room
    left over goes to the columns in proportion to how much wider their longest line is.
    (rich's own shrinking takes from the widest column first, which can split a narrower
    column's words while a wide column still has room.)
    """
    from rich.measure import Measurement

    options = con.options
    columns = table.columns
    mins, maxs = [], []
    for column in columns:
        low = high = 0
        for cell in (column.header, *column._cells):
            measured = Measurement.get(con, options.update(width=10**6), cell)
            low, high = max(low, measured.minimum), max(high, measured.maximum)
        mins.append(high if column.no_wrap else low)
        maxs.append(high)
    saved = [c.width for c in columns]
    for column in columns:
        column.width = 1
    overhead = Measurement.get(con, options.update(width=10**6), table).maximum - len(columns)
    for column, width in zip(columns, saved):
        column.width = width
    room = con.width - overhead
    if sum(mins) > room:
        return False
    if sum(maxs) <= room:
        return True
    spare = room - sum(mins)
    slack = [high - low for low, high in zip(mins, maxs)]
    widths = [low + (spare * s) // sum(slack) for low, s in zip(mins, slack)]
    for i in sorted(range(len(columns)), key=lambda i: slack[i] - (widths[i] - mins[i]), reverse=True):
        if sum(widths) >= room:
            break
        if widths[i] < maxs[i]:
            widths[i] += 1
    for column, width in zip(columns, widths):
        column.width = width
    return True


def print_table(
    con,
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    show_lines: bool = False,
    heading: Any = None,
) -> None:
    """Print ``rows`` as a table if it fits ``con`` with every word whole, else as blocks.

    ``heading(row)`` gives the block heading (default: the first cell, the rest as lines).
    """
    table = make_table(title, columns, rows, show_lines)
    if fit_columns(con, table):
        con.print(table)
        return
    print_blocks(con, title, columns, rows, heading=heading)


def print_blocks(con, title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, heading=None) -> None:
    """One block per row: a bold heading, then ``label  value`` lines wrapped at spaces."""
    from rich.text import Text

    if title:
        con.print(Text(title, style="bold"))
    labels = [c.header for c in columns]
    for row in rows:
        if heading is None:
            head, pairs = row[0], list(zip(labels[1:], row[1:]))
        else:
            head, pairs = heading(row), list(zip(labels, row))
        con.print(_text(head), style="bold")
        print_pairs(con, [(label, value) for label, value in pairs if str(value).strip()], indent=2)


def print_pairs(con, pairs: Sequence[tuple[str, Any]], indent: int = 0) -> None:
    """``label  value`` lines, each value wrapped at spaces beside its label (or under it when
    the line is too narrow for both)."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for label, value in pairs:
        grid.add_row(label, _text(value))
    width = max((len(label) for label, _ in pairs), default=0)
    padded = Padding(grid, (0, 0, 0, indent), expand=False)
    if pairs and con.width - indent - width - 2 >= 24 and fits(con, padded):
        con.print(padded)
        return
    for label, value in pairs:  # too narrow for two columns: each value under its label
        con.print(Padding(Text(label, style="bold"), (0, 0, 0, indent), expand=False))
        con.print(Padding(_text(value), (0, 0, 0, indent + 2), expand=False))
