"""PyTorch's channels-first layout: (N, d) labels against (N, C, d) logits name axis=1 in the error."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk


def _inputs():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(4, 7))
    logits = rng.normal(size=(4, 3, 7))
    return labels, logits


def test_functional_channels_first_error_names_axis_1():
    labels, logits = _inputs()
    with pytest.raises(ValueError, match="axis=1"):
        lk.sparse_softmax_cross_entropy(labels, logits)


def test_functional_axis_1_equals_the_channels_last_call():
    labels, logits = _inputs()
    value = float(lk.sparse_softmax_cross_entropy(labels, logits, axis=1))
    expected = float(lk.sparse_softmax_cross_entropy(labels, np.moveaxis(logits, 1, -1)))
    assert np.isfinite(value)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_torch_module_channels_first_error_names_axis_1():
    torch = pytest.importorskip("torch")
    from losskit.torch import SparseSoftmaxCrossEntropy

    labels, logits = _inputs()
    # The module takes PyTorch's order: forward(input, target).
    with pytest.raises(ValueError, match="axis=1"):
        SparseSoftmaxCrossEntropy()(torch.as_tensor(logits), torch.as_tensor(labels))


def test_torch_module_axis_1_equals_the_channels_last_call_and_cross_entropy():
    torch = pytest.importorskip("torch")
    from losskit.torch import SparseSoftmaxCrossEntropy

    labels, logits = _inputs()
    target, x = torch.as_tensor(labels), torch.as_tensor(logits)
    value = SparseSoftmaxCrossEntropy(axis=1)(x, target)
    channels_last = SparseSoftmaxCrossEntropy()(x.movedim(1, -1), target)
    torch.testing.assert_close(value, channels_last, rtol=1e-12, atol=0)
    torch.testing.assert_close(value, torch.nn.functional.cross_entropy(x, target), rtol=1e-10, atol=0)
