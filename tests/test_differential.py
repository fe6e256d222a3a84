"""Differential harness: every loss of the catalog, through every door, against the float64 reference.

In the spirit of PyTorch's OpInfo. For each loss in ``lk.catalog()`` (a new loss is covered
without new code, once it has a generator in ``_cases`` and edges in ``_edge_cases``), hypothesis
draws samples (``_strategies.samples``): a dtype (float64, float32, float16, bfloat16), a
reduction, the parameter settings of ``_cases.param_cases``, and inputs that are ordinary
(``make_case``), the loss's documented edges (``edge_case``: floors, kinks, +-inf, NaN, masked
classes), both mixed row by row and permuted, scaled towards overflow (x1e4 ... x1e200 on the
inputs whose domain allows it: values, logits, scores, embeddings), empty (a zero-length batch),
with NaN injected into float data (predictions and data targets; labels never), and labels of
int64/int32/int16/uint8. Every input is rounded to the dtype first, so the reference and the
doors see the same numbers.

Doors
    NumPy ``loss(...)``, ``.grad``, ``.value_and_grad`` on the default dispatch (fused / fast
    kernels) and under ``lk.reference_only()`` (generic), at every dtype (bfloat16 as
    ``ml_dtypes.bfloat16`` arrays); PyTorch: the functional call without grad, autograd through it
    (``.backward()`` of the sum), ``.grad`` on tensors, the ``losskit.torch`` module (value and
    autograd), and ``torch.compile`` (backend ``eager`` in CI, ``aot_eager`` under the large profile); JAX: eager, ``jit``, ``jax.grad``,
    ``jit(grad)`` and ``.value_and_grad`` on jax arrays (eager ``jax.grad`` under the large profile
    only: it compiles every primitive per shape, seconds per call, and runs the rules ``jit(grad)`` runs); the ``losskit.keras`` loss (``KERAS_BACKEND=jax``,
    ``reduction=None``, float32 and float64).

Reference
    ``loss.value_and_grad`` under ``lk.reference_only()`` on the inputs as float64. For
    ``reduction="none"`` the gradient is that of the sum of the unreduced loss (what ``.grad``
    documents), which is what autograd of ``value.sum()`` gives.

Rules (``_strategies.compare``), for every value and gradient array of every door
    * NaN masks equal the reference's: a NaN the reference lacks fails ("NaN where finite"), a
      number where the reference is NaN fails ("NaN swallowed").
    * Overflow: where the float64 reference exceeds the dtype's largest finite number (by more
      than rounding, ``max * (1 + 2 eps)``) the door must give inf of the same sign (IEEE), never a
      clipped finite number (65504 for float16); where the reference is finite and below
      ``max * (1 - 4 rtol)`` the door must be finite (an intermediate overflow fails); an infinite
      reference needs the same infinity.
    * Tolerance where both are finite: ``|door - ref| <= rtol |ref| + atol`` with, per dtype,
      rtol = 1e-9 (float64), 2e-5 (float32), 1e-2 (float16), 2e-2 (bfloat16), and
      ``atol = max(rtol * max|ref|, smallest normal of the dtype)``: the absolute part is scaled to
      the magnitude of that array (an element far below the largest one is checked only to
      rtol * the largest), and values below the smallest normal may flush to zero. Gradients also get
      ``8 eps * |L| / median|x|`` (the size of a gradient's terms: a gradient that cancels far below
      it, e.g. info_nce at parallel rows scaled to 1e38, is rounding noise); but a gradient whose
      every element is 0 where the reference is representable fails (the r / inf = 0 signature of an
      intermediate overflow).
    * Gradient floors are the ones documented per dtype (``docs/numerics.md``: denominators floored at
      1e-12, at 2^-14 for float16 results): the float16 reference runs with the float16 floor.
    * Errors: if the reference raises (ValueError/TypeError: an input outside the loss's domain,
      e.g. a tweedie power whose domain excludes the edge targets), the eager functional doors must
      raise too (validity is judged on the exact inputs before rounding; where only the rounded ones
      leave the domain, a float16 target of 1e-10 rounded to 0, a door may raise or compute); the
      doors documented to skip value checks (``jit``, ``torch.compile``, the torch
      modules with ``check_values=False``, Keras) are then not compared. A door that raises where
      the reference gives a number fails ("crash").

NaN policy (``_strategies.policy_violations``), checked on the reference itself
    A NaN injected into an input element must give NaN in the value: with ``reduction="none"`` at
    the loss element it feeds directly (the same position for pointwise losses; the row, i.e. the
    index without the class/feature axis, for losses over a class or feature axis; (sample, class)
    for overlap losses, (class,) with ``batch=True``; every element for a NaN in a free-shaped
    input such as linear_cross_entropy's ``weight``); under mean/sum the result. And NaN in the
    gradient of the affected elements: the gradient of the input that holds the NaN at its
    position (for a NaN target, every prediction's gradient at that position). Positions whose
    label is the ``ignore_index`` are not affected. Elements the NaN reaches indirectly (a dice
    class's other pixels, info_nce's other rows) are not required, but the doors' NaN masks must
    still equal the reference's. The doors inherit the policy through the mask rule.

Profiles (``LOSSKIT_HARNESS``)
    ``ci`` (default): 4 examples per loss and door group (2 for ``torch.compile``, on the fixed
    ``COMPILE_SET``, one loss per kind, backend ``eager``), edge arrays of one size, derandomized,
    no example database and no shrinking, ``deadline=None``: deterministic and bounded (about 5
    CPU-minutes in all, under 3 minutes with ``-n 2`` on 2 idle cores). ``LOSSKIT_HARNESS=thorough``
    (``LOSSKIT_HARNESS=thorough python -m pytest -n 2 tests/test_differential.py``): 200 examples
    per loss and door group, random seeds, shrinking on, three edge sizes, eager ``jax.grad``, and
    ``torch.compile`` (``aot_eager``) on every loss. ``LOSSKIT_HARNESS_EXAMPLES=N`` overrides the count.

A failure prints every violation of the example, door by door, and a reproducer (the arrays in
float64 and the call). Regression tests for the bug classes of issue 10 are in
``tests/test_no_silent_wrong_number.py``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

import losskit as lk
from _strategies import (
    FLOAT_DTYPES,
    Sample,
    as_tuple,
    compare,
    conditioning_scale,
    policy_violations,
    reference,
    samples,
)

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy
lkt = pytest.importorskip("losskit.torch")

THOROUGH = os.environ.get("LOSSKIT_HARNESS", "ci") == "thorough"
EXAMPLES = int(os.environ.get("LOSSKIT_HARNESS_EXAMPLES", 200 if THOROUGH else 4))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not THOROUGH,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink) if THOROUGH else (Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=THOROUGH,
)

CATALOG = lk.catalog()
# Edge-case sizes (prediction elements): one in CI, so JAX's per-shape compilations are reused.
SIZES = (12, 20, 30) if THOROUGH else (12,)
# torch.compile is slow: in CI a fixed set that covers each kind (pointwise, dense, sparse, overlap, rowwise).
COMPILE_SET = ("mean_squared_error", "sigmoid_cross_entropy", "sparse_softmax_cross_entropy", "dice", "cosine_embedding")
COMPILE_LOSSES = CATALOG if THOROUGH else [lk.get(name) for name in COMPILE_SET]
# Dynamo's graph capture (what changes a path) runs under both; AOTAutograd's tracing only under the large profile.
COMPILE_BACKEND = "aot_eager" if THOROUGH else "eager"

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
                "bfloat16": torch.bfloat16}
TORCH_INT = {"int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "uint8": torch.uint8}
# Doors that skip value checks by documentation: not compared where the reference refuses the input.
UNCHECKED = ("jit", "compile", "module", "keras")


def _fail(sample: Sample, problems: list[str]) -> None:
    if problems:
        raise AssertionError(
            f"{sample.loss.name} dtype={sample.dtype} reduction={sample.reduction} params={sample.params} "
            f"labels={sample.label_dtype} {sample.note}\n  " + "\n  ".join(problems)
            + "\nreproducer:\n" + sample.reproducer()
        )


def _run_doors(sample: Sample, doors) -> list[str]:
    """Run each ``(name, thunk)`` door; ``thunk() -> (value or None, grads or None)``."""
    ref = reference(sample)
    cond = conditioning_scale(sample, ref)
    problems = [f"[policy] {p}" for p in policy_violations(sample, ref)]
    for name, thunk in doors:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                value, grads = thunk()
        except Exception as error:  # noqa: BLE001 - every exception is a finding
            if sample.rounding_error is not None and isinstance(error, (ValueError, TypeError)):
                continue  # rounding to the dtype left the domain (see Sample.rounding_error)
            if ref.error is None:
                problems.append(f"[{name}] crash: {type(error).__name__}: {str(error)[:300]}")
            elif not isinstance(error, (ValueError, TypeError)):
                problems.append(f"[{name}] raises {type(error).__name__} (not ValueError/TypeError) where the "
                                f"reference raises {type(ref.error).__name__}: {str(error)[:200]}")
            continue
        if ref.error is not None:
            if not any(word in name for word in UNCHECKED):
                problems.append(f"[{name}] accepted an input the reference refuses "
                                f"({type(ref.error).__name__}: {str(ref.error)[:200]})")
            continue
        if value is not None:
            problems += [f"[{name}] {p}" for p in compare(value, ref.value, sample.dtype, "value")]
        if grads is not None:
            grads = as_tuple(grads)
            if len(grads) != len(ref.grads):
                problems.append(f"[{name}] {len(grads)} gradients, reference {len(ref.grads)}")
            for k, (ours, expected) in enumerate(zip(grads, ref.grads)):
                if ours is None:
                    problems.append(f"[{name}] no gradient for input {k}")
                    continue
                problems += [f"[{name}] {p}" for p in compare(ours, expected, sample.dtype, f"gradient {k}", cond)]
    return problems


def _catalog_params(losses):
    return [pytest.param(loss, id=loss.name) for loss in losses]


# ------------------------------------------------------------------------------------- NumPy

def _numpy_doors(sample: Sample):
    loss, kw = sample.loss, sample.keywords()
    args = sample.numpy_args()
    for label, context in (("numpy", _nothing), ("numpy generic", lk.reference_only)):
        def value(context=context):
            with context():
                return loss(*args, **kw), None

        def grad(context=context):
            with context():
                return None, loss.grad(*args, **kw)

        def both(context=context):
            with context():
                return loss.value_and_grad(*args, **kw)

        yield f"{label} value", value
        yield f"{label} .grad", grad
        yield f"{label} .value_and_grad", both


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("loss", _catalog_params(CATALOG))
def test_numpy_doors_agree_with_the_reference(loss):
    @PROFILE
    @given(samples(loss, FLOAT_DTYPES, sizes=SIZES))
    def check(sample):
        _fail(sample, _run_doors(sample, _numpy_doors(sample)))

    check()


# ----------------------------------------------------------------------------------- PyTorch

def _torch_args(sample: Sample, grad: bool):
    dtype = TORCH_DTYPES[sample.dtype]
    out = []
    for i, a in enumerate(sample.numpy_args("float64")):
        if np.asarray(a).dtype.kind in "iu":
            out.append(torch.as_tensor(np.asarray(a)).to(TORCH_INT[sample.label_dtype]))
        else:
            t = torch.as_tensor(a).to(dtype)
            if grad and i >= sample.first:
                t.requires_grad_(True)
            out.append(t)
    return out


def _torch_params(sample: Sample, dtype):
    return {k: (torch.as_tensor(v).to(dtype) if isinstance(v, np.ndarray) else v) for k, v in sample.params.items()}


def _module_order(loss, args):
    """PyTorch's order: (input, target, ...), (x1, x2, target) for the pair losses, no target if none."""
    if not loss.has_target:
        return tuple(args)
    target, *predictions = args
    if lkt.module_class(loss).target_last:
        return (*predictions, target)
    return (predictions[0], target, *predictions[1:])


def _torch_doors(sample: Sample):
    loss = sample.loss
    dtype = TORCH_DTYPES[sample.dtype]
    kw = {"reduction": sample.reduction, **_torch_params(sample, dtype)}

    def no_grad():
        with torch.no_grad():
            return loss(*_torch_args(sample, False), **kw), None

    def autograd():
        args = _torch_args(sample, True)
        value = loss(*args, **kw)
        value.sum().backward()
        return value, tuple(a.grad for a in args[sample.first:])

    def analytic():
        return loss.value_and_grad(*_torch_args(sample, False), **kw)

    def module():
        args = _torch_args(sample, True)
        criterion = lkt.module_class(loss)(reduction=sample.reduction, **sample.params)
        value = criterion(*_module_order(loss, args))
        value.sum().backward()
        return value, tuple(a.grad for a in args[sample.first:])

    yield "torch no_grad value", no_grad
    yield "torch autograd", autograd
    yield "torch .value_and_grad", analytic
    yield "torch module", module


@pytest.mark.parametrize("loss", _catalog_params(CATALOG))
def test_torch_doors_agree_with_the_reference(loss):
    @PROFILE
    @given(samples(loss, FLOAT_DTYPES, sizes=SIZES))
    def check(sample):
        _fail(sample, _run_doors(sample, _torch_doors(sample)))

    check()


def _compile_doors(sample: Sample):
    loss = sample.loss
    dtype = TORCH_DTYPES[sample.dtype]
    kw = {"reduction": sample.reduction, **_torch_params(sample, dtype)}

    def compiled():
        args = _torch_args(sample, True)
        head, predictions = args[: sample.first], args[sample.first:]
        function = torch.compile(lambda *p: loss(*head, *p, **kw), backend=COMPILE_BACKEND)
        value = function(*predictions)
        value.sum().backward()
        return value, tuple(p.grad for p in predictions)

    yield "torch.compile", compiled


@pytest.mark.parametrize("loss", _catalog_params(COMPILE_LOSSES))
def test_torch_compile_agrees_with_the_reference(loss):
    @settings(PROFILE, max_examples=EXAMPLES if THOROUGH else 2)
    @given(samples(loss, ("float64", "float32"), sizes=SIZES))
    def check(sample):
        torch._dynamo.reset()
        _fail(sample, _run_doors(sample, _compile_doors(sample)))

    check()


# --------------------------------------------------------------------------------------- JAX

JAX_DTYPES = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}


def _jax_args(sample: Sample):
    out = []
    for a in sample.numpy_args("float64"):
        if np.asarray(a).dtype.kind in "iu":
            out.append(jnp.asarray(np.asarray(a).astype(sample.label_dtype)))
        else:
            out.append(jnp.asarray(a).astype(JAX_DTYPES[sample.dtype]))
    return out


def _jax_doors(sample: Sample):
    loss = sample.loss
    dtype = JAX_DTYPES[sample.dtype]
    params = {k: (jnp.asarray(v).astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in sample.params.items()}
    kw = {"reduction": sample.reduction, **params}
    args = _jax_args(sample)
    head, predictions = args[: sample.first], tuple(args[sample.first:])
    argnums = tuple(range(len(predictions)))

    def function(*p):
        return loss(*head, *p, **kw)

    def total(*p):
        return jnp.sum(function(*p))

    yield "jax eager value", lambda: (function(*predictions), None)
    yield "jax .value_and_grad", lambda: loss.value_and_grad(*args, **kw)
    yield "jax.jit value", lambda: (jax.jit(function)(*predictions), None)
    if THOROUGH:  # eager autodiff compiles every primitive per shape: seconds; jit(grad) runs the same rules
        yield "jax.grad", lambda: (None, jax.grad(total, argnums=argnums)(*predictions))
    yield "jax.jit(jax.grad)", lambda: (None, jax.jit(jax.grad(total, argnums=argnums))(*predictions))


@pytest.mark.parametrize("loss", _catalog_params(CATALOG))
def test_jax_doors_agree_with_the_reference(loss):
    @PROFILE
    @given(samples(loss, FLOAT_DTYPES, sizes=SIZES))
    def check(sample):
        _fail(sample, _run_doors(sample, _jax_doors(sample)))

    check()


# ------------------------------------------------------------------------------------- Keras

def _keras_doors(sample: Sample):
    lkk = pytest.importorskip("losskit.keras")
    loss = sample.loss
    args = sample.numpy_args()

    def keras_value():
        keras_loss = lkk.loss_class(loss)(reduction=None, dtype=sample.dtype, **sample.params)
        y_true = args[0] if loss.has_target else np.zeros(args[0].shape[:1])
        predictions = args[sample.first:]
        prediction = np.stack(predictions, axis=-1) if len(predictions) > 1 else predictions[0]
        return keras_loss(jnp.asarray(y_true), jnp.asarray(prediction)), None

    yield "keras loss", keras_value


KERAS_LOSSES = [loss for loss in CATALOG if "none" in loss.reductions]


@pytest.mark.parametrize("loss", _catalog_params(KERAS_LOSSES))
def test_keras_loss_agrees_with_the_reference(loss):
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("the Keras door is checked on the JAX backend here")
    lkk = pytest.importorskip("losskit.keras")
    if loss.name in lkk.EXCLUDED:
        pytest.skip(f"no Keras class: {lkk.EXCLUDED[loss.name]}")
    if loss.name == "linear_cross_entropy" or len(loss.inputs) > 1 and "free" in loss.input_shapes:
        pytest.skip("inputs of different shapes cannot be stacked into Keras's one y_pred")

    @PROFILE
    @given(samples(loss, ("float32", "float64"), reductions=("none",), sizes=SIZES))
    def check(sample):
        if sample.args[sample.first].shape[0] == 0:
            return  # Keras has no empty-batch call to compare
        _fail(sample, _run_doors(sample, _keras_doors(sample)))

    check()
