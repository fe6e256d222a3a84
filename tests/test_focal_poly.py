"""Focal, Poly-1, z-loss and class-balanced weights (issue 11, imbalance and classification).

Against the frameworks that define them (Optax's ``sigmoid_focal_loss`` and
``poly_loss_cross_entropy``, Keras' ``BinaryFocalCrossentropy`` and
``CategoricalFocalCrossentropy``), value and gradient (JAX autodiff of the framework's function),
and against torchvision's ``sigmoid_focal_loss`` formula. torchvision cannot be installed next to
the pinned torch wheel here, so its documented formula is written out below in torch and
differentiated by autograd: an independent reference, not torchvision itself.

The extremes are checked against 50-digit arithmetic (mpmath): at logits of +-1e4 and at
confidently right logits, for every gamma in {0, 0.5, 1, 2, 5}, the value and the gradient must be
finite and equal to the exact ones (where the exact gradient of (1 - p_t)^gamma for gamma < 1 is
a limit that probability-space formulas turn into NaN).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk

GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)
EXTREME_LOGITS = np.array([1e4, -1e4, 50.0, -50.0, 745.0, -745.0, 1e-3, 0.0, 30.0, -30.0])

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 50


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(actual, expected, rtol=1e-12, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol)


def _finite_difference(f, x, step=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (f(up) - f(down)) / (2 * step)
    return grad


# ------------------------------------------------------------------------ exact references

def _mp_sigmoid_focal(y, x, gamma, alpha):
    """The sigmoid focal loss of one element and its derivative in x, to 50 digits."""
    y, x = mpmath.mpf(y), mpmath.mpf(x)

    def loss(t):
        # p and 1 - p each as 1 / (1 + e^-+t), their logs with log1p: no cancellation at any t.
        p, q = 1 / (1 + mpmath.exp(-t)), 1 / (1 + mpmath.exp(t))
        ce = y * mpmath.log1p(mpmath.exp(-t)) + (1 - y) * mpmath.log1p(mpmath.exp(t))
        one_minus_pt = y * q + (1 - y) * p
        weight = 1 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
        return weight * (one_minus_pt ** gamma if gamma else 1) * ce

    return float(loss(x)), float(mpmath.diff(loss, x))


def _mp_softmax_focal(labels, logits, gamma):
    """-sum_c y_c (1 - p_c)^gamma log p_c of one row and its gradient, to 50 digits."""
    x = [mpmath.mpf(v) for v in logits]

    def loss(*row):
        top = max(row)
        norm = top + mpmath.log(sum(mpmath.exp(v - top) for v in row))
        total = mpmath.mpf(0)
        for c, y in enumerate(labels):
            if y:
                log_p = row[c] - norm
                # 1 - p_c = sum of the others' exps over the sum: no cancellation at p_c ~ 1.
                complement = sum(mpmath.exp(v - norm) for k, v in enumerate(row) if k != c)
                total -= y * (complement ** gamma if gamma else 1) * log_p
        return total

    gradient = [float(mpmath.diff(lambda t, c=c: loss(*(x[:c] + [t] + x[c + 1:])), x[c])) for c in range(len(x))]
    return float(loss(*x)), np.array(gradient)


def _torchvision_sigmoid_focal(torch, logits, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss(reduction="none") as documented (alpha < 0 disables alpha)."""
    p = torch.sigmoid(logits)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


# ------------------------------------------------------------------------------ sigmoid_focal

def _binary_case(seed=0, size=40, soft=False):
    rng = _rng(seed)
    labels = rng.uniform(0, 1, size) if soft else (rng.random(size) < 0.3).astype(float)
    return labels, 3.0 * rng.normal(size=size)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_sigmoid_focal_equals_optax_value_and_gradient(gamma, alpha, soft):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jnp = jax.numpy
    y, x = _binary_case(soft=soft)

    def reference(logits):
        return jnp.sum(optax.losses.sigmoid_focal_loss(logits, jnp.asarray(y), alpha=alpha, gamma=gamma))

    value, grad = lk.sigmoid_focal.value_and_grad(y, x, gamma=gamma, alpha=alpha, reduction="sum")
    _close(value, reference(jnp.asarray(x)))
    _close(grad, jax.grad(reference)(jnp.asarray(x)), atol=1e-15)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_equals_keras_binary_focal_crossentropy(gamma, alpha):
    jax = pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    y, x = _binary_case(seed=1)
    x = np.clip(x, -8.0, 8.0)  # Keras clips the sigmoid at 1e-7: equal only within |x| < ~16
    balancing = {} if alpha is None else {"apply_class_balancing": True, "alpha": alpha}

    def reference(logits):
        per_element = keras.losses.binary_focal_crossentropy(y[:, None], logits[:, None], from_logits=True,
                                                             gamma=gamma, **balancing)
        return jax.numpy.sum(per_element)

    value, grad = lk.sigmoid_focal.value_and_grad(y, x, gamma=gamma, alpha=alpha, reduction="sum")
    _close(value, reference(jax.numpy.asarray(x)), rtol=1e-6)
    _close(grad, jax.grad(reference)(jax.numpy.asarray(x)), rtol=1e-6, atol=1e-12)


def test_keras_label_smoothing_is_smoothing_the_labels_first():
    keras = pytest.importorskip("keras")
    y, x = _binary_case(seed=2)
    smoothing = 0.2
    theirs = keras.losses.binary_focal_crossentropy(y[:, None], x[:, None], from_logits=True, label_smoothing=smoothing)
    ours = lk.sigmoid_focal(y * (1 - smoothing) + 0.5 * smoothing, x, reduction="none")
    _close(ours, np.asarray(theirs), rtol=1e-6)


def test_keras_alpha_is_ignored_without_class_balancing():
    keras = pytest.importorskip("keras")
    y, x = _binary_case(seed=3)
    theirs = keras.losses.binary_focal_crossentropy(y[:, None], x[:, None], from_logits=True, alpha=0.1)
    _close(lk.sigmoid_focal(y, x, reduction="none"), np.asarray(theirs), rtol=1e-6)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, 0.25, 0.75])
def test_sigmoid_focal_equals_the_torchvision_formula(gamma, alpha):
    torch = pytest.importorskip("torch")
    y, x = _binary_case(seed=4)
    logits = torch.tensor(np.clip(x, -20, 20), requires_grad=True)
    # torchvision spells "no alpha" as alpha=-1 (its default is 0.25, losskit's None).
    theirs = _torchvision_sigmoid_focal(torch, logits, torch.tensor(y), alpha=-1 if alpha is None else alpha,
                                        gamma=gamma)
    theirs.sum().backward()
    value, grad = lk.sigmoid_focal.value_and_grad(y, logits.detach().numpy(), gamma=gamma, alpha=alpha,
                                                  reduction="none")
    _close(value, theirs.detach().numpy())
    _close(grad, logits.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("label", [0.0, 1.0, 0.3])
def test_sigmoid_focal_is_exact_and_finite_at_extreme_logits(gamma, alpha, label):
    y = np.full(EXTREME_LOGITS.shape, label)
    value, grad = lk.sigmoid_focal.value_and_grad(y, EXTREME_LOGITS, gamma=gamma, alpha=alpha, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    exact = np.array([_mp_sigmoid_focal(label, x, gamma, alpha) for x in EXTREME_LOGITS])
    _close(value, exact[:, 0], rtol=1e-12, atol=1e-300)
    _close(grad, exact[:, 1], rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_sigmoid_focal_gradient_is_finite_at_1e4_on_every_backend(gamma):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    y = np.array([1.0, 1.0, 0.0, 0.0, 0.5])
    x = np.array([1e4, -1e4, 1e4, -1e4, 1e4])
    expected = lk.sigmoid_focal.grad(y, x, gamma=gamma, reduction="sum")
    assert np.all(np.isfinite(expected))
    logits = torch.tensor(x, requires_grad=True)
    lk.sigmoid_focal(torch.tensor(y), logits, gamma=gamma, reduction="sum").backward()
    _close(logits.grad.numpy(), expected)
    jitted = jax.jit(jax.grad(lambda t: lk.sigmoid_focal(jax.numpy.asarray(y), t, gamma=gamma, reduction="sum")))
    _close(jitted(jax.numpy.asarray(x)), expected)


def test_sigmoid_focal_gamma_zero_is_sigmoid_cross_entropy_exactly():
    rng = _rng(5)
    y = np.concatenate([rng.uniform(0, 1, 30), (rng.random(30) < 0.5).astype(float), [0.0, 1.0, 0.0, 1.0]])
    x = np.concatenate([5 * rng.normal(size=60), [1e4, -1e4, -1e4, 1e4]])
    for reduction in ("none", "sum", "mean"):
        value, grad = lk.sigmoid_focal.value_and_grad(y, x, gamma=0.0, reduction=reduction)
        ce_value, ce_grad = lk.sigmoid_cross_entropy.value_and_grad(y, x, reduction=reduction)
        np.testing.assert_array_equal(value, ce_value)
        np.testing.assert_array_equal(grad, ce_grad)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_soft_label_gradient_matches_finite_differences(gamma):
    y, x = _binary_case(seed=6, size=12, soft=True)
    grad = lk.sigmoid_focal.grad(y, x, gamma=gamma, alpha=0.3, reduction="sum")
    numeric = _finite_difference(lambda t: float(lk.sigmoid_focal(y, t, gamma=gamma, alpha=0.3, reduction="sum")), x)
    _close(grad, numeric, rtol=1e-6, atol=1e-9)


def test_sigmoid_focal_mutes_easy_examples():
    # The same logit margin costs less the better it is classified, relative to the cross-entropy.
    x = np.array([0.5, 2.0, 5.0])
    ratio = lk.sigmoid_focal(np.ones(3), x, reduction="none") / lk.sigmoid_cross_entropy(np.ones(3), x, reduction="none")
    assert np.all(np.diff(ratio) < 0)


# ------------------------------------------------------------------------------ softmax focal

def _class_case(seed=0, shape=(8, 5), soft=False):
    rng = _rng(seed)
    logits = 3.0 * rng.normal(size=shape)
    if soft:
        raw = rng.uniform(0, 1, shape)
        return raw / raw.sum(-1, keepdims=True), logits
    labels = rng.integers(0, shape[-1], shape[:-1])
    return np.eye(shape[-1])[labels], logits


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "soft"])
def test_softmax_focal_equals_keras_categorical_focal_crossentropy(gamma, soft):
    jax = pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    y, x = _class_case(seed=1, soft=soft)

    def reference(logits, alpha=1.0):
        return jax.numpy.sum(keras.losses.categorical_focal_crossentropy(y, logits, alpha=alpha, gamma=gamma,
                                                                         from_logits=True))

    value, grad = lk.softmax_focal.value_and_grad(y, x, gamma=gamma, reduction="sum")
    _close(value, reference(jax.numpy.asarray(x)), rtol=1e-6)
    _close(grad, jax.grad(reference)(jax.numpy.asarray(x)), rtol=1e-6, atol=1e-12)
    # Keras' alpha (default 0.25) multiplies the whole loss; a per-class alpha is class_weight.
    _close(0.25 * value, reference(jax.numpy.asarray(x), alpha=0.25), rtol=1e-6)
    class_weight = np.linspace(0.5, 2.0, 5)
    weighted = lk.softmax_focal(y, x, gamma=gamma, class_weight=class_weight, reduction="none")
    per_sample = keras.losses.categorical_focal_crossentropy(y, x, alpha=list(class_weight), gamma=gamma,
                                                             from_logits=True)
    _close(weighted, np.asarray(per_sample), rtol=1e-6)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_softmax_focal_is_exact_and_finite_at_extreme_logits(gamma):
    rows = np.array([
        [1e4, -1e4, 0.0, 0.0],
        [1e4, -1e4, 0.0, 0.0],
        [40.0, 0.0, 0.0, 0.0],   # confidently right: 1 - p ~ 1e-17 rounds away in 1 - softmax
        [0.0, 745.0, 0.0, -745.0],
        [-1e4, -1e4, -1e4, -1e4],
        [0.0, 0.0, 0.0, 0.0],
    ])
    labels = np.eye(4)[[0, 1, 0, 1, 3, 2]]
    value, grad = lk.softmax_focal.value_and_grad(labels, rows, gamma=gamma, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    for i in range(len(rows)):
        exact_value, exact_grad = _mp_softmax_focal(labels[i], rows[i], gamma)
        _close(value[i], exact_value, rtol=1e-12, atol=1e-300)
        # Entries of a row's gradient that cancel (p B - b with p ~ 1) are exact to eps of the row.
        _close(grad[i], exact_grad, rtol=1e-10, atol=1e-15 * max(1.0, np.abs(exact_grad).max()))


@pytest.mark.parametrize("gamma", GAMMAS)
def test_focal_gradients_are_finite_at_1e4_through_autograd(gamma):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    labels = np.array([0, 1, 2])
    rows = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    expected = lk.sparse_softmax_focal.grad(labels, rows, gamma=gamma, reduction="sum")
    assert np.all(np.isfinite(expected))
    logits = torch.tensor(rows, requires_grad=True)
    lk.sparse_softmax_focal(torch.tensor(labels), logits, gamma=gamma, reduction="sum").backward()
    _close(logits.grad.numpy(), expected)
    grad = jax.jit(jax.grad(lambda t: lk.softmax_focal(jax.numpy.asarray(np.eye(3)[labels]), t, gamma=gamma,
                                                       reduction="sum")))
    _close(grad(jax.numpy.asarray(rows)), expected)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "soft"])
def test_softmax_focal_gradient_matches_finite_differences(gamma, soft):
    y, x = _class_case(seed=2, shape=(4, 3), soft=soft)
    class_weight = np.array([0.5, 1.0, 2.0])
    grad = lk.softmax_focal.grad(y, x, gamma=gamma, class_weight=class_weight, reduction="sum")
    numeric = _finite_difference(
        lambda t: float(lk.softmax_focal(y, t, gamma=gamma, class_weight=class_weight, reduction="sum")), x)
    _close(grad, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_focal_gamma_zero_is_the_cross_entropy():
    y, x = _class_case(seed=3, soft=True)
    for loss, ce in ((lk.softmax_focal, lk.softmax_cross_entropy),):
        _close(loss(y, x, gamma=0.0, reduction="none"), ce(y, x, reduction="none"), rtol=1e-14)
        _close(loss.grad(y, x, gamma=0.0), ce.grad(y, x), rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sparse_softmax_focal_weighted_mean_is_the_sparse_cross_entropy_convention(gamma):
    rng = _rng(4)
    labels = rng.integers(0, 4, (3, 5))
    labels[0, 1] = labels[2, 3] = -100
    x = 2.0 * rng.normal(size=(3, 5, 4))
    class_weight = np.array([0.5, 1.0, 2.0, 3.0])
    weight = rng.uniform(0.5, 2.0, 3)
    options = dict(gamma=gamma, class_weight=class_weight, ignore_index=-100)
    per_position = lk.sparse_softmax_focal(labels, x, reduction="none", **options)
    keep = labels != -100
    assert np.all(per_position[~keep] == 0)
    denominator = np.sum(weight[:, None] * np.where(keep, class_weight[np.where(keep, labels, 0)], 0.0))
    mean = lk.sparse_softmax_focal(labels, x, sample_weight=weight, **options)
    _close(mean, np.sum(weight[:, None] * per_position) / denominator, rtol=1e-14)
    # The dense twin on one-hot labels (ignored positions dropped) gives the same mean and gradient.
    one_hot = np.eye(4)[np.where(keep, labels, 0)]
    dense = dict(gamma=gamma, class_weight=class_weight)
    rows = (keep,)
    dense_value, dense_grad = lk.softmax_focal.value_and_grad(one_hot[rows], x[rows], **dense, reduction="sum")
    sparse_value, sparse_grad = lk.sparse_softmax_focal.value_and_grad(labels, x, **options, reduction="sum")
    _close(sparse_value, dense_value, rtol=1e-14)
    _close(sparse_grad[keep], dense_grad, rtol=1e-14, atol=1e-17)
    assert np.all(sparse_grad[~keep] == 0)


# ------------------------------------------------------------------------------------ poly-1

@pytest.mark.parametrize("epsilon", [-1.0, 0.0, 2.0, 5.0])
@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "soft"])
def test_poly1_equals_optax_value_and_gradient(epsilon, soft):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    y, x = _class_case(seed=5, soft=soft)

    def reference(logits):
        return jax.numpy.sum(optax.losses.poly_loss_cross_entropy(logits, jax.numpy.asarray(y), epsilon=epsilon))

    value, grad = lk.poly1_cross_entropy.value_and_grad(y, x, epsilon=epsilon, reduction="sum")
    _close(value, reference(jax.numpy.asarray(x)))
    _close(grad, jax.grad(reference)(jax.numpy.asarray(x)), atol=1e-15)


@pytest.mark.parametrize("epsilon", [-1.0, 2.0])
def test_sparse_poly1_equals_optax_on_one_hot_labels_and_ignores_positions(epsilon):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    rng = _rng(6)
    labels = rng.integers(0, 5, 10)
    labels[[2, 7]] = -100
    x = 3.0 * rng.normal(size=(10, 5))
    keep = labels != -100
    one_hot = np.eye(5)[np.where(keep, labels, 0)] * keep[:, None]

    def reference(logits):
        return jax.numpy.sum(optax.losses.poly_loss_cross_entropy(logits, jax.numpy.asarray(one_hot), epsilon=epsilon))

    value, grad = lk.sparse_poly1_cross_entropy.value_and_grad(labels, x, epsilon=epsilon, ignore_index=-100,
                                                               reduction="sum")
    _close(value, reference(jax.numpy.asarray(x)))
    _close(grad, jax.grad(reference)(jax.numpy.asarray(x)), atol=1e-15)
    mean = lk.sparse_poly1_cross_entropy(labels, x, epsilon=epsilon, ignore_index=-100)
    _close(mean, value / keep.sum(), rtol=1e-14)


def test_poly1_with_epsilon_zero_is_the_cross_entropy_exactly():
    y, x = _class_case(seed=7, soft=True)
    labels = _rng(7).integers(0, 5, 8)
    for reduction in ("none", "sum", "mean"):
        pairs = ((lk.poly1_cross_entropy, lk.softmax_cross_entropy, y), (lk.sparse_poly1_cross_entropy,
                                                                         lk.sparse_softmax_cross_entropy, labels))
        for poly, ce, target in pairs:
            value, grad = poly.value_and_grad(target, x, epsilon=0.0, reduction=reduction)
            ce_value, ce_grad = ce.value_and_grad(target, x, reduction=reduction)
            np.testing.assert_array_equal(value, ce_value)
            np.testing.assert_array_equal(grad, ce_grad)
            np.testing.assert_array_equal(poly.hessian(target, x, epsilon=0.0, reduction=reduction),
                                          ce.hessian(target, x, reduction=reduction))


def test_poly1_term_keeps_its_digits_where_p_t_rounds_to_one():
    # p_t = 1 - 2e^-40: 1 - p_t ~ 8.5e-18 is below float64's eps, so 1 - softmax(x) would be 0.
    # (The cross-entropy part is the catalog's cross-entropy, whose log of the row's sum rounds
    # there as PyTorch's does; the polynomial term is the one computed in log space.)
    x = np.array([[40.0, 0.0, 0.0], [-3.0, 37.0, 37.0]])
    labels = np.array([0, 1])
    # 1 - p: 2e^-40 / (1 + 2e^-40) in the first row; 1 - 1 / (2 + e^-40) in the second (a tie at the top).
    complement = np.array([2 * math.exp(-40.0) / (1 + 2 * math.exp(-40.0)), 1 - 1 / (2 + math.exp(-40.0))])
    for loss, target in ((lk.sparse_poly1_cross_entropy, labels), (lk.poly1_cross_entropy, np.eye(3)[labels])):
        term = loss(target, x, epsilon=2.0, reduction="none") - loss(target, x, epsilon=0.0, reduction="none")
        _close(term / 2.0, complement, rtol=1e-12)


@pytest.mark.parametrize("epsilon", [-1.0, 2.0])
def test_poly1_hessian_diagonal_matches_torch_autograd(epsilon):
    torch = pytest.importorskip("torch")
    y, x = _class_case(seed=8, shape=(3, 4), soft=True)
    target = torch.tensor(y)

    def poly(logits):
        p = logits.softmax(-1)
        return (-(target * logits.log_softmax(-1)).sum(-1) + epsilon * (target * (1 - p)).sum(-1)).sum()

    expected = torch.autograd.functional.hessian(poly, torch.tensor(x)).reshape(12, 12).diagonal().reshape(3, 4)
    _close(lk.poly1_cross_entropy.hessian(y, x, epsilon=epsilon, reduction="sum"), expected.numpy(), rtol=1e-12,
           atol=1e-15)


# ------------------------------------------------------------------------------------ z-loss

def _logsumexp(x):
    top = x.max(-1, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(-1, keepdims=True)))[..., 0]


@pytest.mark.parametrize("z_loss", [1e-4, 0.5])
def test_z_loss_adds_z_times_logsumexp_squared_per_sample(z_loss):
    rng = _rng(9)
    x = 3.0 * rng.normal(size=(2, 3, 5)) + 4.0  # shifted logits: logsumexp far from 0
    labels = rng.integers(0, 5, (2, 3))
    y = np.eye(5)[labels]
    term = z_loss * _logsumexp(x) ** 2
    _close(lk.sparse_softmax_cross_entropy(labels, x, z_loss=z_loss, reduction="none"),
           lk.sparse_softmax_cross_entropy(labels, x, reduction="none") + term, rtol=1e-14)
    _close(lk.softmax_cross_entropy(y, x, z_loss=z_loss, reduction="none"),
           lk.softmax_cross_entropy(y, x, reduction="none") + term, rtol=1e-14)


@pytest.mark.parametrize("params", [{}, {"label_smoothing": 0.2}, {"class_weight": np.array([0.5, 1.0, 2.0, 3.0])}],
                         ids=["plain", "smoothing", "class_weight"])
def test_z_loss_gradient_and_hessian_match_finite_differences_and_autograd(params):
    torch = pytest.importorskip("torch")
    rng = _rng(10)
    x = 2.0 * rng.normal(size=(3, 4)) + 1.0
    labels = rng.integers(0, 4, 3)
    options = dict(params, z_loss=0.3, reduction="sum")
    for loss, target in ((lk.sparse_softmax_cross_entropy, labels), (lk.softmax_cross_entropy, np.eye(4)[labels])):
        grad, hess = loss.grad_and_hessian(target, x, **options)
        _close(grad, _finite_difference(lambda t: float(loss(target, t, **options)), x), rtol=1e-6, atol=1e-9)
        # The z-loss part alone, differentiated by torch: 2 z lse p and 2 z p (p + lse (1 - p)).
        base_grad, base_hess = loss.grad_and_hessian(target, x, **dict(options, z_loss=0.0))

        def z_term(logits):
            return 0.3 * (torch.logsumexp(logits, -1) ** 2).sum()

        logits = torch.tensor(x, requires_grad=True)
        z_grad, = torch.autograd.grad(z_term(logits), logits)
        z_hess = torch.autograd.functional.hessian(z_term, torch.tensor(x)).reshape(12, 12).diagonal().reshape(3, 4)
        _close(grad - base_grad, z_grad.numpy(), rtol=1e-12, atol=1e-15)
        _close(hess - base_hess, z_hess.numpy(), rtol=1e-12, atol=1e-15)


def test_z_loss_skips_ignored_positions_and_is_not_class_weighted():
    rng = _rng(11)
    x = 2.0 * rng.normal(size=(6, 4)) + 3.0
    labels = np.array([0, -100, 2, 3, -100, 1])
    keep = labels != -100
    class_weight = np.array([0.5, 1.0, 2.0, 3.0])
    options = dict(ignore_index=-100, class_weight=class_weight)
    with_z = lk.sparse_softmax_cross_entropy(labels, x, z_loss=0.1, reduction="none", **options)
    without = lk.sparse_softmax_cross_entropy(labels, x, reduction="none", **options)
    _close(with_z - without, np.where(keep, 0.1 * _logsumexp(x) ** 2, 0.0), rtol=1e-12)
    grad = lk.sparse_softmax_cross_entropy.grad(labels, x, z_loss=0.1, reduction="none", **options)
    assert np.all(grad[~keep] == 0)
    # 'mean' divides the whole loss, z-loss included, by the summed weights of the kept labels.
    mean = lk.sparse_softmax_cross_entropy(labels, x, z_loss=0.1, **options)
    _close(mean, with_z.sum() / class_weight[labels[keep]].sum(), rtol=1e-14)


def test_z_loss_is_finite_at_extreme_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [0.0, -np.inf, 1.0]])
    labels = np.array([0, 1, 2])
    value, grad = lk.sparse_softmax_cross_entropy.value_and_grad(labels, x, z_loss=1e-4, reduction="none")
    _close(value, [1e-4 * 1e8, 1e-4 * (-1e4 + math.log(3)) ** 2 + math.log(3),
                   1e-4 * math.log1p(math.e) ** 2 + math.log1p(math.exp(-1.0))], rtol=1e-12)
    assert np.all(np.isfinite(grad))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_kernels_without_z_loss_refuse_calls_with_it():
    torch = pytest.importorskip("torch")
    from losskit import _kernels

    rng = _rng(12)
    x = 2.0 * rng.normal(size=(1 << 13, 4)) + 2.0  # past the fused kernels' size threshold
    labels = rng.integers(0, 4, 1 << 13)
    for target, loss in ((labels, lk.sparse_softmax_cross_entropy), (np.eye(4)[labels], lk.softmax_cross_entropy)):
        for backend in (np.asarray, torch.as_tensor):
            # F.cross_entropy and the fused NumPy loop have no z-loss: the reference must run.
            calls = [loss.prepare((backend(target), backend(x)), {"z_loss": 0.01}, order=order) for order in (0, 1)]
            assert all(_kernels.select(call) is None for call in calls)
            if _kernels.kernels(loss.name, calls[0].backend):  # ... and the same call without z_loss would not
                assert any(_kernels.select(call.replace(params=dict(call.params, z_loss=0.0))) for call in calls)
            value, grad = loss.value_and_grad(backend(target), backend(x), z_loss=0.01)
            with lk.reference_only():
                expected_value, expected_grad = loss.value_and_grad(target, x, z_loss=0.01)
            _close(np.asarray(value), expected_value, rtol=1e-12)
            _close(np.asarray(grad), expected_grad, rtol=1e-12, atol=1e-18)


# ------------------------------------------------------------------------ class_balanced_weights

@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99, 0.999, 0.9999])
def test_class_balanced_weights_equal_the_effective_number_formula(beta):
    counts = np.array([5000, 1200, 300, 40, 7, 1])
    raw = (1 - beta) / (1 - np.power(beta, counts.astype(float)))
    expected = raw / raw.sum() * len(counts)
    weights = lk.class_balanced_weights(counts, beta=beta)
    _close(weights, expected, rtol=1e-12)
    _close(weights.sum(), len(counts), rtol=1e-14)
    if beta > 0:
        assert np.all(np.diff(weights) >= 0) and weights[-1] > weights[0]  # rarer classes weigh more
    else:
        _close(weights, np.ones(len(counts)), rtol=1e-15)


def test_class_balanced_weights_approach_inverse_frequency_and_keep_digits_for_small_beta_gaps():
    counts = np.array([1000.0, 100.0, 10.0])
    inverse = (1 / counts) / (1 / counts).sum() * 3
    _close(lk.class_balanced_weights(counts, beta=1 - 1e-12), inverse, rtol=1e-6)


def test_class_balanced_weights_give_zero_to_empty_classes():
    weights = lk.class_balanced_weights(np.array([10, 0, 30, 0]), beta=0.9)
    assert weights[1] == 0 and weights[3] == 0
    _close(weights.sum(), 4.0, rtol=1e-14)
    raw = (1 - 0.9) / (1 - 0.9 ** np.array([10.0, 30.0]))
    _close(weights[[0, 2]], raw / raw.sum() * 4, rtol=1e-12)


@pytest.mark.parametrize("counts, beta, error, message", [
    (np.array([3, -1, 2]), 0.9, ValueError, r"counts must be finite and non-negative.*found -1 at index \(1,\)"),
    (np.array([0, 0]), 0.9, ValueError, "counts are all zero"),
    (np.array([[1, 2]]), 0.9, ValueError, r"counts must have shape \(num_classes,\)"),
    (np.array([1.0, np.nan]), 0.9, ValueError, "counts must be finite"),
    (np.array([1, 2]), 1.0, ValueError, r"beta must lie in \[0, 1\)"),
    (np.array([1, 2]), -0.1, ValueError, r"beta must lie in \[0, 1\)"),
    (np.array([1, 2]), "0.9", TypeError, "beta must be a real number"),
])
def test_class_balanced_weights_validate_their_arguments(counts, beta, error, message):
    with pytest.raises(error, match=message):
        lk.class_balanced_weights(counts, beta=beta)


def test_class_balanced_weights_return_the_input_array_type():
    torch = pytest.importorskip("torch")
    counts = [50, 5, 1]
    expected = lk.class_balanced_weights(np.array(counts), beta=0.99)
    weights = lk.class_balanced_weights(torch.tensor(counts), beta=0.99)
    assert isinstance(weights, torch.Tensor) and weights.dtype == torch.float64
    _close(weights.numpy(), expected, rtol=1e-14)
    float32 = lk.class_balanced_weights(torch.tensor(counts, dtype=torch.float32), beta=0.99)
    assert float32.dtype == torch.float32
    strict = pytest.importorskip("array_api_strict")
    weights = lk.class_balanced_weights(strict.asarray(counts), beta=0.99)
    assert type(weights).__module__.startswith("array_api_strict")
    _close(np.asarray(list(map(float, weights))), expected, rtol=1e-14)
    _close(lk.class_balanced_weights(counts, beta=0.99), expected, rtol=0)  # a list gives NumPy


def test_class_balanced_weights_feed_class_weight():
    counts = np.array([900, 90, 10])
    weights = lk.class_balanced_weights(counts, beta=0.999)
    rng = _rng(13)
    labels, x = rng.integers(0, 3, 20), rng.normal(size=(20, 3))
    per_sample = lk.sparse_softmax_focal(labels, x, class_weight=weights, reduction="none")
    _close(per_sample, weights[labels] * lk.sparse_softmax_focal(labels, x, reduction="none"), rtol=1e-14)
