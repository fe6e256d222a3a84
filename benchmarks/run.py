"""Benchmark every catalog loss on NumPy, PyTorch and JAX against the native implementations.

One command, one Markdown table::

    python -m benchmarks.run --size small --size large --out benchmarks/results-cpu.md --readme README.md
    python -m benchmarks.run --size large            # 10^7 elements; 8192 x 32000 logits
    python -m benchmarks.run --size smoke            # seconds; what CI runs

The file starts with a summary that checks each measured ratio against the targets below; with
``--readme`` the summary also replaces the block between ``<!-- benchmark-summary:start -->`` and
``<!-- benchmark-summary:end -->`` in the README.

Method: every measurement warms up (compilation, caches), then times ``repeats`` calls and keeps
the median; each ratio divides by a reference measured in the same process just before, so the
load of a shared machine affects both sides alike. Ratios below 1 mean losskit is faster.

What is measured, per loss:

* NumPy: ``loss.value_and_grad`` (the generic array-API path), the fused path of
  :mod:`losskit._fast` where it has a kernel, against scikit-learn's compiled
  ``sklearn._loss`` ``loss_gradient`` (per-sample loss and gradient, one thread) for the losses
  they share, compared like with like (``reduction="none"``); the "bandwidth" column is the time
  to copy the inputs once (reading them and writing two arrays of their size: the least any
  value-and-gradient can move). Peak memory is tracemalloc's peak (NumPy reports its buffers).
* PyTorch: forward and forward+backward of the ``losskit.torch`` module against the native
  ``torch.nn.functional`` loss where one exists; memory is what autograd keeps for backward
  beyond the inputs themselves (the saved tensors that do not share storage with input or
  target, found with ``torch.autograd.graph.saved_tensors_hooks``), or
  ``torch.cuda.max_memory_allocated`` on a GPU. With CUDA available the GPU is benchmarked too.
* JAX: ``jax.jit(jax.value_and_grad(loss))`` against the Optax loss where one exists.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import losskit as lk  # noqa: E402

SIZES = {
    # name: (pointwise elements, (rows, classes) for losses over a class axis, repeats)
    "smoke": (256, (16, 8), 1),
    "small": (32, (32, 10), 200),
    "large": (10**7, (8192, 32000), 3),
}


@dataclass
class Row:
    loss: str
    backend: str
    implementation: str
    forward_ms: float | None = None
    total_ms: float | None = None
    reference: str = ""
    reference_ms: float | None = None
    memory_mb: float | None = None
    reference_memory_mb: float | None = None
    note: str = ""
    bandwidth_ms: float | None = None  # NumPy rows: the time to copy the inputs once

    @property
    def ratio(self) -> float | None:
        if self.total_ms is None or not self.reference_ms:
            return None
        return self.total_ms / self.reference_ms


@dataclass
class Config:
    size: str
    repeats: int
    pointwise: int
    rows: int
    classes: int
    rows_out: list[Row] = field(default_factory=list)


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of fn() in milliseconds, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


# ------------------------------------------------------------------------------------ inputs

def make_inputs(loss: lk.Loss, config: Config, dtype=np.float32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Valid (y_true, y_pred) for ``loss`` in its label format and prediction space."""
    rng = np.random.default_rng(seed)
    if loss.kind == "pointwise":
        shape: tuple = (config.pointwise,)
    else:
        shape = (config.rows, config.classes)
    if loss.kind == "sparse":
        y_true = rng.integers(0, config.classes, size=shape[:-1])
    elif loss.kind == "dense":
        y_true = _softmax(rng.normal(size=shape)) if loss.label_format == "distribution" else np.eye(config.classes)[rng.integers(0, config.classes, size=shape[0])]
    elif loss.label_format in ("signed", "binary"):
        y_true = (rng.random(shape) < 0.5).astype(float)
    elif loss.label_format in ("counts",):
        y_true = rng.poisson(2.0, size=shape).astype(float)
    elif loss.label_format == "non-negative":
        y_true = rng.random(shape) * 3
    else:
        y_true = rng.normal(size=shape)
    if loss.prediction_space == "probabilities":
        y_pred = _softmax(rng.normal(size=shape)) if loss.kind != "pointwise" else rng.random(shape) * 0.96 + 0.02
    elif loss.name in ("poisson", "mean_squared_logarithmic_error", "root_mean_squared_logarithmic_error"):
        y_pred = rng.random(shape) * 3 + 0.05
    else:
        y_pred = rng.normal(size=shape)
    y_true = y_true if loss.kind == "sparse" else y_true.astype(dtype)
    return y_true, y_pred.astype(dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------- NumPy

def _sklearn_reference(loss: lk.Loss, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, Callable] | None:
    """scikit-learn's compiled per-sample loss_gradient for the losses it shares with the catalog."""
    try:
        from sklearn._loss import loss as sk
    except ImportError:
        return None
    pointwise = {
        "half_squared_error": ("HalfSquaredError", {}),
        "mean_absolute_error": ("AbsoluteError", {}),
        "quantile": ("PinballLoss", {"quantile": 0.5}),
    }
    if loss.name in pointwise:
        cls, kwargs = pointwise[loss.name]
        instance = getattr(sk, cls)(**kwargs)
        return f"sklearn {cls}", lambda: instance.loss_gradient(y_true, y_pred)
    if loss.name == "poisson":
        # HalfPoissonLoss works on the log-rate; the benchmark feeds it log(y_pred) (same work).
        raw = np.log(y_pred)
        return "sklearn HalfPoissonLoss", lambda: sk.HalfPoissonLoss().loss_gradient(y_true, raw)
    if loss.name == "sigmoid_cross_entropy":
        return "sklearn HalfBinomialLoss", lambda: sk.HalfBinomialLoss().loss_gradient(y_true, y_pred)
    if loss.name == "sparse_softmax_cross_entropy":
        labels = y_true.astype(y_pred.dtype)
        instance = sk.HalfMultinomialLoss(n_classes=y_pred.shape[-1])
        return "sklearn HalfMultinomialLoss", lambda: instance.loss_gradient(labels, np.ascontiguousarray(y_pred))
    return None


def _peak_mb(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench_numpy(loss: lk.Loss, config: Config) -> list[Row]:
    from losskit import _fast

    y_true, y_pred = make_inputs(loss, config)
    reduction = "mean" if loss.root else "none"
    reference = _sklearn_reference(loss, y_true, y_pred)
    bandwidth_ms = median_time(lambda: (y_true.copy(), y_pred.copy()), config.repeats)
    ref_name, ref_ms, ref_mem = "", None, None
    if reference is not None:
        ref_name, ref_fn = reference
        ref_ms = median_time(ref_fn, config.repeats)
        ref_mem = _peak_mb(ref_fn)
    note = f"copy {bandwidth_ms:.3g} ms"
    rows = []
    with lk.value_checks(False):
        generic = lambda: loss.value_and_grad(y_true, y_pred, reduction=reduction)  # noqa: E731
        rows.append(Row(loss.name, "numpy", f"value_and_grad ({reduction})", None, median_time(generic, config.repeats),
                        ref_name, ref_ms, _peak_mb(generic), ref_mem, note, bandwidth_ms))
    # The smoke size skips the fused kernels: compiling them takes seconds per loss.
    if loss.name in _fast.fused_losses() and _fast.numba_available() and config.size != "smoke":
        for fused_reduction in ("none", "mean"):
            fused = lambda r=fused_reduction: _fast.value_and_grad_numpy(loss, y_true, y_pred, reduction=r)  # noqa: E731
            rows.append(Row(loss.name, "numpy", f"fused ({fused_reduction}, numba)", None,
                            median_time(fused, config.repeats), ref_name, ref_ms, _peak_mb(fused), ref_mem, note,
                            bandwidth_ms))
    return rows


# ----------------------------------------------------------------------------------- PyTorch

def _torch_native(loss: lk.Loss, F) -> Callable | None:
    import torch

    natives = {
        "mean_squared_error": lambda x, t: F.mse_loss(x, t),
        "mean_absolute_error": lambda x, t: F.l1_loss(x, t),
        "huber": lambda x, t: F.huber_loss(x, t),
        "smooth_l1": lambda x, t: F.smooth_l1_loss(x, t),
        "binary_cross_entropy": lambda x, t: F.binary_cross_entropy(x, t),
        "sigmoid_cross_entropy": lambda x, t: F.binary_cross_entropy_with_logits(x, t),
        "softmax_cross_entropy": lambda x, t: F.cross_entropy(x, t),
        "sparse_softmax_cross_entropy": lambda x, t: F.cross_entropy(x, t),
        "sparse_categorical_cross_entropy": lambda x, t: F.nll_loss(torch.log(x), t),
        "categorical_cross_entropy": lambda x, t: F.nll_loss(torch.log(x), t.argmax(-1)),
        "kl_divergence": lambda x, t: F.kl_div(torch.log(x), t, reduction="batchmean"),
        "kl_divergence_with_logits": lambda x, t: F.kl_div(x.log_softmax(-1), t, reduction="batchmean"),
        "logistic": lambda x, t: F.soft_margin_loss(x, 2 * t - 1),
        "poisson": lambda x, t: F.poisson_nll_loss(x, t, log_input=False),
    }
    return natives.get(loss.name)


def _autograd_bytes(fn: Callable, input, target) -> int:
    """Bytes autograd saves for backward beyond the input and target themselves."""
    import torch

    own = {input.untyped_storage().data_ptr(), target.untyped_storage().data_ptr()}
    seen: dict[int, int] = {}

    def pack(tensor):
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in own:
            seen[pointer] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(input, target)
    return sum(seen.values())


def bench_torch(loss: lk.Loss, config: Config, device: str) -> list[Row]:
    import torch
    import torch.nn.functional as F

    import losskit.torch as lkt

    y_true, y_pred = make_inputs(loss, config)
    target = torch.as_tensor(y_true, device=device)
    input = torch.as_tensor(y_pred, device=device).requires_grad_(True)
    module = lkt.get_module(loss.name)
    native = _torch_native(loss, F)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward_backward(fn):
        def run():
            input.grad = None
            fn(input, target).backward()
            sync()
        return run

    def forward(fn):
        def run():
            with torch.no_grad():
                fn(input, target)
            sync()
        return run

    def memory_mb(fn) -> float:
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            forward_backward(fn)()
            return (torch.cuda.max_memory_allocated() - base) / 2**20
        return _autograd_bytes(fn, input, target) / 2**20

    ref_name, ref_ms, ref_mem = "", None, None
    if native is not None:
        ref_name = "torch.nn.functional"
        ref_ms = median_time(forward_backward(native), config.repeats)
        ref_mem = memory_mb(native)
    row = Row(loss.name, f"torch-{device}", "module fwd+bwd", median_time(forward(module), config.repeats),
              median_time(forward_backward(module), config.repeats), ref_name, ref_ms, memory_mb(module), ref_mem)
    if native is not None:
        row.note = f"native fwd {median_time(forward(native), config.repeats):.3g} ms"
    return [row]


# --------------------------------------------------------------------------------------- JAX

def _optax_reference(loss: lk.Loss):
    import jax
    import jax.numpy as jnp
    import optax

    references = {
        "huber": lambda t, p: optax.losses.huber_loss(p, t).mean(),
        "log_cosh": lambda t, p: optax.losses.log_cosh(p, t).mean(),
        "mean_squared_error": lambda t, p: optax.losses.squared_error(p, t).mean(),
        "sigmoid_cross_entropy": lambda t, p: optax.losses.sigmoid_binary_cross_entropy(p, t).mean(),
        "softmax_cross_entropy": lambda t, p: optax.losses.softmax_cross_entropy(p, t).mean(),
        "sparse_softmax_cross_entropy": lambda t, p: optax.losses.softmax_cross_entropy_with_integer_labels(p, t).mean(),
        "kl_divergence_with_logits": lambda t, p: optax.losses.kl_divergence(jax.nn.log_softmax(p), t).mean(),
        "hinge": lambda t, p: optax.losses.hinge_loss(p, 2 * t - 1).mean(),
    }
    del jnp
    return references.get(loss.name)


def bench_jax(loss: lk.Loss, config: Config) -> list[Row]:
    import jax

    y_true, y_pred = make_inputs(loss, config)
    target, pred = jax.numpy.asarray(y_true), jax.numpy.asarray(y_pred)
    ours = jax.jit(jax.value_and_grad(lambda p, t: loss(t, p)))
    forward = jax.jit(lambda p, t: loss(t, p))

    def run(fn):
        return lambda: jax.block_until_ready(fn(pred, target))

    reference = _optax_reference(loss)
    ref_name, ref_ms = "", None
    if reference is not None:
        theirs = jax.jit(jax.value_and_grad(lambda p, t: reference(t, p)))
        ref_name, ref_ms = "optax", median_time(run(theirs), config.repeats)
    return [Row(loss.name, "jax", "jit(value_and_grad)", median_time(run(forward), config.repeats),
                median_time(run(ours), config.repeats), ref_name, ref_ms)]


# ------------------------------------------------------------------------------------ report

def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def to_markdown(config: Config, rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| loss | backend | implementation | forward ms | total ms | reference | reference ms | ratio | memory MB | reference MB | note |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.loss} | {r.backend} | {r.implementation} | {_fmt(r.forward_ms)} | {_fmt(r.total_ms)} | {r.reference} "
            f"| {_fmt(r.reference_ms)} | {_fmt(r.ratio, 2)} | {_fmt(r.memory_mb)} | {_fmt(r.reference_memory_mb)} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def _available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def run(size: str, losses: list[str] | None = None, backends: tuple[str, ...] = ("numpy", "torch", "jax"),
        classes: int | None = None) -> tuple[Config, list[Row]]:
    pointwise, (rows_n, classes_n), repeats = SIZES[size]
    config = Config(size, repeats, pointwise, rows_n, classes or classes_n)
    selected = [lk.get(name) for name in losses] if losses else lk.catalog()
    devices = ["cpu"]
    if "torch" in backends and _available("torch"):
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        if torch.cuda.is_available():
            devices.append("cuda")
    rows: list[Row] = []
    for loss in selected:
        if "numpy" in backends:
            rows += bench_numpy(loss, config)
        if "torch" in backends and _available("torch"):
            for device in devices:
                rows += bench_torch(loss, config, device)
        if "jax" in backends and _available("jax"):
            rows += bench_jax(loss, config)
        gc.collect()
        print(f"  {size} {loss.name}: done", file=sys.stderr, flush=True)
    return config, rows


def section(config: Config, rows: list[Row]) -> str:
    header = (
        f"## losskit benchmark: size={config.size} (pointwise {config.pointwise} elements, class axis "
        f"{config.rows} x {config.classes}), median of {config.repeats}\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"NumPy {np.__version__}. Ratio = total / reference (below 1: losskit faster). Reduction 'mean' "
        f"except the NumPy rows, which use 'none' (the root losses: 'mean') to compare with scikit-learn's "
        f"per-sample loss_gradient."
    )
    return to_markdown(config, rows, header)


# --------------------------------------------------------------------------------- targets
#
# The targets of the performance issue, checked on the measured rows. The PyTorch targets apply
# where PyTorch has a native twin; the NumPy ones where scikit-learn has a compiled routine.
# "value_and_grad" is what a user calls (large NumPy inputs take the fused kernels through it).

SMALL_OVERHEAD_TARGET = 1.5  # batch 32: at most 1.5x the native call
TORCH_LARGE_TARGET = 1.0  # no slower than the native loss
SKLEARN_LARGE_TARGET = 0.5  # at least twice as fast as sklearn._loss
BANDWIDTH_TARGET = 2.0  # within 2x of copying the inputs once


def _cell(value: float | None, target: float) -> str:
    if value is None:
        return ""
    return f"{value:.3g} {'yes' if value <= target else '**no**'}"


def summary(results: list[tuple[Config, list[Row]]]) -> str:
    """One row per loss with a reference: each measured ratio against its target (yes / no)."""
    columns: list[tuple[str, Callable[[dict[tuple[str, str], list[Row]]], float | None], float]] = []
    by_size = {config.size: rows for config, rows in results}

    def lookup(size: str, backend: str, implementation: str, measure: Callable[[Row], float | None]):
        def get(table: dict[tuple[str, str], list[Row]]) -> float | None:
            for row in table.get((size, backend), []):
                if row.implementation == implementation:
                    return measure(row)
            return None
        return get

    def memory_ratio(row: Row) -> float | None:
        if row.memory_mb is None or row.reference_memory_mb is None or not row.reference:
            return None
        return row.memory_mb / row.reference_memory_mb if row.reference_memory_mb else (0.0 if row.memory_mb == 0 else float("inf"))

    def copy_ratio(row: Row) -> float | None:
        return row.total_ms / row.bandwidth_ms if row.total_ms and row.bandwidth_ms else None

    for size in by_size:
        large = size == "large"
        torch_target = TORCH_LARGE_TARGET if large else SMALL_OVERHEAD_TARGET
        columns.append((f"PyTorch vs native, {size} (target {torch_target:g})",
                        lookup(size, "torch-cpu", "module fwd+bwd", lambda r: r.ratio), torch_target))
        if large:
            columns.append((f"PyTorch autograd memory vs native, {size} (target 1)",
                            lookup(size, "torch-cpu", "module fwd+bwd", memory_ratio), 1.0))
        numpy_target = SKLEARN_LARGE_TARGET if large else SMALL_OVERHEAD_TARGET
        columns.append((f"NumPy value_and_grad vs scikit-learn, {size} (target {numpy_target:g})",
                        lookup(size, "numpy", "value_and_grad (none)", lambda r: r.ratio), numpy_target))
        if large:
            columns.append((f"NumPy value_and_grad vs copying the inputs, {size} (target {BANDWIDTH_TARGET:g})",
                            lookup(size, "numpy", "value_and_grad (none)", copy_ratio), BANDWIDTH_TARGET))
    losses: list[str] = []
    tables: dict[str, dict[tuple[str, str], list[Row]]] = {}
    for config, rows in results:
        for row in rows:
            if row.reference:
                if row.loss not in losses:
                    losses.append(row.loss)
            tables.setdefault(row.loss, {}).setdefault((config.size, row.backend), []).append(row)
    lines = ["| loss | " + " | ".join(title for title, _, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for loss in losses:
        cells = [_cell(get(tables[loss]), target) for _, get, target in columns]
        if any(cells):
            lines.append(f"| {loss} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- benchmark-summary:start -->", "<!-- benchmark-summary:end -->"


def update_readme(path: str, block: str) -> None:
    """Replace the summary block of the README (between the markers) with ``block``."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text[:start] + "\n" + block + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", action="append", dest="sizes", choices=tuple(SIZES),
                        help="small (batch 32), large (10^7 elements, 8192 x 32000 logits) or smoke; repeatable "
                             "(default: small)")
    parser.add_argument("--out", help="write the Markdown report to this file (default: stdout)")
    parser.add_argument("--readme", help="also replace the summary block of this README")
    parser.add_argument("--loss", action="append", dest="losses", help="benchmark only this loss (repeatable)")
    parser.add_argument("--backend", action="append", dest="backends", choices=("numpy", "torch", "jax"),
                        help="benchmark only this backend (repeatable)")
    parser.add_argument("--classes", type=int, help="number of classes for the losses over a class axis")
    args = parser.parse_args(argv)
    results = [run(size, args.losses, tuple(args.backends or ("numpy", "torch", "jax")), args.classes)
               for size in args.sizes or ["small"]]
    block = summary(results)
    report = "## Targets\n\n" + block + "\n" + "\n".join(section(config, rows) for config, rows in results)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(report)
    else:
        print(report)
    if args.readme:
        update_readme(args.readme, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
