"""``losskit compare``: train one model with several losses on the same data and rank them.

A thin layer over :func:`losskit.lab.compare`: it parses the options, calls the lab, and prints
a ranked table, the verdict and where the report is (or, with ``--json``, the results as JSON).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any, List, Optional

import typer

from . import CLIError, app

_EPILOG = """
Examples:

  losskit compare --dataset diabetes --losses mse,huber,mae --outliers 0.2

  losskit compare --dataset breast_cancer --losses sigmoid_cross_entropy,hinge --seeds 5

  losskit compare --csv houses.csv --target price --losses mse,huber --param huber.delta=0.5 --model mlp

  losskit compare --dataset diabetes --losses mse,huber --sweep outliers=0,0.1,0.2,0.3,0.4

  losskit compare --dataset diabetes --losses mse,huber --param huber.delta=auto --outliers 0.2

Finished runs are stored in OUT/runs.sqlite: the same command again resumes, reusing them.
"""


def _datasets_epilog() -> str:
    """The built-in datasets for the help: real data first, then the generators, each with its task."""
    from losskit.lab.data import DATASET_TASKS, DATASETS, GENERATED_DATASETS

    def lines(names):
        return "\n".join(f"  {name} ({DATASET_TASKS[name]}): {DATASETS[name]}" for name in names)

    real = [name for name in DATASETS if name not in GENERATED_DATASETS]
    return (f"\nDatasets (--dataset NAME):\n\n{lines(real)}\n\n"
            f"Generated datasets (synthetic, seeded):\n\n{lines(GENERATED_DATASETS)}\n")


def optional_value(argv: list[str], option: str, default: str) -> list[str]:
    """``argv`` with ``default`` after a bare ``option`` (last, or followed by another option).

    Typer options always take their value; ``--mlflow`` alone means the default store, so
    :func:`losskit.cli.main` inserts it before the command line is parsed.

    >>> optional_value(["compare", "--mlflow", "--json"], "--mlflow", "./mlruns")
    ['compare', '--mlflow', './mlruns', '--json']
    """
    out = list(argv)
    for index in range(len(out) - 1, -1, -1):
        if out[index] == option and (index + 1 == len(out) or out[index + 1].startswith("-")):
            out.insert(index + 1, default)
    return out


@app.command(
    "compare",
    epilog=_EPILOG + _datasets_epilog(),
    # Wide enough for each example of the epilog to fit on one line where the terminal allows.
    context_settings={"max_content_width": 100},
)
def compare(
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="A built-in dataset (listed below; default diabetes) or generator."
    ),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Your data: a CSV or Parquet file (needs --target)."),
    target: Optional[str] = typer.Option(None, "--target", help="The target column of --csv."),
    features: Optional[str] = typer.Option(
        None, "--features", metavar="COLS", help="Comma-separated feature columns to keep (default: every column but the target)."
    ),
    drop: Optional[str] = typer.Option(None, "--drop", metavar="COLS", help="Comma-separated feature columns to leave out."),
    task: str = typer.Option("auto", "--task", help="auto, regression, binary or multiclass."),
    losses: Optional[str] = typer.Option(
        None, "--losses",
        help="Comma-separated catalog names or aliases (default by task: regression mse,mae,huber; "
        "binary sigmoid_cross_entropy,hinge,sigmoid_focal; multiclass sparse_softmax_cross_entropy,"
        "sparse_softmax_focal,sparse_poly1_cross_entropy).",
    ),
    param: Optional[List[str]] = typer.Option(
        None, "--param",
        help="A loss parameter, LOSS.NAME=VALUE (e.g. huber.delta=0.5); several values (huber.delta=0.1,0.5,1) "
        "or 'auto' tune it on the validation split; repeatable.",
    ),
    model: str = typer.Option(
        "linear", "--model", help="linear, mlp, or gbdt (LightGBM with the loss as custom objective: pip install 'losskit[boosting]')."
    ),
    epochs: int = typer.Option(100, "--epochs", help="Maximum epochs per run (early stopping may end sooner)."),
    seeds: str = typer.Option(
        "3", "--seeds", help="Runs per loss: a count N (seeds 0..N-1) or the seeds themselves, e.g. 0,7,42."
    ),
    outliers: float = typer.Option(0.0, "--outliers", help="Fraction of training targets replaced by gross errors."),
    label_noise: float = typer.Option(0.0, "--label-noise", help="Fraction of training labels flipped."),
    imbalance: Optional[float] = typer.Option(
        None, "--imbalance", help="Subsample the minority class of the training split to this ratio."
    ),
    sweep: Optional[str] = typer.Option(
        None, "--sweep",
        help="Repeat the comparison per level of one perturbation and draw robustness curves: "
        "outliers=0,0.1,0.2 (or label-noise=..., imbalance=none,0.5,0.1).",
    ),
    baseline: Optional[str] = typer.Option(
        None, "--baseline", help="The loss the sweep compares every other loss with (default: mse or cross-entropy)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Mini-batch size."),
    learning_rate: Optional[float] = typer.Option(
        None, "--learning-rate", help="Optimizer step size (default: chosen for the model)."
    ),
    patience: int = typer.Option(10, "--patience", help="Epochs without validation improvement before stopping."),
    jobs: int = typer.Option(1, "--jobs", help="Runs trained in parallel (joblib processes; -1: all cores)."),
    backend: str = typer.Option("local", "--backend", help="local or ray."),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray instance)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    out: Path = typer.Option(Path("losskit-report"), "--out", help="Folder for the report, results and run store."),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Metric to rank by (default: rmse for regression, macro_f1 for classification)."
    ),
    mlflow: Optional[str] = typer.Option(
        None, "--mlflow", metavar="[URI]",
        help="Log every run to MLflow: a tracking URI, or alone for ./mlruns (pip install 'losskit[tracking]').",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the results as JSON instead of a table."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Train the same model with each loss on the same data and seeds, and rank the losses on clean test data."""
    from losskit import lab

    try:
        # The lab's warnings (a poor loss/task pairing) come back in result.warnings and are
        # printed once, under the table; Python's own copy with a source line would repeat them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = lab.compare(
                dataset=dataset,
                csv=None if csv is None else str(csv),
                target=target,
                task=task,
                losses=None if losses is None else _split_losses(losses),
                params=list(param or []),
                model=model,
                epochs=epochs,
                seeds=_parse_seeds(seeds),
                outliers=outliers,
                label_noise=label_noise,
                imbalance=imbalance,
                sweep=sweep,
                baseline=baseline,
                jobs=jobs,
                backend=backend,
                ray_address=ray_address,
                device=device,
                out=str(out),
                batch_size=batch_size,
                learning_rate=learning_rate,
                patience=patience,
                progress=not no_progress,  # drawn on stderr: stdout stays clean for --json
                report=True,
                metric=metric,
                mlflow=mlflow,
                features=features,
                drop=drop,
            )
    except KeyboardInterrupt:
        # Finished runs are already in the store (each is committed as it ends): say how to
        # resume, and exit with the shell's status for Ctrl-C.
        print(f"losskit: interrupted; finished runs are saved in {out / 'runs.sqlite'}: "
              "run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
    if json_output:
        print(json.dumps(json_payload(result, out), indent=1, default=str))
    else:
        print_result(result, out)


def _split_losses(losses: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in losses.split(",") if name.strip())
    if not names:
        raise CLIError("--losses is empty: name at least one loss, e.g. --losses mse,huber")
    return names


def _parse_seeds(seeds: str) -> int | list[int]:
    """``"3"`` -> 3 (seeds 0, 1, 2); ``"0,7,42"`` or ``"7,"`` -> those seeds."""
    words = [word.strip() for word in seeds.split(",")]
    try:
        if len(words) == 1:
            return int(words[0])
        return [int(word) for word in words if word]
    except ValueError:
        raise CLIError(f"--seeds {seeds!r}: give a count (e.g. 3) or comma-separated integer seeds (e.g. 0,7,42)") from None


def json_payload(result: Any, out: Path) -> dict[str, Any]:
    """The machine-readable answer: ranking, summary, significance, per-run metrics and file paths."""
    from losskit.lab.report import command_line, json_safe, run_rows, verdict

    return json_safe(
        {
            "task": result.task,
            "primary_metric": result.primary_metric,
            "winner": result.winner,
            "ranking": result.ranking,
            "verdict": verdict(result),
            "summary": result.per_loss,
            "significance": result.significance,
            "runs": run_rows(result),
            "reused_runs": result.reused_runs,
            "new_runs": result.new_runs,
            "settings": result.settings,
            "command": command_line(result),
            "warnings": result.warnings,
            "out_dir": str(out),
            "report": str(out / "report.html"),
            "results": str(out / "results.json"),
        }
    )


# Short column headers for the terminal table; the legend line under it spells out the ones
# that are not common knowledge.
SHORT_TITLES = {
    "median_ae": "MedAE", "accuracy": "Acc", "macro_f1": "F1", "log_loss": "LogL", "brier": "Brier",
    "coverage_90": "Cov90", "coverage_95": "Cov95", "nll": "NLL",
}
LEGEND = {
    "median_ae": "MedAE median absolute error", "macro_f1": "F1 macro F1", "log_loss": "LogL log-loss",
    "brier": "Brier Brier score", "nll": "NLL Gaussian NLL", "coverage_90": "Cov90 90% coverage",
    "coverage_95": "Cov95 95% coverage", "ece": "ECE expected calibration error",
    "epochs_to_convergence": "epochs: to converge", "train_seconds": "seconds: training time",
    "gap": "gap: train − test",
}
SHORT_DYNAMICS = {"epochs_to_convergence": "epochs", "train_seconds": "seconds", "gap": "gap"}


def ranked_table(result: Any) -> tuple[str, list[Any], list[list[str]], str]:
    """The ranked table's title, columns (rank and loss first), rows and legend line."""
    from losskit.lab.report import (
        DYNAMICS_TITLES, format_value, metric_arrow, metric_names, metric_title, summary_by_loss, test_rows_name,
    )

    from ._layout import Column

    metrics = metric_names(result)
    dynamics = [c for c in DYNAMICS_TITLES if result.per_loss and f"{c}_mean" in result.per_loss[0]]
    columns = [Column("#", no_wrap=True, justify="right"), Column("loss", no_wrap=True)]
    columns += [
        Column(f"{SHORT_TITLES.get(m, metric_title(m))} {metric_arrow(m)}", no_wrap=True, justify="right")
        for m in metrics
    ]
    columns += [Column(SHORT_DYNAMICS[c], no_wrap=True, justify="right") for c in dynamics]
    rows = []
    for rank, (label, row) in enumerate(summary_by_loss(result).items(), start=1):
        cells = [f"{format_value(row[f'{m}_mean'], 3)} ± {format_value(row[f'{m}_std'], 2)}" for m in metrics]
        cells += [format_value(row[f"{c}_mean"], 3) for c in dynamics]
        rows.append([str(rank), label, *cells])
    seeds = len(result.settings.get("seeds") or []) or None
    spread = f"mean ± std over {seeds} seeds" if seeds else "mean ± std over seeds"
    legend = "; ".join([spread, *(LEGEND[k] for k in (*metrics, *dynamics) if k in LEGEND)]) + "."
    title = f"{result.task}: losses ranked by {metric_title(result.primary_metric)} ({test_rows_name(result)})"
    return title, columns, rows, legend


def print_ranked(con: Any, title: str, columns: list[Any], rows: list[list[str]]) -> None:
    """The ranked table in one piece when it fits ``con``; else its value columns split over
    several tables, each repeating the rank and loss columns; blocks per loss as the last resort.
    No cell is cut and no word split at any width."""
    from ._layout import fit_columns, make_table, print_blocks

    def table_of(indices: list[int], heading: str | None):
        keep = [0, 1, *indices]
        return make_table(heading, [columns[i] for i in keep], [[row[i] for i in keep] for row in rows])

    values = list(range(2, len(columns)))
    whole = table_of(values, title)
    if fit_columns(con, whole):
        con.print(whole)
        return
    groups: list[list[int]] = []
    for index in values:
        if groups and fit_columns(con, table_of([*groups[-1], index], None)):
            groups[-1].append(index)
        elif fit_columns(con, table_of([index], None)):
            groups.append([index])
        else:
            groups = []
            break
    if not groups:  # not even rank, loss and one value fit: one block per loss
        merged = [[f"{row[0]}. {row[1]}", *row[2:]] for row in rows]
        print_blocks(con, title, columns[1:], merged)
        return
    for number, group in enumerate(groups):
        table = table_of(group, title if number == 0 else None)
        fit_columns(con, table)
        if number:
            con.print()
        con.print(table)


def print_result(result: Any, out: Path) -> None:
    """The ranked table, the verdict, the reuse count and the report's path, for a person."""
    from rich.text import Text

    from losskit.lab.report import verdict

    from ._layout import console as make_console

    # The terminal's width (COLUMNS wins); piped output gets 120 columns.
    console = make_console()
    title, columns, rows, legend = ranked_table(result)
    print_ranked(console, title, columns, rows)
    console.print(Text(legend, style="dim"))
    if result.sweep:
        _print_sweep(console, result)
    if result.tuning:
        _print_tuning(console, result)
    console.print(Text(verdict(result)))
    for warning in result.warnings:
        console.print(Text.assemble(("warning:", "yellow"), f" {warning}"))
    if result.reused_runs:
        console.print(Text(f"reused {result.reused_runs} finished runs from {out / 'runs.sqlite'}, trained {result.new_runs}"))
    console.print(Text(f"report: {out / 'report.html'}"))
    sys.stdout.flush()


def _print_sweep(console: Any, result: Any) -> None:
    """The robustness table: one column per perturbation level, split like the ranked table
    when the levels do not fit the terminal."""
    from rich.text import Text

    from losskit.lab.report import format_value, metric_title, test_rows_name

    from ._layout import Column

    sweep = result.sweep
    name = sweep["setting"].replace("_", "-")
    title = f"robustness: {metric_title(result.primary_metric)} per {name} level ({test_rows_name(result)})"
    columns = [Column("#", no_wrap=True, justify="right"), Column("loss", no_wrap=True)]
    columns += [
        Column(f"{name}={'none' if level is None else f'{level:g}'}", no_wrap=True, justify="right")
        for level in sweep["levels"]
    ]
    rows = []
    for rank, label in enumerate(result.ranking, start=1):
        curve = sweep["curves"][label]
        cells = [f"{format_value(m, 3)} ± {format_value(sd, 2)}" for m, sd in zip(curve["mean"], curve["std"])]
        rows.append([str(rank), label, *cells])
    console.print()
    print_ranked(console, title, columns, rows)
    for info in sweep["from_level"].values():
        console.print(Text(info["sentence"]))


def _print_tuning(console: Any, result: Any) -> None:
    from collections import Counter

    for label, info in result.tuning.items():
        counts = Counter(tuple(sorted(row["params"].items())) for row in info["chosen"])
        chosen = ", ".join(
            f"{', '.join(f'{k}={v!r}' for k, v in params)} ({n}x)" for params, n in counts.most_common()
        )
        console.print(f"{label}: chosen on the validation split per seed: {chosen}")


# ------------------------------------------------------------------------- recommend --compare

RECOMMEND_CANDIDATES = 3
BASELINES = {"regression": "mean_squared_error", "binary": "sigmoid_cross_entropy", "multiclass": "softmax_cross_entropy"}


def recommended_candidates(recommendations: Any, csv: str, target: str, count: int = RECOMMEND_CANDIDATES) -> tuple[Any, list[str], list[str]]:
    """The data, the first ``count`` recommended losses the lab can train on it, and the baseline
    (mse or cross-entropy) added when missing; recommended parameters as ``--param`` strings."""
    import warnings as _warnings

    from losskit.lab.data import load_table
    from losskit.lab.models import lab_supports
    from losskit.lab.runner import _check_pairings
    from losskit.lab._types import LossSpec

    import losskit as lk

    data = load_table(csv, target, "auto")
    chosen: list[str] = []
    params: list[str] = []
    for recommendation in recommendations:
        loss = lk.get(recommendation.loss)
        if not lab_supports(loss) or loss.name in chosen:
            continue
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore", UserWarning)
                _check_pairings([LossSpec(loss.name)], data)
        except ValueError:
            continue  # e.g. a loss on counts for a target with negative values
        chosen.append(loss.name)
        params += [f"{loss.name}.{k}={v!r}" for k, v in (recommendation.params or {}).items()]
        if len(chosen) == count:
            break
    baseline = BASELINES[data.task]
    if baseline not in chosen:
        chosen.append(baseline)
    return data, chosen, params


def recommend_compare(recommendations: Any, csv: str, target: str, *, top: int | None, json_output: bool,
                      out: Path = Path("losskit-report")) -> None:
    """``losskit recommend --csv FILE --target COL --compare``: compare the recommended losses
    (and the baseline) on that data with the lab and print the ranked table and the winner."""
    from losskit import lab

    data, losses, params = recommended_candidates(recommendations, csv, target, top or RECOMMEND_CANDIDATES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = lab.compare(csv=csv, target=target, losses=losses, params=params, out=str(out), progress=not json_output)
    except KeyboardInterrupt:
        print(f"losskit: interrupted; finished runs are saved in {out / 'runs.sqlite'}: "
              "run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
    if json_output:
        print(json.dumps(json_payload(result, out), indent=1, default=str))
        return
    print_result(result, out)
    print(f"winner: {result.winner} (compared: {', '.join(result.ranking)}; baseline {BASELINES[data.task]})")
