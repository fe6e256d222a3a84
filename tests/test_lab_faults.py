"""The loss lab refuses bad data and survives faults (issue 10).

* ``losskit compare`` on a bad CSV (inf or NaN in the target or a feature, too few rows per
  class, a numeric column with stray text) exits non-zero with one line naming the column and
  the fix, and no traceback; :func:`losskit.lab.compare` raises the same check as
  :class:`losskit.ArgumentError` / ``ValueError``.
* An unwritable ``--out`` is one line naming ``--out``, before anything is trained.
* Killing only the parent of a ``--jobs 2`` run stops its workers.
* Two runs started at once on one ``--out`` train every (loss, seed) exactly once between them,
  and each one's results list its own command's losses and seeds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("typer")

TIMEOUT_S = 300
# Quiet, CPU-only, single-threaded subprocesses: the CI machine has two shared cores.
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
FAST = ("--epochs", "1", "--seeds", "1", "--no-progress")


def losskit(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "losskit", *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=ENV, check=False)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0], done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --------------------------------------------------------------------------------- bad data


def table(rows: int = 60, seed: int = 0, classes: int | None = None) -> list[list[str]]:
    """A header and ``rows`` rows of numeric features a, b and a target y (as text cells)."""
    rng = np.random.default_rng(seed)
    body = []
    for i in range(rows):
        a, b = rng.normal(size=2)
        y = f"{2 * a - b + 0.1 * rng.normal():.4f}" if classes is None else f"level{i % classes}"
        body.append([f"{a:.4f}", f"{b:.4f}", y])
    return [["a", "b", "y"], *body]


def write(path: Path, cells: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(row) for row in cells) + "\n")
    return path


def with_cell(cells: list[list[str]], data_row: int, column: str, value: str) -> list[list[str]]:
    """``cells`` with ``value`` at ``data_row`` (1-based, as in a spreadsheet below the header)."""
    copy = [list(row) for row in cells]
    copy[data_row][cells[0].index(column)] = value
    return copy


def counts_table(rows: int = 80, stray: str | None = None) -> list[list[str]]:
    """An integer target with a handful of values (counts 0..4), optionally one stray text cell."""
    cells = [["a", "b", "y"]]
    for i in range(rows):
        cells.append([f"{i * 0.1:.2f}", f"{(i * 7) % 5}", str(i % 5)])
    if stray is not None:
        cells[13][2] = stray
    return cells


# case -> (cells, words the one line must hold)
BAD_TABLES = {
    "inf target": (with_cell(table(), 6, "y", "inf"), ["'y'", "inf", "row 6"]),
    "-inf target": (with_cell(table(), 9, "y", "-inf"), ["'y'", "-inf", "row 9"]),
    "NaN target": (with_cell(table(), 4, "y", "nan"), ["'y'", "NaN", "row 4", "drop that row"]),
    "inf feature": (with_cell(table(), 7, "b", "inf"), ["'b'", "inf", "row 7", "drop the column"]),
    "-inf feature": (with_cell(table(), 3, "a", "-inf"), ["'a'", "-inf", "row 3", "drop the column"]),
    "NaN feature": (with_cell(table(), 8, "b", ""), ["'b'", "NaN", "row 8", "drop the column or fill the missing values"]),
    "too few rows per class": (table(200, classes=50) + [["0.1", "0.2", "rare0"]] + [["0.3", "0.4", "rare1"]] * 2,
                               ["'y'", "'rare0' (1 row)", "'rare1' (2 rows)", "at least 3"]),
    "stray text in a numeric target": (with_cell(table(), 12, "y", "oops"), ["'y'", "'oops'", "row 12", "numeric"]),
    "stray text in a count target": (counts_table(stray="n/a?"), ["'y'", "'n/a?'", "row 13"]),
    "stray text in a feature": (with_cell(table(), 5, "a", "1;2"), ["'a'", "'1;2'", "row 5"]),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_compare_refuses_a_bad_csv_with_one_line_naming_the_column(tmp_path, case):
    cells, words = BAD_TABLES[case]
    csv = write(tmp_path / "bad.csv", cells)
    out = tmp_path / "out"
    done = losskit("compare", "--csv", csv, "--target", "y", "--out", out, *FAST)
    assert_one_line_error(done, "bad.csv", *words)
    assert not (out / "runs.sqlite").exists() or not _trained(out), "trained on bad data"


def _trained(out: Path) -> int:
    with sqlite3.connect(out / "runs.sqlite") as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_python_compare_raises_the_same_check(tmp_path, case):
    from losskit import ArgumentError, lab

    cells, words = BAD_TABLES[case]
    csv = write(tmp_path / "bad.csv", cells)
    with pytest.raises(ValueError) as raised:
        lab.compare(csv=csv, target="y", epochs=1, seeds=1, out=None, progress=False)
    message = str(raised.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    if "stray text" in case and "feature" not in case:
        assert isinstance(raised.value, ArgumentError)


def test_a_stray_text_cell_is_accepted_as_a_class_when_the_task_says_so(tmp_path):
    """With --task multiclass a text cell among numbers is a class of its own: no error."""
    from losskit.lab.data import load_table

    cells = counts_table()
    for row in (13, 14, 15):  # a class of its own, with enough rows to split
        cells[row][2] = "other"
    data = load_table(write(tmp_path / "classes.csv", cells), "y", "multiclass")
    assert "other" in data.class_names and data.task == "multiclass"


def test_a_finite_clean_csv_still_loads(tmp_path):
    from losskit.lab.data import load_table

    data = load_table(write(tmp_path / "good.csv", table()), "y")
    assert data.task == "regression" and np.isfinite(data.X).all() and np.isfinite(data.y).all()


# --------------------------------------------------------------------------------- --out


def test_an_out_under_a_regular_file_is_one_line_naming_out(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    done = losskit("compare", "--dataset", "diabetes", "--losses", "mse", "--out", blocker / "report", *FAST)
    assert_one_line_error(done, "--out", "file.txt")


def test_python_compare_with_an_out_under_a_file_raises_argument_error_before_training(tmp_path):
    from losskit import ArgumentError, lab

    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ArgumentError, match="out="):
        lab.compare(dataset="diabetes", losses="mse", epochs=1, seeds=1, out=blocker / "report", progress=False)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_one_line_naming_out(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        done = losskit("compare", "--dataset", "diabetes", "--losses", "mse", "--out", folder / "report", *FAST)
        assert_one_line_error(done, "--out", "locked")
        done = losskit("compare", "--dataset", "diabetes", "--losses", "mse", "--out", folder, *FAST)
        assert_one_line_error(done, "--out", "locked")
    finally:
        folder.chmod(0o700)


# --------------------------------------------------------------------------------- workers


def _children(pid: int) -> list[int]:
    """The live (non-zombie) child processes of ``pid``."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return [c.pid for c in psutil.Process(pid).children() if c.status() != psutil.STATUS_ZOMBIE]
        except psutil.NoSuchProcess:
            return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _proc_field(int(entry), "PPid") == str(pid) and _alive(int(entry)):
            found.append(int(entry))
    return found


def _proc_field(pid: int, name: str) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (a container's PID 1 may never reap)."""
    state = _proc_field(pid, "State")
    return state is not None and not state.startswith(("Z", "X"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_killing_the_parent_of_a_jobs_2_run_stops_its_workers(tmp_path):
    # Long enough (12 runs of 2000 epochs) that the workers are busy when the parent dies.
    args = ["compare", "--dataset", "diabetes", "--losses", "mse,mae,huber", "--seeds", "4", "--epochs", "2000",
            "--patience", "5000", "--jobs", "2", "--out", tmp_path / "out", "--no-progress"]
    parent = subprocess.Popen([sys.executable, "-m", "losskit", *map(str, args)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            workers = _children(parent.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.1)
        assert len(workers) >= 2, "the --jobs 2 run never started two workers"
        time.sleep(0.5)  # let the workers pick up runs
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        survivors = [pid for pid in workers if _alive(pid)]
        assert not survivors, f"workers {survivors} outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in workers:  # never leave spinning workers behind, even when the test fails
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# --------------------------------------------------------------------------------- concurrency


def trainings(out: Path) -> list[tuple[str, str, int]]:
    """Every training the store recorded on ``out``: (key, loss, seed), one row per training."""
    with sqlite3.connect(out / "runs.sqlite") as connection:
        return [tuple(row) for row in connection.execute("SELECT key, loss, seed FROM trainings")]


def test_two_runs_at_once_on_one_out_train_every_run_exactly_once(tmp_path):
    out = tmp_path / "shared"
    seeds = (0, 1)
    # Runs of about a second each, so the two sweeps overlap whichever starts first.
    common = ["--dataset", "diabetes", "--seeds", "0,1", "--epochs", "300", "--patience", "1000", "--out", out,
              "--no-progress", "--json"]
    first = ["compare", "--losses", "mse,mae", *common]
    second = ["compare", "--losses", "mse,huber", *common]
    processes = [
        subprocess.Popen([sys.executable, "-m", "losskit", *map(str, args)], env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for args in (first, second)
    ]
    outputs = [process.communicate(timeout=TIMEOUT_S) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    records = trainings(out)
    pairs = sorted((loss, seed) for _, loss, seed in records)
    expected = sorted((loss, seed) for loss in ("huber", "mean_absolute_error", "mean_squared_error") for seed in seeds)
    assert pairs == expected, "some (loss, seed) was trained twice or never"
    assert len({key for key, _, _ in records}) == len(records)
    # Each command's answer holds its own losses and seeds, whoever trained them.
    for (stdout, _), losses in zip(outputs, (("mean_squared_error", "mean_absolute_error"),
                                              ("mean_squared_error", "huber"))):
        payload = json.loads(stdout)
        assert sorted({row["loss"] for row in payload["summary"]}) == sorted(losses)
        assert sorted((run["loss"], run["seed"]) for run in payload["runs"]) == sorted(
            (loss, seed) for loss in losses for seed in seeds)
    # The shared mse runs were trained by one of the two; the other reused them.
    reused = [json.loads(stdout)["reused_runs"] for stdout, _ in outputs]
    new = [json.loads(stdout)["new_runs"] for stdout, _ in outputs]
    assert sum(new) == len(expected) and sum(reused) == 2 * 2 * len(seeds) - len(expected)


def test_a_stale_claim_of_a_dead_process_is_reclaimed(tmp_path):
    from losskit.lab.store import RunStore

    path = tmp_path / "runs.sqlite"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with RunStore(path) as store:
        store._claim_as(["k1", "k2"], pid=dead.pid)
        store._claim_as(["k3"], pid=os.getppid())  # alive: the test runner's parent
        assert store.claim(["k1", "k2", "k3"], limit=10) == ["k1", "k2"]
        assert store.claim(["k1", "k2", "k3"], limit=10) == []  # now this process's own
