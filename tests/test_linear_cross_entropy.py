"""linear_cross_entropy: the loss of a linear head, equal to the dense composition, without its logits.

Every test compares against the dense computation ``sparse_softmax_cross_entropy(y, h @ W.T + b)``
differentiated by PyTorch's autograd (the gradients with respect to h, W and b come from the
framework, not from losskit's kernel), or against the formula written out in NumPy; the memory
test measures tracemalloc's peak, not time.
"""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

import losskit as lk
from losskit.linear import auto_chunk_size, linear_cross_entropy_with_lse, linear_log_sum_exp

torch = pytest.importorskip("torch")

N, D, V = 13, 5, 7
IGNORE = -100


def _inputs(seed=0, n=N, d=D, v=V, ignore=True, scale=1.0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d)) * scale
    w = rng.normal(size=(v, d))
    b = rng.normal(size=v)
    y = rng.integers(0, v, size=n)
    if ignore:
        y[1::3] = IGNORE
    return y, h, w, b


def _dense(y, h, w, b, *, ignore_index=None, label_smoothing=0.0, z_loss=0.0, class_weight=None,
           sample_weight=None, reduction="mean", upstream=None):
    """Value and (dh, dW, db) of the dense formula, differentiated by torch autograd (float64)."""
    th = torch.tensor(h, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    tb = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    z = th @ tw.T + (0.0 if tb is None else tb)
    ty = torch.as_tensor(y)
    keep = torch.ones_like(ty, dtype=torch.bool) if ignore_index is None else ty != ignore_index
    safe = torch.where(keep, ty, 0)
    lse = torch.logsumexp(z, dim=-1)
    log_p = z - lse[:, None]
    cw = torch.ones(z.shape[-1], dtype=torch.float64) if class_weight is None else torch.as_tensor(class_weight)
    picked = -log_p.gather(1, safe[:, None])[:, 0]
    loss = (1 - label_smoothing) * cw[safe] * picked
    loss = loss + (label_smoothing / z.shape[-1]) * -(log_p * cw).sum(-1)
    loss = loss + z_loss * lse**2
    loss = torch.where(keep, loss, 0.0)
    norm = torch.where(keep, cw[safe], 0.0)
    sw = torch.ones_like(loss) if sample_weight is None else torch.as_tensor(sample_weight)
    if reduction == "none":
        value = sw * loss
    elif reduction == "sum":
        value = (sw * loss).sum()
    else:
        total = (sw * norm).sum()
        value = (sw * loss).sum() / torch.where(total > 0, total, 1.0)
    (value * (1.0 if upstream is None else torch.as_tensor(upstream, dtype=torch.float64))).sum().backward()
    grads = (th.grad.numpy(), tw.grad.numpy()) + (() if tb is None else (tb.grad.numpy(),))
    return value.detach().numpy(), grads


def _close(actual, expected, rtol, atol=None):
    actual = np.asarray(actual.detach() if hasattr(actual, "detach") else actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale if atol is None else atol)


GRID = list(itertools.product(
    (False, True),  # bias
    (None, IGNORE),  # ignore_index
    (0.0, 0.2),  # label_smoothing
    (0.0, 1e-2),  # z_loss
    (False, True),  # class_weight
    (False, True),  # sample_weight
    ("none", "sum", "mean"),
    (None, 4),  # chunk_size: automatic, and 4 (13 = 3 * 4 + 1, a ragged last chunk)
))


def _grid_id(case):
    bias, ignore, ls, zl, cw, sw, reduction, chunk = case
    return f"bias={bias}-ignore={ignore is not None}-ls={ls}-z={zl}-cw={cw}-sw={sw}-{reduction}-chunk={chunk}"


def _kwargs(case, v=V, n=N):
    bias, ignore, ls, zl, cw, sw, reduction, chunk = case
    return dict(ignore_index=ignore, label_smoothing=ls, z_loss=zl,
                class_weight=np.linspace(0.5, 2.0, v) if cw else None,
                sample_weight=np.random.default_rng(5).uniform(0.5, 2.0, n) if sw else None,
                reduction=reduction), chunk


@pytest.mark.parametrize("case", GRID, ids=_grid_id)
def test_numpy_value_and_every_gradient_equal_the_dense_composition(case):
    y, h, w, b = _inputs(ignore=case[1] is not None)
    b = b if case[0] else None
    kwargs, chunk = _kwargs(case)
    value, grads = lk.linear_cross_entropy.value_and_grad(y, h, w, bias=b, chunk_size=chunk, **kwargs)
    expected_value, expected_grads = _dense(y, h, w, b, **kwargs)
    assert len(grads) == (3 if case[0] else 2)
    _close(value, expected_value, 1e-10)
    for ours, theirs in zip(grads, expected_grads):
        _close(ours, theirs, 1e-10)


@pytest.mark.parametrize("case", GRID[::3], ids=_grid_id)
def test_torch_autograd_gives_the_dense_gradients_with_any_upstream(case):
    y, h, w, b = _inputs(ignore=case[1] is not None)
    b = b if case[0] else None
    kwargs, chunk = _kwargs(case)
    upstream = np.random.default_rng(3).uniform(0.5, 1.5, N) if kwargs["reduction"] == "none" else 1.7
    expected_value, expected_grads = _dense(y, h, w, b, upstream=upstream, **kwargs)
    th = torch.tensor(h, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    tkw = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    value = lk.linear_cross_entropy(torch.as_tensor(y), th, tw, bias=tb, chunk_size=chunk, **tkw)
    _close(value, expected_value, 1e-10)
    (value * torch.as_tensor(upstream, dtype=torch.float64)).sum().backward()
    for tensor, theirs in zip((th, tw, tb), expected_grads):
        _close(tensor.grad, theirs, 1e-10)


@pytest.mark.parametrize("case", GRID[1::8], ids=_grid_id)
def test_jax_jit_grad_gives_the_dense_gradients(case):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    y, h, w, b = _inputs(ignore=case[1] is not None)
    b = b if case[0] else None
    kwargs, chunk = _kwargs(case)
    upstream = np.random.default_rng(3).uniform(0.5, 1.5, N) if kwargs["reduction"] == "none" else 1.7
    expected_value, expected_grads = _dense(y, h, w, b, upstream=upstream, **kwargs)
    jkw = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}

    def total(h_, w_, b_):
        value = lk.linear_cross_entropy(jnp.asarray(y), h_, w_, bias=b_, chunk_size=chunk, **jkw)
        return jnp.sum(value * jnp.asarray(upstream))

    argnums = (0, 1, 2) if b is not None else (0, 1)
    grads = jax.jit(jax.grad(total, argnums=argnums))(jnp.asarray(h), jnp.asarray(w), None if b is None else jnp.asarray(b))
    for ours, theirs in zip(grads, expected_grads):
        _close(np.asarray(ours), theirs, 1e-10)
    value = jax.jit(lambda h_, w_: lk.linear_cross_entropy(jnp.asarray(y), h_, w_, bias=None if b is None else jnp.asarray(b),
                                                           chunk_size=chunk, **jkw))(jnp.asarray(h), jnp.asarray(w))
    _close(np.asarray(value), expected_value, 1e-10)


def test_value_equals_sparse_softmax_cross_entropy_on_the_logits():
    y, h, w, b = _inputs()
    cw = np.linspace(0.5, 2.0, V)
    sw = np.linspace(0.5, 2.0, N)
    for reduction in ("none", "sum", "mean"):
        kwargs = dict(ignore_index=IGNORE, label_smoothing=0.1, class_weight=cw, sample_weight=sw, reduction=reduction)
        ours = lk.linear_cross_entropy(y, h, w, bias=b, **kwargs)
        theirs = lk.sparse_softmax_cross_entropy(y, h @ w.T + b, **kwargs)
        _close(ours, theirs, 1e-12)
    if "z_loss" in {p.name for p in lk.sparse_softmax_cross_entropy.params}:
        ours = lk.linear_cross_entropy(y, h, w, bias=b, z_loss=1e-2, ignore_index=IGNORE)
        theirs = lk.sparse_softmax_cross_entropy(y, h @ w.T + b, z_loss=1e-2, ignore_index=IGNORE)
        _close(ours, theirs, 1e-12)


def test_z_loss_adds_the_squared_log_sum_exp_of_each_kept_token():
    y, h, w, b = _inputs()
    z = h @ w.T + b
    lse = np.log(np.exp(z).sum(-1))
    keep = y != IGNORE
    base = lk.linear_cross_entropy(y, h, w, bias=b, ignore_index=IGNORE, reduction="sum")
    with_z = lk.linear_cross_entropy(y, h, w, bias=b, ignore_index=IGNORE, z_loss=0.3, reduction="sum")
    _close(with_z - base, 0.3 * np.sum(lse[keep] ** 2), 1e-12)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 12, 13, 14, 100])
def test_every_chunk_size_gives_the_same_value_and_gradients(chunk):
    y, h, w, b = _inputs()
    expected = lk.linear_cross_entropy.value_and_grad(y, h, w, bias=b, ignore_index=IGNORE, chunk_size=N)
    value, grads = lk.linear_cross_entropy.value_and_grad(y, h, w, bias=b, ignore_index=IGNORE, chunk_size=chunk)
    _close(value, expected[0], 1e-13)
    for ours, theirs in zip(grads, expected[1]):
        _close(ours, theirs, 1e-13)


def test_float32_matches_the_float64_dense_computation():
    y, h, w, b = _inputs(n=64, d=16, v=50)
    for backend in ("numpy", "torch"):
        args = [y, h.astype(np.float32), w.astype(np.float32)]
        bias = b.astype(np.float32)
        if backend == "torch":
            args = [torch.as_tensor(a) for a in args]
            bias = torch.as_tensor(bias)
        value, grads = lk.linear_cross_entropy.value_and_grad(*args, bias=bias, ignore_index=IGNORE, chunk_size=7)
        expected_value, expected_grads = _dense(y, h.astype(np.float32), w.astype(np.float32), b.astype(np.float32),
                                                ignore_index=IGNORE)
        assert value.dtype == (np.float32 if backend == "numpy" else torch.float32)
        _close(value, expected_value, 1e-5)
        for ours, theirs in zip(grads, expected_grads):
            _close(ours, theirs, 1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_narrow_floats_are_computed_in_float32_and_returned_narrow(dtype):
    y, h, w, b = _inputs(n=40, d=8, v=30)
    tdtype = getattr(torch, dtype)
    th, tw, tb = (torch.tensor(a, dtype=tdtype) for a in (h, w, b))
    # The reference: the same narrow inputs, upcast, dense, float64.
    ref_value, ref_grads = _dense(y, th.double().numpy(), tw.double().numpy(), tb.double().numpy(), ignore_index=IGNORE)
    th.requires_grad_(True), tw.requires_grad_(True), tb.requires_grad_(True)
    value = lk.linear_cross_entropy(torch.as_tensor(y), th, tw, bias=tb, ignore_index=IGNORE, chunk_size=16)
    assert value.dtype == tdtype
    value.backward()
    eps = float(torch.finfo(tdtype).eps)
    _close(value.double(), ref_value, 2 * eps)
    for tensor, theirs in zip((th, tw, tb), ref_grads):
        assert tensor.grad.dtype == tdtype
        _close(tensor.grad.double(), theirs, 2 * eps)


def test_jax_narrow_floats_and_jit():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    y, h, w, b = _inputs(n=40, d=8, v=30)
    hb, wb = jnp.asarray(h, jnp.bfloat16), jnp.asarray(w, jnp.bfloat16)
    grads = jax.jit(jax.grad(lambda a, c: lk.linear_cross_entropy(jnp.asarray(y), a, c, ignore_index=IGNORE), argnums=(0, 1)))(hb, wb)
    assert grads[0].dtype == jnp.bfloat16 and grads[1].dtype == jnp.bfloat16
    _, expected = _dense(y, np.asarray(hb, np.float64), np.asarray(wb, np.float64), None, ignore_index=IGNORE)
    for ours, theirs in zip(grads, expected):
        _close(np.asarray(ours, np.float64), theirs, 2 * 2.0**-8)


def test_every_token_ignored_gives_zero_not_nan_and_zero_gradients():
    _, h, w, b = _inputs()
    y = np.full(N, IGNORE)
    for reduction in ("mean", "sum"):
        value, grads = lk.linear_cross_entropy.value_and_grad(y, h, w, bias=b, ignore_index=IGNORE, reduction=reduction)
        assert float(value) == 0.0
        for g in grads:
            assert np.all(g == 0.0)
    th = torch.tensor(h, requires_grad=True)
    lk.linear_cross_entropy(torch.as_tensor(y), th, torch.tensor(w), ignore_index=IGNORE).backward()
    assert torch.all(th.grad == 0)


def test_an_empty_batch_gives_zero_and_empty_gradients():
    _, _, w, b = _inputs()
    h = np.zeros((0, D))
    y = np.zeros((0,), dtype=np.int64)
    value, (dh, dw, db) = lk.linear_cross_entropy.value_and_grad(y, h, w, bias=b)
    assert float(value) == 0.0 and dh.shape == (0, D) and np.all(dw == 0) and np.all(db == 0)
    assert lk.linear_cross_entropy(y, h, w, reduction="none").shape == (0,)


def test_a_vocabulary_of_one_has_loss_zero_and_zero_gradient():
    rng = np.random.default_rng(0)
    h, w = rng.normal(size=(6, 3)), rng.normal(size=(1, 3))
    value, (dh, dw) = lk.linear_cross_entropy.value_and_grad(np.zeros(6, dtype=int), h, w)
    assert abs(float(value)) < 1e-15 and np.allclose(dh, 0) and np.allclose(dw, 0)


def test_hidden_of_several_leading_axes_and_extreme_logits():
    y, h, w, b = _inputs(n=12, scale=200.0)  # logits in the thousands: exp would overflow unshifted
    value, grads = lk.linear_cross_entropy.value_and_grad(y.reshape(3, 4), h.reshape(3, 4, D), w, bias=b,
                                                          ignore_index=IGNORE, chunk_size=5)
    expected_value, expected_grads = _dense(y, h, w, b, ignore_index=IGNORE)
    assert np.isfinite(value) and grads[0].shape == (3, 4, D)
    _close(value, expected_value, 1e-10)
    _close(grads[0].reshape(12, D), expected_grads[0], 1e-10)
    _close(grads[1], expected_grads[1], 1e-10)


def test_gradient_accumulation_over_micro_batches_equals_the_full_batch():
    y, h, w, b = _inputs(n=24, ignore=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    # A mean over the valid tokens of the whole batch: sum per micro-batch, one divisor.
    valid = int(np.sum(y != IGNORE))
    for part in np.array_split(np.arange(24), 3):
        loss = lk.linear_cross_entropy(torch.as_tensor(y[part]), torch.tensor(h[part]), tw, bias=tb,
                                       ignore_index=IGNORE, reduction="sum") / valid
        loss.backward()
    _, expected = _dense(y, h, w, b, ignore_index=IGNORE)
    _close(tw.grad, expected[1], 1e-12)
    _close(tb.grad, expected[2], 1e-12)


def test_torch_equals_torch_linear_cross_entropy_where_it_has_the_arguments():
    F = torch.nn.functional
    if not hasattr(F, "linear_cross_entropy"):
        pytest.skip("torch.nn.functional.linear_cross_entropy needs PyTorch 2.13+")
    y, h, w, b = _inputs()
    cw = torch.linspace(0.5, 2.0, V, dtype=torch.float64)
    for reduction, ls, weight in itertools.product(("none", "sum", "mean"), (0.0, 0.2), (None, cw)):
        tensors = [torch.tensor(a, requires_grad=True) for a in (h, w, b)]
        theirs = F.linear_cross_entropy(tensors[0], tensors[1], torch.as_tensor(y), linear_bias=tensors[2], weight=weight,
                                        reduction=reduction, ignore_index=IGNORE, label_smoothing=ls)
        theirs.sum().backward()
        expected = [t.grad.clone() for t in tensors]
        for t in tensors:
            t.grad = None
        ours = lk.linear_cross_entropy(torch.as_tensor(y), tensors[0], tensors[1], bias=tensors[2], class_weight=weight,
                                       ignore_index=IGNORE, label_smoothing=ls, reduction=reduction, chunk_size=4)
        _close(ours, theirs.detach(), 1e-10)
        ours.sum().backward()
        for t, e in zip(tensors, expected):
            _close(t.grad, e, 1e-10)


def test_log_sum_exp_companion():
    y, h, w, b = _inputs()
    value, lse = linear_cross_entropy_with_lse(y, h, w, bias=b, ignore_index=IGNORE, chunk_size=4)
    z = h @ w.T + b
    expected = np.log(np.sum(np.exp(z - z.max(-1, keepdims=True)), -1)) + z.max(-1)
    _close(lse, expected, 1e-13)
    _close(value, lk.linear_cross_entropy(y, h, w, bias=b, ignore_index=IGNORE), 1e-15)
    _close(linear_log_sum_exp(torch.tensor(h), torch.tensor(w), torch.tensor(b)), expected, 1e-13)


def test_auto_chunk_size_is_bounded_and_overridable():
    assert auto_chunk_size(10, 4, 5) == 10
    big = auto_chunk_size(8192, 2048, 128000)
    assert 64 <= big <= 8192 and big * 128000 * 4 <= 128 * 2**20 + 64 * 128000 * 4
    y, h, w, _ = _inputs()
    assert float(lk.linear_cross_entropy(y, h, w, ignore_index=IGNORE, chunk_size=2)) == pytest.approx(
        float(lk.linear_cross_entropy(y, h, w, ignore_index=IGNORE)), rel=1e-14)


def test_the_logits_are_never_materialised_numpy_peak_memory():
    # Dense float64 logits would take N * V * 8 = 128 MiB (and their gradient as much again);
    # the floor is dh + dW; a chunk of 64 tokens adds 64 * V * 8 = 4 MiB.
    n, d, v, chunk = 2048, 32, 8192, 64
    rng = np.random.default_rng(0)
    h, w = rng.normal(size=(n, d)), rng.normal(size=(v, d)) * 0.1
    y = rng.integers(0, v, size=n)
    floor = (n * d + v * d) * 8
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        value, grads = lk.linear_cross_entropy.value_and_grad(y, h, w, chunk_size=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunk_bytes = chunk * v * 8 + 4096 * d * 8
    assert peak < floor + 2 * chunk_bytes + 64 * n + (1 << 20), (peak, floor)
    assert peak < n * v * 8 / 8
    assert np.isfinite(value) and grads[1].shape == (v, d)


def test_shapes_and_values_are_checked_with_clear_errors():
    y, h, w, b = _inputs()
    with pytest.raises(ValueError, match="nn.Linear"):
        lk.linear_cross_entropy(y, h, w.T)
    with pytest.raises(ValueError, match=r"bias must have shape \(7,\)"):
        lk.linear_cross_entropy(y, h, w, bias=b[:3], ignore_index=IGNORE)
    with pytest.raises(ValueError, match=r"class indices in \[0, 7\)"):
        lk.linear_cross_entropy(np.full(N, 7), h, w)
    with pytest.raises(TypeError, match="integer class indices"):
        lk.linear_cross_entropy(y.astype(float), h, w)
    with pytest.raises(ValueError, match="chunk_size"):
        lk.linear_cross_entropy(y, h, w, chunk_size=0, ignore_index=IGNORE)
    with pytest.raises(ValueError, match="one label per row"):
        lk.linear_cross_entropy(y[:-1], h, w)


_TORCH_MEMORY_PROBE = r"""
import json, os, resource, sys
import torch
import losskit as lk
from losskit.linear import auto_chunk_size

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

n, d, v = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
# A first small call loads every module and kernel, so that their memory is in the baseline.
a, b = torch.randn(4, d, requires_grad=True), torch.randn(8, d, requires_grad=True)
lk.linear_cross_entropy(torch.zeros(4, dtype=torch.long), a, b).backward()
torch.nn.functional.cross_entropy(a @ b.T, torch.zeros(4, dtype=torch.long)).backward()
del a, b
h = torch.randn(n, d, generator=g).mul_(0.5).requires_grad_(True)
w = torch.randn(v, d, generator=g).mul_(d ** -0.5).requires_grad_(True)
y = torch.randint(0, v, (n,), generator=g)
base = rss()  # the inputs are allocated and written


def high_water():
    # VmHWM, the peak resident set of this address space. Not ru_maxrss: Linux carries that over
    # exec from the forked parent, so a child of a 4 GB test worker would report 4 GB.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


lk.linear_cross_entropy(y, h, w).backward()
chunked = high_water() - base
assert bool(torch.isfinite(w.grad).all()) and h.grad.shape == h.shape
h.grad = w.grad = None
# Then the dense computation in the same process: the high-water mark only grows, so its peak
# shows only if it exceeds the chunked one, which it must.
torch.nn.functional.cross_entropy(h @ w.T, y).backward()
dense = high_water() - base
print(json.dumps({"chunked": chunked, "dense": dense, "chunk": auto_chunk_size(n, d, v, 4)}))
"""


def _torch_peaks_above_inputs(n, d, v):
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _TORCH_MEMORY_PROBE, str(n), str(d), str(v)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc/self/statm and /proc/self/status")
def test_the_logits_are_never_materialised_torch_peak_memory_in_a_fresh_process():
    # float32: the floor (dh + dW) is 18 MiB; the dense logits alone would be 128 MiB (7x the
    # floor), and with their softmax and gradient the dense forward+backward takes about 20x.
    # The bound: the floor, one automatic chunk of (chunk, V) logits, O(N) vectors and a few MiB
    # of allocator and interpreter slack. Nothing is timed.
    n, d, v = 2048, 256, 16384
    floor = (n * d + v * d) * 4
    measured = _torch_peaks_above_inputs(n, d, v)
    chunk_bytes = measured["chunk"] * v * 4
    bound = floor + chunk_bytes + 16 * n * 4 + (6 << 20)
    assert bound < n * v * 4 / 3  # the test can tell the chunked computation from a dense one
    assert measured["chunked"] < bound, (measured, floor, bound)
    # The same measurement sees the dense computation's logits (so it measures what it claims).
    assert measured["dense"] > n * v * 4, measured


# ---------------------------------------------------------------- the documented training examples

def _page_blocks():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "linear-cross-entropy.md"
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def _run_block(marker):
    blocks = [block for block in _page_blocks() if marker in block]
    assert len(blocks) == 1, f"docs/linear-cross-entropy.md must have one python block with {marker!r}"
    namespace = {"__name__": "__docs__"}
    exec(compile(blocks[0], "docs/linear-cross-entropy.md", "exec"), namespace)  # its own asserts run too
    return namespace


def _curves_agree(ours, dense):
    assert len(ours) == len(dense) >= 3
    np.testing.assert_allclose(np.asarray(ours), np.asarray(dense), rtol=1e-5, atol=0)
    assert ours[-1] < ours[0]  # it trains


def test_docs_pytorch_causal_lm_step_has_the_dense_loss_curve():
    namespace = _run_block("lkt.LinearCrossEntropy(model.head")
    _curves_agree(namespace["losses"], namespace["dense_losses"])
    assert namespace["model"].head.weight.dtype == torch.float32


def test_docs_jax_optax_causal_lm_step_has_the_dense_loss_curve():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    namespace = _run_block("optax.adam")
    _curves_agree(namespace["jax_losses"], namespace["jax_dense_losses"])
    assert namespace["params"]["head"].dtype == np.float32


def test_docs_page_is_in_the_site_navigation():
    from pathlib import Path

    mkdocs = (Path(__file__).resolve().parents[1] / "mkdocs.yml").read_text(encoding="utf-8")
    assert "linear-cross-entropy.md" in mkdocs
    assert len(_page_blocks()) == 2


# ------------------------------------------------------------------------------------ the benchmark

def _benchmark():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is outside the package
    from benchmarks import linear_cross_entropy as bench

    return bench


def test_benchmark_smoke_size_measures_each_method_in_a_fresh_process(tmp_path):
    bench = _benchmark()
    out = tmp_path / "results.md"
    methods = ["numpy-dense", "numpy-lk", "torch-lk"]
    assert bench.main(["--preset", "smoke", "--repeats", "1", "--out", str(out)]
                      + [arg for m in methods for arg in ("--method", m)]) == 0
    table = out.read_text(encoding="utf-8")
    assert "## N=64, D=16, V=300" in table
    assert "| method | time (s) | vs dense | peak memory above inputs (MB) | floor (MB) | vs floor |" in table
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ") and "---" not in line}
    for method in methods:
        cells = [c.strip() for c in rows[method].strip().strip("|").split("|")]
        assert len(cells) == 6 and float(cells[1]) >= 0 and cells[4] == bench._num(bench.floor_bytes(64, 16, 300) / 2**20)
    assert rows["numpy-dense"].split("|")[3].strip() == "1.00x"


def test_benchmark_plan_skips_cells_estimated_too_long_or_too_large_and_names_the_reason():
    bench = _benchmark()
    sizes = [(64, 16, 300), (8192, 2048, 128000)]
    cells = bench.plan(sizes, ["numpy-lk", "torch-dense"], repeats=2, rate=50e9, max_cell_seconds=600,
                       available=16 << 30)
    reasons = {(n, method): reason for n, d, v, method, seconds, reason in cells}
    assert reasons[(64, "numpy-lk")] is None and reasons[(64, "torch-dense")] is None
    assert "--max-cell-seconds" in reasons[(8192, "numpy-lk")]
    cells = bench.plan(sizes[1:], ["torch-dense", "numpy-lk"], repeats=1, rate=50e9, max_cell_seconds=1e9,
                       available=8 << 30)
    reasons = {method: reason for *_, method, seconds, reason in cells}
    assert "GiB available" in reasons["torch-dense"]  # 4 GB of logits, three times over
    assert reasons["numpy-lk"] is None
    assert bench.floor_bytes(4096, 1024, 32000) == (4096 + 32000) * 1024 * 4


def test_a_feature_axis_other_than_last_moves_hidden_only_and_keeps_the_bias_gradient():
    rng = np.random.default_rng(7)
    hidden = rng.normal(size=(3, 5, 4))  # (batch, features, time): the features at axis 1
    weight, bias = rng.normal(size=(7, 5)), rng.normal(size=7)
    labels = rng.integers(0, 7, size=(3, 4))
    moved = lk.linear_cross_entropy.grad(labels, hidden, weight, bias=bias, axis=1)
    last = lk.linear_cross_entropy.grad(labels, np.moveaxis(hidden, 1, -1), weight, bias=bias)
    np.testing.assert_allclose(moved[0], np.moveaxis(last[0], -1, 1), rtol=1e-12)
    np.testing.assert_allclose(moved[1], last[1], rtol=1e-12)
    np.testing.assert_allclose(moved[2], last[2], rtol=1e-12)
