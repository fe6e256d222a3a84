"""scikit-learn estimators trained with any loss of the catalog.

``LossRegressor`` and ``LossClassifier`` are the lab's training loop behind the scikit-learn
API (fit / predict / predict_proba / score, get_params / set_params, clone, pickle), so the
loss becomes a hyperparameter like any other:

>>> from sklearn.datasets import load_diabetes
>>> from sklearn.model_selection import GridSearchCV
>>> X, y = load_diabetes(return_X_y=True)
>>> search = GridSearchCV(LossRegressor(epochs=20), {"loss": ["mse", "huber"]}, cv=2).fit(X, y)
>>> search.best_params_["loss"] in ("mse", "huber")
True

Features are standardized inside ``fit`` (no scaler needed in the pipeline) and regression
targets are centred and scaled with robust statistics (median, interquartile range: the
inverted-CDF quantiles, weighted with the sample weights), so loss
parameters such as huber's ``delta`` act on a sensible scale; predictions come back in the
targets' units.

``fit(X, y, sample_weight=None)`` takes scikit-learn's sample weights (validated by
``sklearn.utils.validation._check_sample_weight``: one non-negative number per row, or a scalar,
not all zero). A weight multiplies its row's loss: every minibatch loss, and the early-stopping
validation loss, is losskit's weighted mean ``sum(w * l) / sum(w)``; the feature standardization
(weighted mean and standard deviation) and the target scaling (weighted quantiles) are weighted too. A row of weight zero is ignored, exactly: it is removed
before training, so ``fit(X, y, sample_weight=w)`` equals ``fit(X[w > 0], y[w > 0],
sample_weight=w[w > 0])`` bit for bit, and equal weights (all ones, or any constant) give the
unweighted fit bit for bit. An integer weight ``k`` is the same objective as ``k`` copies of the
row, but not the same run: minibatches and the validation split are drawn over rows, so the
trained networks differ as two seeds do (scikit-learn's ``SGDRegressor`` and ``MLPRegressor``
behave alike).

Each distinct warning (a margin loss's uncalibrated probabilities, a loss's note about its head)
is raised once per process, not once per ``fit``: a ``GridSearchCV`` over five losses shows each
note once.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .models import HIDDEN_UNITS, NONNEGATIVE_LABELS, MODELS, build_model, head_for, predictions_of, probabilities
from .train import DEFAULT_LEARNING_RATE, fit, predict_output, reproducible_torch

# Below this many rows a validation split would be too small to stop on; train on all rows.
MIN_ROWS_FOR_EARLY_STOPPING = 20

# The messages already shown in this process: a hyperparameter search fits hundreds of times and
# would repeat each note on every fit. Python's own "once per location" registry does not help:
# scikit-learn and pytest reset the warning filters (and with them the registries) per fit.
_WARNED: set[tuple[type, str]] = set()


def _warn_once(message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """``warnings.warn`` once per process and message.

    A message that the active filters ignore is not marked as shown, so a later fit outside the
    ``ignore`` block still shows it once.
    """
    key = (category, message)
    if key in _WARNED:
        return
    if _filter_action(message, category, stacklevel + 1) != "ignore":
        _WARNED.add(key)
    warnings.warn(message, category, stacklevel=stacklevel + 1)


def _filter_action(message: str, category: type[Warning], stacklevel: int) -> str:
    """The action of the first filter matching the warning, as ``warnings.warn`` would choose it."""
    try:
        frame = sys._getframe(stacklevel)
        module, lineno = frame.f_globals.get("__name__", "<string>"), frame.f_lineno
    except ValueError:
        module, lineno = "sys", 1
    for action, text, kind, where, line in warnings.filters:
        # warnings stores the message and module patterns compiled (or None for any).
        if ((text is None or text.match(message)) and issubclass(category, kind)
                and (where is None or where.match(module)) and (line == 0 or line == lineno)):
            return action
    return warnings.defaultaction


def _reset_warnings() -> None:
    """Forget the messages already shown (for tests that assert on them)."""
    _WARNED.clear()


def _weighted_rows(sample_weight: Any, X: np.ndarray) -> np.ndarray | None:
    """Validated weights (scikit-learn's semantics), or None when they are all equal."""
    if sample_weight is None:
        return None
    # Rejects NaN, inf, negative numbers, a wrong shape and all zeros, with scikit-learn's messages.
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True)


def _drop_zero_weights(weight: np.ndarray | None, *arrays: np.ndarray) -> tuple:
    """Remove the rows of weight zero; weights left all equal become None (the unweighted fit)."""
    if weight is None:
        return (None, *arrays)
    keep = weight > 0
    arrays = tuple(a[keep] for a in arrays) if not keep.all() else arrays
    weight = weight[keep]
    if np.all(weight == weight[0]):  # the weighted mean with equal weights is the mean
        weight = None
    return (weight, *arrays)


def _target_scaling(y: np.ndarray, weight: np.ndarray | None, *, center: bool) -> tuple[float, float]:
    """The lab's robust target scaling (median, IQR / 1.349; the standard deviation if the IQR is 0).

    The quantiles are the inverted CDF (NumPy's only weighted quantiles), weighted or not, so
    that equal weights, no weights, and integer weights against repeated rows all agree.
    """
    q25, median, q75 = np.quantile(y, [0.25, 0.5, 0.75], weights=weight, method="inverted_cdf")
    scale = (q75 - q25) / 1.349
    if not scale > 0:
        mean = np.average(y, weights=weight)
        scale = float(np.sqrt(np.average((y - mean) ** 2, weights=weight))) or 1.0
    return (float(median) if center else 0.0), float(scale)


def _label(value: Any) -> Any:
    """A class label as the user wrote it (``1``, not ``np.int64(1)``)."""
    return value.item() if isinstance(value, np.generic) else value


class _LossEstimator(BaseEstimator):
    """Shared parameters and training; subclasses choose the task and the output mapping."""

    _task_kind: str = "regression"

    def __init__(
        self,
        loss: str = "huber",
        loss_params: dict[str, Any] | None = None,
        model: str = "linear",
        hidden_units: int = HIDDEN_UNITS,
        epochs: int = 200,
        batch_size: int = 64,
        learning_rate: float | None = None,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 10,
        device: str = "cpu",
        random_state: int | None = 0,
    ) -> None:
        self.loss = loss
        self.loss_params = loss_params
        self.model = model
        self.hidden_units = hidden_units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> tuple[Any, dict[str, Any]]:
        import losskit as lk

        from .runner import _validated

        loss = lk.get(self.loss)
        params = {name: _validated(loss, name, value) for name, value in (self.loss_params or {}).items()}
        params = {name: list(v) if isinstance(v, tuple) else v for name, v in params.items()}
        networks = [m for m in MODELS if m != "gbdt"]  # gbdt: use LightGBM with losskit.boosting's objective
        if self.model not in networks:
            raise ValueError(
                f"model must be one of {', '.join(networks)}; got {self.model!r}"
                + (" (for boosted trees use lightgbm.LGBMRegressor(objective=losskit.boosting.lightgbm_objective(loss)))"
                   if self.model == "gbdt" else "")
            )
        for name in ("hidden_units", "epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie strictly between 0 and 1; got {self.validation_fraction!r}")
        return loss, params

    def _fit_arrays(
        self, X: np.ndarray, y: np.ndarray, loss: Any, params: dict[str, Any], n_classes: int,
        weight: np.ndarray | None = None,
    ) -> None:
        head, notes = head_for(loss, self._task_for(n_classes), n_classes)
        for note in notes:
            _warn_once(note, UserWarning, stacklevel=3)
        seed = self._seed()
        if weight is None:
            self._x_mean = X.mean(axis=0)
            std = X.std(axis=0)
        else:
            self._x_mean = np.average(X, axis=0, weights=weight)
            std = np.sqrt(np.average((X - self._x_mean) ** 2, axis=0, weights=weight))
        self._x_scale = np.where(std > 0, std, 1.0)
        X = (X - self._x_mean) / self._x_scale
        X_train, y_train, X_val, y_val, w_train, w_val = self._validation_split(X, y, seed, n_classes, weight)
        with reproducible_torch(seed):
            network = build_model(self.model, X.shape[1], head.n_outputs, self.hidden_units).to(self.device)
            history = fit(
                network, head, loss, params, X_train, y_train, X_val, y_val,
                epochs=self.epochs, batch_size=self.batch_size, patience=self.patience, seed=seed,
                learning_rate=self.learning_rate or DEFAULT_LEARNING_RATE[self.model], device=self.device,
                **({} if weight is None else {"sample_weight": w_train, "val_sample_weight": w_val}),
            )
        for message in history.warnings:
            _warn_once(message, UserWarning, stacklevel=3)
        self.network_ = network
        self.head_ = head
        # The names of the network's predictions, fixed at fit: set_params(loss=...) must not
        # change how an already trained network's outputs are read.
        self._prediction_names = loss.inputs
        self.loss_curve_ = history.train_loss
        self.validation_scores_ = history.val_loss
        self.best_epoch_ = history.best_epoch
        self.n_iter_ = len(history.train_loss)

    def _task_for(self, n_classes: int) -> str:
        return "regression"

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _validation_split(self, X: np.ndarray, y: np.ndarray, seed: int, n_classes: int,
                          weight: np.ndarray | None = None) -> tuple:
        if not self.early_stopping or len(X) < MIN_ROWS_FOR_EARLY_STOPPING:
            return X, y, None, None, weight, None
        from sklearn.model_selection import train_test_split

        stratify = None
        if n_classes:
            counts = np.bincount(y, minlength=n_classes)
            if counts.min() >= 2 and round(self.validation_fraction * len(y)) >= n_classes:
                stratify = y
        if weight is None:
            X_train, X_val, y_train, y_val = train_test_split(
                X, y, test_size=self.validation_fraction, random_state=seed, stratify=stratify
            )
            return X_train, y_train, X_val, y_val, None, None
        X_train, X_val, y_train, y_val, w_train, w_val = train_test_split(
            X, y, weight, test_size=self.validation_fraction, random_state=seed, stratify=stratify
        )
        return X_train, y_train, X_val, y_val, w_train, w_val

    def _output(self, X: Any) -> Any:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return predict_output(self.network_, self.head_, (X - self._x_mean) / self._x_scale, self.device)


class LossRegressor(RegressorMixin, _LossEstimator):
    """A linear model or MLP regressor trained with any regression loss of the catalog.

    Parameters
    ----------
    loss : str, default "huber"
        A regression loss name or alias (``"mse"``, ``"mae"``, ``"huber"``, ``"quantile"``...).
        A loss with several predictions (``"gaussian_nll"``: mean and variance) trains one
        output per prediction; ``predict`` returns the first (the mean), and
        ``predict(X, return_std=True)`` also the predicted standard deviation.
    loss_params : dict, optional
        The loss's parameters, e.g. ``{"delta": 0.5}``.
    model : {"linear", "mlp"}
    hidden_units, epochs, batch_size, learning_rate, patience
        Training settings; ``learning_rate=None`` uses 1e-2 (linear) or 3e-3 (mlp).
    early_stopping : bool, default True
        Hold out ``validation_fraction`` of the rows and stop when their loss stops improving.
    random_state : int, RandomState or None
        Seeds initialisation, minibatches and the validation split (an int is reproducible bit
        for bit on the same machine).

    Attributes
    ----------
    network_ : torch.nn.Module, loss_curve_, validation_scores_, best_epoch_, n_iter_,
    n_features_in_, feature_names_in_
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "LossRegressor":
        """Train on ``X``, ``y``; ``sample_weight`` (n_samples,) multiplies each row's loss.

        A row of weight zero is ignored (removed before training); equal weights give the
        unweighted fit. See the module's notes on weights.
        """
        loss, params = self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=[np.float64, np.float32])
        weight, X, y = _drop_zero_weights(_weighted_rows(sample_weight, X), X, np.asarray(y, dtype=np.float64))
        nonnegative = loss.label_format in NONNEGATIVE_LABELS
        if nonnegative and (y < 0).any():
            raise ValueError(f"{loss.name} needs non-negative targets; y has {y.min():g}")
        self._y_center, self._y_scale = _target_scaling(y, weight, center=not nonnegative)
        self._fit_arrays(np.asarray(X, dtype=np.float64), (y - self._y_center) / self._y_scale, loss, params, 0,
                         weight)
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """The point prediction (a loss's first prediction) in the targets' units.

        With ``return_std=True`` (scikit-learn's convention, as in ``GaussianProcessRegressor``),
        also the predicted standard deviation, for a loss that predicts a variance.
        """
        predictions = [p.cpu().double().numpy() for p in predictions_of(self._output(X))]
        mean = predictions[0] * self._y_scale + self._y_center
        if not return_std:
            return mean
        inputs = self._prediction_names
        if "variance" not in inputs:
            raise ValueError(f"return_std needs a loss that predicts a variance, such as gaussian_nll; the fitted loss predicts {', '.join(inputs)}")
        # The network's variance is in the scaled target's units; the standard deviation scales linearly.
        return mean, np.sqrt(predictions[inputs.index("variance")]) * self._y_scale


class LossClassifier(ClassifierMixin, _LossEstimator):
    """A linear model or MLP classifier trained with any classification loss of the catalog.

    Binary losses (``"sigmoid_cross_entropy"``, ``"hinge"``...) need two classes; multiclass
    losses work for two classes or more. ``predict_proba`` maps the model's output to
    probabilities with the loss's link (sigmoid or softmax for logits and scores); margin
    losses' probabilities are not calibrated. Parameters are those of :class:`LossRegressor`.
    """

    def __init__(
        self,
        loss: str = "softmax_cross_entropy",
        loss_params: dict[str, Any] | None = None,
        model: str = "linear",
        hidden_units: int = HIDDEN_UNITS,
        epochs: int = 200,
        batch_size: int = 64,
        learning_rate: float | None = None,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 10,
        device: str = "cpu",
        random_state: int | None = 0,
    ) -> None:
        super().__init__(
            loss, loss_params, model, hidden_units, epochs, batch_size, learning_rate,
            early_stopping, validation_fraction, patience, device, random_state,
        )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "LossClassifier":
        """Train on ``X``, ``y``; ``sample_weight`` (n_samples,) multiplies each row's loss.

        ``classes_`` are the classes of ``y``; at least two of them need a positive weight.
        """
        loss, params = self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"LossClassifier needs at least 2 classes in y; got 1 class ({_label(self.classes_[0])!r})")
        weight, X, encoded = _drop_zero_weights(_weighted_rows(sample_weight, X), X, encoded.astype(np.int64))
        weighted_classes = np.unique(encoded)
        if len(weighted_classes) < 2:
            raise ValueError(
                f"LossClassifier needs at least 2 classes with a positive sample_weight; only class "
                f"{_label(self.classes_[weighted_classes[0]])!r} has one"
            )
        self._fit_arrays(np.asarray(X, dtype=np.float64), encoded, loss, params, len(self.classes_), weight)
        return self

    def _task_for(self, n_classes: int) -> str:
        return "binary" if n_classes == 2 else "multiclass"

    def predict_proba(self, X: Any) -> np.ndarray:
        output = self._output(X)  # checks fitted first
        return probabilities(self.head_, output)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
