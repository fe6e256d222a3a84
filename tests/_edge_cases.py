"""Edge inputs of every loss of the catalog, for the tests that pin fast kernels to the reference.

``edge_case(loss, size, dtype)`` returns the positional arguments ``(y_true, *predictions)`` of a
call: seeded ordinary values with the loss's edge values (kinks, floors, infinities, NaN, masked
classes, labels that are all 0/1 or +-1) written at both ends of the arrays, so that a chunked
kernel sees them at chunk boundaries. ``size`` is the number of prediction elements (rounded to
whole rows for losses over a class axis). Every loss of the catalog must have an entry in
``EDGES`` (``tests/test_kernels.py`` asserts it).
"""

from __future__ import annotations

import math

import numpy as np

import losskit as lk
from _cases import make_case

INF, NAN = math.inf, math.nan
CLASSES = 5

# (y_true values, prediction values) written pairwise at the ends of pointwise inputs.
_REAL = (
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 0.0, 0.0, 3.0, 0.0],
    [0.0, 1e-8, -0.5, 1.0, -1.0, 2.0, 1e4, -1e4, INF, -INF, NAN, 0.1],
)
_NON_NEGATIVE = (
    [0.0, 0.0, 1.0, 2.0, 5.0, 0.0, NAN, 1e4],
    [0.0, 1e-13, 0.0, 2.0, 1e4, INF, 1.0, 0.5],
)
_COUNTS = (
    [0.0, 1.0, 3.0, 0.0, 2.0, 1.0, 4.0, NAN, 0.0],
    [0.0, 0.0, 1e-13, 1e-12, 2.0, 1e4, INF, 1.0, NAN],
)
_PROBABILITIES = (
    [0.0, 1.0, 0.0, 1.0, 0.3, 0.0, 1.0, 0.5, NAN, 1.0],
    [0.0, 1.0, 1.0, 0.0, 0.3, 1e-13, 1.0 - 1e-13, 0.5, 0.5, NAN],
)
_LOGITS = (
    [0.0, 1.0, 0.0, 1.0, 0.3, 1.0, 0.0, 0.0, 1.0, NAN, 1.0],
    [1e4, -1e4, -1e4, 1e4, 0.0, INF, -INF, 30.0, -30.0, 0.5, NAN],
)
_SIGNED = (
    [1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0],
    [1.0, -1.0, -1.0, 1.0, 0.0, 1e4, 1e4, -INF, INF, NAN],
)

_POSITIVE = (
    [1e-13, 1.0, 2.0, 5.0, 1e4, 1e-8, NAN, 3.0],
    [1.0, 1e-13, 2.0, 1e4, 0.5, 1e-8, 1.0, NAN],
)
# tweedie_deviance at its default power: zero targets, but means > 0 (the deviance is infinite at 0).
_TWEEDIE = (
    [0.0, 0.0, 1.0, 2.0, 5.0, 1e4, 0.0, NAN, 3.0],
    [1e-13, 1e4, 1e-13, 2.0, 1e4, 0.5, 1.0, 1.0, NAN],
)

POINTWISE_EDGES = {
    "real": _REAL, "non-negative": _NON_NEGATIVE, "counts": _COUNTS, "positive": _POSITIVE,
    "binary": _PROBABILITIES, "signed": _SIGNED,
}


def _pointwise_edges(loss):
    if loss.label_format == "binary" and loss.prediction_space == "logits":
        return _LOGITS
    if loss.name == "tweedie_deviance":
        return _TWEEDIE
    if loss.name == "mean_absolute_percentage_error":
        return ([0.0, 1.0, -2.0, 1e-9, 3.0], [1.0, 1.0, INF, 0.0, NAN])
    return POINTWISE_EDGES[loss.label_format]


def _logit_rows():
    return np.array([
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1e4, -1e4, 0.0, 1.0, 2.0],
        [-INF, 0.0, 1.0, -INF, 2.0],  # masked classes
        [INF, 0.0, 0.0, 0.0, 0.0],
        [NAN, 0.0, 1.0, 2.0, 3.0],
        [-1e4, -1e4, -1e4, -1e4, -1e4],
    ])


def _score_rows():
    # Margin scores are finite by contract (infinite ones make the hinge's 0 * inf undefined).
    return np.array([
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1e4, -1e4, 0.0, 1.0, 2.0],
        [1.0, 1.0, 1.0, 1.0, 1.0],
        [-1e4, 0.0, 1.0, 0.0, 2.0],
        [NAN, 0.0, 1.0, 2.0, 3.0],
        [0.0, 1.0, 0.0, 0.0, 0.0],
    ])


def _probability_rows():
    return np.array([
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0, 0.0],
        [0.2, 0.2, 0.2, 0.2, 0.2],
        [1e-13, 1.0 - 4e-13, 1e-13, 1e-13, 1e-13],
        [NAN, 0.25, 0.25, 0.25, 0.25],
        [0.5, 0.5, 0.0, 0.0, 0.0],
    ])


def _label_rows(loss):
    labels = np.array([0, 1, 3, 0, 2, 4])
    if loss.kind == "sparse":
        return labels
    if loss.label_format == "distribution":
        rows = np.eye(CLASSES)[labels] * 0.7 + 0.3 / CLASSES
        rows[1] = [0.0, 0.5, 0.5, 0.0, 0.0]  # zero targets
        return rows
    return np.eye(CLASSES)[labels]


def _embedding_rows():
    """Pairs (triplets) of rows of the embedding losses: one tuple per row, one row per input."""
    v, w = np.array([1.0, -2.0, 0.5, 3.0, -1.0]), np.array([0.5, 1.0, -1.0, 2.0, 0.25])
    return [
        (np.zeros(CLASSES), v, w),  # a zero vector: the eps clamp
        (v, 2.0 * v, -v),  # parallel / antiparallel
        (v, -v, 2.0 * v),
        (1e30 * v, 1e30 * w, -1e30 * v),  # norms whose squares overflow float32
        (1e-30 * v, v, w),  # below every eps
        (v, v.copy(), v.copy()),  # identical rows: distance eps
        (np.full(CLASSES, NAN), v, w),
        (np.zeros(CLASSES), np.zeros(CLASSES), np.zeros(CLASSES)),
    ]


def _overlap_masks(loss, size: int, seed: int) -> list:
    """(y_true, y_pred) masks (N, 4 pixels, CLASSES) whose first and last samples hold the edges."""
    pixels = 4
    rows = max(size // (pixels * CLASSES), 4)
    y_true, y_pred = (np.array(a) for a in make_case(loss, (rows, pixels, CLASSES), seed=seed).args)
    for n in (0, rows - 1):
        y_true[n], y_pred[n] = 0.0, 0.0  # class 0: empty in both masks (loss 0)
        y_true[n, 0, 1] = y_pred[n, 0, 1] = 1.0  # class 1: a one-pixel mask, found exactly
        y_true[n, :, 2] = y_pred[n, :, 2] = 1.0  # class 2: a full mask, found exactly
        y_true[n, :, 3] = 1.0  # class 3: a full mask, missed (p = 0)
        y_pred[n, :, 4] = 1.0  # class 4: absent, predicted everywhere (p = 1)
    # Soft labels and predictions at 1e-13 from the bounds; an absent class predicted at 1e-13.
    y_true[rows // 2, :, 0] = [0.3, 0.7, 0.0, 1.0]
    y_pred[rows // 2, :, 0] = [1e-13, 1.0 - 1e-13, 1e-13, 1.0 - 1e-13]
    y_true[rows // 2, :, 1] = 0.0
    y_pred[rows // 2, :, 1] = 1e-13
    return [y_true, y_pred]


def _rows(size: int) -> int:
    return max(size // CLASSES, 8)


def _linear_head_edges(loss, size: int, dtype, seed: int) -> tuple:
    """linear_cross_entropy: hidden rows that make logits of +-1e4 (shift-sensitive), zero rows, labels 0 and V-1."""
    rows = _rows(size)
    labels, hidden, weight = (np.array(a) for a in make_case(loss, (rows, CLASSES), seed=seed).args)
    vocab = weight.shape[0]
    edge_hidden = [np.full(CLASSES, 1e4 / CLASSES), np.zeros(CLASSES), np.full(CLASSES, -300.0), np.eye(CLASSES)[0] * 50.0]
    edge_labels = [0, vocab - 1, vocab // 2, 0]
    count = min(len(edge_hidden), rows // 2)
    for k in range(count):
        hidden[k], hidden[rows - 1 - k] = edge_hidden[k], edge_hidden[k]
        labels[k], labels[rows - 1 - k] = edge_labels[k], edge_labels[k]
    return labels, hidden.astype(dtype), weight.astype(dtype)


def edge_case(loss: lk.Loss, size: int, dtype=np.float64, seed: int = 0, edges: bool = True) -> tuple:
    """Arguments ``(y_true, *predictions)`` of about ``size`` prediction elements with the edges of ``loss``.

    ``edges=False`` gives the same ordinary values without the edges (the inputs on which a
    data-checked kernel may accept the call).
    """
    loss = lk.get(loss)
    if not edges:
        shape = (size,) if loss.kind == "pointwise" else (_rows(size), CLASSES)
        args = make_case(loss, shape, seed=seed).args
        if loss.label_format == "signed" and seed % 2:
            args = ((args[0] + 1.0) / 2.0, *args[1:])
        return tuple([args[0] if loss.kind == "sparse" else args[0].astype(dtype)] + [a.astype(dtype) for a in args[1:]])
    if loss.kind == "pointwise":
        case = make_case(loss, (size,), seed=seed)
        args = [np.array(a) for a in case.args]
        if loss.name == "gaussian_nll":
            edges = [[0.0, 0.0, 1.0, 2.0, NAN], [0.0, 1e4, INF, 2.0, 0.0], [1e-9, 0.0, 1.0, INF, 1.0]]
        else:
            edges = list(_pointwise_edges(loss))
        count = min(len(edges[0]), size // 2)
        for array, values in zip(args, edges):
            values = np.asarray(values[:count], dtype=np.float64)
            array[:count] = values
            array[size - count:] = values[::-1]
    elif loss.kind == "overlap":
        args = _overlap_masks(loss, size, seed)
    elif loss.name == "linear_cross_entropy":
        return _linear_head_edges(loss, size, dtype, seed)
    elif loss.kind == "rowwise":
        rows = _rows(size)
        args = [np.array(a) for a in make_case(loss, (rows, CLASSES), seed=seed).args]
        labelled = loss.has_target and loss.target_shape == "loss"
        embeddings = args[1:] if labelled else args
        edges = _embedding_rows()
        count = min(len(edges), rows // 2)
        for k, array in enumerate(embeddings):
            values = np.array([edge[k % 3] for edge in edges[:count]])
            array[:count] = values
            array[rows - count:] = values[::-1]
        if labelled:  # labels +-1 alternating over the edge rows
            signs = np.where(np.arange(count) % 2 == 0, 1.0, -1.0)
            args[0][:count] = signs
            args[0][rows - count:] = signs[::-1]
    else:
        rows = _rows(size)
        case = make_case(loss, (rows, CLASSES), seed=seed)
        args = [np.array(a) for a in case.args]
        predictions = {"logits": _logit_rows, "scores": _score_rows}.get(loss.prediction_space, _probability_rows)()
        labels = _label_rows(loss)
        count = min(len(labels), rows // 2)
        for array, values in ((args[0], labels), (args[1], predictions)):
            array[:count] = values[:count]
            array[rows - count:] = values[:count][::-1]
    signed = loss.label_format == "signed"
    if signed and seed % 2:  # the {0, 1} spelling of the same labels
        args[0] = (args[0] + 1.0) / 2.0
    converted = [args[0] if loss.kind == "sparse" else args[0].astype(dtype)]
    converted += [a.astype(dtype) for a in args[1:]]
    return tuple(converted)
