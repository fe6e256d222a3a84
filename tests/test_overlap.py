"""The overlap (segmentation) losses against MONAI, kornia and Keras, and their own properties.

MONAI is the reference of dice, jaccard and tversky (value and autograd gradient, every reduction,
``batch``, 2-D and 3-D masks, channels-first through ``axis=1``); focal_tversky is checked against
MONAI's TverskyLoss raised to gamma and against its definition. Empty and one-pixel masks, the
``alpha``/``beta`` convention, the gradient at a perfect mask, finite differences, and the PyTorch,
JAX and Keras doors are pinned here too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
monai_losses = pytest.importorskip("monai.losses")

OVERLAP = [lk.dice, lk.jaccard, lk.tversky, lk.focal_tversky]
SMOOTH = 1e-5


# ------------------------------------------------------------------------------------ inputs

def _masks(shape, seed=0, *, empty_class=True, one_pixel=True):
    """One-hot targets and softmax predictions (N, *spatial, C), with an empty class and a one-pixel mask."""
    rng = np.random.default_rng(seed)
    num_classes = shape[-1]
    labels = rng.integers(0, num_classes - 1 if empty_class else num_classes, size=shape[:-1])
    if one_pixel:  # class 1 is a single pixel of the first sample only
        labels = np.where(labels == 1, 0, labels)
        labels.reshape(-1)[3] = 1
    y_true = np.eye(num_classes)[labels]
    logits = rng.normal(0.0, 2.0, size=shape)
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    if empty_class:  # the last class: nothing in the target and nothing predicted in sample 0
        y_pred[0, ..., -1] = 0.0
        y_pred[0] /= y_pred[0].sum(-1, keepdims=True)
    return y_true, y_pred


def _channels_first(x):
    return np.moveaxis(x, -1, 1)


# ------------------------------------------------------------------------------------- MONAI

def _monai_loss(name, params, reduction):
    smooth = params.get("smooth", SMOOTH)
    batch = params.get("batch", False)
    if name == "dice":
        return monai_losses.DiceLoss(smooth_nr=smooth, smooth_dr=smooth, squared_pred=params.get("squared", False),
                                     batch=batch, reduction=reduction)
    if name == "jaccard":  # (2I + s) / (2U + s): losskit's formula at smooth = s / 2
        return monai_losses.DiceLoss(jaccard=True, smooth_nr=2 * smooth, smooth_dr=2 * smooth, batch=batch,
                                     reduction=reduction)
    return monai_losses.TverskyLoss(alpha=params.get("alpha", 0.5), beta=params.get("beta", 0.5), smooth_nr=smooth,
                                    smooth_dr=smooth, batch=batch, reduction=reduction)


def _monai_value_and_grad(name, y_true, y_pred, params, reduction, sample_weight=None):
    """MONAI's value and autograd gradient on losskit's channels-last masks (weights applied to its 'none')."""
    gamma = params.get("gamma", 0.75) if name == "focal_tversky" else None
    terms = reduction == "none" or sample_weight is not None or gamma is not None
    criterion = _monai_loss(name, params, "none" if terms else reduction)
    p = torch.tensor(_channels_first(y_pred), requires_grad=True)
    value = criterion(p, torch.tensor(_channels_first(y_true)))
    if terms:
        value = value.reshape((y_pred.shape[-1],) if params.get("batch") else (y_pred.shape[0], y_pred.shape[-1]))
        if gamma is not None:
            value = value**gamma
        if sample_weight is not None:
            w = torch.tensor(sample_weight).reshape(sample_weight.shape + (1,) * (value.ndim - sample_weight.ndim))
            w = w.expand(value.shape)
        else:
            w = torch.ones_like(value)
        if reduction == "sum":
            value = (w * value).sum()
        elif reduction == "mean":
            value = (w * value).sum() / w.sum()
        else:
            value = w * value
    value.sum().backward()
    return value.detach().numpy(), np.moveaxis(p.grad.numpy(), 1, -1)


SETTINGS = [
    ("dice", {}), ("dice", {"squared": True}), ("dice", {"batch": True}), ("dice", {"smooth": 0.5}),
    ("dice", {"squared": True, "batch": True}),
    ("jaccard", {}), ("jaccard", {"batch": True}), ("jaccard", {"smooth": 1.0}),
    ("tversky", {}), ("tversky", {"alpha": 0.3, "beta": 0.7}), ("tversky", {"alpha": 0.9, "beta": 0.1, "batch": True}),
    ("tversky", {"alpha": 1.0, "beta": 1.0, "smooth": 0.1}),
    ("focal_tversky", {}), ("focal_tversky", {"alpha": 0.3, "beta": 0.7, "gamma": 0.5}),
    ("focal_tversky", {"gamma": 2.0, "batch": True}),
]
SETTING_IDS = [f"{name}-{','.join(f'{k}={v}' for k, v in params.items()) or 'defaults'}" for name, params in SETTINGS]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 4, 4, 3), (2, 3, 4, 2, 3)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("name, params", SETTINGS, ids=SETTING_IDS)
def test_value_and_gradient_equal_monai(name, params, shape, reduction):
    # focal_tversky's empty class (T = 0) has MONAI's T**gamma gradient at inf: see its own test.
    y_true, y_pred = _masks(shape, empty_class=name != "focal_tversky")
    expected, expected_grad = _monai_value_and_grad(name, y_true, y_pred, params, reduction)
    value, grad = lk.get(name).value_and_grad(y_true, y_pred, reduction=reduction, **params)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("name, params", SETTINGS, ids=SETTING_IDS)
def test_weighted_value_and_gradient_equal_monai_weighted_here(name, params, reduction):
    shape = (3, 4, 4, 3)
    y_true, y_pred = _masks(shape, empty_class=name != "focal_tversky")
    weight = np.array([0.5, 2.0, 1.5]) if not params.get("batch") else np.array([1.0, 0.0, 3.0])  # per class
    expected, expected_grad = _monai_value_and_grad(name, y_true, y_pred, params, reduction, weight)
    value, grad = lk.get(name).value_and_grad(y_true, y_pred, reduction=reduction, sample_weight=weight, **params)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)


def test_weights_per_sample_and_class_equal_monai_weighted_terms():
    y_true, y_pred = _masks((2, 3, 3, 4))
    weight = np.arange(1.0, 9.0).reshape(2, 4)
    expected, expected_grad = _monai_value_and_grad("dice", y_true, y_pred, {}, "mean", weight)
    value, grad = lk.dice.value_and_grad(y_true, y_pred, sample_weight=weight)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, params", SETTINGS, ids=SETTING_IDS)
def test_channels_first_with_axis_1_equals_monai_on_its_own_layout(name, params):
    y_true, y_pred = _masks((2, 4, 5, 3), empty_class=name != "focal_tversky")
    expected, expected_grad = _monai_value_and_grad(name, y_true, y_pred, params, "none")
    loss = lk.get(name)
    value = loss(_channels_first(y_true), _channels_first(y_pred), axis=1, reduction="none", **params)
    grad = loss.grad(_channels_first(y_true), _channels_first(y_pred), axis=1, reduction="none", **params)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-14)
    assert grad.shape == _channels_first(y_pred).shape
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1), expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, params", SETTINGS[:12], ids=SETTING_IDS[:12])
def test_float32_equals_monai_in_float32(name, params):
    y_true, y_pred = (a.astype(np.float32) for a in _masks((2, 8, 8, 3)))
    p = torch.tensor(_channels_first(y_pred), requires_grad=True)
    expected = _monai_loss(name, params, "mean")(p, torch.tensor(_channels_first(y_true)))
    expected.backward()
    value, grad = lk.get(name).value_and_grad(y_true, y_pred, **params)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(grad, np.moveaxis(p.grad.numpy(), 1, -1), rtol=1e-4, atol=1e-6)


def test_unreduced_shapes_are_per_sample_and_class_or_per_class_with_batch():
    y_true, y_pred = _masks((2, 4, 4, 3))
    for loss in OVERLAP:
        assert loss(y_true, y_pred, reduction="none").shape == (2, 3)
        assert loss(y_true, y_pred, reduction="none", batch=True).shape == (3,)
        assert loss.grad(y_true, y_pred, reduction="none", batch=True).shape == y_pred.shape


# -------------------------------------------------------------------------- empty and tiny masks

@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_empty_masks_score_zero_with_the_gradient_of_monai(loss):
    zeros = np.zeros((2, 4, 4, 3))
    value, grad = loss.value_and_grad(zeros, zeros, reduction="none")
    np.testing.assert_array_equal(value, np.zeros((2, 3)))
    assert np.all(np.isfinite(grad))
    if loss is lk.focal_tversky:  # T = 0: the minimum, where the gradient of T^0.75 is taken as 0
        np.testing.assert_array_equal(grad, 0.0)
        return
    # Predicted mass in an empty class is a false positive: d loss / d p = weight_FP / smooth.
    weight_fp = {"dice": 1.0, "jaccard": 1.0, "tversky": 0.5}[loss.name]
    np.testing.assert_allclose(grad, weight_fp / SMOOTH, rtol=1e-12)
    _, expected_grad = _monai_value_and_grad(loss.name, zeros, zeros, {}, "none")
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_a_class_absent_from_both_masks_scores_zero_and_does_not_change_the_others(loss):
    y_true, y_pred = _masks((2, 4, 4, 3), empty_class=False)
    padded_true = np.concatenate([y_true, np.zeros(y_true.shape[:-1] + (1,))], axis=-1)
    padded_pred = np.concatenate([y_pred, np.zeros(y_pred.shape[:-1] + (1,))], axis=-1)
    values = loss(padded_true, padded_pred, reduction="none")
    np.testing.assert_array_equal(values[:, -1], 0.0)
    np.testing.assert_allclose(values[:, :-1], loss(y_true, y_pred, reduction="none"), rtol=1e-15)


@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_one_pixel_mask_found_exactly_scores_zero_and_missed_scores_almost_one(loss):
    y_true = np.zeros((1, 6, 6, 1))
    y_true[0, 2, 3, 0] = 1.0
    assert float(loss(y_true, y_true.copy())) == 0.0
    np.testing.assert_allclose(loss(y_true, np.zeros_like(y_true)), 1.0, rtol=1e-4)
    shifted = np.roll(y_true, 1, axis=1)  # the right size, one pixel off
    np.testing.assert_allclose(loss(y_true, shifted), 1.0, rtol=1e-4)


@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_perfect_masks_score_exactly_zero_not_a_rounding_residue(loss):
    y_true, _ = _masks((2, 5, 5, 3), empty_class=False)
    value = loss(y_true, y_true.copy(), reduction="none")
    np.testing.assert_array_equal(value, 0.0)


def test_a_near_perfect_mask_keeps_its_digits():
    # (FP + FN) / den instead of 1 - (2TP + s) / den: no cancellation at a loss of 1e-12.
    y_true = np.zeros((1, 1000, 1))
    y_true[0, :500] = 1.0
    y_pred = y_true.copy()
    y_pred[0, 0] = 1.0 - 2.0**-30  # FN = 2^-30 exactly
    expected = 2.0**-30 / (1000.0 - 2.0**-30 + SMOOTH)
    np.testing.assert_allclose(lk.dice(y_true, y_pred), expected, rtol=1e-9)


# --------------------------------------------------------------------------- relations

def test_tversky_at_one_half_is_dice_and_at_one_is_jaccard():
    y_true, y_pred = _masks((2, 4, 4, 3))
    dice_terms = lk.dice(y_true, y_pred, smooth=2e-5, reduction="none")
    # Dice = (0.5 FP + 0.5 FN) / (TP + 0.5 FP + 0.5 FN + smooth / 2): Tversky at alpha = beta = 0.5.
    np.testing.assert_allclose(lk.tversky(y_true, y_pred, smooth=1e-5, reduction="none"), dice_terms, rtol=1e-14)
    np.testing.assert_allclose(lk.tversky(y_true, y_pred, alpha=1.0, beta=1.0, reduction="none"),
                               lk.jaccard(y_true, y_pred, reduction="none"), rtol=1e-14)


def test_jaccard_is_dice_over_two_minus_dice_without_smoothing():
    y_true, y_pred = _masks((2, 4, 4, 3))
    dice_score = 1.0 - lk.dice(y_true, y_pred, smooth=1e-300, reduction="none")
    iou = 1.0 - lk.jaccard(y_true, y_pred, smooth=1e-300, reduction="none")
    np.testing.assert_allclose(iou, dice_score / (2.0 - dice_score), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 0.75, 1.0, 2.0, 3.0])
def test_focal_tversky_is_tversky_to_the_power_gamma(gamma):
    y_true, y_pred = _masks((2, 4, 4, 3), empty_class=False)  # T > 0 everywhere
    params = {"alpha": 0.3, "beta": 0.7}
    t, t_grad = lk.tversky.value_and_grad(y_true, y_pred, reduction="none", **params)
    value, grad = lk.focal_tversky.value_and_grad(y_true, y_pred, reduction="none", gamma=gamma, **params)
    np.testing.assert_allclose(value, t**gamma, rtol=1e-13)
    terms = lk.tversky(y_true, y_pred, reduction="none", **params)
    # Chain rule per (sample, class): each term's gradient is gamma T^(gamma - 1) times Tversky's.
    tversky_grad_terms = _per_term_gradients(lk.tversky, y_true, y_pred, params)
    expected = sum(gamma * terms[n, c] ** (gamma - 1) * tversky_grad_terms[n, c]
                   for n in range(terms.shape[0]) for c in range(terms.shape[1]))
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
    if gamma == 1.0:
        np.testing.assert_allclose(grad, t_grad, rtol=1e-14)


def _per_term_gradients(loss, y_true, y_pred, params):
    """d loss[n, c] / d y_pred for every term, by weighting one term at a time."""
    n, c = y_pred.shape[0], y_pred.shape[-1]
    out = np.empty((n, c) + y_pred.shape)
    for i in range(n):
        for j in range(c):
            weight = np.zeros((n, c))
            weight[i, j] = 1.0
            out[i, j] = loss.grad(y_true, y_pred, sample_weight=weight, reduction="sum", **params)
    return out


def test_focal_tversky_at_an_empty_class_is_finite_where_monai_tversky_to_the_gamma_is_not():
    y_true, y_pred = _masks((2, 4, 4, 3))  # the last class is empty in sample 0: T = 0
    _, theirs = _monai_value_and_grad("focal_tversky", y_true, y_pred, {}, "mean")
    value, grad = lk.focal_tversky.value_and_grad(y_true, y_pred)
    assert not np.all(np.isfinite(theirs[0, ..., -1]))  # 0.75 * 0^-0.25 * dT
    np.testing.assert_array_equal(grad[0, ..., -1], 0.0)
    # Everywhere else the two agree.
    np.testing.assert_allclose(grad[..., :-1], theirs[..., :-1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad[1], theirs[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 0.75])
def test_focal_tversky_gradient_is_zero_at_a_perfect_mask_and_finite_near_it(gamma):
    y_true, _ = _masks((1, 8, 2), empty_class=False, one_pixel=False)
    value, grad = lk.focal_tversky.value_and_grad(y_true, y_true.copy(), gamma=gamma)
    assert float(value) == 0.0 and np.all(grad == 0.0)
    near = np.clip(y_true + np.where(y_true > 0, -1e-6, 1e-6), 0.0, 1.0)
    value, grad = lk.focal_tversky.value_and_grad(y_true, near, gamma=gamma)
    assert float(value) > 0.0 and np.all(np.isfinite(grad))


def test_alpha_weighs_false_positives_and_beta_false_negatives():
    y_true = np.zeros((1, 4, 1))
    y_true[0, :2] = 1.0
    false_positive = np.array([[[1.0], [1.0], [1.0], [0.0]]])  # TP = 2, FP = 1, FN = 0
    false_negative = np.array([[[1.0], [0.0], [0.0], [0.0]]])  # TP = 1, FP = 0, FN = 1
    s = 1e-12
    np.testing.assert_allclose(lk.tversky(y_true, false_positive, alpha=0.8, beta=0.2, smooth=s), 0.8 / 2.8)
    np.testing.assert_allclose(lk.tversky(y_true, false_negative, alpha=0.8, beta=0.2, smooth=s), 0.2 / 1.2)


# -------------------------------------------------------------------------- other frameworks

def test_keras_tversky_alpha_multiplies_the_false_negatives():
    keras = pytest.importorskip("keras")
    y_true, y_pred = (a.astype(np.float32) for a in _masks((2, 4, 4, 3), empty_class=False))
    loss = keras.losses.Tversky(alpha=0.8, beta=0.2, axis=(1, 2), reduction="none")
    theirs = np.asarray(loss(y_true, y_pred))
    np.testing.assert_allclose(lk.tversky(y_true, y_pred, alpha=0.2, beta=0.8, reduction="none"), theirs, rtol=1e-4)
    assert not np.allclose(lk.tversky(y_true, y_pred, alpha=0.8, beta=0.2, reduction="none"), theirs, rtol=1e-2)


def test_keras_dice_scores_an_empty_class_one_where_losskit_scores_zero():
    keras = pytest.importorskip("keras")
    y_true, y_pred = (a.astype(np.float32) for a in _masks((2, 4, 4, 3)))
    theirs = np.asarray(keras.losses.Dice(axis=(1, 2), reduction="none")(y_true, y_pred))
    ours = lk.dice(y_true, y_pred, reduction="none")
    np.testing.assert_allclose(theirs[0, -1], 1.0)
    np.testing.assert_array_equal(ours[0, -1], 0.0)
    np.testing.assert_allclose(ours[1:], theirs[1:], rtol=1e-4)


@pytest.mark.parametrize("name", ["dice", "tversky"])
def test_kornia_macro_mean_equals_losskit_with_every_class_present_and_no_smoothing(name):
    kornia = pytest.importorskip("kornia")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=(2, 6, 6))
    labels[:, 0, :3] = [0, 1, 2]  # every class in every sample
    y_true = np.eye(3)[labels]
    logits = rng.normal(size=(2, 6, 6, 3))
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    x = torch.tensor(np.moveaxis(logits, -1, 1), requires_grad=True)
    if name == "dice":
        theirs = kornia.losses.dice_loss(x, torch.tensor(labels), average="macro", eps=1e-300)
        ours = lk.dice(y_true, y_pred, smooth=1e-300)
    else:
        theirs = kornia.losses.tversky_loss(x, torch.tensor(labels), alpha=0.3, beta=0.7, eps=1e-300)
        ours = lk.tversky(y_true, y_pred, alpha=0.3, beta=0.7, smooth=1e-300)
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12)


# ------------------------------------------------------------------------- the autodiff doors

@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_torch_autograd_is_the_analytic_gradient(loss, reduction):
    y_true, y_pred = _masks((2, 4, 4, 3))
    weight = np.array([0.5, 2.0])
    p = torch.tensor(y_pred, requires_grad=True)
    value = loss(torch.tensor(y_true), p, reduction=reduction, sample_weight=torch.tensor(weight))
    upstream = torch.linspace(0.5, 1.5, value.numel(), dtype=value.dtype).reshape(value.shape)
    (value * upstream).sum().backward()
    # The analytic gradient of sum(upstream * w * l): upstream folded into the per-term weights.
    terms_weight = upstream.numpy() if reduction == "none" else None
    if reduction == "none":
        expected = loss.grad(y_true, y_pred, reduction="sum", sample_weight=weight[:, None] * terms_weight)
    else:
        expected = float(upstream) * loss.grad(y_true, y_pred, reduction=reduction, sample_weight=weight)
    np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_torch_autograd_on_channels_first_with_batch(loss):
    y_true, y_pred = _masks((3, 4, 4, 3))
    p = torch.tensor(_channels_first(y_pred), requires_grad=True)
    loss(torch.tensor(_channels_first(y_true)), p, axis=1, batch=True).backward()
    expected = loss.grad(y_true, y_pred, batch=True)
    np.testing.assert_allclose(np.moveaxis(p.grad.numpy(), 1, -1), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_jax_jit_grad_is_the_analytic_gradient(loss, reduction):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    y_true, y_pred = _masks((2, 4, 4, 3))
    weight = np.array([0.5, 2.0])
    upstream = np.linspace(0.5, 1.5, 6).reshape(2, 3)

    def objective(p):
        value = loss(jnp.asarray(y_true), p, reduction=reduction, sample_weight=jnp.asarray(weight), alpha=0.3) \
            if "alpha" in loss.defaults else loss(jnp.asarray(y_true), p, reduction=reduction,
                                                  sample_weight=jnp.asarray(weight))
        return jnp.sum(value * upstream) if reduction == "none" else value

    grad = jax.jit(jax.grad(objective))(jnp.asarray(y_pred))
    params = {"alpha": 0.3} if "alpha" in loss.defaults else {}
    if reduction == "none":
        expected = loss.grad(y_true, y_pred, reduction="sum", sample_weight=weight[:, None] * upstream, **params)
    else:
        expected = loss.grad(y_true, y_pred, sample_weight=weight, **params)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("name, params", SETTINGS, ids=SETTING_IDS)
def test_gradient_equals_central_finite_differences(name, params, batch):
    loss = lk.get(name)
    params = {**params, "batch": batch or params.get("batch", False)}
    y_true, y_pred = _masks((2, 3, 3, 3), empty_class=False)
    y_pred = np.clip(y_pred, 0.05, 0.95)  # the step stays inside [0, 1]
    weight = np.array([0.7, 1.9, 1.1]) if params["batch"] else np.array([0.7, 1.9])
    grad = loss.grad(y_true, y_pred, sample_weight=weight, **params)
    h = 1e-6
    numeric = np.empty_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (float(loss(y_true, up, sample_weight=weight, **params))
                          - float(loss(y_true, down, sample_weight=weight, **params))) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------------- adapters

@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_torch_module_takes_channels_first_masks_with_axis_1(loss):
    import losskit.torch as lkt

    y_true, y_pred = _masks((2, 4, 4, 3))
    module = lkt.module_class(loss.name)(axis=1, reduction="sum", smooth=0.1)
    p = torch.tensor(_channels_first(y_pred), requires_grad=True)
    value = module(p, torch.tensor(_channels_first(y_true)))
    value.backward()
    np.testing.assert_allclose(float(value), loss(y_true, y_pred, reduction="sum", smooth=0.1), rtol=1e-13)
    np.testing.assert_allclose(np.moveaxis(p.grad.numpy(), 1, -1),
                               loss.grad(y_true, y_pred, reduction="sum", smooth=0.1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_keras_loss_averages_the_terms_and_spreads_a_per_sample_weight_over_the_classes(loss):
    pytest.importorskip("keras")
    import losskit.keras as lkk

    y_true, y_pred = (a.astype(np.float32) for a in _masks((2, 4, 4, 3)))
    weight = np.array([1.0, 3.0], dtype=np.float32)
    cls = lkk.loss_class(loss.name)
    np.testing.assert_allclose(float(cls()(y_true, y_pred)), loss(y_true, y_pred), rtol=1e-6)
    weighted = cls(reduction="mean_with_sample_weight")(y_true, y_pred, sample_weight=weight)
    np.testing.assert_allclose(float(weighted), loss(y_true, y_pred, sample_weight=weight), rtol=1e-6)
    pooled = cls(batch=True)(y_true, y_pred)
    np.testing.assert_allclose(float(pooled), loss(y_true, y_pred, batch=True), rtol=1e-6)


# ---------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_logits_instead_of_probabilities_raise_pointing_to_softmax_or_sigmoid(loss):
    y_true, y_pred = _masks((2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"y_pred must be a probability in \[0, 1\].*softmax.*sigmoid"):
        loss(y_true, np.log(y_pred + 1e-3))


@pytest.mark.parametrize("loss", OVERLAP, ids=lambda loss: loss.name)
def test_labels_outside_the_unit_interval_name_y_true(loss):
    y_true, y_pred = _masks((2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"y_true must be a probability in \[0, 1\]"):
        loss(2.0 * y_true, y_pred)


def test_axis_0_is_refused_as_the_batch_axis():
    y_true, y_pred = _masks((3, 4, 4, 3))
    with pytest.raises(ValueError, match="axis=0 is the batch axis of dice"):
        lk.dice(y_true, y_pred, axis=0)


def test_masks_without_a_batch_axis_are_refused():
    with pytest.raises(ValueError, match=r"batch axis first and a class axis"):
        lk.dice(np.array([1.0, 0.0]), np.array([0.5, 0.5]))


def test_sample_weight_with_batch_is_one_weight_per_class():
    y_true, y_pred = _masks((2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"sample_weight has shape \(2,\).*not a prefix.*\(3,\)"):
        lk.dice(y_true, y_pred, batch=True, sample_weight=np.ones(2))


def test_the_lab_refuses_overlap_losses_and_names_the_torch_module():
    lab = pytest.importorskip("losskit.lab.models")
    with pytest.raises(ValueError, match=r"losskit.torch.Dice"):
        lab.head_for(lk.dice, "multiclass", 3)


# ---------------------------------------------------------------------------------- plotting

def test_plot_draws_loss_and_gradient_against_the_logit_of_the_right_mask():
    pytest.importorskip("matplotlib")
    figure = lk.plot("dice", "tversky", "focal_tversky", x_range=(-3.0, 3.0), num_points=301)
    loss_axis, grad_axis = figure.axes
    assert [line.get_label() for line in loss_axis.lines] == ["dice", "tversky", "focal_tversky"]
    for loss_line, grad_line in zip(loss_axis.lines, grad_axis.lines):
        z, values = loss_line.get_data()
        _, gradients = grad_line.get_data()
        assert values[0] > 0.9 and values[-1] < 0.2  # wrong mask to right mask
        assert np.all(np.diff(values) < 0)
        # The gradient panel is d loss / d z: it matches the slope of the loss curve.
        np.testing.assert_allclose(gradients[1:-1], np.gradient(values, z)[1:-1], rtol=2e-3, atol=1e-4)
    # z = 0: p = 1/2 everywhere, FP + FN = 1.5 + 0.5 over sum(y) + sum(p) = 3.
    assert math.isclose(float(loss_axis.lines[0].get_data()[1][150]), 2.0 / 3.0, rel_tol=1e-4)
