"""The core imports only NumPy and array-api-compat; backends load on first sight of their library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "jax", "numba", "matplotlib", "typer", "sklearn", "keras", "pandas", "rich", "scipy")


def _loaded_after(code: str) -> list[str]:
    script = (
        "import sys, json\n" + code + "\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_numpy_call_loads_no_optional_dependency():
    loaded = _loaded_after(
        "import numpy as np\nimport losskit as lk\n"
        "y, p = np.zeros(8), np.linspace(-1.0, 1.0, 8)\n"
        "lk.huber(y, p); lk.huber.grad(y, p); lk.huber.value_and_grad(y, p)\n"
        "lk.sparse_softmax_cross_entropy(np.array([0, 1]), np.zeros((2, 3)))\n"
        "lk.gaussian_nll(y, p, np.ones(8))"
    )
    assert loaded == []


def test_the_torch_kernels_load_with_the_first_torch_call_only():
    pytest.importorskip("torch")
    before = _loaded_after("import losskit, losskit.backends")
    assert "torch" not in before
    code = (
        "import torch, losskit as lk\n"
        "lk.huber(torch.zeros(3), torch.ones(3))\n"
        "assert 'losskit.backends.torch_kernels' in sys.modules"
    )
    assert "torch" in _loaded_after(code)
