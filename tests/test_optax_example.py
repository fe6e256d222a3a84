"""The documented Optax training example runs and learns."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("jax")
pytest.importorskip("optax")

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "optax_training.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("optax_training", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_optax_example_reduces_the_loss(capsys):
    initial_loss, final_loss = _load_example().main(steps=100)
    assert final_loss < 0.6 * initial_loss
    assert "sigmoid_cross_entropy" in capsys.readouterr().out
