"""The records of the loss lab: what one run is (its settings and key) and what it produced.

These plain dataclasses are the interface between the engine (data, training, evaluation,
storage, execution) and its consumers (the report, the command line, the Python API). They hold
only JSON-friendly values so a run can be stored in SQLite and read back bit for bit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

REGRESSION_METRICS = ("rmse", "mae", "median_ae", "r2")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "log_loss", "brier", "ece")
# Binary tasks also get the area under the precision-recall curve of the positive class
# (average precision): the metric that still discriminates when positives are rare.
BINARY_METRICS = (*CLASSIFICATION_METRICS, "pr_auc")
# Regression metrics of a predicted variance (gaussian_nll), only in the runs of losses that
# predict one: the mean Gaussian negative log-likelihood of the test targets (lower is better)
# and the share of them inside the central 90% and 95% intervals (best at 0.90 and 0.95).
PREDICTIVE_METRICS = ("nll", "coverage_90", "coverage_95")
TARGET_VALUE = {"coverage_90": 0.90, "coverage_95": 0.95}
# Metrics where larger is better; every other metric is an error to minimise, except those
# with a TARGET_VALUE.
HIGHER_IS_BETTER = frozenset({"r2", "accuracy", "macro_f1", "pr_auc"})
# Bumped when the lab's training or evaluation changes what a run produces: it is part of every
# run key, so a store written by an older lab is never read back as if it were current.
LAB_VERSION = 2


@dataclass(frozen=True)
class LossSpec:
    """A loss of the catalog with the parameters it is compared at."""

    name: str  # canonical catalog name
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """Human-readable and unique within a comparison, e.g. ``huber(delta=0.5)``."""
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params)})"

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class RunConfig:
    """Every setting that can change the result of one training run.

    Two runs with equal configs produce identical results on the same machine, so :meth:`key`
    (a hash of all fields and the losskit version) identifies a finished run in the store.
    Adding a field here automatically changes every key: results can never be reused stale.
    """

    dataset: str  # built-in dataset name, or "csv:<path>"
    data_fingerprint: str  # hash of the data actually loaded (file contents for CSV/Parquet)
    target: str | None
    task: str  # resolved task: regression / binary / multiclass
    loss: LossSpec
    model: str  # linear / mlp / gbdt
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    outliers: float
    label_noise: float
    imbalance: float | None
    device: str

    def key(self) -> str:
        from .. import __version__

        payload = dataclasses.asdict(self)
        payload["losskit_version"] = __version__
        payload["lab_version"] = LAB_VERSION
        canonical = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@dataclass
class RunResult:
    """What one run produced, evaluated on the clean test split."""

    key: str
    config: RunConfig
    metrics: dict[str, float]
    train_loss: list[float]  # per epoch
    val_loss: list[float]  # per epoch
    best_epoch: int
    seconds: float
    test_targets: list[Any]  # regression: floats; classification: integer labels
    test_predictions: list[Any]  # regression: floats; classification: per-class probabilities
    warnings: list[str] = field(default_factory=list)
    # Learning dynamics, one value per epoch (per boosting round for gbdt): the clean validation
    # metric named by ``monitor`` (rmse or macro_f1, in the targets' units), the L2 norm of the
    # gradient of the training loss (mean over the epoch's steps) and the wall time since the
    # start of training.
    monitor: str = ""
    val_metric: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    # Every metric of the kept model on the clean validation split (what tuning chooses on) and
    # on the training rows with their clean targets (the generalisation gap's training side).
    val_metrics: dict[str, float] = field(default_factory=dict)
    train_metrics: dict[str, float] = field(default_factory=dict)
    # The comparison's label for this run when it differs from its loss's (a tuned loss's runs
    # are shown as ``huber(delta=tuned)``); set by compare, never part of the key.
    label: str = ""

    @property
    def loss_label(self) -> str:
        return self.label or self.config.loss.label

    def __repr__(self) -> str:
        return (f"RunResult(loss={self.loss_label!r}, seed={self.config.seed}, "
                f"metrics={ {k: round(v, 4) for k, v in self.metrics.items()} }, "
                f"best_epoch={self.best_epoch}, predictions={len(self.test_predictions)})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        config = dict(data["config"])
        loss = config.pop("loss")
        config["loss"] = LossSpec(loss["name"], tuple(tuple(p) for p in loss["params"]))
        return cls(**{**data, "config": RunConfig(**config)})


@dataclass
class CompareResult:
    """A finished comparison: every run, the per-loss summary, the ranking and its significance."""

    task: str
    primary_metric: str
    settings: dict[str, Any]  # the call's arguments, for the report and the results file
    runs: list[RunResult]
    per_loss: list[dict[str, Any]]  # one row per loss label: {"loss": label, "<metric>_mean", "<metric>_std", ...}
    ranking: list[str]  # loss labels, best first by the primary metric's mean
    significance: dict[str, Any]  # winner vs runner-up, paired over seeds (see metrics.paired_comparison)
    reused_runs: int  # finished runs read back from the store instead of trained again
    new_runs: int
    out_dir: str | None = None
    warnings: list[str] = field(default_factory=list)
    # A sweep over a perturbation (see runner.compare's sweep=): levels, robustness curves per
    # loss, a summary per level and from which level each loss beats the baseline; else None.
    sweep: dict[str, Any] | None = None
    # Tuned loss parameters (see runner.compare's params= with lists or "auto"): the grid, the
    # value chosen per seed on the validation split and the validation curve; else None.
    tuning: dict[str, Any] | None = None
    # Every run trained for the comparison, including the tuning candidates not chosen.
    all_runs: list[RunResult] = field(default_factory=list)

    @property
    def winner(self) -> str:
        return self.ranking[0]

    def __repr__(self) -> str:
        dataset = self.settings.get("dataset") or self.settings.get("csv") or "?"
        losses = ", ".join(row["loss"] for row in self.per_loss)
        return (f"CompareResult(dataset={dataset!r}, task={self.task!r}, losses=[{losses}], "
                f"winner={self.winner!r}, metric={self.primary_metric!r}, runs={len(self.runs)})")

    def summary(self, width: int = 80) -> str:
        """The comparison as plain text for a notebook or a log, wrapped at ``width`` columns.

        What was compared on which data, each loss's test metrics (mean ± std over seeds) best
        first, the verdict, and the warnings: the terminal table's content without a terminal.
        """
        import textwrap

        from .report import format_value, metric_names, metric_title, summary_by_loss, test_rows_name, verdict

        dataset = self.settings.get("csv") or self.settings.get("dataset") or "?"
        seeds = len(self.settings.get("seeds") or []) or len({run.config.seed for run in self.runs})
        count = len(self.ranking)
        head = (f"{self.task} on {dataset}: {count} loss{'es' if count != 1 else ''} × {seeds} seed{'s' if seeds != 1 else ''}, "
                f"{self.settings.get('model', 'linear')} model, ranked by {metric_title(self.primary_metric)} "
                f"({test_rows_name(self)}); mean ± std over seeds")
        lines = textwrap.wrap(head, width, break_on_hyphens=False, break_long_words=False)
        rows = summary_by_loss(self)
        label_width = max((len(label) for label in rows), default=0)
        for rank, (label, row) in enumerate(rows.items(), start=1):
            # No-break spaces keep each "metric value ± std" on one line when the row wraps.
            cells = [f"{metric_title(m)} {format_value(row[f'{m}_mean'], 3)} ± {format_value(row[f'{m}_std'], 2)}"
                     .replace(" ", "\xa0") for m in metric_names(self)]
            first = f"{rank:>2}. {label:<{label_width}}  "
            lines += textwrap.wrap(" · ".join(cells), width, initial_indent=first, subsequent_indent=" " * len(first),
                                   break_on_hyphens=False)
        lines += textwrap.wrap(verdict(self), width)
        for warning in self.warnings:
            lines += textwrap.wrap(f"warning: {warning}", width, subsequent_indent="  ")
        return "\n".join(lines).replace("\xa0", " ")

    def to_frame(self, per: str = "seed"):
        """A pandas DataFrame: ``per="seed"`` one row per (loss, seed) with every test metric;
        ``per="loss"`` the per-loss summary (``<metric>_mean`` / ``<metric>_std``), ranked."""
        import pandas as pd

        if per == "loss":
            order = {label: i for i, label in enumerate(self.ranking)}
            rows = sorted(self.per_loss, key=lambda row: order.get(row["loss"], len(order)))
            return pd.DataFrame(rows)
        if per != "seed":
            raise ValueError(f"per must be 'seed' or 'loss', got {per!r}")
        return pd.DataFrame([{"loss": r.loss_label, "seed": r.config.seed, **r.metrics} for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
