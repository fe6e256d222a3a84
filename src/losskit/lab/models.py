"""Models of the loss lab and the head that matches a model's output to a loss.

A :class:`Head` is read off the registry's metadata (task, kind, prediction space, label
format, output activation): how many outputs the network has, which activation turns its raw
output into what the loss expects, how labels are encoded, and how the output becomes class
probabilities for the metrics. Combinations that cannot work raise ``ValueError``; legal but
poor ones come with a warning. A loss with several predictions (``gaussian_nll``: a mean and a
variance) gets one network output per prediction, each through its own activation, and the
first prediction is the point prediction the metrics judge.

>>> import losskit as lk
>>> head, notes = head_for(lk.get("sigmoid_cross_entropy"), "binary", 2)
>>> head.n_outputs, head.activation, head.labels, notes
(1, 'linear', 'binary', [])
>>> head, _ = head_for(lk.get("gaussian_nll"), "regression", 0)
>>> head.n_outputs, head.activations
(2, ('linear', 'softplus'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import losskit as lk

MODELS = ("linear", "mlp", "gbdt")  # gbdt: LightGBM with the loss as its custom objective (see gbdt.py)
HIDDEN_UNITS = 64
ACTIVATIONS = ("linear", "softplus", "exp", "sigmoid", "softmax")

# Losses whose labels must be non-negative: targets are scaled without centring for them
# ("positive": the gamma deviance's y > 0, which scaling without centring keeps).
NONNEGATIVE_LABELS = ("non-negative", "counts", "positive")


def lab_supports(loss: Any) -> bool:
    """Whether the lab's table models can train ``loss`` at all (regression or classification,
    one prediction per target); segmentation, embedding and row-wise losses need other models."""
    return loss.task in ("regression", "binary", "multiclass") and loss.kind not in ("overlap", "rowwise")


@dataclass(frozen=True)
class Head:
    """How one loss sees a model: outputs, activation, label encoding, probability mapping."""

    task: str  # the data's task
    n_outputs: int
    activation: str  # one of ACTIVATIONS, applied to the raw output of the (first) prediction before the loss
    labels: str  # "values" (float), "binary" (float 0/1), "one_hot" (float), "integer" (int64)
    # How the loss's input becomes class probabilities for the metrics: "identity" when it
    # already is one, "sigmoid"/"softmax" for logits and scores.
    to_probabilities: str = "identity"
    # Activations of the loss's later predictions (gaussian_nll's variance), one network output
    # each after the first prediction's; empty for the usual one-prediction loss.
    secondary: tuple[str, ...] = ()

    @property
    def activations(self) -> tuple[str, ...]:
        """One activation per prediction of the loss, in its call order."""
        return (self.activation, *self.secondary)

    @property
    def nonnegative(self) -> bool:
        return self.activation in ("softplus", "exp")


def prediction_activations(loss: Any) -> tuple[str, ...]:
    """The loss's activation per prediction, read off ``output_activation``.

    The catalog writes one activation per prediction, comma-separated, for losses with several
    (``"linear, softplus"`` for gaussian_nll's mean and variance).
    """
    activations = tuple(part.strip() for part in loss.output_activation.split(","))
    unsupported = [a for a in activations if a not in ACTIVATIONS]
    if unsupported or len(activations) != len(loss.inputs):
        raise ValueError(
            f"{loss.name}: unsupported output activation {loss.output_activation!r} "
            f"(the lab needs one of {', '.join(ACTIVATIONS)} for each of its predictions {', '.join(loss.inputs)})"
        )
    return activations


def head_for(loss: Any, task: str, n_classes: int) -> tuple[Head, list[str]]:
    """The head that connects a model to ``loss`` on ``task``, and warnings about the pairing.

    Raises ``ValueError`` for pairings that cannot train: a classification loss on a
    regression target, a binary loss on more than two classes, a loss on counts or logarithms
    on class labels.
    """
    if loss.task in ("segmentation", "embedding") or loss.kind in ("overlap", "rowwise"):
        # The lab's models map a feature row to one prediction per target; a loss over masks,
        # embedding pairs or a vocabulary projection needs a model of that shape.
        raise ValueError(
            f"{loss.name} is a {loss.task} loss over {' and '.join(loss.inputs)}; the lab trains regression and "
            "classification models on tables, so it cannot compare it. Use it in your own training loop "
            f"(losskit.torch.{lk.class_name(loss.name)})"
        )
    activations = prediction_activations(loss)
    if task == "regression":
        return _regression_head(loss, activations)
    if loss.task == "regression":
        return _regression_loss_on_classes(loss, task, n_classes)
    if loss.task == "binary" and task == "multiclass":
        raise ValueError(
            f"{loss.name} is a binary loss but the target has {n_classes} classes; use a multiclass loss "
            f"such as softmax_cross_entropy, or make the target binary"
        )
    notes = []
    if loss.prediction_space == "scores":
        notes.append(
            f"{loss.name} is a margin loss on scores: its probabilities (sigmoid or softmax of the score) "
            f"are not calibrated, so its log_loss, brier and ece say little; compare it on accuracy and macro_f1"
        )
    if loss.task == "binary":
        to_probabilities = "identity" if loss.prediction_space == "probabilities" else "sigmoid"
        return Head(task, 1, loss.output_activation, "binary", to_probabilities), notes
    # A multiclass loss also handles two classes, as a two-way softmax.
    labels = "integer" if loss.kind == "sparse" else "one_hot"
    to_probabilities = "identity" if loss.prediction_space == "probabilities" else "softmax"
    return Head(task, n_classes, loss.output_activation, labels, to_probabilities), notes


def _regression_head(loss: Any, activations: tuple[str, ...]) -> tuple[Head, list[str]]:
    if loss.task != "regression":
        raise ValueError(
            f"{loss.name} is a {loss.task} classification loss but the target is a continuous quantity "
            f"(regression); use a regression loss such as mse, mae or huber, or set task= to a classification task"
        )
    # The lab's targets are one column, so each prediction is one network output.
    return Head("regression", len(activations), activations[0], "values", secondary=activations[1:]), []


def _regression_loss_on_classes(loss: Any, task: str, n_classes: int) -> tuple[Head, list[str]]:
    if len(loss.inputs) > 1:
        # A probability per class leaves no output for the other predictions, and a variance
        # of 0/1 labels says nothing a classification metric could judge.
        raise ValueError(
            f"{loss.name} predicts {' and '.join(loss.inputs)} of a continuous target and cannot be trained on "
            f"{task} class labels; use a classification loss such as "
            f"{'sigmoid_cross_entropy' if task == 'binary' else 'softmax_cross_entropy'}"
        )
    if loss.label_format in NONNEGATIVE_LABELS or loss.prediction_space != "values":
        raise ValueError(
            f"{loss.name} is a regression loss on {loss.label_format} targets and cannot be trained on "
            f"{task} class labels; use a classification loss such as "
            f"{'sigmoid_cross_entropy' if task == 'binary' else 'softmax_cross_entropy'}"
        )
    # A pointwise error between probabilities and 0/1 labels is legal (mse on probabilities is
    # the Brier score) but its gradient vanishes where the sigmoid saturates on a wrong answer.
    note = (
        f"{loss.name} is a regression loss trained here on {task} probabilities against 0/1 labels: "
        f"its gradient vanishes for confident mistakes, so it usually trains slower and less calibrated "
        f"than cross-entropy"
    )
    if task == "binary":
        return Head(task, 1, "sigmoid", "binary"), [note]
    return Head(task, n_classes, "softmax", "one_hot"), [note]


# ------------------------------------------------------------------------------- torch parts


def build_model(kind: str, n_features: int, n_outputs: int, hidden_units: int = HIDDEN_UNITS) -> Any:
    """A linear model, or an MLP with two hidden ReLU layers of ``hidden_units`` units."""
    import torch

    if kind == "linear":
        return torch.nn.Linear(n_features, n_outputs)
    if kind == "mlp":
        return torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden_units),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden_units, hidden_units),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden_units, n_outputs),
        )
    raise ValueError(f"model must be one of {', '.join(MODELS)}; got {kind!r}")


def activate(head: Head, raw: Any) -> Any:
    """The loss's input from the network's raw output: activation, and the shape the loss wants.

    A tensor for a one-prediction loss; for a loss with several, a tuple with one tensor per
    prediction (column ``i`` of the output through activation ``i``), to be unpacked into the call.
    """
    if head.secondary:
        return tuple(_activation(name, raw[:, i]) for i, name in enumerate(head.activations))
    if head.n_outputs == 1:
        raw = raw[:, 0]  # pointwise losses compare (n,) with (n,)
    return _activation(head.activation, raw)


def predictions_of(output: Any) -> tuple[Any, ...]:
    """The loss's prediction arguments from :func:`activate`'s result, always a tuple."""
    return output if isinstance(output, tuple) else (output,)


def _activation(name: str, raw: Any) -> Any:
    import torch

    if name == "linear":
        return raw
    if name == "softplus":
        return torch.nn.functional.softplus(raw)
    if name == "exp":
        return torch.exp(raw)
    if name == "sigmoid":
        return torch.sigmoid(raw)
    return torch.softmax(raw, dim=-1)


def probabilities(head: Head, output: Any) -> np.ndarray:
    """Class probabilities, shape (n, n_classes), from the loss's input (classification only)."""
    import torch

    if head.to_probabilities == "sigmoid":
        output = torch.sigmoid(output)
    elif head.to_probabilities == "softmax":
        output = torch.softmax(output, dim=-1)
    p = output.detach().cpu().double().numpy()
    if head.n_outputs == 1:
        p = np.stack([1.0 - p, p], axis=-1)
    # Renormalise away float32 rounding so log-loss and Brier see exact distributions.
    p = np.clip(p, 0.0, 1.0)
    return p / p.sum(axis=-1, keepdims=True)


def encode_labels(head: Head, y: np.ndarray, device: Any = "cpu") -> Any:
    """Labels as the loss expects them, as a torch tensor on ``device``."""
    import torch

    if head.labels == "integer":
        return torch.as_tensor(y, dtype=torch.int64, device=device)
    if head.labels == "one_hot":
        return torch.as_tensor(np.eye(head.n_outputs, dtype=np.float32)[y], device=device)
    return torch.as_tensor(y, dtype=torch.float32, device=device)
