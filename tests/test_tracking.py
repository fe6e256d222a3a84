"""``losskit compare --mlflow``: every run in a real local MLflow store, read back with MlflowClient."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
mlflow_tracking = pytest.importorskip("mlflow.tracking", reason="MLflow is optional: pip install 'losskit[tracking]'")

from losskit.lab import compare  # noqa: E402

LOSSKIT = shutil.which("losskit")
ENV = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MLFLOW_ALLOW_FILE_STORE": "true"}


def client_for(path):
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow_tracking.MlflowClient(tracking_uri="file:" + str(path))


def runs_of(client):
    (experiment,) = [e for e in client.search_experiments() if e.name.startswith("losskit compare")]
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("losskit.kind") == "comparison"]
    children = [r for r in runs if r.data.tags.get("losskit.kind") == "run"]
    return experiment, parents, children


def test_compare_with_mlflow_logs_every_run_with_its_epochs_and_the_report(tmp_path):
    if LOSSKIT is None:
        pytest.fail("the `losskit` console script is not on PATH: run `pip install -e .` first")
    args = [LOSSKIT, "compare", "--dataset", "diabetes", "--losses", "mse,huber", "--seeds", "2", "--epochs", "6",
            "--patience", "6", "--out", str(tmp_path / "report"), "--no-progress", "--json", "--mlflow"]
    done = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    store = tmp_path / "mlruns"  # a bare --mlflow logs to ./mlruns
    assert store.is_dir()

    client = client_for(store)
    experiment, parents, children = runs_of(client)
    assert experiment.name == "losskit compare: diabetes"
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.data.tags["losskit.winner"] == payload["winner"]
    assert parent.data.params["model"] == "linear"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"report.html", "results.json", "command.txt"}
    by_key = {run["key"]: run for run in payload["runs"]}
    assert {c.data.tags["losskit.run_key"] for c in children} == set(by_key)
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        row = by_key[child.data.tags["losskit.run_key"]]
        assert child.data.params["loss"] == row["loss"] and child.data.params["seed"] == str(row["seed"])
        assert child.data.metrics["test_rmse"] == pytest.approx(row["rmse"])
        history = client.get_metric_history(child.info.run_id, "epoch_val_rmse")
        assert [m.step for m in history] == list(range(6))
        assert len(client.get_metric_history(child.info.run_id, "epoch_grad_norm")) == 6


def test_logging_again_adds_nothing_and_tuning_candidates_are_tagged(tmp_path):
    settings = dict(dataset="diabetes", losses="mse,huber", params=["huber.delta=0.5,1"], seeds=2, epochs=3,
                    out=tmp_path / "report", progress=False, mlflow=str(tmp_path / "store"))
    result = compare(**settings)
    again = compare(**settings)
    assert again.reused_runs == len(result.all_runs) == 6
    _, parents, children = runs_of(client_for(tmp_path / "store"))
    assert len(parents) == 1 and len(children) == 6
    chosen = [c for c in children if c.data.tags["losskit.chosen"] == "true"]
    assert len(chosen) == 4 and {c.data.tags["losskit.label"] for c in chosen} == {"mean_squared_error", "huber(delta=tuned)"}
    assert all("loss.delta" in c.data.params for c in children if c.data.params["loss"] == "huber")


def test_missing_mlflow_says_how_to_install_it(monkeypatch, tmp_path):
    import builtins
    import sys

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name.startswith("mlflow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    for module in [m for m in sys.modules if m.startswith("mlflow")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(ImportError, match=r"pip install 'losskit\[tracking\]'"):
        compare(dataset="diabetes", losses="mse", seeds=1, epochs=1, out=None, progress=False, mlflow=str(tmp_path))
