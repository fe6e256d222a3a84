"""``compare``: the sweep over losses and seeds, its execution backends, and its summary.

The sweep is a list of :class:`RunConfig`; runs already in the store are read back, the rest
are executed in-process (``jobs=1``), in joblib worker processes (``jobs>1``) or as Ray tasks
(``backend="ray"``). Results stream back in completion order and are written to the store one
by one, so an interrupted sweep loses only the runs in flight.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from losskit import ArgumentError
from losskit._errors import did_you_mean

from . import metrics as M
from ._types import HIGHER_IS_BETTER, CompareResult, LossSpec, RunConfig, RunResult
from .data import Dataset, check_perturbations, literal, load_dataset, load_table, select_features
from .models import MODELS, NONNEGATIVE_LABELS, head_for
from .store import RunStore
from .train import DEFAULT_LEARNING_RATE, run_one

BACKENDS = ("local", "ray")
DEFAULT_DATASET = "diabetes"
# The losses compared when none are named: the usual baseline and two alternatives per task.
DEFAULT_LOSSES = {
    "regression": ("mean_squared_error", "mean_absolute_error", "huber"),
    "binary": ("sigmoid_cross_entropy", "hinge", "sigmoid_focal"),
    "multiclass": ("sparse_softmax_cross_entropy", "sparse_softmax_focal", "sparse_poly1_cross_entropy"),
}
RAY_MISSING = "backend='ray' needs Ray: pip install 'losskit[ray]'"


# ------------------------------------------------------------------------------- losses


class Grid(tuple):
    """Values of one loss parameter to tune over (``--param huber.delta=0.1,0.5,1``), in order."""

    def __repr__(self) -> str:
        return f"Grid({', '.join(map(repr, self))})"


# Built-in grids for ``--param LOSS.PARAM=auto``, in the lab's units: regression targets are
# centred and divided by a robust spread (about 1 for the bulk of the data), so a threshold such
# as huber's delta is tried from a tenth of the spread to twice it.
AUTO_GRIDS: dict[tuple[str, str], tuple[Any, ...]] = {
    ("huber", "delta"): (0.1, 0.25, 0.5, 1.0, 2.0),
    ("pseudo_huber", "delta"): (0.1, 0.25, 0.5, 1.0, 2.0),
    ("smooth_l1", "beta"): (0.1, 0.25, 0.5, 1.0, 2.0),
    ("epsilon_insensitive", "epsilon"): (0.0, 0.05, 0.1, 0.25, 0.5),
    ("quantile", "q"): (0.1, 0.25, 0.5, 0.75, 0.9),
    ("sigmoid_focal", "gamma"): (0.0, 0.5, 1.0, 2.0, 5.0),
    ("softmax_focal", "gamma"): (0.0, 0.5, 1.0, 2.0, 5.0),
    ("sparse_softmax_focal", "gamma"): (0.0, 0.5, 1.0, 2.0, 5.0),
    ("poly1_cross_entropy", "epsilon"): (-1.0, 0.0, 1.0, 2.0),
    ("sparse_poly1_cross_entropy", "epsilon"): (-1.0, 0.0, 1.0, 2.0),
    ("tweedie_deviance", "power"): (1.1, 1.3, 1.5, 1.7, 1.9),
}


def auto_grid(loss: Any, param: str) -> Grid:
    """The built-in grid of ``loss.param``: :data:`AUTO_GRIDS`, else one made from the default.

    A positive default ``d`` gives ``d/10, d/3, d, 3d, 10d``, a default in (0, 1) a spread over
    (0, 1), a boolean both values; values the parameter rejects are dropped.

    >>> import losskit as lk
    >>> auto_grid(lk.huber, "delta")
    Grid(0.1, 0.25, 0.5, 1.0, 2.0)
    """
    known = {p.name: p for p in loss.params}
    if param not in known:
        accepted = ", ".join(known) if known else "no parameters"
        raise ValueError(f"{loss.name} has no parameter {param!r}; {did_you_mean(param, known)}it accepts {accepted}")
    if (loss.name, param) in AUTO_GRIDS:
        candidates: tuple[Any, ...] = AUTO_GRIDS[(loss.name, param)]
    else:
        default = known[param].default
        if isinstance(default, bool):
            candidates = (False, True)
        elif isinstance(default, (int, float)) and not known[param].is_array and default is not None and default > 0:
            if 0 < default < 1 and isinstance(default, float):
                candidates = (0.1, 0.25, 0.5, 0.75, 0.9) if default != 0.5 else (0.1, 0.25, 0.5, 0.75, 0.9)
            else:
                factors = (0.1, 1 / 3, 1.0, 3.0, 10.0)
                candidates = tuple(
                    max(1, round(default * f)) if isinstance(default, int) else float(f"{default * f:.3g}") for f in factors
                )
        else:
            raise ValueError(
                f"{loss.name}.{param} has no built-in grid (default {default!r}); list the values to try, "
                f"e.g. --param {loss.name}.{param}=VALUE1,VALUE2"
            )
    valid = []
    for value in dict.fromkeys(candidates):
        try:
            valid.append(_validated(loss, param, value))
        except ValueError:
            continue
    return Grid(valid)


def parse_param(text: str) -> tuple[str, str, Any]:
    """Parse ``"loss.param=value"`` into ``(canonical loss name, param, validated value)``.

    The loss may be an alias; the value is a Python literal (``0.5``, ``[1, 2]``, ``None``).
    Several comma-separated values, or ``auto`` (:func:`auto_grid`), give a :class:`Grid` of
    values to tune the parameter over on the validation split.

    >>> parse_param("huber_loss.delta=0.5")
    ('huber', 'delta', 0.5)
    >>> parse_param("huber.delta=0.5,1")
    ('huber', 'delta', Grid(0.5, 1.0))
    """
    import losskit as lk

    head, sep, raw = text.partition("=")
    loss_name, dot, param = head.strip().rpartition(".")
    if not sep or not dot or not loss_name or not param or not raw.strip():
        raise ValueError(f"param {text!r} must look like LOSS.PARAM=VALUE, e.g. huber.delta=0.5")
    loss = lk.get(loss_name)
    if raw.strip().lower() == "auto":
        return loss.name, param, auto_grid(loss, param)
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        raise ValueError(f"param {text!r}: {raw.strip()!r} is not a number or literal; e.g. {loss.name}.{param}=0.5") from None
    return loss.name, param, _value_or_grid(loss, param, value)


def _value_or_grid(loss: Any, param: str, value: Any) -> Any:
    """A single validated value, or a Grid of them when ``value`` lists several."""
    known = {p.name: p for p in loss.params}
    is_array = param in known and known[param].is_array
    if isinstance(value, Grid) or (isinstance(value, (list, tuple)) and (
        not is_array or (value and all(isinstance(v, (list, tuple)) for v in value))
    )):
        values = [_validated(loss, param, v) for v in value]
        if not values:
            raise ValueError(f"{loss.name}.{param}: the list of values to tune over is empty")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"{loss.name}.{param}: the values to tune over repeat a value ({list(value)!r})")
        return Grid(values) if len(values) > 1 else values[0]
    return _validated(loss, param, value)


def _validated(loss: Any, param: str, value: Any) -> Any:
    known = {p.name: p for p in loss.params}
    if param not in known:
        accepted = ", ".join(known) if known else "no parameters"
        raise ValueError(f"{loss.name} has no parameter {param!r}; {did_you_mean(param, known)}it accepts {accepted}")
    spec = known[param]
    if spec.is_array and isinstance(value, (list, tuple)):
        return tuple(value)  # hashable and JSON-friendly; checked against the data when training
    try:
        return spec.validate(f"{loss.name}.{param}", value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class Entry:
    """One compared loss: its fixed parameters and, when tuned, the grid of the others.

    Without a grid it is one :class:`LossSpec`; with one, a spec per grid point (the candidates),
    of which the validation split chooses one per seed (and sweep level).
    """

    name: str
    fixed: tuple[tuple[str, Any], ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def tuned(self) -> bool:
        return bool(self.grid)

    @property
    def label(self) -> str:
        if not self.grid:
            return LossSpec(self.name, self.fixed).label
        parts = {k: repr(v) for k, v in self.fixed} | {k: "tuned" for k, _ in self.grid}
        return f"{self.name}({', '.join(f'{k}={parts[k]}' for k in sorted(parts))})"

    def specs(self) -> list[LossSpec]:
        if not self.grid:
            return [LossSpec(self.name, self.fixed)]
        names = [k for k, _ in self.grid]
        return [
            LossSpec(self.name, tuple(sorted((*self.fixed, *zip(names, values)))))
            for values in itertools.product(*(v for _, v in self.grid))
        ]


def resolve_entries(
    losses: str | Sequence[str], params: Sequence[str] | Mapping[str, Mapping[str, Any]] | None
) -> list[Entry]:
    """The compared losses as :class:`Entry` (canonical names, validated parameters and grids)."""
    import losskit as lk

    names = [n.strip() for n in losses.split(",")] if isinstance(losses, str) else [str(n).strip() for n in losses]
    names = [n for n in names if n]
    if not names:
        raise ValueError("losses must name at least one loss, e.g. losses=('mse', 'mae', 'huber')")
    canonical = [lk.get(n).name for n in names]
    duplicates = sorted({n for n in canonical if canonical.count(n) > 1})
    if duplicates:
        raise ValueError(f"losses names {duplicates[0]!r} twice (aliases count as the same loss)")
    by_loss: dict[str, dict[str, Any]] = {n: {} for n in canonical}
    for loss_name, param, value in _param_triples(params):
        if loss_name not in by_loss:
            raise ValueError(f"a parameter is set for {loss_name}, which is not among the compared losses ({', '.join(canonical)})")
        by_loss[loss_name][param] = value
    entries = []
    for name in canonical:
        fixed = tuple(sorted((k, v) for k, v in by_loss[name].items() if not isinstance(v, Grid)))
        grid = tuple(sorted((k, tuple(v)) for k, v in by_loss[name].items() if isinstance(v, Grid)))
        entries.append(Entry(name, fixed, grid))
    return entries


def resolve_losses(
    losses: str | Sequence[str], params: Sequence[str] | Mapping[str, Mapping[str, Any]] | None
) -> list[LossSpec]:
    """The compared losses as :class:`LossSpec` (canonical names, validated parameters); every
    candidate of a tuned loss is one spec."""
    return [spec for entry in resolve_entries(losses, params) for spec in entry.specs()]


def _param_triples(params: Sequence[str] | Mapping[str, Mapping[str, Any]] | None) -> Iterator[tuple[str, str, Any]]:
    import losskit as lk

    if params is None:
        return
    if isinstance(params, str):
        params = [params]
    if isinstance(params, Mapping):
        for loss_name, values in params.items():
            loss = lk.get(loss_name)
            for param, value in values.items():
                if isinstance(value, str) and value.strip().lower() == "auto":
                    yield loss.name, param, auto_grid(loss, param)
                else:
                    yield loss.name, param, _value_or_grid(loss, param, value)
        return
    for text in params:
        yield parse_param(text)


# ------------------------------------------------------------------------------- compare


SWEEP_SETTINGS = {"outliers": "outliers", "label_noise": "label_noise", "label-noise": "label_noise", "imbalance": "imbalance"}


def parse_sweep(sweep: str | tuple[str, Sequence[Any]] | Mapping[str, Sequence[Any]] | None) -> tuple[str, list[Any]] | None:
    """``"outliers=0,0.1,0.2"`` (or ``("outliers", [0, 0.1])``, ``{"outliers": [...]}``) as
    ``(setting, levels)``; ``imbalance`` levels may be ``none`` (no subsampling).

    >>> parse_sweep("label-noise=0,0.1")
    ('label_noise', [0.0, 0.1])
    """
    if sweep is None:
        return None
    if isinstance(sweep, str):
        name, sep, raw = sweep.partition("=")
        if not sep or not raw.strip():
            raise ValueError(f"sweep {sweep!r} must look like SETTING=LEVEL,LEVEL,..., e.g. outliers=0,0.1,0.2,0.3")
        words: Sequence[Any] = [w.strip() for w in raw.split(",") if w.strip()]
    elif isinstance(sweep, Mapping):
        if len(sweep) != 1:
            raise ValueError(f"sweep sweeps one setting; got {list(sweep)}")
        name, words = next(iter(sweep.items()))
    else:
        name, words = sweep
    key = str(name).strip().lower()
    if key not in SWEEP_SETTINGS:
        raise ArgumentError(f"{{sweep}} setting {literal(repr(name))} is unknown; "
                            f"{literal(did_you_mean(key, ('outliers', 'label-noise', 'imbalance')))}"
                            "the sweepable settings are outliers, label-noise and imbalance")
    setting = SWEEP_SETTINGS[key]
    levels: list[Any] = []
    for word in words:
        if setting == "imbalance" and (word is None or str(word).lower() == "none"):
            levels.append(None)
            continue
        try:
            levels.append(float(word))
        except (TypeError, ValueError):
            raise ValueError(f"sweep {setting}: {word!r} is not a number") from None
    if len(levels) < 2:
        raise ValueError(f"sweep {setting} needs at least two levels; got {levels}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"sweep {setting} repeats a level: {levels}")
    return setting, levels


def compare(
    *,
    dataset: str | None = None,
    csv: str | os.PathLike | None = None,
    target: str | None = None,
    task: str = "auto",
    losses: str | Sequence[str] | None = None,
    params: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    model: str = "linear",
    epochs: int = 100,
    seeds: int | Sequence[int] = 3,
    outliers: float = 0.0,
    label_noise: float = 0.0,
    imbalance: float | None = None,
    sweep: str | tuple[str, Sequence[Any]] | Mapping[str, Sequence[Any]] | None = None,
    baseline: str | None = None,
    jobs: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    device: str = "cpu",
    out: str | os.PathLike | None = "losskit-report",
    batch_size: int = 64,
    learning_rate: float | None = None,
    patience: int = 10,
    progress: bool = True,
    report: bool = True,
    metric: str | None = None,
    mlflow: str | bool | None = None,
    features: str | Sequence[str] | None = None,
    drop: str | Sequence[str] | None = None,
) -> CompareResult:
    """Train the same model with each loss over several seeds and compare them on clean test data.

    Every (loss, seed) pair is one run: same data split, same initialisation and same
    minibatches for every loss at a given seed, so the losses are compared paired by seed.
    Finished runs are stored in ``<out>/runs.sqlite`` as they complete; calling again with the
    same settings reads them back instead of training (``result.reused_runs``). With
    ``report=True`` and ``out`` set, the HTML report and results file are written to ``out``.

    ``dataset`` is a built-in name (:data:`~losskit.lab.DATASETS`); ``csv`` a CSV or Parquet
    file with ``target`` the column to predict. ``losses`` defaults by task
    (:data:`DEFAULT_LOSSES`: mse, mae and huber for regression; sigmoid cross-entropy, hinge
    and sigmoid focal for binary; sparse softmax cross-entropy, focal and poly-1 for
    multiclass). ``params`` sets loss parameters as
    ``["huber.delta=0.5"]`` or ``{"huber": {"delta": 0.5}}``; several values
    (``"huber.delta=0.1,0.5,1"``, ``{"huber": {"delta": [0.1, 0.5]}}``) or ``auto`` tune the
    parameter: every value is trained, and per seed the one with the best primary metric on the
    clean validation split (carved from the data before the test split, never the test split)
    is kept, so the loss is ranked at its tuned value (``result.tuning``). ``seeds`` is a count
    (seeds 0 to N-1) or the seeds themselves. ``metric`` overrides the ranking metric (rmse for
    regression, macro_f1 for classification). ``jobs`` runs that many runs at once (``-1``: all
    cores). ``model`` is ``linear``, ``mlp`` or ``gbdt`` (LightGBM with the loss as its
    custom objective, see :mod:`losskit.boosting`).

    ``sweep="outliers=0,0.1,0.2"`` (or ``label_noise``, ``imbalance``) repeats the comparison at
    every level: ``result.sweep`` holds the robustness curve of each loss (the clean test
    metric per level, mean and std over seeds), a summary per level and, for each loss, the
    lowest level from which it beats ``baseline`` (default mse, or cross-entropy, when
    compared; else the first loss) significantly (paired t-test over seeds at that level), and
    the higher levels where it is not better on the mean (its breakdown). The top-level summary
    and ranking then pool every level.
    ``mlflow`` (a tracking URI, or True for ``./mlruns``) logs every run to MLflow.
    ``features`` keeps only the named feature columns, ``drop`` leaves the named ones out (a
    list, or one comma-separated string; the file's column names, before any encoding).

    >>> result = compare(dataset="diabetes", losses="mse,mae", seeds=2, epochs=5, out=None, progress=False)
    >>> result.task, len(result.runs), result.primary_metric
    ('regression', 4, 'rmse')
    """
    features, drop = _column_names(features), _column_names(drop)
    data = _load(dataset, csv, target, task, features, drop)
    swept = parse_sweep(sweep)
    levels: list[Any] = [None] if swept is None else list(swept[1])
    setting = None if swept is None else swept[0]
    base = {"outliers": float(outliers), "label_noise": float(label_noise), "imbalance": None if imbalance is None else float(imbalance)}
    for level in levels:
        values = dict(base) if setting is None else {**base, setting: level}
        check_perturbations(data.task, values["outliers"], values["label_noise"], values["imbalance"])
    _check_training_settings(model, epochs, batch_size, patience, learning_rate, jobs, backend, device)
    if mlflow:
        from .tracking import require_mlflow

        require_mlflow()
    seed_list = _seed_list(seeds)
    entries = resolve_entries(DEFAULT_LOSSES[data.task] if losses is None else losses, params)
    notes = _check_pairings([e.specs()[0] for e in entries], data, model)
    primary = _primary_metric(metric, data.task)
    lr = float(learning_rate) if learning_rate is not None else DEFAULT_LEARNING_RATE[model]
    labels = [entry.label for entry in entries]
    baseline_label = _baseline(baseline, entries, data.task) if swept is not None else None

    def config_for(spec: LossSpec, seed: int, level: Any) -> RunConfig:
        values = dict(base) if setting is None else {**base, setting: level}
        return RunConfig(
            dataset=data.name, data_fingerprint=data.fingerprint, target=data.target,
            task=data.task, loss=spec, model=model, seed=seed, epochs=int(epochs), batch_size=int(batch_size),
            learning_rate=lr, patience=int(patience), outliers=values["outliers"], label_noise=values["label_noise"],
            imbalance=values["imbalance"], device=device,
        )

    # (level, entry, seed) -> the configs of its candidates (one for an untuned loss).
    cells = {
        (li, ei, seed): [config_for(spec, seed, level) for spec in entry.specs()]
        for li, level in enumerate(levels)
        for ei, entry in enumerate(entries)
        for seed in seed_list
    }
    configs = list(dict.fromkeys(c for group in cells.values() for c in group))
    out_dir = None if out is None else os.fspath(out)
    # An output folder that cannot be written is refused here, before anything is trained.
    store = RunStore(None) if out_dir is None else RunStore.in_folder(out_dir)
    try:
        all_runs, reused = _execute_sweep(configs, data, store, jobs=jobs, backend=backend, ray_address=ray_address, progress=progress)
    finally:
        store.close()
    by_key = {run.key: run for run in all_runs}

    # Choose each tuned loss's candidate per seed and level on the validation split only.
    chosen: dict[tuple[int, int, int], RunResult] = {}
    for (li, ei, seed), group in cells.items():
        candidates = [by_key[c.key()] for c in group]
        run = candidates[0] if len(candidates) == 1 else _best_on_validation(candidates, primary)
        chosen[(li, ei, seed)] = dataclasses.replace(run, label=entries[ei].label) if entries[ei].tuned else run
    runs = list(chosen.values())

    for note in _constant_predictions(runs, labels, data):
        warnings.warn(note, UserWarning, stacklevel=2)
        notes.append(note)
    summary = M.summarize(runs, labels, data.task, primary)
    ranking = M.rank(summary, primary)
    significance = (
        M.paired_comparison(runs, ranking[0], ranking[1], primary) if len(ranking) > 1 else M.no_comparison(ranking, primary)
    )
    sweep_info = None
    if swept is not None:
        sweep_info = _sweep_summary(setting, levels, runs, labels, data.task, primary, baseline_label)
    tuning = _tuning_summary(entries, levels, setting, seed_list, cells, by_key, chosen, primary)
    settings = {
        "dataset": dataset if csv is None else None, "csv": None if csv is None else os.fspath(csv), "target": target,
        "task": task, "losses": labels, "params": {e.label: _entry_params(e) for e in entries}, "model": model,
        "epochs": epochs, "seeds": seed_list, "outliers": outliers, "label_noise": label_noise, "imbalance": imbalance,
        "sweep": None if swept is None else {"setting": setting, "levels": levels}, "baseline": baseline_label,
        "jobs": jobs, "backend": backend, "device": device, "out": out_dir, "batch_size": batch_size,
        "learning_rate": lr, "patience": patience, "metric": primary, "data": data.describe(),
        "loss_names": [e.name for e in entries], "features": features, "drop": drop,
    }
    if dataset is None and csv is None:
        settings["dataset"] = DEFAULT_DATASET
    result = CompareResult(
        task=data.task, primary_metric=primary, settings=settings, runs=runs, per_loss=summary, ranking=ranking,
        significance=significance, reused_runs=reused, new_runs=len(all_runs) - reused, out_dir=out_dir, warnings=notes,
        sweep=sweep_info, tuning=tuning, all_runs=all_runs,
    )
    if report and out_dir is not None:
        from .report import write_report

        write_report(result, out_dir, progress=progress)
    if mlflow:
        from .tracking import log_to_mlflow

        log_to_mlflow(result, None if mlflow is True else str(mlflow))
    return result


def _constant_predictions(runs: Sequence[RunResult], labels: Sequence[str], data: Dataset) -> list[str]:
    """A warning for each loss whose model predicts one class (or one value) on every run.

    Its metrics then describe a constant predictor, not the loss: a margin loss stuck at the
    majority class, or a regression collapsed to the mean, looks merely "worse" in the table.
    """
    import numpy as np

    notes = []
    for label in labels:
        mine = [run for run in runs if run.loss_label == label and run.test_predictions]
        if not mine:
            continue
        constant = []
        for run in mine:
            predictions = np.asarray(run.test_predictions, dtype=np.float64)
            if data.task == "regression":
                values = predictions if predictions.ndim == 1 else predictions[:, 0]  # the mean of (mean, variance)
                scale = max(float(np.nanmax(np.abs(values))), 1.0)
                constant.append(float(np.nanmax(values) - np.nanmin(values)) <= 1e-9 * scale)
            else:
                classes = predictions.argmax(axis=1) if predictions.ndim == 2 else (predictions > 0.5).astype(int)
                constant.append(np.unique(classes).size == 1)
        if not all(constant):
            continue
        seeds = "the seed" if len(mine) == 1 else f"all {len(mine)} runs"
        if data.task == "regression":
            notes.append(f"{label} predicts a constant on the test split in {seeds}: its metrics are those of a "
                         "constant predictor; check that the features vary, the learning rate and the epochs")
        else:
            first = np.asarray(mine[0].test_predictions, dtype=np.float64)
            index = int(first.argmax(axis=1)[0]) if first.ndim == 2 else int(first[0] > 0.5)
            name = data.class_names[index] if index < len(data.class_names) else str(index)
            notes.append(f"{label} predicts a single class ({name!r}) on the test split in {seeds}: its metrics are "
                         "those of a constant classifier; check that the features vary, the learning rate, the epochs "
                         "or use class weights")
    return notes


def _entry_params(entry: Entry) -> dict[str, Any]:
    params: dict[str, Any] = dict(entry.fixed)
    params.update({name: list(values) for name, values in entry.grid})
    return params


def _best_on_validation(candidates: Sequence[RunResult], metric: str) -> RunResult:
    """The candidate with the best clean validation ``metric`` (NaN worst; ties: the first)."""
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0

    def order(index: int) -> tuple[bool, float, int]:
        value = candidates[index].val_metrics.get(metric, math.nan)
        return (not math.isfinite(value), sign * value if math.isfinite(value) else 0.0, index)

    return candidates[min(range(len(candidates)), key=order)]


def _baseline(baseline: str | None, entries: Sequence[Entry], task: str) -> str:
    """The label of the sweep's reference loss: ``baseline``, else mse / cross-entropy, else the first."""
    import losskit as lk

    labels = {entry.name: entry.label for entry in entries}
    if baseline is not None:
        name = lk.get(baseline).name
        if name not in labels:
            raise ValueError(f"baseline {baseline!r} is not among the compared losses ({', '.join(labels.values())})")
        return labels[name]
    usual = ("mean_squared_error",) if task == "regression" else (
        "sigmoid_cross_entropy", "binary_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
        "categorical_cross_entropy", "sparse_categorical_cross_entropy",
    )
    for name in usual:
        if name in labels:
            return labels[name]
    return entries[0].label


def _sweep_summary(
    setting: str, levels: Sequence[Any], runs: Sequence[RunResult], labels: Sequence[str], task: str,
    primary: str, baseline: str,
) -> dict[str, Any]:
    """Per level: summary, ranking, and each loss against the baseline; the curves; the from-levels."""
    per_level = []
    for level in levels:
        mine = [r for r in runs if getattr(r.config, setting) == level]
        summary = M.summarize(mine, labels, task, primary)
        ranking = M.rank(summary, primary)
        against = {
            label: M.paired_comparison(mine, label, baseline, primary) for label in labels if label != baseline
        }
        per_level.append({"level": level, "summary": summary, "ranking": ranking, "against_baseline": against})
    curves = {
        label: {
            "mean": [next(row for row in lv["summary"] if row["loss"] == label)[f"{primary}_mean"] for lv in per_level],
            "std": [next(row for row in lv["summary"] if row["loss"] == label)[f"{primary}_std"] for lv in per_level],
        }
        for label in labels
    }
    from_level = {}
    name = setting.replace("_", "-")
    for label in labels:
        if label == baseline:
            continue
        tests = [lv["against_baseline"][label] for lv in per_level]
        found = next((i for i, t in enumerate(tests) if t["significant"]), None)
        if found is None:
            from_level[label] = {
                "found": False, "level": None, "p_value": None, "not_better_above": [],
                "sentence": f"{label} does not beat {baseline} significantly at any level of the sweep",
            }
            continue
        p = tests[found]["p_value"]
        # Levels above the first significant win where the loss is not better on the mean: a
        # robust loss also has a breakdown point.
        worse = [levels[i] for i in range(found + 1, len(levels)) if not tests[i]["mean_difference"] > 0]
        sentence = (
            f"{label} beats {baseline} from {name}={_level_text(levels[found])} "
            f"(paired t-test over seeds at that level, p = {p:.2g})"
        )
        if worse:
            sentence += f", but not at {', '.join(f'{name}={_level_text(lv)}' for lv in worse)} (not better on the mean)"
        else:
            sentence += " and is better on the mean at every higher level"
        from_level[label] = {"found": True, "level": levels[found], "p_value": p, "not_better_above": worse, "sentence": sentence}
    return {
        "setting": setting, "levels": list(levels), "baseline": baseline, "metric": primary,
        "per_level": per_level, "curves": curves, "from_level": from_level,
    }


def _level_text(level: Any) -> str:
    return "none" if level is None else f"{level:g}"


def _tuning_summary(
    entries: Sequence[Entry], levels: Sequence[Any], setting: str | None, seeds: Sequence[int],
    cells: Mapping[tuple[int, int, int], Sequence[RunConfig]], by_key: Mapping[str, RunResult],
    chosen: Mapping[tuple[int, int, int], RunResult], primary: str,
) -> dict[str, Any] | None:
    """The grid, the value chosen per seed and level, and the validation curve of each tuned loss."""
    tuned = {ei: entry for ei, entry in enumerate(entries) if entry.tuned}
    if not tuned:
        return None
    higher = primary in HIGHER_IS_BETTER
    info: dict[str, Any] = {}
    for ei, entry in tuned.items():
        names = [name for name, _ in entry.grid]
        chosen_rows, curves = [], []
        for li, level in enumerate(levels):
            for seed in seeds:
                run = chosen[(li, ei, seed)]
                chosen_rows.append({
                    "level": level, "seed": seed, "params": {n: run.config.loss.param_dict[n] for n in names},
                    "validation": run.val_metrics.get(primary, math.nan), "key": run.key,
                })
            for name, values in entry.grid:
                means, stds = [], []
                for value in values:
                    # Per seed, the best validation metric among the candidates with this value
                    # (the others at their best): the curve of this parameter alone.
                    per_seed = []
                    for seed in seeds:
                        scores = [
                            by_key[c.key()].val_metrics.get(primary, math.nan)
                            for c in cells[(li, ei, seed)] if c.loss.param_dict[name] == value
                        ]
                        finite = [v for v in scores if math.isfinite(v)]
                        per_seed.append((max(finite) if higher else min(finite)) if finite else math.nan)
                    array = [v for v in per_seed if math.isfinite(v)]
                    means.append(sum(array) / len(array) if array else math.nan)
                    stds.append(float(_std(array)))
                curves.append({"level": level, "param": name, "values": list(values), "mean": means, "std": stds})
        info[entry.label] = {
            "loss": entry.name, "grid": {name: list(values) for name, values in entry.grid},
            "fixed": dict(entry.fixed), "chosen": chosen_rows, "curves": curves, "metric": primary,
            "split": "validation",
        }
    return info


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _column_names(names: str | Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    words = names.split(",") if isinstance(names, str) else [str(name) for name in names]
    return [word.strip() for word in words if word.strip()]


def _load(dataset: str | None, csv: str | os.PathLike | None, target: str | None, task: str,
          features: Sequence[str] | None = None, drop: Sequence[str] | None = None) -> Dataset:
    if dataset is not None and csv is not None:
        raise ArgumentError("pass either {dataset} (a built-in name) or {csv} (a file), not both")
    if csv is not None:
        return load_table(csv, target, task, features=features, drop=drop)
    data = select_features(load_dataset(dataset or DEFAULT_DATASET), features, drop)
    if target is not None:
        raise ArgumentError(f"{{target}} applies to {{csv}} files; the built-in dataset {literal(repr(data.name))} has its own target")
    if task not in ("auto", data.task):
        raise ArgumentError(f"the built-in dataset {literal(repr(data.name))} is a {data.task} task; got {{task:{literal(task)}}} (use {{task:auto}})")
    return data


def _check_training_settings(
    model: str, epochs: int, batch_size: int, patience: int, learning_rate: float | None, jobs: int, backend: str, device: str
) -> None:
    if model not in MODELS:
        raise _unknown_choice("model", model, MODELS)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate must be a positive number or None (model default); got {learning_rate!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores); got {jobs!r}")
    if backend not in BACKENDS:
        raise _unknown_choice("backend", backend, BACKENDS)
    if backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ImportError(RAY_MISSING)
    if device != "cpu":
        import torch

        if not device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {device!r}")
        if not torch.cuda.is_available():
            raise ArgumentError(f"{{device:{literal(device)}}} but PyTorch sees no CUDA GPU here; use {{device:cpu}}")


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise ValueError(f"seeds must be a count or a list of integers; got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1; got {seeds}")
        return list(range(seeds))
    seed_list = [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be a non-empty list of distinct integers; got {list(seeds)!r}")
    return seed_list


def _primary_metric(metric: str | None, task: str) -> str:
    if metric is None:
        return M.PRIMARY_METRIC[task]
    names = M.metric_names(task)
    if metric not in names:
        raise _unknown_choice("metric", metric, names, what=f"a {task} metric")
    return metric


def _unknown_choice(argument: str, value: Any, choices: Sequence[str], what: str | None = None) -> ArgumentError:
    """``--model lienar is not a model; did you mean 'linear'? choose one of linear, mlp, gbdt``."""
    return ArgumentError(
        f"{{{argument}:{literal(value)}}} is not {literal(what or f'a {argument}')}; "
        f"{literal(did_you_mean(value, choices))}choose one of {literal(', '.join(choices))}"
    )


def _check_pairings(specs: Sequence[LossSpec], data: Dataset, model: str = "linear") -> list[str]:
    """Reject impossible loss/task pairings up front; warn (once per loss) about poor ones."""
    import losskit as lk

    notes = []
    for spec in specs:
        loss = lk.get(spec.name)
        head, loss_notes = head_for(loss, data.task, data.n_classes)
        if model == "gbdt":
            from .gbdt import gbdt_notes

            loss_notes = loss_notes + gbdt_notes(loss, head)
        bad = (data.y <= 0) if loss.label_format == "positive" else (data.y < 0)
        if data.task == "regression" and loss.label_format in NONNEGATIVE_LABELS and bad.any():
            row = int(bad.argmax())
            kind = "positive" if loss.label_format == "positive" else "non-negative"
            raise ValueError(
                f"{loss.name} needs {kind} targets ({loss.label_format}) but target {data.target!r} of "
                f"{data.name} is {data.y[row]:g} at row {row + 1}; shift the target or use another loss"
            )
        for note in loss_notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        notes.extend(loss_notes)
    return notes


# ------------------------------------------------------------------------------- execution


# How often a sweep looks for runs that another sweep on the same store is training (seconds).
CLAIM_POLL_S = 0.5


def _execute_sweep(
    configs: Sequence[RunConfig], data: Dataset, store: RunStore, *, jobs: int, backend: str,
    ray_address: str | None, progress: bool,
) -> tuple[list[RunResult], int]:
    """Results for ``configs`` in their order, and how many were not trained here.

    Stored runs are read back; each other run is claimed in the store before it is trained, so
    that two sweeps on one store train it once: a run another live sweep has claimed is waited
    for and read back when it lands (see :meth:`RunStore.claim`).
    """
    keys = [c.key() for c in configs]
    finished = store.get_many(keys)
    todo = list({k: c for c, k in zip(configs, keys) if k not in finished}.values())
    trained = 0
    with _progress_bar(len(configs), len(configs) - len(todo), enabled=progress) as advance:
        if todo:
            executor = _executor(todo, data, jobs=jobs, backend=backend, ray_address=ray_address)
            for result, mine in _claimed_results(todo, store, executor):
                if mine:
                    store.put(result)
                    trained += 1
                finished[result.key] = result
                advance(result)
    return [finished[k] for k in keys], len(configs) - trained


def _claimed_results(todo: Sequence[RunConfig], store: RunStore, executor: Any) -> Iterator[tuple[RunResult, bool]]:
    """``(result, trained_here)`` for every config of ``todo``, in completion order.

    Runs are claimed as the executor has room for them (one per free worker), so concurrent
    sweeps share the work; when everything left is claimed elsewhere, the store is polled. The
    claims of runs not finished here are released on the way out (an error, Ctrl-C).
    """
    config_of = {config.key(): config for config in todo}
    waiting = dict.fromkeys(config_of)  # keys whose result is not in hand, in the sweep's order
    in_flight: set[str] = set()
    try:
        while waiting:
            free = executor.capacity - len(in_flight)
            if free > 0:
                for key in store.claim([k for k in waiting if k not in in_flight], free):
                    in_flight.add(key)
                    executor.submit(config_of[key])
            if in_flight:
                result = executor.next_result(CLAIM_POLL_S)
                if result is not None:
                    in_flight.discard(result.key)
                    waiting.pop(result.key, None)
                    yield result, True
            else:
                time.sleep(CLAIM_POLL_S)
            elsewhere = [k for k in waiting if k not in in_flight]
            if elsewhere:
                for key, result in store.get_many(elsewhere).items():
                    waiting.pop(key, None)
                    yield result, False
    finally:
        try:
            executor.close()
        finally:
            store.release(in_flight)


def _executor(todo: Sequence[RunConfig], data: Dataset, *, jobs: int, backend: str, ray_address: str | None) -> Any:
    """Where runs execute: in this process, in forked workers, or as a batch (Ray, joblib)."""
    if backend == "ray":
        return _BatchExecutor(lambda batch: _run_on_ray(batch, data, jobs=jobs, address=ray_address))
    if jobs == 1 or len(todo) == 1:
        return _InlineExecutor(data)
    workers = min(os.cpu_count() or 1, len(todo)) if jobs == -1 else min(jobs, len(todo))
    if _can_fork():
        return _ForkedExecutor(todo, data, workers)
    from joblib import Parallel, delayed

    # Unordered: each result reaches the store as soon as its run ends, not after slower ones.
    return _BatchExecutor(
        lambda batch: Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(run_one)(c, data) for c in batch)
    )


class _InlineExecutor:
    """Runs one at a time in this process (``jobs=1``): a submitted run is trained right away."""

    capacity = 1

    def __init__(self, data: Dataset) -> None:
        self._data = data
        self._done: list[RunResult] = []

    def submit(self, config: RunConfig) -> None:
        self._done.append(run_one(config, self._data))

    def next_result(self, timeout: float) -> RunResult | None:
        return self._done.pop(0) if self._done else None

    def close(self) -> None:
        self._done.clear()


class _BatchExecutor:
    """Runs handed to a backend that takes them all at once (Ray tasks, joblib workers)."""

    capacity = sys.maxsize  # claim every run that is free, then run them

    def __init__(self, start: Any) -> None:
        self._start = start
        self._pending: list[RunConfig] = []
        self._results: Any = None

    def submit(self, config: RunConfig) -> None:
        self._pending.append(config)

    def next_result(self, timeout: float) -> RunResult | None:
        while True:
            if self._results is None:
                if not self._pending:
                    return None
                batch, self._pending = self._pending, []
                self._results = iter(self._start(batch))
            try:
                return next(self._results)
            except StopIteration:
                self._results = None

    def close(self) -> None:
        close = getattr(self._results, "close", None)
        if close is not None:
            close()  # Ray: cancels the runs still pending


def _can_fork() -> bool:
    import multiprocessing

    # macOS can fork, but system libraries there are not fork-safe; Windows cannot.
    return "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")


_FORKED_DATA: Dataset | None = None
# prctl(2) option: the signal a process receives when the thread that created it exits.
_PR_SET_PDEATHSIG = 1


def _forked_worker_init(parent: int) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent stops the pool, workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this worker when its parent dies (``kill -9`` of the sweep), instead of spinning on.

    Linux delivers SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG); everywhere, a
    daemon thread also checks each second that the parent is still this process's parent
    (an orphan is adopted by another process).
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="losskit-parent-watch", daemon=True).start()


def _forked_run(config: RunConfig) -> RunResult:
    assert _FORKED_DATA is not None
    return run_one(config, _FORKED_DATA)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _ForkedExecutor:
    """Runs in ``workers`` forked processes: they start in milliseconds with this process's
    modules (torch included) and data already loaded, where spawned workers (joblib's) would
    each pay seconds of imports, more than a small run takes. Results stream back in completion
    order, one at a time, so the store keeps every finished run if the sweep is interrupted;
    workers end with their parent (:func:`_exit_with_parent`)."""

    def __init__(self, todo: Sequence[RunConfig], data: Dataset, workers: int) -> None:
        import multiprocessing
        import queue

        global _FORKED_DATA
        if any(config.model != "gbdt" for config in todo):
            import torch  # noqa: F401  (once, here, instead of once per worker)
        _FORKED_DATA = data
        self.capacity = workers
        self._results: queue.Queue = queue.Queue()
        self._pool = multiprocessing.get_context("fork").Pool(
            workers, initializer=_forked_worker_init, initargs=(os.getpid(),)
        )

    def submit(self, config: RunConfig) -> None:
        self._pool.apply_async(
            _forked_run, (config,), callback=self._results.put,
            error_callback=lambda error: self._results.put(_Failed(error)),
        )

    def next_result(self, timeout: float) -> RunResult | None:
        import queue

        try:
            item = self._results.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _Failed):
            raise item.error
        return item

    def close(self) -> None:
        global _FORKED_DATA
        try:
            self._pool.terminate()
            self._pool.join()
        finally:
            _FORKED_DATA = None


def _run_on_ray(todo: Sequence[RunConfig], data: Dataset, *, jobs: int, address: str | None) -> Iterator[RunResult]:
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # A quiet local instance sized by jobs (all cores for -1).
            ray.init(num_cpus=os.cpu_count() if jobs == -1 else jobs, include_dashboard=False, log_to_driver=False)
    try:
        remote_run = ray.remote(num_cpus=1)(run_one)
        data_ref = ray.put(data)
        pending = [remote_run.remote(config, data_ref) for config in todo]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in pending:  # interrupted: do not leave orphan runs on the cluster
                ray.cancel(ref, force=True)
    finally:
        if started_here:
            ray.shutdown()


class _progress_bar:
    """A rich progress bar on stderr over all runs (reused runs count as done), or nothing."""

    def __init__(self, total: int, done: int, *, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, done, enabled
        self._progress: Any = None

    def __enter__(self):
        if not self.enabled:
            return lambda result: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"), console=Console(file=sys.stderr),
        )
        self._progress.start()
        reused = f"{self.done} reused" if self.done else ""
        task = self._progress.add_task("runs", total=self.total, completed=self.done, last=reused)

        def advance(result: RunResult) -> None:
            last = f"{result.loss_label} seed {result.config.seed}"
            self._progress.update(task, advance=1, last=last)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
