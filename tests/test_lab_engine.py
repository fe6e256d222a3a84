"""The loss lab's engine: data, perturbations, training, metrics, the store, resume and backends."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
import types

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("pandas")

import losskit as lk  # noqa: E402
from losskit.lab import RunResult, compare, load_dataset, parse_param  # noqa: E402
from losskit.lab import metrics as M  # noqa: E402
from losskit.lab._types import RunConfig  # noqa: E402
from losskit.lab.data import infer_task, prepare_split  # noqa: E402
from losskit.lab.models import lab_supports  # noqa: E402
from losskit.lab.store import RunStore  # noqa: E402
from losskit.lab.train import run_one  # noqa: E402

QUICK = dict(out=None, report=False, progress=False)
DATASET_FOR_TASK = {"regression": "diabetes", "binary": "breast_cancer", "multiclass": "iris"}


def quiet_compare(**kwargs):
    return compare(**{**QUICK, **kwargs})


# ----------------------------------------------------------------------------- the experiment


def test_robust_loss_beats_mse_on_clean_test_rmse_when_training_targets_have_outliers():
    result = quiet_compare(dataset="diabetes", losses="mse,mae,huber", outliers=0.2, seeds=3, epochs=100)
    rmse = {row["name"]: row["rmse_mean"] for row in result.per_loss}
    assert min(rmse["mean_absolute_error"], rmse["huber"]) < rmse["mean_squared_error"]
    assert result.ranking[-1] == "mean_squared_error"
    # Seed by seed too, not only on average: the robust winner wins every paired seed.
    assert result.significance["winner"] in {"mean_absolute_error", "huber"}
    mse_by_seed = {r.config.seed: r.metrics["rmse"] for r in result.runs if r.config.loss.name == "mean_squared_error"}
    winner_by_seed = {r.config.seed: r.metrics["rmse"] for r in result.runs if r.loss_label == result.winner}
    assert all(winner_by_seed[s] < mse_by_seed[s] for s in mse_by_seed)


def test_classification_run_reports_every_metric_ranked_by_macro_f1():
    with pytest.warns(UserWarning, match="hinge is a margin loss"):
        result = quiet_compare(dataset="breast_cancer", losses="sigmoid_cross_entropy,hinge", seeds=2, epochs=15)
    assert result.task == "binary" and result.primary_metric == "macro_f1"
    assert set(result.runs[0].metrics) == set(M.metric_names("binary")) == {*M.CLASSIFICATION_METRICS, "pr_auc"}
    assert any("not calibrated" in w for w in result.warnings)
    proba = np.array(result.runs[0].test_predictions)
    assert proba.shape == (len(result.runs[0].test_targets), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert result.runs[0].metrics["accuracy"] > 0.9


LAB_LOSSES = [loss for loss in lk.catalog() if lab_supports(loss)]
OTHER_LOSSES = [loss for loss in lk.catalog() if not lab_supports(loss)]


@pytest.mark.parametrize("loss", LAB_LOSSES, ids=lambda loss: loss.name)
def test_every_catalog_loss_trains_on_a_dataset_of_its_task(loss):
    with pytest.warns() if loss.prediction_space == "scores" else _no_warning():
        result = quiet_compare(dataset=DATASET_FOR_TASK[loss.task], losses=[loss.name], seeds=1, epochs=3)
    assert all(math.isfinite(v) for v in result.runs[0].metrics.values())
    assert len(result.runs[0].train_loss) == len(result.runs[0].val_loss) == 3


@pytest.mark.parametrize("loss", OTHER_LOSSES, ids=lambda loss: loss.name)
def test_segmentation_embedding_and_rowwise_losses_are_refused_with_the_reason(loss):
    with pytest.raises(ValueError, match="the lab trains regression and classification models on tables"):
        quiet_compare(dataset="diabetes", losses=[loss.name], seeds=1, epochs=1)


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def strict():
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            yield

    return strict()


def test_metric_keyword_overrides_the_ranking_metric():
    result = quiet_compare(dataset="diabetes", losses="mse,mae", seeds=2, epochs=5, metric="mae")
    assert result.primary_metric == "mae" and result.significance["metric"] == "mae"
    means = {row["loss"]: row["mae_mean"] for row in result.per_loss}
    assert result.ranking == sorted(means, key=means.get)


# ----------------------------------------------------------------------------- loss/task pairing


@pytest.mark.parametrize(
    ("dataset", "loss", "message"),
    [
        ("iris", "hinge", "hinge is a binary loss but the target has 3 classes"),
        ("diabetes", "sigmoid_cross_entropy", "is a binary classification loss but the target is a continuous quantity"),
        ("breast_cancer", "poisson", "cannot be trained on binary class labels"),
        ("heavy_tailed_regression", "poisson", "poisson needs non-negative targets"),
        ("heavy_tailed_regression", "msle", "mean_squared_logarithmic_error needs non-negative targets"),
        ("breast_cancer", "gaussian_nll", "predicts mean and variance of a continuous target"),
    ],
)
def test_impossible_loss_and_task_pairings_are_rejected_with_the_reason(dataset, loss, message):
    with pytest.raises(ValueError, match=message):
        quiet_compare(dataset=dataset, losses=[loss], seeds=1, epochs=1)


# ----------------------------------------------------------------------------- several predictions


def test_a_loss_with_a_mean_and_a_variance_gets_one_output_and_one_activation_per_prediction():
    import torch

    from losskit.lab.models import activate, build_model, head_for

    head, notes = head_for(lk.gaussian_nll, "regression", 0)
    assert (head.n_outputs, head.activations, notes) == (2, ("linear", "softplus"), [])
    assert build_model("mlp", 4, head.n_outputs)(torch.zeros(3, 4)).shape == (3, 2)
    raw = torch.tensor([[-5.0, -30.0], [0.5, 0.0], [2.0, 4.0]])
    mean, variance = activate(head, raw)
    torch.testing.assert_close(mean, raw[:, 0])  # the mean is the linear first output
    assert variance.shape == (3,) and bool((variance > 0).all())  # softplus, even for a very negative raw output
    torch.testing.assert_close(variance, torch.nn.functional.softplus(raw[:, 1]))


@pytest.mark.parametrize(
    ("name", "task", "n_classes", "expected", "output_shape"),
    [
        ("mse", "regression", 0, ("regression", 1, "linear", "values", "identity"), (5,)),
        ("poisson", "regression", 0, ("regression", 1, "exp", "values", "identity"), (5,)),
        ("sigmoid_cross_entropy", "binary", 2, ("binary", 1, "linear", "binary", "sigmoid"), (5,)),
        ("softmax_cross_entropy", "multiclass", 3, ("multiclass", 3, "linear", "one_hot", "softmax"), (5, 3)),
    ],
)
def test_a_single_prediction_loss_keeps_its_one_output_head(name, task, n_classes, expected, output_shape):
    import torch

    from losskit.lab.models import activate, head_for

    head, _ = head_for(lk.get(name), task, n_classes)
    assert (head.task, head.n_outputs, head.activation, head.labels, head.to_probabilities) == expected
    assert head.secondary == () and head.activations == (head.activation,)
    output = activate(head, torch.randn(5, head.n_outputs))
    assert isinstance(output, torch.Tensor) and output.shape == output_shape


def test_gaussian_nll_is_compared_with_mse_on_its_mean_and_reports_its_variance():
    result = quiet_compare(dataset="heteroscedastic_regression", losses="mse,gaussian_nll", seeds=1, epochs=30)
    runs = {run.config.loss.name: run for run in result.runs}
    gaussian, mse = runs["gaussian_nll"], runs["mean_squared_error"]
    # The point metrics judge the mean, on the same scale as mse's prediction.
    assert set(gaussian.metrics) == {*M.REGRESSION_METRICS, "nll", "coverage_90", "coverage_95"}
    assert all(math.isfinite(v) for v in gaussian.metrics.values())
    assert gaussian.metrics["r2"] > 0.7 and abs(gaussian.metrics["rmse"] - mse.metrics["rmse"]) < 0.2 * mse.metrics["rmse"]
    assert len(gaussian.test_predictions) == len(gaussian.test_targets)
    # A trained variance covers about 95% (90%) of the clean test targets with its 95% (90%) interval.
    assert 0.85 <= gaussian.metrics["coverage_95"] <= 1.0
    assert 0.78 <= gaussian.metrics["coverage_90"] <= gaussian.metrics["coverage_95"]
    # The variance metrics belong to losses that predict a variance: mse has none, and the
    # summary marks it NaN so that the table keeps one column per metric.
    assert set(mse.metrics) == set(M.REGRESSION_METRICS)
    rows = {row["name"]: row for row in result.per_loss}
    assert math.isnan(rows["mean_squared_error"]["nll_mean"]) and math.isfinite(rows["gaussian_nll"]["nll_mean"])
    assert result.primary_metric == "rmse" and set(result.ranking) == {"mean_squared_error", "gaussian_nll"}


def test_predictive_metrics_are_the_gaussian_log_likelihood_and_the_95_percent_coverage():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=20000), rng.uniform(0.5, 3.0, 20000)
    y = mean + std * rng.standard_normal(20000)
    m = M.predictive_metrics(y, mean, std**2)
    assert m["nll"] == pytest.approx(-np.mean(stats.norm.logpdf(y, mean, std)), rel=1e-12)
    assert m["coverage_95"] == pytest.approx(0.95, abs=0.01)
    # Too small a variance covers less and scores a worse likelihood.
    small = M.predictive_metrics(y, mean, (std / 2) ** 2)
    assert small["coverage_95"] < 0.75 and small["nll"] > m["nll"]
    # A variance that collapsed to 0 is floored, not a division by zero.
    assert math.isfinite(M.predictive_metrics([1.0], [0.0], [0.0], floor=1e-6)["nll"])


def test_regression_loss_on_class_probabilities_trains_with_a_warning():
    with pytest.warns(UserWarning, match="gradient vanishes for confident mistakes"):
        result = quiet_compare(dataset="breast_cancer", losses="mse", seeds=1, epochs=5)
    assert result.runs[0].metrics["accuracy"] > 0.8


# ----------------------------------------------------------------------------- parameters


def test_parse_param_resolves_aliases_and_validates_the_value():
    assert parse_param("pinball.q=0.9") == ("quantile", "q", 0.9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hubr.delta=0.5", "unknown loss 'hubr'"),
        ("huber.beta=0.5", r"huber has no parameter 'beta'; did you mean 'delta'\? it accepts delta"),
        ("huber.delta=-1", "huber.delta must be a finite number > 0"),
        ("huber.delta=abc", "'abc' is not a number"),
        ("huber=0.5", "must look like LOSS.PARAM=VALUE"),
    ],
)
def test_bad_params_are_rejected_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_param(text)


def test_params_for_a_loss_not_compared_are_rejected():
    with pytest.raises(ValueError, match="not among the compared losses"):
        quiet_compare(losses="mse,mae", params=["huber.delta=0.5"], seeds=1, epochs=1)


def test_params_as_strings_or_dict_give_the_same_runs():
    from_strings = quiet_compare(losses="huber", params=["huber.delta=0.5"], seeds=1, epochs=2)
    from_dict = quiet_compare(losses="huber", params={"huber_loss": {"delta": 0.5}}, seeds=1, epochs=2)
    assert from_strings.runs[0].key == from_dict.runs[0].key
    assert from_strings.ranking == ["huber(delta=0.5)"]


# ----------------------------------------------------------------------------- CSV input


def _write_table(tmp_path, n=40, **columns):
    import pandas as pd

    rng = np.random.default_rng(0)
    data = {"a": rng.standard_normal(n), "b": rng.standard_normal(n)}
    data["y"] = 3 * data["a"] - data["b"] + 0.1 * rng.standard_normal(n)
    data.update(columns)
    path = tmp_path / "table.csv"
    pd.DataFrame(data).to_csv(path, index=False)
    return path


def test_csv_regression_run_one_hot_encodes_low_cardinality_text(tmp_path):
    path = _write_table(tmp_path, n=100, colour=["red", "green", "blue", "red"] * 25)
    result = quiet_compare(csv=path, target="y", losses="mse,huber", seeds=1, epochs=100)
    data = result.settings["data"]
    assert result.task == "regression"
    assert data["feature_names"] == ["a", "b", "colour=blue", "colour=green", "colour=red"]
    assert result.runs[0].metrics["r2"] > 0.8


def test_csv_classification_target_keeps_its_class_names(tmp_path):
    path = _write_table(tmp_path, label=["yes", "no"] * 20)
    result = quiet_compare(csv=path, target="label", losses="sigmoid_cross_entropy", seeds=1, epochs=2)
    assert result.task == "binary"
    assert result.settings["data"]["class_names"] == ["no", "yes"]


@pytest.mark.parametrize(
    ("columns", "n", "target", "message"),
    [
        ({}, 40, "price", r"no target column 'price'; the columns are 'a', 'b', 'y'"),
        ({"city": [f"c{i}" for i in range(40)]}, 40, "y", r"feature column 'city' is not numeric .* 40 distinct values.*drop the column"),
        ({"size": ["1.5"] * 10 + ["big"] + ["2.0"] * 29}, 40, "y", r"column 'size' holds 'big', not a number, at data row 11"),
        ({"c": [1.0] * 6 + [float("nan")] + [1.0] * 33}, 40, "y", r"column 'c' has a missing value \(NaN\) at data row 7"),
        ({"one": ["x"] * 40}, 40, "one", r"target column 'one' holds a single class \('x'\)"),
        ({}, 12, "y", r"12 rows is too few; the lab needs at least 20 rows"),
    ],
    ids=["missing-target", "high-cardinality-text", "stray-text", "nan", "single-class", "too-few-rows"],
)
def test_bad_csv_is_rejected_with_a_one_line_message_naming_file_column_and_row(tmp_path, columns, n, target, message):
    path = _write_table(tmp_path, n=n, **columns)
    with pytest.raises(ValueError, match=message) as error:
        quiet_compare(csv=path, target=target, seeds=1, epochs=1)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_csv_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv: no such file"):
        quiet_compare(csv=tmp_path / "nope.csv", target="y")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed, Parquet is readable")
def test_parquet_without_pyarrow_says_what_to_install(tmp_path):
    path = tmp_path / "table.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="reading Parquet needs pyarrow: pip install pyarrow"):
        quiet_compare(csv=path, target="y")


@pytest.mark.parametrize(
    ("values", "task"),
    [([0.5, 1.25, 3.0], "regression"), ([0, 1, 1, 0], "binary"), (["a", "b", "c"], "multiclass"),
     ([1, 2, 3, 2], "multiclass"), (list(range(50)), "regression"), ([2.0, 3.0, 4.0], "multiclass")],
)
def test_task_is_inferred_from_the_target(values, task):
    assert infer_task(values) == task


# ----------------------------------------------------------------------------- perturbations


def _splits(dataset, **perturbation):
    data = load_dataset(dataset)
    return prepare_split(data, 1), prepare_split(data, 1, **perturbation)


def test_outliers_change_only_the_chosen_training_targets():
    clean, noisy = _splits("diabetes", outliers=0.2)
    original, corrupted = clean.to_original_units(clean.y_train), noisy.to_original_units(noisy.y_train)
    changed = np.flatnonzero(~np.isclose(original, corrupted))
    assert len(changed) == round(0.2 * len(clean.y_train))
    np.testing.assert_array_equal(changed, noisy.perturbed)
    np.testing.assert_allclose(noisy.to_original_units(noisy.y_val), clean.to_original_units(clean.y_val))
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)
    np.testing.assert_array_equal(noisy.X_test, clean.X_test)
    # Robust target scaling: the outliers barely move the scale the losses see. With 20% of the
    # targets pushed out on both sides the quartiles move out to about the 15th and 85th
    # percentiles of the clean targets (about 1.5 times the interquartile range), while the
    # standard deviation, which a plain standardisation would use, grows several times.
    assert clean.target_scale < noisy.target_scale < 1.7 * clean.target_scale
    assert np.std(corrupted) > 5 * np.std(original)


def test_outliers_are_gross_errors_upwards_for_non_negative_targets():
    data = load_dataset("diabetes")
    clean, noisy = prepare_split(data, 0), prepare_split(data, 0, outliers=0.1)
    original = clean.to_original_units(clean.y_train)
    corrupted = noisy.to_original_units(noisy.y_train)
    jumps = (corrupted - original)[noisy.perturbed]
    assert np.all(jumps >= 10 * original.std() * 0.99)


def test_label_noise_flips_only_training_labels_to_another_class():
    clean, noisy = _splits("iris", label_noise=0.3)
    flipped = clean.y_train != noisy.y_train
    assert flipped.sum() == round(0.3 * len(clean.y_train))
    np.testing.assert_array_equal(np.flatnonzero(flipped), noisy.perturbed)
    np.testing.assert_array_equal(noisy.y_val, clean.y_val)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)


def test_imbalance_subsamples_the_minority_class_of_the_training_split_only():
    clean, skewed = _splits("breast_cancer", imbalance=0.1)
    counts = np.bincount(skewed.y_train)
    assert counts.min() / counts.max() == pytest.approx(0.1, abs=0.01)
    assert counts.max() == np.bincount(clean.y_train).max()
    np.testing.assert_array_equal(skewed.y_test, clean.y_test)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dataset="iris", outliers=0.1), "outliers= corrupts regression targets"),
        (dict(dataset="diabetes", label_noise=0.1), "label_noise= flips class labels"),
        (dict(dataset="diabetes", imbalance=0.5), "imbalance subsamples classes"),
        (dict(dataset="diabetes", outliers=1.5), "outliers must be a fraction in"),
    ],
)
def test_perturbations_that_do_not_fit_the_task_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quiet_compare(**kwargs)


def test_test_split_differs_between_seeds_but_not_between_losses():
    result = quiet_compare(dataset="diabetes", losses="mse,mae", seeds=2, epochs=1)
    targets = {(r.loss_label, r.config.seed): r.test_targets for r in result.runs}
    assert targets[("mean_squared_error", 0)] == targets[("mean_absolute_error", 0)]
    assert targets[("mean_squared_error", 0)] != targets[("mean_squared_error", 1)]


# ----------------------------------------------------------------------------- reproducibility


def _config(**changes) -> RunConfig:
    data = load_dataset("diabetes")
    base = RunConfig(
        dataset=data.name, data_fingerprint=data.fingerprint, target=data.target, task="regression",
        loss=lk.lab.LossSpec("huber"), model="mlp", seed=0, epochs=8, batch_size=32, learning_rate=3e-3,
        patience=3, outliers=0.1, label_noise=0.0, imbalance=None, device="cpu",
    )
    return dataclasses.replace(base, **changes)


def test_the_same_config_trains_bit_for_bit_identical_runs():
    data = load_dataset("diabetes")
    first, second = run_one(_config(), data), run_one(_config(), data)
    assert first.metrics == second.metrics
    assert first.train_loss == second.train_loss and first.val_loss == second.val_loss
    assert first.test_predictions == second.test_predictions


def test_run_result_survives_a_json_round_trip():
    import json

    result = run_one(_config(epochs=2), load_dataset("diabetes"))
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@pytest.mark.parametrize(
    "change",
    [
        {"dataset": "other"}, {"data_fingerprint": "x"}, {"target": "other"}, {"task": "binary"},
        {"loss": lk.lab.LossSpec("huber", (("delta", 0.5),))}, {"model": "linear"}, {"seed": 1}, {"epochs": 9},
        {"batch_size": 16}, {"learning_rate": 1e-2}, {"patience": 4}, {"outliers": 0.2}, {"label_noise": 0.1},
        {"imbalance": 0.5}, {"device": "cuda"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changing_any_setting_changes_the_run_key(change):
    assert _config(**change).key() != _config().key()


def test_every_config_field_is_covered_by_the_key_test():
    covered = {"dataset", "data_fingerprint", "target", "task", "loss", "model", "seed", "epochs", "batch_size",
               "learning_rate", "patience", "outliers", "label_noise", "imbalance", "device"}
    assert {f.name for f in dataclasses.fields(RunConfig)} == covered


# ----------------------------------------------------------------------------- the store and resume


def test_second_call_reads_every_finished_run_back_instead_of_training(tmp_path):
    settings = dict(dataset="diabetes", losses="mse,mae", seeds=2, epochs=3, out=tmp_path, report=False, progress=False)
    first = compare(**settings)
    second = compare(**settings)
    assert (first.new_runs, first.reused_runs) == (4, 0)
    assert (second.new_runs, second.reused_runs) == (0, 4)
    assert [r.metrics for r in second.runs] == [r.metrics for r in first.runs]
    assert (tmp_path / "runs.sqlite").exists()


def test_a_changed_setting_trains_new_runs_and_keeps_the_old_ones(tmp_path):
    settings = dict(dataset="diabetes", losses="mse", seeds=2, out=tmp_path, report=False, progress=False)
    compare(epochs=2, **settings)
    changed = compare(epochs=3, **settings)
    assert (changed.new_runs, changed.reused_runs) == (2, 0)
    with RunStore(tmp_path / "runs.sqlite") as store:
        assert len(store) == 4


def test_adding_a_seed_trains_only_the_new_runs(tmp_path):
    settings = dict(dataset="diabetes", losses="mse,mae", epochs=2, out=tmp_path, report=False, progress=False)
    compare(seeds=1, **settings)
    grown = compare(seeds=2, **settings)
    assert (grown.new_runs, grown.reused_runs) == (2, 2)


def test_store_uses_write_ahead_logging(tmp_path):
    import sqlite3

    RunStore(tmp_path / "runs.sqlite").close()
    mode = sqlite3.connect(tmp_path / "runs.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_report_is_written_through_the_report_module(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("losskit.lab.report")
    fake.write_report = lambda result, out, **options: calls.append((result.winner, out))
    monkeypatch.setitem(sys.modules, "losskit.lab.report", fake)
    result = compare(dataset="diabetes", losses="mse,mae", seeds=1, epochs=1, out=tmp_path, progress=False)
    assert calls == [(result.winner, str(tmp_path))]


def test_progress_bar_goes_to_stderr_only_when_asked(capsys):
    quiet_compare(losses="mse", seeds=1, epochs=1)
    assert capsys.readouterr().err == ""
    compare(losses="mse", seeds=1, epochs=1, out=None, report=False, progress=True)
    captured = capsys.readouterr()
    assert "runs" in captured.err and captured.out == ""


# ----------------------------------------------------------------------------- backends


SMALL_SWEEP = dict(dataset="diabetes", losses="mse,huber", seeds=2, epochs=5, out=None, report=False, progress=False)


def test_worker_processes_give_the_same_metrics_as_in_process_runs():
    local = compare(**SMALL_SWEEP)
    parallel = compare(**SMALL_SWEEP, jobs=2)
    assert [r.metrics for r in parallel.runs] == [r.metrics for r in local.runs]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'losskit[ray]')")
def test_ray_backend_gives_the_same_metrics_as_the_local_backend():
    local = compare(**SMALL_SWEEP)
    on_ray = compare(**SMALL_SWEEP, backend="ray", jobs=2)
    assert [r.metrics for r in on_ray.runs] == [r.metrics for r in local.runs]


def test_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else object())
    with pytest.raises(ImportError, match=r"pip install 'losskit\[ray\]'"):
        quiet_compare(backend="ray")


# ----------------------------------------------------------------------------- metrics


def test_classification_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    y = rng.integers(0, 4, size=200)
    ours = M.classification_metrics(y, proba)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)))
    assert ours["macro_f1"] == pytest.approx(skm.f1_score(y, proba.argmax(1), average="macro"))
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert ours["brier"] == pytest.approx(np.mean(np.sum((proba - np.eye(4)[y]) ** 2, axis=1)))


def test_pr_auc_is_scikit_learns_average_precision_also_with_tied_scores():
    from sklearn import metrics as skm

    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.1).astype(int)
    score = np.round(rng.random(300) * 0.6 + 0.4 * y, 1)  # coarse: many ties
    assert M.average_precision(y == 1, score) == pytest.approx(skm.average_precision_score(y, score))
    proba = np.stack([1 - score, score], axis=1)
    assert M.classification_metrics(y, proba)["pr_auc"] == pytest.approx(skm.average_precision_score(y, score))
    assert "pr_auc" not in M.classification_metrics([0, 1, 2], np.eye(3))


def test_focal_poly1_and_deviance_losses_compare_with_their_baselines():
    imbalanced = quiet_compare(dataset="imbalanced_classification", losses="sigmoid_cross_entropy,sigmoid_focal",
                               seeds=1, epochs=10)
    assert all(0.3 < row["pr_auc_mean"] <= 1.0 for row in imbalanced.per_loss)
    multiclass = quiet_compare(dataset="wine", losses="softmax_cross_entropy,poly1_cross_entropy", seeds=1, epochs=20)
    assert all(row["accuracy_mean"] > 0.8 for row in multiclass.per_loss)
    deviances = quiet_compare(dataset="diabetes", losses="poisson,tweedie_deviance,gamma_deviance", seeds=1, epochs=60)
    assert all(row["r2_mean"] > 0.2 for row in deviances.per_loss)


def test_expected_calibration_error_of_a_perfectly_calibrated_bin_is_zero():
    # Four predictions at confidence 0.75, three of them right: calibrated.
    proba = np.array([[0.75, 0.25]] * 4)
    assert M.expected_calibration_error(np.array([0, 0, 0, 1]), proba) == pytest.approx(0.0)
    assert M.expected_calibration_error(np.array([1, 1, 1, 1]), proba) == pytest.approx(0.75)


def test_regression_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(1)
    y, p = rng.standard_normal(50), rng.standard_normal(50)
    ours = M.regression_metrics(y, p)
    assert ours["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert ours["median_ae"] == pytest.approx(skm.median_absolute_error(y, p))
    assert ours["r2"] == pytest.approx(skm.r2_score(y, p))


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
@pytest.mark.parametrize("t", [0.1, 1.0, 2.5, 8.0])
def test_t_test_p_value_without_scipy_matches_scipy(df, t):
    scipy_stats = pytest.importorskip("scipy.stats")
    assert M.regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t)) == pytest.approx(
        2 * scipy_stats.t.sf(t, df), rel=1e-9
    )


def test_paired_comparison_matches_a_paired_t_test():
    scipy_stats = pytest.importorskip("scipy.stats")
    runs = [
        _fake_run(label, seed, rmse)
        for label, values in (("a", [1.0, 1.2, 0.9, 1.1]), ("b", [1.3, 1.25, 1.2, 1.4]))
        for seed, rmse in enumerate(values)
    ]
    significance = M.paired_comparison(runs, "a", "b", "rmse")
    expected = scipy_stats.ttest_rel([1.3, 1.25, 1.2, 1.4], [1.0, 1.2, 0.9, 1.1])
    assert significance["t_statistic"] == pytest.approx(expected.statistic)
    assert significance["p_value"] == pytest.approx(expected.pvalue)
    assert significance["significant"] and "larger than the seed-to-seed noise" in significance["sentence"]


def test_two_seeds_are_never_called_significant():
    runs = [_fake_run("a", s, 1.0 + s) for s in range(2)] + [_fake_run("b", s, 2.0 + s * 1.01) for s in range(2)]
    significance = M.paired_comparison(runs, "a", "b", "rmse")
    assert not significance["significant"] and "run more seeds" in significance["sentence"]


def _fake_run(label, seed, rmse):
    spec = lk.lab.LossSpec(label)
    config = dataclasses.replace(_config(), loss=spec, seed=seed)
    return RunResult("k", config, {"rmse": rmse}, [], [], 0, 0.0, [], [])


def test_compare_result_repr_is_short_and_to_frame_has_a_row_per_loss_and_seed():
    pd = pytest.importorskip("pandas")
    result = quiet_compare(dataset="diabetes", losses="mse,mae", seeds=2, epochs=3)
    text = repr(result)
    assert len(text) < 400 and "diabetes" in text and result.winner in text
    assert all(len(repr(run)) < 400 for run in result.runs)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 4
    assert set(frame["loss"]) == {row["loss"] for row in result.per_loss} and set(frame["seed"]) == {r.config.seed for r in result.runs}
    per_loss = result.to_frame(per="loss")
    assert list(per_loss["loss"]) == result.ranking


@pytest.mark.parametrize(
    "kwargs, python_spelling, cli_spelling",
    [
        (dict(dataset="diabetes", csv="data.csv"), "dataset= (a built-in name) or csv=", "--dataset (a built-in name) or --csv"),
        (dict(dataset="diabetes", task="binary"), "got task='binary' (use task='auto')", "got --task binary (use --task auto)"),
        (dict(dataset="diabetes", label_noise=0.1), "for regression use outliers=", "for regression use --outliers"),
        (dict(dataset="diabetz"), "did you mean 'diabetes'? ", "or pass --csv a file"),
    ],
)
def test_argument_errors_name_keywords_in_python_and_flags_on_the_command_line(kwargs, python_spelling, cli_spelling):
    from losskit.cli import flag_spelling

    with pytest.raises(lk.ArgumentError) as caught:
        compare(losses=["mean_squared_error"], **kwargs)
    assert python_spelling in str(caught.value)
    assert cli_spelling in caught.value.render(flag_spelling)
