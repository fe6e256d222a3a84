"""The benchmark command runs end to end at the smoke size and writes one table row per loss.

No timing is asserted: timings belong in the benchmark's report, not in tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
from losskit import equivalents

pytest.importorskip("torch")
pytest.importorskip("jax")

# benchmarks/ lives at the repository root, outside the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import run as bench  # noqa: E402


@pytest.fixture(scope="module")
def smoke_table(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.md"
    assert bench.main(["--size", "smoke", "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def _rows(table: str) -> list[list[str]]:
    table = table[table.index("## losskit benchmark"):]  # the measurements, after the targets
    lines = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| loss ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("| ---")]


def test_smoke_benchmark_writes_the_targets_then_a_markdown_table(smoke_table):
    assert smoke_table.startswith("## Targets\n")
    assert "## losskit benchmark: size=smoke" in smoke_table
    assert "| loss | backend | implementation |" in smoke_table


@pytest.mark.parametrize("backend", ["numpy", "torch-cpu", "jax"])
def test_smoke_benchmark_has_a_row_per_loss_and_backend(smoke_table, backend):
    measured = {row[0] for row in _rows(smoke_table) if row[1] == backend and row[4]}
    assert measured == set(lk.names(include_aliases=False))


def test_torch_rows_time_the_functional_call_and_the_module(smoke_table):
    implementations = {(row[0], row[2]) for row in _rows(smoke_table) if row[1] == "torch-cpu"}
    for name in lk.names(include_aliases=False):
        assert {(name, "functional fwd+bwd"), (name, "module fwd+bwd")} <= implementations


def test_torch_references_are_the_native_twin_or_a_plain_expression(smoke_table):
    references = {row[0]: row[5] for row in _rows(smoke_table) if row[1] == "torch-cpu"}
    assert references["huber"] == equivalents.find("huber", "torch").api
    assert references["gaussian_nll"] == equivalents.find("gaussian_nll", "torch").api
    assert references["log_cosh"] == bench.torch_reference(lk.log_cosh)[0]
    assert all(references.values())


def test_every_loss_has_a_pytorch_reference():
    assert [loss.name for loss in lk.catalog() if bench.torch_reference(loss) is None] == []


@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_inputs_are_valid_for_every_loss(loss):
    config = bench.Config("smoke", 1, 64, 8, 5)
    y_true, predictions = bench.make_inputs(loss, config, dtype=np.float64)
    assert (y_true is None) == (not loss.has_target)
    assert len(predictions) == len(loss.inputs)
    assert np.isfinite(float(loss(*bench.call_arguments(loss, y_true, predictions))))


# Every plain expression (the losses without a native twin), value and gradients against the loss.
@pytest.mark.parametrize("name", sorted(bench._plain_torch()))
def test_plain_pytorch_expressions_equal_the_loss(name):
    import torch

    loss = lk.get(name)
    y_true, predictions = bench.make_inputs(loss, bench.Config("smoke", 1, 64, 8, 5), dtype=np.float64)
    reference_name, expression = bench.torch_reference(loss)
    assert reference_name == bench._plain_torch()[name][0]  # no native twin takes precedence
    inputs = [torch.as_tensor(p).requires_grad_(True) for p in predictions]
    expected = expression(torch.as_tensor(y_true), *inputs)
    expected.backward()
    np.testing.assert_allclose(float(loss(y_true, *predictions)), float(expected.detach()), rtol=1e-10)
    gradients = loss.grad(y_true, *predictions)
    gradients = gradients if isinstance(gradients, tuple) else (gradients,)
    for gradient, tensor in zip(gradients, inputs):
        np.testing.assert_allclose(gradient, tensor.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_jax_references_are_optax_where_optax_has_the_loss(smoke_table):
    references = {row[0]: row[5] for row in _rows(smoke_table) if row[1] == "jax"}
    with_optax = {e.loss for e in equivalents.entries(framework="optax") if e.fn is not None}
    assert {name for name, reference in references.items() if reference} == with_optax


def test_numpy_rows_time_the_three_doors_against_their_bound(smoke_table):
    rows = [row for row in _rows(smoke_table) if row[1] == "numpy"]
    assert {row[2] for row in rows} == set(bench.NUMPY_DOORS)
    bounds = {row[0]: row[5] for row in rows}
    assert bounds["huber"] == "copy inputs"
    assert bounds["sparse_softmax_cross_entropy"].startswith(("sklearn.", "PyTorch CPU: "))


def _row(loss, backend, implementation, total, reference_ms, **extra):
    return bench.Row(loss, backend, implementation, total_ms=total, reference="ref", reference_ms=reference_ms, **extra)


def test_summary_checks_each_ratio_against_its_target():
    small = bench.Config("small", 1, 32, 32, 10)
    large = bench.Config("large", 1, 10, 8, 4)
    results = [
        (small, [_row("huber", "torch-cpu", "functional fwd+bwd", 1.4, 1.0),
                 _row("huber", "torch-cpu", "module fwd+bwd", 1.2, 1.0),
                 _row("huber", "jax", "jit(value_and_grad)", 0.9, 1.0)]),
        (large, [_row("huber", "torch-cpu", "functional fwd+bwd", 1.05, 1.0, memory_mb=1.0, reference_memory_mb=0.0),
                 _row("huber", "torch-cpu", "module fwd+bwd", 1.2, 1.0, memory_mb=1.0, reference_memory_mb=1.0),
                 _row("huber", "numpy", "lk.X(...)", 1.0, 1.0),
                 _row("huber", "numpy", ".grad", 3.0, 1.0),
                 _row("huber", "numpy", ".value_and_grad", 1.5, 1.0),
                 _row("sparse_softmax_cross_entropy", "numpy", ".value_and_grad", 1.4, 1.0)]),
    ]
    table = bench.summary(results)
    header, _, *lines = table.splitlines()
    titles = [c.strip() for c in header.strip().strip("|").split("|")][1:]
    cells = {line.split("|")[1].strip(): dict(zip(titles, [c.strip() for c in line.strip().strip("|").split("|")[1:]]))
             for line in lines}
    huber = cells["huber"]
    assert huber["PyTorch CPU functional vs native, small (target 1.3)"] == "1.4 **no**"
    assert huber["PyTorch CPU module vs native, small (target 1.3)"] == "1.2 yes"
    assert huber["JAX vs Optax, small (target 1)"] == "0.9 yes"
    assert huber["PyTorch CPU functional vs native, large (target 1.1)"] == "1.05 yes"
    assert huber["PyTorch CPU functional autograd memory vs native, large (target 1)"] == "inf **no**"
    assert huber["PyTorch CPU module autograd memory vs native, large (target 1)"] == "1 yes"
    # The slowest of the three NumPy doors is the one checked.
    assert huber["NumPy slowest door vs copying the inputs, large (target 2)"] == "3 **no**"
    assert huber["NumPy slowest door vs scikit-learn / PyTorch CPU, large (target 1.5)"] == ""
    sparse = cells["sparse_softmax_cross_entropy"]
    assert sparse["NumPy slowest door vs scikit-learn / PyTorch CPU, large (target 1.5)"] == "1.4 yes"
    assert sparse["NumPy slowest door vs copying the inputs, large (target 2)"] == ""


def test_readme_shows_the_summary_of_the_committed_results():
    root = Path(__file__).resolve().parents[1]
    results = (root / "benchmarks" / "results-cpu.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    committed = results[len("## Targets\n\n"):results.index("\n## losskit benchmark")].strip()
    shown = readme[readme.index(bench.README_START) + len(bench.README_START):readme.index(bench.README_END)].strip()
    assert shown == committed


@pytest.mark.parametrize("preset", sorted(bench.PRESETS))
def test_dry_run_prints_the_expected_time_and_memory(preset, capsys):
    assert bench.main(["--preset", preset, "--dry-run"]) == 0
    out = capsys.readouterr().out
    _, time_text, memory_text = bench.PRESETS[preset]
    assert f"preset {preset}" in out and time_text in out and memory_text in out


def test_cupy_rows_run_on_a_cuda_device_or_are_skipped_with_the_reason(capsys):
    cupy, reason = bench.cupy_device_or_reason()
    _, rows = bench.run("smoke", ["huber"], ("cupy",))
    if cupy is None:
        assert rows == [] and f"cupy: skipped, {reason}" in capsys.readouterr().err
    else:
        assert [(r.backend, r.implementation) for r in rows] == [("cupy", "value_and_grad")]
        assert rows[0].total_ms > 0 and rows[0].reference_ms > 0
