"""The conformance table: coverage of the registry's claims, measured equalities, explained differences, CLI."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

import losskit as lk
from losskit import conformance, equivalents

REGISTRY_EQUIVALENTS = [
    (loss, equivalent) for loss in lk.catalog() for equivalent in loss.equivalents
]
PUBLIC_NAME = {"torch": "torch", "optax": "jax", "keras": "keras", "sklearn": "sklearn",
               "monai": "monai", "kornia": "kornia", "scipy": "scipy", "tensorflow": "tensorflow"}


@pytest.fixture(scope="module")
def full_table():
    # Every framework, every loss: computed once for the whole module (it imports all four).
    return conformance.table()


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["losskit", "conformance", *args], capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------------------- coverage

@pytest.mark.parametrize(
    "loss, equivalent", REGISTRY_EQUIVALENTS, ids=[f"{l.name}-{e.framework}" for l, e in REGISTRY_EQUIVALENTS]
)
def test_every_registry_equivalent_has_a_runnable_entry(loss, equivalent):
    entry = equivalents.find(loss.name, equivalent.framework)
    assert entry is not None
    assert (entry.api, entry.relation, entry.note) == (equivalent.api, equivalent.relation, equivalent.note)
    # Only a framework the registry says lacks the loss has nothing to run.
    assert entry.fn is not None or equivalent.relation == "different"


def test_every_documented_entry_is_a_registry_equivalent():
    claimed = {(loss.name, e.framework) for loss, e in REGISTRY_EQUIVALENTS}
    documented = [(e.loss, e.framework) for e in equivalents.entries(documented=True)]
    assert set(documented) == claimed
    assert len(documented) == len(claimed)  # one runnable per registry entry


def test_additional_references_name_their_own_api():
    extra = equivalents.entries(documented=False)
    assert extra and all(e.api and e.fn is not None for e in extra)
    registry_apis = {(loss.name, e.framework, e.api) for loss, e in REGISTRY_EQUIVALENTS}
    assert not {(e.loss, e.framework, e.api) for e in extra} & registry_apis


def test_parameters_of_an_entry_are_read_from_its_function():
    assert equivalents.find("huber", "torch").params == {"delta"}
    assert equivalents.find("quantile", "sklearn").params == {"q"}
    assert equivalents.find("mean_squared_error", "optax").params == set()


def test_a_framework_without_the_loss_is_not_applicable_with_the_registry_reason(full_table):
    cell = full_table.cell("gaussian_nll", "keras")
    assert cell.status == "not-applicable"
    assert "no Gaussian likelihood loss" in cell.reason


def test_table_measures_every_registry_equivalent(full_table):
    for loss, equivalent in REGISTRY_EQUIVALENTS:
        cell = full_table.cell(loss.name, PUBLIC_NAME[equivalent.framework])
        runnable = equivalents.find(loss.name, equivalent.framework).fn is not None
        expected = ("equal", "differs") if runnable else ("not-applicable",)
        assert cell.status in expected, (loss.name, equivalent.framework, cell)
        assert cell.api == equivalent.api


def test_frameworks_without_the_loss_are_not_applicable(full_table):
    cell = full_table.cell("categorical_hinge", "torch")
    assert cell.status == "not-applicable"
    assert str(cell) == "n/a"


def test_rows_follow_catalog_order_and_skip_losses_no_framework_has(full_table):
    expected = [loss.name for loss in lk.catalog() if loss.equivalents]
    assert list(full_table.rows) == expected
    # pseudo_huber was the catalog's loss without a framework until kornia's charbonnier_loss
    # (round 2); every loss now has one, so the skip is checked on a table of one framework.
    assert "pseudo_huber" not in conformance.table(frameworks=["sklearn"]).rows


# ------------------------------------------------------------------------- measured values

KNOWN_EQUAL = [
    ("mean_squared_error", "torch"), ("mean_squared_error", "jax"),
    ("mean_squared_error", "keras"), ("mean_squared_error", "sklearn"),
    ("mean_absolute_error", "sklearn"), ("root_mean_squared_error", "torch"),
    ("huber", "keras"), ("huber", "jax"), ("huber", "sklearn"), ("smooth_l1", "torch"),
    ("log_cosh", "keras"), ("quantile", "sklearn"),
    ("sigmoid_cross_entropy", "jax"),
    ("sigmoid_cross_entropy", "keras"), ("sigmoid_cross_entropy", "sklearn"),
    ("hinge", "keras"), ("hinge", "jax"), ("hinge", "sklearn"), ("modified_huber", "sklearn"),
    ("softmax_cross_entropy", "torch"), ("sparse_softmax_cross_entropy", "jax"),
    ("kl_divergence", "torch"), ("kl_divergence_with_logits", "jax"), ("categorical_hinge", "keras"),
    ("gaussian_nll", "torch"),
]


@pytest.mark.parametrize("loss, framework", KNOWN_EQUAL)
def test_known_equal_losses_are_equal_within_tolerance(full_table, loss, framework):
    cell = full_table.cell(loss, framework)
    assert cell.status == "equal", str(cell)
    assert 0.0 <= cell.max_rel_diff <= conformance.RTOL_FLOAT32
    assert str(cell).startswith("equal (max rel. diff ")


def test_float64_frameworks_meet_the_float64_tolerance(full_table):
    for loss, framework in [("mean_squared_error", "torch"), ("sigmoid_cross_entropy", "sklearn")]:
        assert full_table.cell(loss, framework).max_rel_diff <= conformance.RTOL_FLOAT64


def test_bce_at_probability_zero_differs_from_keras_by_its_clipping(full_table):
    cell = full_table.cell("binary_cross_entropy", "keras")
    assert cell.status == "differs"
    assert "p = 0 or 1" in cell.reason
    assert "clips" in cell.reason
    assert "vs losskit 100" in cell.reason


def test_bce_at_probability_zero_differs_from_sklearn_by_its_eps_clipping(full_table):
    cell = full_table.cell("binary_cross_entropy", "sklearn")
    assert cell.status == "differs"
    assert "36.04 vs losskit 100" in cell.reason


def test_mape_differs_from_sklearn_by_a_factor_of_100(full_table):
    cell = full_table.cell("mean_absolute_percentage_error", "sklearn")
    assert cell.status == "differs"
    assert "scaled: scikit-learn = 0.01 x losskit" in cell.reason
    assert "fraction" in cell.reason


def test_smooth_l1_differs_from_keras_huber_by_the_factor_beta(full_table):
    cell = full_table.cell("smooth_l1", "keras")
    assert cell.status == "differs"
    assert "scaled at beta=0.5: Keras = 0.5 x losskit" in cell.reason
    assert "equal at beta=1" in cell.reason


def test_half_squared_error_is_half_of_torch_mse(full_table):
    assert "PyTorch = 2 x losskit" in full_table.cell("half_squared_error", "torch").reason


def test_torch_weighted_huber_is_diagnosed_as_dividing_by_the_element_count(full_table):
    cell = full_table.cell("huber", "torch")
    assert cell.status == "differs"
    assert "with sample_weight" in cell.reason
    assert "divides sum(w*l) by the number of elements" in cell.reason


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "sigmoid_cross_entropy"])
def test_torch_weighted_binary_losses_divide_by_the_element_count(full_table, loss):
    # Unweighted they are equal; PyTorch's weight= rescales each term and still divides by N.
    cell = full_table.cell(loss, "torch")
    assert cell.status == "differs"
    assert "divides sum(w*l) by the number of elements" in cell.reason
    assert "with sample_weight" in cell.reason and "also differs on" not in cell.reason


def test_gaussian_nll_inputs_include_variances_below_eps():
    cases = {case.name: case for case in conformance.input_cases(lk.gaussian_nll)}
    variance = cases["variances at and below eps"].others[0]
    assert variance.min() == 0.0 and (variance < 1e-6).sum() == 2


def test_torch_nll_on_log_of_zero_probability_is_reported_as_infinite(full_table):
    cell = full_table.cell("categorical_cross_entropy", "torch")
    assert "PyTorch inf vs losskit 100" in cell.reason
    assert cell.to_dict()["max_rel_diff"] is None  # no infinities in JSON


# ------------------------------------------------------------------------------ the inputs

def test_inputs_include_the_documented_edge_cases():
    probability_cases = {case.name: case for case in conformance.input_cases(lk.binary_cross_entropy)}
    assert {0.0, 1.0} <= set(probability_cases["p = 0 or 1, wrong label"].y_pred)
    near = probability_cases["p in [1e-7, 1 - 1e-7]"].y_pred
    assert near.min() == 1e-7 and near.max() == 1 - 1e-7
    logits = np.concatenate([c.y_pred for c in conformance.input_cases(lk.sigmoid_cross_entropy)])
    assert {100.0, -100.0} <= set(logits)
    residuals = [c.y_pred - c.y_true for c in conformance.input_cases(lk.mse) if c.name == "residuals of 1e3"]
    assert np.max(np.abs(residuals)) >= 1e3


@pytest.mark.parametrize("loss", [loss for loss in lk.catalog() if loss.equivalents], ids=lambda loss: loss.name)
def test_inputs_are_valid_for_losskit_and_include_a_weighted_case(loss):
    cases = conformance.input_cases(loss)
    assert any(case.sample_weight is not None for case in cases)
    for case in cases:
        assert np.isfinite(float(loss(*case.args, sample_weight=case.sample_weight)))  # no target: predictions only


def test_inputs_are_the_same_on_every_call():
    first, second = conformance.input_cases(lk.huber), conformance.input_cases(lk.huber)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.y_pred, b.y_pred)


# ------------------------------------------------------------------------------- the API

def test_missing_framework_gives_not_installed_cells(monkeypatch):
    monkeypatch.setitem(conformance._MODULES, "sklearn", ("losskit_no_such_module",))
    result = conformance.table(frameworks=["sklearn"])
    cell = result.cell("mean_squared_error", "sklearn")
    assert cell.status == "not-installed"
    assert str(cell) == "not installed"


def test_unknown_framework_raises_value_error_naming_the_choices():
    with pytest.raises(ValueError, match="unknown framework 'mxnet'.*torch, jax, keras, sklearn"):
        conformance.table(frameworks=["mxnet"])


def test_optax_is_accepted_as_the_name_of_the_jax_column():
    result = conformance.table(frameworks="optax")
    assert result.frameworks == ("jax",)
    assert result.cell("log_cosh", "optax").status == "equal"


def test_lazy_attribute_is_the_module():
    assert lk.conformance is conformance


def test_markdown_has_a_row_per_loss_and_escapes_pipes():
    cells = {"sklearn": conformance.Cell("differs", 1.0, "|e| grows")}
    markdown = conformance.ConformanceTable(("sklearn",), {"huber": cells}).to_markdown("losses/{name}.md")
    lines = markdown.splitlines()
    assert lines[0] == "| loss | scikit-learn |"
    assert lines[2] == "| [`huber`](losses/huber.md) | differs: \\|e\\| grows |"


def test_equal_cell_text_shows_the_largest_difference():
    assert str(conformance.Cell("equal", 3e-16)) == "equal (max rel. diff 3e-16)"
    assert str(conformance.Cell("equal", 0.0)) == "equal (max rel. diff 0)"


# ------------------------------------------------------------------- the console script

def test_cli_json_is_the_api_table():
    result = _run_cli("--json", "--framework", "sklearn,torch")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == conformance.table(frameworks=["sklearn", "torch"]).to_dict()
    assert data["losses"]["mean_squared_error"]["torch"]["status"] == "equal"


def test_cli_prints_a_table_for_one_framework():
    result = _run_cli("--framework", "torch")
    assert result.returncode == 0, result.stderr
    assert "PyTorch" in result.stdout and "mean_squared_error" in result.stdout
    assert "equal" in result.stdout and "Keras" not in result.stdout


def test_cli_markdown_starts_with_the_header():
    result = _run_cli("--markdown", "--framework", "sklearn")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "| loss | scikit-learn |"


@pytest.mark.parametrize("args, message", [
    (("--framework", "mxnet"), "unknown framework 'mxnet'"),
    (("--json", "--markdown", "--framework", "sklearn"), "--json or --markdown"),
])
def test_cli_bad_input_is_a_one_line_error(args, message):
    result = _run_cli(*args)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_relative_difference_treats_equal_infinities_as_equal():
    assert conformance._relative_difference(math.inf, math.inf, 1e-12) == 0.0
    assert conformance._relative_difference(math.inf, 100.0, 1e-12) == math.inf
    assert conformance._relative_difference(1e-13, 0.0, 1e-12) == 0.0
