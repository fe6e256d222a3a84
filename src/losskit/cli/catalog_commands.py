"""``losskit list``, ``show``, ``plot`` and ``recommend``: the catalog, one loss, curves, advice.

Thin by design: every command parses its options, calls the public API (``lk.catalog``,
``lk.get``, ``lk.plot``, ``lk.recommend``) and prints a rich table, or JSON with ``--json``.
Input errors are raised as :class:`CLIError` / ``ValueError`` with a one-line message, which
``losskit.cli.main`` prints as ``losskit: error: ...`` with exit status 2.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
from typing import Any, List, Optional, Tuple

import typer

import losskit as lk

from . import CLIError, app

# --------------------------------------------------------------------------------------- list

_LIST_COLUMNS = ("name", "aliases", "task", "prediction space", "label format", "convex", "robust to outliers")


@app.command("list")
def list_losses(
    task: Optional[str] = typer.Option(None, "--task", help="Only the losses of one task: regression, binary or multiclass."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the losses of the catalog: name, aliases, task, prediction space, labels, properties.

    Example: losskit list --task binary
    """
    losses = lk.catalog(task)
    if as_json:
        _print_json([_summary_record(loss) for loss in losses])
        return
    from rich.table import Table

    table = Table(title=f"losskit catalog ({len(losses)} losses)", title_justify="left")
    for column in _LIST_COLUMNS:
        # Names must stay copyable in a narrow terminal; the other columns may wrap.
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    for loss in losses:
        table.add_row(
            loss.name, ", ".join(loss.aliases), loss.task, loss.prediction_space, loss.label_format,
            _yes_no(loss.convex), _yes_no(loss.robust_to_outliers),
        )
    _console().print(table)


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
    }


def _print_loss(record: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    aliases = f"  (aliases: {', '.join(record['aliases'])})" if record["aliases"] else ""
    console.print(Text(record["name"] + aliases, style="bold"))
    console.print(Text(record["summary"]))
    if record["description"]:
        console.print(Text(record["description"]))

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
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
        ("formula", record["formula"]),
        ("gradient", record["gradient_formula"]),
        ("when to use", record["when_to_use"]),
        ("when not to use", record["when_not_to_use"]),
    ]
    if record["pair"]:
        rows.append(("twin", record["pair"]))
    for label, value in rows:
        facts.add_row(label, Text(str(value)))
    console.print(facts)

    if record["params"]:
        table = Table(title="Parameters", title_justify="left")
        for column in ("name", "default", "valid", "description"):
            table.add_column(column, overflow="fold")
        for p in record["params"]:
            table.add_row(p["name"], Text(repr(p["default"])), Text(p["valid"]), Text(p["description"]))
        console.print(table)
    if record["pitfalls"]:
        console.print(Text("Pitfalls", style="bold"))
        for pitfall in record["pitfalls"]:
            console.print(Text(f"  - {pitfall}"))
    if record["equivalents"]:
        table = Table(title="In other frameworks", title_justify="left")
        for column in ("framework", "api", "relation", "difference"):
            table.add_column(column, overflow="fold")
        for e in record["equivalents"]:
            table.add_row(e["framework"], Text(e["api"]), e["relation"], Text(e["note"] or "-"))
        console.print(table)
    if record["references"]:
        console.print(Text("References", style="bold"))
        for reference in record["references"]:
            console.print(Text(f"  - {reference}"))


# --------------------------------------------------------------------------------------- plot


@app.command("plot")
def plot_losses(
    names: Optional[List[str]] = typer.Argument(
        None, show_default=False, help="Losses to draw, all of one task. NAME:PARAM=VALUE[,PARAM=VALUE] binds parameters inline, "
        "so a repeated name with other values is another curve (huber:delta=0.5 huber:delta=2).",
    ),
    param: List[str] = typer.Option(
        [], "--param", "-p", help="LOSS.PARAM=VALUE[,VALUE...]; several values draw one curve each "
        "(huber.delta=0.5,1,2). Repeatable.",
    ),
    x_range: Tuple[str, str] = typer.Option(("-4", "4"), "--range", help="LOW HIGH of the residual, logit or margin axis."),
    target: str = typer.Option("1", "--target", help="Regression target the residuals are taken around "
                               "(matters only for MAPE, MSLE, Poisson)."),
    out: str = typer.Option("losskit-plot.png", "--out", "-o", help="Output file: .png, .svg or .pdf."),
    title: Optional[str] = typer.Option(None, "--title", help="Figure title (default: the loss names)."),
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
    task: Optional[str] = typer.Option(None, "--task", help="regression, binary, multiclass, segmentation or embedding (inferred from --csv)."),
    output_activation: Optional[str] = typer.Option(
        None, "--output-activation", help="The model's last activation: linear, sigmoid, softmax or none (= linear)."),
    outliers: Optional[str] = typer.Option(None, "--outliers", help="none, some or heavy (overrides the data)."),
    imbalance: Optional[bool] = typer.Option(
        None, "--imbalance/--no-imbalance", help="Whether the classes are imbalanced (overrides the data)."),
    need: Optional[str] = typer.Option(
        None, "--need", help="calibrated-probabilities, quantiles, counts, margins or uncertainty."),
    csv_path: Optional[str] = typer.Option(None, "--csv", help="A CSV file with a header row to inspect."),
    target: Optional[str] = typer.Option(None, "--target", help="The column of --csv holding the target."),
    top: Optional[int] = typer.Option(None, "--top", help="Show only the best N."),
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
    from rich.table import Table
    from rich.text import Text

    console = _console()
    if advice.data is not None:
        console.print(Text(f"Found in {csv_path}, column {target!r}:", style="bold"))
        for finding in advice.data.findings:
            console.print(Text(f"  - {finding}"))
    stated = ", ".join(f"{k}={v}" for k, v in vars(advice.profile).items() if v is not None)
    table = Table(title=f"Recommended losses ({stated})", title_justify="left")
    for column in ("#", "loss", "params", "score", "why"):
        table.add_column(column, overflow="fold")
    for rank, r in enumerate(recommendations, start=1):
        params = ", ".join(f"{k}={_format_param(v)}" for k, v in r.params.items()) or "-"
        why = Text(r.reason)
        why.append(f"\n[{r.source}]", style="dim")
        table.add_row(str(rank), r.loss, Text(params), str(r.score), why)
    console.print(table)


def _print_rules(rules, as_json: bool) -> None:
    records = [
        {"loss": r.loss, "params": dict(r.params), "params_from_data": dict(r.params_from_data), "when": r.condition,
         "score": r.score, "reason": r.reason, "source": r.source}
        for r in rules
    ]
    if as_json:
        _print_json(records)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Advisor rules ({len(rules)})", title_justify="left")
    for column in ("loss", "when", "score", "reason"):
        table.add_column(column, overflow="fold")
    for record in records:
        params = ", ".join(f"{k}={v}" for k, v in record["params"].items())
        table.add_row(record["loss"] + (f" ({params})" if params else ""), Text(record["when"]),
                      str(record["score"]), Text(record["reason"]))
    _console().print(table)


# ------------------------------------------------------------------------------------ helpers


def _get_loss(name: str) -> lk.Loss:
    try:
        return lk.get(name)
    except ValueError:
        close = lk.suggest(name)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CLIError(f"unknown loss {name!r}{hint} (`losskit list` shows every loss)") from None


def _console():
    from rich.console import Console

    # Piped output would get rich's 80-column fallback and fold every table cell; 120 columns
    # keep the tables readable in logs and files (COLUMNS still wins when set).
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, soft_wrap=False, width=120 if piped else None)


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
