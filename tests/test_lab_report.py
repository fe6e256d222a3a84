"""The comparison report: its files, its figures in a real browser, and the helpers behind them.

The browser tests open the report written by a real (small) ``losskit.lab.compare`` run in
Debian's Chromium driven by Playwright, check that every figure is present and rendered, and
keep a full-page screenshot in ``test-artifacts/`` as an artifact.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import losskit as lk

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from losskit import lab  # noqa: E402
from losskit.lab.models import lab_supports  # noqa: E402
from losskit.lab._types import CompareResult, LossSpec, RunConfig, RunResult  # noqa: E402
from losskit.lab.report import (  # noqa: E402
    command_line,
    figure_loss_shapes,
    loss_shape,
    run_rows,
    reliability_curve,
    verdict,
    write_report,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

EXPECTED_FIGURES = {
    "regression": ["fig-learning-curves", "fig-dynamics", "fig-metrics", "fig-residuals", "fig-loss-shapes"],
    "binary": ["fig-learning-curves", "fig-dynamics", "fig-metrics", "fig-reliability", "fig-loss-shapes"],
    "sweep": ["fig-robustness", "fig-tuning", "fig-learning-curves", "fig-dynamics", "fig-metrics", "fig-residuals",
              "fig-loss-shapes"],
}


def small_report(out: Path, **settings) -> tuple[CompareResult, Path, dict[str, Path]]:
    """A real comparison (2 losses x 2 seeds, a few epochs) and the report written from it."""
    result = lab.compare(seeds=2, out=out, progress=False, report=False, **settings)
    return result, out, write_report(result, out)


@pytest.fixture(scope="module")
def regression_report(tmp_path_factory):
    return small_report(tmp_path_factory.mktemp("regression-report"), dataset="diabetes", losses="mse,huber",
                        params=["huber.delta=0.5"], outliers=0.2, epochs=8)


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory):
    return small_report(tmp_path_factory.mktemp("sweep-report"), dataset="diabetes", losses="mse,huber",
                        params=["huber.delta=0.5,1"], sweep="outliers=0,0.2", epochs=4)


@pytest.fixture(scope="module")
def binary_report(tmp_path_factory):
    with warnings.catch_warnings():  # the lab warns that hinge's probabilities are not calibrated
        warnings.simplefilter("ignore", UserWarning)
        return small_report(tmp_path_factory.mktemp("binary-report"), dataset="breast_cancer",
                            losses="sigmoid_cross_entropy,hinge", epochs=5)


# ------------------------------------------------------------------------------------- files


def test_write_report_returns_the_paths_it_wrote(regression_report):
    _, out, paths = regression_report
    assert {"html", "json", "command"} <= set(paths)
    assert all(path.parent == out and path.is_file() and path.stat().st_size > 0 for path in paths.values())


def test_results_json_round_trips_every_run(regression_report):
    result, out, _ = regression_report
    results = json.loads((out / "results.json").read_text())
    assert [run["key"] for run in results["runs"]] == [run.key for run in result.runs]
    assert results["ranking"] == result.ranking
    assert results["command"] == (out / "command.txt").read_text().strip() == command_line(result)
    assert RunResult.from_dict(results["runs"][0]).config == result.runs[0].config


def test_report_html_is_self_contained(regression_report):
    _, out, _ = regression_report
    page = (out / "report.html").read_text()
    assert "<script" not in page and "<link" not in page
    sources = re.findall(r"""\b(?:src|href)\s*=\s*['"]([^'"]*)['"]""", page)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "url(" not in page  # no CSS that could fetch anything


def test_report_html_shows_verdict_table_settings_and_command(regression_report):
    result, out, _ = regression_report
    page = (out / "report.html").read_text()
    assert "id=\"verdict\"" in page and "wins on RMSE" in page
    assert "id='metrics-table'" in page and "huber(delta=0.5)" in page and "mean_squared_error" in page
    assert "--param huber.delta=0.5" in page and "--outliers 0.2" in page


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow is optional and not installed")
def test_results_parquet_has_one_row_per_run(regression_report, tmp_path):
    import pyarrow.parquet as pq

    result, _, _ = regression_report
    table = pq.read_table(write_report(result, tmp_path)["parquet"])
    assert table.num_rows == len(result.runs) and "rmse" in table.column_names


# ----------------------------------------------------------------------------------- browser


def open_in_chromium():
    """A Playwright browser on Debian's Chromium, or a skip saying what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser executable at {CHROMIUM}: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    playwright = sync_api.sync_playwright().start()
    return playwright, playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


FIGURES_JS = """() => Array.from(document.querySelectorAll('figure')).map(figure => ({
    id: figure.id,
    caption: (figure.querySelector('figcaption') || {}).textContent || '',
    images: Array.from(figure.querySelectorAll('img')).map(img => ({
        complete: img.complete, naturalWidth: img.naturalWidth, width: img.getBoundingClientRect().width})),
    svgs: Array.from(figure.querySelectorAll('svg')).map(svg => {
        const box = svg.getBoundingClientRect(); return {width: box.width, height: box.height}; }),
}))"""


@pytest.mark.parametrize("task", ["regression", "binary", "sweep"])
def test_every_figure_renders_in_a_real_browser(task, request):
    _, out, _ = request.getfixturevalue(f"{task}_report")
    playwright, browser = open_in_chromium()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        figures = page.evaluate(FIGURES_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / ("report.png" if task == "regression" else f"report-{task}.png")),
                        full_page=True)
    finally:
        browser.close()
        playwright.stop()

    assert [figure["id"] for figure in figures] == EXPECTED_FIGURES[task]
    for figure in figures:
        assert figure["caption"].strip(), figure["id"]
        assert len(figure["images"]) + len(figure["svgs"]) == 1, figure["id"]
        assert all(img["complete"] and img["naturalWidth"] > 0 and img["width"] > 0 for img in figure["images"])
        assert all(svg["width"] > 0 and svg["height"] > 0 for svg in figure["svgs"])
    # The page loads nothing but itself and its embedded images: it works offline.
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


# ------------------------------------------------------------------------------ loss shapes


@pytest.mark.parametrize("loss", [loss for loss in lk.catalog() if lab_supports(loss)], ids=lambda loss: loss.name)
def test_every_catalog_loss_can_be_drawn_in_the_shape_figure(loss):
    grid = np.linspace(-3.0, 3.0, 61)
    x, values = loss_shape(LossSpec(loss.name), grid)
    assert len(x) == len(values) >= 30
    assert np.all(np.isfinite(values))


def test_gaussian_nll_is_drawn_against_the_residual_of_its_mean_at_unit_variance():
    grid = np.linspace(-3.0, 3.0, 61)
    x, values = loss_shape(LossSpec("gaussian_nll"), grid)
    np.testing.assert_allclose(values, 0.5 * grid**2, atol=1e-12)  # 0.5 (log 1 + r^2 / 1)
    # The same curve lk.plot draws for it.
    import matplotlib.pyplot as plt

    figure = lk.plot("gaussian_nll")
    try:
        plotted_x, plotted = figure.axes[0].get_lines()[0].get_data()
    finally:
        plt.close(figure)
    np.testing.assert_allclose(loss_shape(LossSpec("gaussian_nll"), plotted_x)[1], plotted, atol=1e-9)


@pytest.fixture(scope="module")
def gaussian_report(tmp_path_factory):
    return small_report(tmp_path_factory.mktemp("gaussian-report"), dataset="heteroscedastic_regression",
                        losses="mse,gaussian_nll", epochs=5)


def test_report_draws_gaussian_nll_in_the_shape_figure_and_shows_its_variance_metrics(gaussian_report):
    import matplotlib.pyplot as plt

    result, out, _ = gaussian_report
    figure = figure_loss_shapes(result)
    try:
        lines = {line.get_label(): line for line in figure.axes[0].get_lines() if not line.get_label().startswith("_")}
        assert set(lines) == {"mean_squared_error", "gaussian_nll (variance = 1)"}
        x, y = lines["gaussian_nll (variance = 1)"].get_data()
        np.testing.assert_allclose(y, 0.5 * np.asarray(x) ** 2, atol=1e-9)
    finally:
        plt.close(figure)
    page = (out / "report.html").read_text()
    assert "id='fig-loss-shapes'" in page and "gaussian_nll" in page
    assert "Gaussian NLL" in page and "95% coverage" in page
    # One table: every run has every metric column, mse's variance metrics are NaN.
    rows = run_rows(result)
    assert len({tuple(row) for row in rows}) == 1
    mse = next(row for row in rows if row["loss"] == "mean_squared_error")
    assert math.isnan(mse["coverage_95"]) and math.isnan(mse["nll"])
    results = json.loads((out / "results.json").read_text())  # NaN never reaches the JSON
    assert all(math.isfinite(run["metrics"]["nll"]) for run in results["runs"] if run["config"]["loss"]["name"] == "gaussian_nll")


def test_huber_shape_is_quadratic_then_linear_at_delta():
    x, values = loss_shape(LossSpec("huber", (("delta", 0.5),)), np.array([-2.0, 0.25, 0.5, 3.0]))
    np.testing.assert_allclose(values, [0.5 * (2.0 - 0.25), 0.5 * 0.25**2, 0.5 * 0.5**2, 0.5 * (3.0 - 0.25)])


def test_classification_shapes_are_decreasing_in_the_margin():
    for name in ("sigmoid_cross_entropy", "binary_cross_entropy", "hinge", "softmax_cross_entropy",
                 "sparse_categorical_cross_entropy"):
        _, values = loss_shape(LossSpec(name), np.linspace(-3.0, 3.0, 25))
        assert np.all(np.diff(values) <= 1e-12), name


# ---------------------------------------------------------------------------- reliability


def test_reliability_of_calibrated_binary_predictions_lies_on_the_diagonal():
    rng = np.random.default_rng(0)
    positive = rng.uniform(size=20_000)
    labels = (rng.uniform(size=positive.size) < positive).astype(int)
    predicted, observed, counts = reliability_curve(labels, np.stack([1 - positive, positive], axis=1))
    assert counts.sum() == positive.size
    np.testing.assert_allclose(observed, predicted, atol=0.03)


def test_reliability_of_multiclass_uses_top_class_confidence():
    probabilities = [[0.7, 0.2, 0.1], [0.1, 0.75, 0.15], [0.2, 0.1, 0.7]]
    predicted, observed, counts = reliability_curve([0, 2, 2], probabilities, bins=10)
    assert counts.tolist() == [3]
    assert predicted[0] == pytest.approx(0.7166666) and observed[0] == pytest.approx(2 / 3)


# ------------------------------------------------------------------------- verdict, command


def hand_built_result(rmse: dict[str, list[float]], significance: dict, settings: dict | None = None) -> CompareResult:
    """A regression CompareResult with the given per-seed RMSE per loss name (no training)."""
    runs = []
    for name, values in rmse.items():
        for seed, value in enumerate(values):
            config = RunConfig("diabetes", "f", None, "regression", LossSpec(name), "linear", seed, 5, 64, 0.01, 5,
                               0.0, 0.0, None, "cpu")
            runs.append(RunResult(config.key(), config, {"rmse": value}, [1.0], [1.0], 1, 0.1, [0.0], [0.0]))
    summary = [{"loss": n, "rmse_mean": float(np.mean(v)), "rmse_std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "n_seeds": len(v)} for n, v in rmse.items()]
    ranking = [row["loss"] for row in sorted(summary, key=lambda row: row["rmse_mean"])]
    return CompareResult("regression", "rmse", settings or {"dataset": "diabetes", "losses": list(rmse)}, runs,
                         summary, ranking, significance, 0, len(runs))


def test_verdict_names_winner_runner_up_margin_and_a_significant_gap():
    result = hand_built_result({"mse": [3.0, 3.2, 3.1], "huber": [2.0, 2.1, 2.0]},
                               {"significant": True, "p_value": 0.004, "n_seeds": 3})
    sentence = verdict(result)
    assert sentence.startswith("huber wins on RMSE: 2.033 vs 3.100 for mse")
    assert "larger than the seed-to-seed noise" in sentence and "p = 0.004" in sentence


def test_verdict_says_when_the_margin_is_within_the_noise():
    result = hand_built_result({"mse": [3.0, 2.0, 3.1], "huber": [2.9, 2.5, 2.8]},
                               {"significant": False, "p_value": 0.6, "n_seeds": 3})
    assert "within the seed-to-seed noise" in verdict(result)


def test_verdict_states_a_tie_at_the_displayed_precision_as_a_tie():
    result = hand_built_result({"mse": [2.00004, 2.00004, 2.00004], "huber": [2.00001, 2.00001, 2.00001]},
                               {"significant": False, "p_value": 0.6, "n_seeds": 3})
    sentence = verdict(result)
    assert sentence.startswith("huber ties with mse on RMSE: 2.000 vs 2.000")
    assert "wins" not in sentence and "lower" not in sentence


def test_verdict_calls_a_win_a_win_when_the_displayed_values_differ():
    result = hand_built_result({"mse": [2.001, 2.001, 2.001], "huber": [2.0, 2.0, 2.0]},
                               {"significant": False, "p_value": 0.6, "n_seeds": 3})
    sentence = verdict(result)
    assert sentence.startswith("huber wins on RMSE: 2.000 vs 2.001 for mse") and "ties" not in sentence


def test_verdict_asks_for_more_seeds_when_noise_cannot_be_estimated():
    result = hand_built_result({"mse": [3.0], "huber": [2.0]},
                               {"significant": False, "p_value": math.nan, "n_seeds": 1})
    assert "run at least 3 seeds" in verdict(result)


def test_command_line_writes_every_setting_and_loss_parameter():
    result = hand_built_result({"mse": [1.0], "huber": [1.0]}, {"n_seeds": 1},
                               settings={"dataset": "diabetes", "losses": ["mse", "huber"], "seeds": [0, 7],
                                         "epochs": 5, "imbalance": None, "out": "my report"})
    result.runs[1].config = RunConfig(**{**result.runs[1].config.__dict__, "loss": LossSpec("huber", (("delta", 0.5),))})
    assert command_line(result) == (
        "losskit compare --dataset diabetes --losses mse,huber --param huber.delta=0.5 --epochs 5 "
        "--seeds 0,7 --out 'my report'"
    )


def test_command_line_marks_a_single_seed_with_a_trailing_comma():
    result = hand_built_result({"mse": [1.0], "huber": [1.0]}, {"n_seeds": 1},
                               settings={"dataset": "diabetes", "losses": ["mse", "huber"], "seeds": [7]})
    assert command_line(result).endswith("--seeds 7,")
