"""The conformance table: losskit's numbers next to PyTorch's, Optax's, Keras's, scikit-learn's, MONAI's, kornia's and SciPy's.

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

Each framework's value comes from the runnable table of :mod:`losskit.equivalents`: the
framework's own function (the one named in the registry) in losskit's argument order, which
converts the form of the arguments (prediction first, class axis, log of probabilities, {-1, +1}
labels) but never rescales the result, so a documented factor (SmoothL1 = Huber / beta,
scikit-learn's MAPE as a fraction) shows up as a measured difference. Where the framework's own
API takes sample weights, its weighted mean is compared too.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from . import equivalents
from ._loss import Loss
from ._registry import catalog

__all__ = ["Cell", "ConformanceTable", "FRAMEWORKS", "STATUSES", "input_cases", "table"]

# The names users type, the registry's name for each, and a display name.
# The domain libraries (MONAI, kornia, SciPy) are the reference of a few losses each (Dice,
# the robust family, Jensen-Shannon); their columns are n/a elsewhere.
FRAMEWORKS = ("torch", "jax", "keras", "sklearn", "monai", "kornia", "scipy", "tensorflow")
_REGISTRY_NAME = {"torch": "torch", "jax": "optax", "keras": "keras", "sklearn": "sklearn",
                  "monai": "monai", "kornia": "kornia", "scipy": "scipy", "tensorflow": "tensorflow"}
_FROM_REGISTRY = {registry: public for public, registry in _REGISTRY_NAME.items()}
_SYNONYMS = {"optax": "jax", "pytorch": "torch", "scikit-learn": "sklearn", "tf": "tensorflow"}
_MODULES = {"torch": ("torch",), "jax": ("jax", "optax"), "keras": ("keras",), "sklearn": ("sklearn",),
            "monai": ("monai", "torch"), "kornia": ("kornia", "torch"), "scipy": ("scipy",),
            "tensorflow": ("tensorflow",)}
DISPLAY_NAMES = {"torch": "PyTorch", "jax": "JAX (Optax)", "keras": "Keras", "sklearn": "scikit-learn",
                 "monai": "MONAI", "kornia": "kornia", "scipy": "SciPy", "tensorflow": "TensorFlow"}

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
    # Every class of power scikit-learn accepts; cases outside a power's domain (y = 0 at power >= 2) are skipped.
    "tweedie_deviance": tuple({"power": p} for p in (1.5, -1.0, 0.0, 1.0, 1.2, 1.9, 2.0, 3.0)),
    "pseudo_huber": ({"delta": 1.0}, {"delta": 0.5}),
    "cauchy": ({"scale": 1.0}, {"scale": 0.5}),
    "geman_mcclure": ({"scale": 1.0}, {"scale": 0.5}),
    "welsch": ({"scale": 1.0}, {"scale": 0.5}),
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
    """One fixed input of the comparison; ``name`` is how a difference is located (``p = 0 and 1``).

    ``others`` holds the predictions after the first of a loss with several (a variance).
    """

    name: str
    y_true: np.ndarray
    y_pred: np.ndarray
    sample_weight: np.ndarray | None = None
    others: tuple[np.ndarray, ...] = ()

    @property
    def predictions(self) -> tuple[np.ndarray, ...]:
        return (self.y_pred, *self.others)

    @property
    def args(self) -> tuple[np.ndarray, ...]:
        """The positional arguments: the target (none for a loss without one), then the predictions."""
        return self.predictions if self.y_true is None else (self.y_true, *self.predictions)


_NUM_CLASSES = 4


def _weighted(case: Case, rng: np.random.Generator) -> Case:
    # A zero weight is included on purpose: it separates sum(w*l)/sum(w) from sum(w*l)/n.
    n = case.y_pred.shape[0]
    weights = rng.uniform(0.5, 2.0, size=n)
    weights[1] = 0.0
    return Case("with sample_weight (one weight 0)", case.y_true, case.y_pred, weights, case.others)


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


def _gaussian_cases(rng):
    y = rng.normal(size=12)
    random = Case("random means and variances", y, y + rng.normal(size=12), others=(rng.uniform(0.1, 3.0, size=12),))
    floored = Case("variances at and below eps", y[:4], y[:4] + 0.5, others=(np.array([0.0, 1e-9, 1e-6, 1e-3]),))
    return [random, floored, _weighted(random, rng)]


def _positive_cases(rng):
    random = Case("random positive values", rng.gamma(2.0, 2.0, size=12), rng.gamma(2.0, 2.0, size=12))
    extremes = Case("values of 1e-6 and 1e6", np.array([1e-6, 1e6, 1e-6, 1e6]), np.array([1e6, 1e-6, 1e-6, 1e6]))
    # Nearer than this scikit-learn's closed forms cancel (1e-16 / (y_pred/y_true - 1)^2 relative error).
    close = Case("y_pred within 1e-4 of y_true (relative)", np.array([1.0, 3.0, 1e3]),
                 np.array([1.0 + 1e-4, 3.0 - 3e-4, 1e3 + 1e-1]))
    return [random, extremes, close, _weighted(random, rng)]


def _tweedie_cases(rng):
    # Zero-inflated targets, the compound Poisson-gamma's own data; y = 0 needs power < 2.
    targets = rng.gamma(2.0, 2.0, size=12) * (rng.random(12) < 0.6)
    random = Case("zero-inflated targets", targets, rng.gamma(2.0, 2.0, size=12))
    zeros = Case("zero targets, means of 1e-6 and 1e3", np.array([0.0, 0.0, 0.0, 2.0]), np.array([1e-6, 1.0, 1e3, 2.0]))
    return [random, zeros, *_positive_cases(rng)[1:3], _weighted(random, rng)]


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


def _overlap_cases(rng):
    """Segmentation masks (N, H, W, C), class axis last: one-hot targets, softmax predictions."""
    shape = (3, 4, 4, _NUM_CLASSES)
    labels = rng.integers(0, _NUM_CLASSES, size=shape[:-1])
    random = Case("random soft masks", np.eye(_NUM_CLASSES)[labels], _softmax(rng.normal(0.0, 2.0, size=shape)))
    # The last class absent from both masks of every sample: losskit scores it 0.
    absent = np.eye(_NUM_CLASSES)[np.minimum(labels, _NUM_CLASSES - 2)]
    predicted = _softmax(rng.normal(0.0, 2.0, size=shape))
    predicted[..., -1] = 0.0
    predicted /= predicted.sum(axis=-1, keepdims=True)
    empty = Case("an empty class", absent, predicted)
    # Class 1 is a single pixel of the first sample (and absent from the others).
    one_pixel_labels = np.where(labels == 1, 0, labels)
    one_pixel_labels[0, 1, 2] = 1
    one_pixel = Case("a one-pixel mask", np.eye(_NUM_CLASSES)[one_pixel_labels], random.y_pred)
    perfect = Case("perfect masks (p = y)", random.y_true, random.y_true.copy())
    return [random, empty, one_pixel, perfect, _weighted(random, rng)]


def _linear_head_cases(rng):
    """linear_cross_entropy: hidden states and a head (V, D); ordinary, large (logits ~ 1e3) and zero hidden states."""
    n, d, v = 8, 5, 11
    hidden, weight = rng.normal(size=(n, d)), rng.normal(size=(v, d))
    labels = rng.integers(0, v, size=n)
    random = Case("random hidden states", labels, hidden, others=(weight,))
    cases = [random, Case("logits of order 1e3", labels, 300.0 * hidden, others=(weight,)),
             Case("zero hidden states (uniform softmax)", labels, np.zeros((n, d)), others=(weight,))]
    return cases + [_weighted(random, rng)]


def _embedding_cases(rng, loss: Loss):
    """Random embeddings, nearly parallel and antiparallel rows, zero rows (the eps clamps), huge norms."""
    n, d = 8, 5
    a, b, c = (rng.normal(size=(n, d)) for _ in range(3))
    nudge = 1e-4 * rng.normal(size=(n, d))
    cases = [("random embeddings", a, b, c), ("nearly parallel rows", a, a + nudge, a - nudge),
             ("nearly antiparallel rows", a, -a + nudge, a + 1.0), ("zero rows", np.zeros((4, d)), b[:4], c[:4]),
             ("rows of norm 1e30", 1e30 * a[:4], 1e30 * b[:4], 1e30 * c[:4])]
    if loss.name == "info_nce":  # a zero row in one batch, a nonzero one in the other
        cases[3] = ("a zero row", np.vstack([np.zeros((1, d)), a[1:4]]), b[:4], c[:4])
    labels = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    built = []
    for name, *rows in cases:
        inputs = rows[:len(loss.inputs) + (loss.has_target and loss.target_shape == "same")]
        if not loss.has_target:
            built.append(Case(name, None, inputs[0], others=tuple(inputs[1:])))
        elif loss.target_shape == "same":
            built.append(Case(name, inputs[0], inputs[1], others=tuple(inputs[2:])))
        else:  # labels +-1, one per row
            built.append(Case(name, labels[:len(inputs[0])], inputs[0], others=tuple(inputs[1:])))
    return [*built, _weighted(built[0], rng)]


def _ranking_cases(rng):
    labels = np.where(rng.random(12) < 0.5, -1.0, 1.0)
    x1, x2 = rng.normal(size=12), rng.normal(size=12)
    random = Case("random scores, labels +-1", labels, x1, others=(x2,))
    zero_one = Case("labels in {0, 1}", (labels + 1.0) / 2.0, x1, others=(x2,))
    ties = Case("equal scores", labels[:4], x1[:4], others=(x1[:4].copy(),))
    return [random, zero_one, ties, _weighted(random, rng)]


def input_cases(loss: Loss) -> list[Case]:
    """The fixed inputs ``loss`` is compared on: typical values first, then the edge cases.

    Generated from a seed per loss, so the table is the same on every run and machine.
    """
    rng = np.random.default_rng(sum(map(ord, loss.name)))
    if loss.name == "margin_ranking":
        return _ranking_cases(rng)
    if loss.inputs == ("hidden", "weight"):
        return _linear_head_cases(rng)
    if loss.kind == "rowwise":
        return _embedding_cases(rng, loss)
    if loss.inputs == ("mean", "variance"):
        return _gaussian_cases(rng)
    if loss.kind == "overlap":
        return _overlap_cases(rng)
    if loss.kind == "pointwise":
        by_space = {
            "probabilities": _probability_cases,
            "logits": _logit_cases,
            "scores": _score_cases,
        }
        if loss.prediction_space in by_space:
            return by_space[loss.prediction_space](rng)
        if loss.name == "tweedie_deviance":
            return _tweedie_cases(rng)
        by_labels = {"non-negative": _non_negative_cases, "counts": _count_cases, "positive": _positive_cases}
        return by_labels.get(loss.label_format, _real_cases)(rng)
    if loss.label_format == "distribution":
        return _distribution_cases(rng, loss.prediction_space)
    return _multiclass_cases(rng, loss.prediction_space, sparse=loss.kind == "sparse")


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

    return Case(case.name, rounded(case.y_true), rounded(case.y_pred), rounded(case.sample_weight),
                tuple(rounded(x) for x in case.others))


def _losskit_value(loss: Loss, case: Case, params: dict) -> float:
    return float(loss(*case.args, sample_weight=case.sample_weight, **params))


def _framework_value(entry: equivalents.Entry, case: Case, params: dict) -> tuple[Any, bool]:
    """The framework's value and whether it computed in float32; an exception is a value too."""
    try:
        result = entry.compute(*case.args, params=params, sample_weight=case.sample_weight)
    except Exception as exc:  # a framework rejecting an input is a finding, reported in the cell
        return exc, False
    return float(result), result.dtype == np.float32


def _compare_case(loss: Loss, entry: equivalents.Entry, case: Case, setting: dict) -> _Outcome:
    params = {**loss.defaults, **setting}
    value, single_precision = _framework_value(entry, case, params)
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
    weighted_sum = float(loss(*case.args, sample_weight=case.sample_weight,
                              reduction="sum", **{**loss.defaults, **outcome.params}))
    per_element = weighted_sum / case.y_pred.size
    if _relative_difference(outcome.framework, per_element, outcome.zero) <= outcome.rtol:
        return f" ({name} divides sum(w*l) by the number of elements, not by sum(w))"
    return ""


def _in_domain(loss: Loss, case: Case, setting: dict) -> bool:
    """Whether losskit accepts ``case`` at ``setting`` (a target of 0 is outside the Tweedie domain at power >= 2)."""
    if not setting:
        return True
    try:
        _losskit_value(loss, case, {**loss.defaults, **setting})
    except ValueError:
        return False
    return True


def _compare(loss: Loss, framework: str, entry: equivalents.Entry) -> Cell:
    api, relation, note = entry.api, entry.relation, entry.note
    outcomes = [
        _compare_case(loss, entry, case, setting)
        for setting in _parameter_settings(loss)
        for case in input_cases(loss)
        if (case.sample_weight is None or entry.sample_weight) and _in_domain(loss, case, setting)
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
    entry = equivalents.find(loss.name, _REGISTRY_NAME[framework])
    if entry is None:
        return Cell("not-applicable", reason=f"{DISPLAY_NAMES[framework]} has no equivalent in the registry")
    if entry.fn is None:  # the registry records that the framework lacks the loss, and why
        return Cell("not-applicable", reason=entry.note, api=entry.api, relation=entry.relation)
    if not installed:
        return Cell("not-installed", reason=f"{DISPLAY_NAMES[framework]} is not installed",
                    api=entry.api, relation=entry.relation)
    return _compare(loss, framework, entry)


def table(
    frameworks: str | Iterable[str] | None = None, progress: Callable[[int, int, str], None] | None = None,
) -> ConformanceTable:
    """Compare every loss of the catalog with each framework that has it.

    Parameters
    ----------
    frameworks : iterable of str, a comma-separated string, or None
        Any of ``torch``, ``jax`` (Optax), ``keras``, ``sklearn``, ``monai``, ``kornia``,
        ``scipy``; None means all of them.
    progress : callable, optional
        Called as ``progress(done, total, loss_name)`` before each loss of the catalog is
        compared (and once more with ``done == total`` at the end); the command line draws
        its progress bar with it.

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
    losses = catalog()
    for done, loss in enumerate(losses):
        if progress is not None:
            progress(done, len(losses), loss.name)
        compared = {_FROM_REGISTRY.get(e.framework) for e in loss.equivalents}
        if not compared.intersection(chosen):
            continue
        rows[loss.name] = {fw: _cell(loss, fw, installed[fw]) for fw in chosen}
    if progress is not None:
        progress(len(losses), len(losses), "")
    return ConformanceTable(chosen, rows)
