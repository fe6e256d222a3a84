"""``compare``: the sweep over losses and seeds, its execution backends, and its summary.

The sweep is a list of :class:`RunConfig`; runs already in the store are read back, the rest
are executed in-process (``jobs=1``), in joblib worker processes (``jobs>1``) or as Ray tasks
(``backend="ray"``). Results stream back in completion order and are written to the store one
by one, so an interrupted sweep loses only the runs in flight.
"""

from __future__ import annotations

import ast
import math
import os
import sys
import warnings
from typing import Any, Iterator, Mapping, Sequence

from . import metrics as M
from ._types import CompareResult, LossSpec, RunConfig, RunResult
from .data import Dataset, check_perturbations, load_dataset, load_table
from .models import MODELS, NONNEGATIVE_LABELS, head_for
from .store import STORE_FILENAME, RunStore
from .train import DEFAULT_LEARNING_RATE, run_one

BACKENDS = ("local", "ray")
DEFAULT_DATASET = "diabetes"
RAY_MISSING = "backend='ray' needs Ray: pip install 'losskit[ray]'"


# ------------------------------------------------------------------------------- losses


def parse_param(text: str) -> tuple[str, str, Any]:
    """Parse ``"loss.param=value"`` into ``(canonical loss name, param, validated value)``.

    The loss may be an alias; the value is a Python literal (``0.5``, ``[1, 2]``, ``None``).

    >>> parse_param("huber_loss.delta=0.5")
    ('huber', 'delta', 0.5)
    """
    import losskit as lk

    head, sep, raw = text.partition("=")
    loss_name, dot, param = head.strip().rpartition(".")
    if not sep or not dot or not loss_name or not param or not raw.strip():
        raise ValueError(f"param {text!r} must look like LOSS.PARAM=VALUE, e.g. huber.delta=0.5")
    loss = lk.get(loss_name)
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        raise ValueError(f"param {text!r}: {raw.strip()!r} is not a number or literal; e.g. {loss.name}.{param}=0.5") from None
    return loss.name, param, _validated(loss, param, value)


def _validated(loss: Any, param: str, value: Any) -> Any:
    known = {p.name: p for p in loss.params}
    if param not in known:
        accepted = ", ".join(known) if known else "no parameters"
        raise ValueError(f"{loss.name} has no parameter {param!r}; it accepts {accepted}")
    spec = known[param]
    if spec.is_array and isinstance(value, (list, tuple)):
        return tuple(value)  # hashable and JSON-friendly; checked against the data when training
    try:
        return spec.validate(f"{loss.name}.{param}", value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def resolve_losses(
    losses: str | Sequence[str], params: Sequence[str] | Mapping[str, Mapping[str, Any]] | None
) -> list[LossSpec]:
    """The compared losses as :class:`LossSpec` (canonical names, validated parameters)."""
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
    return [LossSpec(n, tuple(sorted(by_loss[n].items()))) for n in canonical]


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
                yield loss.name, param, _validated(loss, param, value)
        return
    for text in params:
        yield parse_param(text)


# ------------------------------------------------------------------------------- compare


def compare(
    *,
    dataset: str | None = None,
    csv: str | os.PathLike | None = None,
    target: str | None = None,
    task: str = "auto",
    losses: str | Sequence[str] = ("mse", "mae", "huber"),
    params: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    model: str = "linear",
    epochs: int = 100,
    seeds: int | Sequence[int] = 3,
    outliers: float = 0.0,
    label_noise: float = 0.0,
    imbalance: float | None = None,
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
) -> CompareResult:
    """Train the same model with each loss over several seeds and compare them on clean test data.

    Every (loss, seed) pair is one run: same data split, same initialisation and same
    minibatches for every loss at a given seed, so the losses are compared paired by seed.
    Finished runs are stored in ``<out>/runs.sqlite`` as they complete; calling again with the
    same settings reads them back instead of training (``result.reused_runs``). With
    ``report=True`` and ``out`` set, the HTML report and results file are written to ``out``.

    ``dataset`` is a built-in name (:data:`~losskit.lab.DATASETS`); ``csv`` a CSV or Parquet
    file with ``target`` the column to predict. ``params`` sets loss parameters as
    ``["huber.delta=0.5"]`` or ``{"huber": {"delta": 0.5}}``. ``seeds`` is a count (seeds 0 to
    N-1) or the seeds themselves. ``metric`` overrides the ranking metric (rmse for regression,
    macro_f1 for classification). ``jobs`` runs that many runs at once (``-1``: all cores).

    >>> result = compare(dataset="diabetes", losses="mse,mae", seeds=2, epochs=5, out=None, progress=False)
    >>> result.task, len(result.runs), result.primary_metric
    ('regression', 4, 'rmse')
    """
    data = _load(dataset, csv, target, task)
    check_perturbations(data.task, outliers, label_noise, imbalance)
    _check_training_settings(model, epochs, batch_size, patience, learning_rate, jobs, backend, device)
    seed_list = _seed_list(seeds)
    specs = resolve_losses(losses, params)
    notes = _check_pairings(specs, data)
    primary = _primary_metric(metric, data.task)
    lr = float(learning_rate) if learning_rate is not None else DEFAULT_LEARNING_RATE[model]

    configs = [
        RunConfig(
            dataset=data.name, data_fingerprint=data.fingerprint, target=data.target,
            task=data.task, loss=spec, model=model, seed=seed, epochs=int(epochs), batch_size=int(batch_size),
            learning_rate=lr, patience=int(patience), outliers=float(outliers), label_noise=float(label_noise),
            imbalance=None if imbalance is None else float(imbalance), device=device,
        )
        for spec in specs
        for seed in seed_list
    ]
    out_dir = None if out is None else os.fspath(out)
    store = RunStore(None if out_dir is None else os.path.join(out_dir, STORE_FILENAME))
    try:
        runs, reused = _execute_sweep(configs, data, store, jobs=jobs, backend=backend, ray_address=ray_address, progress=progress)
    finally:
        store.close()

    labels = [spec.label for spec in specs]
    summary = M.summarize(runs, labels, data.task)
    ranking = M.rank(summary, primary)
    significance = (
        M.paired_comparison(runs, ranking[0], ranking[1], primary) if len(ranking) > 1 else M.no_comparison(ranking, primary)
    )
    settings = {
        "dataset": dataset if csv is None else None, "csv": None if csv is None else os.fspath(csv), "target": target,
        "task": task, "losses": labels, "params": {s.label: s.param_dict for s in specs}, "model": model,
        "epochs": epochs, "seeds": seed_list, "outliers": outliers, "label_noise": label_noise, "imbalance": imbalance,
        "jobs": jobs, "backend": backend, "device": device, "out": out_dir, "batch_size": batch_size,
        "learning_rate": lr, "patience": patience, "metric": primary, "data": data.describe(),
    }
    if dataset is None and csv is None:
        settings["dataset"] = DEFAULT_DATASET
    result = CompareResult(
        task=data.task, primary_metric=primary, settings=settings, runs=runs, summary=summary, ranking=ranking,
        significance=significance, reused_runs=reused, new_runs=len(runs) - reused, out_dir=out_dir, warnings=notes,
    )
    if report and out_dir is not None:
        from .report import write_report

        write_report(result, out_dir)
    return result


def _load(dataset: str | None, csv: str | os.PathLike | None, target: str | None, task: str) -> Dataset:
    if dataset is not None and csv is not None:
        raise ValueError("pass either dataset= (a built-in name) or csv= (a file), not both")
    if csv is not None:
        return load_table(csv, target, task)
    data = load_dataset(dataset or DEFAULT_DATASET)
    if target is not None:
        raise ValueError(f"target= applies to csv= files; the built-in dataset {data.name!r} has its own target")
    if task not in ("auto", data.task):
        raise ValueError(f"the built-in dataset {data.name!r} is a {data.task} task; got task={task!r} (use task='auto')")
    return data


def _check_training_settings(
    model: str, epochs: int, batch_size: int, patience: int, learning_rate: float | None, jobs: int, backend: str, device: str
) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate must be a positive number or None (model default); got {learning_rate!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores); got {jobs!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ImportError(RAY_MISSING)
    if device != "cpu":
        import torch

        if not device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {device!r}")
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but PyTorch sees no CUDA GPU here; use device='cpu'")


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
        raise ValueError(f"metric must be one of {', '.join(names)} for a {task} task; got {metric!r}")
    return metric


def _check_pairings(specs: Sequence[LossSpec], data: Dataset) -> list[str]:
    """Reject impossible loss/task pairings up front; warn (once per loss) about poor ones."""
    import losskit as lk

    notes = []
    for spec in specs:
        loss = lk.get(spec.name)
        _, loss_notes = head_for(loss, data.task, data.n_classes)
        if data.task == "regression" and loss.label_format in NONNEGATIVE_LABELS and (data.y < 0).any():
            row = int((data.y < 0).argmax())
            raise ValueError(
                f"{loss.name} needs non-negative targets ({loss.label_format}) but target {data.target!r} of "
                f"{data.name} is {data.y[row]:g} at row {row + 1}; shift the target or use another loss"
            )
        for note in loss_notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        notes.extend(loss_notes)
    return notes


# ------------------------------------------------------------------------------- execution


def _execute_sweep(
    configs: Sequence[RunConfig], data: Dataset, store: RunStore, *, jobs: int, backend: str,
    ray_address: str | None, progress: bool,
) -> tuple[list[RunResult], int]:
    """Results for ``configs`` in their order: stored ones read back, the rest run and stored."""
    keys = [c.key() for c in configs]
    finished = store.get_many(keys)
    todo = [c for c, k in zip(configs, keys) if k not in finished]
    with _progress_bar(len(configs), len(configs) - len(todo), enabled=progress) as advance:
        for result in _run_all(todo, data, jobs=jobs, backend=backend, ray_address=ray_address):
            store.put(result)
            finished[result.key] = result
            advance(result)
    return [finished[k] for k in keys], len(configs) - len(todo)


def _run_all(todo: Sequence[RunConfig], data: Dataset, *, jobs: int, backend: str, ray_address: str | None) -> Iterator[RunResult]:
    if not todo:
        return iter(())
    if backend == "ray":
        return _run_on_ray(todo, data, jobs=jobs, address=ray_address)
    if jobs == 1:
        return (run_one(config, data) for config in todo)
    from joblib import Parallel, delayed

    # Unordered: each result reaches the store as soon as its run ends, not after slower ones.
    return Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(run_one)(c, data) for c in todo)


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
