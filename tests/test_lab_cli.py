"""End-to-end tests of ``losskit compare`` through the installed console script.

Every test starts the real ``losskit`` executable in a subprocess (as a user would), on small
settings: a few seeds, tens of epochs, the bundled offline datasets or a CSV written here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("typer")

LOSSKIT = shutil.which("losskit")
TIMEOUT_S = 300
# Quiet, CPU-only, single-threaded subprocesses: the CI machine has two shared cores.
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "COLUMNS": "160"}


def losskit(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run the installed console script and return its completed process (text output)."""
    if LOSSKIT is None:
        pytest.fail("the `losskit` console script is not on PATH: run `pip install -e .` first")
    return subprocess.run(
        [LOSSKIT, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV, check=False
    )


def compare_json(*args: str | os.PathLike) -> dict:
    """``losskit compare ... --json``: the parsed document, failing with stderr if it did not succeed."""
    done = losskit("compare", *args, "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ------------------------------------------------------------------------ regression with outliers

REGRESSION_ARGS = ("--dataset", "diabetes", "--losses", "mse,huber,mae", "--outliers", "0.2", "--seeds", "3", "--epochs", "60")


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    """One robust-regression comparison shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("regression") / "report"
    return compare_json(*REGRESSION_ARGS, "--out", out), out


def test_a_robust_loss_beats_mse_on_clean_test_rmse_with_outliers_in_training(regression):
    payload, _ = regression
    rmse = {row["loss"]: row["rmse_mean"] for row in payload["summary"]}
    assert payload["primary_metric"] == "rmse"
    assert min(rmse["huber"], rmse["mean_absolute_error"]) < rmse["mean_squared_error"]
    assert payload["winner"] in ("huber", "mean_absolute_error")


def test_a_robust_loss_beats_mse_at_every_seed_with_outliers_in_training(regression):
    payload, _ = regression
    by_seed: dict[int, dict[str, float]] = {}
    for run in payload["runs"]:
        by_seed.setdefault(run["seed"], {})[run["loss"]] = run["rmse"]
    assert sorted(by_seed) == [0, 1, 2]
    for seed, rmse in by_seed.items():
        assert min(rmse["huber"], rmse["mean_absolute_error"]) < rmse["mean_squared_error"], seed


def test_results_json_holds_every_loss_and_seed_with_versions_and_command(regression):
    _, out = regression
    results = json.loads((out / "results.json").read_text())
    pairs = sorted((run["config"]["loss"]["name"], run["config"]["seed"]) for run in results["runs"])
    expected = sorted((loss, seed) for loss in ("mean_squared_error", "huber", "mean_absolute_error") for seed in range(3))
    assert pairs == expected
    assert all(len(run["test_predictions"]) == len(run["test_targets"]) > 0 for run in results["runs"])
    assert all(run["train_loss"] and run["val_loss"] for run in results["runs"])
    assert set(results["versions"]) >= {"python", "losskit", "torch", "numpy", "sklearn"}
    assert results["command"].startswith("losskit compare --dataset diabetes")
    assert results["argv"].split()[:2] == ["losskit", "compare"]


def test_command_txt_reproduces_the_settings(regression):
    _, out = regression
    command = (out / "command.txt").read_text().strip()
    for words in ("--dataset diabetes", "--outliers 0.2", "--seeds 3", "--epochs 60",
                  "--losses mean_squared_error,huber,mean_absolute_error"):
        assert words in command


def test_report_html_names_every_loss_and_embeds_every_figure(regression):
    _, out = regression
    page = (out / "report.html").read_text()
    for label in ("mean_squared_error", "huber", "mean_absolute_error"):
        assert label in page
    for figure_id in ("fig-learning-curves", "fig-dynamics", "fig-metrics", "fig-residuals", "fig-loss-shapes"):
        assert f"id='{figure_id}'" in page
    assert page.count("<img ") == page.count("src='data:image/png;base64,") == 5


def test_rerun_reuses_every_finished_run_and_prints_the_ranked_table(regression):
    _, out = regression
    done = losskit("compare", *REGRESSION_ARGS, "--out", out, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "reused 9 finished runs" in done.stdout
    for label in ("mean_squared_error", "huber", "mean_absolute_error", "RMSE"):
        assert label in done.stdout
    assert " wins on RMSE" in done.stdout
    assert f"report: {out / 'report.html'}" in done.stdout


# ------------------------------------------------------------------------------ classification


def test_binary_classification_ranks_every_loss_and_learns(tmp_path):
    payload = compare_json(
        "--dataset", "breast_cancer", "--losses", "sigmoid_cross_entropy,hinge,bce",
        "--seeds", "2", "--epochs", "10", "--out", tmp_path / "report",
    )
    assert payload["task"] == "binary"
    assert sorted(payload["ranking"]) == ["binary_cross_entropy", "hinge", "sigmoid_cross_entropy"]
    assert len(payload["runs"]) == 6
    # A linear model separates breast_cancer well; chance would be ~0.63 (the majority class).
    assert all(row["accuracy_mean"] > 0.85 for row in payload["summary"])
    assert "id='fig-reliability'" in (tmp_path / "report" / "report.html").read_text()


# ---------------------------------------------------------------------------------------- CSV


def write_regression_csv(path: Path, rows: int = 120) -> Path:
    """A small table: two numeric features, a low-cardinality text feature and a numeric target."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    city = rng.choice(["lyon", "oslo", "lima"], size=rows)
    price = 3.0 * x1 - 2.0 * x2 + np.where(city == "oslo", 1.5, 0.0) + rng.normal(scale=0.3, size=rows)
    lines = ["x1,x2,city,price"] + [f"{a:.4f},{b:.4f},{c},{p:.4f}" for a, b, c, p in zip(x1, x2, city, price)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_regression_one_hot_encodes_text_and_fits_the_target(tmp_path):
    csv = write_regression_csv(tmp_path / "houses.csv")
    payload = compare_json(
        "--csv", csv, "--target", "price", "--losses", "mse,huber", "--seeds", "2", "--epochs", "40",
        "--out", tmp_path / "report",
    )
    assert payload["task"] == "regression"
    assert payload["settings"]["data"]["feature_names"] == ["x1", "x2", "city=lima", "city=lyon", "city=oslo"]
    assert len(payload["runs"]) == 4
    # The target is linear in the features with noise 0.3: any sane fit explains most of it.
    assert all(row["r2_mean"] > 0.8 for row in payload["summary"])
    assert (tmp_path / "report" / "report.html").is_file()


# ------------------------------------------------------------------------------------- resume

RESUME_LOSSES = "mse,mae,huber"
RESUME_SEEDS = 2


RESUME_SWEEP = "outliers=0,0.2"


def resume_args(out: Path, sweep: bool = False) -> list[str | Path]:
    # No early stopping (patience = epochs) so that every run lasts long enough to be interrupted.
    extra = ["--sweep", RESUME_SWEEP] if sweep else []
    return ["compare", "--dataset", "diabetes", "--losses", RESUME_LOSSES, "--seeds", str(RESUME_SEEDS),
            "--epochs", "30", "--patience", "30", "--jobs", "1", *extra, "--out", out]


def finished_runs(store: Path) -> dict[str, float]:
    """``{run key: finished_at}`` of the runs in the SQLite store (read-only, safe while it is written)."""
    if not store.exists():
        return {}
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return dict(connection.execute("SELECT key, finished_at FROM runs").fetchall())
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    finally:
        connection.close()


def restore_default_sigint() -> None:
    # A test runner started in the background inherits SIGINT ignored, and Python then never
    # turns Ctrl-C into KeyboardInterrupt; the child gets the disposition a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_after_first_run(out: Path, sig: signal.Signals, sweep: bool = False) -> tuple[int, str, dict[str, float]]:
    """Start a sweep, send ``sig`` once a run has finished; return its exit status, stderr and store."""
    process = subprocess.Popen([LOSSKIT, *map(str, resume_args(out, sweep)), "--no-progress"], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=restore_default_sigint)
    store = out / "runs.sqlite"
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not finished_runs(store):
            assert process.poll() is None, f"the sweep ended before it could be interrupted: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.05)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stderr, finished_runs(store)


@pytest.mark.parametrize(
    ("sig", "expected_status"),
    [(signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["SIGINT", "SIGKILL"],
)
def test_an_interrupted_sweep_resumes_without_repeating_or_losing_a_run(tmp_path, sig, expected_status):
    if LOSSKIT is None:
        pytest.fail("the `losskit` console script is not on PATH: run `pip install -e .` first")
    out = tmp_path / "report"
    status, stderr, before = interrupt_after_first_run(out, sig)
    total = len(RESUME_LOSSES.split(",")) * RESUME_SEEDS
    assert status == expected_status, stderr
    if sig == signal.SIGINT:
        assert "run the same command again to resume" in stderr
    assert 1 <= len(before) < total, "the sweep must be interrupted part-way for this test to mean anything"

    payload = compare_json(*resume_args(out)[1:])
    after = finished_runs(out / "runs.sqlite")
    assert payload["reused_runs"] == len(before)
    assert payload["new_runs"] == total - len(before)
    assert len(payload["runs"]) == len(after) == total
    # A finished run read back keeps its original timestamp: it was not trained and stored again.
    assert {key: after[key] for key in before} == before
    assert {run["key"] for run in payload["runs"]} == set(after)


def test_a_killed_sweep_resumes_with_nothing_trained_twice(tmp_path):
    if LOSSKIT is None:
        pytest.fail("the `losskit` console script is not on PATH: run `pip install -e .` first")
    out = tmp_path / "report"
    status, stderr, before = interrupt_after_first_run(out, signal.SIGKILL, sweep=True)
    total = len(RESUME_LOSSES.split(",")) * RESUME_SEEDS * len(RESUME_SWEEP.split("=")[1].split(","))
    assert status == -signal.SIGKILL, stderr
    assert 1 <= len(before) < total
    payload = compare_json(*resume_args(out, sweep=True)[1:])
    after = finished_runs(out / "runs.sqlite")
    assert (payload["reused_runs"], payload["new_runs"]) == (len(before), total - len(before))
    assert len(after) == total and {key: after[key] for key in before} == before
    assert {(run["outliers"], run["seed"], run["loss"]) for run in payload["runs"]} == {
        (level, seed, loss) for level in (0.0, 0.2) for seed in range(RESUME_SEEDS)
        for loss in ("mean_squared_error", "mean_absolute_error", "huber")
    }
    report = (out / "report.html").read_text()
    assert "id='fig-robustness'" in report and "id='sweep-table'" in report


def test_sweep_and_tuning_print_the_robustness_table_and_the_chosen_values(tmp_path):
    done = losskit("compare", "--dataset", "diabetes", "--losses", "mse,huber", "--sweep", "outliers=0,0.3",
                   "--param", "huber.delta=0.5,1", "--seeds", "3", "--epochs", "25", "--out", tmp_path / "r",
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "robustness: RMSE per outliers level (clean test split)" in " ".join(done.stdout.split())
    assert "huber(delta=tuned): chosen on the validation split per seed" in done.stdout
    assert "beats mean_squared_error from outliers=" in done.stdout or "does not beat" in done.stdout


def test_recommend_compare_trains_the_recommended_losses_and_the_baseline(tmp_path):
    csv = write_regression_csv(tmp_path / "houses.csv")
    done = subprocess.run([LOSSKIT, "recommend", "--csv", str(csv), "--target", "price", "--compare", "--top", "2"],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "Recommended losses" in done.stdout and "winner: " in done.stdout
    results = json.loads((tmp_path / "losskit-report" / "results.json").read_text())
    compared = results["settings"]["loss_names"]
    assert "mean_squared_error" in compared and 2 <= len(compared) <= 3
    assert results["ranking"][0] in done.stdout.split("winner: ")[1]


def test_recommend_compare_needs_data():
    done = losskit("recommend", "--task", "regression", "--compare")
    assert done.returncode == 2 and "--compare trains on your data" in done.stderr


# --------------------------------------------------------------------------------- bad inputs


def csv_file(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def numeric_rows(rows: int, extra: str = "", label=lambda i: i * 0.5) -> str:
    header = "a,b" + (",c" if extra else "") + ",y"
    body = [f"{i},{i % 7}" + (f",{extra.format(i=i)}" if extra else "") + f",{label(i)}" for i in range(rows)]
    return "\n".join([header, *body]) + "\n"


def bad_input_cases(tmp_path: Path) -> dict[str, tuple[list, list[str]]]:
    """``{case: (arguments after 'compare', words the one-line message must contain)}``."""
    good = csv_file(tmp_path, numeric_rows(40), "good.csv")
    nan_text = numeric_rows(40).splitlines()
    nan_text[8] = "7,,3.5"  # data row 8 has no value in column b
    return {
        "missing file": (["--csv", tmp_path / "absent.csv", "--target", "y"], ["absent.csv", "no such file"]),
        "missing target": (["--csv", good, "--target", "price"], ["good.csv", "'price'", "'a', 'b', 'y'"]),
        "non-numeric feature": (
            ["--csv", csv_file(tmp_path, numeric_rows(40, extra="id{i}"), "ids.csv"), "--target", "y"],
            ["ids.csv", "'c'", "'id0'", "drop the column"],
        ),
        "NaN": (["--csv", csv_file(tmp_path, "\n".join(nan_text) + "\n", "nan.csv"), "--target", "y"],
                ["nan.csv", "'b'", "row 8", "NaN"]),
        "single class": (
            ["--csv", csv_file(tmp_path, numeric_rows(40, label=lambda i: 1), "one.csv"), "--target", "y"],
            ["one.csv", "'y'", "single class"],
        ),
        "too few rows": (["--csv", csv_file(tmp_path, numeric_rows(8), "tiny.csv"), "--target", "y"],
                         ["tiny.csv", "8 rows", "too few"]),
        "unknown loss": (["--dataset", "diabetes", "--losses", "mse,hubber"], ["hubber", "huber"]),
        "bad param value": (["--dataset", "diabetes", "--losses", "huber", "--param", "huber.delta=-1"],
                            ["huber.delta", "-1"]),
        "unknown param": (["--dataset", "diabetes", "--losses", "huber", "--param", "huber.beta=2"],
                          ["huber", "'beta'", "delta"]),
        "malformed param": (["--dataset", "diabetes", "--losses", "huber", "--param", "delta=0.5"],
                            ["delta=0.5", "LOSS.PARAM=VALUE"]),
    }


BAD_INPUTS = ["missing file", "missing target", "non-numeric feature", "NaN", "single class", "too few rows",
              "unknown loss", "bad param value", "unknown param", "malformed param"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_with_one_line_naming_the_problem(tmp_path, case):
    arguments, words = bad_input_cases(tmp_path)[case]
    done = losskit("compare", *arguments, "--epochs", "1", "--seeds", "1", "--out", tmp_path / "out", "--no-progress")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("losskit: error: "), done.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: --device cuda is valid here")
def test_device_cuda_without_cuda_fails_with_one_line(tmp_path):
    done = losskit("compare", "--dataset", "diabetes", "--device", "cuda", "--out", tmp_path, "--no-progress")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("losskit: error: ") and "cuda" in done.stderr.lower()
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_shows_an_example():
    done = losskit("compare", "--help")
    assert done.returncode == 0
    assert "losskit compare --dataset diabetes --losses mse,huber,mae --outliers 0.2" in done.stdout


# ------------------------------------------------------------------------- terminal width and defaults

README_COMMAND = next(
    line.split("&&")[-1].strip()
    for line in (Path(__file__).resolve().parents[1] / "README.md").read_text().split("```bash\n", 1)[1].splitlines()
    if "losskit compare" in line
)


def losskit_at(columns: int, *args: str | os.PathLike) -> subprocess.CompletedProcess:
    """``losskit`` with ``COLUMNS=columns`` (output piped, as in a test or a log)."""
    return subprocess.run(
        [LOSSKIT, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_S,
        env={**ENV, "COLUMNS": str(columns)}, check=False,
    )


@pytest.mark.parametrize("columns", [80, 120])
def test_readme_command_reads_at_the_terminal_width_with_rank_and_whole_cells(tmp_path, columns):
    words = README_COMMAND.split()
    assert words[:2] == ["losskit", "compare"]
    done = losskit_at(columns, *words[1:], "--out", tmp_path / "report", "--no-progress")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns, done.stdout
    assert "…" not in done.stdout
    for label in ("mean_squared_error", "mean_absolute_error", "huber"):
        assert any(line.split()[1:2] == [label] for line in lines if line.split()), done.stdout
    headers = [line.split() for line in lines if line.split()[:2] == ["#", "loss"]]
    assert headers and all(h[:2] == ["#", "loss"] for h in headers), done.stdout
    ranked = [line.split()[:2] for line in lines if line.split()[:1] in (["1"], ["2"], ["3"])]
    assert {rank for rank, _ in ranked} == {"1", "2", "3"}, done.stdout
    # Every metric and dynamics column is there, in one table or split over several.
    header_words = " ".join(" ".join(h) for h in headers)
    for title in ("RMSE", "MAE", "MedAE", "R²", "epochs", "gap"):
        assert title in header_words, done.stdout
    assert " wins on RMSE" in done.stdout or " ties with " in done.stdout


@pytest.mark.parametrize(("dataset", "expected"), [
    ("breast_cancer", ["hinge", "sigmoid_cross_entropy", "sigmoid_focal"]),
    ("iris", ["sparse_poly1_cross_entropy", "sparse_softmax_cross_entropy", "sparse_softmax_focal"]),
])
def test_losses_default_by_task_when_omitted(tmp_path, dataset, expected):
    payload = compare_json("--dataset", dataset, "--seeds", "1", "--epochs", "3", "--out", tmp_path / "report")
    assert sorted(payload["ranking"]) == expected
    assert payload["command"].count("--losses ") == 1
