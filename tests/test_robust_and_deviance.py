"""The Tweedie family (gamma_deviance, tweedie_deviance) and Barron's robust family (general_robust,
cauchy, geman_mcclure, welsch, and pseudo_huber as Charbonnier) against their references.

References: scikit-learn's ``mean_tweedie_deviance`` / ``mean_gamma_deviance`` for every class of
power it accepts and its ``HalfTweedieLoss`` / ``HalfGammaLoss`` gradients and Hessians on the log
link; kornia's ``cauchy_loss``, ``geman_mcclure_loss``, ``welsch_loss`` and ``charbonnier_loss``
(values and autograd gradients); 50-digit mpmath where a float64 closed form cancels; finite
differences for every gradient and Hessian. The special properties: the limits of Barron's loss
at alpha = 2, 0 and -inf taken exactly and continuously, the Tweedie deviance continuous in the
power across 1 and 2 and exact at y_true = 0, finite values at residuals of 1e6 to 1e300.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk

sklearn_metrics = pytest.importorskip("sklearn.metrics")
mp = pytest.importorskip("mpmath")

INF = math.inf
RNG = np.random.default_rng(20191)


# ------------------------------------------------------------------------------------ helpers

def _tweedie_inputs(power: float, n: int = 40, seed: int = 0):
    """Targets and means in the domain of ``power``: zeros below 2, negatives at power <= 0."""
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 2.0, size=n)
    if power < 2:
        y[::4] = 0.0
    if power <= 0:
        y[1::4] = -rng.uniform(0.5, 3.0, size=len(y[1::4]))
    mu = rng.gamma(2.0, 2.0, size=n) + 0.05
    # Extremes: a tiny and a huge mean, a target far above and far below its mean.
    mu[2], mu[3] = 1e-4, 1e4
    y[5], mu[5] = 1e3, 0.5
    y[6], mu[6] = 1e-3 if power >= 1 else 0.5, 50.0
    return y, mu


def _mp_deviance(y, mu, power):
    """The unit deviance in 60-digit arithmetic, straight from its closed form."""
    with mp.workdps(60):
        y, mu, p = mp.mpf(y), mp.mpf(mu), mp.mpf(power)
        if p == 0:
            return (y - mu) ** 2
        if p == 1:
            return 2 * ((y * mp.log(y / mu) if y > 0 else 0) - y + mu)
        if p == 2:
            return 2 * (mp.log(mu / y) + y / mu - 1)
        positive_part = y ** (2 - p) if y > 0 else 0
        return 2 * (positive_part / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p) + mu ** (2 - p) / (2 - p))


def _central_difference(loss, y, x, h, **params):
    up = np.asarray(loss(y, x + h, reduction="none", **params))
    down = np.asarray(loss(y, x - h, reduction="none", **params))
    return (up - down) / (2 * h)


def _gradient_difference(loss, y, x, h, **params):
    up = np.asarray(loss.grad(y, x + h, reduction="none", **params))
    down = np.asarray(loss.grad(y, x - h, reduction="none", **params))
    return (up - down) / (2 * h)


POWERS = [-1.5, -0.5, 0.0, 1.0, 1.2, 1.5, 1.9, 2.0, 2.5, 3.0, 4.0]


# --------------------------------------------------------------------- Tweedie vs scikit-learn

@pytest.mark.parametrize("power", POWERS)
def test_tweedie_deviance_equals_sklearn_for_every_class_of_power(power):
    y, mu = _tweedie_inputs(power)
    weight = RNG.uniform(0.0, 2.0, size=len(y))
    expected = sklearn_metrics.mean_tweedie_deviance(y, mu, power=power)
    np.testing.assert_allclose(lk.tweedie_deviance(y, mu, power=power), expected, rtol=1e-10)
    weighted = sklearn_metrics.mean_tweedie_deviance(y, mu, power=power, sample_weight=weight)
    np.testing.assert_allclose(lk.tweedie_deviance(y, mu, power=power, sample_weight=weight), weighted, rtol=1e-10)


def test_gamma_deviance_equals_sklearn_and_tweedie_at_power_two():
    y, mu = _tweedie_inputs(2.0)
    np.testing.assert_allclose(lk.gamma_deviance(y, mu), sklearn_metrics.mean_gamma_deviance(y, mu), rtol=1e-12)
    np.testing.assert_array_equal(lk.gamma_deviance(y, mu, reduction="none"),
                                  lk.tweedie_deviance(y, mu, power=2.0, reduction="none"))
    np.testing.assert_array_equal(lk.gamma_deviance.grad(y, mu), lk.tweedie_deviance.grad(y, mu, power=2.0))


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_tweedie_at_one_and_two_equals_the_poisson_and_gamma_metrics(power):
    y, mu = _tweedie_inputs(power)
    metric = sklearn_metrics.mean_poisson_deviance if power == 1 else sklearn_metrics.mean_gamma_deviance
    np.testing.assert_allclose(lk.tweedie_deviance(y, mu, power=power), metric(y, mu), rtol=1e-12)


def test_tweedie_at_power_zero_is_the_squared_error_for_any_real_inputs():
    y, mu = RNG.normal(size=9), RNG.normal(size=9)  # negative means are fine at power 0
    np.testing.assert_array_equal(lk.tweedie_deviance(y, mu, power=0.0, reduction="none"), (y - mu) ** 2)
    np.testing.assert_allclose(lk.tweedie_deviance(y, mu, power=0), sklearn_metrics.mean_tweedie_deviance(y, mu, power=0))


@pytest.mark.parametrize("power", POWERS)
def test_tweedie_gradient_and_hessian_match_finite_differences(power):
    y, mu = _tweedie_inputs(power, seed=1)
    h = 1e-6 * mu
    grad, hess = lk.tweedie_deviance.grad_and_hessian(y, mu, power=power, reduction="sum")
    numeric = _central_difference(lk.tweedie_deviance, y, mu, h, power=power)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7 * np.max(np.abs(grad)))
    numeric_hess = _gradient_difference(lk.tweedie_deviance, y, mu, h, power=power)
    np.testing.assert_allclose(hess, numeric_hess, rtol=1e-5, atol=1e-7 * np.max(np.abs(hess)))


@pytest.mark.parametrize("power", [1.0, 1.3, 1.5, 2.0, 3.0])
def test_tweedie_gradient_and_hessian_equal_sklearn_half_tweedie_loss_on_the_log_link(power):
    from sklearn._loss.loss import HalfGammaLoss, HalfTweedieLoss

    y, mu = _tweedie_inputs(power, seed=2)
    sk = HalfGammaLoss() if power == 2 else HalfTweedieLoss(power=power)
    sk_grad, sk_hess = sk.gradient_hessian(y, np.log(mu))
    grad, hess = lk.tweedie_deviance.grad_and_hessian(y, mu, power=power, reduction="sum")
    # scikit-learn's loss is half the deviance (up to a constant) in raw = log(mu):
    # d/draw = mu d/dmu, d2/draw2 = mu d/dmu + mu^2 d2/dmu2.
    np.testing.assert_allclose(0.5 * mu * grad, sk_grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(0.5 * (mu * grad + mu * mu * hess), sk_hess, rtol=1e-10, atol=1e-12)


def test_gamma_deviance_differs_from_sklearn_half_gamma_loss_by_half_and_a_constant():
    from sklearn._loss.loss import HalfGammaLoss

    y, mu = _tweedie_inputs(2.0, seed=3)
    half = HalfGammaLoss().loss(y, np.log(mu))
    np.testing.assert_allclose(0.5 * lk.gamma_deviance(y, mu, reduction="none"), half - np.log(y) - 1.0,
                               rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------ Tweedie numerics

@pytest.mark.parametrize("power", [1.0 + 1e-9, 1.0 - 0.0, 1.5, 2.0 - 1e-9, 2.0, 3.0, -1.0, 1.0 + 1e-5])
def test_tweedie_deviance_is_exact_to_rounding_against_mpmath(power):
    pairs = [(1.0, 1.0 + 1e-9), (3.0, 3.0 * (1 - 1e-7)), (1e5, 1e5 + 1e-3), (2.0, 5.0), (5.0, 0.1),
             (1e-5, 1e3), (1e3, 1e-5), (7.0, 7.2), (1e-200, 1.0), (1.0, 1e-100)]
    if power < 2:
        pairs.append((0.0, 2.0))
    y, mu = (np.array(column) for column in zip(*pairs))
    ours = lk.tweedie_deviance(y, mu, power=power, reduction="none")
    expected = np.array([float(_mp_deviance(a, b, power)) for a, b in pairs])
    np.testing.assert_allclose(ours, expected, rtol=1e-13)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_tweedie_deviance_is_continuous_in_the_power_across_one_and_two(power):
    y, mu = _tweedie_inputs(2.0, seed=4)  # positive targets: valid on both sides of 2
    at = lk.tweedie_deviance(y, mu, power=power, reduction="none")
    grad_at = lk.tweedie_deviance.grad(y, mu, power=power, reduction="none")
    for delta in (1e-12, 1e-9, 1e-7, 1e-3):
        for side in (-1.0, 1.0):
            if power == 1.0 and side < 0 and delta > 0:
                continue  # 0 < power < 1 is outside the family
            near = lk.tweedie_deviance(y, mu, power=power + side * delta, reduction="none")
            grad_near = lk.tweedie_deviance.grad(y, mu, power=power + side * delta, reduction="none")
            # d(deviance)/d(power) is bounded on these inputs: the change is O(delta), never a
            # cancellation error of O(eps / delta).
            assert np.all(np.isfinite(near))
            np.testing.assert_allclose(near, at, rtol=20 * delta, atol=1e-15)
            np.testing.assert_allclose(grad_near, grad_at, rtol=20 * delta, atol=1e-15)


def test_sklearn_closed_form_cancels_near_power_one_where_losskit_does_not():
    y, mu, power = np.array([2.0, 0.5]), np.array([3.0, 0.25]), 1.0 + 1e-10
    exact = np.mean([float(_mp_deviance(a, b, power)) for a, b in zip(y, mu)])
    ours = float(lk.tweedie_deviance(y, mu, power=power))
    theirs = sklearn_metrics.mean_tweedie_deviance(y, mu, power=power)
    assert abs(ours - exact) <= 1e-14 * exact
    assert abs(theirs - exact) > 1e-9 * exact  # the documented reason for the expm1 form


@pytest.mark.parametrize("power", [1.2, 1.5, 1.9, -0.5, -2.0])
def test_tweedie_at_a_zero_target_is_the_limit(power):
    mu = np.array([1e-8, 0.3, 1.0, 7.0, 1e6])
    expected = 2.0 * mu ** (2 - power) / (2 - power)
    value, grad = lk.tweedie_deviance.value_and_grad(np.zeros(5), mu, power=power, reduction="none")
    np.testing.assert_allclose(value, expected, rtol=1e-14)
    np.testing.assert_allclose(grad, 2.0 * mu ** (1 - power), rtol=1e-14)


def test_poisson_deviance_at_a_zero_target_is_twice_the_mean():
    mu = np.array([1e-8, 0.3, 7.0])
    np.testing.assert_allclose(lk.tweedie_deviance(np.zeros(3), mu, power=1, reduction="none"), 2 * mu, rtol=1e-15)


@pytest.mark.parametrize("relative", [1e-3, 1e-6, 1e-9])
def test_gamma_deviance_near_a_perfect_fit_is_exact_where_sklearn_cancels(relative):
    y = np.array([1.0, 3.0, 1e5])
    mu = y * (1 + relative)
    expected = np.array([float(_mp_deviance(a, b, 2.0)) for a, b in zip(y, mu)])
    np.testing.assert_allclose(lk.gamma_deviance(y, mu, reduction="none"), expected, rtol=1e-13)


def test_tweedie_is_zero_at_a_perfect_fit_with_zero_gradient():
    y = np.array([0.5, 2.0, 1e4])
    for power in POWERS:
        value, grad = lk.tweedie_deviance.value_and_grad(y, y, power=power, reduction="none")
        assert np.all(value == 0.0) and np.all(grad == 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tweedie_extremes_stay_finite(dtype):
    y = np.array([1e-6, 1e6, 1e-6, 1e6, 0.0], dtype=dtype)
    mu = np.array([1e6, 1e-6, 1e-6, 1e6, 1e6], dtype=dtype)
    for power in (1.0, 1.5, 1.9):
        value, grad = lk.tweedie_deviance.value_and_grad(y, mu, power=power, reduction="none")
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), power


# ---------------------------------------------------------------------------- domains

@pytest.mark.parametrize(
    "power, y_true, y_pred, argument, message",
    [
        (1.5, [-1.0, 1.0], [1.0, 1.0], "y_true", r"non-negative \(>= 0\); found -1"),
        (1.5, [1.0, 1.0], [0.0, 1.0], "y_pred", r"positive \(> 0\); found 0.*exp or softplus"),
        (2.0, [0.0, 1.0], [1.0, 1.0], "y_true", r"positive \(> 0\); found 0.*power=2.*\[1, 2\) allows zeros"),
        (3.0, [1.0, 1.0], [-1.0, 1.0], "y_pred", r"positive \(> 0\); found -1"),
        (-1.0, [1.0, 1.0], [0.0, 1.0], "y_pred", r"positive \(> 0\); found 0"),
        (1.0, [-0.5, 1.0], [1.0, 1.0], "y_true", r"non-negative \(>= 0\)"),
    ],
)
def test_tweedie_domains_follow_sklearn_per_power(power, y_true, y_pred, argument, message):
    with pytest.raises(ValueError, match=rf"{argument} must be {message}"):
        lk.tweedie_deviance(np.array(y_true), np.array(y_pred), power=power)


def test_tweedie_accepts_what_sklearn_accepts_at_power_zero_and_below():
    negative = np.array([-3.0, 0.0, 2.0])
    assert np.isfinite(float(lk.tweedie_deviance(negative, np.array([-1.0, 0.0, 1.0]), power=0.0)))
    assert np.isfinite(float(lk.tweedie_deviance(negative, np.array([1.0, 2.0, 3.0]), power=-1.0)))


@pytest.mark.parametrize("power", [0.5, 1e-9, 0.999])
def test_power_between_zero_and_one_raises_and_says_why(power):
    with pytest.raises(ValueError, match=r"power must be <= 0 or >= 1.*no Tweedie distribution has 0 < power < 1"):
        lk.tweedie_deviance(np.ones(2), np.ones(2), power=power)
    with pytest.raises(ValueError):  # scikit-learn refuses the same powers
        sklearn_metrics.mean_tweedie_deviance(np.ones(2), np.ones(2), power=power)


def test_gamma_deviance_rejects_zero_targets_and_means():
    with pytest.raises(ValueError, match=r"y_true must be positive \(> 0\); found 0.*tweedie_deviance"):
        lk.gamma_deviance(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"y_pred must be positive \(> 0\); found 0"):
        lk.gamma_deviance(np.array([1.0, 1.0]), np.array([0.0, 1.0]))


# ---------------------------------------------------------------------- Barron's family: kornia

kornia = pytest.importorskip("kornia")
torch = pytest.importorskip("torch")

# (losskit loss, kornia function, keyword of losskit's scale, losskit = factor(c) x kornia(e / c))
KORNIA = [
    ("cauchy", "cauchy_loss", "scale", lambda c: 1.0),
    ("geman_mcclure", "geman_mcclure_loss", "scale", lambda c: 1.0),
    ("welsch", "welsch_loss", "scale", lambda c: 1.0),
    ("pseudo_huber", "charbonnier_loss", "delta", lambda c: c * c),
]


def _robust_inputs(n: int = 30, seed: int = 5):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    residual = rng.normal(0.0, 3.0, size=n)
    residual[:5] = [1e-8, -1e-4, 0.0, 40.0, -250.0]
    y[:5] = 0.0  # residuals that y + e would round: kornia's e/c - y/c and losskit's (e - y)/c then agree
    return y, y + residual


@pytest.mark.parametrize("name, function, keyword, factor", KORNIA, ids=[k[0] for k in KORNIA])
@pytest.mark.parametrize("scale", [1.0, 0.5, 3.0])
def test_robust_losses_equal_kornia_value_and_autograd_gradient(name, function, keyword, factor, scale):
    loss, kornia_loss = lk.get(name), getattr(kornia.losses, function)
    y, p = _robust_inputs()
    prediction = torch.tensor(p / scale, requires_grad=True)
    # kornia's default reduction is "none": the elementwise losses, losskit's reduction="none".
    theirs = kornia_loss(prediction, torch.tensor(y / scale))
    theirs.sum().backward()
    value, grad = loss.value_and_grad(y, p, reduction="none", **{keyword: scale})
    np.testing.assert_allclose(value, factor(scale) * theirs.detach().numpy(), rtol=1e-13, atol=1e-300)
    # Chain rule through the division by the scale: d/dp = (1/c) d/d(p/c). kornia's autograd of
    # 2x^2/(x^2+4) subtracts two terms of size 4/x: it loses ~x^2 ulps at large x, hence the bound.
    expected_grad = factor(scale) * prediction.grad.numpy() / scale
    x2 = ((p - y) / scale) ** 2
    assert np.all(np.abs(grad - expected_grad) <= 1e-12 * (1.0 + x2) * np.abs(expected_grad) + 1e-300)
    for reduction in ("mean", "sum"):
        np.testing.assert_allclose(loss(y, p, reduction=reduction, **{keyword: scale}),
                                   factor(scale) * float(kornia_loss(prediction.detach(), torch.tensor(y / scale),
                                                                     reduction=reduction)), rtol=1e-13)


def test_kornia_geman_mcclure_autograd_cancels_at_huge_residuals_where_losskit_is_exact():
    e = np.array([1e30])
    prediction = torch.tensor(e, requires_grad=True)
    kornia.losses.geman_mcclure_loss(prediction, torch.zeros(1)).sum().backward()
    exact = 16.0 * e / (e * e + 4.0) ** 2  # 16 e / (e^2 + 4)^2 = 1.6e-89
    np.testing.assert_allclose(lk.geman_mcclure.grad(np.zeros(1), e, reduction="sum"), exact, rtol=1e-13)
    # kornia's 4x/(x^2+4) - 4x^3/(x^2+4)^2 cancels to nothing (0 here) instead of 16/x^3.
    assert abs(float(prediction.grad[0]) - exact[0]) >= 0.5 * exact[0]


def test_charbonnier_is_an_alias_of_pseudo_huber():
    assert lk.get("charbonnier") is lk.pseudo_huber


# ------------------------------------------------------------------- Barron's family: limits

NAMED_ALPHAS = [
    (2.0, lambda y, p, c: lk.half_squared_error(y / c, p / c, reduction="none")),
    (1.0, lambda y, p, c: lk.pseudo_huber(y, p, delta=c, reduction="none") / c**2),
    (0.0, lambda y, p, c: lk.cauchy(y, p, scale=c, reduction="none")),
    (-2.0, lambda y, p, c: lk.geman_mcclure(y, p, scale=c, reduction="none")),
    (-INF, lambda y, p, c: lk.welsch(y, p, scale=c, reduction="none")),
]


@pytest.mark.parametrize("alpha, named", NAMED_ALPHAS, ids=["2", "1", "0", "-2", "-inf"])
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_general_robust_at_the_named_alphas_is_the_named_loss(alpha, named, scale):
    y, p = _robust_inputs()
    np.testing.assert_allclose(lk.general_robust(y, p, alpha=alpha, scale=scale, reduction="none"),
                               named(y, p, scale), rtol=1e-13, atol=1e-300)


def _mp_barron(x, alpha):
    with mp.workdps(60):
        x, a = mp.mpf(x), mp.mpf(alpha)
        eps = abs(a - 2)
        return eps / a * ((x * x / eps + 1) ** (a / 2) - 1)


@pytest.mark.parametrize("alpha", [2.0 + 1e-7, 2.0 - 1e-7, 1e-7, -1e-7, 0.5, 3.0, -5.0, 1e-3, 2.0 - 1e-3])
def test_general_robust_matches_the_formula_in_high_precision(alpha):
    x = np.array([1e-8, 1e-3, 0.7, 2.0, 30.0, 1e4])
    expected = np.array([float(_mp_barron(v, alpha)) for v in x])
    np.testing.assert_allclose(lk.general_robust(np.zeros(6), x, alpha=alpha, reduction="none"), expected, rtol=1e-12)


@pytest.mark.parametrize("limit", [2.0, 0.0])
@pytest.mark.parametrize("delta", [1e-7, 1e-3])
def test_general_robust_value_gradient_and_hessian_are_continuous_at_alpha_two_and_zero(limit, delta):
    x = np.array([1e-6, 0.1, 0.9, 2.5, 40.0, 1e3])
    z = x * x
    at = lk.general_robust.value_and_grad(np.zeros(6), x, alpha=limit, reduction="none")
    hess_at = lk.general_robust.hessian(np.zeros(6), x, alpha=limit, reduction="none")
    for alpha in (limit - delta, limit + delta):
        value, grad = lk.general_robust.value_and_grad(np.zeros(6), x, alpha=alpha, reduction="none")
        hess = lk.general_robust.hessian(np.zeros(6), x, alpha=alpha, reduction="none")
        # The family moves by O(delta log(1/delta)) per unit change at alpha = 2 (Barron's
        # expansion) and by O(delta L^2) at alpha = 0, L = log(1 + x^2/2): the bound below.
        bound = delta * (3.0 + abs(math.log(delta)) + np.log1p(z) ** 2)
        np.testing.assert_array_less(np.abs(value - at[0]), bound * np.abs(at[0]) + 1e-300)
        np.testing.assert_array_less(np.abs(grad - at[1]), bound * np.abs(at[1]) + 1e-300)
        np.testing.assert_array_less(np.abs(hess - hess_at), bound * (np.abs(hess_at) + 1.0))


def test_general_robust_at_alpha_two_plus_minus_1e7_agrees_with_the_half_squared_error_to_about_1e7():
    x = np.array([1e-3, 0.5, 1.0, 3.0])
    half_square = 0.5 * x * x
    for alpha in (2.0 - 1e-7, 2.0 + 1e-7):
        relative = np.abs(lk.general_robust(np.zeros(4), x, alpha=alpha, reduction="none") / half_square - 1.0)
        assert np.all(relative < 3e-6), relative  # ~1e-7 x log(x^2 / 1e-7), no cancellation noise


def test_general_robust_tends_to_welsch_as_alpha_goes_to_minus_infinity():
    x = np.array([1e-3, 0.5, 1.0, 3.0, 10.0])
    welsch = lk.welsch(np.zeros(5), x, reduction="none")
    welsch_grad = lk.welsch.grad(np.zeros(5), x, reduction="none")
    for alpha in (-1e3, -1e7):
        value, grad = lk.general_robust.value_and_grad(np.zeros(5), x, alpha=alpha, reduction="none")
        np.testing.assert_allclose(value, welsch, rtol=200 / abs(alpha), atol=1e-12)
        np.testing.assert_allclose(grad, welsch_grad, rtol=200 / abs(alpha), atol=1e-12)


@pytest.mark.parametrize("alpha", [2.0, 2.0 - 1e-7, 1.0, 1e-7, 0.0, -1e-7, -2.0, -1e7, -INF, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_general_robust_is_finite_and_never_nan_near_the_limits(alpha, dtype):
    x = np.array([0.0, 1e-30, 1e-8, 1.0, 1e6, -1e6, 1e15], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no intermediate overflow either
        value, grad = lk.general_robust.value_and_grad(np.zeros_like(x), x, alpha=alpha, reduction="none")
        hess = lk.general_robust.hessian(np.zeros_like(x), x, alpha=alpha, reduction="none")
    for result in (value, grad, hess):
        assert np.all(np.isfinite(result)), (alpha, result)


@pytest.mark.parametrize("residual", [1e6, 1e30, 1e300])
def test_bounded_and_logarithmic_losses_are_exact_at_huge_residuals(residual):
    e = np.array([residual, -residual])
    zeros = np.zeros(2)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the exact answer
        np.testing.assert_array_equal(lk.welsch(zeros, e, reduction="none"), 1.0)
        np.testing.assert_allclose(lk.geman_mcclure(zeros, e, reduction="none"), 2.0 / (1.0 + (2.0 / residual) ** 2),
                                   rtol=1e-14)
        # log(x^2/2 + 1) = 2 log|x| - log 2 + log1p(2/x^2), finite where x^2 overflows (1e300).
        expected = 2 * math.log(residual) - math.log(2) + math.log1p((2.0 / residual) / residual)
        np.testing.assert_allclose(lk.cauchy(zeros, e, reduction="none"), expected, rtol=1e-14)
        # Powers of huge residuals go through exp(alpha/2 log(1 + x^2/eps)): ~|log x| ulps.
        for alpha in (1.0, -1.0, 0.5):
            np.testing.assert_allclose(lk.general_robust(zeros, e, alpha=alpha, reduction="none"),
                                       float(_mp_barron(residual, alpha)), rtol=1e-13)
        for name, params in (("welsch", {}), ("geman_mcclure", {}), ("cauchy", {}), ("general_robust", {"alpha": -1.0})):
            grad = lk.get(name).grad(zeros, e, reduction="none", **params)
            assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) <= 2.0 / min(residual, 1e6) * 10), name


def test_huge_residuals_stay_finite_in_float32():
    e = np.array([1e30, -3e38], dtype=np.float32)
    zeros = np.zeros(2, dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.all(lk.welsch(zeros, e, reduction="none") == 1.0)
        cauchy = lk.cauchy(zeros, e, reduction="none")
    np.testing.assert_allclose(cauchy, 2 * np.log(np.abs(e.astype(np.float64))) - math.log(2), rtol=1e-6)


# -------------------------------------------------------------------- Barron's family: derivatives

ROBUST_SETTINGS = [
    ("general_robust", {"alpha": a, "scale": c}) for a in (2.0, 1.0, 0.5, 0.0, -1.0, -2.0, -INF, 3.0, 2.0 - 1e-7, 1e-7)
    for c in (1.0, 0.5)
] + [(name, {"scale": c}) for name in ("cauchy", "geman_mcclure", "welsch") for c in (1.0, 2.0)]


@pytest.mark.parametrize("name, params", ROBUST_SETTINGS,
                         ids=[f"{n}-{'-'.join(f'{k}={v:g}' for k, v in p.items())}" for n, p in ROBUST_SETTINGS])
def test_robust_gradient_and_hessian_match_finite_differences(name, params):
    loss = lk.get(name)
    y, p = _robust_inputs(seed=6)
    keep = np.abs(p - y) > 1e-3  # central differences need a step well below the residual
    y, p = y[keep], p[keep]
    h = 1e-6 * np.maximum(1.0, np.abs(p - y))
    grad, hess = loss.grad_and_hessian(y, p, reduction="sum", **params)
    np.testing.assert_allclose(grad, _central_difference(loss, y, p, h, **params), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(hess, _gradient_difference(loss, y, p, h, **params), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("alpha", [1.0, 0.0, -2.0, -INF, 0.5])
def test_robust_gradient_is_the_residual_times_barrons_weight(alpha):
    y, p = _robust_inputs(seed=7)
    e = p - y
    c = 0.7
    x2 = (e / c) ** 2
    if alpha == -INF:
        weight = np.exp(-0.5 * x2)
    else:
        weight = (x2 / abs(alpha - 2) + 1) ** (alpha / 2 - 1)
    np.testing.assert_allclose(lk.general_robust.grad(y, p, alpha=alpha, scale=c, reduction="sum"),
                               e / c**2 * weight, rtol=1e-12, atol=1e-300)


# ------------------------------------------------------------------------------- the modules

def test_torch_and_keras_classes_carry_the_parameters():
    import losskit.torch as lkt

    y, p = _robust_inputs(seed=8)
    module = lkt.GeneralRobust(alpha=-2.0, scale=0.5)
    value = module(torch.tensor(p), torch.tensor(y))
    np.testing.assert_allclose(float(value), float(lk.geman_mcclure(y, p, scale=0.5)), rtol=1e-13)
    y_pos, mu = _tweedie_inputs(1.5, n=8)
    value = lkt.TweedieDeviance(power=1.5)(torch.tensor(mu), torch.tensor(y_pos))
    np.testing.assert_allclose(float(value), sklearn_metrics.mean_tweedie_deviance(y_pos, mu, power=1.5), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_torch_compile_with_a_changing_alpha_or_power_gives_the_eager_values():
    # torch.compile makes a float argument that changes between calls symbolic: the limits'
    # branches (alpha = -inf) and the series coefficients (a power of a negative base) must
    # still trace to the eager numbers.
    x = torch.tensor([0.0, 1e-8, -0.5, 1.0, 2.0], dtype=torch.float64)
    zeros = torch.zeros(5, dtype=torch.float64)
    robust = torch.compile(lambda p, a: lk.general_robust(zeros, p, alpha=a), backend="eager")
    for alpha in (1.0, 0.0, -2.0, -INF, 2.0):
        np.testing.assert_allclose(float(robust(x, alpha)), float(lk.general_robust(zeros, x, alpha=alpha)), rtol=1e-14)
    mu = torch.tensor([0.5, 1.0, 2.0, 1e-3], dtype=torch.float64)
    y = torch.tensor([0.7, 1.0, 0.1, 1.0], dtype=torch.float64)
    tweedie = torch.compile(lambda p, power: lk.tweedie_deviance(y, p, power=power), backend="eager")
    for power in (1.5, 1.2, 2.0, 3.0, -1.0):
        np.testing.assert_allclose(float(tweedie(mu, power)), float(lk.tweedie_deviance(y, mu, power=power)), rtol=1e-14)
