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
from typing import Any, Callable, Iterator

import numpy as np

from . import metrics as M
from ._types import RunConfig, RunResult
from .data import Dataset, Split, prepare_split
from .models import (
    NONNEGATIVE_LABELS, Head, activate, build_model, encode_labels, head_for, predictions_of, probabilities,
)

# Adam step sizes of the networks; the shrinkage of each boosting round for gbdt.
DEFAULT_LEARNING_RATE = {"linear": 1e-2, "mlp": 3e-3, "gbdt": 0.1}


@dataclass
class History:
    """Per-epoch losses and learning dynamics of a training run, and where the kept weights come from."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)  # the monitor's value on the clean validation split
    grad_norm: list[float] = field(default_factory=list)  # mean over the epoch's steps of the gradient's L2 norm
    wall_time: list[float] = field(default_factory=list)  # seconds since training started, at the epoch's end
    best_epoch: int = -1  # index into the lists of the epoch whose weights were kept
    warnings: list[str] = field(default_factory=list)


@contextlib.contextmanager
def reproducible_torch(seed: int, device: str = "cpu") -> Iterator[None]:
    """Seed torch and make it deterministic and single-threaded for the block, then restore.

    One thread makes the sums inside matrix products run in one fixed order, so a run gives the
    same bits whether it runs alone, next to others in a worker pool, or on a Ray node.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    # On one CPU thread every kernel the lab's models use is deterministic already; the switch
    # matters for CUDA kernels only, and the first call of it imports torch's compiler (seconds).
    switch = device != "cpu"
    if switch:
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if switch:
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
    monitor: Callable[[Any], float] | None = None,
    sample_weight: np.ndarray | None = None,
    val_sample_weight: np.ndarray | None = None,
) -> History:
    """Train ``model`` with Adam on ``loss`` (a losskit Loss on torch tensors); early stopping.

    Minibatches are drawn by a generator seeded with ``seed``. With validation data, training
    stops after ``patience`` epochs without a lower validation loss (the same loss, computed by
    losskit) and the best weights are restored. Without it, all epochs run. A non-finite
    training loss stops training and keeps the best weights seen (with a warning).

    ``monitor``, given the model's raw output on the validation rows, returns a metric that is
    recorded per epoch (the lab's clean validation metric); it never steers training. The
    history also records each epoch's mean gradient norm and the wall time.

    ``sample_weight`` / ``val_sample_weight`` (one non-negative weight per row) multiply each
    row's loss: every minibatch loss and the validation loss are losskit's weighted means
    ``sum(w * l) / sum(w)``, and a zero-weight row contributes exactly nothing.
    """
    import torch

    import losskit as lk

    X = torch.as_tensor(X_train, dtype=torch.float32, device=device)
    y = encode_labels(head, y_train, device)
    has_val = X_val is not None and len(X_val) > 0
    if has_val:
        Xv = torch.as_tensor(X_val, dtype=torch.float32, device=device)
        yv = encode_labels(head, y_val, device)
    w = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32, device=device)
    wv = None if not has_val or val_sample_weight is None else torch.as_tensor(
        val_sample_weight, dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = Adam(model.parameters(), lr=learning_rate)
    history = History()
    best_value, best_state, waited = math.inf, copy.deepcopy(model.state_dict()), 0
    n = X.shape[0]
    parameters = [p for p in model.parameters() if p.requires_grad]
    started = time.perf_counter()

    def loss_of(labels: Any, raw: Any, weight: Any = None) -> Any:
        if weight is not None:
            return loss(labels, *predictions_of(activate(head, raw)), sample_weight=weight, **params)
        return loss(labels, *predictions_of(activate(head, raw)), **params)

    # Check labels and outputs once with losskit's value checks (clear errors for bad targets),
    # then train without them: the head's activation keeps every output in the loss's domain.
    with torch.no_grad():
        loss_of(y[:1], model(X[:1]))
    with lk.value_checks(False):
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n, generator=generator).to(device)
            total, norms, steps = 0.0, 0.0, 0
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                value = loss_of(y[rows], model(X[rows]), None if w is None else w[rows])
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                with torch.no_grad():
                    norms += float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters if p.grad is not None])))
                optimizer.step()
                total += float(value.detach()) * (len(rows) if w is None else float(w[rows].sum()))
                steps += 1
            train_value = total / (n if w is None else max(float(w.sum()), 1e-300))
            history.train_loss.append(train_value)
            history.grad_norm.append(norms / max(steps, 1))
            if not math.isfinite(train_value):
                history.warnings.append(f"{loss.name}: the training loss became non-finite at epoch {epoch}; kept the best weights")
                history.val_loss.append(math.nan)
                history.val_metric.append(math.nan)
                history.wall_time.append(time.perf_counter() - started)
                break
            model.eval()
            with torch.no_grad():
                if has_val:
                    raw_val = model(Xv)
                    monitored = float(loss_of(yv, raw_val, wv))
                    history.val_metric.append(float(monitor(raw_val)) if monitor is not None else math.nan)
                else:
                    monitored = train_value
                    history.val_metric.append(math.nan)
            history.val_loss.append(monitored if has_val else math.nan)
            history.wall_time.append(time.perf_counter() - started)
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


class Adam:
    """``torch.optim.Adam`` with its defaults (betas 0.9 and 0.999, eps 1e-8, no weight decay),
    the same single-tensor update op for op, so the same bits (a test checks it).

    Constructing the first ``torch.optim`` optimizer imports torch's compiler stack (dynamo,
    sympy: seconds, longer than a small comparison's training); this one imports nothing.
    """

    def __init__(self, params: Any, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        import torch

        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.steps = float(lr), betas, eps, 0
        self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch

        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        with torch.no_grad():
            for p, (exp_avg, exp_avg_sq) in zip(self.params, self.state):
                if p.grad is None:
                    continue
                grad = p.grad
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)


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
    if config.model == "gbdt":
        from .gbdt import run_gbdt

        return run_gbdt(config, dataset)
    import torch  # noqa: F401  (imported before the clock starts: a worker's first import is not training time)

    started = time.perf_counter()
    loss, params = loss_and_params(config)
    head, notes = head_for(loss, config.task, dataset.n_classes)
    split = prepare_split(
        dataset, config.seed, outliers=config.outliers, label_noise=config.label_noise,
        imbalance=config.imbalance, nonnegative_target=loss.label_format in NONNEGATIVE_LABELS,
    )
    monitor_name = M.PRIMARY_METRIC[config.task]
    y_val_original = split.to_original_units(split.y_val) if head.task == "regression" else split.y_val

    def monitor(raw: Any) -> float:
        return monitor_metric(head, split, activate(head, raw), y_val_original)

    with reproducible_torch(config.seed, config.device):
        model = build_model(config.model, split.X_train.shape[1], head.n_outputs).to(config.device)
        history = fit(
            model, head, loss, params, split.X_train, split.y_train, split.X_val, split.y_val,
            epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
            patience=config.patience, seed=config.seed, device=config.device, monitor=monitor,
        )
        outputs = [predict_output(model, head, X, config.device) for X in (split.X_test, split.X_val, split.X_train)]
    train_seconds = history.wall_time[-1] if history.wall_time else 0.0
    targets, predictions, metrics = evaluate(head, split, outputs[0], loss, params, split.y_test)
    _, _, val_metrics = evaluate(head, split, outputs[1], loss, params, y_val_original)
    _, _, train_metrics = evaluate(head, split, outputs[2], loss, params, split.clean_train_targets(dataset))
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
        monitor=monitor_name,
        val_metric=history.val_metric,
        grad_norm=history.grad_norm,
        wall_time=history.wall_time,
        train_seconds=train_seconds,
        val_metrics=val_metrics,
        train_metrics=train_metrics,
    )


def monitor_metric(head: Head, split: Split, output: Any, y_original: np.ndarray) -> float:
    """The task's primary metric (rmse, macro_f1) of ``output`` against ``y_original``: the per-epoch monitor."""
    if head.task == "regression":
        first = predictions_of(output)[0].detach().cpu().double().numpy()
        residual = split.to_original_units(first) - y_original
        return float(np.sqrt(np.mean(residual**2)))
    proba = probabilities(head, output)
    return M.macro_f1(np.asarray(y_original), np.argmax(proba, axis=1), proba.shape[1])


def evaluate(
    head: Head, split: Split, output: Any, loss: Any, params: dict[str, Any], y_true: np.ndarray
) -> tuple[list, list, dict[str, float]]:
    """Targets, predictions (original units / class probabilities) and every metric of ``output``.

    ``y_true`` are the rows' clean targets, in the original units for regression.
    """
    if head.task == "regression":
        # The first prediction is the point prediction (gaussian_nll's mean): it alone is judged
        # by the point metrics, so a loss with several predictions ranks next to one with one.
        predictions = [p.detach().cpu().double().numpy() for p in predictions_of(output)]
        predicted = split.to_original_units(predictions[0])
        metrics = M.regression_metrics(y_true, predicted)
        if "variance" in loss.inputs:
            # A variance in training units is one in original units times the scale squared;
            # the floor is the loss's, so the test sees the variance the training saw.
            scale2 = split.target_scale**2
            variance = predictions[loss.inputs.index("variance")] * scale2
            floor = float(params.get("eps", loss.defaults.get("eps", 0.0))) * scale2
            metrics.update(M.predictive_metrics(y_true, predicted, variance, floor=floor))
        return np.asarray(y_true).tolist(), predicted.tolist(), metrics
    proba = probabilities(head, output)
    return np.asarray(y_true).tolist(), proba.tolist(), M.classification_metrics(y_true, proba)
