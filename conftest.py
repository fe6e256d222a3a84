"""Shared test configuration (at the root so that doctests under src/ get it too).

Keras runs on its JAX backend (the TensorFlow backend is tested in a subprocess), JAX computes in float64 so that
reference comparisons can be tight, and everything runs on the CPU.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter

# The doctest collection imports every module under src/; this one imports TensorFlow (seconds per
# worker) and has no doctests. tests/test_tensorflow.py covers it.
collect_ignore = ["src/losskit/backends/tensorflow_namespace.py"]

from hypothesis import settings  # noqa: E402

# CI machines have 2 cores and run the whole suite in one go: keep property tests bounded and
# free of wall-clock deadlines (a deadline is a timing assertion in disguise).
settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
