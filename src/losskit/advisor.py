"""``lk.recommend``: which loss fits a task, stated by the user or read from the data.

The advice is a table of :class:`Rule` objects (:data:`RULES`), each one a condition on a
:class:`Profile`, a loss of the catalog (with parameters), a score and a one-line reason with
its source. :func:`recommend` builds the profile from what the user states and, when a target
column or array is given, from what :func:`profile_target` finds in it (stated facts win), then
returns every matching rule's loss, best score first. Adding advice means adding a row to
:data:`RULES`; nothing else changes.

>>> import losskit as lk
>>> advice = lk.recommend(task="regression", outliers="some")
>>> advice[0].loss
'huber'
>>> advice = lk.recommend(task="binary", output_activation="linear")
>>> advice[0].loss, advice[0].params
('sigmoid_cross_entropy', {})
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from ._errors import ArgumentError
from ._loss import TASKS

__all__ = [
    "recommend",
    "profile_target",
    "read_csv_column",
    "Advice",
    "DataProfile",
    "Profile",
    "Recommendation",
    "Rule",
    "RULES",
    "OUTPUT_ACTIVATIONS",
    "OUTLIER_LEVELS",
    "NEEDS",
]

OUTPUT_ACTIVATIONS = ("linear", "sigmoid", "softmax", "none")  # "none" (no activation) means linear
OUTLIER_LEVELS = ("none", "some", "heavy")
NEEDS = ("calibrated-probabilities", "quantiles", "counts", "margins", "uncertainty")
# The needs that only a regression loss serves.
_REGRESSION_NEEDS = ("quantiles", "counts", "uncertainty")

# Outliers are values beyond OUTLIER_Z scaled MADs of the median. Gaussian data has 0.27% of its
# values there; a share above SOME_OUTLIERS (about 4x that) or HEAVY_OUTLIERS flags heavy tails.
# For reference: Laplace noise gives about 4.6% and Student's t with 2 degrees of freedom 6.8%.
OUTLIER_Z = 3.0
SOME_OUTLIERS = 0.01
HEAVY_OUTLIERS = 0.05
# 1.4826 * MAD estimates the standard deviation of Gaussian data (Rousseeuw & Croux, 1993).
_MAD_TO_SIGMA = 1.4826
# Classes are imbalanced when the largest is at least this many times the smallest (a minority
# below 20% for two classes).
IMBALANCE_RATIO = 4.0
# Non-negative targets are zero-inflated when at least this share of them is exactly 0 (insurance
# claims, rainfall, sales per day): a point mass at 0 next to a continuous or count tail, which
# the Tweedie compound Poisson-gamma family (1 < power < 2) models and a Gaussian does not.
ZERO_INFLATED_SHARE = 0.3
# Cui et al. (2019) use beta = 0.999 on long-tailed CIFAR and ImageNet.
CLASS_BALANCED_BETA = 0.999

_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})


# ------------------------------------------------------------------------------------ profiles


@dataclass(frozen=True)
class DataProfile:
    """What :func:`profile_target` found in a target column.

    ``kind`` is ``"real"``, ``"integer"``, ``"binary"`` (two numeric values 0/1) or
    ``"categorical"`` (text labels). ``outlier_share`` is the share of values beyond
    ``OUTLIER_Z`` scaled MADs of the median (numeric regression targets only) and ``tail`` says on
    which side those values lie. For classification, ``classes`` and ``class_counts`` are in
    sorted label order, the order of ``class_weight`` and of an integer label encoding.
    """

    n: int
    kind: str
    task: str
    outliers: str | None = None
    outlier_share: float | None = None
    tail: str | None = None
    counts: bool = False
    strictly_positive: bool = False
    zero_share: float | None = None
    classes: tuple = ()
    class_counts: tuple[int, ...] = ()
    findings: tuple[str, ...] = ()

    @property
    def imbalance_ratio(self) -> float | None:
        """Largest class count over the smallest (classification only)."""
        return max(self.class_counts) / min(self.class_counts) if self.class_counts else None

    @property
    def imbalanced(self) -> bool | None:
        ratio = self.imbalance_ratio
        return None if ratio is None else ratio >= IMBALANCE_RATIO

    @property
    def pos_weight(self) -> float | None:
        """``n_negative / n_positive`` for binary targets (the last class in sorted order is positive)."""
        if len(self.class_counts) != 2:
            return None
        return _round(self.class_counts[0] / self.class_counts[1])

    @property
    def class_weight(self) -> list[float] | None:
        """scikit-learn's "balanced" weights ``n / (num_classes * count)``, in sorted class order."""
        if len(self.class_counts) < 2:
            return None
        k = len(self.class_counts)
        return [_round(self.n / (k * count)) for count in self.class_counts]

    @property
    def zero_inflated(self) -> bool | None:
        """Non-negative targets of which at least ``ZERO_INFLATED_SHARE`` are exactly 0 (regression only)."""
        return None if self.zero_share is None else self.zero_share >= ZERO_INFLATED_SHARE

    @property
    def class_balanced_weight(self) -> list[float] | None:
        """Cui et al.'s effective-number weights (beta = ``CLASS_BALANCED_BETA``), in sorted class order."""
        if len(self.class_counts) < 2:
            return None
        from . import class_balanced_weights

        weights = class_balanced_weights(np.asarray(self.class_counts, dtype=float), beta=CLASS_BALANCED_BETA)
        return [_round(float(w)) for w in weights]
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = [_plain(c) for c in self.classes]
        data.update(
            imbalance_ratio=self.imbalance_ratio, imbalanced=self.imbalanced,
            pos_weight=self.pos_weight, class_weight=self.class_weight, zero_inflated=self.zero_inflated,
        )
        data["findings"] = list(self.findings)
        return data


@dataclass(frozen=True)
class Profile:
    """The situation the rules are matched against: what the user stated, completed from the data.

    ``None`` means unknown. ``output_activation="none"`` is stored as ``"linear"`` (both mean the
    model emits raw values, i.e. logits for a classifier).
    """

    task: str | None = None
    output_activation: str | None = None
    outliers: str | None = None
    imbalance: bool | None = None
    need: str | None = None
    counts: bool | None = None
    strictly_positive: bool | None = None
    tail: str | None = None
    zero_inflated: bool | None = None


@dataclass(frozen=True)
class Rule:
    """One piece of advice: when ``when`` holds, recommend ``loss`` with ``score`` and ``reason``.

    ``when`` maps a :class:`Profile` field to the values it may take (``None`` stands for
    "unknown"); fields not listed are free. ``params_from_data`` maps a loss parameter to the
    :class:`DataProfile` attribute that estimates it (used only when data was inspected).
    """

    loss: str
    when: Mapping[str, tuple]
    score: int
    reason: str
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)
    params_from_data: Mapping[str, str] = field(default_factory=dict)

    def matches(self, profile: Profile) -> bool:
        return all(getattr(profile, name) in accepted for name, accepted in self.when.items())

    @property
    def condition(self) -> str:
        """The condition as text, for documentation: ``task=regression, outliers in {some, heavy}``."""
        parts = []
        for name, accepted in self.when.items():
            shown = ["unknown" if v is None else str(v).lower() for v in accepted]
            parts.append(f"{name}={shown[0]}" if len(shown) == 1 else f"{name} in {{{', '.join(shown)}}}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Recommendation:
    """A loss of the catalog, the parameters to use with it, its score and why."""

    loss: str
    params: dict[str, Any]
    score: int
    reason: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Advice(Sequence):
    """The ranked recommendations (indexable like a list), the profile used and what the data showed."""

    recommendations: tuple[Recommendation, ...]
    profile: Profile
    data: DataProfile | None = None

    def __getitem__(self, index):
        return self.recommendations[index]

    def __len__(self) -> int:
        return len(self.recommendations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": asdict(self.profile),
            "data": None if self.data is None else self.data.to_dict(),
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


# --------------------------------------------------------------------------------------- rules

_REGRESSION = {"task": ("regression",)}
_BINARY = {"task": ("binary",)}
_MULTICLASS = {"task": ("multiclass",)}
_SEGMENTATION = {"task": ("segmentation",)}
_EMBEDDING = {"task": ("embedding",)}
_LOGITS = ("linear", None)  # raw outputs, or nothing stated: recommend the logit form
_NO_OUTLIERS = ("none", None)
_NOT_COUNTS = (False, None)
_BALANCED = (False, None)

_BISHOP = "Bishop, Pattern Recognition and Machine Learning (2006), sec. 1.2.5 and 3.1.1"
_GOODFELLOW = "Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2"
_PROPER = "Gneiting & Raftery, Strictly proper scoring rules (JASA 2007)"
_CLASS_WEIGHTS = "King & Zeng, Logistic regression in rare events data (2001); scikit-learn class_weight='balanced'"
_FOCAL = "Lin et al., Focal loss for dense object detection (ICCV 2017)"
_CLASS_BALANCED = "Cui et al., Class-balanced loss based on effective number of samples (CVPR 2019)"
_TWEEDIE = "Jorgensen, The Theory of Dispersion Models (1997); Zhou, Yang & Qian, Tweedie gradient boosting (2022)"
_DICE = "Milletari, Navab & Ahmadi, V-Net (3DV 2016); Sudre et al., Generalised Dice overlap (2017)"
_TVERSKY = "Salehi, Erdogmus & Gholipour, Tversky loss function for image segmentation (2017)"

#: The advisor's knowledge, one row per piece of advice (see :class:`Rule`).
RULES: tuple[Rule, ...] = (
    # ---- regression
    Rule("mean_squared_error", {**_REGRESSION, "outliers": _NO_OUTLIERS, "need": (None,), "counts": _NOT_COUNTS}, 90,
         "Gaussian-like noise with a linear output: MSE is the maximum-likelihood loss and estimates the conditional mean.",
         _BISHOP),
    Rule("huber", {**_REGRESSION, "outliers": _NO_OUTLIERS, "need": (None,), "counts": _NOT_COUNTS}, 70,
         "A safe alternative should outliers appear: half the squared error within delta, linear beyond it.",
         "Huber, Robust estimation of a location parameter (1964)"),
    Rule("mean_squared_error", {**_REGRESSION, "outliers": ("some", "heavy"), "need": (None,), "counts": _NOT_COUNTS}, 40,
         "Only if the extreme values are signal to be fitted: each outlier's squared error dominates the mean.",
         "Huber, Robust estimation of a location parameter (1964)"),
    Rule("huber", {**_REGRESSION, "outliers": ("some",), "need": (None,)}, 95,
         "Some outliers: quadratic near zero and linear beyond delta, so an outlier pulls with bounded force; "
         "set delta near the noise scale.",
         "Huber, Robust estimation of a location parameter (1964)"),
    Rule("huber", {**_REGRESSION, "outliers": ("heavy",), "need": (None,)}, 88,
         "Heavy tails: bounded gradient beyond delta, with the efficiency of MSE for the well-behaved bulk.",
         "Huber, Robust estimation of a location parameter (1964)"),
    Rule("log_cosh", {**_REGRESSION, "outliers": ("some", "heavy"), "need": (None,)}, 86,
         "Outliers with a need for smoothness: behaves like MSE near zero and like MAE far away, "
         "twice differentiable everywhere.",
         "Saleh & Saleh, Statistical properties of the log-cosh loss function (2022)"),
    Rule("mean_absolute_error", {**_REGRESSION, "outliers": ("heavy",), "need": (None,)}, 95,
         "Heavy tails or many outliers: L1 estimates the conditional median, the most outlier-resistant choice; "
         "its gradient does not shrink near the optimum, so decay the learning rate.",
         "Koenker, Quantile Regression (2005), ch. 1"),
    Rule("mean_absolute_error", {**_REGRESSION, "outliers": ("some",), "need": (None,)}, 82,
         "Outliers: the median is unmoved by them, at the cost of a constant-size gradient.",
         "Koenker, Quantile Regression (2005), ch. 1"),
    Rule("mean_squared_logarithmic_error",
         {**_REGRESSION, "strictly_positive": (True,), "tail": ("right",), "outliers": ("some", "heavy"),
          "counts": _NOT_COUNTS, "need": (None,)}, 97,
         "Strictly positive targets with a long right tail: errors in log space are relative errors, "
         "so the large values do not dominate; use a softplus or exp output.",
         "Keras MeanSquaredLogarithmicError; Hyndman & Koehler, Another look at forecast accuracy (2006)"),
    Rule("quantile", {**_REGRESSION, "need": ("quantiles",)}, 100,
         "Lower bound of an 80% prediction interval: the pinball loss at q=0.1 estimates the 10th percentile.",
         "Koenker & Bassett, Regression quantiles (Econometrica 1978)", params={"q": 0.1}),
    Rule("quantile", {**_REGRESSION, "need": ("quantiles",)}, 99,
         "Upper bound of an 80% prediction interval: the pinball loss at q=0.9 estimates the 90th percentile.",
         "Koenker & Bassett, Regression quantiles (Econometrica 1978)", params={"q": 0.9}),
    Rule("quantile", {**_REGRESSION, "need": ("quantiles",)}, 80,
         "The median (q=0.5, half the absolute error) as the interval's centre.",
         "Koenker & Bassett, Regression quantiles (Econometrica 1978)", params={"q": 0.5}),
    Rule("poisson", {**_REGRESSION, "counts": (True,)}, 100,
         "Counts: the Poisson negative log-likelihood with an exp (log-link) output models event rates whose "
         "variance grows with the mean.",
         "McCullagh & Nelder, Generalized Linear Models (1989), ch. 6"),
    Rule("mean_squared_error", {**_REGRESSION, "counts": (True,), "need": (None, "counts")}, 60,
         "Counts with a large mean are close to Gaussian; MSE then works but ignores that the variance grows with the mean.",
         _BISHOP),
    Rule("tweedie_deviance", {**_REGRESSION, "zero_inflated": (True,), "need": (None, "counts")}, 105,
         "Many exact zeros next to a positive tail (claims, rainfall, sales): the Tweedie deviance with "
         "1 < power < 2 is a compound Poisson-gamma likelihood with a point mass at 0; use an exp output.",
         _TWEEDIE, params={"power": 1.5}),
    Rule("poisson", {**_REGRESSION, "zero_inflated": (True,), "counts": (True,)}, 95,
         "Zero-inflated counts: the Poisson deviance still fits the mean of counts with many zeros "
         "(the Tweedie power 1 case).",
         "McCullagh & Nelder, Generalized Linear Models (1989), ch. 6"),
    Rule("gamma_deviance",
         {**_REGRESSION, "strictly_positive": (True,), "tail": ("right",), "counts": _NOT_COUNTS, "need": (None,)}, 92,
         "Strictly positive, right-skewed targets whose spread grows with the mean (costs, durations): the gamma "
         "deviance weighs relative errors; use an exp output.",
         "McCullagh & Nelder, Generalized Linear Models (1989), ch. 8"),
    Rule("gaussian_nll", {**_REGRESSION, "need": ("uncertainty",)}, 100,
         "Predictive uncertainty: a mean and a variance head fitted by the Gaussian likelihood report where the "
         "model is unsure; put a softplus on the variance head.",
         "Nix & Weigend (1994); Lakshminarayanan et al., Deep ensembles (NeurIPS 2017)"),
    Rule("quantile", {**_REGRESSION, "need": ("uncertainty",)}, 80,
         "Distribution-free intervals: two pinball losses (q=0.1 and 0.9) bound an 80% prediction interval.",
         "Koenker & Bassett, Regression quantiles (Econometrica 1978)", params={"q": 0.1}),
    Rule("cauchy", {**_REGRESSION, "outliers": ("heavy",), "need": (None,)}, 84,
         "Gross outliers: the Cauchy (Lorentzian) loss grows only logarithmically, so far outliers barely pull; "
         "it is not convex, so start from an MSE or Huber fit.",
         "Barron, A general and adaptive robust loss function (CVPR 2019)"),
    Rule("epsilon_insensitive", {**_REGRESSION, "need": ("margins",)}, 100,
         "Support-vector regression: errors within epsilon cost nothing, so only the examples outside the tube "
         "shape the model.",
         "Vapnik, The Nature of Statistical Learning Theory (1995); scikit-learn SVR"),
    # ---- binary classification
    Rule("sigmoid_cross_entropy",
         {**_BINARY, "output_activation": _LOGITS, "imbalance": _BALANCED, "need": (None,)}, 100,
         "Binary labels and a logit output: the Bernoulli log-likelihood computed stably from logits "
         "(apply no sigmoid before it).",
         _GOODFELLOW + "; PyTorch BCEWithLogitsLoss"),
    Rule("binary_cross_entropy",
         {**_BINARY, "output_activation": ("sigmoid",), "imbalance": _BALANCED,
          "need": (None, "calibrated-probabilities")}, 100,
         "The model ends in a sigmoid: binary cross-entropy (log loss) on its probabilities.",
         _GOODFELLOW),
    Rule("sigmoid_cross_entropy", {**_BINARY, "output_activation": ("sigmoid",), "need": (None,)}, 90,
         "Stabler than a sigmoid followed by BCE: drop the output sigmoid and train on logits.",
         "PyTorch BCEWithLogitsLoss documentation"),
    Rule("sigmoid_cross_entropy",
         {**_BINARY, "imbalance": (True,), "need": (None, "margins")}, 110,
         "Imbalanced classes: pos_weight = n_negative / n_positive makes both classes weigh the same "
         "(keep the logits; drop an output sigmoid).",
         _CLASS_WEIGHTS, params_from_data={"pos_weight": "pos_weight"}),
    Rule("sigmoid_cross_entropy", {**_BINARY, "output_activation": _LOGITS, "imbalance": (True,), "need": (None,)}, 85,
         "Unweighted, when calibrated probabilities matter more than recall: move the decision threshold instead.",
         _PROPER),
    Rule("binary_cross_entropy",
         {**_BINARY, "output_activation": ("sigmoid",), "imbalance": (True,), "need": (None,)}, 95,
         "Imbalanced classes with a sigmoid output: weight positive examples by n_negative / n_positive "
         "through sample_weight.",
         _CLASS_WEIGHTS),
    Rule("sigmoid_cross_entropy",
         {**_BINARY, "output_activation": _LOGITS, "need": ("calibrated-probabilities",)}, 105,
         "Calibrated probabilities: log loss is a strictly proper scoring rule; train unweighted "
         "(class weights bias the probabilities) and move the decision threshold instead.",
         _PROPER),
    Rule("sigmoid_focal", {**_BINARY, "output_activation": _LOGITS, "imbalance": (True,), "need": (None,)}, 105,
         "Imbalanced classes with many easy negatives (detection, rare events): the focal term (1 - p_t)^gamma "
         "down-weights well-classified examples and alpha balances the classes.",
         _FOCAL, params={"gamma": 2.0, "alpha": 0.25}),
    Rule("hinge", {**_BINARY, "output_activation": _LOGITS, "need": (None,)}, 50,
         "If only the decision matters (no probabilities): the SVM hinge loss.",
         "Cortes & Vapnik, Support-vector networks (1995)"),
    Rule("hinge", {**_BINARY, "need": ("margins",)}, 100,
         "Only a decision is needed: the SVM hinge loss maximises the margin and ignores examples beyond it "
         "(no probabilities).",
         "Cortes & Vapnik, Support-vector networks (1995)"),
    Rule("squared_hinge", {**_BINARY, "need": ("margins",)}, 90,
         "A differentiable hinge: margin violations cost quadratically.",
         "Rennie & Srebro (2005); scikit-learn LinearSVC"),
    Rule("modified_huber", {**_BINARY, "need": ("margins",)}, 85,
         "A smoothed hinge that tolerates label noise and still yields probability estimates.",
         "Zhang, Solving large scale linear prediction problems (ICML 2004); scikit-learn SGDClassifier"),
    # ---- multiclass classification
    Rule("sparse_softmax_cross_entropy",
         {**_MULTICLASS, "output_activation": _LOGITS, "imbalance": _BALANCED,
          "need": (None, "calibrated-probabilities")}, 100,
         "Mutually exclusive classes, integer labels and logits: softmax cross-entropy with a stable log-softmax.",
         _GOODFELLOW + "; PyTorch CrossEntropyLoss"),
    Rule("softmax_cross_entropy",
         {**_MULTICLASS, "output_activation": _LOGITS, "imbalance": _BALANCED,
          "need": (None, "calibrated-probabilities")}, 95,
         "The same loss for one-hot or soft labels (label smoothing, distillation targets).",
         _GOODFELLOW),
    Rule("sparse_categorical_cross_entropy",
         {**_MULTICLASS, "output_activation": ("softmax",), "imbalance": _BALANCED}, 100,
         "The model ends in a softmax: cross-entropy on its probabilities with integer labels "
         "(logits with sparse_softmax_cross_entropy are stabler).",
         _GOODFELLOW + "; Keras SparseCategoricalCrossentropy"),
    Rule("categorical_cross_entropy",
         {**_MULTICLASS, "output_activation": ("softmax",), "imbalance": _BALANCED}, 95,
         "The model ends in a softmax and the labels are one-hot or soft: categorical cross-entropy.",
         _GOODFELLOW + "; Keras CategoricalCrossentropy"),
    Rule("sparse_softmax_cross_entropy",
         {**_MULTICLASS, "output_activation": _LOGITS, "imbalance": (True,), "need": (None, "margins")}, 110,
         "Imbalanced classes: class_weight = n / (num_classes * count) gives every class the same total weight.",
         _CLASS_WEIGHTS, params_from_data={"class_weight": "class_weight"}),
    Rule("sparse_softmax_focal", {**_MULTICLASS, "output_activation": _LOGITS, "imbalance": (True,), "need": (None,)}, 105,
         "Long-tailed classes: the focal term down-weights the easy majority examples and the class-balanced "
         "(effective number) weights raise the rare classes.",
         _FOCAL + "; " + _CLASS_BALANCED, params={"gamma": 2.0},
         params_from_data={"class_weight": "class_balanced_weight"}),
    Rule("sparse_categorical_cross_entropy",
         {**_MULTICLASS, "output_activation": ("softmax",), "imbalance": (True,)}, 110,
         "Imbalanced classes with a softmax output: class_weight = n / (num_classes * count) per class.",
         _CLASS_WEIGHTS, params_from_data={"class_weight": "class_weight"}),
    Rule("sparse_softmax_cross_entropy", {**_MULTICLASS, "output_activation": _LOGITS, "imbalance": (True,),
                                           "need": (None,)}, 85,
         "Unweighted, when calibrated probabilities matter more than minority-class recall.",
         _PROPER),
    Rule("binary_cross_entropy", {**_MULTICLASS, "output_activation": ("sigmoid",)}, 90,
         "A sigmoid per class means the classes are not exclusive (multi-label): binary cross-entropy per column.",
         _GOODFELLOW),
    Rule("sparse_softmax_cross_entropy",
         {**_MULTICLASS, "output_activation": _LOGITS, "need": ("calibrated-probabilities",)}, 105,
         "Calibrated probabilities: the multinomial log loss is a strictly proper scoring rule.",
         _PROPER),
    Rule("categorical_hinge", {**_MULTICLASS, "need": ("margins",)}, 100,
         "Only the predicted class matters: the multiclass hinge keeps the true class's score a margin above the rest.",
         "Crammer & Singer, On the algorithmic implementation of multiclass kernel-based vector machines (JMLR 2001)"),
    # ---- segmentation (per-pixel probabilities, class axis last or axis=1)
    Rule("dice", {**_SEGMENTATION, "imbalance": _BALANCED}, 100,
         "Segmentation masks: the soft Dice loss scores the overlap per image and class, so a small structure "
         "counts as much as the background.",
         _DICE),
    Rule("focal_tversky", {**_SEGMENTATION, "imbalance": (True,)}, 105,
         "Small or rare structures: Tversky with beta > alpha penalises missed pixels (false negatives) more, and "
         "the exponent gamma < 1 focuses on the hard, poorly overlapping regions.",
         "Abraham & Khan, A novel focal Tversky loss function (ISBI 2019)", params={"alpha": 0.3, "beta": 0.7}),
    Rule("tversky", {**_SEGMENTATION, "imbalance": (True,)}, 100,
         "Recall over precision for thin or small structures: Tversky with alpha=0.3 (false positives), "
         "beta=0.7 (false negatives).",
         _TVERSKY, params={"alpha": 0.3, "beta": 0.7}),
    Rule("dice", {**_SEGMENTATION, "imbalance": (True,)}, 95,
         "Imbalanced masks: Dice already normalises by the size of each class's region.",
         _DICE),
    Rule("jaccard", {**_SEGMENTATION}, 80,
         "When the metric to optimise is the IoU (Jaccard index) itself rather than Dice (F1).",
         "Rahman & Wang, Optimizing intersection-over-union in deep neural networks (2016)"),
    # ---- embeddings and ranking
    Rule("info_nce", {**_EMBEDDING, "need": (None,)}, 100,
         "Paired examples (image and caption, two views of one item): InfoNCE contrasts each pair against every "
         "other row of the batch; larger batches give more negatives.",
         "Oord et al., CPC (2018); Radford et al., CLIP (ICML 2021)"),
    Rule("triplet_margin", {**_EMBEDDING, "need": (None, "margins")}, 90,
         "Anchor, positive and negative examples (face or product retrieval): a margin between the two distances; "
         "mine hard negatives or it stalls.",
         "Schroff, Kalenichenko & Philbin, FaceNet (CVPR 2015); PyTorch TripletMarginLoss"),
    Rule("cosine_embedding", {**_EMBEDDING, "need": (None, "margins")}, 85,
         "Pairs labelled similar (+1) or dissimilar (-1): pulls similar pairs to cosine 1, pushes the others below "
         "a margin.",
         "PyTorch CosineEmbeddingLoss; Hadsell, Chopra & LeCun (CVPR 2006)"),
    Rule("margin_ranking", {**_EMBEDDING, "need": ("margins",)}, 95,
         "Pairwise preferences (x1 should score above x2, or below): a hinge on the score difference.",
         "Herbrich, Graepel & Obermayer, Large margin rank boundaries (2000); PyTorch MarginRankingLoss"),
    Rule("cosine_distance", {**_EMBEDDING, "need": (None,)}, 80,
         "Regressing onto target embeddings (distillation of an encoder): 1 - cosine ignores the norms.",
         "Keras CosineSimilarity; Optax cosine_distance"),
)


# ------------------------------------------------------------------------------- recommending


def recommend(
    task: str | None = None,
    *,
    output_activation: str | None = None,
    outliers: str | None = None,
    imbalance: bool | None = None,
    need: str | None = None,
    y: Any = None,
    csv: str | os.PathLike | None = None,
    target: str | None = None,
    rules: Sequence[Rule] = RULES,
) -> Advice:
    """Rank the catalog's losses for a task, from stated facts and/or a target's values.

    Parameters
    ----------
    task : {"regression", "binary", "multiclass", "segmentation", "embedding"}, optional
        Inferred from ``y`` / ``csv`` (or from ``need="quantiles"``, ``"counts"``, ``"uncertainty"``)
        when omitted. Segmentation and embedding tasks take no target data.
    output_activation : {"linear", "sigmoid", "softmax", "none"}, optional
        The model's last activation; "none" means linear (raw values or logits).
    outliers : {"none", "some", "heavy"}, optional
        Overrides what the data shows.
    imbalance : bool, optional
        Whether the classes are imbalanced; overrides what the data shows.
    need : {"calibrated-probabilities", "quantiles", "counts", "margins", "uncertainty"}, optional
        "uncertainty" asks for a predictive distribution (a mean and a variance).
    y : array-like, optional
        Target values to inspect (numbers or text labels).
    csv, target : path and column name, optional
        A CSV file with a header row, and the column holding the target.
    rules : sequence of Rule
        The rule table (:data:`RULES` by default).

    Returns
    -------
    Advice
        Recommendations best first (``advice[0]``), the :class:`Profile` used and the
        :class:`DataProfile` found in the data (``None`` without data).

    Examples
    --------
    >>> import losskit as lk
    >>> [r.loss for r in lk.recommend(task="regression", need="quantiles")][:2]
    ['quantile', 'quantile']
    >>> advice = lk.recommend(y=[0] * 90 + [1] * 10)
    >>> advice[0].loss, advice[0].params
    ('sigmoid_cross_entropy', {'pos_weight': 9.0})
    """
    _check_choice("task", task, TASKS)
    _check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    _check_choice("outliers", outliers, OUTLIER_LEVELS)
    _check_choice("need", need, NEEDS)
    if imbalance is not None and not isinstance(imbalance, (bool, np.bool_)):
        raise TypeError(f"imbalance must be True, False or None; got {imbalance!r}")
    if y is not None and csv is not None:
        raise ValueError("give the target either as y or as csv= and target=, not both")
    if (csv is None) != (target is None):
        raise ValueError("csv and target go together: csv='data.csv', target='column name'")

    data = None
    if csv is not None:
        y = read_csv_column(csv, target)
    if y is not None:
        data = profile_target(y, task=task, name=target or "y")
    profile = _build_profile(task, output_activation, outliers, imbalance, need, data)
    recommendations = _apply_rules(rules, profile, data)
    if not recommendations:
        raise ArgumentError(f"no rule of the advisor fits {_escape(_describe(profile))}; state a different {{need}} or {{task}}")
    return Advice(tuple(recommendations), profile, data)


def _escape(text: str) -> str:
    """``text`` inside an :class:`ArgumentError` template (braces are not placeholders)."""
    return text.replace("{", "{{").replace("}", "}}")


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _build_profile(task, output_activation, outliers, imbalance, need, data: DataProfile | None) -> Profile:
    if task is None and data is not None:
        task = data.task
    if task is None and need in _REGRESSION_NEEDS:
        task = "regression"
    if task is None:
        raise ArgumentError("the task is unknown: state it ({task:regression}, {task:binary} or {task:multiclass}) or give target data ({csv} and {target})")
    activation = "linear" if output_activation == "none" else output_activation
    if activation == "softmax" and task == "regression":
        raise ArgumentError("{output_activation:softmax} outputs class probabilities; it does not fit {task:regression}")
    if need in _REGRESSION_NEEDS and task != "regression":
        raise ArgumentError(f"{{need:{need}}} asks for a regression loss, but the task is {task!r}")
    if need == "calibrated-probabilities" and task == "regression":
        raise ArgumentError("{need:calibrated-probabilities} asks for a classification loss, but the task is 'regression'")
    from_data = data if data is not None and data.task == task else None
    numeric = from_data if from_data is not None and task == "regression" else None
    counts = True if need == "counts" else (numeric.counts if numeric else None)
    return Profile(
        task=task,
        output_activation=activation,
        outliers=outliers if outliers is not None else (from_data.outliers if from_data else None),
        imbalance=bool(imbalance) if imbalance is not None else (from_data.imbalanced if from_data else None),
        need=need,
        counts=counts,
        strictly_positive=numeric.strictly_positive if numeric else None,
        tail=numeric.tail if numeric else None,
        zero_inflated=numeric.zero_inflated if numeric else None,
    )


def _apply_rules(rules: Sequence[Rule], profile: Profile, data: DataProfile | None) -> list[Recommendation]:
    best: dict[tuple, Recommendation] = {}
    for rule in rules:
        if not rule.matches(profile):
            continue
        params = dict(rule.params)
        if data is not None:
            for param, attribute in rule.params_from_data.items():
                value = getattr(data, attribute)
                if value is not None:
                    params[param] = value
        recommendation = Recommendation(rule.loss, params, rule.score, rule.reason, rule.source)
        key = (rule.loss, repr(sorted(params.items())))
        if key not in best or best[key].score < rule.score:
            best[key] = recommendation
    return sorted(best.values(), key=lambda r: -r.score)  # stable: equal scores keep table order


def _describe(profile: Profile) -> str:
    stated = [f"{f.name}={getattr(profile, f.name)}" for f in fields(profile) if getattr(profile, f.name) is not None]
    return ", ".join(stated)


# ------------------------------------------------------------------------------ reading data


def read_csv_column(path: str | os.PathLike, column: str) -> list[str]:
    """The cells of ``column`` in the CSV file at ``path`` (header row first; delimiter sniffed).

    Errors name the file, the column and the row (1-based, header excluded) and say how to fix them.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"CSV file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"CSV path {path!r} is a directory; give the file")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(64 * 1024)
        if not sample.strip():
            raise ValueError(f"CSV file {path!r} is empty; it needs a header row and at least one data row")
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:  # one column, or too little text to tell: the default comma is right
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        header = [name.strip() for name in next(reader)]
        if column not in header:
            raise ValueError(
                f"column {column!r} not found in {path!r}; available columns: {', '.join(header)}"
            )
        index = header.index(column)
        cells = []
        for row_number, row in enumerate(reader, start=1):
            if not row:  # blank lines are not rows
                continue
            if index >= len(row):
                raise ValueError(f"data row {row_number} of {path!r} (line {reader.line_num}) has no {column!r} cell")
            cells.append(row[index].strip())
    if not cells:
        raise ValueError(f"CSV file {path!r} has a header but no data rows")
    return cells


def profile_target(y: Any, *, task: str | None = None, name: str = "y") -> DataProfile:
    """Inspect target values: their kind, tails and outliers, counts, positivity and class balance.

    ``y`` holds numbers or text labels (a CSV column's cells are text); missing values (empty,
    NaN, "NA", ...) and text mixed into numbers raise ValueError naming the data row (1-based,
    a CSV header excluded).

    >>> profile = profile_target([0, 1, 2, 3, 4, 1, 0, 2, 7])
    >>> profile.kind, profile.counts, profile.task
    ('integer', True, 'regression')
    """
    _check_choice("task", task, TASKS)
    if task in ("segmentation", "embedding"):
        raise ValueError(
            f"a target column describes regression or classification data; for task={task!r} state the task "
            "without data (recommend(task=...))"
        )
    values = _as_values(y, name)
    if len(values) == 0:
        raise ValueError(f"target {name!r} has no values")
    numbers = _parse_numbers(values, name)
    if numbers is None:
        return _profile_labels([str(v).strip() for v in values], task, name)
    return _profile_numbers(numbers, task, name)


def _as_values(y: Any, name: str) -> list:
    array = np.asarray(y)
    if array.ndim != 1:
        raise ValueError(f"target {name!r} must be one-dimensional (one value per row); got shape {array.shape}")
    if array.dtype.kind in "biuf":
        return array.astype(float).tolist()
    return array.tolist()


def _parse_numbers(values: list, name: str) -> np.ndarray | None:
    """Numbers as floats; ``None`` if the values are text labels. Raises on missing or mixed values."""
    parsed: list[float | None] = []
    for row, value in enumerate(values, start=1):
        if isinstance(value, float) and math.isnan(value) or str(value).strip().lower() in _MISSING_TOKENS:
            raise ValueError(f"target {name!r} is missing a value (empty or NaN) at data row {row}; drop or fill that row")
        parsed.append(_to_float(value))
    numeric = [p for p in parsed if p is not None]
    if len(numeric) == len(values):
        array = np.asarray(numeric, dtype=float)
        if not np.all(np.isfinite(array)):
            row = int(np.argmax(~np.isfinite(array))) + 1
            raise ValueError(f"target {name!r} has an infinite value at data row {row}; drop or fix that row")
        return array
    if len(numeric) * 2 >= len(values):  # mostly numbers: the text is a data error, not a label
        row = next(i for i, p in enumerate(parsed, start=1) if p is None)
        raise ValueError(
            f"target {name!r} holds numbers but data row {row} holds text {str(values[row - 1])!r}; fix or drop that row"
        )
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _profile_labels(labels: list[str], task: str | None, name: str) -> DataProfile:
    if task == "regression":
        raise ArgumentError(f"target {_escape(repr(name))} holds text labels; a regression task needs numbers (or state {{task:binary}} or {{task:multiclass}})")
    counts = Counter(labels)
    classes = tuple(sorted(counts))
    return _classification_profile(len(labels), "categorical", classes, [counts[c] for c in classes], task, name)


def _profile_numbers(y: np.ndarray, task: str | None, name: str) -> DataProfile:
    integer = bool(np.all(y == np.round(y)))
    distinct = np.unique(y)
    is_binary = integer and set(distinct.tolist()) == {0.0, 1.0}
    if task in ("binary", "multiclass") or (task is None and is_binary):
        if not integer:
            raise ValueError(f"target {name!r} holds non-integer numbers; class labels must be integers or text")
        counts = [int(np.sum(y == c)) for c in distinct]
        classes = tuple(int(c) for c in distinct)
        return _classification_profile(y.size, "binary" if is_binary else "integer", classes, counts, task, name)
    return _regression_profile(y, integer)


def _classification_profile(n: int, kind: str, classes: tuple, counts: list[int], task: str | None, name: str) -> DataProfile:
    if len(classes) < 2:
        raise ValueError(f"target {name!r} has a single class ({classes[0]!r}); a classifier needs at least two")
    inferred = "binary" if len(classes) == 2 else "multiclass"
    task = task or inferred
    if task == "binary" and inferred == "multiclass":
        raise ArgumentError(f"target {_escape(repr(name))} has {len(classes)} classes; a binary task needs exactly two (state {{task:multiclass}})")
    shares = ", ".join(f"{_plain(c)}: {k} ({k / n:.1%})" for c, k in zip(classes, counts))
    ratio = max(counts) / min(counts)
    balance = "imbalanced" if ratio >= IMBALANCE_RATIO else "balanced enough"
    findings = [f"{n} rows of {kind} labels: {len(classes)} classes ({shares})",
                f"largest/smallest class ratio {ratio:.3g}: {balance} (threshold {IMBALANCE_RATIO:g})"]
    if len(classes) == 2:
        findings.append(f"positive class: {_plain(classes[1])!r} (the last in sorted order)")
    elif kind == "categorical":
        findings.append("integer labels and class_weight follow the sorted label order")
    return DataProfile(n=n, kind=kind, task=task, classes=classes, class_counts=tuple(counts), findings=tuple(findings))


def _regression_profile(y: np.ndarray, integer: bool) -> DataProfile:
    counts = integer and bool(np.min(y) >= 0)
    strictly_positive = bool(np.min(y) > 0)
    zero_share = float(np.mean(y == 0)) if np.min(y) >= 0 else None
    share, high_share = _outlier_shares(y)
    level = "none" if share <= SOME_OUTLIERS else ("some" if share <= HEAVY_OUTLIERS else "heavy")
    tail = None
    if share > 0:
        tail = "right" if high_share >= 0.9 * share else ("left" if high_share <= 0.1 * share else "both")
    kind = "integer" if integer else "real"
    findings = [f"{y.size} rows of {kind} values in [{np.min(y):.4g}, {np.max(y):.4g}], median {np.median(y):.4g}"]
    findings.append(
        f"{share:.1%} of values lie beyond {OUTLIER_Z:g} scaled MADs of the median (Gaussian: 0.3%): "
        f"outliers {level}" + (f", {'both tails' if tail == 'both' else tail + ' tail'}" if tail and level != "none" else "")
    )
    if counts:
        findings.append("non-negative integers: treated as counts (state task='multiclass' if they are class labels)")
    elif strictly_positive:
        findings.append("all values are strictly positive")
    if zero_share is not None and zero_share >= ZERO_INFLATED_SHARE:
        findings.append(f"{zero_share:.1%} of values are exactly 0: zero-inflated (threshold {ZERO_INFLATED_SHARE:.0%})")
    return DataProfile(
        n=y.size, kind=kind, task="regression", outliers=level, outlier_share=share, tail=tail,
        counts=counts, strictly_positive=strictly_positive, zero_share=zero_share, findings=tuple(findings),
    )


def _outlier_shares(y: np.ndarray) -> tuple[float, float]:
    """Shares of values beyond OUTLIER_Z robust standard deviations (all, and above the median)."""
    median = np.median(y)
    deviation = np.abs(y - median)
    scale = _MAD_TO_SIGMA * np.median(deviation)
    if scale == 0:
        # More than half the values equal the median (e.g. mostly zeros): fall back to the mean
        # absolute deviation, scaled to a Gaussian sigma by sqrt(pi / 2).
        scale = math.sqrt(math.pi / 2) * float(np.mean(deviation))
    if scale == 0:
        return 0.0, 0.0
    beyond = deviation > OUTLIER_Z * scale
    return float(np.mean(beyond)), float(np.mean(beyond & (y > median)))


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
