"""Every table of ``losskit list / show / recommend / conformance`` fits 80 and 120 columns.

Each command is run through ``losskit.cli.main`` (what the console script calls) with ``COLUMNS``
set, which rich's console width detection reads. A table fits when no line is wider than the
terminal, no cell is cut with an ellipsis, and no word is split across lines: every word of the
data the table shows (loss names, aliases, tasks, reasons, framework cells), known from the API,
appears whole in the output.
"""

import re

import pytest
from rich.cells import cell_len

import losskit as lk
from losskit import advisor
from losskit import conformance as conformance_module
from losskit.cli import main

WIDTHS = (80, 120)


@pytest.fixture
def render(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def call(width, *args):
        monkeypatch.setenv("COLUMNS", str(width))
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    return call


def words(*texts):
    """The whitespace-separated words of ``texts`` (what must not be split)."""
    return {word for text in texts if text for word in str(text).split()}


def assert_fits(output, width, expected_words):
    lines = output.splitlines()
    assert lines, "no output"
    # Display cells, not code points: ŷ is y and a combining circumflex, one cell wide.
    too_wide = [line for line in lines if cell_len(line.rstrip()) > width]
    assert not too_wide, f"{len(too_wide)} lines wider than {width}: {too_wide[0]!r}"
    assert "…" not in output
    # A word split across lines leaves its halves on two lines; the whole word is then missing.
    flat = output
    missing = sorted(word for word in expected_words if word not in flat)
    assert not missing, f"split or lost at {width} columns: {missing[:10]}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("task", [None, "regression", "binary", "multiclass"])
def test_list_fits(render, width, task):
    args = ["list"] + (["--task", task] if task else [])
    output = render(width, *args)
    losses = lk.catalog(task)
    expected = words(*(loss.name for loss in losses), *(a for loss in losses for a in loss.aliases),
                     *(loss.task for loss in losses), *(loss.prediction_space for loss in losses),
                     *(loss.label_format for loss in losses))
    assert_fits(output, width, expected)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["huber", "smooth_l1", "sigmoid_focal", "dice", "triplet_margin", "tweedie_deviance"])
def test_show_fits(render, width, name):
    loss = lk.get(name)
    output = render(width, "show", name)
    expected = words(loss.name, loss.summary, loss.when_to_use, loss.when_not_to_use, *loss.pitfalls,
                     *(p.name for p in loss.params), *(p.description for p in loss.params),
                     *(e.api for e in loss.equivalents), *(e.note for e in loss.equivalents))
    assert_fits(output, width, expected)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    "args",
    [["--task", "regression", "--outliers", "some"], ["--task", "binary", "--imbalance"],
     ["--task", "multiclass"], ["--need", "quantiles"]],
    ids=["regression", "binary", "multiclass", "quantiles"],
)
def test_recommend_fits(render, width, args):
    output = render(width, "recommend", *args)
    advice = lk.recommend(**_recommend_kwargs(args))
    expected = words(*(r.loss for r in advice), *(r.reason for r in advice), *(r.source for r in advice))
    assert_fits(output, width, expected)


def _recommend_kwargs(args):
    kwargs = {}
    it = iter(args)
    for flag in it:
        if flag == "--imbalance":
            kwargs["imbalance"] = True
        else:
            kwargs[flag.lstrip("-").replace("-", "_")] = next(it)
    return kwargs


@pytest.mark.parametrize("width", WIDTHS)
def test_recommend_rules_fit(render, width):
    output = render(width, "recommend", "--rules")
    expected = words(*(r.loss for r in advisor.RULES), *(r.reason for r in advisor.RULES))
    assert_fits(output, width, expected)


@pytest.fixture(scope="module")
def conformance_result():
    return conformance_module.table(frameworks="torch,sklearn,scipy")


@pytest.mark.parametrize("width", WIDTHS)
def test_conformance_fits(render, monkeypatch, conformance_result, width):
    # One computation for both widths: the table is what is measured here, not the comparisons.
    monkeypatch.setattr(conformance_module, "table", lambda frameworks=None, progress=None: conformance_result)
    output = render(width, "conformance", "--framework", "torch,sklearn,scipy")
    expected = words(*conformance_result.rows, *(conformance_module.DISPLAY_NAMES[f] for f in conformance_result.frameworks),
                     *(cell.reason for cells in conformance_result.rows.values() for cell in cells.values()
                       if cell.status == "differs"))
    assert_fits(output, width, expected)


def test_a_wide_terminal_gets_a_table_and_a_narrow_one_blocks(render):
    wide, narrow = render(160, "list"), render(80, "list")
    assert re.search(r"^name \(aliases\)\s+task\s+space\s+labels\s+convex\s+robust", wide, re.M)
    assert "robust to outliers" in narrow and "name (aliases)" not in narrow


@pytest.mark.parametrize("command", [["list"], ["show", "huber"], ["recommend", "--task", "binary"], ["recommend", "--rules"]])
def test_json_output_is_plain_json_at_any_width(render, command):
    import json

    assert json.loads(render(40, *command, "--json")) is not None
