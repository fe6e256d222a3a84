"""Overlap (segmentation) losses: Dice, Jaccard, Tversky and focal Tversky on probability masks.

Each loss compares a predicted mask with a target mask per sample and class: it sums over every
axis but the batch axis (0) and the class axis (last, or ``axis=1`` for PyTorch's and MONAI's
``(N, C, d1, ...)`` layout), so ``y_pred`` of shape ``(N, d1, ..., C)`` gives an unreduced loss of
shape ``(N, C)``; ``batch=True`` pools the batch into one region per class, shape ``(C,)``. Both
masks are probabilities in [0, 1] (soft labels allowed); apply softmax (one label per pixel) or
sigmoid (multilabel masks) to the model's logits first.

With ``TP = sum(y p)``, ``FP = sum(p (1 - y))`` and ``FN = sum(y (1 - p))`` over a region, every loss
here is ``D / den``, a non-negative numerator over a positive denominator:

==============  ==========================  =======================================
loss            D                           den
==============  ==========================  =======================================
dice            FP + FN                     2 TP + FP + FN + smooth = sum(y) + sum(p) + smooth
dice, squared   sum((y - p)^2)              sum(y^2) + sum(p^2) + smooth
jaccard         FP + FN                     TP + FP + FN + smooth = sum(y) + sum(p) - TP + smooth
tversky         alpha FP + beta FN          TP + alpha FP + beta FN + smooth
==============  ==========================  =======================================

``D / den`` is ``1 - (w TP + smooth) / den`` (the textbook ``1 - score``) written without the
cancellation of ``1 - ratio``: the loss of a near-perfect mask keeps its digits and is never
negative. An empty class (no target and no predicted mass in the region) has ``D = 0`` and scores
0, the ``smooth / smooth = 1`` of the usual form.

The reference kernels are of the registry's "reduced" style (:func:`losskit._kernels.reduced_reference`):
the gradient of a term ``(n, c)`` spans the whole region of sample ``n`` and class ``c``, with the
class axis last, so the shared reduction (which scales a gradient per term over its trailing axes)
runs on the gradient with the class axis moved next to the batch axis, and the autodiff bridges
carry ``reduction="none"`` through their per-term-weight backward.
"""

from __future__ import annotations

from . import _validation as V
from ._kernels import reduced_reference
from ._loss import PROBABILITY, Equivalent, KernelResult, Loss, Param, check_domains
from ._reduction import reduce
from ._registry import register

__all__ = ["dice", "jaccard", "tversky", "focal_tversky"]


# --------------------------------------------------------------------------------- the sums

def _region_sum(xp, x, batch):
    """Sum over the region of each (sample, class): every axis but the batch axis and the class
    axis (last); with ``batch`` the batch axis too. Keeps the summed axes, so the sums broadcast
    back against the masks in the gradient."""
    axes = tuple(range(0 if batch else 1, x.ndim - 1))
    if not axes:
        # (N, C) masks: one pixel per sample. Not xp.sum(axis=()), which torch reads as "all axes".
        return x
    return xp.sum(x, axis=axes, keepdims=True)


def _loss_shape(y_pred, batch):
    return (y_pred.shape[-1],) if batch else (y_pred.shape[0], y_pred.shape[-1])


def _confusion(xp, y_true, y_pred, batch):
    """Soft TP, FP and FN of each region (the formulas of MONAI's TverskyLoss)."""
    tp = _region_sum(xp, y_true * y_pred, batch)
    fp = _region_sum(xp, y_pred * (1.0 - y_true), batch)
    fn = _region_sum(xp, y_true * (1.0 - y_pred), batch)
    return tp, fp, fn


def _ratio_terms(xp, y_true, y_pred, *, tp_weight, alpha, beta, smooth, batch, with_grad):
    """``l = (alpha FP + beta FN) / (tp_weight TP + alpha FP + beta FN + smooth)`` and ``dl/dp``.

    Dice is (tp_weight, alpha, beta) = (2, 1, 1), Jaccard (1, 1, 1), Tversky (1, alpha, beta).
    Returns the loss with the summed axes kept, and the gradient (None without ``with_grad``).
    """
    tp, fp, fn = _confusion(xp, y_true, y_pred, batch)
    numerator = alpha * fp + beta * fn
    denominator = tp_weight * tp + numerator + smooth  # >= smooth > 0
    loss = numerator / denominator
    if not with_grad:
        return loss, None
    # dl/dp = (dD - l d(den)) / den with dD/dp = alpha (1 - y) - beta y and
    # d(den)/dp = tp_weight y + dD/dp: ((1 - l) dD/dp - l tp_weight y) / den.
    d_numerator = alpha * (1.0 - y_true) - beta * y_true
    grad = ((1.0 - loss) * d_numerator - (tp_weight * loss) * y_true) / denominator
    return loss, grad


def _squared_dice_terms(xp, y_true, y_pred, *, smooth, batch, with_grad):
    """``l = sum((y - p)^2) / (sum(y^2) + sum(p^2) + smooth)`` (V-Net's squared denominator) and ``dl/dp``."""
    residual = y_pred - y_true
    numerator = _region_sum(xp, residual * residual, batch)
    denominator = _region_sum(xp, y_true * y_true, batch) + _region_sum(xp, y_pred * y_pred, batch) + smooth
    loss = numerator / denominator
    if not with_grad:
        return loss, None
    # (2 (p - y) - l 2p) / den = 2 ((1 - l) p - y) / den.
    return loss, 2.0 * ((1.0 - loss) * y_pred - y_true) / denominator


# ------------------------------------------------------------------------------ the kernels
# Each term function returns the unreduced loss of shape (N, C) (or (C,) with batch) and the
# gradient of each term with respect to the mask, shape of y_pred, class axis last.

def _dice_terms(xp, y_true, y_pred, *, smooth, squared, batch, with_grad):
    if squared:
        kept, grad = _squared_dice_terms(xp, y_true, y_pred, smooth=smooth, batch=batch, with_grad=with_grad)
    else:
        kept, grad = _ratio_terms(xp, y_true, y_pred, tp_weight=2.0, alpha=1.0, beta=1.0, smooth=smooth, batch=batch,
                                  with_grad=with_grad)
    return KernelResult(xp.reshape(kept, _loss_shape(y_pred, batch)), grad)


def _jaccard_terms(xp, y_true, y_pred, *, smooth, batch, with_grad):
    kept, grad = _ratio_terms(xp, y_true, y_pred, tp_weight=1.0, alpha=1.0, beta=1.0, smooth=smooth, batch=batch,
                              with_grad=with_grad)
    return KernelResult(xp.reshape(kept, _loss_shape(y_pred, batch)), grad)


def _tversky_terms(xp, y_true, y_pred, *, alpha, beta, smooth, batch, with_grad):
    kept, grad = _ratio_terms(xp, y_true, y_pred, tp_weight=1.0, alpha=alpha, beta=beta, smooth=smooth, batch=batch,
                              with_grad=with_grad)
    return KernelResult(xp.reshape(kept, _loss_shape(y_pred, batch)), grad)


def _focal_tversky_terms(xp, y_true, y_pred, *, alpha, beta, gamma, smooth, batch, with_grad):
    tversky_loss, tversky_grad = _ratio_terms(xp, y_true, y_pred, tp_weight=1.0, alpha=alpha, beta=beta,
                                              smooth=smooth, batch=batch, with_grad=with_grad)
    loss = tversky_loss**gamma
    grad = None
    if with_grad:
        # d(l^gamma) = gamma l^(gamma - 1) dl. At l = 0 (a perfect mask, an empty class) the factor
        # is 0 for gamma > 1 and 1 for gamma = 1 as pow gives it; for gamma < 1 it is infinite
        # (a one-sided derivative at the loss's minimum), and 0 is used there instead: the
        # subgradient that keeps an optimiser at the minimum, not an inf that turns into NaN.
        if gamma < 1.0:
            positive = tversky_loss > 0
            safe = xp.where(positive, tversky_loss, 1.0)
            factor = xp.where(positive, gamma * safe ** (gamma - 1.0), 0.0)
        else:
            factor = gamma * tversky_loss ** (gamma - 1.0)
        grad = factor * tversky_grad
    return KernelResult(xp.reshape(loss, _loss_shape(y_pred, batch)), grad)


def _reduced(terms):
    """The registry's kernel of an overlap loss: the term function, then the shared reduction.

    ``reduce`` broadcasts the per-term weights over a gradient's trailing axes; the terms here
    are (sample, class) pairs of a gradient whose class axis is last, so for the reduction the
    class axis moves next to the batch axis (to the front with ``batch``: terms are classes) and
    back after. Returns ``(value, grads)`` as the "reduced" style asks.
    """

    @reduced_reference()
    def kernel(call):
        xp, params = call.xp, call.params
        result = terms(xp, call.y_true, call.y_pred, with_grad=call.order >= 1, **params)
        position = 0 if params["batch"] else 1
        grads = None if result.grad is None else (xp.moveaxis(result.grad, -1, position),)
        value, grads, _ = reduce(xp, result.loss, grads, None, call.weight, call.reduction)
        if grads is not None:
            grads = (xp.moveaxis(grads[0], position, -1),)
        return value, grads

    kernel.__name__ = kernel.__qualname__ = terms.__name__.replace("_terms", "")
    kernel.__doc__ = f"The reduced value and gradient of {terms.__name__} (see :func:`_reduced`)."
    kernel.terms = terms  # the elementwise form, for readers and tests
    return kernel


# ------------------------------------------------------------------------------- the checks

_PROBABILITY_HINT = (
    "Overlap losses take probability masks: apply softmax over the class axis (one label per pixel) or "
    "sigmoid (multilabel masks) to the model's logits, or pass the probabilities MONAI's softmax=True would compute"
)
_check = check_domains(PROBABILITY, PROBABILITY, y_pred_hint=_PROBABILITY_HINT)

_SMOOTH = Param(
    "smooth", 1e-5, "> 0",
    "Added to the numerator and the denominator of the score (MONAI's smooth_nr = smooth_dr): an empty "
    "class scores smooth / smooth = 1, loss 0.",
    V.positive,
)
_BATCH = Param(
    "batch", False, "True or False",
    "Sum the regions over the batch too: one loss per class, shape (C,), as MONAI's batch=True.", V.boolean,
)
_ALPHA = Param("alpha", 0.5, ">= 0", "Weight of the false positives FP = sum(p (1 - y)) (MONAI's convention).",
               V.non_negative)
_BETA = Param("beta", 0.5, ">= 0", "Weight of the false negatives FN = sum(y (1 - p)) (MONAI's convention).",
              V.non_negative)

_MONAI_LAYOUT = (
    "on channels-first (N, C, d1, ...) inputs with include_background=True, no activation and MONAI's default "
    "soft_label=False; losskit takes the same layout with axis=1"
)
_EMPTY_MASKS = (
    "An empty class (no target and no predicted mass in a region) scores 0 and enters the mean as 0; its gradient "
    "is not 0 but pushes predicted mass down, up to 1 / smooth per pixel at p = 0: with the default smooth a few "
    "false-positive pixels of an absent class get large gradients."
)
_REGIONS = (
    "The loss is per sample and class, summed over the region: a sample whose class is tiny counts as much as one "
    "whose class fills the image; batch=True pools the batch when many samples miss a class."
)
_AXIS = "Channels-first (N, C, H, W) predictions need axis=1; axis=0 is refused (it is the batch axis)."
_KORNIA_NOTE = (
    "kornia takes logits (softmax inside) and integer labels, 2-D (B, C, H, W) only, adds eps to the denominator "
    "only (an empty class gives loss 1, not 0) and its 'macro' mean leaves out the classes absent from a sample's "
    "target; on softmax probabilities whose every class is present it equals losskit with smooth -> 0"
)

_SUMMARY_SHAPES = "per sample and class over the spatial axes, class axis last (or axis=1)"

# ------------------------------------------------------------------------------- the losses

dice = register(Loss(
    name="dice",
    aliases=("dice_loss", "soft_dice"),
    kernel=_reduced(_dice_terms),
    check_inputs=_check,
    params=(
        _SMOOTH,
        Param("squared", False, "True or False",
              "Square the masks in the denominator, sum(y^2) + sum(p^2) (V-Net; MONAI's squared_pred).", V.boolean),
        _BATCH,
    ),
    task="segmentation", kind="overlap", prediction_space="probabilities", label_format="binary",
    summary=f"Soft Dice loss 1 - (2 sum(y p) + smooth) / (sum(y) + sum(p) + smooth), {_SUMMARY_SHAPES}.",
    formula=r"\ell_{nc} = 1 - \frac{2\sum_i y_i p_i + s}{\sum_i y_i + \sum_i p_i + s}"
            r"\quad(\text{squared: } \textstyle\sum_i y_i^2 + \sum_i p_i^2)",
    gradient_formula=r"\partial\ell_{nc}/\partial p_i = \frac{1 - 2 y_i - \ell_{nc}}{\sum y + \sum p + s}"
                     r"\quad(\text{squared: } \frac{2((1 - \ell_{nc}) p_i - y_i)}{\sum y^2 + \sum p^2 + s})",
    output_activation="softmax, sigmoid",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        One minus the soft Dice coefficient (F1 score) of a predicted probability mask and a target
        mask, per sample and class: the sums run over every axis but the batch axis and the class
        axis, so y_pred of shape (N, H, W, C) gives a loss of shape (N, C) (or (C,) with
        batch=True) before the reduction. It measures overlap, not per-pixel accuracy, so a small
        structure counts as much as a large one. A class absent from both masks scores 0
        (smooth / smooth). Computed as (FP + FN) / (sum(y) + sum(p) + smooth), which is the same
        number without the cancellation of 1 - ratio near a perfect mask.
    """,
    when_to_use="Semantic and medical image segmentation with small or imbalanced structures, where pixel-wise "
                "cross-entropy is dominated by the background; often added to cross-entropy (Dice + CE).",
    when_not_to_use="Classification without spatial structure (cross-entropy); when false negatives and false "
                    "positives must be weighed differently (tversky); calibrated per-pixel probabilities "
                    "(cross-entropy).",
    pitfalls=(_EMPTY_MASKS, _REGIONS, _AXIS,
              "Pass probabilities, not logits: the loss raises on values outside [0, 1].",
              "MONAI's soft_label=True uses another formula for soft labels (an L1 form); losskit's equals its "
              "default soft_label=False."),
    equivalents=(
        Equivalent("monai", "monai.losses.DiceLoss(smooth_nr=smooth, smooth_dr=smooth, squared_pred=squared, "
                            "batch=batch)(y_pred, y_true)", "equal",
                   f"value and gradient {_MONAI_LAYOUT}; its reduction='none' keeps singleton spatial axes"),
        Equivalent("kornia", "kornia.losses.dice_loss(logits, labels, average='macro')", "different", _KORNIA_NOTE),
        Equivalent("keras", "keras.losses.Dice(axis=spatial axes)", "different",
                   "Keras has no smoothing in the numerator and adds 1e-7 to the denominator only, so an empty "
                   "class gives loss 1, not 0; equal to 1e-7 elsewhere"),
    ),
    references=("Milletari, Navab and Ahmadi, 'V-Net: Fully Convolutional Neural Networks for Volumetric Medical "
                "Image Segmentation', 3DV 2016",
                "https://docs.monai.io/en/stable/losses.html#diceloss"),
    example="""
        >>> import numpy as np
        >>> import losskit as lk
        >>> y_true = np.array([[[1.0], [1.0], [0.0], [0.0]]])   # one image of 4 pixels, one class
        >>> y_pred = np.array([[[0.5], [1.0], [0.0], [0.5]]])
        >>> round(float(lk.dice(y_true, y_pred, smooth=1e-12)), 6)  # 1 - 2 * 1.5 / (2 + 2)
        0.25
        >>> lk.dice(y_true, y_pred, reduction="none").shape    # (N, C)
        (1, 1)
        >>> float(lk.dice(np.zeros((1, 4, 1)), np.zeros((1, 4, 1))))  # an empty class scores 0
        0.0
    """,
))

jaccard = register(Loss(
    name="jaccard",
    aliases=("jaccard_loss", "iou_loss", "soft_jaccard"),
    kernel=_reduced(_jaccard_terms),
    check_inputs=_check,
    params=(_SMOOTH, _BATCH),
    task="segmentation", kind="overlap", prediction_space="probabilities", label_format="binary",
    summary=f"Soft Jaccard (IoU) loss 1 - (I + smooth) / (sum(y) + sum(p) - I + smooth), I = sum(y p), {_SUMMARY_SHAPES}.",
    formula=r"\ell_{nc} = 1 - \frac{I + s}{\sum_i y_i + \sum_i p_i - I + s},\ I = \sum_i y_i p_i",
    gradient_formula=r"\partial\ell_{nc}/\partial p_i = \frac{1 - 2 y_i - \ell_{nc}(1 - y_i)}{\sum y + \sum p - I + s}",
    output_activation="softmax, sigmoid",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        One minus the soft intersection over union of a predicted probability mask and a target
        mask, per sample and class (shapes and regions as dice). IoU = Dice / (2 - Dice), so the
        two rank masks alike but Jaccard penalises a partial overlap more. A class absent from both
        masks scores 0. MONAI's DiceLoss(jaccard=True) computes (2I + s) / (2U + s), which is
        losskit's jaccard at smooth = s / 2.
    """,
    when_to_use="Segmentation evaluated by mean IoU; as dice, for small or imbalanced structures.",
    when_not_to_use="As dice; when false positives and negatives need different weights (tversky).",
    pitfalls=(_EMPTY_MASKS, _REGIONS, _AXIS,
              "MONAI's DiceLoss(jaccard=True) doubles intersection and union: pass smooth_nr = smooth_dr = "
              "2 * smooth to match."),
    equivalents=(
        Equivalent("monai", "monai.losses.DiceLoss(jaccard=True, smooth_nr=2*smooth, smooth_dr=2*smooth, "
                            "batch=batch)(y_pred, y_true)", "equal",
                   f"value and gradient {_MONAI_LAYOUT}; MONAI computes (2I + s) / (2U + s), losskit's formula at "
                   "smooth = s / 2"),
    ),
    references=("Rahman and Wang, 'Optimizing Intersection-Over-Union in Deep Neural Networks for Image "
                "Segmentation', ISVC 2016",
                "https://docs.monai.io/en/stable/losses.html#diceloss"),
    example="""
        >>> import numpy as np
        >>> import losskit as lk
        >>> y_true = np.array([[[1.0], [1.0], [0.0], [0.0]]])
        >>> y_pred = np.array([[[0.5], [1.0], [0.0], [0.5]]])
        >>> round(float(lk.jaccard(y_true, y_pred, smooth=1e-12)), 6)  # 1 - 1.5 / (2 + 2 - 1.5)
        0.4
    """,
))

tversky = register(Loss(
    name="tversky",
    aliases=("tversky_loss",),
    kernel=_reduced(_tversky_terms),
    check_inputs=_check,
    params=(_ALPHA, _BETA, _SMOOTH, _BATCH),
    task="segmentation", kind="overlap", prediction_space="probabilities", label_format="binary",
    summary=f"Tversky loss 1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth), {_SUMMARY_SHAPES}.",
    formula=r"\ell_{nc} = 1 - \frac{TP + s}{TP + \alpha FP + \beta FN + s},\ TP = \sum_i y_i p_i,\ "
            r"FP = \sum_i p_i (1 - y_i),\ FN = \sum_i y_i (1 - p_i)",
    gradient_formula=r"\partial\ell_{nc}/\partial p_i = \frac{(1 - \ell_{nc})(\alpha (1 - y_i) - \beta y_i) - "
                     r"\ell_{nc} y_i}{TP + \alpha FP + \beta FN + s}",
    output_activation="softmax, sigmoid",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        A Dice loss with separate weights for false positives (alpha) and false negatives (beta),
        per sample and class (shapes and regions as dice): beta > alpha trades precision for recall,
        which is what small lesions need. alpha = beta = 0.5 is dice; alpha = beta = 1 is jaccard.
        The convention is MONAI's TverskyLoss: alpha weighs FP = sum(p (1 - y)). A class absent
        from both masks scores 0.
    """,
    when_to_use="Segmentation of small structures where missing a positive costs more than a false alarm "
                "(Salehi et al. use alpha = 0.3, beta = 0.7).",
    when_not_to_use="Balanced classes (dice is the same at alpha = beta = 0.5); per-pixel calibration (cross-entropy).",
    pitfalls=(_EMPTY_MASKS, _REGIONS, _AXIS,
              "Which of alpha and beta weighs the false positives differs between libraries: losskit and MONAI "
              "weigh FP with alpha; Keras's Tversky multiplies sum((1 - p) y), the false negatives, by alpha.",
              "alpha = beta = 0 makes the loss 0 everywhere."),
    equivalents=(
        Equivalent("monai", "monai.losses.TverskyLoss(alpha=alpha, beta=beta, smooth_nr=smooth, smooth_dr=smooth, "
                            "batch=batch)(y_pred, y_true)", "equal", f"value and gradient {_MONAI_LAYOUT}"),
        Equivalent("kornia", "kornia.losses.tversky_loss(logits, labels, alpha=alpha, beta=beta)", "different",
                   _KORNIA_NOTE),
        Equivalent("keras", "keras.losses.Tversky(alpha=beta, beta=alpha, axis=spatial axes)", "different",
                   "Keras's alpha multiplies sum((1 - p) y), the false negatives (losskit's and MONAI's beta), and "
                   "it has no smoothing in the numerator (1e-7 in the denominator: an empty class gives loss 1)"),
    ),
    references=("Salehi, Erdogmus and Gholipour, 'Tversky loss function for image segmentation using 3D fully "
                "convolutional deep networks', MLMI 2017",
                "https://docs.monai.io/en/stable/losses.html#tverskyloss"),
    example="""
        >>> import numpy as np
        >>> import losskit as lk
        >>> y_true = np.array([[[1.0], [1.0], [0.0], [0.0]]])
        >>> y_pred = np.array([[[0.5], [1.0], [0.0], [0.5]]])     # TP = 1.5, FP = 0.5, FN = 0.5
        >>> round(float(lk.tversky(y_true, y_pred, alpha=0.3, beta=0.7, smooth=1e-12)), 6)  # 1 - 1.5 / 2
        0.25
    """,
))

focal_tversky = register(Loss(
    name="focal_tversky",
    aliases=("focal_tversky_loss",),
    kernel=_reduced(_focal_tversky_terms),
    check_inputs=_check,
    params=(_ALPHA, _BETA,
            Param("gamma", 0.75, "> 0",
                  "Exponent of the Tversky loss: below 1 it raises small losses, focusing on the masks already "
                  "mostly right (Abraham and Khan's 1 / gamma with their gamma = 4/3).", V.positive),
            _SMOOTH, _BATCH),
    task="segmentation", kind="overlap", prediction_space="probabilities", label_format="binary",
    summary=f"Focal Tversky loss tversky**gamma (Abraham and Khan 2019), {_SUMMARY_SHAPES}.",
    formula=r"\ell_{nc} = T_{nc}^{\gamma},\ T_{nc} = 1 - \frac{TP + s}{TP + \alpha FP + \beta FN + s}",
    gradient_formula=r"\partial\ell_{nc}/\partial p_i = \gamma T_{nc}^{\gamma - 1}\,\partial T_{nc}/\partial p_i"
                     r"\ (0 \text{ where } T_{nc} = 0 \text{ and } \gamma < 1)",
    output_activation="softmax, sigmoid",
    convex=False, robust_to_outliers=False, differentiable=True,
    description="""
        The Tversky loss of each sample and class raised to gamma (shapes, regions and the
        alpha/beta convention as tversky). Abraham and Khan write (1 - TI)^(1/gamma) with
        gamma = 4/3; losskit's gamma is their 1/gamma, so the default 0.75 is theirs. gamma < 1
        enlarges the loss (and the gradient) of masks that are nearly right, gamma = 1 is tversky.
        Where the Tversky loss is exactly 0 (a perfect mask, an empty class) the derivative of
        T^gamma is infinite for gamma < 1; losskit uses 0 there, the loss's minimum.
    """,
    when_to_use="Small-lesion segmentation where tversky plateaus once most of the lesion is found "
                "(Abraham and Khan: alpha = 0.3, beta = 0.7, gamma = 0.75).",
    when_not_to_use="Large, balanced structures (dice); gamma < 1 with very small smooth, where the gradient "
                    "near a perfect mask grows without bound.",
    pitfalls=(_EMPTY_MASKS, _REGIONS, _AXIS,
              "gamma is the exponent itself (0.75), not Abraham and Khan's 4/3; some implementations use 1/gamma.",
              "For gamma < 1 the gradient grows like T^(gamma - 1) as the loss goes to 0: at T = 0 it is set to 0.",
              "MONAI's AsymmetricFocalTverskyLoss is another loss (binary, a background term, exponent 1 - gamma)."),
    equivalents=(
        Equivalent("monai", "monai.losses.TverskyLoss(alpha=alpha, beta=beta, smooth_nr=smooth, smooth_dr=smooth, "
                            "batch=batch, reduction='none')(y_pred, y_true) ** gamma", "equal",
                   f"MONAI has no focal Tversky loss; its TverskyLoss per sample and class, raised to gamma, then "
                   f"reduced, {_MONAI_LAYOUT}"),
    ),
    references=("Abraham and Khan, 'A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion "
                "Segmentation', ISBI 2019",),
    example="""
        >>> import numpy as np
        >>> import losskit as lk
        >>> y_true = np.array([[[1.0], [1.0], [0.0], [0.0]]])
        >>> y_pred = np.array([[[0.5], [1.0], [0.0], [0.5]]])
        >>> round(float(lk.focal_tversky(y_true, y_pred, gamma=0.5, smooth=1e-12)), 6)  # sqrt(0.25)
        0.5
    """,
))

__test__ = {name: globals()[name].__doc__ for name in __all__}
