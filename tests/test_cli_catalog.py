"""``losskit list / show / plot / recommend``.

The console script is run as a subprocess for every command, for ``--json`` and for one error of
each command (that is what proves there is no traceback). Each subprocess pays the interpreter's
start-up, so the full matrix of bad inputs goes through ``losskit.cli.main(argv)`` in process:
the very function the console script calls, with the same error handling and exit status.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

import losskit as lk

from losskit.cli import main

LOSSKIT = shutil.which("losskit")
needs_script = pytest.mark.skipif(LOSSKIT is None, reason="the losskit console script is not installed")


def run(*args, cwd):
    """Run the installed console script (no display, a fixed terminal width)."""
    env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "160"}
    env.pop("DISPLAY", None)
    return subprocess.run([LOSSKIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def run_main(capsys, monkeypatch, tmp_path):
    """Call ``losskit.cli.main(argv)`` in ``tmp_path``; returns a CompletedProcess-like result."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")

    def call(*args):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return call


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("losskit: error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --------------------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["list", "show", "plot", "recommend"])
def test_every_command_has_help_with_an_example(run_main, command):
    result = run_main(command, "--help")
    assert result.returncode == 0
    assert f"losskit {command}" in result.stdout and "Example" in result.stdout and "--json" in result.stdout


# --------------------------------------------------------------------------------------- list


@needs_script
def test_list_prints_every_catalog_loss_in_a_table(tmp_path):
    result = run("list", cwd=tmp_path)
    assert result.returncode == 0
    for loss in lk.catalog():
        assert loss.name in result.stdout
        for alias in loss.aliases:
            assert alias in result.stdout
    assert re.search(r"^name \(aliases\)\s+task\s+space\s+labels\s+convex\s+robust", result.stdout, re.M)


@needs_script
def test_list_json_filtered_by_task_matches_the_registry(tmp_path):
    result = run("list", "--task", "binary", "--json", cwd=tmp_path)
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == [loss.name for loss in lk.catalog("binary")]
    assert {"aliases", "prediction_space", "label_format", "convex", "robust_to_outliers"} <= set(records[0])


def test_list_rejects_an_unknown_task(run_main):
    assert_one_line_error(run_main("list", "--task", "ranking"), "task must be one of")


# --------------------------------------------------------------------------------------- show


@needs_script
def test_show_prints_formulas_params_pitfalls_and_equivalents(tmp_path):
    result = run("show", "smooth_l1", cwd=tmp_path)
    assert result.returncode == 0
    loss = lk.smooth_l1
    for text in ("beta", ">= 0", "torch.nn.SmoothL1Loss", "when to use", "Pitfalls", "References", "β"):
        assert text in result.stdout, text
    assert loss.summary.split()[0] in result.stdout


@needs_script
def test_show_lists_the_array_libraries_every_loss_runs_on(tmp_path):
    record = json.loads(run("show", "huber", "--json", cwd=tmp_path).stdout)
    libraries = [entry["library"] for entry in record["runs_on"]]
    assert {"NumPy", "PyTorch", "JAX", "TensorFlow", "Dask", "CuPy"} <= set(libraries)
    assert "TensorFlow, Dask" in run("show", "huber", cwd=tmp_path).stdout


@needs_script
def test_show_json_accepts_an_alias_and_carries_the_equivalents(tmp_path):
    record = json.loads(run("show", "mape", "--json", cwd=tmp_path).stdout)
    assert record["name"] == "mean_absolute_percentage_error"
    assert record["formula"] == lk.mape.formula
    frameworks = {e["framework"]: e for e in record["equivalents"]}
    assert frameworks.keys() == {e.framework for e in lk.mape.equivalents}
    assert all({"api", "relation", "note"} <= set(e) for e in record["equivalents"])


@needs_script
def test_show_unknown_name_suggests_the_closest(tmp_path):
    assert_one_line_error(run("show", "hubr", cwd=tmp_path), "unknown loss 'hubr'", "did you mean", "huber")


# --------------------------------------------------------------------------------------- plot


@needs_script
def test_plot_writes_the_default_png_and_prints_its_path(tmp_path):
    result = run("plot", "huber", "mse", "--range", "-3", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "losskit-plot.png"
    assert (tmp_path / "losskit-plot.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "names",
    [
        ["cauchy", "welsch", "geman_mcclure", "huber"],  # issue 11's robust family next to Huber
        ["dice", "tversky", "focal_tversky"],
        ["cosine_distance", "margin_ranking", "triplet_margin"],
        ["sigmoid_focal", "sigmoid_cross_entropy"],
    ],
    ids=["robust", "overlap", "embedding", "focal"],
)
def test_plot_draws_the_round_two_families(run_main, tmp_path, names):
    result = run_main("plot", *names, "--out", "families.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "families.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@needs_script
def test_plot_json_lists_one_curve_per_parameter_value_and_inline_param(tmp_path):
    result = run(
        "plot", "huber", "pseudo_huber:delta=2", "--param", "huber.delta=0.5,1,2", "--out", "curves.svg", "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["curves"] == ["huber (delta=0.5)", "huber (delta=1)", "huber (delta=2)", "pseudo_huber (delta=2)"]
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["huber", "--param", "huber-delta=1"], ["bad --param", "LOSS.PARAM=VALUE"]),
        (["huber", "--param", "huber.delta=big"], ["bad parameter value 'big'"]),
        (["huber", "--param", "huber.dleta=1"], ["no parameter 'dleta'", "delta"]),
        (["huber", "--param", "huber.delta=-1"], ["delta must be"]),
        (["huber", "--range", "3", "-3"], ["LOW must be below HIGH"]),
        (["huber", "--range", "a", "3"], ["--range LOW must be a number"]),
        (["huber", "--out", "missing-dir/plot.png"], ["cannot write", "does not exist"]),
        (["huber", "--out", "plot.jpg"], ["'.jpg'", ".png, .svg, .pdf"]),
        (["huber", "hinge"], ["different tasks"]),
        (["hubr"], ["did you mean"]),
        ([], ["at least one loss name"]),
    ],
    ids=["param-syntax", "param-not-a-number", "unknown-param", "invalid-value", "reversed-range", "text-range",
         "unwritable-out", "unsupported-extension", "mixed-tasks", "unknown-loss", "no-loss"],
)
def test_plot_bad_input_gives_one_line_error(run_main, tmp_path, args, fragments):
    result = run_main("plot", *args)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "losskit-plot.png").exists()


# ---------------------------------------------------------------------------------- recommend


@needs_script
def test_recommend_from_stated_facts_prints_a_ranked_table(tmp_path):
    result = run("recommend", "--task", "regression", "--outliers", "some", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("huber") < result.stdout.index("mean_squared_error")
    assert "Huber" in result.stdout  # the source of the reason


@needs_script
def test_recommend_json_from_csv_reports_findings_and_params(tmp_path):
    (tmp_path / "d.csv").write_text("x,label\n" + "".join(f"{i},{int(i % 10 == 0)}\n" for i in range(200)))
    result = run("recommend", "--csv", "d.csv", "--target", "label", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["data"]["task"] == "binary" and data["data"]["findings"]
    top = data["recommendations"][0]
    assert top["loss"] == "sigmoid_cross_entropy" and top["params"] == {"pos_weight": 9.0}


@pytest.mark.parametrize(
    ("csv_text", "args", "fragments"),
    [
        (None, ["--csv", "nope.csv", "--target", "y"], ["'nope.csv' does not exist"]),
        ("a,b\n1,2\n", ["--csv", "d.csv", "--target", "y"], ["column 'y' not found", "available columns: a, b"]),
        ("y\n1\nnan\n3\n", ["--csv", "d.csv", "--target", "y"], ["missing a value", "data row 2"]),
        ("y\n1\n2\nabc\n4\n", ["--csv", "d.csv", "--target", "y"], ["data row 3 holds text 'abc'"]),
        ("", ["--csv", "d.csv", "--target", "y"], ["is empty"]),
        ("y\n1\n", ["--csv", "d.csv"], ["--csv and --target go together"]),
        (None, ["--task", "regression", "--need", "probabilities"], ["need must be one of"]),
        (None, ["--task", "binary", "--top", "0"], ["--top must be a positive integer"]),
    ],
    ids=["missing-file", "missing-column", "nan-target", "text-target", "empty-file", "no-target", "bad-need",
         "bad-top"],
)
def test_recommend_bad_input_gives_one_line_error(run_main, tmp_path, csv_text, args, fragments):
    if csv_text is not None:
        (tmp_path / "d.csv").write_text(csv_text)
    assert_one_line_error(run_main("recommend", *args), *fragments)


@needs_script
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["plot", "huber", "--param", "huber.delta=-1"], "delta must be"),
        (["recommend", "--csv", "nope.csv", "--target", "y"], "does not exist"),
    ],
    ids=["plot", "recommend"],
)
def test_console_script_reports_bad_input_in_one_line_without_traceback(tmp_path, args, fragment):
    assert_one_line_error(run(*args, cwd=tmp_path), fragment)


# -------------------------------------------------------------------------------- conformance


def test_conformance_table_reports_progress_per_loss():
    from losskit import conformance

    calls = []
    result = conformance.table(frameworks="scipy", progress=lambda done, total, name: calls.append((done, total, name)))
    total = len(lk.catalog())
    assert [c[0] for c in calls] == list(range(total + 1)) and {c[1] for c in calls} == {total}
    assert [c[2] for c in calls[:-1]] == [loss.name for loss in lk.catalog()]
    assert set(result.rows) <= {c[2] for c in calls}


@pytest.mark.parametrize(("tty", "flags", "drawn"), [(True, [], True), (False, [], False), (True, ["--json"], False)],
                         ids=["terminal", "piped", "json"])
def test_conformance_draws_progress_only_on_a_terminal(run_main, monkeypatch, tty, flags, drawn):
    import sys

    from losskit import conformance

    real_table = conformance.table
    seen = []

    def table(frameworks=None, progress=None):
        seen.append(progress)
        return real_table(frameworks="scipy", progress=progress)

    monkeypatch.setattr(conformance, "table", table)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    result = run_main("conformance", "--framework", "scipy", *flags)
    assert result.returncode == 0, result.stderr
    assert (seen[0] is not None) == drawn
    if not drawn:
        assert result.stderr == ""
