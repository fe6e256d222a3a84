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

from ._kernels import grad_params, reference_style, run, select

__all__ = ["value", "derivatives"]


def value(call: Any) -> Any:
    """The reduced value of a prepared call of order 0, differentiable by the call's framework."""
    backend = call.backend
    if backend == "torch":
        return _torch_value(call)
    if backend == "jax":
        return _jax_value(call)
    if backend == "tensorflow":
        return _tensorflow_value(call)
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
_TORCH_DEFERRED: list[Any] = []


def _differentiable_params(call: Any) -> tuple[str, ...]:
    """The array parameters set in ``call`` whose analytic gradient the reference kernel returns."""
    return tuple(name for name in grad_params(call.loss) if call.params.get(name) is not None)


def _with_arrays(call: Any, arrays: tuple) -> Any:
    """``call`` with its predictions, then its differentiable array parameters, replaced by ``arrays``."""
    count = len(call.predictions)
    names = _differentiable_params(call)
    if not names:
        return call.replace(predictions=tuple(arrays))
    params = dict(call.params)
    params.update(zip(names, arrays[count:]))
    return call.replace(predictions=tuple(arrays[:count]), params=params)


def _torch_value(call: Any) -> Any:
    torch = sys.modules["torch"]  # a torch call: torch is imported
    if not torch.is_grad_enabled():
        return run(call)[0]
    extra = _differentiable_params(call)
    arrays = tuple(call.predictions) + tuple(call.params[name] for name in extra)
    if _other_inputs_require_grad(call, extra):
        # Labels, weights or array parameters that require grad (distillation, learned weights):
        # their gradient is the reference expression's, the predictions' still the analytic one
        # (with its floors and kinks), as on JAX and TensorFlow.
        if call.reduction == "none" and reference_style(call.loss) == "reduced":
            return run(call, reference=True)[0]
        others = _torch_others(call, extra)
        if not _TORCH_WITH_OTHERS:
            _TORCH_WITH_OTHERS.append(_make_torch_function_with_others())
        return _TORCH_WITH_OTHERS[0].apply(call, len(arrays), tuple(others), *arrays, *others.values())[0]
    if not any(a.requires_grad for a in arrays):
        return run(call)[0]
    native = select(call, styles=("native",))
    if native is not None:
        return native.fn(call)
    if call.reduction == "none" and reference_style(call.loss) == "reduced":
        # The gradient of a reduced kernel is a sum over the terms; with a vector of upstream
        # gradients it is recomputed in backward, with them as per-term weights.
        if not _TORCH_DEFERRED:
            _TORCH_DEFERRED.append(_make_torch_deferred_function())
        return _TORCH_DEFERRED[0].apply(call, *arrays)
    if not _TORCH_FUNCTION:
        _TORCH_FUNCTION.append(_make_torch_function())
    outputs = _TORCH_FUNCTION[0].apply(call, *arrays)
    return outputs[0]


_TORCH_WITH_OTHERS: list[Any] = []


def _torch_others(call: Any, extra: tuple[str, ...]) -> dict[str, Any]:
    """The inputs other than the predictions (and their analytic array parameters) that require grad."""
    others = {}
    if call.y_true is not None and call.y_true.requires_grad:
        others["y_true"] = call.y_true
    if call.weight is not None and call.weight.requires_grad:
        others["weight"] = call.weight
    for name in call.loss._array_params:
        value = call.params.get(name)
        if name not in extra and value is not None and value.requires_grad:
            others[name] = value
    return others


def _make_torch_function_with_others() -> Any:
    import torch

    class AnalyticLossWithOthers(torch.autograd.Function):
        """The analytic gradient for the predictions, the reference expression's for the others.

        Forward runs the selected kernel once (value and analytic gradients); backward scales
        the saved gradients for the predictions and differentiates the reference expression
        (predictions held constant) for the labels, weights or parameters that require grad.
        """

        @staticmethod
        def forward(call, count, names, *inputs):
            arrays, others = inputs[:count], inputs[count:]
            this = _with_others(_with_arrays(call, arrays), dict(zip(names, others)))
            value, grads, _ = run(this.replace(order=1))
            return value, *grads

        @staticmethod
        def setup_context(ctx, inputs, output):
            call, count, names = inputs[:3]
            grads = output[1:]
            ctx.mark_non_differentiable(*grads)
            ctx.set_materialize_grads(False)
            ctx.call, ctx.count, ctx.names = call, count, names
            ctx.save_for_backward(*grads, *inputs[3:])

        @staticmethod
        def backward(ctx, grad_value, *unused):
            count, names = ctx.count, ctx.names
            saved = ctx.saved_tensors
            grads, arrays, others = saved[:count], saved[count:2 * count], saved[2 * count:]
            create_graph = torch.is_grad_enabled()
            if create_graph:
                _, grads, _ = run(_with_others(_with_arrays(ctx.call, arrays), dict(zip(names, others)))
                                  .replace(order=1), reference=True)
            scaled = [g * _expand_to(torch, grad_value.to(g.dtype), g.ndim) for g in grads]
            needed = [i for i, o in enumerate(others) if ctx.needs_input_grad[3 + count + i]]
            other_grads = [None] * len(others)
            if needed:
                with torch.enable_grad():
                    leaves = [o.detach().requires_grad_(True) for o in others]
                    constants = tuple(a.detach() for a in arrays)
                    this = _with_others(_with_arrays(ctx.call, constants), dict(zip(names, leaves)))
                    value = run(this.replace(order=0), reference=True)[0]
                    found = torch.autograd.grad(value, [leaves[i] for i in needed], grad_value.to(value.dtype),
                                                allow_unused=True, create_graph=create_graph)
                for i, g in zip(needed, found):
                    other_grads[i] = g
            return (None, None, None, *scaled, *other_grads)

    return AnalyticLossWithOthers


def _other_inputs_require_grad(call: Any, exclude: tuple[str, ...] = ()) -> bool:
    y_true, weight = call.y_true, call.weight
    if (y_true is not None and y_true.requires_grad) or (weight is not None and weight.requires_grad):
        return True
    params = call.params
    return any(params[name] is not None and params[name].requires_grad
               for name in call.loss._array_params if name not in exclude)


def _upstream_weights(xp: Any, call: Any, upstream: Any) -> Any:
    """Per-term weights upstream * sample_weight: the reduced kernel's 'sum' then gives the vector-Jacobian product."""
    weight = call.weight
    if weight is None:
        return upstream
    from ._reduction import expand_weight

    return upstream * expand_weight(xp, weight, upstream.ndim)


def _make_torch_deferred_function() -> Any:
    import torch

    class DeferredAnalyticLoss(torch.autograd.Function):
        """reduction='none' of a "reduced" kernel: forward is the value only, backward one more pass.

        Backward runs the kernel with reduction 'sum' and the upstream gradient (times the sample
        weights) as weights: the gradient of sum_i u_i w_i l_i, exactly the vector-Jacobian product.
        """

        @staticmethod
        def forward(call, *arrays):
            return run(_with_arrays(call, arrays).replace(order=0))[0]

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.call = inputs[0]
            ctx.save_for_backward(*inputs[1:])

        @staticmethod
        def backward(ctx, grad_value):
            arrays = ctx.saved_tensors
            call = _with_arrays(ctx.call, arrays)
            upstream = grad_value.to(arrays[0].dtype)
            weights = _upstream_weights(torch, call, upstream)
            with torch.no_grad():
                _, grads, _ = run(call.replace(weight=weights, reduction="sum", order=1))
            return (None, *grads)

    return DeferredAnalyticLoss


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
            value, grads, _ = run(_with_arrays(call, predictions).replace(order=1))
            # A gradient that is an input (or a view of one) cannot be an output of its own.
            pointers = {p.untyped_storage().data_ptr() for p in predictions}
            grads = tuple(g.clone() if g.untyped_storage().data_ptr() in pointers else g for g in grads)
            return (value, *grads)

        @staticmethod
        def setup_context(ctx, inputs, output):
            grads = output[1:]
            ctx.mark_non_differentiable(*grads)
            # The gradient outputs never receive an upstream gradient: without this, autograd
            # would materialise zeros the size of every gradient before calling backward.
            ctx.set_materialize_grads(False)
            ctx.call = inputs[0]
            ctx.save_for_backward(*grads, *inputs[1:])

        @staticmethod
        def backward(ctx, grad_value, *unused):
            saved = ctx.saved_tensors
            count = len(saved) // 2
            grads = saved[:count]
            if torch.is_grad_enabled():
                predictions = saved[count:]
                _, grads, _ = run(_with_arrays(ctx.call, predictions).replace(order=1), reference=True)
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


# ------------------------------------------------------------------------------ TensorFlow

def _tensorflow_value(call: Any) -> Any:
    """The value under ``tf.custom_gradient``: tapes and ``tf.function`` see the analytic gradient.

    Eagerly, a call no tape watches runs the kernel alone, and one whose labels, weights or other
    array parameters are watched differentiates the reference expression (as on PyTorch). While
    ``tf.function`` traces, which inputs a tape outside the function will differentiate is not
    known, so the gradient of every floating input is defined; TensorFlow prunes those unused.
    """
    tf = sys.modules["tensorflow"]
    from tensorflow.python.eager import record

    call = call.replace(y_true=_tf_tensor(tf, call.y_true), weight=_tf_tensor(tf, call.weight),
                        predictions=tuple(_tf_tensor(tf, p) for p in call.predictions),
                        params={k: _tf_tensor(tf, v) for k, v in call.params.items()})
    extra = _differentiable_params(call)
    arrays = tuple(call.predictions) + tuple(call.params[name] for name in extra)
    others = {"y_true": call.y_true, "weight": call.weight}
    others.update((name, call.params[name]) for name in call.loss._array_params
                  if name not in extra and call.params.get(name) is not None)
    others = {k: v for k, v in others.items() if v is not None and v.dtype.is_floating}
    tracing = not tf.executing_eagerly()
    if not tracing:
        if record.should_record_backprop(list(others.values())):
            return run(call, reference=True)[0]
        if not record.should_record_backprop(list(arrays)):
            return run(call)[0]
        others = {}
    deferred = call.reduction == "none" and reference_style(call.loss) == "reduced"
    other_names = tuple(others)

    @tf.custom_gradient
    def function(*inputs):
        this = _with_others(_with_arrays(call, inputs[:len(arrays)]), dict(zip(other_names, inputs[len(arrays):])))
        if deferred:
            value = run(this.replace(order=0))[0]
        else:
            value, grads, _ = run(this.replace(order=1))

        def backward(upstream):
            if deferred:
                weights = _upstream_weights(tf, this, tf.cast(upstream, value.dtype))
                _, scaled, _ = run(this.replace(weight=weights, reduction="sum", order=1))
                scaled = list(scaled)
            else:
                scaled = [g * _expand_to(tf, tf.cast(upstream, g.dtype), g.ndim) for g in grads]
            if other_names:
                scaled.extend(_tensorflow_reference_grads(tf, this, other_names, upstream))
            return scaled

        return value, backward

    return function(*arrays, *others.values())


def _tf_tensor(tf: Any, x: Any) -> Any:
    # A variable read inside tf.custom_gradient would need a `variables` gradient of its own.
    return tf.convert_to_tensor(x) if isinstance(x, tf.Variable) else x


def _with_others(call: Any, others: dict) -> Any:
    if not others:
        return call
    params = dict(call.params)
    changes = {}
    for name, value in others.items():
        if name in ("y_true", "weight"):
            changes[name] = value
        else:
            params[name] = value
    return call.replace(params=params, **changes)


def _tensorflow_reference_grads(tf: Any, call: Any, names: tuple, upstream: Any) -> list:
    """Gradients of the labels, weights or array parameters: the reference expression, differentiated."""
    inputs = [call.y_true if n == "y_true" else call.weight if n == "weight" else call.params[n] for n in names]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = run(_with_others(call.replace(order=0), dict(zip(names, inputs))), reference=True)[0]
    return list(tape.gradient(value, inputs, output_gradients=tf.cast(upstream, value.dtype)))


# ------------------------------------------------------------------------------------- JAX

_JAX_FUNCTIONS: dict[tuple, tuple[Any, Any]] = {}


def _jax_value(call: Any) -> Any:
    loss = call.loss
    array_names = tuple(name for name in loss._array_params if call.params.get(name) is not None)
    static = tuple((k, v) for k, v in call.params.items() if k not in array_names)
    key = (id(loss), call.reduction, static, array_names, call.out_dtype)
    entry = _JAX_FUNCTIONS.get(key)
    if entry is None or entry[0] is not loss:
        entry = (loss, _make_jax_function(loss, call.xp, call.reduction, dict(static), array_names, call.out_dtype))
        if len(_JAX_FUNCTIONS) < 1024:
            _JAX_FUNCTIONS[key] = entry
    arrays = tuple(call.params[name] for name in array_names)
    return entry[1](call.y_true, call.predictions, call.weight, arrays)


def _make_jax_function(loss: Any, xp: Any, reduction: str, static: dict, array_names: tuple,
                       out_dtype: Any = None) -> Any:
    import jax
    from jax.custom_derivatives import SymbolicZero

    from ._loss import Call

    def make_call(y_true, predictions, weight, arrays, order):
        first = predictions[0]
        params = dict(static)
        params.update(zip(array_names, arrays))
        loss_shape = loss.loss_shape(tuple(first.shape), params)
        return Call(
            loss=loss, xp=xp, backend="jax", y_true=y_true, predictions=tuple(predictions), params=params,
            # out_dtype: the caller's (float16's gradient floor differs, _kernels.grad_floor).
            weight=weight, reduction=reduction, order=order, out_dtype=first.dtype if out_dtype is None else out_dtype,
            compute_dtype=first.dtype,
            loss_shape=loss_shape,
        )

    # The array parameters whose gradient the (reduced) reference kernel returns: their tangents
    # pair with the kernel's extra gradients; every other array goes through the reference.
    analytic = tuple(array_names.index(name) for name in grad_params(loss) if name in array_names)
    other = tuple(i for i in range(len(array_names)) if i not in analytic)

    if reduction == "none" and reference_style(loss) == "reduced":
        return _make_jax_deferred(jax, xp, make_call, analytic)

    @jax.custom_jvp
    def function(y_true, predictions, weight, arrays):
        return run(make_call(y_true, predictions, weight, arrays, 0))[0]

    def rule(primals, tangents):
        y_true, predictions, weight, arrays = primals
        t_true, t_predictions, t_weight, t_arrays = tangents
        value, grads, _ = run(make_call(y_true, predictions, weight, arrays, 1))
        tangent = None
        paired = tuple(t_predictions) + tuple(t_arrays[i] for i in analytic)
        for g, t in zip(grads, paired):
            if isinstance(t, SymbolicZero):
                continue
            product = g * t
            if product.ndim > value.ndim:  # contract the axes a term depends on (the class axis)
                product = xp.sum(product, axis=tuple(range(value.ndim, product.ndim)))
            tangent = product if tangent is None else tangent + product
        t_others = tuple(t_arrays[i] for i in other)
        others = [(i, t) for i, t in enumerate((t_true, t_weight, t_others)) if not _all_symbolic_zero(t)]
        if others:
            # A tangent of the target, the weights or an array parameter: differentiate the
            # reference expression in those inputs (the analytic gradient covers predictions only).
            def of_others(*values):
                inputs = [y_true, weight, tuple(arrays[i] for i in other)]
                for (i, _), v in zip(others, values):
                    inputs[i] = v
                merged = list(arrays)
                for i, v in zip(other, inputs[2]):
                    merged[i] = v
                return run(make_call(inputs[0], predictions, inputs[1], tuple(merged), 0), reference=True)[0]

            primal_others = [(y_true, weight, tuple(arrays[i] for i in other))[i] for i, _ in others]
            tangent_others = [_instantiate(t, p) for (_, t), p in zip(others, primal_others)]
            _, extra = jax.jvp(of_others, tuple(primal_others), tuple(tangent_others))
            tangent = extra if tangent is None else tangent + extra
        if tangent is None:
            tangent = xp.zeros_like(value)
        return value, tangent

    function.defjvp(rule, symbolic_zeros=True)
    return function


def _make_jax_deferred(jax: Any, xp: Any, make_call: Any, analytic: tuple) -> Any:
    """reduction='none' of a "reduced" kernel: a custom_vjp whose backward reruns the kernel.

    Forward keeps only the inputs (no residual per chunk); backward runs the kernel with
    reduction 'sum' and the cotangent (times the sample weights) as weights, the vector-Jacobian
    product. The cotangents of the labels, the sample weights and the other array parameters
    are zero: differentiate those with reduction 'mean' or 'sum'.
    """

    @jax.custom_vjp
    def function(y_true, predictions, weight, arrays):
        return run(make_call(y_true, predictions, weight, arrays, 0))[0]

    def forward(y_true, predictions, weight, arrays):
        return function(y_true, predictions, weight, arrays), (y_true, predictions, weight, arrays)

    def backward(residuals, cotangent):
        y_true, predictions, weight, arrays = residuals
        call = make_call(y_true, predictions, weight, arrays, 1)
        weights = _upstream_weights(xp, call, cotangent)
        _, grads, _ = run(call.replace(weight=weights, reduction="sum"))
        count = len(predictions)
        array_cotangents = [xp.zeros_like(a) for a in arrays]
        for position, i in enumerate(analytic):
            array_cotangents[i] = grads[count + position]
        weight_cotangent = None if weight is None else xp.zeros_like(weight)
        return (_zero_cotangent(y_true), tuple(grads[:count]), weight_cotangent, tuple(array_cotangents))

    function.defvjp(forward, backward)
    return function


def _zero_cotangent(x: Any) -> Any:
    import jax
    import numpy as np

    if x is None:
        return None
    if jax.numpy.issubdtype(x.dtype, jax.numpy.inexact):
        return jax.numpy.zeros_like(x)
    return np.zeros(x.shape, dtype=jax.dtypes.float0)


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
