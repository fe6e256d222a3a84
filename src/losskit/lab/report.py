"""The report of a comparison: one self-contained HTML page, a results file and the exact command.

:func:`write_report` turns a :class:`~losskit.lab._types.CompareResult` into files a person can
open anywhere (the HTML embeds its figures as base64 PNG and its CSS inline: no network, no
assets) and files a program can read back (``results.json``, and ``results.parquet`` where
pyarrow is installed). :func:`verdict` and :func:`command_line` are shared with the command line
so that the terminal and the report say the same thing.

>>> from losskit.lab.report import format_value
>>> format_value(0.123456), format_value(1234.5), format_value(float("nan"))
('0.1235', '1234', 'n/a')
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._types import (
    BINARY_METRICS, CLASSIFICATION_METRICS, HIGHER_IS_BETTER, PREDICTIVE_METRICS, REGRESSION_METRICS, TARGET_VALUE,
    CompareResult, LossSpec, RunResult,
)
from .metrics import MIN_SEEDS_FOR_SIGNIFICANCE

METRIC_TITLES = {
    "rmse": "RMSE",
    "mae": "MAE",
    "median_ae": "Median AE",
    "r2": "R²",
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "log_loss": "Log-loss",
    "brier": "Brier score",
    "ece": "ECE",
    "nll": "Gaussian NLL",
    "coverage_90": "90% coverage",
    "coverage_95": "95% coverage",
    "pr_auc": "PR-AUC",
}

# Settings keys and the `losskit compare` option that sets each, in the order --help lists them.
_COMMAND_OPTIONS = (
    ("dataset", "--dataset"),
    ("csv", "--csv"),
    ("target", "--target"),
    ("features", "--features"),
    ("drop", "--drop"),
    ("task", "--task"),
    ("losses", "--losses"),
    ("params", "--param"),
    ("model", "--model"),
    ("epochs", "--epochs"),
    ("seeds", "--seeds"),
    ("outliers", "--outliers"),
    ("label_noise", "--label-noise"),
    ("imbalance", "--imbalance"),
    ("sweep", "--sweep"),
    ("baseline", "--baseline"),
    ("batch_size", "--batch-size"),
    ("learning_rate", "--learning-rate"),
    ("patience", "--patience"),
    ("metric", "--metric"),
    ("jobs", "--jobs"),
    ("backend", "--backend"),
    ("ray_address", "--ray-address"),
    ("device", "--device"),
    ("out", "--out"),
)

_PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#475569", "#b45309")


# ------------------------------------------------------------------------------ public helpers


def format_value(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (no exponent below 1e6), ``n/a`` for None/NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    value = float(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-4):
        return f"{value:.{digits - 1}e}"
    magnitude = int(math.floor(math.log10(abs(value)))) + 1 if value else 1
    decimals = max(digits - magnitude, 0)
    return f"{value:.{decimals}f}"


def metric_title(metric: str) -> str:
    """The display name of a metric, e.g. ``RMSE`` for ``rmse``."""
    return METRIC_TITLES.get(metric, metric)


def metric_names(result: CompareResult) -> list[str]:
    """The task's metrics found in ``result``'s summary, the primary metric first.

    The predictive metrics (of a predicted variance) come last, when a compared loss has them.
    """
    canonical = (*REGRESSION_METRICS, *PREDICTIVE_METRICS) if result.task == "regression" else BINARY_METRICS
    first = result.per_loss[0] if result.per_loss else {}
    others = [m for m in canonical if f"{m}_mean" in first and m != result.primary_metric]
    return [result.primary_metric, *others]


def metric_direction(metric: str) -> str:
    """What a good value is: ``higher is better``, ``lower is better`` or ``best at 0.95``."""
    if metric in TARGET_VALUE:
        return f"best at {TARGET_VALUE[metric]:g}"
    return "higher is better" if metric in HIGHER_IS_BETTER else "lower is better"


def metric_arrow(metric: str) -> str:
    """The column mark of a metric: an arrow up or down, or the value it is best at (``→0.95``)."""
    if metric in TARGET_VALUE:
        return f"→{TARGET_VALUE[metric]:g}"
    return "↑" if metric in HIGHER_IS_BETTER else "↓"


def test_rows_name(result: CompareResult) -> str:
    """What the test metrics are measured on, in a few words for a title.

    The lab's perturbations (outliers, label noise, imbalance) only ever touch training rows, so
    a built-in dataset's test split is clean. A user's file is taken as it is: its test rows keep
    whatever noise the file has, and a title must not call them clean.
    """
    return "test rows of the CSV, not cleaned" if result.settings.get("csv") else "clean test split"


def test_rows_sentence(result: CompareResult) -> str:
    """What the test metrics are measured on, as a sentence for the report."""
    if result.settings.get("csv"):
        return ("evaluated on the file's test rows as they are (the lab's perturbations touch training data only; "
                "noise already in the file is not cleaned)")
    return "evaluated on the clean test split (perturbations touch training data only)"


def summary_by_loss(result: CompareResult) -> dict[str, dict[str, Any]]:
    """The summary rows keyed by loss label, in ranking order."""
    rows = {row["loss"]: row for row in result.per_loss}
    return {label: rows[label] for label in result.ranking if label in rows}


def verdict(result: CompareResult) -> str:
    """One sentence: who wins on the primary metric, by how much, and whether it beats the noise.

    The size of the margin comes from the summary means; whether it exceeds the seed-to-seed
    noise comes from ``result.significance`` (the engine's paired comparison over seeds).
    """
    metric = result.primary_metric
    rows = summary_by_loss(result)
    if not rows:
        return "No finished runs to compare."
    winner = result.ranking[0]
    best = rows[winner][f"{metric}_mean"]
    title = metric_title(metric)
    if best is None or not math.isfinite(best):
        # NaN sorts last, so a NaN winner means every loss is NaN: naming one would be a guess.
        return (f"No loss reached a finite {title} (every run gave NaN or inf), so there is no winner; "
                "check the data and the learning rate.")
    if len(rows) == 1:
        return f"Only {winner} was run: {title} {format_value(best)}."
    runner_up = result.ranking[1]
    second = rows[runner_up][f"{metric}_mean"]
    margin = abs(second - best)
    relative = f" ({margin / abs(second):.1%})" if second else ""
    better = "higher" if metric in HIGHER_IS_BETTER else "lower"
    if format_value(best) == format_value(second):
        # Equal at the displayed precision: a tie, not a win (the order is the unrounded one).
        return (
            f"{winner} ties with {runner_up} on {title}: {format_value(best)} vs {format_value(second)}, "
            f"equal at this precision (listed first on the unrounded mean); {_noise_clause(result.significance)}"
        )
    sentence = (
        f"{winner} wins on {title}: {format_value(best)} vs {format_value(second)} for {runner_up}, "
        f"{format_value(margin, 3)} {better}{relative}; {_noise_clause(result.significance)}"
    )
    return sentence


def _noise_clause(significance: dict[str, Any]) -> str:
    seeds = significance.get("n_seeds") or 0
    p_value = significance.get("p_value")
    if seeds < MIN_SEEDS_FOR_SIGNIFICANCE or not isinstance(p_value, (int, float)) or not math.isfinite(p_value):
        plural = "s" if seeds != 1 else ""
        return (
            f"with {seeds} paired seed{plural} the seed-to-seed noise cannot be estimated: "
            f"run at least {MIN_SEEDS_FOR_SIGNIFICANCE} seeds before trusting the order."
        )
    detail = f"({significance.get('test', 'paired t-test')} over {seeds} seeds, p = {p_value:.2g})"
    if significance.get("significant"):
        return f"the margin is larger than the seed-to-seed noise {detail}."
    return f"the margin is within the seed-to-seed noise {detail}: the two are not distinguishable."


def command_line(result: CompareResult) -> str:
    """The ``losskit compare`` command that reproduces ``result``, every setting written out.

    Settings are written explicitly (not left to defaults) so the command still reproduces the
    comparison after a default changes; loss parameters come from the runs' :class:`LossSpec`.
    """
    settings = dict(result.settings)
    if settings.get("loss_names"):
        # Written by compare: the names, and per loss its fixed values and tuning grids.
        settings["losses"] = list(settings["loss_names"])
        settings["params"] = [
            f"{name}.{param}={_param_text(value)}"
            for name, params in zip(settings["loss_names"], (settings.get("params") or {}).values())
            for param, value in params.items()
        ]
    else:
        specs = _compared_specs(result, order=settings.get("losses"))
        settings["losses"] = [spec.name for spec in specs.values()]
        settings["params"] = [f"{spec.name}.{name}={value!r}" for spec in specs.values() for name, value in spec.params]
    sweep = settings.get("sweep")
    if isinstance(sweep, dict) and sweep.get("levels"):
        settings["sweep"] = f"{sweep['setting'].replace('_', '-')}=" + ",".join(
            "none" if level is None else f"{level:g}" for level in sweep["levels"]
        )
    else:
        settings["sweep"] = None
        settings["baseline"] = None
    seeds = settings.get("seeds")
    if isinstance(seeds, (list, tuple)):
        # The command line takes a count (seeds 0..N-1) or the seeds themselves, comma-separated
        # (a trailing comma marks a single seed: "7," is seed 7, "7" is seeds 0..6).
        listed = ",".join(map(str, seeds)) + ("," if len(seeds) == 1 else "")
        settings["seeds"] = str(len(seeds)) if list(seeds) == list(range(len(seeds))) else listed
    words = ["losskit", "compare"]
    for key, flag in _COMMAND_OPTIONS:
        value = settings.get(key)
        if value is None or value == "" or value == [] or value == ():
            continue
        if key in ("losses", "features", "drop"):
            words += [flag, ",".join(value)]
        elif key == "params":
            for assignment in value:
                words += [flag, assignment]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _param_text(value: Any) -> str:
    """A loss parameter as ``--param`` reads it: a literal, or a tuning grid comma-separated."""
    if isinstance(value, list):
        return ",".join(repr(v) for v in value)
    return repr(value)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change a result, read from the installed metadata."""
    from importlib import metadata

    from .. import __version__

    versions = {"python": platform.python_version(), "losskit": __version__}
    for label, distribution in (("torch", "torch"), ("numpy", "numpy"), ("sklearn", "scikit-learn")):
        try:
            versions[label] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[label] = "not installed"
    return versions


# ------------------------------------------------------------------------------- the entry point


def write_report(result: CompareResult, out_dir: str | Path, *, progress: bool = False) -> dict[str, Path]:
    """Write the report of ``result`` into ``out_dir`` and return the paths written.

    Files: ``report.html`` (self-contained: figures and CSS embedded), ``results.json`` (the
    full result, the library versions and the command), ``command.txt`` (the command that
    reproduces it) and, where pyarrow is installed, ``results.parquet`` (one row per run with
    its metrics). The returned dict maps ``"html"``, ``"json"``, ``"command"`` and
    ``"parquet"`` (when written) to paths.
    """
    if not isinstance(result, CompareResult):
        raise TypeError(f"result must be a CompareResult; got {type(result).__name__}")
    if not result.runs:
        raise ValueError("result has no runs: there is nothing to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    command = command_line(result)
    versions = library_versions()

    paths = {"command": out / "command.txt", "json": out / "results.json", "html": out / "report.html"}
    paths["command"].write_text(command + "\n", encoding="utf-8")
    _write_json(result, command, versions, paths["json"])
    # The figures depend only on the runs and the settings: when neither changed since the last
    # report in this folder (a rerun that reused every run), they are read back, not drawn again.
    digest = result_digest(result)
    cache = out / FIGURE_CACHE
    figures = _cached_figures(cache, digest)
    parquet_path = out / "results.parquet"
    if figures is None or not parquet_path.exists():
        parquet = _write_parquet(result, parquet_path)
        if parquet is not None:
            paths["parquet"] = parquet
    elif parquet_path.exists():
        paths["parquet"] = parquet_path
    if figures is None:
        figures = report_figures(result, progress=progress)
        cache.write_text(json.dumps({"digest": digest, "figures": figures}), encoding="utf-8")
    paths["html"].write_text(render_html(result, command=command, versions=versions, figures=figures), encoding="utf-8")
    return paths


FIGURE_CACHE = "figures.json"


def result_digest(result: CompareResult) -> str:
    """A hash of everything a figure shows: the runs (by key: a key hashes every setting that can
    change a run) with their labels, the ranking, and the settings (less how the runs were executed)."""
    import hashlib

    settings = {k: v for k, v in result.settings.items() if k not in ("jobs", "backend", "ray_address", "out")}
    payload = {
        "runs": [(run.key, run.loss_label) for run in result.runs],
        "all": [run.key for run in result.all_runs],
        "ranking": result.ranking,
        "settings": settings,
        "figures": FIGURES_VERSION,
    }
    return hashlib.sha256(json.dumps(json_safe(payload), sort_keys=True, default=str).encode()).hexdigest()[:32]


# Bumped when a figure's drawing changes, so a cached figure of an older drawing is redrawn.
FIGURES_VERSION = 1


def _cached_figures(path: Path, digest: str) -> list[tuple[str, str, str]] | None:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if cached.get("digest") != digest:
        return None
    return [tuple(figure) for figure in cached.get("figures", [])]


def _write_json(result: CompareResult, command: str, versions: dict[str, str], path: Path) -> None:
    payload = result.to_dict()
    payload["summary"] = payload.pop("per_loss")
    # The tuning candidates that were not chosen are in runs.sqlite; here, only their keys.
    chosen = {run.key for run in result.runs}
    payload["all_runs"] = [run.key for run in result.all_runs] if result.all_runs else [run.key for run in result.runs]
    payload["candidate_runs"] = [
        {"key": run.key, "loss": run.config.loss.label, "seed": run.config.seed, "val_metrics": run.val_metrics,
         "metrics": run.metrics}
        for run in result.all_runs if run.key not in chosen
    ]
    payload["command"] = command
    # The words as typed, when this process is the console script (not a Python API call).
    if Path(sys.argv[0]).name == "losskit":
        payload["argv"] = shlex.join(["losskit", *sys.argv[1:]])
    payload["versions"] = versions
    text = json.dumps(json_safe(payload), indent=1, default=_json_default, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None, so that any JSON reader can load it.

    >>> json_safe({"rmse": float("nan"), "runs": [1.5, float("inf")]})
    {'rmse': None, 'runs': [1.5, None]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"results.json cannot store a {type(value).__name__}")


def run_rows(result: CompareResult) -> list[dict[str, Any]]:
    """One flat row per run: loss, seed, key, best epoch, epochs run, seconds and every metric.

    Every row has every metric of the comparison (NaN where a loss has none, e.g. mse's
    coverage), so that the rows form one table: Parquet takes its columns from the first row.
    """
    from .metrics import epochs_to_convergence, generalisation_gap

    names = list(dict.fromkeys(m for run in result.runs for m in run.metrics))
    swept = (result.sweep or {}).get("setting")
    return [
        {
            "loss": run.loss_label,
            **({swept: _level_of(run, swept)} if swept else {}),
            "params": run.config.loss.label,
            "seed": run.config.seed,
            "key": run.key,
            "best_epoch": run.best_epoch,
            "epochs_run": len(run.train_loss),
            "epochs_to_convergence": epochs_to_convergence(run.val_metric, run.monitor) if run.monitor else math.nan,
            "seconds": run.seconds,
            "train_seconds": run.train_seconds,
            "gap": generalisation_gap(run, result.primary_metric),
            **{m: run.metrics.get(m, math.nan) for m in names},
        }
        for run in result.runs
    ]


def _level_of(run: RunResult, setting: str) -> Any:
    value = getattr(run.config, setting)
    return math.nan if value is None else float(value)


def _write_parquet(result: CompareResult, path: Path) -> Path | None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # Parquet is optional; results.json always holds everything.
        return None
    pq.write_table(pa.Table.from_pylist(run_rows(result)), path)
    return path


# ------------------------------------------------------------------------------------- figures


def _colors(labels: Sequence[str]) -> dict[str, str]:
    return {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}


def _runs_by_loss(result: CompareResult) -> dict[str, list[RunResult]]:
    grouped: dict[str, list[RunResult]] = {label: [] for label in result.ranking}
    for run in sorted(result.runs, key=lambda r: r.config.seed):
        grouped.setdefault(run.loss_label, []).append(run)
    return grouped


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    # Constrained layout already fits the labels: bbox_inches="tight" would cost a second draw.
    figure.savefig(buffer, format="png", dpi=110, facecolor="white")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _grid(count: int, columns: int = 3) -> tuple[int, int]:
    # Four panels read better as 2 x 2 than as 3 + 1.
    columns = 2 if count == 4 and columns == 3 else min(count, columns)
    return math.ceil(count / columns), columns


def figure_learning_curves(result: CompareResult):
    """Training loss (top row) and validation loss (bottom row) per epoch, a column per loss.

    Rows, not shared panels: with perturbed training data the two curves can differ by orders
    of magnitude, and each loss has its own scale, so every panel gets its own y axis.
    """
    import matplotlib.pyplot as plt

    grouped = _runs_by_loss(result)
    colors = _colors(list(grouped))
    columns = len(grouped)
    width = min(3.2, 12.0 / columns)
    figure, axes = plt.subplots(
        2, columns, figsize=(width * columns, 4.8), squeeze=False, sharex="col", layout="constrained"
    )
    for column, (label, runs) in enumerate(grouped.items()):
        ax_train, ax_val = axes[0, column], axes[1, column]
        for run in runs:
            ax_train.plot(np.arange(1, len(run.train_loss) + 1), run.train_loss, color=colors[label], lw=1.2, alpha=0.75)
            ax_val.plot(np.arange(1, len(run.val_loss) + 1), run.val_loss, color=colors[label], lw=1.2, alpha=0.75)
            if 1 <= run.best_epoch <= len(run.val_loss):
                ax_val.plot(run.best_epoch, run.val_loss[run.best_epoch - 1], "o", color="#111827", ms=3.5, zorder=3)
        ax_train.set_title(label, fontsize=9)
        ax_val.set_xlabel("epoch", fontsize=8)
        for ax, curves in ((ax_train, [r.train_loss for r in runs]), (ax_val, [r.val_loss for r in runs])):
            _maybe_log_scale(ax, curves)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("training loss", fontsize=8)
    axes[1, 0].set_ylabel("validation loss", fontsize=8)
    return figure


def figure_dynamics(result: CompareResult):
    """Learning dynamics on one scale for every loss: the clean validation metric per epoch, the
    gradient norm per epoch and the validation metric against wall time, one line per run.

    Unlike the losses, the validation metric (RMSE or macro F1 on clean data) is comparable
    across losses, so the curves share axes: which loss gets good fastest, in epochs and in
    seconds, and how large and how steady its gradients are.
    """
    import matplotlib.pyplot as plt

    grouped = _runs_by_loss(result)
    colors = _colors(list(grouped))
    figure, (ax_metric, ax_norm, ax_time) = plt.subplots(1, 3, figsize=(12.0, 3.5), layout="constrained")
    monitor = next((r.monitor for runs in grouped.values() for r in runs if r.monitor), "")
    for label, runs in grouped.items():
        for index, run in enumerate(runs):
            epochs = np.arange(1, len(run.val_metric) + 1)
            first = {"label": label} if index == 0 else {}
            ax_metric.plot(epochs, run.val_metric, color=colors[label], lw=1.1, alpha=0.8, **first)
            ax_norm.plot(np.arange(1, len(run.grad_norm) + 1), run.grad_norm, color=colors[label], lw=1.1, alpha=0.8)
            ax_time.plot(run.wall_time[: len(run.val_metric)], run.val_metric[: len(run.wall_time)], color=colors[label], lw=1.1, alpha=0.8)
    title = metric_title(monitor) if monitor else "metric"
    ax_metric.set_title(f"clean validation {title} per epoch", fontsize=10)
    ax_norm.set_title("gradient norm (mean over the epoch's steps)", fontsize=10)
    ax_time.set_title(f"clean validation {title} against wall time", fontsize=10)
    ax_metric.set_xlabel("epoch" if result.settings.get("model") != "gbdt" else "boosting round", fontsize=8)
    ax_norm.set_xlabel("epoch" if result.settings.get("model") != "gbdt" else "boosting round", fontsize=8)
    ax_time.set_xlabel("seconds since training started", fontsize=8)
    _maybe_log_scale(ax_metric, [r.val_metric for runs in grouped.values() for r in runs])
    _maybe_log_scale(ax_time, [r.val_metric for runs in grouped.values() for r in runs])
    norms = [v for runs in grouped.values() for r in runs for v in r.grad_norm if math.isfinite(v) and v > 0]
    if norms:
        ax_norm.set_yscale("log")
    for ax in (ax_metric, ax_norm, ax_time):
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    ax_metric.legend(fontsize=7, frameon=False)
    return figure


def _maybe_log_scale(ax, curves: Sequence[Sequence[float]]) -> None:
    values = np.array([v for curve in curves for v in curve], dtype=float)
    values = values[np.isfinite(values)]
    # A loss that starts orders of magnitude above where it ends hides the end on a linear axis.
    if values.size and values.min() > 0 and values.max() / values.min() > 30:
        ax.set_yscale("log")


def _level_positions(levels: Sequence[Any]) -> tuple[np.ndarray, list[str], bool]:
    """x positions of sweep levels: the levels themselves, or ranks when one is ``none``."""
    if any(level is None for level in levels):
        return np.arange(len(levels), dtype=float), ["none" if lv is None else f"{lv:g}" for lv in levels], False
    return np.asarray(levels, dtype=float), [f"{lv:g}" for lv in levels], True


def figure_robustness(result: CompareResult):
    """The robustness curve of each loss: the clean test metric against the perturbation level,
    mean over seeds with ±1 std error bars; a ring marks the level from which a loss beats the
    baseline significantly."""
    import matplotlib.pyplot as plt

    sweep = result.sweep or {}
    levels = sweep.get("levels", [])
    x, ticks, numeric = _level_positions(levels)
    curves = sweep.get("curves", {})
    colors = _colors([label for label in result.ranking if label in curves] + [l for l in curves if l not in result.ranking])
    figure, ax = plt.subplots(figsize=(7.5, 4.0), layout="constrained")
    offsets = np.linspace(-0.008, 0.008, len(curves)) * (np.ptp(x) or 1.0)
    for offset, (label, curve) in zip(offsets, curves.items()):
        marker = "s" if label == sweep.get("baseline") else "o"
        ax.errorbar(x + offset, curve["mean"], yerr=curve["std"], color=colors[label], marker=marker, ms=4, lw=1.6,
                    capsize=3, label=label + (" (baseline)" if label == sweep.get("baseline") else ""))
        start = (sweep.get("from_level") or {}).get(label, {})
        if start.get("found"):
            index = levels.index(start["level"])
            ax.plot(x[index] + offset, curve["mean"][index], "o", ms=11, mfc="none", mec=colors[label], mew=1.8)
    ax.set_xticks(x, ticks)
    setting = str(sweep.get("setting", "level")).replace("_", " ")
    ax.set_xlabel(setting + (" (fraction of training targets)" if setting == "outliers" else ""), fontsize=9)
    ax.set_ylabel(f"clean test {metric_title(result.primary_metric)} ({metric_direction(result.primary_metric)})", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return figure


def figure_tuning(result: CompareResult):
    """Each tuned parameter's curve: the clean validation metric against its value (mean ± std
    over seeds, other tuned parameters at their best), one line per sweep level; the chosen
    values are listed in the tuning table."""
    import matplotlib.pyplot as plt

    panels = [(label, curve) for label, info in (result.tuning or {}).items() for curve in info["curves"]]
    params = list(dict.fromkeys((label, curve["param"]) for label, curve in panels))
    rows, columns = _grid(len(params))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False, layout="constrained")
    levels = list(dict.fromkeys(curve["level"] for _, curve in panels))
    level_colors = {level: _PALETTE[i % len(_PALETTE)] for i, level in enumerate(levels)}
    for ax, (label, param) in zip(axes.flat, params):
        for curve_label, curve in panels:
            if (curve_label, curve["param"]) != (label, param):
                continue
            values = curve["values"]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            x = np.asarray(values, dtype=float) if numeric else np.arange(len(values), dtype=float)
            level = curve["level"]
            name = None if level is None and len(levels) == 1 else f"{(result.sweep or {}).get('setting', 'level')}={'none' if level is None else f'{level:g}'}"
            ax.errorbar(x, curve["mean"], yerr=curve["std"], marker="o", ms=4, capsize=3, lw=1.5,
                        color=level_colors[level], label=name)
            if numeric and len(x) > 2 and x.min() > 0 and x.max() / x.min() >= 10:
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(x, [str(v) for v in values], fontsize=7)
        ax.set_title(f"{label}: {param}", fontsize=10)
        ax.set_xlabel(param, fontsize=8)
        ax.set_ylabel(f"validation {metric_title(result.primary_metric)}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(levels) > 1:
            ax.legend(fontsize=7, frameon=False)
    for ax in axes.flat[len(params):]:
        ax.axis("off")
    return figure


def figure_metrics(result: CompareResult):
    """Each metric's mean over seeds with a ±1 std error bar, one panel per metric."""
    import matplotlib.pyplot as plt

    rows = summary_by_loss(result)
    labels = list(rows)
    colors = _colors(labels)
    metrics = metric_names(result)
    n_rows, columns = _grid(len(metrics), columns=len(metrics) if len(metrics) <= 4 else 3)
    width = max(2.6, 0.45 * len(labels) + 1.0)
    figure, axes = plt.subplots(
        n_rows, columns, figsize=(width * columns, 3.0 * n_rows), squeeze=False, layout="constrained"
    )
    positions = np.arange(len(labels))
    for ax, metric in zip(axes.flat, metrics):
        means = [rows[label].get(f"{metric}_mean", np.nan) for label in labels]
        stds = [rows[label].get(f"{metric}_std", 0.0) or 0.0 for label in labels]
        ax.bar(positions, means, yerr=stds, capsize=3, color=[colors[label] for label in labels], alpha=0.85)
        ax.set_xticks(positions, labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(f"{metric_title(metric)}\n({metric_direction(metric)})", fontsize=9)
        if metric in TARGET_VALUE:
            ax.axhline(TARGET_VALUE[metric], color="#6b7280", lw=1, ls=":")
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    return figure


def figure_residuals(result: CompareResult):
    """Distribution of clean-test residuals (prediction - target) per loss, all seeds pooled."""
    import matplotlib.pyplot as plt

    grouped = _runs_by_loss(result)
    labels = list(grouped)
    colors = _colors(labels)
    residuals = [
        np.concatenate([np.asarray(r.test_predictions, float) - np.asarray(r.test_targets, float) for r in runs])
        if runs else np.zeros(1)
        for runs in grouped.values()
    ]
    figure, ax = plt.subplots(figsize=(8.0, 0.7 * len(labels) + 1.4), layout="constrained")
    positions = np.arange(len(labels))[::-1]
    parts = ax.violinplot(residuals, positions=positions, showmedians=True, showextrema=False, widths=0.8,
                          **_horizontal())
    for body, label in zip(parts["bodies"], labels):
        body.set_facecolor(colors[label])
        body.set_edgecolor(colors[label])
        body.set_alpha(0.45)
    parts["cmedians"].set_color("#111827")
    ax.boxplot(residuals, positions=positions, widths=0.18, showfliers=False, **_horizontal(),
               medianprops={"color": "#111827"}, whiskerprops={"color": "#374151"}, capprops={"color": "#374151"})
    ax.axvline(0.0, color="#6b7280", lw=1, ls=":")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel("test residual (prediction − target)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    return figure


def _horizontal() -> dict[str, Any]:
    import matplotlib

    # Matplotlib 3.10 replaced vert=False by orientation="horizontal" (vert is deprecated in 3.11).
    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def reliability_curve(targets: Sequence[int], probabilities: Sequence[Sequence[float]], bins: int = 10):
    """Mean predicted probability and observed frequency per confidence bin, and bin counts.

    Binary: the positive class's probability against how often the label is 1. Multiclass: the
    top class's probability (confidence) against how often the top class is the label.

    >>> predicted, observed, counts = reliability_curve([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], bins=2)
    >>> predicted.round(2).tolist(), observed.tolist(), counts.tolist()
    ([0.1, 0.75], [0.0, 1.0], [1, 2])
    """
    targets = np.asarray(targets).astype(int).ravel()
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim == 1:  # positive-class probabilities only
        probabilities = np.stack([1.0 - probabilities, probabilities], axis=1)
    if probabilities.shape[1] == 2:
        score, hit = probabilities[:, 1], (targets == 1).astype(float)
    else:
        score = probabilities.max(axis=1)
        hit = (probabilities.argmax(axis=1) == targets).astype(float)
    index = np.clip((score * bins).astype(int), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    filled = counts > 0
    predicted = np.bincount(index, weights=score, minlength=bins)[filled] / counts[filled]
    observed = np.bincount(index, weights=hit, minlength=bins)[filled] / counts[filled]
    return predicted, observed, counts[filled]


def figure_reliability(result: CompareResult):
    """Reliability diagram per loss (all seeds pooled): predicted probability vs observed frequency."""
    import matplotlib.pyplot as plt

    grouped = _runs_by_loss(result)
    colors = _colors(list(grouped))
    binary = result.task == "binary"
    rows, columns = _grid(len(grouped))
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.3 * columns, 3.2 * rows), squeeze=False, layout="constrained"
    )
    for ax, (label, runs) in zip(axes.flat, grouped.items()):
        targets = [t for run in runs for t in run.test_targets]
        probabilities = [p for run in runs for p in run.test_predictions]
        predicted, observed, counts = reliability_curve(targets, probabilities)
        ax.plot([0, 1], [0, 1], color="#9ca3af", lw=1, ls=":", label="perfect calibration")
        ax.plot(predicted, observed, "-", color=colors[label], lw=1.5)
        ax.scatter(predicted, observed, s=12 + 60 * counts / counts.max(), color=colors[label], zorder=3,
                   label="bin (size ∝ count)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("predicted P(class 1)" if binary else "confidence (top-class probability)", fontsize=8)
        ax.set_ylabel("observed frequency" if binary else "accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(grouped):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, frameon=False, loc="upper left")
    return figure


def loss_shape(spec: LossSpec, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-sample value of ``spec``'s loss along ``grid``, and the grid points it is defined on.

    Regression losses are evaluated at residual ``r = y_pred - y_true`` around the target 1
    (so that percentage and log errors are defined), a loss with several predictions at the
    residual of its first (gaussian_nll's mean) with the others at 1 (a unit variance), as
    ``lk.plot`` draws it; classification losses at the margin ``m``
    of the true class: the logit/score ``m`` (binary), or logits ``[m, 0, 0]`` with class 0
    true (multiclass), converted to the loss's prediction space.

    >>> x, values = loss_shape(LossSpec("huber", (("delta", 1.0),)), np.array([-2.0, 0.0, 0.5]))
    >>> values.tolist()
    [1.5, 0.0, 0.125]
    >>> loss_shape(LossSpec("gaussian_nll"), np.array([-2.0, 0.0]))[1].tolist()
    [2.0, 0.0]
    """
    import losskit as lk

    loss = lk.get(spec.name).with_params(**spec.param_dict)
    grid = np.asarray(grid, dtype=float)
    if loss.task == "regression":
        y_true = np.ones_like(grid)
        y_pred = 1.0 + grid
        if loss.label_format in ("non-negative", "counts", "positive"):
            defined = y_pred > 0  # log and rate losses are undefined for non-positive predictions
            grid, y_true, y_pred = grid[defined], y_true[defined], y_pred[defined]
    elif loss.task == "binary":
        y_true = np.ones_like(grid)
        y_pred = _from_logits(grid, loss.prediction_space, binary=True)
    else:
        logits = np.stack([grid, np.zeros_like(grid), np.zeros_like(grid)], axis=1)
        y_pred = _from_logits(logits, loss.prediction_space, binary=False)
        if loss.kind == "sparse":
            y_true = np.zeros(len(grid), dtype=np.int64)
        else:
            y_true = np.zeros_like(logits)
            y_true[:, 0] = 1.0
    others = [np.ones_like(y_pred) for _ in loss.inputs[1:]]
    with lk.value_checks(False):
        if "none" in loss.reductions:
            values = np.asarray(loss(y_true, y_pred, *others, reduction="none"), dtype=float)
        else:  # root losses (rmse) only reduce; one sample at a time gives the per-sample value
            values = np.array([
                float(loss(y_true[i : i + 1], y_pred[i : i + 1], *(o[i : i + 1] for o in others)))
                for i in range(len(grid))
            ])
    return grid, values


def _from_logits(logits: np.ndarray, space: str, *, binary: bool) -> np.ndarray:
    if space in ("logits", "scores", "values"):
        return logits
    if binary:
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        return probabilities if space == "probabilities" else np.log(probabilities)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.exp(log_probabilities) if space == "probabilities" else log_probabilities


def _compared_specs(result: CompareResult, order: Sequence[str] | None = None) -> dict[str, LossSpec]:
    """The compared losses by label, in ``order`` (labels), by default in ranking order."""
    specs: dict[str, LossSpec] = {}
    for run in result.runs:
        specs.setdefault(run.loss_label, run.config.loss)
    order = [label for label in (order or result.ranking) if label in specs]
    return {label: specs[label] for label in [*order, *(label for label in specs if label not in order)]}


def figure_loss_shapes(result: CompareResult):
    """Each compared loss and its slope over the residual (regression) or the margin (classification).

    The slope is the pull one sample exerts on the model: unbounded for MSE, capped for Huber
    and MAE, which is why a few gross outliers steer MSE and not the robust losses.
    """
    import matplotlib.pyplot as plt

    specs = _compared_specs(result)
    colors = _colors(list(specs))
    regression = result.task == "regression"
    grid = np.linspace(-3.0, 3.0, 601) if regression else np.linspace(-4.0, 4.0, 801)
    figure, (ax_loss, ax_slope) = plt.subplots(1, 2, figsize=(9.5, 3.4), layout="constrained")
    for label, spec in specs.items():
        x, values = loss_shape(spec, grid)
        ax_loss.plot(x, values, color=colors[label], lw=1.6, label=_shape_label(label, spec))
        # Finite differences work for every prediction space and kink alike; a plot needs no more.
        ax_slope.plot(x, np.gradient(values, x), color=colors[label], lw=1.6, label=label)
    axis = "residual  (prediction − target)" if regression else "margin  (logit/score of the true class)"
    for ax, title in ((ax_loss, "loss per sample"), (ax_slope, "slope: pull of one sample on the model")):
        ax.set_xlabel(axis, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.axvline(0.0, color="#9ca3af", lw=0.8, ls=":")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    top = max(ax_loss.get_ylim()[1], 1.0)
    ax_loss.set_ylim(bottom=min(ax_loss.get_ylim()[0], 0.0), top=min(top, 10.0))
    ax_loss.legend(fontsize=7, frameon=False)
    return figure


def _shape_label(label: str, spec: LossSpec) -> str:
    import losskit as lk

    others = lk.get(spec.name).inputs[1:]
    return f"{label} ({', '.join(others)} = 1)" if others else label


def report_figures(result: CompareResult, *, progress: bool = False) -> list[tuple[str, str, str]]:
    """The report's figures as ``(id, caption, base64 PNG)``, in page order (with ``progress``, a
    progress bar on stderr counts them)."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # a report never needs a display
    regression = result.task == "regression"
    spec = [
        ("fig-learning-curves", figure_learning_curves,
         "Learning curves: training loss (top, perturbations included) and clean validation loss (bottom) "
         "per epoch, one line per seed; the dot marks the epoch early stopping kept. "
         "Each panel has its own scale: the losses are not comparable with each other, only their shapes."),
        ("fig-dynamics", figure_dynamics,
         "Learning dynamics: the clean validation metric per epoch (left) and against wall time (right), and "
         "the gradient norm per epoch (centre, mean over the epoch's steps), one line per seed. "
         "Unlike the losses, the metric is comparable across losses."),
        ("fig-metrics", figure_metrics,
         "Test metrics on the clean test split: mean over seeds, error bars ±1 standard deviation."),
        ("fig-residuals", figure_residuals,
         "Residual distributions on the clean test split (all seeds pooled): violin with box (quartiles) "
         "and median. A tight distribution centred on 0 is best.")
        if regression else
        ("fig-reliability", figure_reliability,
         "Reliability diagrams on the clean test split (all seeds pooled): "
         + ("predicted probability of class 1 vs how often the label is 1. "
            if result.task == "binary" else "top-class confidence vs accuracy. ")
         + "Points on the diagonal are well calibrated."),
        ("fig-loss-shapes", figure_loss_shapes,
         "Shapes of the compared losses with their parameters, and their slopes: "
         + ("a bounded slope caps the pull of a gross outlier." if regression
            else "the slope shows how hard each loss pushes on misclassified and on already-correct samples.")),
    ]
    if result.sweep:
        setting = result.sweep["setting"].replace("_", " ")
        spec.insert(0, ("fig-robustness", figure_robustness,
                        f"Robustness curves: the clean test {metric_title(result.primary_metric)} against the {setting} "
                        f"level, mean over seeds with ±1 std error bars; a ring marks the level from which a loss beats "
                        f"the baseline {result.sweep['baseline']} (paired t-test over seeds, p < 0.05)."))
    if result.tuning:
        spec.insert(1 if result.sweep else 0, ("fig-tuning", figure_tuning,
                    f"Tuned loss parameters: the clean validation {metric_title(result.primary_metric)} (validation split "
                    "carved from the data before the test split; the test split is never used to choose) against each "
                    "parameter's value, mean ± std over seeds."))
    drawn: dict[int, str] = {}
    advance = _figure_progress(len(spec)) if progress else None
    try:
        for index, png in _draw_all(result, spec):
            drawn[index] = png
            if advance is not None:
                advance(spec[index][0])
    finally:
        if advance is not None:
            advance(None)
    return [(figure_id, caption, drawn[i]) for i, (figure_id, _, caption) in enumerate(spec)]


# Figures are drawn in this many forked processes where the platform forks cheaply (Linux) and
# there are cores: each figure is independent, and drawing is most of a report's time.
REPORT_WORKERS = 2
_DRAWING: tuple[Any, list] | None = None


def _draw_one(index: int) -> tuple[int, str]:
    assert _DRAWING is not None
    result, spec = _DRAWING
    return index, _png(spec[index][1](result))


def _draw_all(result: CompareResult, spec: list) -> Any:
    global _DRAWING
    import multiprocessing
    import os

    workers = min(REPORT_WORKERS, os.cpu_count() or 1, len(spec))
    if workers < 2 or not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        for index in range(len(spec)):
            yield _draw_one_here(result, spec, index)
        return
    import matplotlib.pyplot  # noqa: F401  (with its fonts, once, before forking)

    _DRAWING = (result, spec)
    pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        # The heaviest figures first, so the two processes finish together.
        order = sorted(range(len(spec)), key=lambda i: spec[i][0] not in ("fig-learning-curves", "fig-residuals", "fig-reliability"))
        yield from pool.imap_unordered(_draw_one, order, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _DRAWING = None


def _draw_one_here(result: CompareResult, spec: list, index: int) -> tuple[int, str]:
    return index, _png(spec[index][1](result))


def _figure_progress(total: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]report"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[last]}"), console=Console(file=sys.stderr))
    bar.start()
    task = bar.add_task("report", total=total, last="")

    def advance(figure_id: str | None) -> None:
        if figure_id is None:
            bar.stop()
        else:
            bar.update(task, advance=1, last=figure_id)

    return advance


# ---------------------------------------------------------------------------------------- HTML

_CSS = """
:root { --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --accent:#2563eb; --good:#047857; --warn:#b45309; }
* { box-sizing: border-box; }
body { margin: 0; background: #f8fafc; color: var(--ink);
  font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 48px; background: #fff; min-height: 100vh;
  box-shadow: 0 0 0 1px var(--line); }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 34px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.subtitle { color: var(--muted); margin: 0 0 18px; }
.verdict { border-left: 5px solid var(--good); background: #ecfdf5; padding: 14px 18px; border-radius: 6px;
  font-size: 16.5px; }
.verdict.noise { border-left-color: var(--warn); background: #fffbeb; }
.verdict strong { font-size: 18px; }
.badges { margin-top: 8px; color: var(--muted); font-size: 13.5px; }
pre { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 6px; overflow-x: auto;
  font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 7px 10px; text-align: right; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: #f1f5f9; font-weight: 600; }
th:first-child, td:first-child, th.left, td.left { text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
tr.winner td { background: #eff6ff; font-weight: 600; }
td.primary, th.primary { background-color: rgba(37, 99, 235, 0.06); }
.std { color: var(--muted); font-weight: 400; }
.settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 6px 24px;
  margin: 0 0 12px; font-size: 14px; }
.settings div { display: flex; justify-content: space-between; border-bottom: 1px dotted var(--line); padding: 3px 0; }
.settings dt { color: var(--muted); padding-right: 12px; }
.settings dd { margin: 0; font-weight: 500; text-align: right; }
figure { margin: 22px 0; } figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; }
ul.warnings { color: var(--warn); }
details summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 36px; color: var(--muted); font-size: 12.5px; }
.scroll { overflow-x: auto; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _mean_std(row: dict[str, Any], metric: str) -> str:
    mean, std = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
    return f"{_e(format_value(mean))} <span class='std'>± {_e(format_value(std, 2))}</span>"


# The summary's learning-dynamics columns, their titles and what they say.
DYNAMICS_TITLES = {
    "epochs_to_convergence": "epochs to converge",
    "train_seconds": "train s",
    "gap": "gap (train − test)",
}


def _metrics_table(result: CompareResult) -> str:
    metrics = metric_names(result)
    dynamics = [c for c in DYNAMICS_TITLES if result.per_loss and f"{c}_mean" in result.per_loss[0]]
    head = "".join(
        f"<th class='{'primary' if m == result.primary_metric else ''}'>{_e(metric_title(m))} "
        f"{_e(metric_arrow(m))}</th>"
        for m in metrics
    ) + "".join(f"<th title='{_e(_dynamics_help(c, result))}'>{_e(DYNAMICS_TITLES[c])}</th>" for c in dynamics)
    body = []
    for rank, (label, row) in enumerate(summary_by_loss(result).items(), start=1):
        cells = "".join(
            f"<td class='{'primary' if m == result.primary_metric else ''}'>{_mean_std(row, m)}</td>" for m in metrics
        ) + "".join(f"<td>{_mean_std(row, c)}</td>" for c in dynamics)
        seeds = row.get("n_seeds", "")
        body.append(
            f"<tr class='{'winner' if rank == 1 else ''}'><td>{rank}</td><td class='left'>{_e(label)}</td>"
            f"{cells}<td>{_e(seeds)}</td></tr>"
        )
    return (
        "<div class='scroll'><table id='metrics-table'><thead><tr><th>#</th><th class='left'>loss</th>"
        f"{head}<th>seeds</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _sweep_block(result: CompareResult) -> str:
    sweep = result.sweep
    if not sweep:
        return ""
    metric = result.primary_metric
    levels = sweep["levels"]
    head = "".join(f"<th>{_e(sweep['setting'].replace('_', '-'))}={_e('none' if lv is None else f'{lv:g}')}</th>" for lv in levels)
    body = []
    for label in result.ranking:
        cells = []
        for per_level in sweep["per_level"]:
            row = next((r for r in per_level["summary"] if r["loss"] == label), {})
            cells.append(f"<td>{_mean_std(row, metric)}</td>")
        start = sweep["from_level"].get(label)
        if label == sweep["baseline"]:
            note = "baseline"
        elif start and start.get("found"):
            note = f"from {_e(_level_text(start['level']))} (p = {start['p_value']:.2g})"
            if start.get("not_better_above"):
                note += f"; not at {_e(', '.join(_level_text(lv) for lv in start['not_better_above']))}"
        else:
            note = "never"
        body.append(f"<tr><td class='left'>{_e(label)}</td>{''.join(cells)}<td class='left'>{note}</td></tr>")
    sentences = "".join(f"<li>{_e(info['sentence'])}</li>" for info in sweep["from_level"].values())
    return (
        f"<h2>Robustness sweep</h2><p>Clean test {_e(metric_title(metric))} per {_e(sweep['setting'].replace('_', ' '))} "
        f"level (mean ± std over seeds). The ranking above pools every level.</p>"
        f"<div class='scroll'><table id='sweep-table'><thead><tr><th class='left'>loss</th>{head}"
        f"<th class='left'>beats {_e(sweep['baseline'])}</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"<ul id='sweep-verdicts'>{sentences}</ul>"
    )


def _level_text(level: Any) -> str:
    return "none" if level is None else f"{level:g}"


def _tuning_block(result: CompareResult) -> str:
    if not result.tuning:
        return ""
    parts = []
    for label, info in result.tuning.items():
        names = list(info["grid"])
        grid = "; ".join(f"{n} ∈ {{{', '.join(map(str, v))}}}" for n, v in info["grid"].items())
        swept = result.sweep["setting"] if result.sweep else None
        head = (f"<th>{_e(swept.replace('_', '-'))}</th>" if swept else "") + "<th>seed</th>" + "".join(
            f"<th>{_e(n)}</th>" for n in names) + f"<th>validation {_e(metric_title(info['metric']))}</th>"
        rows = "".join(
            "<tr>" + (f"<td>{_e(_level_text(row['level']))}</td>" if swept else "") + f"<td>{row['seed']}</td>"
            + "".join(f"<td>{_e(row['params'][n])}</td>" for n in names)
            + f"<td>{_e(format_value(row['validation']))}</td></tr>"
            for row in info["chosen"]
        )
        parts.append(
            f"<h3>{_e(label)}</h3><p>Grid: {_e(grid)}. Chosen per seed on the clean validation split "
            f"(never the test split), ranked above at the chosen values.</p>"
            f"<div class='scroll'><table class='tuning-table'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        )
    return "<h2>Tuned loss parameters</h2>" + "".join(parts)


def _dynamics_help(column: str, result: CompareResult) -> str:
    title = metric_title(result.primary_metric)
    return {
        "epochs_to_convergence": "first epoch whose clean validation metric is within 1% of the run's best",
        "train_seconds": "wall time of training (seconds)",
        "gap": f"{title} on the training rows (clean targets) minus {title} on the clean test split",
    }[column]


def _settings_block(result: CompareResult) -> str:
    items = []
    for key, value in result.settings.items():
        if key in ("data", "loss_names") or value is None or value == [] or value == () or value == {}:
            continue
        if key == "sweep" and isinstance(value, dict):
            value = f"{value['setting'].replace('_', '-')} = " + ", ".join(_level_text(lv) for lv in value["levels"])
        if key == "losses":
            value = ", ".join(value)
        elif key == "params":
            value = "; ".join(label for label, params in value.items() if params) or "defaults"
        elif key == "seeds" and isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        items.append(f"<div><dt>{_e(key.replace('_', ' '))}</dt><dd>{_e(value)}</dd></div>")
    return f"<dl class='settings'>{''.join(items)}</dl>"


def _data_line(result: CompareResult) -> str:
    data = result.settings.get("data") or {}
    name = result.settings.get("dataset") or result.settings.get("csv") or data.get("name", "data")
    shape = f"{data['n_samples']} rows × {data['n_features']} features" if "n_samples" in data else ""
    classes = (
        ", classes " + ", ".join(f"{c}: {n}" for c, n in zip(data["class_names"], data["class_counts"]))
        if data.get("class_names") and data.get("class_counts") else ""
    )
    target = f", target {data['target']!r}" if data.get("target") else ""
    return f"<b>{_e(name)}</b>{f' ({_e(shape + target + classes)})' if shape else ''}"


def _runs_table(result: CompareResult) -> str:
    metrics = metric_names(result)
    head = "".join(f"<th>{_e(metric_title(m))}</th>" for m in metrics)
    body = "".join(
        f"<tr><td class='left'>{_e(row['loss'])}</td><td>{row['seed']}</td><td>{row['best_epoch']}</td>"
        f"<td>{row['epochs_run']}</td><td>{row['seconds']:.2f}</td>"
        + "".join(f"<td>{_e(format_value(row.get(m)))}</td>" for m in metrics)
        + f"<td class='left'><code>{_e(row['key'])}</code></td></tr>"
        for row in sorted(run_rows(result), key=lambda r: (result.ranking.index(r["loss"])
                                                           if r["loss"] in result.ranking else 99, r["seed"]))
    )
    return (
        "<div class='scroll'><table id='runs-table'><thead><tr><th class='left'>loss</th><th>seed</th>"
        f"<th>best epoch</th><th>epochs</th><th>seconds</th>{head}<th class='left'>run key</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def render_html(
    result: CompareResult, *, command: str | None = None, versions: dict[str, str] | None = None,
    figures: Sequence[tuple[str, str, str]] | None = None,
) -> str:
    """The report page as one self-contained HTML string (figures as base64 PNG, CSS inline)."""
    command = command if command is not None else command_line(result)
    versions = versions if versions is not None else library_versions()
    significant = result.significance.get("significant")
    n_seeds = len({run.config.seed for run in result.runs})
    subtitle = (
        f"{_e(result.task)} on {_data_line(result)} · {len(result.ranking)} losses × {n_seeds} seeds · "
        f"model {_e(result.settings.get('model', ''))} · ranked by {_e(metric_title(result.primary_metric))}"
    )
    reuse = (
        f"{result.new_runs} runs trained, {result.reused_runs} finished runs reused from the store"
        if result.reused_runs else f"{result.new_runs} runs trained"
    )
    figure_html = "".join(
        f"<figure id='{figure_id}'><img alt='{_e(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
        for figure_id, caption, data in (report_figures(result) if figures is None else figures)
    )
    warnings = sorted({*result.warnings, *(w for run in result.runs for w in run.warnings)})
    warnings_block = (
        "<h2>Warnings</h2><ul class='warnings'>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"
        if warnings else ""
    )
    versions_text = " · ".join(f"{_e(k)} {_e(v)}" for k, v in versions.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>losskit compare: {_e(", ".join(result.ranking))}</title>
<style>{_CSS}</style></head>
<body><main>
<h1>Loss comparison</h1>
<p class="subtitle">{subtitle}</p>
<section id="verdict" class="verdict{'' if significant else ' noise'}">
<strong>{_e(result.winner)}</strong> — {_e(verdict(result))}
<div class="badges">{_e(reuse)} · {_e(test_rows_sentence(result))}</div>
</section>
<h2>Ranking</h2>
{_metrics_table(result)}
{_sweep_block(result)}
{_tuning_block(result)}
<h2>Figures</h2>
{figure_html}
{warnings_block}
<h2>Settings</h2>
{_settings_block(result)}
<p>Reproduce with:</p>
<pre id="command">{_e(command)}</pre>
<h2>Runs</h2>
<details><summary>{len(result.runs)} runs (per seed)</summary>{_runs_table(result)}</details>
<footer>Generated by losskit · {versions_text}</footer>
</main></body></html>
"""


__all__ = [
    "write_report",
    "json_safe",
    "render_html",
    "verdict",
    "command_line",
    "library_versions",
    "metric_names",
    "metric_title",
    "metric_direction",
    "format_value",
    "summary_by_loss",
    "run_rows",
    "reliability_curve",
    "loss_shape",
    "report_figures",
]
