"""The embedding and ranking losses against PyTorch, SciPy and their own special properties."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(x):
    return torch.tensor(np.array(x), dtype=torch.float64, requires_grad=True)


def _rows(seed=0, n=6, d=4):
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n, d))
    a[0] = 0.0  # a zero vector: the eps clamps
    b[1] = 2.5 * a[1]  # parallel
    b[2] = -a[2]  # antiparallel
    return a, b, c


def _close(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cosine_distance_value_and_gradient_equal_one_minus_torch_cosine_similarity(reduction):
    a, b, _ = _rows()
    target, pred = _t(a), _t(b)
    expected = 1 - F.cosine_similarity(pred, target, dim=-1, eps=1e-8)
    expected = {"none": expected, "sum": expected.sum(), "mean": expected.mean()}[reduction]
    expected.sum().backward()
    value, grad = lk.cosine_distance.value_and_grad(a, b, reduction=reduction)
    _close(value, expected)
    _close(grad, pred.grad, rtol=1e-9, atol=1e-6)


def test_cosine_distance_is_exact_at_norms_of_1e30_in_float32():
    v = np.array([[1.0, 2.0, -3.0]], dtype=np.float32)
    value = lk.cosine_distance(1e30 * v, -2e30 * v, reduction="none")
    np.testing.assert_allclose(value, [2.0], rtol=1e-6)
    assert np.all(np.isfinite(lk.cosine_distance.grad(1e30 * v, 1e30 * v)))


@pytest.mark.parametrize("margin", [0.0, 0.5, -0.3])
def test_cosine_embedding_value_and_both_gradients_equal_torch(margin):
    a, b, _ = _rows(1)
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    x1, x2 = _t(a), _t(b)
    expected = torch.nn.CosineEmbeddingLoss(margin=margin)(x1, x2, torch.tensor(y))
    expected.backward()
    value, (g1, g2) = lk.cosine_embedding.value_and_grad(y, a, b, margin=margin)
    _close(value, expected)
    _close(g1, x1.grad, rtol=1e-8, atol=1e-6)
    _close(g2, x2.grad, rtol=1e-8, atol=1e-6)


def test_margin_ranking_gradients_equal_torch_including_ties():
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(2, 9))
    x2[:3] = x1[:3]  # ties at margin 0: PyTorch's clamp passes the gradient
    y = np.where(rng.random(9) < 0.5, -1.0, 1.0)
    t1, t2 = _t(x1), _t(x2)
    expected = torch.nn.MarginRankingLoss()(t1, t2, torch.tensor(y))
    expected.backward()
    value, (g1, g2) = lk.margin_ranking.value_and_grad(y, x1, x2)
    _close(value, expected)
    _close(g1, t1.grad)
    _close(g2, t2.grad)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_value_and_three_gradients_equal_torch(p, swap):
    a, b, c = _rows(3)
    ta, tb, tc = _t(a), _t(b), _t(c)
    expected = torch.nn.TripletMarginLoss(margin=1.0, p=p, swap=swap)(ta, tb, tc)
    expected.backward()
    value, grads = lk.triplet_margin.value_and_grad(a, b, c, p=p, swap=swap)
    _close(value, expected)
    for ours, theirs in zip(grads, (ta.grad, tb.grad, tc.grad)):
        _close(ours, theirs)


def _torch_clip(x, y, temperature, symmetric, weight=None):
    logits = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T / temperature
    labels = torch.arange(x.shape[0])
    per_row = F.cross_entropy(logits, labels, reduction="none")
    if symmetric:
        per_row = 0.5 * (per_row + F.cross_entropy(logits.T, labels, reduction="none"))
    if weight is None:
        return per_row.mean()
    weight = torch.tensor(weight)
    return (per_row * weight).sum() / weight.sum()


@pytest.mark.parametrize("temperature", [0.07, 1.0, 1e-3])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_info_nce_value_and_gradients_equal_the_torch_clip_formula(temperature, symmetric, weighted):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 6, 5))
    weight = rng.uniform(0.5, 2.0, size=6) if weighted else None
    tx, ty = _t(x), _t(y)
    expected = _torch_clip(tx, ty, temperature, symmetric, weight)
    expected.backward()
    value, (gx, gy) = lk.info_nce.value_and_grad(x, y, temperature=temperature, symmetric=symmetric,
                                                 sample_weight=weight)
    assert np.isfinite(value)
    _close(value, expected, rtol=1e-9)
    _close(gx, tx.grad, rtol=1e-8, atol=1e-9)
    _close(gy, ty.grad, rtol=1e-8, atol=1e-9)


def test_info_nce_torch_autograd_of_unreduced_rows_with_any_upstream_is_the_vjp():
    rng = np.random.default_rng(5)
    x, y, u = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=6)
    ours_x, ours_y = _t(x), _t(y)
    (lk.info_nce(ours_x, ours_y, reduction="none") * torch.tensor(u)).sum().backward()
    tx, ty = _t(x), _t(y)
    logits = F.normalize(tx, dim=-1) @ F.normalize(ty, dim=-1).T / 0.07
    labels = torch.arange(6)
    rows = 0.5 * (F.cross_entropy(logits, labels, reduction="none") + F.cross_entropy(logits.T, labels, reduction="none"))
    (rows * torch.tensor(u)).sum().backward()
    _close(ours_x.grad, tx.grad)
    _close(ours_y.grad, ty.grad)


def test_info_nce_jax_jit_grad_equals_the_analytic_gradient():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(2, 5, 3))
    expected = lk.info_nce.grad(x, y)
    grads = jax.jit(jax.grad(lambda a, b: lk.info_nce(a, b), argnums=(0, 1)))(jnp.asarray(x), jnp.asarray(y))
    for ours, theirs in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-10)


def test_info_nce_requires_two_dimensional_inputs():
    with pytest.raises(ValueError, match=r"2-D batches of embeddings, shape \(N, D\)"):
        lk.info_nce(np.ones((2, 3, 4)), np.ones((2, 3, 4)))


def test_jensen_shannon_equals_the_square_of_scipy_jensenshannon_with_zeros():
    distance = pytest.importorskip("scipy.spatial.distance")
    rng = np.random.default_rng(7)
    p, q = rng.dirichlet(np.ones(5), size=6), rng.dirichlet(np.ones(5), size=6)
    p[0] = [0.5, 0.5, 0.0, 0.0, 0.0]
    q[0] = [0.0, 0.0, 0.0, 0.5, 0.5]  # disjoint: log 2
    np.testing.assert_allclose(lk.jensen_shannon(p, q, reduction="none"), distance.jensenshannon(p, q, axis=-1) ** 2,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lk.jensen_shannon(p, q, reduction="none")[0], np.log(2.0), rtol=1e-14)


def test_jensen_shannon_is_symmetric_and_its_gradient_matches_finite_differences():
    rng = np.random.default_rng(8)
    p, q = rng.dirichlet(np.ones(4), size=3), rng.dirichlet(np.ones(4), size=3)
    np.testing.assert_allclose(lk.jensen_shannon(p, q), lk.jensen_shannon(q, p), rtol=1e-14)
    grad = lk.jensen_shannon.grad(p, q, reduction="sum")
    step, numeric = 1e-6, np.zeros_like(q)
    for index in np.ndindex(q.shape):
        up, down = q.copy(), q.copy()
        up[index] += step
        down[index] -= step
        # Evaluated off the simplex by the kernel alone (the checks want rows summing to 1).
        kernel = lk.jensen_shannon.kernel
        numeric[index] = (float(np.sum(kernel(np, p, up, with_grad=False).loss))
                          - float(np.sum(kernel(np, p, down, with_grad=False).loss))) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["triplet_margin", "cosine_embedding"])
def test_feature_axis_one_equals_the_feature_axis_last_on_moved_inputs(name):
    loss = lk.get(name)
    rng = np.random.default_rng(9)
    inputs = [rng.normal(size=(3, 5, 2)) for _ in loss.inputs]  # (N, D, d1): features on axis 1
    target = (np.where(rng.random((3, 2)) < 0.5, -1.0, 1.0),) if loss.has_target else ()
    value, grads = loss.value_and_grad(*target, *inputs, axis=1, reduction="none")
    moved = [np.moveaxis(x, 1, -1) for x in inputs]
    expected_value, expected_grads = loss.value_and_grad(*target, *moved, reduction="none")
    np.testing.assert_allclose(value, expected_value, rtol=1e-13)
    for ours, theirs in zip(grads, expected_grads):
        np.testing.assert_allclose(np.moveaxis(ours, 1, -1), theirs, rtol=1e-13)


def test_keras_fit_on_the_jax_backend_trains_the_target_free_and_labelled_losses():
    import os

    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("checked on Keras's JAX backend")
    keras = pytest.importorskip("keras")
    lkk = pytest.importorskip("losskit.keras")
    rng = np.random.default_rng(10)
    features = rng.normal(size=(32, 6)).astype("float32")
    labels = np.where(rng.random(32) < 0.5, -1.0, 1.0).astype("float32")
    for loss, heads in ((lkk.TripletMargin(), 3), (lkk.InfoNce(temperature=0.5), 2), (lkk.CosineEmbedding(), 2)):
        inputs = keras.Input((6,))
        outputs = keras.ops.stack([keras.layers.Dense(4)(inputs) for _ in range(heads)], axis=-1)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        # y_true: the labels of cosine_embedding; ignored by the losses without a target.
        history = model.fit(features, labels, batch_size=32, epochs=5, verbose=0, shuffle=False)
        losses = history.history["loss"]
        assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], (type(loss).__name__, losses)
