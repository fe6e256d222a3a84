"""Benchmark every catalog loss on PyTorch, JAX and NumPy against the frameworks' own losses.

One command writes the full tables and the README's summary::

    python -m benchmarks.run --size small --size large --out benchmarks/results-cpu.md --readme README.md
    python -m benchmarks.run --size large            # 10^7 elements; 2048 x 32000 logits
    python -m benchmarks.run --size smoke            # seconds; what the tests run
    python -m benchmarks.run                         # the quick preset (batch 32): 2-4 min, under 1 GB
    python -m benchmarks.run --preset full --dry-run # print the plan (time, memory) and exit

Every run prints its plan first: the preset's sizes, expected time and peak memory (PRESETS).

The report starts with "Targets": each measured ratio against the targets of the performance
issue (below); with ``--readme`` that summary also replaces the block between
``<!-- benchmark-summary:start -->`` and ``<!-- benchmark-summary:end -->`` in the README.

Method: every measurement warms up (compilation, caches), then times ``repeats`` calls and keeps
the median; each ratio divides by a reference measured in the same process just before, so the
load of a shared machine affects both sides alike. Ratios below 1 mean losskit is faster. Every
call is a user's default call (value checks on, reduction "mean"): the numbers are what a
training loop gets.

What is measured, per loss (the references come from :mod:`losskit.equivalents`, the same table
the conformance command and the reference tests read):

* PyTorch, forward+backward of the **functional** call ``lk.X(target, input).backward()`` and
  of the ``losskit.torch`` **module**, against the native twin (the registry's PyTorch
  equivalent where it is equal) or, for a loss without one, the best plain-PyTorch expression a
  user would write (:data:`PLAIN_TORCH`). Memory is what autograd keeps for backward beyond the
  inputs themselves (the saved tensors that do not share storage with an input, found with
  ``torch.autograd.graph.saved_tensors_hooks``), or ``torch.cuda.max_memory_allocated`` on a
  GPU. With CUDA available the GPU is benchmarked too.
* JAX: ``jax.jit(jax.value_and_grad(...))`` of the loss against the same of Optax's loss, for
  every loss Optax has (the others are timed without a reference).
* CuPy, where CuPy and a CUDA device are present (skipped with the reason printed otherwise):
  ``value_and_grad`` on the GPU against the same call on NumPy.
* NumPy: the three doors ``lk.X(...)``, ``lk.X.grad`` and ``lk.X.value_and_grad``. A
  pointwise loss is compared with copying its inputs once (reading them and writing arrays of
  their size: the least a value and gradient can move, the memory-bandwidth bound); a loss over
  a class axis with the faster of scikit-learn's ``sklearn._loss`` ``loss_gradient`` (one
  thread) and PyTorch's CPU kernel (forward+backward on the same memory, ``torch.from_numpy``).
  Peak memory is tracemalloc's peak (NumPy reports its buffers to it).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import losskit as lk  # noqa: E402
from losskit import equivalents  # noqa: E402

SIZES = {
    # name: (pointwise elements, (rows, classes) for losses over a class axis, repeats)
    "smoke": (256, (16, 8), 1),
    "small": (32, (32, 10), 60),
    # A language model's vocabulary of 32000 at 2048 tokens: each float32 array of logits is
    # 262 MB, so every door and reference of one loss fits in memory together on a 24 GB machine.
    "large": (10**7, (2048, 32000), 3),
}

# Presets: the sizes run and their expected cost, printed before a run starts; how each was
# measured (/usr/bin/time -v on the 2-core VM) is in benchmarks/results-presets.md.
PRESETS = {
    # name: (sizes, expected wall time, expected peak memory)
    "quick": (("small",), "about 2 min of CPU (2-4 min wall on 2 cores)", "about 0.6 GB"),
    "full": (("small", "large"), "about 17 min on 2 CPU cores", "about 22 GB (needs a 24 GB machine)"),
}


def plan(preset: str | None, sizes: list[str] | None) -> str:
    """The run's plan: what it measures and its expected time and memory, printed before starting."""
    if sizes:
        known = {PRESETS[name][0]: name for name in PRESETS}
        name = known.get(tuple(sizes))
        if name is None:
            cost = ("large" in sizes and PRESETS["full"] or PRESETS["quick"])
            return (f"benchmark plan: sizes {', '.join(sizes)}; expected at most {cost[1]}, peak memory at most "
                    f"{cost[2]}")
        preset = name
    preset = preset or "quick"
    run_sizes, time_text, memory_text = PRESETS[preset]
    return (f"benchmark plan: preset {preset} (sizes {', '.join(run_sizes)}); expected time {time_text}, "
            f"peak memory {memory_text}")


# The targets of the performance issue, checked on the measured rows by summary().
TORCH_SMALL_TARGET = 1.3  # batch 32: forward+backward within 1.3x of the native loss
TORCH_LARGE_TARGET = 1.1  # 10^7 elements: within 1.1x
MEMORY_TARGET = 1.0  # no more autograd memory than the native loss
JAX_TARGET = 1.0  # jax.value_and_grad under jit: no slower than Optax
COPY_TARGET = 2.0  # NumPy, pointwise: within 2x of copying the inputs once
CLASS_AXIS_TARGET = 1.5  # NumPy, class axis: within 1.5x of scikit-learn's or PyTorch's CPU kernel


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

    @property
    def ratio(self) -> float | None:
        if self.total_ms is None or not self.reference_ms:
            return None
        return self.total_ms / self.reference_ms

    @property
    def memory_ratio(self) -> float | None:
        if self.memory_mb is None or self.reference_memory_mb is None:
            return None
        if self.reference_memory_mb == 0:
            return 0.0 if self.memory_mb == 0 else math.inf
        return self.memory_mb / self.reference_memory_mb


@dataclass
class Config:
    size: str
    repeats: int
    pointwise: int
    rows: int
    classes: int


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

def make_inputs(loss: lk.Loss, config: Config, dtype=np.float32, seed: int = 0) -> tuple[np.ndarray | None, tuple]:
    """Valid ``(y_true, predictions)`` for ``loss`` in its label format and prediction space.

    Shapes follow the loss's kind, bounded by the config's sizes: pointwise ``(pointwise,)``;
    dense, sparse and rowwise ``(rows, classes)`` (rowwise: ``classes`` features per row);
    overlap ``(rows, h, h, c)`` channels-last masks with ``c = min(classes, 4)`` and about as many
    elements as ``rows x classes``; linear_cross_entropy ``hidden (rows, 64)``, ``weight (classes,
    64)``. Further inputs follow ``input_shapes``. ``y_true`` is None for losses without a target.
    """
    rng = np.random.default_rng(seed)
    if loss.kind == "pointwise":
        shape: tuple = (config.pointwise,)
    elif loss.kind == "overlap":
        channels = min(config.classes, 4)
        side = max(2, math.isqrt(max(1, config.classes // channels)))
        shape = (config.rows, side, side, channels)
    elif loss.input_shapes[:1] == ("free",):  # a linear head: hidden (rows, D), weight (classes, D)
        shape = (config.rows, 64)
    else:
        shape = (config.rows, config.classes)
    loss_shape = shape if loss.kind == "pointwise" else shape[:-1]
    target_shape = shape if loss.target_shape == "same" else loss_shape
    classes = shape[-1]
    if loss.input_shapes[:1] == ("free",):
        classes = config.classes
    # The target.
    if not loss.has_target:
        y_true = None
    elif loss.label_format == "integer":
        y_true = rng.integers(0, classes, size=target_shape)
    elif loss.label_format == "distribution":
        y_true = _softmax(rng.normal(size=target_shape))
    elif loss.label_format == "one-hot":
        y_true = np.eye(classes)[rng.integers(0, classes, size=target_shape[:-1])]
    elif loss.kind == "overlap":  # one class per pixel: one-hot masks
        y_true = np.eye(classes)[rng.integers(0, classes, size=target_shape[:-1])]
    elif loss.label_format == "signed" and len(loss.inputs) > 1:  # pair losses: +-1, as PyTorch's twins take
        y_true = np.where(rng.random(target_shape) < 0.5, -1.0, 1.0)
    elif loss.label_format in ("signed", "binary"):
        y_true = (rng.random(target_shape) < 0.5).astype(float)
    elif loss.label_format == "counts":
        y_true = rng.poisson(2.0, size=target_shape).astype(float)
    elif loss.label_format == "non-negative":
        y_true = rng.random(target_shape) * 3
    elif loss.label_format == "positive":
        y_true = rng.random(target_shape) * 3 + 0.05
    else:
        y_true = rng.normal(size=target_shape)
    # The first prediction.
    if loss.prediction_space == "probabilities":
        y_pred = rng.random(shape) * 0.96 + 0.02 if loss.kind == "pointwise" else _softmax(rng.normal(size=shape))
    elif loss.label_format in ("counts", "non-negative", "positive"):
        y_pred = rng.random(shape) * 3 + 0.05
    else:
        y_pred = rng.normal(size=shape)
    predictions = [y_pred]
    # The others, by their shape rule.
    for name, rule in zip(loss.inputs[1:], loss.input_shapes):
        if name == "variance":
            predictions.append(rng.uniform(0.5, 2.0, size=shape if rule == "same" else loss_shape))
        elif rule == "free":  # the weight of a linear head, (classes, D), scaled as nn.Linear's
            predictions.append(rng.normal(size=(classes, shape[-1])) / math.sqrt(shape[-1]))
        else:
            predictions.append(rng.normal(size=shape if rule == "same" else loss_shape))
    if y_true is not None and not np.issubdtype(y_true.dtype, np.integer):
        y_true = y_true.astype(dtype)
    return y_true, tuple(p.astype(dtype) for p in predictions)


def call_arguments(loss: lk.Loss, y_true: Any, predictions: tuple | list) -> tuple:
    """losskit's argument order: ``(y_true, *predictions)``, or the predictions alone without a target."""
    return (y_true, *predictions) if loss.has_target else tuple(predictions)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------- PyTorch references

def _plain_torch() -> dict[str, tuple[str, Callable]]:
    """The best plain-PyTorch expression a user would write, for the losses without a native twin.

    In losskit's argument order, at the loss's default parameters; labels in {0, 1} become
    {-1, +1} inside the timed call, as the native twins' conversions are.
    """
    import torch
    import torch.nn.functional as F

    log2 = math.log(2.0)
    d = {loss.name: loss.defaults for loss in lk.catalog()}

    def signed(t):
        return 2 * t - 1

    def msle(t, x):
        return F.mse_loss(torch.log1p(x), torch.log1p(t))

    def log_cosh(t, x):
        # log(cosh(e)) = e + softplus(-2e) - log 2, finite for every e.
        e = x - t
        return (F.softplus(-2 * e) + e - log2).mean()

    def modified_huber(t, x):
        z = signed(t) * x
        return torch.where(z >= -1, F.relu(1 - z).square(), -4 * z).mean()

    def categorical_hinge(t, x):
        positive = (t * x).sum(-1)
        negative = ((1 - t) * x).amax(-1)
        return F.relu(1 + negative - positive).mean()

    def pseudo_huber(t, x):
        delta = d["pseudo_huber"]["delta"]
        return (delta**2 * (torch.sqrt(1 + ((x - t) / delta).square()) - 1)).mean()

    def quantile(t, x):
        q, e = d["quantile"]["q"], t - x
        return torch.maximum(q * e, (q - 1) * e).mean()

    def overlap_sums(t, x):
        # Channels-last masks (N, ..., C): sums over every axis but the batch and the class axis.
        dims = tuple(range(1, x.ndim - 1))
        return (t * x).sum(dims), (x * (1 - t)).sum(dims), (t * (1 - x)).sum(dims)

    def dice(t, x):
        s, dims = d["dice"]["smooth"], tuple(range(1, x.ndim - 1))
        return (1 - (2 * (t * x).sum(dims) + s) / (t.sum(dims) + x.sum(dims) + s)).mean()

    def jaccard(t, x):
        s, dims = d["jaccard"]["smooth"], tuple(range(1, x.ndim - 1))
        intersection = (t * x).sum(dims)
        return (1 - (intersection + s) / (t.sum(dims) + x.sum(dims) - intersection + s)).mean()

    def tversky_index(name, t, x):
        p = d[name]
        tp, fp, fn = overlap_sums(t, x)
        return 1 - (tp + p["smooth"]) / (tp + p["alpha"] * fp + p["beta"] * fn + p["smooth"])

    def sigmoid_focal(t, x):
        # torchvision.ops.sigmoid_focal_loss's formula (alpha=None: no class balance term).
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        return (ce * (1 - p_t) ** d["sigmoid_focal"]["gamma"]).mean()

    def softmax_focal(t, x):
        log_p = F.log_softmax(x, dim=-1)
        return -(t * (1 - log_p.exp()) ** d["softmax_focal"]["gamma"] * log_p).sum(-1).mean()

    def sparse_softmax_focal(t, x):
        log_p = F.log_softmax(x, dim=-1).gather(-1, t.unsqueeze(-1)).squeeze(-1)
        return -((1 - log_p.exp()) ** d["sparse_softmax_focal"]["gamma"] * log_p).mean()

    def poly1(t, x):
        return F.cross_entropy(x, t) + d["poly1_cross_entropy"]["epsilon"] * (t * (1 - x.softmax(-1))).sum(-1).mean()

    def sparse_poly1(t, x):
        p_y = x.softmax(-1).gather(-1, t.unsqueeze(-1)).squeeze(-1)
        return F.cross_entropy(x, t) + d["sparse_poly1_cross_entropy"]["epsilon"] * (1 - p_y).mean()

    def jensen_shannon(t, x):
        log_m = (0.5 * (t + x)).log()
        return 0.5 * (F.kl_div(log_m, t, reduction="batchmean") + F.kl_div(log_m, x, reduction="batchmean"))

    def gamma_deviance(t, x):
        return (2 * (torch.log(x / t) + t / x - 1)).mean()

    def tweedie(t, x):
        p = d["tweedie_deviance"]["power"]
        return (2 * (t.clamp_min(0) ** (2 - p) / ((1 - p) * (2 - p)) - t * x ** (1 - p) / (1 - p)
                     + x ** (2 - p) / (2 - p))).mean()

    def general_robust(t, x):
        alpha, c = d["general_robust"]["alpha"], d["general_robust"]["scale"]
        b = abs(alpha - 2)
        return (b / alpha * ((((x - t) / c).square() / b + 1) ** (alpha / 2) - 1)).mean()

    def scaled_square(name, t, x):
        return ((x - t) / d[name]["scale"]).square()

    return {
        "gamma_deviance": ("mean(2 (log(x / t) + t / x - 1))", gamma_deviance),
        "tweedie_deviance": ("mean(2 (t^(2-p) / ((1-p)(2-p)) - t x^(1-p) / (1-p) + x^(2-p) / (2-p)))", tweedie),
        "general_robust": ("mean(|a-2| / a (((e/c)^2 / |a-2| + 1)^(a/2) - 1))", general_robust),
        "cauchy": ("mean(log1p((e/c)^2 / 2))", lambda t, x: torch.log1p(0.5 * scaled_square("cauchy", t, x)).mean()),
        "geman_mcclure": ("mean(2 (e/c)^2 / ((e/c)^2 + 4))",
                          lambda t, x: (2 * (z := scaled_square("geman_mcclure", t, x)) / (z + 4)).mean()),
        "welsch": ("mean(-expm1(-(e/c)^2 / 2))", lambda t, x: (-torch.expm1(-0.5 * scaled_square("welsch", t, x))).mean()),
        "sigmoid_focal": ("torchvision sigmoid_focal_loss formula, mean", sigmoid_focal),
        "softmax_focal": ("mean(-sum(t (1 - p)^gamma log_softmax(x)))", softmax_focal),
        "sparse_softmax_focal": ("mean(-(1 - p_y)^gamma log_softmax(x)_y)", sparse_softmax_focal),
        "poly1_cross_entropy": ("F.cross_entropy + epsilon mean(sum(t (1 - softmax(x))))", poly1),
        "sparse_poly1_cross_entropy": ("F.cross_entropy + epsilon mean(1 - softmax(x)_y)", sparse_poly1),
        "jensen_shannon": ("(F.kl_div(log m, t) + F.kl_div(log m, p)) / 2, batchmean", jensen_shannon),
        "dice": ("mean(1 - (2 sum(t x) + s) / (sum(t) + sum(x) + s)), channels-last", dice),
        "jaccard": ("mean(1 - (I + s) / (sum(t) + sum(x) - I + s)), channels-last", jaccard),
        "tversky": ("mean(1 - (TP + s) / (TP + a FP + b FN + s)), channels-last",
                    lambda t, x: tversky_index("tversky", t, x).mean()),
        "focal_tversky": ("mean((1 - (TP + s) / (TP + a FP + b FN + s))^gamma), channels-last",
                          lambda t, x: (tversky_index("focal_tversky", t, x) ** d["focal_tversky"]["gamma"]).mean()),
        "half_squared_error": ("0.5 * F.mse_loss", lambda t, x: 0.5 * F.mse_loss(x, t)),
        "mean_squared_logarithmic_error": ("F.mse_loss(log1p(x), log1p(t))", msle),
        "root_mean_squared_logarithmic_error": ("sqrt(F.mse_loss(log1p(x), log1p(t)))",
                                                lambda t, x: msle(t, x).sqrt()),
        "mean_absolute_percentage_error": (
            "100 * mean(|x - t| / clamp(|t|, 1e-7))",
            lambda t, x: 100 * ((x - t).abs() / t.abs().clamp_min(1e-7)).mean()),
        "pseudo_huber": ("mean(delta^2 (sqrt(1 + (e / delta)^2) - 1))", pseudo_huber),
        "log_cosh": ("mean(softplus(-2e) + e - log 2)", log_cosh),
        "quantile": ("mean(maximum(q e, (q - 1) e))", quantile),
        "epsilon_insensitive": ("mean(relu(|e| - epsilon))",
                                lambda t, x: F.relu((x - t).abs() - d["epsilon_insensitive"]["epsilon"]).mean()),
        "hinge": ("mean(relu(1 - y x))", lambda t, x: F.relu(1 - signed(t) * x).mean()),
        "squared_hinge": ("mean(relu(1 - y x)^2)", lambda t, x: F.relu(1 - signed(t) * x).square().mean()),
        "modified_huber": ("mean(where(y x >= -1, relu(1 - y x)^2, -4 y x))", modified_huber),
        "categorical_hinge": ("mean(relu(1 + max_wrong - true))", categorical_hinge),
    }


def torch_reference(loss: lk.Loss) -> tuple[str, Callable] | None:
    """``(name, fn(y_true, *predictions))``: the native twin, else the plain expression, else None."""
    entry = equivalents.find(loss.name, "torch")
    if entry is not None and entry.fn is not None and entry.relation == "equal":
        return entry.api, entry.fn
    return _plain_torch().get(loss.name)


# ------------------------------------------------------------------------------------- NumPy

def _peak_mb(fn: Callable[[], Any]) -> float:
    # Only allocations made after start() count, so earlier garbage needs no collection.
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _class_axis_references(loss: lk.Loss, y_true: np.ndarray, predictions: tuple) -> list[tuple[str, Callable]]:
    """scikit-learn's value-and-gradient routine and PyTorch's CPU forward+backward for ``loss``."""
    references = []
    for entry in equivalents.entries(loss.name, "sklearn"):
        if entry.value_and_grad is not None:
            references.append((entry.api, lambda e=entry: e.value_and_grad(*call_arguments(loss, y_true, predictions))))
    if _available("torch"):
        import torch

        reference = torch_reference(loss)
        if reference is not None:
            name, fn = reference
            target = None if y_true is None else torch.from_numpy(y_true)
            inputs = [torch.from_numpy(p).requires_grad_(True) for p in predictions]

            def run():
                for x in inputs:
                    x.grad = None
                fn(*call_arguments(loss, target, inputs)).backward()

            references.append((f"PyTorch CPU: {name}", run))
    return references


def bench_numpy(loss: lk.Loss, config: Config) -> list[Row]:
    y_true, predictions = make_inputs(loss, config)
    if loss.kind == "pointwise":
        references = [("copy inputs", lambda: [x.copy() for x in call_arguments(loss, y_true, predictions)])]
    else:
        references = _class_axis_references(loss, y_true, predictions)
    # The faster reference is the bound the target is stated against.
    ref_name, ref_ms, ref_mem = "", None, None
    for name, fn in references:
        ms = median_time(fn, config.repeats)
        if ref_ms is None or ms < ref_ms:
            ref_name, ref_ms, ref_mem = name, ms, _peak_mb(fn)
    args = call_arguments(loss, y_true, predictions)
    doors = {
        "lk.X(...)": lambda: loss(*args),
        ".grad": lambda: loss.grad(*args),
        ".value_and_grad": lambda: loss.value_and_grad(*args),
    }
    return [Row(loss.name, "numpy", name, None, median_time(fn, config.repeats), ref_name, ref_ms, _peak_mb(fn), ref_mem)
            for name, fn in doors.items()]


# ----------------------------------------------------------------------------------- PyTorch

def _autograd_bytes(fn: Callable, tensors: list) -> int:
    """Bytes autograd saves for backward beyond the given tensors themselves."""
    import torch

    own = {t.untyped_storage().data_ptr() for t in tensors}
    seen: dict[int, int] = {}

    def pack(tensor):
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in own:
            seen[pointer] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def bench_torch(loss: lk.Loss, config: Config, device: str) -> list[Row]:
    import torch

    import losskit.torch as lkt

    y_true, predictions = make_inputs(loss, config)
    target = None if y_true is None else torch.as_tensor(y_true, device=device)
    inputs = [torch.as_tensor(p, device=device).requires_grad_(True) for p in predictions]
    args = call_arguments(loss, target, inputs)  # losskit's order: (y_true, *predictions) or the predictions
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # Every candidate as fn(*args). The module takes (input, target, *others), or (*inputs, target)
    # for the pair losses called as their PyTorch twins (target_last), or the inputs alone.
    candidates: dict[str, Callable | None] = {"functional fwd+bwd": lambda *a: loss(*a)}
    skipped = {}
    try:
        module_cls = lkt.module_class(loss.name)
    except ValueError as error:
        module_cls, skipped["module fwd+bwd"] = None, f"skipped: {error}"
    if module_cls is None:
        candidates["module fwd+bwd"] = None
    else:
        module = module_cls()
        if not loss.has_target:
            candidates["module fwd+bwd"] = lambda *xs: module(*xs)
        elif module_cls.target_last:
            candidates["module fwd+bwd"] = lambda t, *xs: module(*xs, t)
        else:
            candidates["module fwd+bwd"] = lambda t, x, *others: module(x, t, *others)

    def forward_backward(fn):
        def run():
            for x in inputs:
                x.grad = None
            fn(*args).backward()
            sync()
        return run

    def forward(fn):
        def run():
            with torch.no_grad():
                fn(*args)
            sync()
        return run

    def memory_mb(fn) -> float:
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            forward_backward(fn)()
            return (torch.cuda.max_memory_allocated() - base) / 2**20
        return _autograd_bytes(lambda: fn(*args), [t for t in (target, *inputs) if t is not None]) / 2**20

    reference = torch_reference(loss)
    ref_name, ref_ms, ref_mem, note = "", None, None, ""
    if reference is not None:
        ref_name, ref_fn = reference
        ref_ms = median_time(forward_backward(ref_fn), config.repeats)
        ref_mem = memory_mb(ref_fn)
        note = f"reference fwd {median_time(forward(ref_fn), config.repeats):.3g} ms"
    return [
        Row(loss.name, f"torch-{device}", name, note=skipped[name], reference=ref_name) if fn is None else
        Row(loss.name, f"torch-{device}", name, median_time(forward(fn), config.repeats),
            median_time(forward_backward(fn), config.repeats), ref_name, ref_ms, memory_mb(fn), ref_mem, note)
        for name, fn in candidates.items()
    ]


# --------------------------------------------------------------------------------------- JAX

def bench_jax(loss: lk.Loss, config: Config) -> list[Row]:
    import jax

    y_true, predictions = make_inputs(loss, config)
    target = None if y_true is None else jax.numpy.asarray(y_true)
    arrays = tuple(jax.numpy.asarray(p) for p in predictions)
    argnums = tuple(range(len(arrays)))

    def timed(fn):
        compiled = jax.jit(jax.value_and_grad(fn, argnums=argnums))
        return median_time(lambda: jax.block_until_ready(compiled(*arrays)), config.repeats)

    ours = lambda *xs: loss(*call_arguments(loss, target, xs))  # noqa: E731
    entry = equivalents.find(loss.name, "optax")
    ref_name, ref_ms, note = "", None, ""
    if entry is not None and entry.fn is not None:
        ref_name, ref_ms = entry.api, timed(lambda *xs: entry.fn(*call_arguments(loss, target, xs)))
        if entry.relation != "equal":  # timed all the same: the closest loss Optax has
            note = f"Optax's loss is {entry.relation}: {entry.note}" if entry.note else f"Optax's loss is {entry.relation}"
    return [Row(loss.name, "jax", "jit(value_and_grad)", None, timed(ours), ref_name, ref_ms, note=note)]


def cupy_device_or_reason() -> tuple[Any, str]:
    """``(cupy, "")`` where CuPy and a CUDA device are present, else ``(None, why not)``."""
    try:
        import cupy
    except ImportError:
        return None, "CuPy is not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "no CUDA device"
    except Exception as exc:  # CUDARuntimeError without a driver
        return None, f"no CUDA device ({exc})"
    return cupy, ""


def bench_cupy(loss: lk.Loss, config: Config, cupy: Any) -> list[Row]:
    """value_and_grad on the GPU (CuPy through array-api-compat) against the same call on NumPy."""
    y_true, predictions = make_inputs(loss, config)
    target = None if y_true is None else cupy.asarray(y_true)
    arrays = tuple(cupy.asarray(p) for p in predictions)

    def on_gpu():
        loss.value_and_grad(*call_arguments(loss, target, arrays))
        cupy.cuda.Device().synchronize()

    ours = median_time(on_gpu, config.repeats)
    numpy_ms = median_time(lambda: loss.value_and_grad(*call_arguments(loss, y_true, predictions)), config.repeats)
    return [Row(loss.name, "cupy", "value_and_grad", None, ours, "NumPy value_and_grad (CPU)", numpy_ms)]


# ------------------------------------------------------------------------------------ report

def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| loss | backend | implementation | forward ms | total ms | reference | reference ms | ratio | memory MB | reference MB | note |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.loss} | {r.backend} | {_escape(r.implementation)} | {_fmt(r.forward_ms)} | {_fmt(r.total_ms)} "
            f"| {_escape(r.reference)} | {_fmt(r.reference_ms)} | {_fmt(r.ratio)} | {_fmt(r.memory_mb)} "
            f"| {_fmt(r.reference_memory_mb)} | {_escape(' '.join(r.note.split()))} |"
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
    cupy = None
    if "cupy" in backends:
        cupy, reason = cupy_device_or_reason()
        if cupy is None:
            print(f"  cupy: skipped, {reason}", file=sys.stderr, flush=True)
    rows: list[Row] = []
    for loss in selected:
        if "numpy" in backends:
            rows += bench_numpy(loss, config)
        if "torch" in backends and _available("torch"):
            for device in devices:
                rows += bench_torch(loss, config, device)
        if "jax" in backends and _available("jax"):
            rows += bench_jax(loss, config)
        if cupy is not None:
            rows += bench_cupy(loss, config, cupy)
        if size == "large":
            gc.collect()  # cyclic garbage (autograd graphs) before the next loss's 10^7-element inputs
        print(f"  {size} {loss.name}: done", file=sys.stderr, flush=True)
    return config, rows


def section(config: Config, rows: list[Row]) -> str:
    header = (
        f"## losskit benchmark: size={config.size} (pointwise {config.pointwise} elements, class axis "
        f"{config.rows} x {config.classes}), median of {config.repeats}\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"NumPy {np.__version__}. Float32 inputs, reduction 'mean', value checks on (the defaults). "
        f"Ratio = total / reference (below 1: losskit faster). PyTorch's reference is the native twin or, "
        f"for a loss without one, a plain-PyTorch expression; NumPy's is copying the inputs once (pointwise) "
        f"or the faster of scikit-learn's loss_gradient and PyTorch's CPU forward+backward (class axis)."
    )
    return to_markdown(rows, header)


# --------------------------------------------------------------------------------- targets

@dataclass(frozen=True)
class Column:
    """One column of the summary: a ratio read from the rows of one size and backend."""

    title: str
    size: str
    backend: str
    implementations: tuple[str, ...]  # the slowest of these rows is the one checked
    measure: Callable[[Row], float | None]
    target: float
    kinds: tuple[str, ...] = ("pointwise", "dense", "sparse")

    def value(self, loss: str, rows: list[Row]) -> float | None:
        if lk.get(loss).kind not in self.kinds:
            return None
        values = [self.measure(r) for r in rows if r.backend == self.backend and r.implementation in self.implementations]
        values = [v for v in values if v is not None]
        return max(values) if values else None


NUMPY_DOORS = ("lk.X(...)", ".grad", ".value_and_grad")


def columns(results: list[tuple[Config, list[Row]]]) -> list[Column]:
    """The summary's columns, for the sizes and backends that were measured."""
    out: list[Column] = []
    for config, rows in results:
        size, large = config.size, config.size == "large"
        measured = {r.backend for r in rows}
        for backend in sorted(b for b in measured if b.startswith("torch-")):
            device = "GPU" if backend == "torch-cuda" else "CPU"
            target = TORCH_LARGE_TARGET if large else TORCH_SMALL_TARGET
            for implementation in ("functional fwd+bwd", "module fwd+bwd"):
                kind = implementation.split()[0]
                out.append(Column(f"PyTorch {device} {kind} vs native, {size} (target {target:g})", size, backend,
                                  (implementation,), lambda r: r.ratio, target))
            if large:
                for implementation in ("functional fwd+bwd", "module fwd+bwd"):
                    kind = implementation.split()[0]
                    out.append(Column(f"PyTorch {device} {kind} autograd memory vs native, {size} (target {MEMORY_TARGET:g})",
                                      size, backend, (implementation,), lambda r: r.memory_ratio, MEMORY_TARGET))
        if "jax" in measured:
            out.append(Column(f"JAX vs Optax, {size} (target {JAX_TARGET:g})", size, "jax", ("jit(value_and_grad)",),
                              lambda r: r.ratio, JAX_TARGET))
        if large and "numpy" in measured:
            out.append(Column(f"NumPy slowest door vs copying the inputs, {size} (target {COPY_TARGET:g})", size, "numpy",
                              NUMPY_DOORS, lambda r: r.ratio, COPY_TARGET, kinds=("pointwise",)))
            out.append(Column(f"NumPy slowest door vs scikit-learn / PyTorch CPU, {size} (target {CLASS_AXIS_TARGET:g})",
                              size, "numpy", NUMPY_DOORS, lambda r: r.ratio, CLASS_AXIS_TARGET,
                              kinds=("dense", "sparse")))
    return out


def _cell(value: float | None, target: float) -> str:
    if value is None:
        return ""
    return f"{value:.3g} {'yes' if value <= target else '**no**'}"


def summary(results: list[tuple[Config, list[Row]]]) -> str:
    """One row per loss with a reference: each measured ratio against its target (yes / no)."""
    chosen = columns(results)
    by_size = {config.size: rows for config, rows in results}
    losses = list(dict.fromkeys(r.loss for _, rows in results for r in rows if r.reference))
    lines = ["| loss | " + " | ".join(c.title for c in chosen) + " |", "|---|" + "---:|" * len(chosen)]
    for loss in losses:
        cells = [_cell(c.value(loss, [r for r in by_size[c.size] if r.loss == loss]), c.target) for c in chosen]
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
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="quick (default: batch 32, " + PRESETS["quick"][1] + ", " + PRESETS["quick"][2]
                             + ") or full (small and large, " + PRESETS["full"][1] + ", " + PRESETS["full"][2] + ")")
    parser.add_argument("--size", action="append", dest="sizes", choices=tuple(SIZES),
                        help="small (batch 32), large (10^7 elements, 2048 x 32000 logits) or smoke; repeatable "
                             "(overrides --preset)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (expected time and memory) and exit")
    parser.add_argument("--out", help="write the Markdown report to this file (default: stdout)")
    parser.add_argument("--readme", help="also replace the summary block of this README")
    parser.add_argument("--loss", action="append", dest="losses", help="benchmark only this loss (repeatable)")
    parser.add_argument("--backend", action="append", dest="backends", choices=("numpy", "torch", "jax", "cupy"),
                        help="benchmark only this backend (repeatable)")
    parser.add_argument("--classes", type=int, help="number of classes for the losses over a class axis")
    args = parser.parse_args(argv)
    sizes = args.sizes or list(PRESETS[args.preset or "quick"][0])
    print(plan(args.preset, args.sizes), file=sys.stderr if not args.dry_run else sys.stdout, flush=True)
    if args.dry_run:
        return 0
    results = [run(size, args.losses, tuple(args.backends or ("numpy", "torch", "jax", "cupy")), args.classes)
               for size in sizes]
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
