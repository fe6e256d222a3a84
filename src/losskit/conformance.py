"""The conformance table: losskit's numbers next to PyTorch's, Optax's, Keras's and scikit-learn's.

For every loss of the catalog and every framework its registry entry lists under
``equivalents``, :func:`table` computes both values on fixed, seeded inputs that include the
edge cases where libraries part ways (probabilities at exactly 0 and 1, logits at +-100,
residuals of 1e3, weighted means), and says whether they agree, or measures how they differ
and quotes the documented reason.

>>> import losskit as lk
>>> result = lk.conformance.table(frameworks=["sklearn"])     # doctest: +SKIP
>>> str(result.cell("mean_absolute_error", "sklearn"))        # doctest: +SKIP
'equal (max rel. diff 0)'

Each framework is imported only when its column is computed; one that is not installed gives
"not installed" cells, never an error. "jax" means Optax. Keras runs on the JAX backend
(``KERAS_BACKEND=jax`` unless the environment already chose one).

An adapter computes the framework's own function (the one named in the registry) in losskit's
argument order: it converts the form of the arguments (prediction first, class axis, log of
probabilities, {-1, +1} labels) but never rescales the result, so a documented factor (SmoothL1
= Huber / beta, scikit-learn's MAPE as a fraction) shows up as a measured difference.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ._loss import Loss
from ._registry import catalog

__all__ = ["Cell", "ConformanceTable", "Adapter", "ADAPTERS", "FRAMEWORKS", "STATUSES", "input_cases", "table"]

# The names users type, the registry's name for each, and a display name.
FRAMEWORKS = ("torch", "jax", "keras", "sklearn")
_REGISTRY_NAME = {"torch": "torch", "jax": "optax", "keras": "keras", "sklearn": "sklearn"}
_FROM_REGISTRY = {registry: public for public, registry in _REGISTRY_NAME.items()}
_SYNONYMS = {"optax": "jax", "pytorch": "torch", "scikit-learn": "sklearn"}
_MODULES = {"torch": ("torch",), "jax": ("jax", "optax"), "keras": ("keras",), "sklearn": ("sklearn",)}
DISPLAY_NAMES = {"torch": "PyTorch", "jax": "JAX (Optax)", "keras": "Keras", "sklearn": "scikit-learn"}

STATUSES = ("equal", "differs", "not-applicable", "not-installed")

# Tolerances of the issue: float64 results must agree to 1e-6, float32 ones to 1e-5.
RTOL_FLOAT64 = 1e-6
RTOL_FLOAT32 = 1e-5
# Below these magnitudes two results both count as zero (float32 rounding leaves ~1e-8 residue).
_ZERO_FLOAT64 = 1e-12
_ZERO_FLOAT32 = 1e-7

# Losses whose parameter changes the relation to a framework are also checked away from the
# default, so that e.g. SmoothL1 = Huber / beta is visible (at beta = 1 the two coincide).
PARAMETER_GRID: dict[str, tuple[dict[str, Any], ...]] = {
    "huber": ({"delta": 1.0}, {"delta": 0.5}),
    "smooth_l1": ({"beta": 1.0}, {"beta": 0.5}),
    "quantile": ({"q": 0.5}, {"q": 0.9}),
    "epsilon_insensitive": ({"epsilon": 0.1}, {"epsilon": 0.5}),
}


# --------------------------------------------------------------------------------- results

@dataclass(frozen=True)
class Cell:
    """One entry of the table: how a framework's value compares with losskit's.

    ``status`` is one of :data:`STATUSES`; ``max_rel_diff`` is the largest relative difference
    over every input case (``None`` when nothing was computed or a value was not finite);
    ``reason`` says where and why the values differ; ``api`` and ``relation`` repeat the
    registry's claim that was checked.
    """

    status: str
    max_rel_diff: float | None = None
    reason: str = ""
    api: str = ""
    relation: str = ""

    def __str__(self) -> str:
        if self.status == "equal":
            return f"equal (max rel. diff {_format_number(self.max_rel_diff or 0.0)})"
        if self.status == "differs":
            return f"differs: {self.reason}"
        if self.status == "not-installed":
            return "not installed"
        return "n/a"

    def to_dict(self) -> dict[str, Any]:
        finite = self.max_rel_diff is not None and math.isfinite(self.max_rel_diff)
        return {
            "status": self.status,
            "max_rel_diff": self.max_rel_diff if finite else None,
            "reason": self.reason,
            "api": self.api,
            "relation": self.relation,
            "text": str(self),
        }


@dataclass(frozen=True)
class ConformanceTable:
    """Loss x framework -> :class:`Cell`, in catalog order.

    ``rows`` maps each loss name to a mapping from framework name (``torch``, ``jax``,
    ``keras``, ``sklearn``) to its cell.
    """

    frameworks: tuple[str, ...]
    rows: Mapping[str, Mapping[str, Cell]]

    def cell(self, loss: str, framework: str) -> Cell:
        """The cell of ``loss`` (canonical name) and ``framework`` (``jax`` or ``optax`` for Optax)."""
        return self.rows[loss][_framework_name(framework)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``{"frameworks": [...], "losses": {name: {framework: cell}}}``."""
        return {
            "frameworks": list(self.frameworks),
            "losses": {loss: {fw: cell.to_dict() for fw, cell in cells.items()} for loss, cells in self.rows.items()},
        }

    def to_markdown(self, loss_link: str | None = None) -> str:
        """A Markdown table; ``loss_link`` (e.g. ``"losses/{name}.md"``) links each loss name."""
        header = ["loss", *(DISPLAY_NAMES[fw] for fw in self.frameworks)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for loss, cells in self.rows.items():
            name = f"[`{loss}`]({loss_link.format(name=loss)})" if loss_link else f"`{loss}`"
            texts = [_markdown_escape(str(cells[fw])) for fw in self.frameworks]
            lines.append("| " + " | ".join([name, *texts]) + " |")
        return "\n".join(lines) + "\n"


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _format_number(value: float) -> str:
    if value == 0.0:
        return "0"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def _format_value(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"raises {type(value).__name__}"
    return f"{value:.4g}"


# ---------------------------------------------------------------------------------- inputs

@dataclass(frozen=True)
class Case:
    """One fixed input of the comparison; ``name`` is how a difference is located (``p = 0 and 1``)."""

    name: str
    y_true: np.ndarray
    y_pred: np.ndarray
    sample_weight: np.ndarray | None = None


_NUM_CLASSES = 4


def _weighted(case: Case, rng: np.random.Generator) -> Case:
    # A zero weight is included on purpose: it separates sum(w*l)/sum(w) from sum(w*l)/n.
    n = case.y_pred.shape[0]
    weights = rng.uniform(0.5, 2.0, size=n)
    weights[1] = 0.0
    return Case("with sample_weight (one weight 0)", case.y_true, case.y_pred, weights)


def _real_cases(rng):
    y = rng.normal(size=12)
    random = Case("random residuals", y, y + rng.normal(size=12))
    large = Case("residuals of 1e3", y[:4], y[:4] + np.array([1e3, -1e3, 250.0, -0.5]))
    exact = Case("zero residuals", y[:4], y[:4].copy())
    return [random, large, exact, _weighted(random, rng)]


def _non_negative_cases(rng):
    random = Case("random non-negative values", rng.exponential(2.0, size=12), rng.exponential(2.0, size=12))
    extremes = Case("values of 0 and 1e3", np.array([0.0, 1e3, 0.0, 5.0]), np.array([1e3, 0.0, 0.0, 5.0]))
    return [random, extremes, _weighted(random, rng)]


def _count_cases(rng):
    random = Case("random counts and rates", rng.poisson(3.0, size=12).astype(float), rng.gamma(2.0, 2.0, size=12))
    zeros = Case("zero counts, rates of 1e3", np.array([0.0, 0.0, 4.0, 1e3]), np.array([1e3, 0.5, 1e3, 1e3]))
    small = Case("rates of 1e-6", np.array([3.0, 0.0, 1.0]), np.array([1e-6, 1e-6, 2e-6]))
    return [random, zeros, small, _weighted(random, rng)]


def _probability_cases(rng):
    random = Case("random probabilities", rng.integers(0, 2, size=12).astype(float), rng.uniform(0.05, 0.95, size=12))
    labels = np.array([1.0, 0.0, 1.0, 0.0])
    near = Case("p in [1e-7, 1 - 1e-7]", labels, np.array([1e-7, 1 - 1e-7, 1 - 1e-7, 1e-7]))
    wrong = Case("p = 0 or 1, wrong label", labels[:2], np.array([0.0, 1.0]))
    right = Case("p = 0 or 1, right label", labels[:2], np.array([1.0, 0.0]))
    return [random, near, wrong, right, _weighted(random, rng)]


def _logit_cases(rng):
    random = Case("random logits", rng.integers(0, 2, size=12).astype(float), rng.normal(0.0, 3.0, size=12))
    extreme = Case("logits at +-100", np.array([1.0, 0.0, 1.0, 0.0]), np.array([100.0, -100.0, -100.0, 100.0]))
    return [random, extreme, _weighted(random, rng)]


def _score_cases(rng):
    labels = rng.integers(0, 2, size=12).astype(float)
    scores = rng.normal(0.0, 2.0, size=12)
    random = Case("labels in {0, 1}", labels, scores)
    signed = Case("labels in {-1, +1}", 2.0 * labels - 1.0, scores)
    extreme = Case("scores at +-100", np.array([1.0, 0.0, 1.0, 0.0]), np.array([100.0, -100.0, -100.0, 100.0]))
    return [random, signed, extreme, _weighted(random, rng)]


def _softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _class_probability_rows(labels, true_p):
    """Rows whose true class gets ``true_p`` and the other classes share the rest equally."""
    rows = np.full((len(labels), _NUM_CLASSES), (1.0 - true_p) / (_NUM_CLASSES - 1))
    rows[np.arange(len(labels)), labels] = true_p
    return rows


def _multiclass_cases(rng, space: str, sparse: bool):
    labels = rng.integers(0, _NUM_CLASSES, size=8)
    edge_labels = np.array([0, 1, 2, 3])
    targets = (lambda idx: idx) if sparse else (lambda idx: np.eye(_NUM_CLASSES)[idx])
    logits = rng.normal(0.0, 3.0, size=(8, _NUM_CLASSES))
    if space == "probabilities":
        random = Case("random probabilities", targets(labels), _softmax(logits))
        near = _class_probability_rows(edge_labels, 1e-7)
        near[:, :] = np.where(near > 0.3, near, 1e-7)
        near /= near.sum(axis=-1, keepdims=True)
        edges = [
            Case("p in [1e-7, 1 - 1e-7]", targets(edge_labels), near),
            Case("p = 0 for the true class", targets(edge_labels), _class_probability_rows(edge_labels, 0.0)),
            Case("p = 1 for the true class", targets(edge_labels), _class_probability_rows(edge_labels, 1.0)),
        ]
    else:  # logits and scores
        random = Case(f"random {space}", targets(labels), logits)
        extreme = np.full((4, _NUM_CLASSES), -100.0)
        extreme[np.arange(4), (edge_labels + 1) % _NUM_CLASSES] = 100.0  # confidently wrong
        extreme[0] = [100.0, -100.0, 0.0, 0.0]  # confidently right
        edges = [Case(f"{space} at +-100", targets(edge_labels), extreme)]
    return [random, *edges, _weighted(random, rng)]


def _distribution_cases(rng, space: str):
    targets = rng.dirichlet(np.ones(_NUM_CLASSES), size=8)
    sparse_targets = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.2, 0.3, 0.5], [0.25] * 4])
    if space == "probabilities":
        random = Case("random distributions", targets, rng.dirichlet(np.ones(_NUM_CLASSES), size=8))
        zeros = Case("targets with zeros", sparse_targets, rng.dirichlet(np.ones(_NUM_CLASSES), size=4))
        small = Case("p = 1e-7 where the target is positive", sparse_targets,
                     _softmax(np.log(np.where(sparse_targets > 0, 1e-7, 1.0))))
        return [random, zeros, small, _weighted(random, rng)]
    random = Case("random logits", targets, rng.normal(0.0, 3.0, size=(8, _NUM_CLASSES)))
    extreme = Case("logits at +-100", sparse_targets, np.array([[100.0, -100.0, 0.0, 0.0]] * 4))
    return [random, extreme, _weighted(random, rng)]


def input_cases(loss: Loss) -> list[Case]:
    """The fixed inputs ``loss`` is compared on: typical values first, then the edge cases.

    Generated from a seed per loss, so the table is the same on every run and machine.
    """
    rng = np.random.default_rng(sum(map(ord, loss.name)))
    if loss.kind == "pointwise":
        by_space = {
            "probabilities": _probability_cases,
            "logits": _logit_cases,
            "scores": _score_cases,
        }
        if loss.prediction_space in by_space:
            return by_space[loss.prediction_space](rng)
        by_labels = {"non-negative": _non_negative_cases, "counts": _count_cases}
        return by_labels.get(loss.label_format, _real_cases)(rng)
    if loss.label_format == "distribution":
        return _distribution_cases(rng, loss.prediction_space)
    return _multiclass_cases(rng, loss.prediction_space, sparse=loss.kind == "sparse")


# -------------------------------------------------------------------------------- adapters

@dataclass(frozen=True)
class Adapter:
    """How to compute a framework's value of one loss, in losskit's argument order.

    ``compute(y_true, y_pred, *, sample_weight=None, **params)`` receives NumPy float64 arrays
    (integer labels for sparse losses) and the loss's parameters, and returns the framework's
    mean as something ``float()`` accepts. ``weighted`` says whether the framework has a
    sample-weighted mean to compare with ``reduction="mean"`` and ``sample_weight``.
    """

    compute: Callable[..., Any]
    weighted: bool = False


ADAPTERS: dict[tuple[str, str], Adapter] = {}


def _adapter(loss: str, framework: str, *, weighted: bool = False):
    def decorate(function):
        ADAPTERS[(loss, framework)] = Adapter(function, weighted)
        return function

    return decorate


def _signed(labels):
    """{0, 1} labels as {-1, +1} (frameworks that need it get the conversion losskit applies)."""
    return 2.0 * labels - 1.0 if np.all((labels == 0) | (labels == 1)) else labels


# --- PyTorch: prediction first; float64 tensors; the class axis is 1, which is the last for 2-D.

def _t(x):
    import torch

    return torch.as_tensor(np.asarray(x))


def _torch_pointwise(function_name: str, **fixed):
    def compute(y_true, y_pred, *, sample_weight=None, **params):
        import torch.nn.functional as F

        kwargs = {**fixed, **{k: v for k, v in params.items() if k in ("delta", "beta")}}
        if sample_weight is not None:
            kwargs["weight"] = _t(sample_weight)
        return getattr(F, function_name)(_t(y_pred), _t(y_true), **kwargs)

    return compute


_adapter("mean_squared_error", "torch", weighted=True)(_torch_pointwise("mse_loss"))
_adapter("half_squared_error", "torch")(_torch_pointwise("mse_loss"))
_adapter("mean_absolute_error", "torch", weighted=True)(_torch_pointwise("l1_loss"))
_adapter("huber", "torch", weighted=True)(_torch_pointwise("huber_loss"))
_adapter("smooth_l1", "torch")(_torch_pointwise("smooth_l1_loss"))
_adapter("binary_cross_entropy", "torch")(_torch_pointwise("binary_cross_entropy"))


@_adapter("root_mean_squared_error", "torch", weighted=True)
def _torch_rmse(y_true, y_pred, *, sample_weight=None):
    return _torch_pointwise("mse_loss")(y_true, y_pred, sample_weight=sample_weight).sqrt()


@_adapter("poisson", "torch")
def _torch_poisson(y_true, y_pred):
    import torch

    return torch.nn.PoissonNLLLoss(log_input=False)(_t(y_pred), _t(y_true))


@_adapter("sigmoid_cross_entropy", "torch")
def _torch_bce_with_logits(y_true, logits, *, pos_weight=None, label_smoothing=0.0):
    import torch

    weight = None if pos_weight is None else _t(pos_weight)
    return torch.nn.BCEWithLogitsLoss(pos_weight=weight)(_t(logits), _t(y_true))


@_adapter("logistic", "torch")
def _torch_soft_margin(y_true, y_pred):
    import torch

    return torch.nn.SoftMarginLoss()(_t(y_pred), _t(_signed(y_true)))


@_adapter("categorical_cross_entropy", "torch")
def _torch_nll_one_hot(y_true, y_pred, *, class_weight=None, label_smoothing=0.0):
    return _torch_nll(np.argmax(y_true, axis=-1), y_pred, class_weight=class_weight)


@_adapter("sparse_categorical_cross_entropy", "torch")
def _torch_nll(y_true, y_pred, *, class_weight=None, label_smoothing=0.0, ignore_index=None):
    import torch

    weight = None if class_weight is None else _t(class_weight)
    index = -100 if ignore_index is None else ignore_index
    return torch.nn.NLLLoss(weight=weight, ignore_index=index)(torch.log(_t(y_pred)), _t(y_true))


@_adapter("softmax_cross_entropy", "torch")
@_adapter("sparse_softmax_cross_entropy", "torch")
def _torch_cross_entropy(y_true, logits, *, class_weight=None, label_smoothing=0.0, ignore_index=None):
    import torch

    weight = None if class_weight is None else _t(class_weight)
    index = -100 if ignore_index is None else ignore_index
    criterion = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=index, label_smoothing=label_smoothing)
    return criterion(_t(logits), _t(y_true))


@_adapter("kl_divergence", "torch")
def _torch_kl(y_true, y_pred):
    import torch

    return torch.nn.KLDivLoss(reduction="batchmean")(torch.log(_t(y_pred)), _t(y_true))


@_adapter("kl_divergence_with_logits", "torch")
def _torch_kl_logits(y_true, logits):
    import torch

    return torch.nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(_t(logits), dim=-1), _t(y_true))


# --- Optax ("jax"): prediction first, no reduction (the mean is taken here), no weights.

def _optax(function_name: str, *, log_pred: str | None = None, signed_labels: bool = False, keep: tuple = ()):
    def compute(y_true, y_pred, **params):
        import jax
        import jax.numpy as jnp
        import optax

        prediction = jnp.asarray(y_pred)
        if log_pred == "log":
            prediction = jnp.log(prediction)
        elif log_pred == "log_softmax":
            prediction = jax.nn.log_softmax(prediction, axis=-1)
        target = jnp.asarray(_signed(y_true) if signed_labels else y_true)
        kwargs = {k: v for k, v in params.items() if k in keep}
        return jnp.mean(getattr(optax.losses, function_name)(prediction, target, **kwargs))

    return compute


_adapter("mean_squared_error", "jax")(_optax("squared_error"))
_adapter("half_squared_error", "jax")(_optax("l2_loss"))
_adapter("huber", "jax")(_optax("huber_loss", keep=("delta",)))
_adapter("log_cosh", "jax")(_optax("log_cosh"))
_adapter("sigmoid_cross_entropy", "jax")(_optax("sigmoid_binary_cross_entropy"))
_adapter("hinge", "jax")(_optax("hinge_loss", signed_labels=True))
_adapter("softmax_cross_entropy", "jax")(_optax("safe_softmax_cross_entropy"))
_adapter("sparse_softmax_cross_entropy", "jax")(_optax("softmax_cross_entropy_with_integer_labels"))
_adapter("kl_divergence", "jax")(_optax("kl_divergence", log_pred="log"))
_adapter("kl_divergence_with_logits", "jax")(_optax("kl_divergence", log_pred="log_softmax"))


# --- Keras: (y_true, y_pred); pointwise inputs become (n, 1) columns so that Keras' mean over
# the last axis is per element, and weights use "mean_with_sample_weight" (sum(w l) / sum(w)).

def _import_keras():
    # Keras picks its backend at import time; TensorFlow is not a dependency of losskit.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return keras


def _keras(class_name: str, *, pointwise: bool = True, rename: Mapping[str, str] | None = None, **fixed):
    rename = rename or {}

    def compute(y_true, y_pred, *, sample_weight=None, **params):
        keras = _import_keras()
        kwargs = {**fixed, **{rename[k]: v for k, v in params.items() if k in rename}}
        if sample_weight is not None:
            kwargs["reduction"] = "mean_with_sample_weight"
        if pointwise:
            y_true, y_pred = y_true[:, None], y_pred[:, None]
        return getattr(keras.losses, class_name)(**kwargs)(y_true, y_pred, sample_weight=sample_weight)

    return compute


_adapter("mean_squared_error", "keras", weighted=True)(_keras("MeanSquaredError"))
_adapter("half_squared_error", "keras", weighted=True)(_keras("MeanSquaredError"))
_adapter("mean_absolute_error", "keras", weighted=True)(_keras("MeanAbsoluteError"))
_adapter("mean_squared_logarithmic_error", "keras", weighted=True)(_keras("MeanSquaredLogarithmicError"))
_adapter("mean_absolute_percentage_error", "keras", weighted=True)(_keras("MeanAbsolutePercentageError"))
_adapter("huber", "keras", weighted=True)(_keras("Huber", rename={"delta": "delta"}))
_adapter("smooth_l1", "keras", weighted=True)(_keras("Huber", rename={"beta": "delta"}))
_adapter("log_cosh", "keras", weighted=True)(_keras("LogCosh"))
_adapter("poisson", "keras", weighted=True)(_keras("Poisson"))
_adapter("binary_cross_entropy", "keras", weighted=True)(
    _keras("BinaryCrossentropy", rename={"label_smoothing": "label_smoothing"}))
_adapter("sigmoid_cross_entropy", "keras", weighted=True)(
    _keras("BinaryCrossentropy", from_logits=True, rename={"label_smoothing": "label_smoothing"}))
_adapter("hinge", "keras", weighted=True)(_keras("Hinge"))
_adapter("squared_hinge", "keras", weighted=True)(_keras("SquaredHinge"))
_adapter("categorical_cross_entropy", "keras", weighted=True)(
    _keras("CategoricalCrossentropy", pointwise=False, rename={"label_smoothing": "label_smoothing"}))
_adapter("softmax_cross_entropy", "keras", weighted=True)(
    _keras("CategoricalCrossentropy", pointwise=False, from_logits=True, rename={"label_smoothing": "label_smoothing"}))
_adapter("sparse_categorical_cross_entropy", "keras", weighted=True)(
    _keras("SparseCategoricalCrossentropy", pointwise=False, rename={"ignore_index": "ignore_class"}))
_adapter("sparse_softmax_cross_entropy", "keras", weighted=True)(
    _keras("SparseCategoricalCrossentropy", pointwise=False, from_logits=True))
_adapter("kl_divergence", "keras", weighted=True)(_keras("KLDivergence", pointwise=False))
_adapter("categorical_hinge", "keras", weighted=True)(_keras("CategoricalHinge", pointwise=False))


@_adapter("root_mean_squared_error", "keras", weighted=True)
def _keras_rmse(y_true, y_pred, *, sample_weight=None):
    metric = _import_keras().metrics.RootMeanSquaredError()
    metric.update_state(y_true[:, None], y_pred[:, None], sample_weight=sample_weight)
    return metric.result()


# --- scikit-learn: metrics take (y_true, y_pred, sample_weight=); SGD losses are per sample.

def _sklearn_metric(function_name: str, *, rename: Mapping[str, str] | None = None, **fixed):
    rename = rename or {}

    def compute(y_true, y_pred, *, sample_weight=None, **params):
        import sklearn.metrics

        kwargs = {**fixed, **{rename[k]: v for k, v in params.items() if k in rename}}
        return getattr(sklearn.metrics, function_name)(y_true, y_pred, sample_weight=sample_weight, **kwargs)

    return compute


_adapter("mean_squared_error", "sklearn", weighted=True)(_sklearn_metric("mean_squared_error"))
_adapter("mean_absolute_error", "sklearn", weighted=True)(_sklearn_metric("mean_absolute_error"))
_adapter("root_mean_squared_error", "sklearn", weighted=True)(_sklearn_metric("root_mean_squared_error"))
_adapter("mean_squared_logarithmic_error", "sklearn", weighted=True)(_sklearn_metric("mean_squared_log_error"))
_adapter("root_mean_squared_logarithmic_error", "sklearn", weighted=True)(
    _sklearn_metric("root_mean_squared_log_error"))
_adapter("mean_absolute_percentage_error", "sklearn", weighted=True)(
    _sklearn_metric("mean_absolute_percentage_error"))
_adapter("quantile", "sklearn", weighted=True)(_sklearn_metric("mean_pinball_loss", rename={"q": "alpha"}))
_adapter("poisson", "sklearn", weighted=True)(_sklearn_metric("mean_poisson_deviance"))
_adapter("binary_cross_entropy", "sklearn", weighted=True)(_sklearn_metric("log_loss", labels=[0.0, 1.0]))
_adapter("hinge", "sklearn", weighted=True)(_sklearn_metric("hinge_loss"))
_adapter("sparse_categorical_cross_entropy", "sklearn", weighted=True)(
    _sklearn_metric("log_loss", labels=list(range(_NUM_CLASSES))))


@_adapter("categorical_cross_entropy", "sklearn", weighted=True)
def _sklearn_log_loss_one_hot(y_true, y_pred, *, sample_weight=None, **params):
    return _sklearn_metric("log_loss", labels=list(range(_NUM_CLASSES)))(
        np.argmax(y_true, axis=-1), y_pred, sample_weight=sample_weight)


def _sgd(estimator: str, loss_name: str, *, parameter: str | None = None, signed_labels: bool = False):
    """The per-sample loss an SGD estimator minimises, averaged over the samples.

    Read from the estimator's ``loss_functions`` table (class and default arguments), the same
    objects ``fit`` uses; ``parameter`` names the losskit parameter that replaces the default
    (scikit-learn calls it ``epsilon``).
    """

    def compute(y_true, y_pred, **params):
        import sklearn.linear_model

        loss_class, *arguments = getattr(sklearn.linear_model, estimator).loss_functions[loss_name]
        if parameter is not None:
            arguments = [params[parameter]]
        loss = loss_class(*arguments)
        # SGD's classifiers see {-1, +1} targets, except log_loss which keeps {0, 1}.
        target = np.where(y_true > 0, 1.0, -1.0) if signed_labels else np.asarray(y_true, dtype=np.float64)
        raw = np.ascontiguousarray(y_pred, dtype=np.float64)
        if hasattr(loss, "py_loss"):
            values = [loss.py_loss(p, y) for p, y in zip(raw, target)]
        else:
            values = np.empty_like(raw)
            loss.loss(y_true=np.ascontiguousarray(target), raw_prediction=raw, sample_weight=None,
                      loss_out=values, n_threads=1)
        return np.mean(values)

    return compute


_adapter("half_squared_error", "sklearn")(_sgd("SGDRegressor", "squared_error"))
_adapter("huber", "sklearn")(_sgd("SGDRegressor", "huber", parameter="delta"))
_adapter("epsilon_insensitive", "sklearn")(_sgd("SGDRegressor", "epsilon_insensitive", parameter="epsilon"))
_adapter("sigmoid_cross_entropy", "sklearn")(_sgd("SGDClassifier", "log_loss"))
_adapter("squared_hinge", "sklearn")(_sgd("SGDClassifier", "squared_hinge", signed_labels=True))
_adapter("modified_huber", "sklearn")(_sgd("SGDClassifier", "modified_huber", signed_labels=True))


# ---------------------------------------------------------------------------- comparisons

@dataclass(frozen=True)
class _Outcome:
    """Both values on one case (``framework`` is an exception if the framework raised).

    ``params`` holds only the parameters the grid varies (the ones worth naming in a reason).
    """

    case: str
    params: dict
    framework: Any
    losskit: float
    rel_diff: float
    zero: float = _ZERO_FLOAT64
    rtol: float = RTOL_FLOAT64

    @property
    def ratio(self) -> float | None:
        if isinstance(self.framework, BaseException) or not (math.isfinite(self.framework) and math.isfinite(self.losskit)):
            return None
        if abs(self.framework) <= self.zero and abs(self.losskit) <= self.zero:
            return None
        return self.framework / self.losskit if self.losskit != 0 else None


def _relative_difference(a: float, b: float, zero: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.inf
    if a == b:  # also equal infinities
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    scale = max(abs(a), abs(b))
    return 0.0 if scale <= zero else abs(a - b) / scale


def _as_float32_inputs(case: Case) -> Case:
    """The inputs as a float32 framework sees them (so rounding of 1 - 1e-7 is not a 'difference')."""

    def rounded(x):
        return x if x is None or np.issubdtype(x.dtype, np.integer) else x.astype(np.float32).astype(np.float64)

    return Case(case.name, rounded(case.y_true), rounded(case.y_pred), rounded(case.sample_weight))


def _losskit_value(loss: Loss, case: Case, params: dict) -> float:
    return float(loss(case.y_true, case.y_pred, sample_weight=case.sample_weight, **params))


def _framework_value(adapter: Adapter, case: Case, params: dict) -> tuple[Any, bool]:
    """The framework's value and whether it computed in float32; an exception is a value too."""
    kwargs = dict(params)
    if case.sample_weight is not None:
        kwargs["sample_weight"] = case.sample_weight
    try:
        result = np.asarray(adapter.compute(case.y_true.copy(), case.y_pred.copy(), **kwargs))
    except Exception as exc:  # a framework rejecting an input is a finding, reported in the cell
        return exc, False
    return float(result), result.dtype == np.float32


def _compare_case(loss: Loss, adapter: Adapter, case: Case, setting: dict) -> _Outcome:
    params = {**loss.defaults, **setting}
    value, single_precision = _framework_value(adapter, case, params)
    zero = _ZERO_FLOAT32 if single_precision else _ZERO_FLOAT64
    reference = _losskit_value(loss, _as_float32_inputs(case) if single_precision else case, params)
    rtol = RTOL_FLOAT32 if single_precision else RTOL_FLOAT64
    if isinstance(value, BaseException):
        return _Outcome(case.name, setting, value, reference, math.inf, zero, rtol)
    return _Outcome(case.name, setting, value, reference, _relative_difference(value, reference, zero), zero, rtol)


def _within_tolerance(outcome: _Outcome) -> bool:
    return outcome.rel_diff <= outcome.rtol


def _parameter_settings(loss: Loss) -> list[dict[str, Any]]:
    return [dict(setting) for setting in PARAMETER_GRID.get(loss.name, ({},))]


def _describe_params(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _explain(loss: Loss, framework: str, failing: list[_Outcome], outcomes: list[_Outcome], note: str,
             api: str, relation: str) -> str:
    """Where the values part, by how much (measured), and the registry's documented reason."""
    name = DISPLAY_NAMES[framework]
    first = failing[0]
    at_params = f" at {_describe_params(first.params)}" if first.params else ""
    factor = _common_factor([o for o in outcomes if o.params == first.params])
    if factor is not None:
        text = f"scaled{at_params}: {name} = {factor:.4g} x losskit"
    elif isinstance(first.framework, BaseException):
        message = str(first.framework).splitlines()[0] if str(first.framework) else ""
        text = f"{first.case}{at_params}: {name} raises {type(first.framework).__name__}: {message}"
    else:
        text = f"{first.case}{at_params}: {name} {_format_value(first.framework)} vs losskit {_format_value(first.losskit)}"
        text += _weighting_diagnosis(loss, first, name)
        others = sorted({o.case for o in failing if o.params == first.params and o.case != first.case})
        if others:
            text += f"; also differs on: {', '.join(others)}"
    failing_settings = {_describe_params(o.params) for o in failing}
    equal_settings = sorted({_describe_params(o.params) for o in outcomes if o.params} - failing_settings)
    if equal_settings:
        text += f" (equal at {'; '.join(equal_settings)})"
    if note:
        text += f"; {note}"
    if relation != "equal":
        text += f" (equivalent: {api})"
    return text


def _common_factor(outcomes: list[_Outcome]) -> float | None:
    """The k with framework = k * losskit on every case, if there is one (cases where both are 0 fit any k)."""
    ratios = []
    for outcome in outcomes:
        if outcome.ratio is None:
            if outcome.rel_diff == 0.0:  # both zero
                continue
            return None
        ratios.append(outcome.ratio)
    if ratios and all(abs(r - ratios[0]) <= 1e-4 * abs(ratios[0]) for r in ratios):
        return ratios[0]
    return None


def _weighting_diagnosis(loss: Loss, outcome: _Outcome, name: str) -> str:
    """Explain a weighted-mean mismatch when the framework divides by the element count."""
    case = next((c for c in input_cases(loss) if c.name == outcome.case), None)
    if case is None or case.sample_weight is None:
        return ""
    weighted_sum = float(loss(case.y_true, case.y_pred, sample_weight=case.sample_weight,
                              reduction="sum", **{**loss.defaults, **outcome.params}))
    per_element = weighted_sum / case.y_pred.size
    if _relative_difference(outcome.framework, per_element, outcome.zero) <= outcome.rtol:
        return f" ({name} divides sum(w*l) by the number of elements, not by sum(w))"
    return ""


def _compare(loss: Loss, framework: str, api: str, relation: str, note: str) -> Cell:
    adapter = ADAPTERS[(loss.name, framework)]
    outcomes = [
        _compare_case(loss, adapter, case, setting)
        for setting in _parameter_settings(loss)
        for case in input_cases(loss)
        if case.sample_weight is None or adapter.weighted
    ]
    max_diff = max(o.rel_diff for o in outcomes)
    failing = [o for o in outcomes if not _within_tolerance(o)]
    if not failing:
        return Cell("equal", max_diff, "", api, relation)
    reason = _explain(loss, framework, failing, outcomes, note, api, relation)
    return Cell("differs", max_diff if math.isfinite(max_diff) else None, reason, api, relation)


# ----------------------------------------------------------------------------------- table

def _framework_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"framework names must be strings; got {type(name).__name__}")
    key = name.strip().lower()
    key = _SYNONYMS.get(key, key)
    if key not in FRAMEWORKS:
        raise ValueError(f"unknown framework {name!r}; choose from {', '.join(FRAMEWORKS)} (jax means Optax)")
    return key


def _parse_frameworks(frameworks: str | Iterable[str] | None) -> tuple[str, ...]:
    if frameworks is None:
        return FRAMEWORKS
    if isinstance(frameworks, str):
        frameworks = [part for part in frameworks.split(",") if part.strip()]
    chosen = [_framework_name(name) for name in frameworks]
    if not chosen:
        raise ValueError(f"frameworks must name at least one of {', '.join(FRAMEWORKS)}")
    return tuple(dict.fromkeys(chosen))


def is_installed(framework: str) -> bool:
    """Whether the modules a framework's column needs can be imported (without importing them)."""
    return all(importlib.util.find_spec(module) is not None for module in _MODULES[_framework_name(framework)])


def _cell(loss: Loss, framework: str, installed: bool) -> Cell:
    equivalent = next((e for e in loss.equivalents if _FROM_REGISTRY.get(e.framework) == framework), None)
    if equivalent is None:
        return Cell("not-applicable", reason=f"{DISPLAY_NAMES[framework]} has no equivalent in the registry")
    if not installed:
        return Cell("not-installed", reason=f"{DISPLAY_NAMES[framework]} is not installed",
                    api=equivalent.api, relation=equivalent.relation)
    return _compare(loss, framework, equivalent.api, equivalent.relation, equivalent.note)


def table(frameworks: str | Iterable[str] | None = None) -> ConformanceTable:
    """Compare every loss of the catalog with each framework that has it.

    Parameters
    ----------
    frameworks : iterable of str, a comma-separated string, or None
        Any of ``torch``, ``jax`` (Optax), ``keras``, ``sklearn``; None means all four.

    Returns
    -------
    ConformanceTable
        One row per loss that at least one chosen framework has (per the registry's
        ``equivalents``), one :class:`Cell` per framework.

    Raises
    ------
    ValueError
        For an unknown framework name.
    """
    chosen = _parse_frameworks(frameworks)
    installed = {fw: is_installed(fw) for fw in chosen}
    rows: dict[str, dict[str, Cell]] = {}
    for loss in catalog():
        compared = {_FROM_REGISTRY.get(e.framework) for e in loss.equivalents}
        if not compared.intersection(chosen):
            continue
        rows[loss.name] = {fw: _cell(loss, fw, installed[fw]) for fw in chosen}
    return ConformanceTable(chosen, rows)
