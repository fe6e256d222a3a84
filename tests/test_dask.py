"""Dask arrays: lazy losses whose reductions are exact across chunks, in bounded memory.

Dask reaches losskit through array-api-compat's namespace (``losskit.backends.dask_namespace``
replaces its ``clip``, which broadcast scalar bounds to one full-size chunk). Inputs are chunked
along the batch axis; every reduction, sample weights, class weights and ``ignore_index`` are
compared with the NumPy result of the same call.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import losskit as lk  # noqa: E402
from _cases import IGNORE_INDEX, make_case, param_cases, shapes  # noqa: E402

CATALOG = lk.catalog()
# Two rows per chunk: every batch of the test cases is split into several chunks.
ROWS_PER_CHUNK = 2


def _lazy(value):
    if not isinstance(value, np.ndarray):
        return value
    if value.ndim == 0:
        return da.from_array(value)
    return da.from_array(value, chunks=(ROWS_PER_CHUNK,) + value.shape[1:])


def _tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def _settings(loss, shape):
    """The defaults, and the parameters that change how the mean is normalised."""
    yield "defaults", {}
    for case_id, params in param_cases(loss, shape):
        if {"class_weight", "ignore_index", "batch"} & set(params):
            yield case_id, params


def _cases():
    for loss in CATALOG:
        shape = shapes(loss)[-1]
        for case_id, params in _settings(loss, shape):
            yield pytest.param(loss, shape, params, id=f"{loss.name}-{case_id}")


@pytest.fixture(autouse=True)
def _synchronous():
    # The graphs of these small cases are cheaper to run in one thread.
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.mark.parametrize("loss, shape, params", _cases())
def test_every_reduction_over_many_chunks_equals_numpy(loss, shape, params):
    case = make_case(loss, shape, params)
    lazy_params = {k: _lazy(v) for k, v in params.items()}
    for reduction in loss.reductions:
        for weight in (None, case.sample_weight):
            value, grads = loss.value_and_grad(*(_lazy(a) for a in case.args), **lazy_params,
                                               sample_weight=None if weight is None else _lazy(weight),
                                               reduction=reduction)
            assert isinstance(value, da.Array) and all(isinstance(g, da.Array) for g in _tuple(grads))
            value, grads = dask.compute(value, _tuple(grads))
            expected_value, expected_grads = loss.value_and_grad(*case.args, **params, sample_weight=weight,
                                                                 reduction=reduction)
            np.testing.assert_allclose(value, expected_value, rtol=1e-12, atol=1e-13)
            for ours, expected in zip(grads, _tuple(expected_grads)):
                np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-13)


class _ComputeCounter(dask.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


def test_without_value_checks_a_call_computes_nothing_and_reduction_none_keeps_the_chunks():
    rng = da.random.default_rng(0)
    y_true = rng.integers(0, 4, size=1000, chunks=100)
    logits = rng.normal(size=(1000, 4), chunks=(100, 4))
    with _ComputeCounter() as counter, lk.value_checks(False):
        losses = lk.sparse_softmax_cross_entropy(y_true, logits, reduction="none", ignore_index=3)
        cost, grad = lk.sparse_softmax_cross_entropy.value_and_grad(y_true, logits, class_weight=[1.0, 2.0, 0.5, 1.0])
    assert counter.count == 0
    assert losses.chunks == y_true.chunks and grad.chunks == logits.chunks
    labels, scores = dask.compute(y_true, logits)
    np.testing.assert_allclose(losses.compute(), lk.sparse_softmax_cross_entropy(
        labels, scores, reduction="none", ignore_index=3), rtol=1e-12)
    np.testing.assert_allclose(cost.compute(), lk.sparse_softmax_cross_entropy(
        labels, scores, class_weight=[1.0, 2.0, 0.5, 1.0]), rtol=1e-12)


def test_value_checks_read_lazy_inputs_and_refuse_bad_values():
    labels = da.from_array(np.array([0, 1, 5, 2]), chunks=2)  # 5 is out of range for 3 classes
    with pytest.raises(ValueError, match="y_true"):
        lk.sparse_softmax_cross_entropy(labels, da.zeros((4, 3), chunks=(2, 3)))
    with pytest.raises(ValueError, match="y_pred"):
        lk.bce(da.ones(4, chunks=2), da.from_array(np.array([0.5, 0.5, 1.5, 0.5]), chunks=2))


def test_nan_propagates_to_the_affected_chunk_only():
    y_pred = np.array([0.0, 1.0, np.nan, 2.0])
    losses = lk.huber(da.zeros(4, chunks=2), da.from_array(y_pred, chunks=2), reduction="none").compute()
    np.testing.assert_array_equal(np.isnan(losses), [False, False, True, False])


_MEMORY_PROBE = textwrap.dedent("""
    import sys
    import dask, dask.array as da
    import losskit as lk

    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024

    n, chunk = int(sys.argv[1]), int(sys.argv[2])
    rng = da.random.default_rng(0)
    y_true, y_pred = rng.normal(size=n, chunks=chunk), rng.normal(size=n, chunks=chunk)
    labels = rng.integers(0, 5, size=n // 5, chunks=chunk // 5)
    logits = rng.normal(size=(n // 5, 5), chunks=(chunk // 5, 5))
    # The first calls (imports, caches) belong to the baseline.
    lk.huber.value_and_grad(y_true[:10], y_pred[:10])[0].compute()
    lk.sparse_softmax_cross_entropy(labels[:10], logits[:10]).compute()
    baseline = peak_mb()
    cost, grad = lk.huber.value_and_grad(y_true, y_pred, delta=0.5)
    dask.compute(cost, da.sum(grad * grad))
    ce, ce_grad = lk.sparse_softmax_cross_entropy.value_and_grad(labels, logits, label_smoothing=0.1)
    dask.compute(ce, da.sum(ce_grad))
    print(peak_mb() - baseline)
""")


def test_peak_memory_is_a_few_chunks_for_an_input_many_times_larger():
    # VmHWM of a fresh process (ru_maxrss would survive exec): 40M float64 per array, 8 MB chunks.
    n, chunk = 40_000_000, 1_000_000
    result = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(n), str(chunk)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    growth_mb = float(result.stdout.strip().splitlines()[-1])
    input_mb = 2 * n * 8 / 2**20  # y_true and y_pred: 610 MB, never in memory at once
    chunk_mb = chunk * 8 / 2**20
    assert growth_mb < 25 * chunk_mb, f"peak grew by {growth_mb:.0f} MB for chunks of {chunk_mb:.1f} MB"
    assert growth_mb < input_mb / 3


def test_the_same_code_runs_on_a_distributed_local_cluster():
    distributed = pytest.importorskip("dask.distributed")
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.normal(size=10_000), rng.normal(size=10_000)
    labels, logits = rng.integers(0, 3, size=2_000), rng.normal(size=(2_000, 3))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        cost, grad = lk.huber.value_and_grad(da.from_array(y_true, chunks=1_000), da.from_array(y_pred, chunks=1_000))
        ce = lk.sparse_softmax_cross_entropy(da.from_array(labels, chunks=500), da.from_array(logits, chunks=(500, 3)),
                                             ignore_index=2)
        cost, grad, ce = dask.compute(cost, grad, ce, scheduler=None)
    expected_cost, expected_grad = lk.huber.value_and_grad(y_true, y_pred)
    np.testing.assert_allclose(cost, expected_cost, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    np.testing.assert_allclose(ce, lk.sparse_softmax_cross_entropy(labels, logits, ignore_index=2), rtol=1e-12)


def test_ignore_index_of_the_cases_is_pytorchs():
    assert IGNORE_INDEX == -100  # the sparse cases above mark skipped positions with it
