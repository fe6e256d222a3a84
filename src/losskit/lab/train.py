"""Training one model with one loss, reproducibly, and evaluating it on the clean test split.

:func:`run_one` is the unit of work every backend executes (in-process, joblib workers, Ray
tasks): it receives a :class:`~losskit.lab._types.RunConfig` and the loaded data, and returns a
:class:`~losskit.lab._types.RunResult`. Everything that can change the result is in the config,
and the run is bit-for-bit reproducible on the same machine: seeds fixed, deterministic
algorithms, one thread.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from . import metrics as M
from ._types import RunConfig, RunResult
from .data import Dataset, Split, prepare_split
from .models import (
    NONNEGATIVE_LABELS, Head, activate, build_model, encode_labels, head_for, predictions_of, probabilities,
)

DEFAULT_LEARNING_RATE = {"linear": 1e-2, "mlp": 3e-3}


@dataclass
class History:
    """Per-epoch losses of a training run and where the kept weights come from."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1  # index into the lists of the epoch whose weights were kept
    warnings: list[str] = field(default_factory=list)


@contextlib.contextmanager
def reproducible_torch(seed: int) -> Iterator[None]:
    """Seed torch and make it deterministic and single-threaded for the block, then restore.

    One thread makes the sums inside matrix products run in one fixed order, so a run gives the
    same bits whether it runs alone, next to others in a worker pool, or on a Ray node.
    """
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def fit(
    model: Any,
    head: Head,
    loss: Any,
    params: dict[str, Any],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    seed: int,
    device: str = "cpu",
) -> History:
    """Train ``model`` with Adam on ``loss`` (a losskit Loss on torch tensors); early stopping.

    Minibatches are drawn by a generator seeded with ``seed``. With validation data, training
    stops after ``patience`` epochs without a lower validation loss (the same loss, computed by
    losskit) and the best weights are restored. Without it, all epochs run. A non-finite
    training loss stops training and keeps the best weights seen (with a warning).
    """
    import torch

    import losskit as lk

    X = torch.as_tensor(X_train, dtype=torch.float32, device=device)
    y = encode_labels(head, y_train, device)
    has_val = X_val is not None and len(X_val) > 0
    if has_val:
        Xv = torch.as_tensor(X_val, dtype=torch.float32, device=device)
        yv = encode_labels(head, y_val, device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    history = History()
    best_value, best_state, waited = math.inf, copy.deepcopy(model.state_dict()), 0
    n = X.shape[0]

    def loss_of(labels: Any, raw: Any) -> Any:
        return loss(labels, *predictions_of(activate(head, raw)), **params)

    # Check labels and outputs once with losskit's value checks (clear errors for bad targets),
    # then train without them: the head's activation keeps every output in the loss's domain.
    with torch.no_grad():
        loss_of(y[:1], model(X[:1]))
    with lk.value_checks(False):
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n, generator=generator).to(device)
            total = 0.0
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                value = loss_of(y[rows], model(X[rows]))
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                total += float(value.detach()) * len(rows)
            train_value = total / n
            history.train_loss.append(train_value)
            if not math.isfinite(train_value):
                history.warnings.append(f"{loss.name}: the training loss became non-finite at epoch {epoch}; kept the best weights")
                history.val_loss.append(math.nan)
                break
            model.eval()
            with torch.no_grad():
                monitored = float(loss_of(yv, model(Xv))) if has_val else train_value
            history.val_loss.append(monitored if has_val else math.nan)
            if monitored < best_value:
                best_value, best_state, waited = monitored, copy.deepcopy(model.state_dict()), 0
                history.best_epoch = epoch
            else:
                waited += 1
                if has_val and waited >= patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return history


def predict_output(model: Any, head: Head, X: np.ndarray, device: str = "cpu") -> Any:
    """The loss's input (after the head's activation) for features ``X``, as a torch tensor.

    A tuple of tensors, one per prediction, for a loss with several (see :func:`activate`).
    """
    import torch

    with torch.no_grad():
        return activate(head, model(torch.as_tensor(X, dtype=torch.float32, device=device)))


def loss_and_params(config: RunConfig) -> tuple[Any, dict[str, Any]]:
    """The catalog's loss and its keyword arguments (array parameters as lists) for a config."""
    import losskit as lk

    params = {name: list(value) if isinstance(value, tuple) else value for name, value in config.loss.params}
    return lk.get(config.loss.name), params


def run_one(config: RunConfig, dataset: Dataset) -> RunResult:
    """Train and evaluate the run described by ``config`` on ``dataset``; the backends' unit of work."""
    import torch  # noqa: F401  (imported before the clock starts: a worker's first import is not training time)

    started = time.perf_counter()
    loss, params = loss_and_params(config)
    head, notes = head_for(loss, config.task, dataset.n_classes)
    split = prepare_split(
        dataset, config.seed, outliers=config.outliers, label_noise=config.label_noise,
        imbalance=config.imbalance, nonnegative_target=loss.label_format in NONNEGATIVE_LABELS,
    )
    with reproducible_torch(config.seed):
        model = build_model(config.model, split.X_train.shape[1], head.n_outputs).to(config.device)
        history = fit(
            model, head, loss, params, split.X_train, split.y_train, split.X_val, split.y_val,
            epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
            patience=config.patience, seed=config.seed, device=config.device,
        )
        output = predict_output(model, head, split.X_test, config.device)
    targets, predictions, metrics = _evaluate(head, split, output, loss, params)
    return RunResult(
        key=config.key(),
        config=config,
        metrics=metrics,
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        best_epoch=history.best_epoch,
        seconds=time.perf_counter() - started,
        test_targets=targets,
        test_predictions=predictions,
        warnings=notes + history.warnings,
    )


def _evaluate(head: Head, split: Split, output: Any, loss: Any, params: dict[str, Any]) -> tuple[list, list, dict[str, float]]:
    if head.task == "regression":
        # The first prediction is the point prediction (gaussian_nll's mean): it alone is judged
        # by the point metrics, so a loss with several predictions ranks next to one with one.
        predictions = [p.detach().cpu().double().numpy() for p in predictions_of(output)]
        predicted = split.to_original_units(predictions[0])
        metrics = M.regression_metrics(split.y_test, predicted)
        if "variance" in loss.inputs:
            # A variance in training units is one in original units times the scale squared;
            # the floor is the loss's, so the test sees the variance the training saw.
            scale2 = split.target_scale**2
            variance = predictions[loss.inputs.index("variance")] * scale2
            floor = float(params.get("eps", loss.defaults.get("eps", 0.0))) * scale2
            metrics.update(M.predictive_metrics(split.y_test, predicted, variance, floor=floor))
        return split.y_test.tolist(), predicted.tolist(), metrics
    proba = probabilities(head, output)
    return split.y_test.tolist(), proba.tolist(), M.classification_metrics(split.y_test, proba)
