"""Fit a logistic-regression model with Optax and a losskit loss.

losskit's losses are plain array-API functions, so on JAX arrays they trace under ``jax.jit``
and differentiate with ``jax.grad`` like any ``jax.numpy`` code: the loss of a training step is
``lk.sigmoid_cross_entropy(y, model(params, x))`` inside ``jax.value_and_grad``, and the step is
jitted once. Value checks (labels in [0, 1]) read data, so they are skipped automatically
for traced values; shapes are still checked while tracing.

Run it with ``python docs/examples/optax_training.py``; it prints the loss before and after
training.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import losskit as lk


def make_data(key: jax.Array, n_samples: int = 512, n_features: int = 8) -> tuple[jax.Array, jax.Array]:
    """Features and {0, 1} labels drawn from a known logistic model."""
    key_x, key_w, key_y = jax.random.split(key, 3)
    x = jax.random.normal(key_x, (n_samples, n_features))
    true_weights = jax.random.normal(key_w, (n_features,))
    y = jax.random.bernoulli(key_y, jax.nn.sigmoid(x @ true_weights)).astype(x.dtype)
    return x, y


def model(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """A linear model: one logit per sample."""
    return x @ params["w"] + params["b"]


def main(steps: int = 200, learning_rate: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Train and return (initial loss, final loss)."""
    x, y = make_data(jax.random.PRNGKey(seed))
    params = {"w": jnp.zeros(x.shape[1], x.dtype), "b": jnp.zeros((), x.dtype)}
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)

    def loss_fn(params, x, y):
        # Labels first, logits second: losskit's calling convention.
        return lk.sigmoid_cross_entropy(y, model(params, x))

    # The batch is an argument of the jitted step, not a constant closed over by it: JAX then
    # traces it (one compilation for every batch of this shape) instead of baking it in.
    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    initial_loss = float(loss_fn(params, x, y))
    for _ in range(steps):
        params, opt_state, _ = step(params, opt_state, x, y)
    final_loss = float(loss_fn(params, x, y))
    print(f"sigmoid_cross_entropy: {initial_loss:.4f} -> {final_loss:.4f} after {steps} Adam steps")
    return initial_loss, final_loss


if __name__ == "__main__":
    main()
