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

POINTWISE_EDGES = {
    "real": _REAL, "non-negative": _NON_NEGATIVE, "counts": _COUNTS,
    "binary": _PROBABILITIES, "signed": _SIGNED,
}


def _pointwise_edges(loss):
    if loss.label_format == "binary" and loss.prediction_space == "logits":
        return _LOGITS
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


def _rows(size: int) -> int:
    return max(size // CLASSES, 8)


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
