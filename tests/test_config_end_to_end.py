"""A non-default editor config goes from the form to a leaderboard row and its CSV, parsed and
validated once: the record stores the canonical config and its hash, the worker passes both
through, the evaluator refuses a config that hashes otherwise, and the row, the result JSON
and the CSV show the submitted values."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from backend.checks import EvaluatorChecks
from backend.executors import LocalExecutor
from backend.worker import Worker
from contract.run_spec import ConfigHashMismatch, RunSpec, run_spec_for
from leaderboard.csv_export import write_all_results_csv
from leaderboard.service import LeaderboardService
from leaderboard.table import board_frame, results_frame
from submissions import FINISHED, Store

# not the defaults (steps 40, lr 0.02, layer 0.5); 1e-2 is YAML 1.2 / JSON notation
CONFIG_TEXT = "steps: 3\nlr: 1e-2\nlayer: -1\n"
SUBMITTED = {"steps": 3, "lr": 0.01, "layer": -1}


@pytest.fixture
def finished_run(tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir, monkeypatch):
    monkeypatch.setenv("MME_MODELS_ROOT", str(tiny_llava_onevision_dir.parent))
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    service = LeaderboardService(store, checks=EvaluatorChecks())
    form = {
        "model_id": str(tiny_llava_onevision_dir),
        "revision": "",
        "model_type": "general",
        "editor": "ft",
        "editor_config": CONFIG_TEXT,
        "settings": ["single"],
        "submitter": "Ada",
        "organisation": "Lab",
        "contact": "ada@example.org",
        "description": "",
        "link": "",
    }
    assert "queued" in service.submit(form)
    (request,) = store.list_requests()
    worker = Worker(
        store, LocalExecutor(), benchmark=str(tiny_benchmark_dir), split="public", limit=2
    )
    assert worker.run_once() is True
    yield store, store.get_request(request.id)
    store.close()


def test_the_submitted_config_reaches_the_row_the_result_and_the_csv(finished_run, tmp_path):
    store, request = finished_run
    assert request.state == FINISHED, request.error
    stored = json.loads(request.record.editor_config)  # canonical JSON, every field
    assert {k: stored[k] for k in SUBMITTED} == SUBMITTED and "norm_constraint" in stored

    (row,) = store.results()
    editor = row.result["editor"]
    assert {k: editor["config"][k] for k in SUBMITTED} == SUBMITTED
    assert editor["config_hash"] == request.record.config_hash

    board = board_frame(pd.DataFrame(store.board_rows().records()))
    assert set(board["config_hash"]) == {request.record.config_hash}
    frame = results_frame(store.results())
    assert set(frame["config_hash"]) == {request.record.config_hash}
    shown = json.loads(frame["editor_config"].iloc[0])
    assert {k: shown[k] for k in SUBMITTED} == SUBMITTED

    csv = pd.read_csv(write_all_results_csv(frame, folder=tmp_path))
    assert set(csv["config_hash"]) == {request.record.config_hash}
    assert {k: json.loads(csv["editor_config"].iloc[0])[k] for k in SUBMITTED} == SUBMITTED


def test_the_worker_passes_the_stored_config_through_with_its_hash(finished_run):
    _, request = finished_run
    spec = run_spec_for(request.record, "single", benchmark="b", split="public")
    assert spec.config == request.record.editor_config
    assert spec.config_hash == request.record.config_hash


def test_a_config_that_hashes_otherwise_is_refused_before_anything_loads(tmp_path):
    from evaluator.run import run_evaluation

    spec = RunSpec(
        model=str(tmp_path / "never-loaded"),
        revision=None,
        editor="ft",
        config=json.dumps(SUBMITTED),
        benchmark=str(tmp_path / "never-read"),
        split="public",
        setting="single",
        config_hash="0" * 64,
    )
    with pytest.raises(ConfigHashMismatch, match="submit the request again"):
        run_evaluation(spec)


def test_every_editor_config_survives_its_canonical_form():
    checks = EvaluatorChecks()
    for editor in checks.editor_names():
        canonical = checks.canonical_config(editor, "", None)
        again = checks.canonical_config(editor, canonical.text, None)
        assert again == canonical, editor
