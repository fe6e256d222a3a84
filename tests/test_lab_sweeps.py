"""The lab's second round: learning dynamics, sweeps over a perturbation, tuned loss parameters."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

import losskit as lk  # noqa: E402
from losskit.lab import compare, parse_param  # noqa: E402
from losskit.lab import metrics as M  # noqa: E402
from losskit.lab import train as lab_train  # noqa: E402
from losskit.lab.report import command_line  # noqa: E402
from losskit.lab.runner import Grid, auto_grid, parse_sweep  # noqa: E402

QUICK = dict(out=None, report=False, progress=False)


# ----------------------------------------------------------------------------- learning dynamics


@pytest.fixture(scope="module")
def dynamics():
    return compare(dataset="diabetes", losses="mse,huber", seeds=2, epochs=12, patience=12, **QUICK)


def test_every_epoch_records_train_and_val_loss_clean_metric_gradient_norm_and_wall_time(dynamics):
    for run in dynamics.runs:
        n = len(run.train_loss)
        assert n == 12 and len(run.val_loss) == len(run.val_metric) == len(run.grad_norm) == len(run.wall_time) == n
        assert run.monitor == "rmse"
        assert all(v > 0 and math.isfinite(v) for v in run.grad_norm)
        assert all(b > a for a, b in zip(run.wall_time, run.wall_time[1:]))
        assert 0 < run.train_seconds <= run.seconds
        # The monitor is the clean validation RMSE: at the kept epoch it is the final validation metric.
        assert run.val_metric[run.best_epoch] == pytest.approx(run.val_metrics["rmse"], rel=1e-5)


def test_summary_gains_epochs_to_convergence_training_time_and_generalisation_gap(dynamics):
    for row in dynamics.per_loss:
        mine = [r for r in dynamics.runs if r.loss_label == row["loss"]]
        gaps = [r.train_metrics["rmse"] - r.metrics["rmse"] for r in mine]
        assert row["gap_mean"] == pytest.approx(np.mean(gaps))
        assert row["train_seconds_mean"] == pytest.approx(np.mean([r.train_seconds for r in mine]))
        assert 1 <= row["epochs_to_convergence_mean"] <= 12


def test_epochs_to_convergence_follows_the_direction_of_the_metric():
    assert M.epochs_to_convergence([5.0, 3.0, 2.01, 2.0], "rmse") == 3.0
    assert M.epochs_to_convergence([0.5, 0.9, 0.995, 1.0], "macro_f1") == 3.0
    assert math.isnan(M.epochs_to_convergence([], "rmse"))


def test_train_metrics_use_the_clean_targets_of_the_training_rows():
    clean = compare(dataset="diabetes", losses="mse", seeds=1, epochs=5, **QUICK).runs[0]
    dirty = compare(dataset="diabetes", losses="mse", seeds=1, epochs=5, outliers=0.3, **QUICK).runs[0]
    # With gross errors in the training targets, a metric on them would be in the hundreds; on
    # the clean targets it stays of the size of the test metric.
    assert dirty.train_metrics["rmse"] < 2 * dirty.metrics["rmse"]
    assert clean.train_metrics.keys() == clean.metrics.keys()


# ----------------------------------------------------------------------------- sweeps


def test_parse_sweep_reads_every_perturbation_and_rejects_bad_levels():
    assert parse_sweep("outliers=0,0.1,0.2") == ("outliers", [0.0, 0.1, 0.2])
    assert parse_sweep("imbalance=none,0.5") == ("imbalance", [None, 0.5])
    assert parse_sweep({"label_noise": [0, 0.2]}) == ("label_noise", [0.0, 0.2])
    for bad, message in (("outliers=0", "at least two levels"), ("noise=0,1", "sweepable settings"),
                         ("outliers=0,x", "not a number"), ("outliers=0,0", "repeats a level")):
        with pytest.raises(ValueError, match=message):
            parse_sweep(bad)


def test_a_sweep_level_out_of_range_is_rejected_before_training():
    with pytest.raises(ValueError, match="outliers must be a fraction"):
        compare(dataset="diabetes", losses="mse", sweep="outliers=0,1.5", seeds=1, epochs=1, **QUICK)
    with pytest.raises(ValueError, match="label_noise= flips class labels"):
        compare(dataset="diabetes", losses="mse", sweep="label-noise=0,0.1", seeds=1, epochs=1, **QUICK)


@pytest.fixture(scope="module")
def outlier_sweep():
    return compare(dataset="heavy_tailed_regression", losses="mse,huber", sweep="outliers=0,0.2,0.4",
                   seeds=3, epochs=40, **QUICK)


def test_robustness_curve_of_mse_grows_with_contamination_faster_than_hubers(outlier_sweep):
    sweep = outlier_sweep.sweep
    assert sweep["setting"] == "outliers" and sweep["levels"] == [0.0, 0.2, 0.4]
    assert sweep["baseline"] == "mean_squared_error"
    mse, huber = sweep["curves"]["mean_squared_error"]["mean"], sweep["curves"]["huber"]["mean"]
    assert mse[-1] - mse[0] > 2 * (huber[-1] - huber[0])
    assert mse[0] < mse[1] < mse[2]
    # Seed-to-seed error bars, one per level.
    assert len(sweep["curves"]["huber"]["std"]) == 3 and all(v >= 0 for v in sweep["curves"]["huber"]["std"])


@pytest.fixture(scope="module")
def diabetes_sweep():
    # On the heavy-tailed data a few extreme test targets dominate the RMSE of some splits, too
    # noisy for a 3-seed test; diabetes' clean targets show the contamination alone.
    return compare(dataset="diabetes", losses="mse,huber", sweep="outliers=0,0.1,0.2", seeds=3, epochs=40, **QUICK)


def test_sweep_says_from_which_level_huber_beats_mse_with_the_paired_p_value(diabetes_sweep):
    sweep = diabetes_sweep.sweep
    start = sweep["from_level"]["huber"]
    assert start["found"] and start["level"] in (0.1, 0.2) and start["p_value"] < 0.05
    level_index = sweep["levels"].index(start["level"])
    tests = [level["against_baseline"]["huber"] for level in sweep["per_level"]]
    assert tests[level_index]["p_value"] == start["p_value"] and tests[level_index]["significant"]
    assert tests[level_index]["n_seeds"] == 3 and not any(t["significant"] for t in tests[:level_index])
    assert f"outliers={start['level']:g} (paired t-test" in start["sentence"]
    # Levels above where huber is not better on the mean are named (its breakdown), none here.
    assert start["not_better_above"] == [lv for lv, t in zip(sweep["levels"], tests) if lv > start["level"] and t["mean_difference"] <= 0]


def test_sweep_runs_pair_by_level_and_seed_and_pool_in_the_ranking(outlier_sweep):
    assert len(outlier_sweep.runs) == 2 * 3 * 3
    assert outlier_sweep.significance["n_seeds"] == 9  # (level, seed) pairs
    assert outlier_sweep.ranking[0] == "huber"
    rows = {row["loss"]: row for row in outlier_sweep.per_loss}
    pooled = np.mean([r.metrics["rmse"] for r in outlier_sweep.runs if r.loss_label == "huber"])
    assert rows["huber"]["rmse_mean"] == pytest.approx(pooled)


def test_a_sweep_reuses_the_runs_of_a_plain_comparison_at_one_of_its_levels(tmp_path):
    settings = dict(dataset="diabetes", losses="mse,mae", seeds=2, epochs=3, out=tmp_path, report=False, progress=False)
    compare(outliers=0.2, **settings)
    swept = compare(sweep="outliers=0,0.2", **settings)
    assert (swept.reused_runs, swept.new_runs) == (4, 4)


def test_label_noise_sweep_on_classification_compares_against_cross_entropy():
    result = compare(dataset="breast_cancer", losses="sigmoid_cross_entropy,sigmoid_focal", sweep="label-noise=0,0.3",
                     seeds=2, epochs=3, **QUICK)
    assert result.sweep["baseline"] == "sigmoid_cross_entropy"
    assert set(result.sweep["from_level"]) == {"sigmoid_focal"}


# ----------------------------------------------------------------------------- tuned parameters


def test_parse_param_reads_a_list_or_auto_as_a_grid():
    assert parse_param("huber.delta=0.1,0.5,1") == ("huber", "delta", Grid((0.1, 0.5, 1.0)))
    assert parse_param("huber.delta=auto") == ("huber", "delta", auto_grid(lk.huber, "delta"))
    assert len(auto_grid(lk.huber, "delta")) >= 4
    with pytest.raises(ValueError, match="huber.delta must be a finite number > 0"):
        parse_param("huber.delta=0.5,-1")
    with pytest.raises(ValueError, match="repeat a value"):
        parse_param("huber.delta=0.5,0.5")


@pytest.fixture(scope="module")
def tuned():
    return compare(dataset="diabetes", losses="mse,huber", params=["huber.delta=0.1,0.5,2"], outliers=0.2,
                   seeds=3, epochs=20, **QUICK)


def test_a_tuned_loss_is_ranked_at_the_value_chosen_per_seed_on_the_validation_split(tuned):
    assert tuned.ranking and "huber(delta=tuned)" in tuned.ranking
    info = tuned.tuning["huber(delta=tuned)"]
    assert info["grid"] == {"delta": [0.1, 0.5, 2.0]} and info["split"] == "validation"
    assert len(tuned.all_runs) == 3 * (1 + 3) and len(tuned.runs) == 3 * 2
    for row in info["chosen"]:
        candidates = [r for r in tuned.all_runs if r.config.loss.name == "huber" and r.config.seed == row["seed"]]
        best = min(candidates, key=lambda r: r.val_metrics["rmse"])
        assert row["params"] == {"delta": best.config.loss.param_dict["delta"]} and row["key"] == best.key
        ranked = next(r for r in tuned.runs if r.loss_label == "huber(delta=tuned)" and r.config.seed == row["seed"])
        assert ranked.key == best.key
    curve = info["curves"][0]
    assert curve["param"] == "delta" and curve["values"] == [0.1, 0.5, 2.0] and len(curve["mean"]) == 3


def test_tuning_never_reads_the_test_split(tuned, monkeypatch):
    original = lab_train.prepare_split

    def without_test_targets(*args, **kwargs):
        split = original(*args, **kwargs)
        return dataclasses.replace(split, y_test=np.full_like(split.y_test, np.nan))

    monkeypatch.setattr(lab_train, "prepare_split", without_test_targets)
    blind = compare(dataset="diabetes", losses="mse,huber", params=["huber.delta=0.1,0.5,2"], outliers=0.2,
                    seeds=3, epochs=20, **QUICK)
    assert all(math.isnan(r.metrics["rmse"]) for r in blind.runs)  # the test targets really were gone
    assert blind.tuning["huber(delta=tuned)"]["chosen"] == tuned.tuning["huber(delta=tuned)"]["chosen"]


def test_the_command_line_of_a_sweep_with_a_grid_reproduces_it(tuned):
    result = compare(dataset="diabetes", losses="mse,huber", params=["huber.delta=0.5,1"], sweep="outliers=0,0.2",
                     seeds=1, epochs=2, **QUICK)
    command = command_line(result)
    assert "--param huber.delta=0.5,1.0" in command and "--sweep outliers=0,0.2" in command
    assert "--baseline mean_squared_error" in command


# ----------------------------------------------------------------------------- speed without shortcuts


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine", "iris", "digits"])
def test_bundled_tables_read_directly_equal_scikit_learns_loaders(name):
    import sklearn.datasets

    from losskit.lab.data import load_dataset

    ours = load_dataset(name)
    bunch = getattr(sklearn.datasets, f"load_{name}")()
    np.testing.assert_array_equal(ours.X, bunch.data)
    np.testing.assert_array_equal(ours.y, bunch.target)
    assert list(ours.feature_names) == [str(f) for f in bunch.feature_names]
    if ours.task != "regression":
        assert list(ours.class_names) == [str(c) for c in bunch.target_names]


def test_a_comparison_on_a_bundled_table_imports_neither_scikit_learn_nor_scipy():
    import subprocess
    import sys

    code = ("import sys, losskit.lab as L; L.compare(dataset='diabetes', losses='mse,huber', seeds=3, epochs=2, "
            "out=None, progress=False, report=False); print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_split_is_stratified_and_covers_every_row_once():
    from losskit.lab.data import load_dataset, prepare_split

    data = load_dataset("imbalanced_classification")
    split = prepare_split(data, 0)
    sizes = (len(split.y_train), len(split.y_val), len(split.y_test))
    assert sum(sizes) == len(data.y) and abs(sizes[2] - 0.2 * len(data.y)) <= 2
    share = data.y.mean()
    assert abs(split.y_test.mean() - share) < 0.01 and abs(split.y_val.mean() - share) < 0.01


def test_a_rerun_reuses_the_figures_when_nothing_changed(tmp_path, monkeypatch):
    from losskit.lab import report

    settings = dict(dataset="diabetes", losses="mse,huber", seeds=2, epochs=3, out=tmp_path, progress=False)
    compare(**settings)
    first = (tmp_path / "report.html").read_text()
    monkeypatch.setattr(report, "report_figures", lambda *a, **k: pytest.fail("the figures were drawn again"))
    second = compare(**settings)
    assert second.reused_runs == 4
    page = (tmp_path / "report.html").read_text()
    images = lambda text: [part.split("'")[0] for part in text.split("base64,")[1:]]  # noqa: E731
    assert images(page) == images(first) and "4 finished runs reused" in page
    monkeypatch.undo()
    # A changed setting draws them again.
    calls = []
    original = report.report_figures
    monkeypatch.setattr(report, "report_figures", lambda *a, **k: calls.append(1) or original(*a, **k))
    compare(**{**settings, "epochs": 4})
    assert calls == [1]


def test_forked_workers_give_the_same_runs_as_one_process():
    one = compare(dataset="diabetes", losses="mse,huber", seeds=2, epochs=4, jobs=1, **QUICK)
    two = compare(dataset="diabetes", losses="mse,huber", seeds=2, epochs=4, jobs=2, **QUICK)
    assert [r.key for r in one.runs] == [r.key for r in two.runs]
    assert [r.metrics for r in one.runs] == [r.metrics for r in two.runs]
    assert [r.train_loss for r in one.runs] == [r.train_loss for r in two.runs]


@pytest.mark.parametrize("lr", [1e-2, 3e-3])
def test_the_labs_adam_gives_torch_optim_adams_bits(lr):
    import copy

    import torch

    from losskit.lab.train import Adam

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    twin = copy.deepcopy(model)
    theirs, ours = torch.optim.Adam(model.parameters(), lr=lr), Adam(twin.parameters(), lr=lr)
    X, y = torch.randn(64, 5), torch.randn(64, 2)
    for _ in range(40):
        for net, optimizer in ((model, theirs), (twin, ours)):
            optimizer.zero_grad()
            torch.nn.functional.huber_loss(net(X), y).backward()
            optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))
