"""LossRegressor and LossClassifier: scikit-learn's estimator contract, and the loss as a hyperparameter."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import losskit as lk  # noqa: E402
from losskit.lab import LossClassifier, LossRegressor  # noqa: E402

# Every check applies and passes: none is listed as an expected failure. Sample weights are not
# supported by fit, so scikit-learn skips its sample_weight checks.
@parametrize_with_checks([LossRegressor(epochs=60), LossClassifier(epochs=60)])
def test_estimator_passes_scikit_learn_checks(estimator, check):
    check(estimator)


def test_grid_search_chooses_the_loss_and_refits():
    X, y = load_diabetes(return_X_y=True)
    search = GridSearchCV(LossRegressor(epochs=40), {"loss": ["mse", "mae", "huber"]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["loss"] in {"mse", "mae", "huber"}
    assert search.best_estimator_.loss == search.best_params_["loss"]
    assert search.best_estimator_.predict(X[:5]).shape == (5,)


def test_grid_search_over_classification_losses_and_their_params():
    X, y = load_breast_cancer(return_X_y=True)
    grid = [
        {"loss": ["sigmoid_cross_entropy", "hinge"]},
        {"loss": ["binary_cross_entropy"], "loss_params": [{"label_smoothing": 0.0}, {"label_smoothing": 0.1}]},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # hinge's calibration note
        search = GridSearchCV(LossClassifier(epochs=20), grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.9


def test_refitting_with_the_same_random_state_is_bit_for_bit_identical():
    X, y = load_diabetes(return_X_y=True)
    first = LossRegressor(loss="huber", model="mlp", epochs=15, random_state=3).fit(X, y).predict(X)
    second = LossRegressor(loss="huber", model="mlp", epochs=15, random_state=3).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, second)


def test_regressor_predicts_in_the_targets_units():
    X, y = load_diabetes(return_X_y=True)
    predictions = LossRegressor(loss="mse", epochs=100).fit(X, y).predict(X)
    # The training targets span 25..346; predictions on the standardized scale would sit near 0.
    assert 100 < predictions.mean() < 200
    assert LossRegressor(loss="mse", epochs=100).fit(X, y).score(X, y) > 0.4


# The lab refuses losses over rows (a vocabulary projection: linear_cross_entropy) with a clear error.
@pytest.mark.parametrize("loss", [loss.name for loss in lk.catalog("binary")]
                         + [loss.name for loss in lk.catalog("multiclass") if loss.kind != "rowwise"])
def test_classifier_probabilities_are_distributions_for_every_classification_loss(loss):
    X, y = load_iris(return_X_y=True)
    if lk.get(loss).task == "binary":
        X, y = X[y < 2], y[y < 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = LossClassifier(loss=loss, epochs=10).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(np.unique(y)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


def test_classifier_keeps_the_original_labels():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LossClassifier(epochs=30).fit(X, names)
    assert set(model.predict(X)) <= set(names)
    assert model.score(X, names) > 0.8


def test_binary_loss_on_three_classes_is_rejected_with_the_fix():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="hinge is a binary loss but the target has 3 classes"):
        LossClassifier(loss="hinge").fit(X, y)


def test_classification_loss_on_a_regressor_is_rejected():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="sigmoid_cross_entropy is a binary classification loss"):
        LossRegressor(loss="sigmoid_cross_entropy").fit(X, y)


def test_unknown_loss_parameter_is_named():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="huber has no parameter 'q'; it accepts delta"):
        LossRegressor(loss="huber", loss_params={"q": 0.3}).fit(X, y)


def test_margin_loss_warns_that_its_probabilities_are_not_calibrated():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(UserWarning, match="not calibrated"):
        LossClassifier(loss="hinge", epochs=5).fit(X, y)


def test_fitted_estimator_survives_pickling():
    X, y = load_diabetes(return_X_y=True)
    model = LossRegressor(epochs=10).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))


def test_gaussian_nll_regressor_predicts_the_mean_and_a_standard_deviation_that_follows_the_noise():
    from losskit.lab import load_dataset

    data = load_dataset("heteroscedastic_regression")  # noise std 0.5 + 2.5 |x0|
    X, y = data.X, data.y
    # All epochs: on a 10% validation split the likelihood is noisy, and patience 10 stops while
    # the variance head is still one level for all rows (the loss's "inflated variance" pitfall).
    model = LossRegressor(loss="gaussian_nll", model="mlp", epochs=100, early_stopping=False).fit(X, y)
    assert model.network_(torch.zeros(1, X.shape[1])).shape == (1, 2)  # a mean and a variance output
    mean = model.predict(X)
    assert mean.shape == (len(y),) and model.score(X, y) > 0.7  # R2 of the mean, in y's units
    same_mean, std = model.predict(X, return_std=True)
    np.testing.assert_array_equal(same_mean, mean)
    assert std.shape == (len(y),) and np.all(std > 0)
    # The predicted spread tracks the true one: larger where |x0| is large.
    quiet, noisy = np.abs(X[:, 0]) < 0.5, np.abs(X[:, 0]) > 1.5
    assert np.median(std[noisy]) > 2 * np.median(std[quiet])
    assert np.corrcoef(std, 0.5 + 2.5 * np.abs(X[:, 0]))[0, 1] > 0.7


def test_return_std_needs_a_loss_that_predicts_a_variance():
    X, y = load_diabetes(return_X_y=True)
    model = LossRegressor(loss="mse", epochs=5).fit(X, y)
    with pytest.raises(ValueError, match="return_std needs a loss that predicts a variance"):
        model.predict(X, return_std=True)
