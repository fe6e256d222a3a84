"""``import losskit.keras`` when Keras cannot import a backend says how to choose one.

Keras imports its backend when it is imported: without ``KERAS_BACKEND`` it takes TensorFlow
(or the backend in ``$KERAS_HOME/keras.json``), and without TensorFlow installed it fails with a
bare ``No module named 'tensorflow'``. Each case runs in a fresh interpreter (Keras reads the
backend once), with TensorFlow made unimportable so the test means the same whether or not it
is installed on this machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="needs keras")

# A finder ahead of the others that answers as an environment without TensorFlow does.
_WITHOUT_TENSORFLOW = textwrap.dedent("""
    import sys

    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoTensorFlow())
""")


def _import_losskit_keras(tmp_path, backend=None, config=None):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)  # not the user's ~/.keras/keras.json
    if config is not None:
        (tmp_path / "keras.json").write_text(json.dumps(config))
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    code = _WITHOUT_TENSORFLOW + textwrap.dedent("""
        try:
            import losskit.keras
        except ImportError as exc:
            print("ImportError:", exc)
            print("cause:", repr(exc.__cause__))
        else:
            import keras
            print("imported with", keras.backend.backend())
    """)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_no_backend_names_keras_backend_jax(tmp_path):
    out = _import_losskit_keras(tmp_path)
    assert out.startswith("ImportError: Keras found no backend"), out
    assert "KERAS_BACKEND=jax" in out and "torch" in out and "install tensorflow" in out
    assert "'tensorflow'" in out  # what Keras tried, and Keras's own error kept as the cause
    assert "cause: ModuleNotFoundError" in out and "No module named 'tensorflow" in out


def test_a_backend_from_keras_json_that_is_missing_is_named_with_the_file(tmp_path):
    out = _import_losskit_keras(tmp_path, config={"backend": "tensorflow", "floatx": "float32"})
    assert "keras.json" in out and "KERAS_BACKEND=jax" in out


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax")
def test_keras_backend_jax_imports_without_tensorflow(tmp_path):
    assert _import_losskit_keras(tmp_path, backend="jax").strip() == "imported with jax"
