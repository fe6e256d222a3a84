"""Benchmark of fused linear cross-entropy: time and peak memory of forward+backward.

    python -m benchmarks.linear_cross_entropy                      # the issue's size, N=4096 D=1024 V=32000
    python -m benchmarks.linear_cross_entropy --preset full --out benchmarks/results-linear-ce-cpu.md
    python -m benchmarks.linear_cross_entropy --preset smoke       # seconds: checks that it runs
    python -m benchmarks.linear_cross_entropy --preset full --dry-run   # the plan and its estimated time

Every measurement runs in a fresh subprocess (``--one METHOD N D V``): it builds float32 inputs,
runs the method once on tiny inputs (imports, lazy initialisation; JAX compiles the real shapes
ahead of time), then runs forward+backward once to measure memory, then ``--repeats`` more times
and keeps the fastest time. Memory is the peak resident set size above the inputs during the
measured first run: the peak resident set (VmHWM) when the run set a new high-water mark, otherwise the RSS
sampled every millisecond from ``/proc/self/statm``, with ``MALLOC_MMAP_THRESHOLD_`` set so that
freed buffers go back to the system. NumPy methods also report tracemalloc's peak. On CUDA it is
``torch.cuda.max_memory_allocated`` above the inputs. The floor is the gradients themselves:
dh (N x D) + dW (V x D) in float32.

Before measuring, the command prints its plan: for every (size, method) an estimate of the time
(from a matrix-product rate measured on the spot and a slowdown factor per method) and of the
memory; a cell estimated above ``--max-cell-seconds`` or above the available memory is skipped
and listed with the reason, and the expected total run time is printed.

Methods: ``torch-dense`` F.cross_entropy(h @ W.T, y); ``torch-native`` and ``torch-native-chunked``
F.linear_cross_entropy without / with LinearCrossEntropyOptions() (PyTorch >= 2.13);
``torch-lk`` lk.linear_cross_entropy on tensors (autograd); ``numpy-dense`` logits, softmax and
both gradients in NumPy; ``numpy-lk`` lk.linear_cross_entropy.value_and_grad; ``jax-dense``
jit(value_and_grad) of optax's softmax_cross_entropy_with_integer_labels(h @ W.T, y);
``jax-lk`` jit(value_and_grad) of lk.linear_cross_entropy. When ``torch.cuda.is_available()``:
``cuda-torch-dense``, ``cuda-torch-native``, ``cuda-torch-native-chunked``, ``cuda-torch-lk``, and
``cuda-liger`` (Liger Kernel's LigerFusedLinearCrossEntropyLoss) and ``cuda-cce`` (Cut
Cross-Entropy's linear_cross_entropy) when those packages are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

CPU_METHODS = ("torch-dense", "torch-native", "torch-native-chunked", "torch-lk",
               "numpy-dense", "numpy-lk", "jax-dense", "jax-lk")
CUDA_METHODS = ("cuda-torch-dense", "cuda-torch-native", "cuda-torch-native-chunked", "cuda-torch-lk",
                "cuda-liger", "cuda-cce")
METHODS = CPU_METHODS + CUDA_METHODS

PRESETS = {
    "smoke": [(64, 16, 300)],
    "default": [(4096, 1024, 32000)],
    "full": [(2048, 512, 16000), (4096, 1024, 32000), (8192, 1024, 64000), (8192, 2048, 128000)],
}

# Time of one forward+backward as a multiple of 6 N D V flops at the measured matrix-product
# rate (from the runs of results-linear-ce-cpu.md), and memory above the inputs in floors F
# (dh + dW) and dense logits L (N V float32), plus a constant; used only to plan and to skip.
TIME_FACTOR = {"torch-dense": 2.6, "torch-native": 2.2, "torch-native-chunked": 5.0, "torch-lk": 2.8,
               "numpy-dense": 1.3, "numpy-lk": 2.3, "jax-dense": 2.3, "jax-lk": 3.0}
MEMORY_MODEL = {"torch-dense": (1, 3), "torch-native": (1, 3), "torch-native-chunked": (1.5, 0),
                "torch-lk": (1, 0), "numpy-dense": (1, 1.5), "numpy-lk": (1.3, 0),
                "jax-dense": (1, 3), "jax-lk": (2, 0)}
STARTUP_SECONDS = {"jax": 20.0, "torch": 6.0, "numpy": 4.0, "cuda": 20.0}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Sampler:
    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __enter__(self):
        self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _inputs(n: int, d: int, v: int):
    import numpy as np

    rng = np.random.default_rng(0)
    h = rng.standard_normal((n, d), dtype=np.float32) * np.float32(0.5)
    w = rng.standard_normal((v, d), dtype=np.float32) * np.float32(1.0 / np.sqrt(d))
    y = rng.integers(0, v, size=n)
    return h, w, y


def _make_step(method: str, n: int, d: int, v: int):
    """(step, reset): step() runs forward+backward once and returns what to block on; reset()
    drops the gradients of the previous step (before the baseline of the next measurement)."""
    import numpy as np

    h, w, y = _inputs(n, d, v)
    if method.startswith(("torch", "cuda")):
        import torch
        import torch.nn.functional as F

        device = "cuda" if method.startswith("cuda") else "cpu"
        th = torch.from_numpy(h).to(device).requires_grad_(True)
        tw = torch.from_numpy(w).to(device).requires_grad_(True)
        ty = torch.from_numpy(y).to(device)
        kind = method.removeprefix("cuda-")
        if kind == "torch-dense":
            def loss():
                return F.cross_entropy(th @ tw.T, ty)
        elif kind in ("torch-native", "torch-native-chunked"):
            options = torch.nn.LinearCrossEntropyOptions() if kind.endswith("chunked") else None

            def loss():
                return F.linear_cross_entropy(th, tw, ty, options=options)
        elif kind == "torch-lk":
            import losskit as lk

            def loss():
                return lk.linear_cross_entropy(ty, th, tw)
        elif kind == "liger":
            from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

            liger = LigerFusedLinearCrossEntropyLoss()

            def loss():
                return liger(tw, th, ty)
        elif kind == "cce":
            from cut_cross_entropy import linear_cross_entropy as cce

            def loss():
                return cce(th, tw, ty)
        else:
            raise ValueError(f"unknown method {method!r}")

        def step():
            loss().backward()
            if device == "cuda":
                torch.cuda.synchronize()
            return th.grad

        def reset():
            th.grad = tw.grad = None
        return step, reset
    if method == "numpy-dense":
        def step():
            z = h @ w.T
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            s = z.sum(axis=1, keepdims=True)
            z /= s
            value = float(np.mean(np.log(s[:, 0]) - 0.0))  # noqa: F841 (the value's cost is O(N))
            z[np.arange(n), y] -= 1.0
            z /= n
            dh = z @ w
            dw = z.T @ h
            return dh, dw
        return step, lambda: None
    if method == "numpy-lk":
        import losskit as lk

        def step():
            return lk.linear_cross_entropy.value_and_grad(y, h, w)
        return step, lambda: None
    import jax
    import jax.numpy as jnp

    jh, jw, jy = jnp.asarray(h), jnp.asarray(w), jnp.asarray(y)
    if method == "jax-dense":
        import optax

        def f(a, b):
            return optax.losses.softmax_cross_entropy_with_integer_labels(a @ b.T, jy).mean()
    elif method == "jax-lk":
        import losskit as lk

        def f(a, b):
            return lk.linear_cross_entropy(jy, a, b)
    else:
        raise ValueError(f"unknown method {method!r}")
    compiled = jax.jit(jax.value_and_grad(f, argnums=(0, 1))).lower(jh, jw).compile()

    def step():
        out = compiled(jh, jw)
        jax.block_until_ready(out)
        return out
    return step, lambda: None


def _high_water() -> int:
    # VmHWM, the peak resident set of this address space: ru_maxrss would carry over exec the
    # high-water mark of the forked parent (a large runner process would mask every cell).
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run_one(method: str, n: int, d: int, v: int, repeats: int) -> dict:
    import gc
    import tracemalloc

    # Imports, lazy initialisation and kernel loading on tiny inputs, outside the measurement.
    tiny_step, _ = _make_step(method, 8, min(d, 8), min(v, 16))
    tiny_step()
    step, reset = _make_step(method, n, d, v)
    gc.collect()
    cuda = method.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss()
    before = _high_water()
    if method.startswith("numpy"):
        tracemalloc.start()
    with _Sampler() as sampler:
        start = time.perf_counter()
        out = step()
        first = time.perf_counter() - start
    traced = None
    if method.startswith("numpy"):
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if cuda:
        peak = torch.cuda.max_memory_allocated() - base
    else:
        after = _high_water()
        peak = (after if after > before else sampler.peak) - base
    del out
    reset()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - start)
        del out
        reset()
    return {"method": method, "n": n, "d": d, "v": v, "seconds": min(times) if times else first,
            "first_seconds": first, "peak_mb": max(peak, 0) / 2**20,
            "tracemalloc_mb": None if traced is None else traced / 2**20}


# ------------------------------------------------------------------------------- the plan

def floor_bytes(n: int, d: int, v: int) -> int:
    """The gradients themselves: dh (N x D) + dW (V x D) in float32."""
    return (n * d + v * d) * 4


def matmul_rate() -> float:
    """Float32 matrix-product flops per second of this machine, now (NumPy, a 1024^3 product)."""
    import numpy as np

    a = np.ones((1024, 1024), np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(3):
        a @ a
    return 3 * 2 * 1024**3 / (time.perf_counter() - start)


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate(method: str, n: int, d: int, v: int, repeats: int, rate: float) -> tuple[float, int]:
    """(seconds, bytes): the estimated wall time of the cell's subprocess and its peak memory."""
    flops = 6.0 * n * d * v
    floor, logits = floor_bytes(n, d, v), n * v * 4
    if method.startswith("cuda"):
        return STARTUP_SECONDS["cuda"] + (1 + repeats) * flops / 5e13, 0
    per_run = TIME_FACTOR[method] * flops / rate
    startup = STARTUP_SECONDS[method.split("-")[0]]
    f_floor, f_logits = MEMORY_MODEL[method]
    # The process: its inputs (about one floor), the chunk or logits, the interpreter and libraries.
    memory = int(floor + f_floor * floor + f_logits * logits + (128 << 20) + (1 << 30))
    return startup + (1 + repeats) * per_run, memory


def plan(sizes, methods, repeats: int, rate: float, max_cell_seconds: float, available: int | None):
    """[(n, d, v, method, seconds, skip_reason or None)] for every cell."""
    cells = []
    for n, d, v in sizes:
        for method in methods:
            seconds, memory = estimate(method, n, d, v, repeats, rate)
            reason = None
            if seconds > max_cell_seconds:
                reason = f"skipped: estimated {seconds / 60:.0f} min > --max-cell-seconds {max_cell_seconds:.0f} s"
            elif available is not None and memory > 0.85 * available:
                reason = (f"skipped: estimated {memory / 2**30:.1f} GiB > 85% of the "
                          f"{available / 2**30:.1f} GiB available")
            cells.append((n, d, v, method, seconds, reason))
    return cells


def available_methods() -> list[str]:
    import importlib.util

    methods = list(CPU_METHODS)
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda:
        methods += ["cuda-torch-dense", "cuda-torch-native", "cuda-torch-native-chunked", "cuda-torch-lk"]
        if importlib.util.find_spec("liger_kernel") is not None:
            methods.append("cuda-liger")
        if importlib.util.find_spec("cut_cross_entropy") is not None:
            methods.append("cuda-cce")
    return methods


def measure(method: str, n: int, d: int, v: int, repeats: int, timeout: float) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    command = [sys.executable, "-m", "benchmarks.linear_cross_entropy", "--one", method,
               str(n), str(d), str(v), "--repeats", str(repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "d": d, "v": v, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"method": method, "n": n, "d": d, "v": v, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}


def _family(method: str) -> str:
    """The dense method a row is compared with: numpy-, torch-, jax-, cuda-."""
    return method.split("-")[0]


def _num(x: float) -> str:
    """Three significant digits, without an exponent for the sizes of this table."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def report(results: list[dict], threads: int, note: str = "") -> str:
    lines = [
        "# Fused linear cross-entropy (forward+backward, float32)",
        "",
        f"Measured by `python -m benchmarks.linear_cross_entropy` on this machine ({os.cpu_count()} cores, "
        f"{threads} torch threads). Each row is a fresh subprocess; time is the fastest of the repeats "
        "after the measured first run; memory is the peak above the inputs during that first run (RSS on "
        "the CPU, NumPy: tracemalloc's peak in brackets; CUDA: max_memory_allocated). Floor: dh + dW in float32. "
        "'vs dense' compares with the dense method of the same library (numpy-dense, torch-dense, jax-dense, "
        "cuda-torch-dense).",
        "",
    ]
    if note:
        lines += [note, ""]
    sizes = sorted({(r["n"], r["d"], r["v"]) for r in results})
    for n, d, v in sizes:
        floor = floor_bytes(n, d, v) / 2**20
        rows = [r for r in results if (r["n"], r["d"], r["v"]) == (n, d, v)]
        dense = {_family(r["method"]): r for r in rows
                 if r["method"].endswith("torch-dense") or r["method"] in ("numpy-dense", "jax-dense")
                 if "seconds" in r}
        lines += [f"## N={n}, D={d}, V={v} (dense logits {_num(n * v * 4 / 2**20)} MB, floor {_num(floor)} MB)", "",
                  "| method | time (s) | vs dense | peak memory above inputs (MB) | floor (MB) | vs floor |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['method']} | {r['error']} | | | {_num(floor)} | |")
                continue
            base = dense.get(_family(r["method"]))
            ratio = f"{r['seconds'] / base['seconds']:.2f}x" if base else ""
            memory = _num(r["peak_mb"])
            if r.get("tracemalloc_mb") is not None:
                memory += f" [{_num(r['tracemalloc_mb'])}]"
            lines.append(f"| {r['method']} | {_num(r['seconds'])} | {ratio} | {memory} | {_num(floor)} | "
                         f"{r['peak_mb'] / floor:.2f}x |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=4, metavar=("METHOD", "N", "D", "V"))
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a set of sizes (default: 'default')")
    parser.add_argument("--size", action="append", help="N,D,V (repeatable; added to the preset's)")
    parser.add_argument("--method", action="append", choices=METHODS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-cell-seconds", type=float, default=1200.0,
                        help="skip a (size, method) estimated to take longer (default 1200)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its estimated time only")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.one:
        method, n, d, v = args.one
        print(json.dumps(run_one(method, int(n), int(d), int(v), args.repeats)))
        return 0
    import torch

    sizes = list(PRESETS[args.preset]) if args.preset else []
    sizes += [tuple(int(x) for x in s.split(",")) for s in (args.size or [])]
    sizes = sizes or list(PRESETS["default"])
    methods = args.method or available_methods()
    rate = matmul_rate()
    cells = plan(sizes, methods, args.repeats, rate, args.max_cell_seconds, _available_bytes())
    total = sum(seconds for *_, seconds, reason in cells if reason is None)
    print(f"matrix-product rate now: {rate / 1e9:.0f} GFLOP/s; {len(cells)} cells, "
          f"{sum(reason is not None for *_, reason in cells)} skipped", flush=True)
    for n, d, v, method, seconds, reason in cells:
        print(f"  N={n} D={d} V={v} {method}: estimated {seconds:.0f} s" + (f" ({reason})" if reason else ""), flush=True)
    print(f"expected run time: about {total / 60:.0f} min ({total:.0f} s)", flush=True)
    if args.dry_run:
        return 0
    results = []
    for n, d, v, method, seconds, reason in cells:
        if reason is not None:
            result = {"method": method, "n": n, "d": d, "v": v, "error": reason}
        else:
            result = measure(method, n, d, v, args.repeats, timeout=max(600.0, 4 * seconds))
        print(json.dumps(result), flush=True)
        results.append(result)
    note = (f"Planned from a matrix-product rate of {rate / 1e9:.0f} GFLOP/s measured at the start; cells estimated "
            f"above {args.max_cell_seconds:.0f} s or above the available memory are listed as skipped.")
    text = report(results, torch.get_num_threads(), note)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
