"""Losses of a linear head, computed without its output: fused linear cross-entropy.

A language model's last layer maps hidden states ``h (N, D)`` to logits ``h @ W.T + b`` of shape
``(N, V)``; at a vocabulary of 32k-256k tokens those logits, their softmax and their gradient are
the largest tensors of a training step. :data:`linear_cross_entropy` takes ``h``, ``W`` (and
``b``) instead of the logits and streams over chunks of tokens: each chunk's ``(chunk, V)`` logits
exist only while that chunk is processed, its log-sum-exp is exact (the chunk sees whole rows of the
vocabulary), and its gradient contribution is formed at once (``dh_chunk = G @ W``,
``dW += G.T @ h_chunk``, ``db += sum(G)``) with the reduction's coefficients (sample weights, class
weights, the mean over the valid tokens) already applied, so no ``(N, V)`` array is ever held.
That is 6 N D V floating-point operations for the value and every gradient, the same as the dense
computation, with memory for the gradients themselves plus one chunk.

The reference kernel is of the registry's "reduced" style (:func:`losskit._kernels.reduced_reference`):
it returns the reduced value and the gradients of the reduced value, because the gradient with
respect to ``weight`` is a sum over tokens and cannot be an elementwise gradient scaled afterwards.
"""

from __future__ import annotations

import math
import os
from typing import Any


from . import _validation as V
from ._array import device_of, namespace_of
from ._kernels import reduced_reference
from ._loss import NON_NEGATIVE, Equivalent, Loss, Param, check_class_weight
from ._reduction import expand_weight
from ._registry import register

__all__ = ["linear_cross_entropy", "linear_log_sum_exp", "linear_cross_entropy_with_lse", "auto_chunk_size"]

# Extra memory a chunk may take, as a fraction of the gradients' own size (the floor), and its
# absolute limits: small enough to stay near the floor, large enough for matrix products that run
# at the speed of BLAS.
_CHUNK_FRACTION = 1 / 5
_CHUNK_MIN_BYTES = 8 << 20
_CHUNK_MAX_BYTES = 128 << 20
_CHUNK_MIN_ROWS = 64
# Rows of the vocabulary per block of NumPy's weight-gradient products (dW[block] += G[:, block].T @ h).
_VOCAB_BLOCK = 4096


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def auto_chunk_size(num_tokens: int, num_features: int, vocab_size: int, itemsize: int = 4) -> int:
    """The number of tokens per chunk that :data:`linear_cross_entropy` uses when ``chunk_size=None``.

    A chunk holds ``(chunk, vocab_size)`` logits, turned into their gradient in place. The budget
    is 1/5 of the gradients' size ``(N D + V D) * itemsize``, clamped to [8 MiB, 128 MiB] and to
    1/8 of the available memory, and never fewer than 64 tokens (the matrix products need rows to
    run at BLAS speed) nor more than N.
    """
    num_tokens, vocab_size = max(int(num_tokens), 1), max(int(vocab_size), 1)
    floor_bytes = (num_tokens + vocab_size) * max(int(num_features), 1) * itemsize
    budget = min(max(floor_bytes * _CHUNK_FRACTION, _CHUNK_MIN_BYTES), _CHUNK_MAX_BYTES)
    available = _available_memory()
    if available:
        budget = min(budget, available / 8)
    rows = int(budget // (vocab_size * itemsize))
    rows = max(rows, _CHUNK_MIN_ROWS)
    if rows >= 64:
        rows -= rows % 32
    return max(1, min(rows, num_tokens))


# ------------------------------------------------------------------------------- the kernel

class _Setup:
    """Everything per token that the chunks need, decided once (O(N) arrays, no (N, V) one)."""

    def __init__(self, call: Any):
        xp = call.xp
        params = call.params
        labels = call.y_true
        hidden, weight = call.predictions
        self.xp, self.backend = xp, call.backend
        self.lead = tuple(hidden.shape[:-1])
        self.num_tokens = math.prod(self.lead)
        self.num_features = int(hidden.shape[-1])
        self.vocab_size = int(weight.shape[0])
        self.dtype = hidden.dtype
        self.h = xp.reshape(hidden, (self.num_tokens, self.num_features))
        self.weight = weight
        self.bias = params.get("bias")
        labels = xp.reshape(labels, (self.num_tokens,))
        ignore_index = params.get("ignore_index")
        if ignore_index is not None:
            self.keep = labels != ignore_index
            labels = xp.where(self.keep, labels, xp.zeros_like(labels))
        else:
            self.keep = None
        self.labels = labels
        self.label_smoothing = float(params.get("label_smoothing") or 0.0)
        self.z_loss = float(params.get("z_loss") or 0.0)
        self.class_weight = params.get("class_weight")
        cw = self.class_weight
        if cw is not None:
            label_weight = xp.take(cw, labels, axis=0) if self.num_tokens else xp.zeros((0,), dtype=self.dtype)
            self.weights_total = xp.sum(cw)
        else:
            label_weight = None
            self.weights_total = float(self.vocab_size)
        self.label_weight = label_weight
        # norm: the mean's normaliser per token (0 where ignored; the label's class weight).
        keep_float = None if self.keep is None else xp.astype(self.keep, self.dtype)
        if label_weight is None:
            norm = keep_float
        else:
            norm = label_weight if keep_float is None else label_weight * keep_float
        sample = call.weight
        if sample is not None:
            sample = xp.reshape(expand_weight(xp, sample, len(self.lead)) * xp.ones(self.lead, dtype=self.dtype),
                                (self.num_tokens,)) if tuple(sample.shape) != self.lead else xp.reshape(sample, (self.num_tokens,))
        self.sample = sample
        self.reduction = call.reduction
        # scale: d(reduced value)/d(loss of token i); the gradient of the weighted sum for 'none'.
        if call.reduction == "mean":
            if sample is None and norm is None:
                self.denominator = float(max(self.num_tokens, 1))
            else:
                terms = norm if sample is None else (sample if norm is None else sample * norm)
                total = xp.sum(terms)
                self.denominator = xp.where(total > 0, total, xp.ones_like(total))
            scale = (1.0 / self.denominator) if sample is None else sample / self.denominator
        else:
            self.denominator = None
            scale = 1.0 if sample is None else sample
        if keep_float is not None:
            scale = keep_float * scale
        elif not isinstance(scale, (int, float)) and scale.ndim == 0:
            scale = scale * xp.ones((self.num_tokens,), dtype=self.dtype, device=device_of(hidden))
        self.scale = scale  # a float, or one value per token
        chunk = params.get("chunk_size")
        itemsize = 8 if self.dtype == xp.float64 else 4
        self.chunk = int(chunk) if chunk is not None else auto_chunk_size(
            self.num_tokens, self.num_features, self.vocab_size, itemsize)

    def piece(self, x, start, stop):
        return None if x is None or isinstance(x, (int, float)) else x[start:stop]

    def reduce(self, per_token):
        """The reduced value from the unweighted per-token losses (0 at ignored tokens)."""
        xp = self.xp
        weighted = per_token if self.sample is None else per_token * self.sample
        if self.reduction == "none":
            return xp.reshape(weighted, self.lead)
        total = xp.sum(weighted)
        return total if self.reduction == "sum" else total / self.denominator


def _shift_and_pick(xp, setup, z, labels):
    """Shift a chunk's logits by their row maximum (in place where the library allows).

    Returns ``(z - shift, shift, (z - shift)[label], sum_c w_c (z - shift)_c or None)``; the last is
    what label smoothing needs, taken before the in-place exponential.
    """
    shift = xp.max(z, axis=-1)
    shift = xp.where(shift == -math.inf, xp.zeros_like(shift), shift)  # as log_softmax: -inf rows
    z = _isub(xp, setup, z, shift[:, None])
    picked = _take_rows(xp, setup, z, labels)
    ls = setup.label_smoothing
    cw = setup.class_weight
    if ls:
        smooth = xp.sum(z, axis=-1) if cw is None else xp.matmul(z, cw)
    return z, shift, picked, (smooth if ls else None)


def _take_rows(xp, setup, z, labels):
    if setup.backend in ("numpy", "torch"):
        index = xp.arange(z.shape[0], device=device_of(z))
        return z[index, labels]
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(z, labels[:, None], axis=-1)[:, 0]
    classes = xp.arange(z.shape[-1], device=device_of(z))
    return xp.sum(xp.where(labels[:, None] == classes, z, xp.zeros_like(z)), axis=-1)


def _isub(xp, setup, z, other):
    if setup.backend in ("numpy", "torch"):
        z -= other
        return z
    return z - other


def _process_chunk(setup, start, stop, with_grad, zbuf=None):
    """Loss per token of tokens [start, stop) and, with grad, the chunk's G = d value / d logits."""
    xp = setup.xp
    backend = setup.backend
    h_c = setup.h[start:stop]
    labels = setup.labels[start:stop]
    rows = stop - start
    W = setup.weight
    if backend == "numpy":
        import numpy as np

        z = zbuf[:rows]
        np.matmul(h_c, W.T, out=z)
    elif backend == "torch":
        import torch

        z = zbuf[:rows]
        torch.matmul(h_c, W.T, out=z)
    else:
        z = xp.matmul(h_c, xp.permute_dims(W, (1, 0)))
    if setup.bias is not None:
        if backend in ("numpy", "torch"):
            z += setup.bias
        else:
            z = z + setup.bias
    z, shift, picked, smooth = _shift_and_pick(xp, setup, z, labels)
    # exp in place: z becomes exp(z - shift).
    if backend == "numpy":
        np.exp(z, out=z)
    elif backend == "torch":
        z.exp_()
    else:
        z = xp.exp(z)
    sum_exp = xp.sum(z, axis=-1)
    log_norm = xp.log(sum_exp)
    lse = shift + log_norm
    ls = setup.label_smoothing
    label_weight = setup.piece(setup.label_weight, start, stop)
    keep = setup.piece(setup.keep, start, stop)
    nll = log_norm - picked
    loss = (1.0 - ls) * (nll if label_weight is None else label_weight * nll)
    if ls:
        loss = loss + (ls / setup.vocab_size) * (log_norm * setup.weights_total - smooth)
    if setup.z_loss:
        loss = loss + setup.z_loss * (lse * lse)
    if keep is not None:
        loss = xp.where(keep, loss, xp.zeros_like(loss))
    if not with_grad:
        return loss, lse, None
    # G_i = scale_i (p_i * (A_i + 2 z lse_i) - a_i), a = (1 - ls) w_y onehot(y) + (ls / V) w.
    scale = setup.scale
    scale_c = setup.piece(scale, start, stop)
    total = (1.0 - ls) * (1.0 if label_weight is None else label_weight) + (ls / setup.vocab_size) * setup.weights_total
    if setup.z_loss:
        total = total + 2.0 * setup.z_loss * lse
    row = total / sum_exp  # p = exp(z - shift) / sum_exp
    row = row * (scale if scale_c is None else scale_c)
    if isinstance(row, (int, float)):
        row = xp.full((rows,), row, dtype=setup.dtype)
    picked_coef = (1.0 - ls) * (1.0 if label_weight is None else label_weight)
    picked_coef = picked_coef * (scale if scale_c is None else scale_c)
    if isinstance(picked_coef, (int, float)):
        picked_coef = xp.full((rows,), picked_coef, dtype=setup.dtype)
    uniform = None
    if ls:
        u = (ls / setup.vocab_size) * (scale if scale_c is None else scale_c)
        cw = setup.class_weight
        uniform = (u, cw)
    if backend in ("numpy", "torch"):
        G = z
        G *= row[:, None]
        if uniform is not None:
            u, cw = uniform
            if cw is None:
                G -= (u[:, None] if not isinstance(u, (int, float)) else u)
            else:
                G -= (u[:, None] if not isinstance(u, (int, float)) else u) * cw
        index = xp.arange(rows, device=device_of(z))
        G[index, labels] -= picked_coef
        if keep is not None:
            G[~keep] = 0.0
    else:
        G = z * row[:, None]
        if uniform is not None:
            u, cw = uniform
            u = u[:, None] if not isinstance(u, (int, float)) else u
            G = G - (u if cw is None else u * cw)
        classes = xp.arange(setup.vocab_size, device=device_of(z))
        onehot = xp.astype(labels[:, None] == classes, setup.dtype)
        G = G - onehot * picked_coef[:, None]
        if keep is not None:
            G = xp.where(keep[:, None], G, xp.zeros_like(G))
    return loss, lse, G


def _run_mutable(setup, with_grad, want_lse=False):
    """NumPy and PyTorch (and other libraries with item assignment): preallocated buffers."""
    xp, backend = setup.xp, setup.backend
    N, D, Vs = setup.num_tokens, setup.num_features, setup.vocab_size
    device = device_of(setup.h)
    chunk = max(1, min(setup.chunk, max(N, 1)))
    zbuf = None
    if backend in ("numpy", "torch"):
        zbuf = xp.empty((chunk, Vs), dtype=setup.dtype, device=device)
    losses = xp.empty((N,), dtype=setup.dtype, device=device)
    lses = xp.empty((N,), dtype=setup.dtype, device=device) if want_lse else None
    dh = dW = db = tmp = None
    if with_grad:
        dh = xp.empty((N, D), dtype=setup.dtype, device=device)
        dW = xp.zeros((Vs, D), dtype=setup.dtype, device=device)
        if setup.bias is not None:
            db = xp.zeros((Vs,), dtype=setup.dtype, device=device)
        if backend == "numpy":
            # dW += G.T @ h_c by blocks of the vocabulary, through one small buffer.
            block = max(1, min(Vs, _VOCAB_BLOCK))
            tmp = xp.empty((block, D), dtype=setup.dtype)
    for start in range(0, N, chunk):
        stop = min(start + chunk, N)
        loss, lse, G = _process_chunk(setup, start, stop, with_grad, zbuf)
        losses[start:stop] = loss
        if lses is not None:
            lses[start:stop] = lse
        if not with_grad:
            continue
        h_c = setup.h[start:stop]
        if backend == "numpy":
            import numpy as np

            # (W.T @ G.T).T, not G @ W: OpenBLAS runs this layout several times faster for a
            # short, very wide G; the transpose copy is chunk x D.
            dh[start:stop] = np.matmul(setup.weight.T, G.T).T
            block = tmp.shape[0]
            for v0 in range(0, Vs, block):
                v1 = min(v0 + block, Vs)
                part = tmp[: v1 - v0]
                np.matmul(G[:, v0:v1].T, h_c, out=part)
                dW[v0:v1] += part
            if db is not None:
                db += G.sum(axis=0)
        elif backend == "torch":
            import torch

            torch.matmul(G, setup.weight, out=dh[start:stop])
            dW.addmm_(G.T, h_c)
            if db is not None:
                db += G.sum(dim=0)
        else:
            dh[start:stop, :] = xp.matmul(G, setup.weight)
            dW = dW + xp.matmul(xp.permute_dims(G, (1, 0)), h_c)
            if db is not None:
                db = db + xp.sum(G, axis=0)
    grads = None
    if with_grad:
        grads = (xp.reshape(dh, setup.lead + (D,)), dW) + ((db,) if db is not None else ())
    return losses, lses, grads


def _run_jax(setup, with_grad, want_lse=False):
    """JAX: lax.scan over whole chunks (carrying dW, db), then the ragged tail; no residual per chunk."""
    import jax
    import jax.numpy as jnp

    N, D, Vs = setup.num_tokens, setup.num_features, setup.vocab_size
    chunk = max(1, min(setup.chunk, max(N, 1)))
    count = N // chunk
    full = count * chunk
    per_token = {"labels": setup.labels}
    for name in ("keep", "label_weight"):
        if getattr(setup, name) is not None:
            per_token[name] = getattr(setup, name)
    if not isinstance(setup.scale, (int, float)):
        per_token["scale"] = setup.scale

    def one(h_c, tok, dW, db):
        sub = _ChunkView(setup, h_c, tok)
        loss, lse, G = _process_chunk(sub, 0, h_c.shape[0], with_grad)
        if not with_grad:
            return loss, lse, None, dW, db
        dh_c = G @ setup.weight
        dW = dW + G.T @ h_c
        if db is not None:
            db = db + jnp.sum(G, axis=0)
        return loss, lse, dh_c, dW, db

    dW = jnp.zeros((Vs, D), setup.dtype) if with_grad else None
    db = jnp.zeros((Vs,), setup.dtype) if with_grad and setup.bias is not None else None
    pieces_loss, pieces_lse, pieces_dh = [], [], []
    if count:
        hs = jnp.reshape(setup.h[:full], (count, chunk, D))
        toks = {k: jnp.reshape(v[:full], (count, chunk)) for k, v in per_token.items()}

        def body(carry, xs):
            dW, db = carry
            h_c, tok = xs
            loss, lse, dh_c, dW, db = one(h_c, tok, dW, db)
            return (dW, db), (loss, lse, dh_c)

        (dW, db), (loss, lse, dh) = jax.lax.scan(body, (dW, db), (hs, toks))
        pieces_loss.append(jnp.reshape(loss, (full,)))
        pieces_lse.append(jnp.reshape(lse, (full,)))
        if with_grad:
            pieces_dh.append(jnp.reshape(dh, (full, D)))
    if full < N:
        tok = {k: v[full:] for k, v in per_token.items()}
        loss, lse, dh_c, dW, db = one(setup.h[full:], tok, dW, db)
        pieces_loss.append(loss)
        pieces_lse.append(lse)
        if with_grad:
            pieces_dh.append(dh_c)
    losses = _concat(jnp, pieces_loss, (0,), setup.dtype)
    lses = _concat(jnp, pieces_lse, (0,), setup.dtype) if want_lse else None
    grads = None
    if with_grad:
        dh = _concat(jnp, pieces_dh, (0, D), setup.dtype)
        grads = (jnp.reshape(dh, setup.lead + (D,)), dW) + ((db,) if db is not None else ())
    return losses, lses, grads


def _concat(jnp, pieces, empty_shape, dtype):
    if not pieces:
        return jnp.zeros(empty_shape, dtype)
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=0)


class _ChunkView:
    """A setup restricted to one chunk (for lax.scan, whose body sees the chunk's slices)."""

    def __init__(self, setup, h_c, tok):
        self.__dict__.update(setup.__dict__)
        self.h = h_c
        self.labels = tok["labels"]
        self.keep = tok.get("keep")
        self.label_weight = tok.get("label_weight")
        self.scale = tok.get("scale", setup.scale)
        self.backend = "jax"

    def piece(self, x, start, stop):
        return None if x is None or isinstance(x, (int, float)) else x[start:stop]


def _run(setup, with_grad, want_lse=False):
    if setup.backend == "jax":
        return _run_jax(setup, with_grad, want_lse)
    if setup.backend in _IMMUTABLE_BACKENDS:
        return _run_functional(setup, with_grad, want_lse)
    return _run_mutable(setup, with_grad, want_lse)


# Libraries whose arrays have no item assignment (JAX has its own scan above).
_IMMUTABLE_BACKENDS = ("tensorflow", "dask")


def _run_functional(setup, with_grad, want_lse=False):
    """Chunks without item assignment: per-chunk results concatenated, dW and db accumulated."""
    xp = setup.xp
    N, D = setup.num_tokens, setup.num_features
    chunk = max(1, min(setup.chunk, max(N, 1)))
    losses, lses, dhs = [], [], []
    dW = db = None
    for start in range(0, N, chunk):
        stop = min(start + chunk, N)
        loss, lse, G = _process_chunk(setup, start, stop, with_grad, None)
        losses.append(loss)
        lses.append(lse)
        if with_grad:
            h_c = setup.h[start:stop]
            dhs.append(xp.matmul(G, setup.weight))
            part = xp.matmul(xp.permute_dims(G, (1, 0)), h_c)
            dW = part if dW is None else dW + part
            if setup.bias is not None:
                db_part = xp.sum(G, axis=0)
                db = db_part if db is None else db + db_part

    def joined(parts, shape):
        if not parts:
            return xp.zeros(shape, dtype=setup.dtype)
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

    grads = None
    if with_grad:
        if dW is None:
            dW = xp.zeros((setup.vocab_size, D), dtype=setup.dtype)
            db = None if setup.bias is None else xp.zeros((setup.vocab_size,), dtype=setup.dtype)
        dh = joined(dhs, (0, D))
        grads = (xp.reshape(dh, setup.lead + (D,)), dW) + ((db,) if db is not None else ())
    return joined(losses, (0,)), (joined(lses, (0,)) if want_lse else None), grads


@reduced_reference(grad_params=("bias",))
def _linear_cross_entropy(call):
    """The reduced value and ``(d/dhidden, d/dweight[, d/dbias])`` of a prepared call."""
    setup = _Setup(call)
    losses, _, grads = _run(setup, call.order >= 1)
    return setup.reduce(losses), grads


# ------------------------------------------------------------------------------------ checks

def _chunk_size(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be a positive integer (tokens per chunk) or None for automatic; got {value!r}")
    if int(value) < 1:
        raise ValueError(f"{name} must be a positive integer (tokens per chunk) or None for automatic; got {value!r}")
    return int(value)


def _check(xp, y_true, hidden, weight, params):
    if weight.ndim != 2:
        raise ValueError(
            f"weight must have shape (vocab_size, num_features), the layout of nn.Linear.weight; got {tuple(weight.shape)}"
        )
    if weight.shape[1] != hidden.shape[-1]:
        raise ValueError(
            f"weight has shape {tuple(weight.shape)} but hidden has {hidden.shape[-1]} features: weight must be "
            f"(vocab_size, {hidden.shape[-1]}) (nn.Linear(num_features, vocab_size).weight; pass W.T if yours is (D, V))"
        )
    vocab = int(weight.shape[0])
    if vocab < 1:
        raise ValueError("weight must have at least one row (a vocabulary of at least one class)")
    bias = params.get("bias")
    if bias is not None and tuple(bias.shape) != (vocab,):
        raise ValueError(f"bias must have shape ({vocab},), one value per row of weight; got {tuple(bias.shape)}")
    ignore_index = params.get("ignore_index")
    suffix = "" if ignore_index is None else f" or equal to ignore_index={ignore_index}"
    V.check_index_range(xp, y_true, vocab, ignore_index, f"y_true must hold class indices in [0, {vocab}){suffix}")
    if params.get("class_weight") is not None:
        check_class_weight(xp, params["class_weight"], vocab)


# ---------------------------------------------------------------------------------- registry

linear_cross_entropy = register(Loss(
    name="linear_cross_entropy",
    aliases=("fused_linear_cross_entropy",),
    kernel=_linear_cross_entropy,
    inputs=("hidden", "weight"),
    input_shapes=("free",),
    target_shape="loss",
    check_inputs=_check,
    params=(
        Param("bias", None, "None or one value per class, shape (vocab_size,)",
              "The head's bias (nn.Linear.bias); its gradient is returned after those of hidden and weight.",
              is_array=True),
        Param("ignore_index", None, "None or an integer label value",
              "Tokens with this label get loss 0 and are left out of the mean; if all are ignored the mean is 0.",
              V.optional_int),
        Param("label_smoothing", 0.0, "0 <= label_smoothing <= 1",
              "Mixes the labels with the uniform distribution: y * (1 - label_smoothing) + label_smoothing / vocab_size.",
              V.closed_unit_interval),
        Param("z_loss", 0.0, ">= 0",
              "Adds z_loss * logsumexp(logits)^2 per (kept) token, PaLM's z-loss (Liger's lse_square_scale).",
              V.non_negative),
        Param("class_weight", None, "None or one non-negative weight per class, shape (vocab_size,)",
              "Scales each class's term; 'mean' then divides by the summed weights of the labels (PyTorch's weighted mean).",
              is_array=True),
        Param("chunk_size", None, "None (automatic) or a positive integer",
              "Tokens per chunk: a chunk holds (chunk_size, vocab_size) logits. None picks it from the shapes and the "
              "available memory (losskit.linear.auto_chunk_size). The value does not depend on it beyond rounding.",
              _chunk_size),
    ),
    task="multiclass", kind="rowwise", prediction_space="scores", label_format="integer",
    summary="Cross-entropy of a linear head, sparse_softmax_cross_entropy(y, hidden @ weight.T + bias), without its logits.",
    formula=r"\ell = w_y\left(\operatorname{lse}(z) - z_y\right) + \lambda_z \operatorname{lse}(z)^2,\ "
            r"z = W h + b,\ \operatorname{lse}(z) = \log\textstyle\sum_v e^{z_v}",
    gradient_formula=r"G = \partial\ell/\partial z = (w_y + 2\lambda_z \operatorname{lse}(z))\operatorname{softmax}(z) "
                     r"- w_y e_y;\ \partial/\partial h = G W,\ \partial/\partial W = \textstyle\sum_i G_i h_i^\top,\ "
                     r"\partial/\partial b = \textstyle\sum_i G_i",
    output_activation="linear",
    convex=True, robust_to_outliers=False, differentiable=True,
    description="""
        The loss of a language-model head given the hidden states ``hidden (..., D)``, the head's
        ``weight (V, D)`` (nn.Linear's layout) and optionally ``bias (V,)``, with integer labels of
        ``hidden.shape[:-1]``. Its value and gradients equal sparse_softmax_cross_entropy on the
        logits ``hidden @ weight.T + bias`` with the same ignore_index, label_smoothing, z_loss,
        class_weight, sample_weight and reduction, but the (N, V) logits are never held: tokens are
        processed in chunks of chunk_size, each chunk's exact log-sum-exp and gradient
        contribution formed at once with the reduction's coefficients, so memory is the gradients
        (dh, dW, db) plus one chunk. ``grad`` returns ``(d hidden, d weight)``, plus ``d bias``
        when a bias is given. float16/bfloat16 inputs are computed and accumulated in float32.
        PyTorch autograd and jax.grad get the same analytic gradients (computed in the forward
        pass for 'mean' and 'sum'; for 'none' recomputed in the backward pass with the upstream
        gradient per token). The per-token log-sum-exp is available from
        losskit.linear.linear_cross_entropy_with_lse.
    """,
    when_to_use="Training a language model (or any classifier) with a large vocabulary, where the logits dominate memory.",
    when_not_to_use="Small vocabularies, where the logits are cheap (sparse_softmax_cross_entropy on h @ W.T is as fast).",
    pitfalls=(
        "weight is (vocab_size, num_features), nn.Linear's layout; a (D, V) matrix (JAX/Flax Dense kernels) must be "
        "transposed first.",
        "Gradients with respect to sample_weight or class_weight go through the framework's autodiff of the chunked "
        "expression, which keeps every chunk's logits: train the head, not the weights.",
        "With reduction='none' the backward pass recomputes the logits (8 N D V operations instead of 6), because the "
        "upstream gradient per token is known only then.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.functional.linear_cross_entropy(hidden, weight, y_true, bias, "
                   "ignore_index=ignore_index, label_smoothing=label_smoothing)", "equal",
                   "PyTorch 2.13+; no z_loss, no class-weight/ignore_index defaults of losskit (ignore_index=-100 there)"),
        Equivalent("keras", "none", "different",
                   "Keras losses take (y_true, y_pred); a loss of a weight matrix cannot be passed as y_pred"),
    ),
    references=(
        "Wijmans et al., 'Cut Your Losses in Large-Vocabulary Language Models', ICLR 2025 (arXiv 2411.09009)",
        "Hsu et al., 'Liger Kernel: Efficient Triton Kernels for LLM Training', arXiv 2410.10989",
        "Chowdhery et al., 'PaLM', arXiv 2204.02311 (z-loss)",
    ),
    example="""
        >>> import losskit as lk
        >>> import numpy as np
        >>> hidden, weight = np.eye(2), np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
        >>> round(float(lk.linear_cross_entropy([0, 2], hidden, weight)), 6)  # logits [2, 0, 0] and [0, 2, 0]
        1.239545
        >>> d_hidden, d_weight = lk.linear_cross_entropy.grad([0, 2], hidden, weight)
        >>> d_hidden.shape, d_weight.shape
        ((2, 2), (3, 2))
    """,
))


# ------------------------------------------------------------------------------- companions

def linear_log_sum_exp(hidden: Any, weight: Any, bias: Any = None, *, chunk_size: int | None = None) -> Any:
    """``logsumexp(hidden @ weight.T + bias, axis=-1)`` per token, streamed by chunks (no gradient)."""
    return linear_cross_entropy_with_lse(
        _zeros_like_labels(hidden), hidden, weight, bias=bias, chunk_size=chunk_size, reduction="none")[1]


def _zeros_like_labels(hidden):
    xp = namespace_of(hidden=hidden)
    shape = tuple(hidden.shape[:-1])
    try:
        return xp.zeros(shape, dtype=xp.int64, device=device_of(hidden))
    except Exception:  # a library without int64 by default
        return xp.zeros(shape, dtype=xp.int32)


def linear_cross_entropy_with_lse(y_true: Any, hidden: Any, weight: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``(linear_cross_entropy(y_true, hidden, weight, **kwargs), lse)``: the loss and the per-token log-sum-exp.

    The loss is differentiable as usual; the log-sum-exp ``logsumexp(hidden @ weight.T + bias)``
    (shape ``hidden.shape[:-1]``, in the compute dtype, float32 for narrow inputs) is returned
    without a gradient, for logging or a z-loss of one's own. It costs one more streamed pass of
    the forward computation (2 N D V operations).
    """
    value = linear_cross_entropy(y_true, hidden, weight, **kwargs)
    params = {k: v for k, v in kwargs.items() if k not in ("sample_weight", "reduction")}
    call = linear_cross_entropy.prepare((y_true, hidden, weight), dict(params, reduction="none"), order=0)
    if call.backend == "torch":
        import torch

        with torch.no_grad():
            call = call.replace(predictions=tuple(p.detach() for p in call.predictions),
                                params={k: (v.detach() if hasattr(v, "detach") else v) for k, v in call.params.items()})
            _, lses, _ = _run(_Setup(call), False, want_lse=True)
    else:
        _, lses, _ = _run(_Setup(call), False, want_lse=True)
        if call.backend == "jax":
            import jax

            lses = jax.lax.stop_gradient(lses)
    return value, call.xp.reshape(lses, tuple(call.loss_shape))


__test__ = {"linear_cross_entropy": linear_cross_entropy.__doc__}
