"""End to end: a request submitted through the Python API is evaluated by
`python -m evaluator worker --once` and ends FINISHED with a result on the hidden split."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend.submission import submit
from evaluator.result import validate_result
from submissions.store import FINISHED, PENDING, Store

REPO = Path(__file__).resolve().parents[1]


def run_worker_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "evaluator", "worker", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_worker_once_on_an_empty_queue_says_so(tmp_path):
    done = run_worker_cli("--once", "--store", f"sqlite:///{tmp_path / 'store.db'}")
    assert done.returncode == 0, done.stderr
    assert "no PENDING request" in done.stdout


def test_a_submitted_request_is_evaluated_by_the_worker_cli(
    tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir, monkeypatch
):
    monkeypatch.setenv("MME_MODELS_ROOT", str(tiny_llava_onevision_dir.parent))  # served there
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    row = submit(
        store,
        {
            "model_id": str(tiny_llava_onevision_dir),
            "model_type": "medical",
            "editor": "ike",
            "editor_config": "",
            "settings": "single",
            "submitter": "Ada",
            "organisation": "Lab",
            "contact": "ada@example.org",
        },
    )
    assert row.state == PENDING

    bench = str(tiny_benchmark_dir)
    done = run_worker_cli("--once", "--store", url, "--benchmark", bench, "--limit", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"request #{row.id}: FINISHED" in done.stdout

    finished = store.get_request(row.id)
    assert finished.state == FINISHED, finished.error
    assert finished.progress_done == finished.progress_total == 2
    (result,) = store.results()
    validate_result(result.result)
    assert result.setting == "single"
    assert result.result["benchmark"]["split"] == "hidden"
    assert result.result["benchmark"]["cases"] == 2
    assert result.result["model"]["revision"] == row.record.revision
    store.close()
