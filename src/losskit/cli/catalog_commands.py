"""``losskit list``, ``show``, ``plot`` and ``recommend``: the catalog, one loss, curves, advice.

Thin by design: every command parses its options, calls the public API (``lk.catalog``,
``lk.get``, ``lk.plot``, ``lk.recommend``) and prints a rich table, or JSON with ``--json``.
Input errors are raised as :class:`CLIError` / ``ValueError`` with a one-line message, which
``losskit.cli.main`` prints as ``losskit: error: ...`` with exit status 2.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
import sys
from typing import Any, List, Optional, Tuple

import typer

import losskit as lk

from . import CLIError, app, flag_spelling
from ._layout import Column, console, fit_columns, make_table, print_pairs, print_table


def Padding(renderable, pad):  # noqa: N802 - rich.padding.Padding, imported when used
    from rich.padding import Padding as _Padding

    return _Padding(renderable, pad, expand=False)

# --------------------------------------------------------------------------------------- list

_LIST_COLUMNS = (
    Column("name (aliases)"), Column("task", no_wrap=True), Column("space", no_wrap=True),
    Column("labels", no_wrap=True), Column("convex", no_wrap=True), Column("robust", no_wrap=True),
)


@app.command("list")
def list_losses(
    task: Optional[str] = typer.Option(
        None, "--task", metavar="TASK", help=f"Only the losses of one task: {', '.join(lk.TASKS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the losses of the catalog: name, aliases, task, prediction space, labels, properties.

    "space" is what the model outputs (values, logits, probabilities, scores); "robust" means robust to outliers. Below about 120 columns each loss is printed as two lines instead of a table row.

    Example: losskit list --task binary
    """
    check_choice("--task", task, lk.TASKS)
    losses = lk.catalog(task)
    if as_json:
        _print_json([_summary_record(loss) for loss in losses])
        return
    con = _console()
    title = f"losskit catalog ({len(losses)} losses)"
    from rich.text import Text

    rows = []
    for loss in losses:
        name = Text(loss.name)
        if loss.aliases:  # under the name, so that the table fits 100 columns
            name.append(f"\n  {', '.join(loss.aliases)}", style="dim")
        rows.append((name, loss.task, loss.prediction_space, loss.label_format,
                     _yes_no(loss.convex), _yes_no(loss.robust_to_outliers)))
    table = make_table(title, _LIST_COLUMNS, rows)
    if fit_columns(con, table):
        con.print(table)
        return
    # Compact: the name (and aliases) on one line, the facts on the next, wrapped at spaces.
    con.print(Text(title, style="bold"))
    for loss in losses:
        head = Text(loss.name, style="bold")
        if loss.aliases:
            head.append(f" ({', '.join(loss.aliases)})")
        con.print(head)
        facts = (f"{loss.task} · {loss.prediction_space} · {loss.label_format} labels · "
                 f"{'convex' if loss.convex else 'not convex'} · "
                 f"{'robust' if loss.robust_to_outliers else 'not robust'} to outliers")
        con.print(Padding(Text(facts), (0, 0, 0, 4)))


def _summary_record(loss: lk.Loss) -> dict[str, Any]:
    return {
        "name": loss.name,
        "aliases": list(loss.aliases),
        "task": loss.task,
        "prediction_space": loss.prediction_space,
        "label_format": loss.label_format,
        "convex": loss.convex,
        "robust_to_outliers": loss.robust_to_outliers,
        "summary": loss.summary,
    }


# --------------------------------------------------------------------------------------- show


@app.command("show")
def show_loss(
    name: str = typer.Argument(..., help="A loss name or alias, e.g. huber, mse, bce_with_logits."),
    as_json: bool = typer.Option(False, "--json", help="Print every field as JSON."),
) -> None:
    """Everything about one loss: formulas, parameters, when to use it, pitfalls, framework equivalents.

    Example: losskit show smooth_l1
    """
    loss = _get_loss(name)
    record = loss_record(loss)
    if as_json:
        _print_json(record)
        return
    _print_loss(record)


def loss_record(loss: lk.Loss) -> dict[str, Any]:
    """Every registry field of ``loss`` as JSON-ready data (what ``losskit show --json`` prints)."""
    return {
        **_summary_record(loss),
        "kind": loss.kind,
        "label_format_description": lk.LABEL_FORMATS[loss.label_format],
        "output_activation": loss.output_activation,
        "differentiable": loss.differentiable,
        "description": " ".join(inspect.cleandoc(loss.description).split()),
        "formula": loss.formula,
        "gradient_formula": loss.gradient_formula,
        "signature": f"{loss.name}{inspect.signature(loss)}",
        "params": [
            {"name": p.name, "default": _jsonable(p.default), "valid": p.constraint, "description": p.description}
            for p in loss.params
        ],
        "reductions": list(loss.reductions),
        "when_to_use": loss.when_to_use,
        "when_not_to_use": loss.when_not_to_use,
        "pitfalls": list(loss.pitfalls),
        "equivalents": [
            {"framework": e.framework, "api": e.api, "relation": e.relation, "note": e.note} for e in loss.equivalents
        ],
        "references": list(loss.references),
        "pair": loss.pair,
        "runs_on": [{"library": library, "how": how} for library, how in lk.array_libraries()],
    }


def _print_loss(record: dict[str, Any]) -> None:
    from rich.text import Text

    con = _console()
    aliases = f"  (aliases: {', '.join(record['aliases'])})" if record["aliases"] else ""
    con.print(Text(record["name"] + aliases, style="bold"))
    con.print(Text(record["summary"]))
    if record["description"]:
        con.print(Text(record["description"]))

    properties = ", ".join(
        f"{label}: {_yes_no(record[key])}"
        for key, label in (("convex", "convex"), ("robust_to_outliers", "robust to outliers"), ("differentiable", "differentiable"))
    )
    rows = [
        ("call", record["signature"]),
        ("task", f"{record['task']} ({record['kind']})"),
        ("prediction space", record["prediction_space"]),
        ("output activation", record["output_activation"]),
        ("labels", f"{record['label_format']}: {record['label_format_description']}"),
        ("properties", properties),
        ("reductions", ", ".join(record["reductions"])),
        ("runs on", ", ".join(entry["library"] for entry in record["runs_on"])),
        ("formula", _formula_text(record["formula"])),
        ("gradient", _formula_text(record["gradient_formula"])),
        ("when to use", record["when_to_use"]),
        ("when not to use", record["when_not_to_use"]),
    ]
    if record["pair"]:
        rows.append(("twin", record["pair"]))
    print_pairs(con, [(label, str(value)) for label, value in rows], indent=0)

    if record["params"]:
        con.print()
        print_table(
            con, "Parameters",
            (Column("name", no_wrap=True), Column("default", no_wrap=True), Column("valid"), Column("description")),
            [(p["name"], repr(p["default"]), p["valid"], p["description"]) for p in record["params"]],
        )
    if record["pitfalls"]:
        con.print()
        con.print(Text("Pitfalls", style="bold"))
        _print_bullets(con, record["pitfalls"])
    if record["equivalents"]:
        con.print()
        print_table(
            con, "In other frameworks",
            (Column("framework", no_wrap=True), Column("api"), Column("relation", no_wrap=True), Column("difference")),
            [(e["framework"], e["api"], e["relation"], e["note"] or "-") for e in record["equivalents"]],
        )
    if record["references"]:
        con.print()
        con.print(Text("References", style="bold"))
        _print_bullets(con, record["references"])


def _formula_text(formula: str) -> str:
    """The formula as ``show`` prints it: Unicode text (``ℓ = ½e² if |e| ≤ δ, else …``), not LaTeX."""
    from losskit._formula import latex_to_text

    return latex_to_text(formula)


def _print_bullets(con, items) -> None:
    from rich.text import Text

    from rich.table import Table

    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for item in items:
        grid.add_row("  -", Text(str(item)))
    con.print(grid)


# --------------------------------------------------------------------------------------- plot


@app.command("plot")
def plot_losses(
    names: Optional[List[str]] = typer.Argument(
        None, show_default=False, help="Losses to draw, all of one task. NAME:PARAM=VALUE[,PARAM=VALUE] binds parameters inline, "
        "so a repeated name with other values is another curve (huber:delta=0.5 huber:delta=2).",
    ),
    param: List[str] = typer.Option(
        [], "--param", "-p", metavar="LOSS.PARAM=VALUES", help="LOSS.PARAM=VALUE[,VALUE...]; several values draw one curve each "
        "(huber.delta=0.5,1,2). Repeatable.",
    ),
    x_range: Tuple[str, str] = typer.Option(("-4", "4"), "--range", metavar="LOW HIGH", help="LOW HIGH of the residual, logit or margin axis."),
    target: str = typer.Option("1", "--target", metavar="Y", help="Regression target the residuals are taken around "
                               "(matters only for MAPE, MSLE, Poisson)."),
    out: str = typer.Option("losskit-plot.png", "--out", "-o", metavar="FILE", help="Output file: .png, .svg or .pdf."),
    title: Optional[str] = typer.Option(None, "--title", metavar="TEXT", help="Figure title (default: the loss names)."),
    as_json: bool = typer.Option(False, "--json", help="Print the written file and its curves as JSON."),
) -> None:
    """Plot losses and their gradients against the residual (regression), logit (binary) or margin (multiclass).

    Binary losses on probabilities are drawn at p = sigmoid(logit), so every binary loss shares the logit axis; multiclass losses against the margin of a 2-class problem. Gradients are analytic.

    Prints the path of the written file (or JSON with --json).

    Example: losskit plot huber mse mae --param huber.delta=0.5,2 --range -3 3 --out losses.svg
    """
    if not names:  # checked here, not by the parser, so that the message is one line
        raise CLIError("plot needs at least one loss name, e.g. losskit plot huber mse")
    low_high = (_parse_number(x_range[0], "--range LOW"), _parse_number(x_range[1], "--range HIGH"))
    if not low_high[0] < low_high[1]:
        raise CLIError(f"--range LOW must be below HIGH; got {x_range[0]} {x_range[1]}")
    out_path = _check_output_path(out)
    losses = [_loss_with_inline_params(spec) for spec in names]
    params = _parse_param_options(param)

    from losskit import plotting

    figure = plotting.plot(
        *losses, params=params, x_range=low_high, target=_parse_number(target, "--target"), title=title,
    )
    try:
        figure.savefig(out_path, dpi=150)
    except OSError as exc:
        raise CLIError(f"cannot write --out {out!r}: {exc.strerror or exc}") from None
    if as_json:
        labels = [line.get_label() for line in figure.axes[0].lines]
        _print_json({"out": out_path, "x_range": list(low_high), "curves": labels,
                     "xlabel": figure.axes[0].get_xlabel()})
    else:
        print(out_path)


def _loss_with_inline_params(spec: str) -> lk.Loss:
    name, _, inline = spec.partition(":")
    loss = _get_loss(name)
    if not inline:
        return loss
    params = {}
    for item in inline.split(","):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise CLIError(f"bad loss {spec!r}: expected NAME:PARAM=VALUE[,PARAM=VALUE], e.g. huber:delta=0.5")
        params[key.strip()] = _parse_param_value(value, spec)
    known = [p.name for p in loss.params]
    for key in params:
        if key not in known:
            accepted = f"its parameters are {', '.join(known)}" if known else "it has no parameters"
            raise CLIError(f"{loss.name} has no parameter {key!r}; {accepted}")
    try:
        return loss.with_params(**params)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"{loss.name}: {exc}") from None


def _parse_param_options(options: List[str]) -> dict[str, dict[str, list]]:
    """``["huber.delta=0.5,1"]`` -> ``{"huber": {"delta": [0.5, 1]}}``."""
    params: dict[str, dict[str, list]] = {}
    for option in options:
        target, equals, values = option.partition("=")
        loss_name, dot, param = target.rpartition(".")
        if not equals or not dot or not loss_name.strip() or not param.strip() or not values.strip():
            raise CLIError(f"bad --param {option!r}: expected LOSS.PARAM=VALUE[,VALUE...], e.g. huber.delta=0.5,1,2")
        parsed = [_parse_param_value(v, option) for v in values.split(",")]
        params.setdefault(loss_name.strip(), {})[param.strip()] = parsed
    return params


def _parse_param_value(text: str, context: str) -> Any:
    text = text.strip()
    if text.lower() in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise CLIError(f"bad parameter value {text!r} in {context!r}: expected a number (or none)") from None


def _parse_number(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CLIError(f"{option} must be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise CLIError(f"{option} must be a finite number; got {text!r}")
    return value


def _check_output_path(out: str) -> str:
    """Reject an unsupported format or an unwritable place before any work is done."""
    from losskit.plotting import SAVE_FORMATS

    extension = os.path.splitext(out)[1].lower().lstrip(".")
    if extension not in SAVE_FORMATS:
        shown = f"'.{extension}'" if extension else "no extension"
        raise CLIError(f"--out {out!r} has {shown}; use one of {', '.join('.' + f for f in SAVE_FORMATS)}")
    directory = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out):
        raise CLIError(f"--out {out!r} is a directory; give a file name such as {os.path.join(out, 'losses.png')}")
    if not os.path.isdir(directory):
        raise CLIError(f"cannot write --out {out!r}: directory {os.path.dirname(out) or '.'!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise CLIError(f"cannot write --out {out!r}: directory {os.path.dirname(out) or '.'!r} is not writable")
    return out


# ---------------------------------------------------------------------------------- recommend


@app.command("recommend")
def recommend_losses(
    task: Optional[str] = typer.Option(None, "--task", metavar="TASK", help="regression, binary, multiclass, segmentation or embedding (inferred from --csv)."),
    output_activation: Optional[str] = typer.Option(
        None, "--output-activation", metavar="NAME", help="The model's last activation: linear, sigmoid, softmax or none (= linear)."),
    outliers: Optional[str] = typer.Option(None, "--outliers", metavar="LEVEL", help="none, some or heavy (overrides the data)."),
    imbalance: Optional[bool] = typer.Option(
        None, "--imbalance/--no-imbalance", help="Whether the classes are imbalanced (overrides the data)."),
    need: Optional[str] = typer.Option(
        None, "--need", metavar="NEED", help="calibrated-probabilities, quantiles, counts, margins or uncertainty."),
    csv_path: Optional[str] = typer.Option(None, "--csv", metavar="FILE", help="A CSV file with a header row to inspect."),
    target: Optional[str] = typer.Option(None, "--target", metavar="COLUMN", help="The column of --csv holding the target."),
    top: Optional[int] = typer.Option(None, "--top", metavar="N", help="Show only the best N."),
    show_rules: bool = typer.Option(False, "--rules", help="Print the advisor's rule table and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile, findings and ranking as JSON."),
    compare: bool = typer.Option(
        False, "--compare", help="With --csv/--target: train the top recommendations and the baseline (losskit compare) and print the winner."),
) -> None:
    """Recommend losses, ranked, with a one-line reason each, from what you state or from your data.

    With --csv FILE --target COLUMN the target is inspected and what was found is reported: real, integer, binary or text labels; outliers (share of values beyond 3 scaled MADs of the median); counts; strictly positive values; zero inflation; class balance. Stated options win over the data.

    Example: losskit recommend --task regression --outliers some

    Example: losskit recommend --csv data.csv --target price
    """
    from losskit import advisor

    if show_rules:
        _print_rules(advisor.RULES, as_json)
        return
    check_choice("--task", task, lk.TASKS)
    check_choice("--output-activation", output_activation, advisor.OUTPUT_ACTIVATIONS)
    check_choice("--outliers", outliers, advisor.OUTLIER_LEVELS)
    check_choice("--need", need, advisor.NEEDS)
    if (csv_path is None) != (target is None):
        raise CLIError("--csv and --target go together: --csv data.csv --target COLUMN")
    if top is not None and top < 1:
        raise CLIError(f"--top must be a positive integer; got {top}")
    advice = advisor.recommend(
        task, output_activation=output_activation, outliers=outliers, imbalance=imbalance, need=need,
        csv=csv_path, target=target,
    )
    recommendations = list(advice)[:top]
    if compare:
        if csv_path is None:
            raise CLIError("--compare trains on your data: pass --csv FILE --target COLUMN")
        from .compare_command import recommend_compare

        if not as_json:
            _print_advice(advice, recommendations, csv_path, target)
        recommend_compare(list(advice), csv_path, target, top=top, json_output=as_json)
        return
    if as_json:
        data = advice.to_dict()
        data["recommendations"] = [r.to_dict() for r in recommendations]
        _print_json(data)
        return
    _print_advice(advice, recommendations, csv_path, target)


def _print_advice(advice, recommendations, csv_path: str | None, target: str | None) -> None:
    from rich.text import Text

    con = _console()
    if advice.data is not None:
        con.print(Text(f"Found in {csv_path}, column {target!r}:", style="bold"))
        _print_bullets(con, advice.data.findings)
    stated = ", ".join(
        (flag_spelling(k if v else f"no_{k}", None) if isinstance(v, bool) else flag_spelling(k, str(v)))
        for k, v in vars(advice.profile).items() if v is not None
    )
    rows = []
    for rank, r in enumerate(recommendations, start=1):
        params = ", ".join(f"{k}={_format_param(v)}" for k, v in r.params.items()) or "-"
        why = Text(r.reason)
        why.append(f" [{r.source}]", style="dim")
        rows.append((str(rank), r.loss, params, f"{r.score:g}" if isinstance(r.score, float) else str(r.score), why))
    print_table(
        con, f"Recommended losses ({stated})",
        (Column("#", no_wrap=True, justify="right"), Column("loss", no_wrap=True), Column("params"),
         Column("score", no_wrap=True, justify="right"), Column("why")),
        rows, show_lines=True, heading=lambda row: f"{row[0]}. {row[1]}",
    )


def _print_rules(rules, as_json: bool) -> None:
    records = [
        {"loss": r.loss, "params": dict(r.params), "params_from_data": dict(r.params_from_data), "when": r.condition,
         "score": r.score, "reason": r.reason, "source": r.source}
        for r in rules
    ]
    if as_json:
        _print_json(records)
        return
    rows = []
    for record in records:
        params = ", ".join(f"{k}={v}" for k, v in record["params"].items())
        rows.append((record["loss"] + (f" ({params})" if params else ""), record["when"], str(record["score"]),
                     record["reason"]))
    print_table(_console(), f"Advisor rules ({len(rules)})",
                (Column("loss"), Column("when"), Column("score", no_wrap=True, justify="right"), Column("reason")),
                rows, show_lines=True)


# ------------------------------------------------------------------------------------ helpers


def _get_loss(name: str) -> lk.Loss:
    try:
        return lk.get(name)
    except ValueError:
        close = lk.suggest(name)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CLIError(f"unknown loss {name!r}{hint} (`losskit list` shows every loss)") from None


def check_choice(flag: str, value: Optional[str], choices) -> None:
    """Reject a value of ``flag`` outside ``choices``, naming the flag and the closest choices."""
    if value is None or value in choices:
        return
    close = difflib.get_close_matches(str(value).lower(), list(choices), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise CLIError(f"{flag} must be one of {', '.join(choices)}; got {value!r}{hint}")


def _console():
    return console()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _format_param(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
