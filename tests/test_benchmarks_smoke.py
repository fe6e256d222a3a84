"""The benchmark command runs end to end at the smoke size and writes one table row per loss.

No timing is asserted: timings belong in the benchmark's report, not in tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import losskit as lk

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


def test_native_references_are_measured_where_pytorch_has_a_twin(smoke_table):
    references = {row[0]: row[5] for row in _rows(smoke_table) if row[1] == "torch-cpu"}
    assert references["huber"] == "torch.nn.functional"
    assert references["sparse_softmax_cross_entropy"] == "torch.nn.functional"
    assert references["log_cosh"] == ""


def _row(loss, backend, implementation, total, reference_ms, **extra):
    return bench.Row(loss, backend, implementation, total_ms=total, reference="ref", reference_ms=reference_ms, **extra)


def test_summary_checks_each_ratio_against_its_target():
    small = bench.Config("small", 1, 32, 32, 10)
    large = bench.Config("large", 1, 10, 8, 4)
    results = [
        (small, [_row("huber", "torch-cpu", "module fwd+bwd", 1.4, 1.0),
                 _row("poisson", "numpy", "value_and_grad (none)", 2.0, 1.0)]),
        (large, [_row("huber", "torch-cpu", "module fwd+bwd", 1.1, 1.0, memory_mb=1.0, reference_memory_mb=0.0),
                 _row("poisson", "numpy", "value_and_grad (none)", 3.0, 10.0, bandwidth_ms=1.0)]),
    ]
    table = bench.summary(results)
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")[1:]]
             for line in table.splitlines()[2:]}
    # columns: torch small, numpy small, torch large, torch memory large, numpy large, numpy vs copy large
    assert cells["huber"][:1] == ["1.4 yes"] and cells["huber"][2:4] == ["1.1 **no**", "inf **no**"]
    assert cells["poisson"][1] == "2 **no**" and cells["poisson"][4:] == ["0.3 yes", "3 **no**"]


def test_readme_shows_the_summary_of_the_committed_results():
    root = Path(__file__).resolve().parents[1]
    results = (root / "benchmarks" / "results-cpu.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    committed = results[len("## Targets\n\n"):results.index("\n## losskit benchmark")].strip()
    shown = readme[readme.index(bench.README_START) + len(bench.README_START):readme.index(bench.README_END)].strip()
    assert shown == committed
