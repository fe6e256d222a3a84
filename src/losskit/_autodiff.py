"""The autodiff bridges: every framework's autodiff sees the catalog's analytic gradient.

A functional call on PyTorch tensors that require grad runs one generic
``torch.autograd.Function`` (forward computes the value and the gradient in one pass through the
selected kernel, backward is one multiply), or PyTorch's native twin where the registry says its
semantics are exactly the catalog's. On JAX every call goes through one ``jax.custom_jvp`` whose
rule is the analytic gradient; JAX transposes it for reverse mode, so ``jax.grad``, ``jax.jit``,
``jax.hessian`` and ``jax.vmap`` all work. Torch autograd, ``jax.grad`` and ``loss.grad`` then
return the same numbers, gradient floors and kinks included, by construction.

The bridges fall back to differentiating the reference expression only where the analytic
gradient does not cover the request: a gradient with respect to the target, the sample weights
or an array parameter (soft-label distillation, learned weights).
"""

from __future__ import annotations

import sys
from typing import Any

from ._kernels import run, select

__all__ = ["value", "derivatives"]


def value(call: Any) -> Any:
    """The reduced value of a prepared call of order 0, differentiable by the call's framework."""
    backend = call.backend
    if backend == "torch":
        return _torch_value(call)
    if backend == "jax":
        return _jax_value(call)
    return run(call)[0]


def derivatives(call: Any) -> tuple[Any, tuple | None, tuple | None]:
    """``(value, grads, hessians)`` of a prepared call of order 1 or 2 (outside any autograd graph)."""
    if call.backend == "torch":
        import torch

        with torch.no_grad():
            return run(call)
    return run(call)


def _expand_to(xp: Any, upstream: Any, ndim: int) -> Any:
    missing = ndim - upstream.ndim
    return upstream if missing == 0 else xp.reshape(upstream, tuple(upstream.shape) + (1,) * missing)


# --------------------------------------------------------------------------------- PyTorch

_TORCH_FUNCTION: list[Any] = []


def _torch_value(call: Any) -> Any:
    torch = sys.modules["torch"]  # a torch call: torch is imported
    if not torch.is_grad_enabled():
        return run(call)[0]
    if _other_inputs_require_grad(call):
        return run(call, reference=True)[0]
    predictions = call.predictions
    if not (predictions[0].requires_grad or any(p.requires_grad for p in predictions[1:])):
        return run(call)[0]
    native = select(call, styles=("native",))
    if native is not None:
        return native.fn(call)
    if not _TORCH_FUNCTION:
        _TORCH_FUNCTION.append(_make_torch_function())
    outputs = _TORCH_FUNCTION[0].apply(call, *call.predictions)
    return outputs[0]


def _other_inputs_require_grad(call: Any) -> bool:
    y_true, weight = call.y_true, call.weight
    if (y_true is not None and y_true.requires_grad) or (weight is not None and weight.requires_grad):
        return True
    params = call.params
    return any(params[name] is not None and params[name].requires_grad for name in call.loss._array_params)


def _make_torch_function() -> Any:
    import torch

    class AnalyticLoss(torch.autograd.Function):
        """Forward returns the value and the analytic gradients; backward scales them.

        Autograd keeps one tensor per prediction (its gradient, in the compute dtype) instead of
        every intermediate of the expression. The gradients are outputs marked
        non-differentiable rather than state on ``ctx``, so that ``torch.func`` transforms
        (vmap, grad) can run the forward too (``generate_vmap_rule``). A backward that builds a
        graph itself (``create_graph=True``, ``torch.autograd.functional.hessian``) recomputes
        the gradient through the reference expression, so that it can be differentiated again.
        """

        generate_vmap_rule = True

        @staticmethod
        def forward(call, *predictions):
            value, grads, _ = run(call.replace(predictions=predictions, order=1))
            # A gradient that is an input (or a view of one) cannot be an output of its own.
            pointers = {p.untyped_storage().data_ptr() for p in predictions}
            grads = tuple(g.clone() if g.untyped_storage().data_ptr() in pointers else g for g in grads)
            return (value, *grads)

        @staticmethod
        def setup_context(ctx, inputs, output):
            grads = output[1:]
            ctx.mark_non_differentiable(*grads)
            ctx.call = inputs[0]
            ctx.save_for_backward(*grads, *inputs[1:])

        @staticmethod
        def backward(ctx, grad_value, *unused):
            saved = ctx.saved_tensors
            count = len(saved) // 2
            grads = saved[:count]
            if torch.is_grad_enabled():
                predictions = saved[count:]
                _, grads, _ = run(ctx.call.replace(predictions=predictions, order=1), reference=True)
            elif grad_value.ndim == 0 and not grad_value.requires_grad and _is_one(grad_value):
                # The usual backward of a scalar loss: hand over the saved gradient, no multiply.
                return (None, *grads)
            scaled = []
            for g in grads:
                upstream = grad_value if grad_value.dtype == g.dtype else grad_value.to(g.dtype)
                scaled.append(g * _expand_to(torch, upstream, g.ndim))
            return (None, *scaled)

    return AnalyticLoss


def _is_one(scalar: Any) -> bool:
    """Whether a 0-d upstream gradient is exactly 1, where reading it is free and allowed.

    Only on the CPU, and never while torch.compile or torch.jit.trace record the backward or a
    functorch transform wraps it (a data-dependent branch would break or freeze the graph).
    """
    torch = sys.modules["torch"]
    if not scalar.is_cpu or torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)
    if transforms_active is None or transforms_active():
        return False
    return scalar.item() == 1.0


# ------------------------------------------------------------------------------------- JAX

_JAX_FUNCTIONS: dict[tuple, tuple[Any, Any]] = {}


def _jax_value(call: Any) -> Any:
    loss = call.loss
    array_names = tuple(name for name in loss._array_params if call.params.get(name) is not None)
    static = tuple((k, v) for k, v in call.params.items() if k not in array_names)
    key = (id(loss), call.reduction, static, array_names)
    entry = _JAX_FUNCTIONS.get(key)
    if entry is None or entry[0] is not loss:
        entry = (loss, _make_jax_function(loss, call.xp, call.reduction, dict(static), array_names))
        if len(_JAX_FUNCTIONS) < 1024:
            _JAX_FUNCTIONS[key] = entry
    arrays = tuple(call.params[name] for name in array_names)
    return entry[1](call.y_true, call.predictions, call.weight, arrays)


def _make_jax_function(loss: Any, xp: Any, reduction: str, static: dict, array_names: tuple) -> Any:
    import jax
    from jax.custom_derivatives import SymbolicZero

    from ._loss import Call

    def make_call(y_true, predictions, weight, arrays, order):
        first = predictions[0]
        loss_shape = tuple(first.shape) if loss.kind == "pointwise" else tuple(first.shape[:-1])
        params = dict(static)
        params.update(zip(array_names, arrays))
        return Call(
            loss=loss, xp=xp, backend="jax", y_true=y_true, predictions=tuple(predictions), params=params,
            weight=weight, reduction=reduction, order=order, out_dtype=first.dtype, compute_dtype=first.dtype,
            loss_shape=loss_shape,
        )

    @jax.custom_jvp
    def function(y_true, predictions, weight, arrays):
        return run(make_call(y_true, predictions, weight, arrays, 0))[0]

    def rule(primals, tangents):
        y_true, predictions, weight, arrays = primals
        t_true, t_predictions, t_weight, t_arrays = tangents
        value, grads, _ = run(make_call(y_true, predictions, weight, arrays, 1))
        tangent = None
        for g, t in zip(grads, t_predictions):
            if isinstance(t, SymbolicZero):
                continue
            product = g * t
            if product.ndim > value.ndim:  # contract the axes a term depends on (the class axis)
                product = xp.sum(product, axis=tuple(range(value.ndim, product.ndim)))
            tangent = product if tangent is None else tangent + product
        others = [(i, t) for i, t in enumerate((t_true, t_weight, t_arrays)) if not _all_symbolic_zero(t)]
        if others:
            # A tangent of the target, the weights or an array parameter: differentiate the
            # reference expression in those inputs (the analytic gradient covers predictions only).
            def of_others(*values):
                inputs = [y_true, weight, arrays]
                for (i, _), v in zip(others, values):
                    inputs[i] = v
                return run(make_call(inputs[0], predictions, inputs[1], inputs[2], 0), reference=True)[0]

            primal_others = [(y_true, weight, arrays)[i] for i, _ in others]
            tangent_others = [_instantiate(t, p) for (_, t), p in zip(others, primal_others)]
            _, extra = jax.jvp(of_others, tuple(primal_others), tuple(tangent_others))
            tangent = extra if tangent is None else tangent + extra
        if tangent is None:
            tangent = xp.zeros_like(value)
        return value, tangent

    function.defjvp(rule, symbolic_zeros=True)
    return function


def _all_symbolic_zero(tangent: Any) -> bool:
    import jax
    from jax.custom_derivatives import SymbolicZero

    leaves = jax.tree_util.tree_leaves(tangent, is_leaf=lambda x: isinstance(x, SymbolicZero))
    return all(isinstance(leaf, SymbolicZero) for leaf in leaves)


def _instantiate(tangent: Any, primal: Any) -> Any:
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    return jax.tree_util.tree_map(
        lambda t, p: jnp.zeros_like(p) if isinstance(t, SymbolicZero) else t, tangent, primal,
        is_leaf=lambda x: isinstance(x, SymbolicZero),
    )
