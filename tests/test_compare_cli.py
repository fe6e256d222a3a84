"""``losskit compare`` for a first-time user: flags in every error, did-you-mean for every name,
the datasets in ``--help``, column choice, honest titles, a warning for a constant model, and a
plain-text ``summary()`` of a result.

Error paths go through ``losskit.cli.main`` in-process (each fails before any training), so the
whole list stays cheap; the few tests that train use tiny settings.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit as lk
from losskit.lab.data import DATASETS, GENERATED_DATASETS
from test_cli_errors import assert_cli_error, run_main  # noqa: F401  (run_main is a fixture)

pytest.importorskip("torch")
pytest.importorskip("pandas")

NUMERIC = "a,b,y\n" + "".join(f"{i},{i % 7},{i * 0.5}\n" for i in range(40))

# name: (argv after 'compare', fragments the one line must hold); every argument is spelled as a flag.
COMPARE_ERRORS = {
    "metric-typo": (["--metric", "rsme"], ["--metric rsme", "did you mean 'rmse'", "mae"]),
    "metric-of-another-task": (["--metric", "accuracy"], ["--metric accuracy", "regression metric"]),
    "model-typo": (["--model", "lienar"], ["--model lienar", "did you mean 'linear'", "mlp", "gbdt"]),
    "backend-typo": (["--backend", "rey"], ["--backend rey", "did you mean 'ray'"]),
    "dataset-typo": (["--dataset", "diabetis"], ["'diabetis'", "did you mean 'diabetes'", "--csv"]),
    "loss-typo": (["--losses", "mse,hubr"], ["'hubr'", "did you mean", "'huber'", "losskit list"]),
    "param-name-typo": (["--losses", "huber", "--param", "huber.delt=0.5"], ["'delt'", "did you mean 'delta'"]),
    "sweep-typo": (["--sweep", "outlier=0,0.1"], ["--sweep", "'outlier'", "did you mean 'outliers'"]),
    "drop-typo": (["--drop", "sexx"], ["--drop", "'sexx'", "did you mean 'sex'", "bmi"]),
    "features-typo": (["--features", "age,bmii"], ["--features", "'bmii'", "did you mean 'bmi'"]),
    "features-and-drop-leave-nothing": (["--features", "age", "--drop", "age"], ["--features", "--drop", "no feature column"]),
    "csv-drops-target": (["--csv", "d.csv", "--target", "y", "--drop", "y"], ["--drop", "target column 'y'"]),
    "csv-feature-typo": (["--csv", "d.csv", "--target", "y", "--features", "aa"], ["--features", "did you mean 'a'"]),
    "dataset-and-csv": (["--dataset", "diabetes", "--csv", "d.csv", "--target", "y"], ["--dataset", "--csv", "not both"]),
    "target-for-builtin": (["--dataset", "diabetes", "--target", "y"], ["--target", "--csv"]),
    "task-for-builtin": (["--dataset", "diabetes", "--task", "binary"], ["--task binary", "--task auto"]),
    "csv-without-target": (["--csv", "d.csv"], ["--target"]),
    "empty-losses": (["--losses", ","], ["--losses"]),
    "bad-seeds": (["--seeds", "a,b"], ["--seeds"]),
}


@pytest.mark.parametrize("case", list(COMPARE_ERRORS))
def test_every_compare_error_is_one_line_in_flags(run_main, tmp_path, case):
    argv, fragments = COMPARE_ERRORS[case]
    (tmp_path / "d.csv").write_text(NUMERIC)
    result = run_main("compare", "--epochs", "1", "--seeds", "1", "--no-progress", "--out", str(tmp_path / "out"), *argv)
    assert_cli_error(result, fragments)


def test_the_python_api_names_keywords_for_the_same_mistakes():
    with pytest.raises(lk.ArgumentError, match=r"metric='rsme' is not a regression metric; did you mean 'rmse'"):
        lk.lab.compare(dataset="diabetes", metric="rsme", out=None, progress=False)
    with pytest.raises(lk.ArgumentError, match=r"model='lienar' is not a model; did you mean 'linear'"):
        lk.lab.compare(dataset="diabetes", model="lienar", out=None, progress=False)
    with pytest.raises(lk.ArgumentError, match=r"drop= names no column 'sexx'; did you mean 'sex'"):
        lk.lab.compare(dataset="diabetes", drop=["sexx"], out=None, progress=False)


def test_help_lists_every_dataset_and_the_generators(run_main):
    result = run_main("compare", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "Generated datasets" in text
    for name in DATASETS:
        assert name in text, name
    generated = text.split("Generated datasets", 1)[1]
    assert GENERATED_DATASETS and all(name in generated for name in GENERATED_DATASETS)
    assert "--features" in text and "--drop" in text


def test_features_and_drop_choose_the_columns_that_are_trained_on(tmp_path):
    kept = lk.lab.compare(dataset="diabetes", losses="mse", features="age,bmi,bp", seeds=1, epochs=2, out=None, progress=False)
    assert kept.settings["data"]["feature_names"] == ["age", "bmi", "bp"]
    dropped = lk.lab.compare(dataset="diabetes", losses="mse", drop=["sex"], seeds=1, epochs=2, out=None, progress=False)
    assert "sex" not in dropped.settings["data"]["feature_names"] and dropped.settings["data"]["n_features"] == 9
    whole = lk.lab.compare(dataset="diabetes", losses="mse", seeds=1, epochs=2, out=None, progress=False)
    # Different columns are different data: distinct fingerprints, never a reused run.
    keys = {run.config.data_fingerprint for result in (kept, dropped, whole) for run in result.runs}
    assert len(keys) == 3
    from losskit.lab.report import command_line

    assert "--features age,bmi,bp" in command_line(kept) and "--drop sex" in command_line(dropped)

    # A CSV column with free text makes the file unusable until it is dropped.
    rows = "".join(f"{i},{i % 7},note {i},{i * 0.5}\n" for i in range(40))
    path = tmp_path / "notes.csv"
    path.write_text("a,b,comment,y\n" + rows)
    with pytest.raises(ValueError, match="comment"):
        lk.lab.compare(csv=path, target="y", losses="mse", seeds=1, epochs=2, out=None, progress=False)
    fine = lk.lab.compare(csv=path, target="y", losses="mse", drop="comment", seeds=1, epochs=2, out=None, progress=False)
    assert fine.runs and fine.settings["drop"] == ["comment"]


def test_the_title_says_a_users_test_rows_are_not_cleaned(tmp_path):
    from losskit.cli.compare_command import ranked_table

    path = tmp_path / "d.csv"
    path.write_text(NUMERIC)
    mine = lk.lab.compare(csv=path, target="y", losses="mse", seeds=1, epochs=2, out=None, progress=False)
    builtin = lk.lab.compare(dataset="diabetes", losses="mse", seeds=1, epochs=2, out=None, progress=False)
    assert "not cleaned" in ranked_table(mine)[0] and "clean test split" not in ranked_table(mine)[0]
    assert "clean test split" in ranked_table(builtin)[0]
    assert "not cleaned" in " ".join(mine.summary().split()) and "clean test split" in " ".join(builtin.summary().split())


def test_a_model_that_predicts_one_class_on_every_seed_is_warned_about_once(tmp_path):
    rng = np.random.default_rng(0)
    labels = (rng.random(60) < 0.3).astype(int)
    path = tmp_path / "constant.csv"
    path.write_text("c,y\n" + "".join(f"1.0,{label}\n" for label in labels))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = lk.lab.compare(csv=path, target="y", losses="sigmoid_cross_entropy", seeds=2, epochs=2, out=None, progress=False)
    notes = [w for w in result.warnings if "single class" in w]
    assert len(notes) == 1 and "sigmoid_cross_entropy" in notes[0] and "all 2 runs" in notes[0]
    assert sum("single class" in str(w.message) for w in caught) == 1

    regression = tmp_path / "flat.csv"
    regression.write_text("c,y\n" + "".join(f"1.0,{value}\n" for value in rng.normal(size=60)))
    result = lk.lab.compare(csv=regression, target="y", losses="mse,mae", seeds=2, epochs=2, out=None, progress=False)
    assert sum("predicts a constant" in w for w in result.warnings) == 2


def test_a_learning_model_gets_no_constant_warning():
    result = lk.lab.compare(dataset="breast_cancer", losses="sigmoid_cross_entropy", seeds=1, epochs=3, out=None, progress=False)
    assert not any("single class" in w for w in result.warnings)


def test_summary_is_plain_text_at_the_requested_width():
    result = lk.lab.compare(dataset="diabetes", losses="mse,mae,huber", seeds=2, epochs=3, out=None, progress=False)
    for width in (60, 80, 120):
        text = result.summary(width=width)
        lines = text.splitlines()
        assert max(map(len, lines)) <= width, text
        assert "\x1b" not in text and "\xa0" not in text
        # Ranked lines, best first, each metric with its spread kept together.
        ranked = [line for line in lines if line.lstrip()[:2] in ("1.", "2.", "3.")]
        assert [line.split()[1] for line in ranked] == result.ranking
        assert all(line.split()[1:3] != ["±"] for line in lines)
        assert "RMSE" in text and " ± " in text
        assert f"{result.winner} wins" in text or f"{result.winner} ties" in text
    assert len(repr(result)) < 300


def test_the_sweep_table_fits_80_columns(run_main, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_main("compare", "--dataset", "diabetes", "--losses", "mse,huber,mae", "--sweep", "outliers=0,0.1,0.2,0.3,0.4",
                      "--seeds", "2", "--epochs", "2", "--no-progress", "--out", str(tmp_path / "sweep"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, result.stdout
    assert "…" not in result.stdout
    header_words = " ".join(line for line in lines if line.split()[:2] == ["#", "loss"])
    for level in ("outliers=0", "outliers=0.1", "outliers=0.2", "outliers=0.3", "outliers=0.4"):
        assert level in header_words.split(), result.stdout


def test_no_winner_is_named_when_every_loss_is_nan():
    import math

    from losskit.lab._types import CompareResult
    from losskit.lab.report import verdict

    rows = [{"loss": name, "rmse_mean": math.nan, "rmse_std": math.nan} for name in ("a", "b")]
    result = CompareResult(task="regression", primary_metric="rmse", settings={}, runs=[], per_loss=rows,
                           ranking=["a", "b"], significance={}, reused_runs=0, new_runs=0)
    assert verdict(result).startswith("No loss reached a finite RMSE") and "wins" not in verdict(result)
