"""Embedding and ranking losses: a feature axis (last, or ``axis=``) reduced to one loss per row.

``cosine_distance`` and ``cosine_embedding`` compare two embeddings by angle, ``margin_ranking``
orders two scores, ``triplet_margin`` pulls an anchor towards a positive and away from a negative
(no target), and ``info_nce`` contrasts paired rows of two batches (CLIP). Each follows the
PyTorch loss of the same name to the epsilon: where PyTorch clamps a norm, adds an epsilon or
passes a gradient through a clamp, the formula and its comment below say so.

Norms are computed scaled by the row's largest magnitude, ``|x| = m * sqrt(sum((x/m)^2))``, so
embeddings of norm 1e30 (whose squares overflow float32, and 1e200 float64) give the exact
cosine instead of PyTorch's 0 or NaN.

``info_nce`` couples every row of the batch (each row's softmax runs over all the others), so
its gradient is not a per-row gradient scaled by the reduction's weights: its reference kernel
is of the registry's "reduced" style (:func:`losskit._kernels.reduced_reference`) and computes
the gradient of the weighted sum itself.
"""

from __future__ import annotations

import math

from . import _validation as V
from ._array import finfo
from ._kernels import keep_nan, reduced_reference
from ._loss import Equivalent, KernelResult, Loss, Param
from ._reduction import reduce
from ._registry import register
from .binary import _check_signed_labels, _signed_labels

__all__ = ["cosine_distance", "cosine_embedding", "margin_ranking", "triplet_margin", "info_nce"]

# PyTorch's cosine_embedding_loss adds this to each squared norm (ATen's EPSILON).
_TORCH_EMBEDDING_EPSILON = 1e-12
# F.normalize's floor of a row's norm, used by info_nce.
_NORMALIZE_EPSILON = 1e-12


# ------------------------------------------------------------------------------- helpers

def _scaled(xp, x):
    """``(u, s, m)`` with ``x = m * u``, ``m = max|x|`` per row (1 for a zero row) and ``s = |u|``.

    The norm is ``m * s``: |u_i| <= 1, so the sum of squares never overflows, and a zero row
    gives u = 0, s = 0 (m is taken as 1 there, so nothing divides by 0).
    """
    largest = xp.max(xp.abs(x), axis=-1, keepdims=True)
    safe = xp.where(largest > 0, largest, 1.0)
    # |u| <= 1: the clip is exact and keeps XLA from reassociating u * u into (x * x) * (1/m)^2.
    u = xp.clip(_over_rows(xp, x, largest), -1.0, 1.0)
    return u, xp.sqrt(xp.sum(u * u, axis=-1, keepdims=True)), safe


def _over_rows(xp, x, largest):
    """``x / largest`` per row (``largest`` keepdims, 0 read as 1), also under XLA.

    XLA rewrites ``x / broadcast(m)`` as ``x * broadcast(1 / m)``, and 1 / m is subnormal (so
    flushed to 0 on CPU) for m above 2^126 in float32 (2^1022 in float64): rows that large are
    first scaled by 2^-64 (exact), which keeps 1 / m normal.
    """
    pre = xp.where(largest * 2.0 ** -64 > 1.0, xp.ones_like(largest) * 2.0 ** -64, 1.0)  # typed (TensorFlow)
    safe = xp.where(largest > 0, largest * pre, 1.0)
    return (x * pre) / safe


def _clamped(xp, x, floor):
    """``(u, s, k, inv)`` of each row: x = m u, s = |u|, inv = 1 / max(|x|, floor), k = m * inv.

    Every factor is finite for any finite row: k <= 1/s (huge rows) and k = m / floor (rows
    below the floor, denormals included), where eps / m would overflow.
    """
    u, s, m = _scaled(xp, x)
    clamped = xp.maximum(m * s, floor)
    # k as m / clamped, not m * inv: inv is subnormal (0 under XLA's flush) for rows above 2^126.
    return u, s, m / clamped, 1.0 / clamped


def _cosine(xp, x1, x2, eps):
    """PyTorch's ``F.cosine_similarity(x1, x2, dim=-1, eps=eps)`` and what its gradient needs.

    Each norm is clamped at eps separately (``x1 . x2 / (max(|x1|, eps) max(|x2|, eps))``), as
    PyTorch 2.x does. Returns cos (keepdims) and the ``_clamped`` parts of each input.
    """
    parts1, parts2 = _clamped(xp, x1, eps), _clamped(xp, x2, eps)
    cos = xp.sum(parts1[0] * parts2[0], axis=-1, keepdims=True) * parts1[2] * parts2[2]
    return cos, parts1, parts2


def _cosine_grad(xp, cos, this, other):
    """d cos / d x of one input, with PyTorch's pass-through of its norm clamp.

    ``x_other / (C C_other) - cos x / (C |x|)`` (C the clamped norms): below eps the clamped norm
    is a constant in the value but, as in PyTorch (the clamp runs under no_grad on the norm),
    the derivative of the norm itself is kept; at a zero row that term is 0, not 0/0.
    """
    u, s, _, inv = this
    u_o, _, k_o, _ = other
    safe_s = xp.where(s > 0, s, 1.0)
    return inv * (u_o * k_o - cos * u / safe_s)


def _hinge_active(slack):
    # PyTorch's clamp_min(slack, 0) passes the gradient where slack >= 0: at the kink a model
    # whose scores start equal (slack = margin = 0) still receives the violated side's gradient.
    return slack >= 0


# ------------------------------------------------------------------------- cosine_distance

def _cosine_distance(xp, y_true, y_pred, *, eps, with_grad, with_hess=False):
    cos, true_parts, pred_parts = _cosine(xp, y_true, y_pred, eps)
    loss = 1.0 - cos[..., 0]
    if not with_grad:
        return KernelResult(loss)
    return KernelResult(loss, -_cosine_grad(xp, cos, pred_parts, true_parts))


_EPS = Param("eps", 1e-8, "> 0", "Floor of each vector's norm (PyTorch's cosine_similarity eps).", V.positive)

cosine_distance = register(Loss(
    name="cosine_distance",
    aliases=("cosine_loss",),
    kernel=_cosine_distance,
    params=(_EPS,),
    task="embedding", kind="rowwise", prediction_space="values", label_format="real",
    summary="1 - cosine similarity of y_true and y_pred along the feature axis; one loss per row.",
    formula=r"\ell = 1 - \frac{y \cdot \hat y}{\max(\lVert y\rVert,\epsilon)\,\max(\lVert \hat y\rVert,\epsilon)}",
    gradient_formula=r"\partial\ell/\partial\hat y = -\frac{y}{\tilde n_y \tilde n_{\hat y}} "
                     r"+ \cos\,\frac{\hat y}{\tilde n_{\hat y}\lVert\hat y\rVert},\ \tilde n = \max(\lVert\cdot\rVert,\epsilon)",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        The angle between a target embedding and a predicted one, ignoring their lengths: 0 for
        parallel vectors, 1 for orthogonal ones, 2 for opposite ones. Each norm is floored at eps
        as torch.nn.functional.cosine_similarity does (per norm, not their product), and the
        gradient passes through that floor as PyTorch's does. Norms are computed scaled, so rows
        of norm 1e30 are exact in float32.
    """,
    when_to_use="Regressing embeddings or directions whose length carries no meaning (word vectors, normals, teacher features).",
    when_not_to_use="When the length matters (mean_squared_error); for pairs labelled similar/dissimilar (cosine_embedding).",
    pitfalls=(
        "A zero vector has no direction: its cosine is 0 (loss 1) and its gradient is scaled by 1/eps.",
        "Keras' CosineSimilarity is -cos (this loss minus 1) and floors the squared norm at 1e-12.",
        "The loss is bounded (0 to 2) and flat near cos = +-1: rows pointing opposite learn slowly.",
    ),
    equivalents=(
        Equivalent("torch", "1 - torch.nn.functional.cosine_similarity(y_pred, y_true, dim=-1, eps=eps)", "equal",
                   "value and gradient; PyTorch's squared norms overflow beyond 1e19 in float32"),
        Equivalent("keras", "keras.losses.CosineSimilarity(axis=-1)", "different",
                   "Keras = losskit - 1 (-cos, a shift, not a factor); its norms are floored at 1e-6"),
        Equivalent("optax", "optax.losses.cosine_distance(y_pred, y_true, epsilon=eps)", "equal",
                   "Optax floors each norm at epsilon too (its gradient below eps is the clip's 0); "
                   "its norms overflow beyond 1e19 in float32"),
    ),
    references=("https://pytorch.org/docs/stable/generated/torch.nn.functional.cosine_similarity.html",),
    example="""
        >>> import losskit as lk
        >>> float(lk.cosine_distance([[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [1.0, 0.0]]))  # (0 + 1) / 2
        0.5
    """,
))


# ------------------------------------------------------------------------ cosine_embedding

def _torch_cosine(xp, x1, x2):
    """PyTorch's cosine of cosine_embedding_loss: ``x1 . x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))``.

    Written as ``sqrt(|x|^2 + 1e-12) = hypot(|x|, 1e-6)`` on the scaled norm, which never
    overflows. Returns cos (keepdims) and per input ``(u, k, inv)``, ``inv = 1 / hypot(|x|, 1e-6)``.
    """
    root = math.sqrt(_TORCH_EMBEDDING_EPSILON)
    parts = []
    for x in (x1, x2):
        u, s, m = _scaled(xp, x)
        r = xp.hypot(m * s, root)
        parts.append((u, m / r, 1.0 / r))  # m / r: see _clamped
    cos = xp.sum(parts[0][0] * parts[1][0], axis=-1, keepdims=True) * parts[0][1] * parts[1][1]
    return cos, parts[0], parts[1]


def _torch_cosine_grad(xp, cos, this, other):
    # d/dx of x . x_o / (r r_o) with r = sqrt(|x|^2 + 1e-12), smooth everywhere: x_o / (r r_o) - cos x / r^2.
    u, k, inv = this
    u_o, k_o, _ = other
    return inv * (u_o * k_o - cos * u * k)


def _cosine_embedding(xp, y_true, x1, x2, *, margin, with_grad, with_hess=False):
    sign = _signed_labels(xp, y_true)
    cos, parts1, parts2 = _torch_cosine(xp, x1, x2)
    cos = cos[..., 0]
    positive = sign > 0
    slack = cos - margin
    loss = xp.where(positive, 1.0 - cos, xp.clip(slack, min=0.0))
    if not with_grad:
        return KernelResult(loss)
    # dl/dcos: -1 for similar pairs, 1 where a dissimilar pair is closer than the margin.
    scale = xp.where(positive, -1.0, xp.astype(_hinge_active(slack), cos.dtype))[..., None]
    cos_k = cos[..., None]
    return KernelResult(loss, (scale * _torch_cosine_grad(xp, cos_k, parts1, parts2),
                               scale * _torch_cosine_grad(xp, cos_k, parts2, parts1)))


def _check_cosine_embedding(xp, y_true, x1, x2, params):
    _check_signed_labels(xp, y_true, x1, params)


def _cosine_margin(name, value):
    number = V._as_real(name, value)
    if not -1.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie in [-1, 1] (a cosine); got {value!r}")
    return number


_MARGIN_COSINE = Param("margin", 0.0, "-1 <= margin <= 1",
                       "Dissimilar pairs cost max(0, cos - margin); PyTorch suggests 0 to 0.5.", _cosine_margin)

cosine_embedding = register(Loss(
    name="cosine_embedding",
    aliases=("cosine_embedding_loss",),
    kernel=_cosine_embedding,
    params=(_MARGIN_COSINE,),
    inputs=("x1", "x2"),
    input_shapes=("same",),
    target_shape="loss",
    check_inputs=_check_cosine_embedding,
    task="embedding", kind="rowwise", prediction_space="values", label_format="signed",
    summary="Pairs of embeddings labelled similar (+1: 1 - cos) or dissimilar (-1: max(0, cos - margin)).",
    formula=r"\ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\ \max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases},\ "
            r"\cos = \frac{x_1\cdot x_2}{\sqrt{(\lVert x_1\rVert^2+10^{-12})(\lVert x_2\rVert^2+10^{-12})}}",
    gradient_formula=r"\partial\ell/\partial x_1 = s\left(\frac{x_2}{r_1 r_2} - \cos\frac{x_1}{r_1^2}\right),\ "
                     r"s = -1\ (y=1),\ [\cos \ge m]\ (y=-1),\ r = \sqrt{\lVert x\rVert^2 + 10^{-12}}",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=True,
    description="""
        Siamese training of embeddings from labelled pairs: similar pairs are pulled to the same
        direction, dissimilar ones pushed apart until their cosine is below the margin. y_true
        has one label per row (shape x1.shape[:-1]). The cosine is PyTorch's: 1e-12 is added to
        each squared norm, so a zero vector has cosine 0 and a finite gradient.
    """,
    when_to_use="Metric learning from pairs labelled same/different (face verification, duplicate detection).",
    when_not_to_use="When triplets or whole batches of negatives are available (triplet_margin, info_nce learn faster).",
    pitfalls=(
        "Labels are one per row, shape x1.shape[:-1], in {-1, +1} (or {0, 1}); PyTorch gives loss 0 to any other label, losskit raises.",
        "With margin = 0 dissimilar pairs only need to be orthogonal, not opposite.",
        "At cos == margin the gradient is the violated side's (PyTorch's clamp), not 0.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.CosineEmbeddingLoss(margin=margin)(x1, x2, y_true)", "equal",
                   "value and both gradients; PyTorch's squared norms overflow beyond 1e19 in float32"),
        Equivalent("keras", "none", "different", "Keras has no cosine embedding loss"),
    ),
    references=("https://pytorch.org/docs/stable/generated/torch.nn.CosineEmbeddingLoss.html",),
    example="""
        >>> import losskit as lk
        >>> x1, x2 = [[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]
        >>> round(float(lk.cosine_embedding([1.0, -1.0], x1, x2, margin=0.5, reduction="sum")), 6)  # 2 (1 - cos 45)
        0.5
    """,
))


# --------------------------------------------------------------------------- margin_ranking

def _margin_ranking(xp, y_true, x1, x2, *, margin, with_grad, with_hess=False):
    sign = _signed_labels(xp, y_true)
    slack = margin - sign * (x1 - x2)
    loss = xp.clip(slack, min=0.0)
    if not with_grad:
        return KernelResult(loss)
    grad = keep_nan(xp, xp.where(_hinge_active(slack), -sign, 0.0), slack)  # NaN scores: NaN gradients
    return KernelResult(loss, (grad, -grad))


def _check_margin_ranking(xp, y_true, x1, x2, params):
    _check_signed_labels(xp, y_true, x1, params)


margin_ranking = register(Loss(
    name="margin_ranking",
    aliases=("margin_ranking_loss",),
    kernel=_margin_ranking,
    params=(Param("margin", 0.0, "any real number",
                  "How far x1 must exceed x2 (for y = 1) before the pair costs nothing.", V._as_real),),
    inputs=("x1", "x2"),
    input_shapes=("same",),
    check_inputs=_check_margin_ranking,
    task="embedding", kind="pointwise", prediction_space="scores", label_format="signed",
    summary="Pairwise ranking hinge max(0, margin - y (x1 - x2)): y = 1 wants x1 above x2, y = -1 below.",
    formula=r"\ell = \max(0,\ m - y\,(x_1 - x_2))",
    gradient_formula=r"\partial\ell/\partial x_1 = -y\,[m - y(x_1 - x_2) \ge 0] = -\partial\ell/\partial x_2",
    output_activation="linear",
    convex=True, robust_to_outliers=True, differentiable=False,
    description="""
        Learning to rank from pairs: each pair of scores is told which one should be larger and
        costs nothing once it is ahead by the margin. Elementwise, like PyTorch's
        MarginRankingLoss; {0, 1} labels are read as {-1, +1}.
    """,
    when_to_use="Pairwise learning to rank (search results, recommendation, preference models).",
    when_not_to_use="When relevance grades or listwise targets exist (a listwise softmax loss); for probabilities (sigmoid_cross_entropy of x1 - x2).",
    pitfalls=(
        "With margin = 0 the loss is 0 for any correctly ordered pair: ties cost nothing but still get the gradient (PyTorch's clamp).",
        "The gradient is -y or 0, not scaled by how wrong the order is.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.MarginRankingLoss(margin=margin)(x1, x2, y_true)", "equal",
                   "value and both gradients"),
        Equivalent("keras", "none", "different", "Keras has no margin ranking loss"),
    ),
    references=("https://pytorch.org/docs/stable/generated/torch.nn.MarginRankingLoss.html",),
    example="""
        >>> import losskit as lk
        >>> lk.margin_ranking([1.0, -1.0], [2.0, 2.0], [1.0, 1.0], margin=0.5, reduction="none").tolist()
        [0.0, 1.5]
    """,
))


# --------------------------------------------------------------------------- triplet_margin

def _p_distance(xp, z, p):
    """``|z|_p`` over the last axis and its gradient, scaled by max|z| (no overflow, exact at z = 0).

    The gradient ``sign(z) |z|^(p-1) / |z|_p^(p-1)`` is 0 where z = 0 (the subgradient PyTorch's
    norm backward returns there).
    """
    largest = xp.max(xp.abs(z), axis=-1, keepdims=True)
    safe = xp.where(largest > 0, largest, 1.0)
    scaled = _over_rows(xp, z, largest)
    a = xp.clip(xp.abs(scaled), 0.0, 1.0)  # exact; see _scaled
    if p == 2.0:
        s = xp.sqrt(xp.sum(a * a, axis=-1, keepdims=True))
        safe_s = xp.where(s > 0, s, 1.0)
        return (safe * s)[..., 0], scaled / safe_s
    if p == 1.0:
        return (safe * xp.sum(a, axis=-1, keepdims=True))[..., 0], xp.sign(z)
    total = xp.sum(a ** p, axis=-1, keepdims=True)
    norm = total ** (1.0 / p)
    safe_norm = xp.where(norm > 0, norm, 1.0)
    nonzero = a > 0
    powered = xp.where(nonzero, xp.where(nonzero, a, 1.0) ** (p - 1.0), 0.0)
    return (safe * norm)[..., 0], xp.sign(z) * powered / safe_norm ** (p - 1.0)


def _overflows(xp, x, y, eps):
    """Rows (keepdims) where ``x - y + eps`` may overflow: an entry above half the dtype's range.

    Decided from the magnitudes, without computing the (overflowing, warning) difference.
    """
    half_range = float(finfo(xp, x.dtype).max) * 0.5
    return xp.any((xp.abs(x) >= half_range) | (xp.abs(y) >= half_range), axis=-1, keepdims=True)


def _triplet_margin(xp, anchor, positive, negative, *, margin, p, eps, swap, with_grad, with_hess=False):
    # PyTorch's pairwise_distance adds eps to the difference, |a - b + eps|_p (not to the norm).
    # Rows where a difference overflows are computed halved (x/2 - y/2 + eps/2, exact; the norm's
    # gradient does not change with the scale) and the slack doubled: a finite loss whose
    # distances overflow (1e38 rows in float32) stays finite.
    pairs = [(anchor, positive), (anchor, negative)] + ([(positive, negative)] if swap else [])
    over = _overflows(xp, *pairs[0], eps)
    for x, y in pairs[1:]:
        over = over | _overflows(xp, x, y, eps)
    half = xp.where(over, xp.ones_like(anchor[..., :1]) * 0.5, 1.0)  # an array operand: typed (TensorFlow)
    distances = [_p_distance(xp, x * half - y * half + eps * half, p) for x, y in pairs]
    (d_pos, g_pos), (d_neg, g_neg) = distances[:2]
    if swap:
        d_swap, g_swap = distances[2]
        # torch.min of two tensors sends the gradient to the smaller one, half to each on a tie.
        share = xp.where(d_neg < d_swap, 1.0, xp.where(d_neg == d_swap, 0.5, xp.zeros_like(d_neg)))
        d_closest = xp.minimum(d_neg, d_swap)
    else:
        d_closest = d_neg
    slack = margin + (d_pos - d_closest) / half[..., 0]
    loss = xp.clip(slack, min=0.0)
    if not with_grad:
        return KernelResult(loss)
    active = xp.astype(_hinge_active(slack), slack.dtype)[..., None]
    if swap:
        w_neg, w_swap = share[..., None], 1.0 - share[..., None]
        grad_anchor = active * (g_pos - w_neg * g_neg)
        grad_positive = active * (-g_pos - w_swap * g_swap)
        grad_negative = active * (w_neg * g_neg + w_swap * g_swap)
    else:
        grad_anchor = active * (g_pos - g_neg)
        grad_positive = -active * g_pos
        grad_negative = active * g_neg
    return KernelResult(loss, (grad_anchor, grad_positive, grad_negative))


triplet_margin = register(Loss(
    name="triplet_margin",
    aliases=("triplet_margin_loss", "triplet"),
    kernel=_triplet_margin,
    params=(
        Param("margin", 1.0, "> 0", "How much closer the positive must be than the negative.", V.positive),
        Param("p", 2.0, "> 0", "The norm of the distances (2: Euclidean, 1: Manhattan).", V.positive),
        Param("eps", 1e-6, ">= 0", "Added to each difference before the norm, as PyTorch's pairwise_distance.",
              V.non_negative),
        Param("swap", False, "True or False",
              "Use the closer of d(anchor, negative) and d(positive, negative) (Balntas et al. 2016).", V.boolean),
    ),
    inputs=("anchor", "positive", "negative"),
    input_shapes=("same", "same"),
    has_target=False,
    task="embedding", kind="rowwise", prediction_space="values", label_format="real",
    summary="Triplet hinge max(0, margin + d(anchor, positive) - d(anchor, negative)) with p-norm distances; no target.",
    formula=r"\ell = \max\left(0,\ m + \lVert a - p + \epsilon\rVert_p - \lVert a - n + \epsilon\rVert_p\right)"
            r"\ [\text{swap: } \min(\lVert a - n + \epsilon\rVert_p, \lVert p - n + \epsilon\rVert_p)]",
    gradient_formula=r"\partial\ell/\partial a = [\ell \ge 0](\nabla d_{ap} - \nabla d_{an}),\ "
                     r"\nabla\lVert z\rVert_p = \operatorname{sign}(z)\,|z|^{p-1}/\lVert z\rVert_p^{p-1}",
    output_activation="linear",
    convex=False, robust_to_outliers=True, differentiable=False,
    description="""
        Metric learning from triplets: the anchor must be closer to its positive than to its
        negative by the margin. There is no target; the three inputs have the same shape
        (..., D) and the loss has one value per row. PyTorch's conventions are kept: eps is
        added to each difference (so identical vectors are eps * D^(1/p) apart, with a gradient),
        the hinge passes its gradient at the kink, and swap takes the closer negative distance.
    """,
    when_to_use="Embeddings for retrieval or verification from (anchor, positive, negative) triplets.",
    when_not_to_use="When every other item of the batch can serve as a negative (info_nce uses them all).",
    pitfalls=(
        "Random triplets are mostly easy (loss 0): mine hard or semi-hard negatives.",
        "eps is added to the difference, not the distance: the distance is not symmetric in its arguments at eps > 0.",
        "Without normalised embeddings the margin's scale is arbitrary; normalise or tune it.",
    ),
    equivalents=(
        Equivalent("torch", "torch.nn.TripletMarginLoss(margin=margin, p=p, eps=eps, swap=swap)(anchor, positive, negative)",
                   "equal", "value and the three gradients; PyTorch's squared norms overflow beyond 1e19 in float32"),
        Equivalent("optax", "optax.losses.triplet_margin_loss(anchor, positive, negative, norm_degree=p, "
                   "margin=margin, eps=eps)", "different",
                   "Optax adds eps to the sum of p-th powers (inside the root), not to the difference, takes "
                   "(a - b)**p without abs (odd p is not a norm) and has no swap"),
        Equivalent("keras", "none", "different", "Keras has no triplet loss"),
    ),
    references=("Balntas, Riba, Ponsa and Mikolajczyk, 'Learning local feature descriptors with triplets and shallow "
                "convolutional neural networks', BMVC 2016",
                "https://pytorch.org/docs/stable/generated/torch.nn.TripletMarginLoss.html"),
    example="""
        >>> import losskit as lk
        >>> anchor, positive, negative = [[0.0, 0.0]], [[3.0, 4.0]], [[6.0, 8.0]]
        >>> round(float(lk.triplet_margin(anchor, positive, negative, margin=1.0, eps=0.0)), 6)  # 1 + 5 - 10 < 0
        0.0
        >>> round(float(lk.triplet_margin(anchor, negative, positive, margin=1.0, eps=0.0)), 6)  # 1 + 10 - 5
        6.0
    """,
))


# ---------------------------------------------------------------------------------- info_nce

def _normalize(xp, x):
    """``F.normalize(x, dim=-1)``: x / max(|x|, 1e-12), and what its gradient needs."""
    u, s, m = _scaled(xp, x)
    norm = m * s
    inv = 1.0 / xp.maximum(norm, _NORMALIZE_EPSILON)
    return u * (m * inv), inv, norm >= _NORMALIZE_EPSILON  # (x_hat, 1 / clamped norm, above the floor)


def _normalize_backward(xp, dxh, xh, inv, above):
    # x / max(|x|, eps): (dxh - xh (xh . dxh)) / |x| above the floor; below it the norm is the
    # constant eps (clamp_min's derivative is 0 there) and the map is x / eps.
    projected = dxh - xh * xp.sum(xh * dxh, axis=-1, keepdims=True)
    return xp.where(above, projected, dxh) * inv


def _log_softmax_rows(xp, logits, axis):
    shift = xp.max(logits, axis=axis, keepdims=True)
    shifted = logits - shift
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _info_nce_terms(xp, x, y, temperature, symmetric):
    """Per-row losses, the probabilities, and the normalised rows of both inputs."""
    xh, x_inv, x_above = _normalize(xp, x)
    yh, y_inv, y_above = _normalize(xp, y)
    logits = (xh @ xp.matrix_transpose(yh)) / temperature  # (N, N); row i: x_i against every y_j
    log_rows = _log_softmax_rows(xp, logits, -1)  # x -> y: softmax over the y's
    eye = _eye(xp, logits.shape[0], logits)
    loss = -xp.sum(log_rows * eye, axis=-1)  # the diagonal, on every namespace
    log_cols = None
    if symmetric:
        log_cols = _log_softmax_rows(xp, logits, 0)  # y -> x: softmax over the x's
        loss = 0.5 * (loss - xp.sum(log_cols * eye, axis=0))
    return loss, log_rows, log_cols, eye, (xh, x_inv, x_above), (yh, y_inv, y_above)


def _eye(xp, n, like):
    from ._array import device_of

    return xp.eye(n, dtype=like.dtype, device=device_of(like))


@reduced_reference()
def _info_nce(call):
    """The reduced value and the gradients of the reduced value (of the weighted sum for 'none').

    Row i's loss depends on every row (its softmax runs over the batch), so the gradient of
    sum_i w_i l_i is assembled here with the weights: d/dlogits = w_i (P_row - I)_ij from row
    i's term and w_j (P_col - I)_ij from column j's term, halved when symmetric.
    """
    xp = call.xp
    x, y = call.predictions
    temperature, symmetric = call.params["temperature"], call.params["symmetric"]
    if x.shape[0] == 0:
        # An empty batch: no rows, so the value every rowwise loss gives an empty batch (an empty
        # 'none', 0 for 'sum' and 'mean', see _reduction) and empty gradients; the softmax over
        # zero rows would otherwise reduce an empty axis.
        value, _, _ = reduce(xp, xp.zeros(x.shape[:1], dtype=x.dtype), None, None, call.weight, call.reduction)
        return value, (None if call.order < 1 else (xp.zeros_like(x), xp.zeros_like(y)))
    loss, log_rows, log_cols, eye, (xh, x_inv, x_above), (yh, y_inv, y_above) = _info_nce_terms(
        xp, x, y, temperature, symmetric)
    value, _, _ = reduce(xp, loss, None, None, call.weight, call.reduction)
    if call.order < 1:
        return value, None
    # The per-term weights the reduced value gives each row: w / sum(w) for 'mean', w otherwise.
    n = loss.shape[0]
    if call.reduction == "mean":
        if call.weight is None:
            scale = xp.ones_like(loss) / float(max(n, 1))
        else:
            total = xp.sum(call.weight)
            scale = call.weight / xp.where(total > 0, total, 1.0)
    else:
        scale = xp.ones_like(loss) if call.weight is None else call.weight
    half = 0.5 if symmetric else 1.0
    d_logits = half * scale[:, None] * (xp.exp(log_rows) - eye)
    if symmetric:
        d_logits = d_logits + half * scale[None, :] * (xp.exp(log_cols) - eye)
    d_logits = d_logits / temperature
    d_xh = d_logits @ yh
    d_yh = xp.matrix_transpose(d_logits) @ xh
    return value, (_normalize_backward(xp, d_xh, xh, x_inv, x_above), _normalize_backward(xp, d_yh, yh, y_inv, y_above))


def _check_info_nce(xp, y_true, x, y, params):
    if x.ndim != 2:
        raise ValueError(
            f"x and y of info_nce must be 2-D batches of embeddings, shape (N, D) (row i of x pairs with row i of y); "
            f"got x of shape {tuple(x.shape)}. Flatten the leading axes: x.reshape(-1, D)"
        )


info_nce = register(Loss(
    name="info_nce",
    aliases=("clip_loss",),
    kernel=_info_nce,
    params=(
        Param("temperature", 0.07, "> 0", "Divides the cosine similarities (CLIP's initial 0.07).", V.positive),
        Param("symmetric", True, "True or False",
              "Average the x -> y and y -> x directions (CLIP); False keeps x -> y only.", V.boolean),
    ),
    inputs=("x", "y"),
    input_shapes=("same",),
    has_target=False,
    check_inputs=_check_info_nce,
    task="embedding", kind="rowwise", prediction_space="values", label_format="real",
    summary="InfoNCE / CLIP contrastive loss of paired rows: x[i] and y[i] are positives, every other row a negative.",
    formula=r"\ell_i = \tfrac12\left(-\log\frac{e^{s_{ii}/\tau}}{\sum_j e^{s_{ij}/\tau}} "
            r"- \log\frac{e^{s_{ii}/\tau}}{\sum_j e^{s_{ji}/\tau}}\right),\ s_{ij} = \hat x_i\cdot\hat y_j,\ "
            r"\hat x = x/\max(\lVert x\rVert, 10^{-12})",
    gradient_formula=r"\partial L/\partial S = \tfrac{1}{2\tau}\left(W(P^{row} - I) + (P^{col} - I)W\right),\ "
                     r"\partial L/\partial \hat x = (\partial L/\partial S)\hat Y,\ "
                     r"\partial L/\partial x = (I - \hat x\hat x^\top)\,\partial L/\partial\hat x\,/\lVert x\rVert",
    output_activation="linear",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        Contrastive learning of two encoders from paired data (image and caption, two views of
        one image): the similarity matrix of the L2-normalised rows, divided by the temperature,
        is a classification of each x[i] among all y's (and, when symmetric, of each y[i] among
        all x's) whose right answer is the diagonal. x and y have shape (N, D); the unreduced
        loss has one value per pair, shape (N,). Every row's loss depends on every row, so its
        gradient is assembled with the reduction's weights (a "reduced" kernel): sample weights
        weigh the pairs' terms, not their gradients alone.
    """,
    when_to_use="Self-supervised or multimodal embeddings with in-batch negatives (CLIP, SimCLR-style pairs).",
    when_not_to_use="Small batches (few negatives); labelled pairs (cosine_embedding) or triplets (triplet_margin).",
    pitfalls=(
        "The batch is the set of negatives: the loss of a row changes with the batch, and its mean grows like log N.",
        "A tiny temperature sharpens the softmax to a max; CLIP learns it (as a log-parameter, clipped at 100 = 1/0.01).",
        "Rows are normalised here: do not normalise twice with a different epsilon.",
        "Only 2-D inputs (N, D): flatten any other leading axes first.",
    ),
    equivalents=(
        Equivalent("torch", "(F.cross_entropy(S / t, arange(N)) + F.cross_entropy(S.T / t, arange(N))) / 2, "
                   "S = F.normalize(x) @ F.normalize(y).T", "equal",
                   "PyTorch has no InfoNCE loss; the CLIP formula in PyTorch, value and both gradients"),
        Equivalent("keras", "none", "different", "Keras has no contrastive loss"),
    ),
    references=("van den Oord, Li and Vinyals, 'Representation Learning with Contrastive Predictive Coding', 2018",
                "Radford et al., 'Learning Transferable Visual Models From Natural Language Supervision' (CLIP), ICML 2021"),
    example="""
        >>> import losskit as lk
        >>> x = [[1.0, 0.0], [0.0, 1.0]]
        >>> round(float(lk.info_nce(x, x, temperature=1.0)), 6)  # -log(e / (e + 1))
        0.313262
    """,
))

__test__ = {name: globals()[name].__doc__ for name in __all__}
