"""lk.recommend: the rule table, the stated and data-driven scenarios, and bad data."""

import csv
import dataclasses

import numpy as np
import pytest

import losskit as lk
from losskit import advisor
from losskit.advisor import NEEDS, OUTLIER_LEVELS, OUTPUT_ACTIVATIONS, RULES, DataProfile, Profile

# ------------------------------------------------------------------------------- the rule table


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.loss}-{rule.score}")
def test_every_rule_recommends_a_catalog_loss_with_valid_params(rule):
    loss = lk.get(rule.loss)
    assert loss.name == rule.loss  # canonical names, so the CLI and docs link to the right page
    loss.with_params(**rule.params)
    assert set(rule.params_from_data) <= {p.name for p in loss.params}


_DOMAINS = {
    "task": set(lk.TASKS),
    "output_activation": set(OUTPUT_ACTIVATIONS) - {"none"},  # "none" is stored as "linear"
    "outliers": set(OUTLIER_LEVELS),
    "imbalance": {True, False},
    "need": set(NEEDS),
    "counts": {True, False},
    "strictly_positive": {True, False},
    "tail": {"left", "right", "both"},
    "zero_inflated": {True, False},
}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.loss}-{rule.score}")
def test_every_rule_condition_names_profile_fields_and_reachable_values(rule):
    assert set(rule.when) <= {f.name for f in dataclasses.fields(Profile)}
    for name, accepted in rule.when.items():
        assert set(accepted) - {None} <= _DOMAINS[name], name
    for attribute in rule.params_from_data.values():
        assert isinstance(getattr(DataProfile, attribute), property)


def test_every_rule_has_a_reason_and_a_source():
    for rule in RULES:
        assert rule.reason.endswith(".") and len(rule.source) > 10


# ---------------------------------------------------------------------------- stated scenarios

STATED = [
    (dict(task="regression"), "mean_squared_error", {}),
    (dict(task="regression", output_activation="linear", outliers="none"), "mean_squared_error", {}),
    (dict(task="regression", outliers="some"), "huber", {}),
    (dict(task="regression", outliers="heavy"), "mean_absolute_error", {}),
    (dict(task="regression", need="quantiles"), "quantile", {"q": 0.1}),
    (dict(need="counts"), "poisson", {}),
    (dict(task="regression", need="margins"), "epsilon_insensitive", {}),
    (dict(task="binary"), "sigmoid_cross_entropy", {}),
    (dict(task="binary", output_activation="none"), "sigmoid_cross_entropy", {}),
    (dict(task="binary", output_activation="sigmoid"), "binary_cross_entropy", {}),
    (dict(task="binary", imbalance=True), "sigmoid_cross_entropy", {}),
    (dict(task="binary", need="margins"), "hinge", {}),
    (dict(task="binary", need="calibrated-probabilities", imbalance=True), "sigmoid_cross_entropy", {}),
    (dict(task="multiclass"), "sparse_softmax_cross_entropy", {}),
    (dict(task="multiclass", output_activation="softmax"), "sparse_categorical_cross_entropy", {}),
    (dict(task="multiclass", need="margins"), "categorical_hinge", {}),
    (dict(task="multiclass", output_activation="sigmoid"), "binary_cross_entropy", {}),
    (dict(need="uncertainty"), "gaussian_nll", {}),
    (dict(task="segmentation"), "dice", {}),
    (dict(task="segmentation", imbalance=True), "focal_tversky", {"alpha": 0.3, "beta": 0.7}),
    (dict(task="embedding"), "info_nce", {}),
    (dict(task="embedding", need="margins"), "margin_ranking", {}),
]


@pytest.mark.parametrize(("stated", "loss", "params"), STATED, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_stated_profile_gives_expected_top_recommendation(stated, loss, params):
    top = lk.recommend(**stated)[0]
    assert (top.loss, top.params) == (loss, params)


def test_recommendations_are_ranked_by_score():
    scores = [r.score for r in lk.recommend(task="regression", outliers="some")]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 3


def test_imbalance_without_calibration_outranks_the_unweighted_loss():
    advice = lk.recommend(task="binary", imbalance=True)
    assert "pos_weight" in advice[0].reason and advice[0].score > advice[1].score


# ------------------------------------------------------------------------ data-driven scenarios


def _write_csv(path, **columns):
    names = list(columns)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*columns.values()))
    return path


_RNG = np.random.default_rng(20240607)
_N = 2000
_X = _RNG.normal(size=_N)
DATA = {
    "gaussian-noise": (2.0 * _X + _RNG.normal(size=_N), {}, "mean_squared_error"),
    "heavy-tailed-noise": (_X + _RNG.standard_t(1.5, size=_N), {}, "mean_absolute_error"),
    "some-outliers": (np.where(_RNG.random(_N) < 0.03, 25.0, 1.0) * _RNG.normal(size=_N), {}, "huber"),
    "counts": (_RNG.poisson(np.exp(0.5 * _X + 1.0)), {}, "poisson"),
    "log-normal-positive": (np.exp(_RNG.normal(size=_N)), {}, "mean_squared_logarithmic_error"),
    "balanced-binary": ((_X > 0).astype(int), {}, "sigmoid_cross_entropy"),
    "imbalanced-binary": ((_RNG.random(_N) < 0.1).astype(int), {}, "sigmoid_cross_entropy"),
    "text-classes": (_RNG.choice(["cat", "dog", "bird"], size=_N), {}, "sparse_softmax_cross_entropy"),
    "integer-classes-stated": (_RNG.integers(0, 5, size=_N), {"task": "multiclass"}, "sparse_softmax_cross_entropy"),
    "softmax-model": (_RNG.choice(["a", "b", "c"], size=_N), {"output_activation": "softmax"},
                      "sparse_categorical_cross_entropy"),
    "outliers-overridden": (_X + _RNG.standard_t(1.5, size=_N), {"outliers": "none"}, "mean_squared_error"),
    "zero-inflated-claims": (np.where(_RNG.random(_N) < 0.6, 0.0, _RNG.gamma(2.0, 500.0, size=_N)), {},
                             "tweedie_deviance"),
    "zero-inflated-counts": (np.where(_RNG.random(_N) < 0.5, 0, _RNG.poisson(4.0, size=_N)), {}, "tweedie_deviance"),
}


@pytest.mark.parametrize("scenario", DATA)
def test_csv_target_gives_expected_top_recommendation(tmp_path, scenario):
    values, stated, expected = DATA[scenario]
    path = _write_csv(tmp_path / "data.csv", feature=_X, target=values)
    advice = lk.recommend(csv=path, target="target", **stated)
    assert advice[0].loss == expected
    assert advice.data is not None and advice.data.findings


def test_imbalanced_binary_csv_sets_pos_weight_to_the_class_ratio(tmp_path):
    labels = np.array([0] * 900 + [1] * 100)
    advice = lk.recommend(csv=_write_csv(tmp_path / "d.csv", y=labels), target="y")
    assert advice[0].params == {"pos_weight": 9.0}
    assert advice.data.imbalanced and advice.profile.imbalance


def test_imbalanced_text_classes_get_balanced_class_weights_in_sorted_order():
    labels = ["b"] * 80 + ["a"] * 10 + ["c"] * 10
    advice = lk.recommend(y=labels)
    assert advice.data.classes == ("a", "b", "c")
    assert advice[0].loss == "sparse_softmax_cross_entropy"
    assert advice[0].params["class_weight"] == pytest.approx([100 / 30, 100 / 240, 100 / 30], rel=1e-3)


def test_heavy_tails_are_reported_with_the_outlier_share():
    profile = advisor.profile_target(_RNG.standard_t(1.5, size=_N))
    assert profile.outliers == "heavy" and profile.outlier_share > advisor.HEAVY_OUTLIERS
    assert any("scaled MADs" in finding for finding in profile.findings)


def test_gaussian_target_shows_no_outliers():
    profile = advisor.profile_target(_RNG.normal(size=_N))
    assert profile.outliers == "none" and profile.kind == "real" and not profile.counts


def test_recommend_accepts_an_array_and_returns_its_profile():
    advice = lk.recommend(y=np.array([3, 0, 1, 2, 5, 0, 1]))
    assert advice.data.counts and advice.profile.counts and advice[0].loss == "poisson"


# ----------------------------------------------------------------------------------- bad input


def test_missing_value_names_the_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n2,\n3,4\n")
    with pytest.raises(ValueError, match="missing a value .* at data row 2"):
        lk.recommend(csv=path, target="y")


def test_nan_in_an_array_names_the_row():
    with pytest.raises(ValueError, match="data row 3"):
        lk.recommend(y=[1.0, 2.0, float("nan")])


def test_text_in_a_numeric_column_names_the_row_and_value(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("y\n1.5\n2.5\nabc\n4.0\n")
    with pytest.raises(ValueError, match="data row 3 holds text 'abc'"):
        lk.recommend(csv=path, target="y")


def test_missing_column_lists_the_available_columns(tmp_path):
    path = _write_csv(tmp_path / "d.csv", a=[1], b=[2])
    with pytest.raises(ValueError, match="column 'y' not found .*available columns: a, b"):
        lk.recommend(csv=path, target="y")


@pytest.mark.parametrize(("content", "message"), [("", "is empty"), ("a,y\n", "no data rows")])
def test_empty_files_are_rejected(tmp_path, content, message):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        lk.recommend(csv=path, target="y")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        lk.recommend(csv=tmp_path / "nope.csv", target="y")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(y=["a"] * 5), "single class"),
        (dict(y=["a", "b", "c"], task="binary"), "needs exactly two"),
        (dict(y=[0.5, 1.5, 2.5], task="multiclass"), "non-integer"),
        (dict(y=["a", "b"], task="regression"), "text labels"),
        (dict(task="regression", output_activation="softmax"), "does not fit"),
        (dict(task="binary", need="quantiles"), "asks for a regression loss"),
        (dict(), "task is unknown"),
        (dict(task="ranking"), "task must be one of"),
        (dict(task="regression", need="probabilities"), "need must be one of"),
        (dict(csv="data.csv"), "go together"),
    ],
)
def test_inconsistent_or_invalid_requests_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lk.recommend(**kwargs)


# --------------------------------------------------------------------- round-2 losses in advice


def test_imbalanced_classification_is_offered_a_focal_loss_with_class_balanced_weights():
    y = np.repeat([0, 1, 2], [900, 90, 10])
    advice = lk.recommend(y=y, task="multiclass")
    by_loss = {r.loss: r for r in advice}
    focal = by_loss["sparse_softmax_focal"]
    expected = lk.class_balanced_weights(np.array([900.0, 90.0, 10.0]), beta=advisor.CLASS_BALANCED_BETA)
    np.testing.assert_allclose(focal.params["class_weight"], expected, rtol=1e-3)
    assert focal.params["gamma"] == 2.0
    assert advice[0].loss in ("sparse_softmax_cross_entropy", "sparse_softmax_focal")
    binary = [r.loss for r in lk.recommend(task="binary", imbalance=True)][:3]
    assert "sigmoid_focal" in binary


def test_zero_inflation_is_found_in_the_data_and_reported():
    y = np.concatenate([np.zeros(700), _RNG.gamma(2.0, 3.0, size=300)])
    advice = lk.recommend(y=y)
    assert advice.data.zero_inflated and advice.profile.zero_inflated
    assert any("exactly 0" in finding for finding in advice.data.findings)
    assert advice[0].loss == "tweedie_deviance" and advice[0].params == {"power": 1.5}
    assert not lk.recommend(y=_RNG.gamma(2.0, 3.0, size=300)).data.zero_inflated


def test_uncertainty_is_a_regression_need():
    assert lk.recommend(need="uncertainty").profile.task == "regression"
    with pytest.raises(ValueError, match="asks for a regression loss"):
        lk.recommend(task="binary", need="uncertainty")


def test_segmentation_and_embedding_take_no_target_data():
    with pytest.raises(ValueError, match="state the task without data"):
        lk.recommend(task="segmentation", y=[0, 1, 1, 0])
