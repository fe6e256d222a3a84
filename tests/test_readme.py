"""The README is executable documentation: its Python examples run, and its commands are CI's."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 3


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))])
def test_readme_python_example_runs(block):
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    # A trailing "# <value>" comment on a print line documents what it prints: hold it to that.
    for line in block.splitlines():
        match = re.match(r"\s*print\(.*\)\s*#\s*(.+)$", line)
        if match:
            assert match.group(1).strip() in output.getvalue()


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(line for block in BASH_BLOCKS for line in block.splitlines() if "pytest" in line)
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert test_command.strip() in [line.strip() for line in ci_script.splitlines()]


def test_readme_main_command_is_losskit_compare():
    first_command = BASH_BLOCKS[0].strip().splitlines()[0]
    assert "losskit compare" in first_command
