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
    lines = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| loss ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("| ---")]


def test_smoke_benchmark_writes_a_markdown_table_with_the_header(smoke_table):
    assert smoke_table.startswith("## losskit benchmark: size=smoke")
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
