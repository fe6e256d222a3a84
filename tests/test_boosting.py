"""Catalog losses as gradient-boosting objectives (losskit.boosting) and the lab's --model gbdt."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import losskit as lk
from losskit import boosting

RNG = np.random.default_rng(0)


def finite_difference(loss, y, raw, eps=1e-5, **params):
    """Per-sample first and second derivatives of the loss in raw-score space, numerically."""
    metric = boosting.lightgbm_metric(loss, **params)

    def per_sample(r):
        return np.array([metric.value(y[i : i + 1], r[i : i + 1]) for i in range(len(y))])

    up, down, mid = per_sample(raw + eps), per_sample(raw - eps), per_sample(raw)
    return (up - down) / (2 * eps), (up - 2 * mid + down) / eps**2


@pytest.mark.parametrize(
    ("name", "params", "y"),
    [
        ("mse", {}, RNG.normal(size=8)),
        ("log_cosh", {}, RNG.normal(size=8)),
        ("pseudo_huber", {"delta": 0.7}, RNG.normal(size=8)),
        ("poisson", {}, RNG.poisson(3.0, size=8).astype(float)),
        ("sigmoid_cross_entropy", {}, RNG.integers(0, 2, 8).astype(float)),
        ("binary_cross_entropy", {}, RNG.integers(0, 2, 8).astype(float)),
        ("logistic", {}, RNG.integers(0, 2, 8).astype(float)),
    ],
)
def test_objective_gradient_and_hessian_match_finite_differences_in_raw_score_space(name, params, y):
    raw = RNG.normal(scale=0.8, size=len(y))
    grad, hess = boosting.lightgbm_objective(name, **params)(y, raw)
    fd_grad, fd_hess = finite_difference(lk.get(name), y, raw, **params)
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hess, fd_hess, rtol=1e-3, atol=1e-5)


def test_multiclass_objective_gradient_matches_finite_differences_per_class():
    y = RNG.integers(0, 3, 6).astype(float)
    raw = RNG.normal(size=(6, 3))
    grad, hess = boosting.lightgbm_objective(lk.sparse_softmax_cross_entropy)(y, raw)
    metric = boosting.lightgbm_metric(lk.sparse_softmax_cross_entropy)
    for k in range(3):
        step = np.zeros_like(raw)
        step[:, k] = 1e-5
        fd = [(metric.value(y[i:i + 1], (raw + step)[i:i + 1]) - metric.value(y[i:i + 1], (raw - step)[i:i + 1])) / 2e-5
              for i in range(6)]
        np.testing.assert_allclose(grad[:, k], fd, rtol=1e-5, atol=1e-7)
    p = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(hess, p * (1 - p), rtol=1e-10)  # the diagonal, as LightGBM's own multiclass


def test_losses_without_a_positive_hessian_use_the_unit_hessian_fallback():
    y, raw = np.array([0.0, 0.0, 0.0]), np.array([-3.0, 0.2, 4.0])
    for name, params in (("mae", {}), ("quantile", {"q": 0.8}), ("huber", {"delta": 1.0})):
        objective = boosting.lightgbm_objective(name, **params)
        grad, hess = objective(y, raw)
        assert objective.fallback
        np.testing.assert_allclose(hess, 1.0)
        np.testing.assert_allclose(grad, lk.get(name).grad(y, raw, reduction="sum", **params))
    assert not boosting.lightgbm_objective(lk.mse).fallback
    assert boosting.lightgbm_objective(lk.mse, hessian="constant")(y, raw)[1].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="no analytic Hessian"):
        boosting.lightgbm_objective(lk.rmse, hessian="exact")(y, raw)


def test_sample_weights_scale_gradient_and_hessian():
    y, raw, w = np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([2.0, 0.5])
    g, h = boosting.lightgbm_objective(lk.mse)(y, raw)
    gw, hw = boosting.lightgbm_objective(lk.mse)(y, raw, w)
    np.testing.assert_allclose(gw, g * w)
    np.testing.assert_allclose(hw, h * w)


def test_losses_a_tree_cannot_fit_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="cannot be a gradient-boosting objective"):
        boosting.lightgbm_objective(lk.gaussian_nll)
    with pytest.raises(ValueError, match="use the loss on logits"):
        boosting.lightgbm_objective(lk.categorical_cross_entropy)
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        boosting.lightgbm_objective(lk.huber, beta=1.0)


def test_objectives_and_metrics_survive_pickling():
    objective = boosting.xgboost_objective(lk.huber, delta=0.5)
    copy = pickle.loads(pickle.dumps(objective))
    y, raw = np.array([0.0, 1.0]), np.array([2.0, 0.0])
    assert type(copy) is type(objective) and np.array_equal(copy(y, raw)[0], objective(y, raw)[0])
    metric = pickle.loads(pickle.dumps(boosting.lightgbm_metric(lk.huber, delta=0.5)))
    assert metric(y, raw)[0] == "huber"


def test_init_score_is_the_best_constant():
    y = RNG.normal(size=301) * 3 + 1
    assert boosting.init_score(lk.mse, y) == pytest.approx(y.mean(), abs=1e-6)
    assert boosting.init_score(lk.mae, y) == pytest.approx(np.median(y), abs=1e-6)
    counts = RNG.poisson(4.0, size=200).astype(float)
    assert boosting.init_score(lk.poisson, counts) == pytest.approx(np.log(counts.mean()), abs=1e-6)


# ------------------------------------------------------------------------------------ LightGBM


def regression_data(n=400, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, X @ rng.normal(size=5) + np.sin(3 * X[:, 0]) + 0.3 * rng.normal(size=n)


TREES = dict(num_leaves=15, learning_rate=0.1, min_data_in_leaf=10, verbose=-1, deterministic=True,
             force_row_wise=True, num_threads=1, seed=0)


def test_lightgbm_with_the_mse_objective_reproduces_the_builtin_l2_predictions():
    lgb = pytest.importorskip("lightgbm")
    X, y = regression_data()
    builtin = lgb.train({**TREES, "objective": "l2", "boost_from_average": False}, lgb.Dataset(X, y), 60)
    custom = lgb.train({**TREES, "objective": boosting.lightgbm_objective(lk.mse)}, lgb.Dataset(X, y), 60)
    # mse's gradient and Hessian are l2's times 2: the same Newton steps, the same trees.
    np.testing.assert_allclose(custom.predict(X), builtin.predict(X), rtol=0, atol=1e-9)
    assert np.std(builtin.predict(X)) > 0.5  # the trees learned something


def test_lightgbm_scikit_learn_api_takes_objective_and_metric():
    lgb = pytest.importorskip("lightgbm")
    X, y = regression_data()
    model = lgb.LGBMRegressor(objective=boosting.lightgbm_objective(lk.huber, delta=0.5), n_estimators=30, verbose=-1)
    model.fit(X, y, eval_set=[(X, y)], eval_metric=boosting.lightgbm_metric(lk.huber, delta=0.5))
    curve = model.evals_result_["training"]["huber"]
    assert len(curve) == 30 and curve[-1] < curve[0]


def test_lightgbm_multiclass_with_the_softmax_objective_learns():
    lgb = pytest.importorskip("lightgbm")
    X, _ = regression_data()
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5]).astype(float)
    booster = lgb.train({**TREES, "objective": boosting.lightgbm_objective(lk.softmax_cross_entropy), "num_class": 3},
                        lgb.Dataset(X, y), 40)
    proba = boosting.predict(lk.softmax_cross_entropy, booster.predict(X, raw_score=True))
    assert proba.shape == (len(y), 3) and (proba.argmax(1) == y).mean() > 0.9


def test_xgboost_with_the_half_squared_error_objective_reproduces_squarederror():
    xgb = pytest.importorskip("xgboost")
    X, y = regression_data()
    data = xgb.DMatrix(X, y)
    params = {"max_depth": 3, "base_score": 0.0, "nthread": 1}
    builtin = xgb.train({**params, "objective": "reg:squarederror"}, data, 30)
    custom = xgb.train(params, data, 30, obj=boosting.xgboost_objective(lk.half_squared_error),
                       custom_metric=boosting.xgboost_metric(lk.mse), evals=[(data, "train")], verbose_eval=False)
    np.testing.assert_allclose(custom.predict(data, output_margin=True), builtin.predict(data), atol=1e-5)


# ------------------------------------------------------------------------------------ the lab


def test_lab_gbdt_huber_beats_l2_on_twenty_percent_outliers():
    pytest.importorskip("lightgbm")
    pytest.importorskip("sklearn")
    result = lk.lab.compare(dataset="diabetes", losses="mse,huber", outliers=0.2, model="gbdt", seeds=3,
                            out=None, progress=False, report=False)
    rmse = {row["loss"]: row["rmse_mean"] for row in result.per_loss}
    assert rmse["huber"] < rmse["mean_squared_error"]
    by_seed = {(r.loss_label, r.config.seed): r.metrics["rmse"] for r in result.runs}
    assert all(by_seed[("huber", s)] < by_seed[("mean_squared_error", s)] for s in range(3))
    # The fallback is stated, and every boosting round is recorded like an epoch.
    assert any("constant-Hessian fallback" in w for w in result.warnings)
    for run in result.runs:
        assert len(run.train_loss) == len(run.val_loss) == len(run.val_metric) == len(run.grad_norm) > 0
        assert 0 <= run.best_epoch < len(run.val_loss)


def test_lab_gbdt_trains_classification_losses_on_logits():
    pytest.importorskip("lightgbm")
    pytest.importorskip("sklearn")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = lk.lab.compare(dataset="breast_cancer", losses="sigmoid_cross_entropy,hinge", model="gbdt", seeds=1,
                                epochs=40, out=None, progress=False, report=False)
    assert all(row["accuracy_mean"] > 0.9 for row in result.per_loss)
