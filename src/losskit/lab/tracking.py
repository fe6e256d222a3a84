"""``compare(mlflow=...)`` / ``losskit compare --mlflow [URI]``: every run logged to MLflow.

One comparison is one MLflow run (the parent: its settings as parameters, the summary as
metrics, the report, results and command as artefacts) with one nested run per training run
(loss, parameters, seed and perturbation as parameters; the clean test, validation and training
metrics; per epoch the training and validation loss, the clean validation metric, the gradient
norm and the wall time as metric histories with the epoch as step). Tuning candidates are
logged too, tagged ``losskit.chosen``. Logging the same comparison again adds nothing: the
parent is found by the command's hash and the nested runs by their run keys, so a resumed
sweep logs only what is new.

The default store is ``./mlruns`` (a file store; MLflow 3 keeps it in maintenance mode behind
``MLFLOW_ALLOW_FILE_STORE``, which is set for it here). Any tracking URI works:
``sqlite:///mlflow.db`` (needs the full ``mlflow`` package), ``http://host:5000``, ``databricks``.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from typing import Any

from ._types import CompareResult, RunResult

DEFAULT_URI = "./mlruns"
EXPERIMENT_PREFIX = "losskit compare"
MLFLOW_MISSING = "mlflow= (--mlflow) needs MLflow: pip install 'losskit[tracking]'"
_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch call
_PARAM_LENGTH = 500


def require_mlflow() -> None:
    """Fail before any training when MLflow is missing, saying what to install."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise ImportError(MLFLOW_MISSING) from None


def tracking_uri(uri: str | None) -> str:
    """A tracking URI from ``uri`` (default ``./mlruns``): a plain path becomes a ``file:`` URI."""
    uri = uri or DEFAULT_URI
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", uri) and not re.match(r"^[a-zA-Z]:[\\/]", uri):
        return uri
    return "file:" + os.path.abspath(uri)


def _key(text: str) -> str:
    """An MLflow metric or parameter name: letters, digits and ``_-. /`` only."""
    return re.sub(r"[^0-9A-Za-z_\-. /]", "_", text)


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _PARAM_LENGTH else text[: _PARAM_LENGTH - 3] + "..."


def _now() -> int:
    return int(time.time() * 1000)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def log_to_mlflow(result: CompareResult, uri: str | None = None, experiment: str | None = None) -> dict[str, Any]:
    """Log ``result`` to the MLflow store at ``uri``; return the ids and how many runs were new."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError(MLFLOW_MISSING) from None
    from .report import command_line

    uri = tracking_uri(uri)
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    data = result.settings.get("data") or {}
    name = experiment or f"{EXPERIMENT_PREFIX}: {result.settings.get('dataset') or data.get('name', 'data')}"
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(name)

    command = command_line(result)
    comparison = hashlib.sha256(command.encode()).hexdigest()[:24]
    parents = client.search_runs([experiment_id], filter_string=f"tags.`losskit.comparison` = '{comparison}'", max_results=1)
    if parents:
        parent_id = parents[0].info.run_id
    else:
        parent = client.create_run(
            experiment_id, run_name=f"{', '.join(result.ranking)} on {name.split(': ', 1)[-1]}",
            tags={"losskit.comparison": comparison, "losskit.kind": "comparison", "losskit.command": command[:5000]},
        )
        parent_id = parent.info.run_id
        params = [
            Param(_key(k), _param(v)) for k, v in result.settings.items()
            if k not in ("data", "loss_names", "out") and v is not None
        ]
        client.log_batch(parent_id, params=params)
    summary_metrics = [
        Metric(_key(f"{row['loss']}.{column}"), float(value), _now(), 0)
        for row in result.per_loss for column, value in row.items()
        if column.endswith("_mean") and _finite(value)
    ]
    tags = [RunTag("losskit.winner", result.winner), RunTag("losskit.verdict", result.significance.get("sentence", "")[:5000])]
    for start in range(0, len(summary_metrics), _BATCH):
        client.log_batch(parent_id, metrics=summary_metrics[start : start + _BATCH])
    client.log_batch(parent_id, tags=tags)
    if result.out_dir:
        for file in ("report.html", "results.json", "command.txt"):
            path = os.path.join(result.out_dir, file)
            if os.path.exists(path):
                client.log_artifact(parent_id, path)

    existing = set()
    page = None
    while True:
        runs = client.search_runs(
            [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=1000, page_token=page,
        )
        existing.update(r.data.tags.get("losskit.run_key") for r in runs)
        page = runs.token
        if not page:
            break
    chosen = {run.key: run.loss_label for run in result.runs}
    logged = 0
    for run in result.all_runs or result.runs:
        if run.key in existing:
            continue
        _log_run(client, experiment_id, parent_id, run, chosen, result, Metric, Param, RunTag)
        existing.add(run.key)
        logged += 1
    client.set_terminated(parent_id)
    return {"tracking_uri": uri, "experiment_id": experiment_id, "parent_run_id": parent_id, "logged_runs": logged}


def _log_run(client: Any, experiment_id: str, parent_id: str, run: RunResult, chosen: dict[str, str],
             result: CompareResult, Metric: Any, Param: Any, RunTag: Any) -> None:
    config = run.config
    label = chosen.get(run.key, config.loss.label)
    child = client.create_run(
        experiment_id, run_name=f"{label} seed {config.seed}",
        tags={
            "mlflow.parentRunId": parent_id, "losskit.run_key": run.key, "losskit.kind": "run",
            "losskit.label": label, "losskit.chosen": str(run.key in chosen).lower(),
        },
    )
    run_id = child.info.run_id
    params = [
        Param("loss", config.loss.name), Param("seed", str(config.seed)), Param("model", config.model),
        Param("epochs", str(config.epochs)), Param("batch_size", str(config.batch_size)),
        Param("learning_rate", str(config.learning_rate)), Param("patience", str(config.patience)),
        Param("outliers", str(config.outliers)), Param("label_noise", str(config.label_noise)),
        Param("imbalance", str(config.imbalance)), Param("dataset", _param(config.dataset)),
        *(Param(_key(f"loss.{k}"), _param(v)) for k, v in config.loss.params),
    ]
    metrics = []
    for prefix, values in (("test_", run.metrics), ("val_", run.val_metrics), ("train_", run.train_metrics)):
        metrics += [Metric(_key(prefix + k), float(v), _now(), 0) for k, v in values.items() if _finite(v)]
    metrics += [Metric("best_epoch", float(run.best_epoch), _now(), 0), Metric("train_seconds", float(run.train_seconds), _now(), 0)]
    series = {
        "epoch_train_loss": run.train_loss, "epoch_val_loss": run.val_loss,
        _key(f"epoch_val_{run.monitor or 'metric'}"): run.val_metric, "epoch_grad_norm": run.grad_norm,
        "epoch_wall_time": run.wall_time,
    }
    metrics += [
        Metric(name, float(value), _now(), step) for name, values in series.items() for step, value in enumerate(values) if _finite(value)
    ]
    client.log_batch(run_id, params=params, tags=[RunTag("losskit.warnings", "; ".join(run.warnings)[:5000])] if run.warnings else [])
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
    client.set_terminated(run_id)
