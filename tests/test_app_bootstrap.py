"""First start: baselines go through submit() once per editor and model, the status line
says what is happening, and a missing MedMNIST folder is reported instead of crashing."""

from __future__ import annotations

import threading

from backend.bootstrap import (
    BASELINE_SUBMITTER,
    BootstrapOptions,
    BootstrapStatus,
    first_start,
    queue_baselines,
)
from evaluator.editors.registry import editor_names
from submissions import Store


def test_baselines_cover_every_editor_in_both_settings_once(
    tmp_path, tiny_llava_onevision_dir, monkeypatch
):
    monkeypatch.setenv("MME_MODELS_ROOT", str(tiny_llava_onevision_dir.parent))  # served there
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    status = BootstrapStatus()
    queued = queue_baselines(store, [tiny_llava_onevision_dir], status)
    rows = store.list_requests()
    assert queued == len(editor_names()) == len(rows)
    assert sorted(r.record.editor for r in rows) == editor_names()
    assert {r.record.settings for r in rows} == {("single", "lifelong")}
    assert {r.record.submitter for r in rows} == {BASELINE_SUBMITTER}
    assert {r.state for r in rows} == {"PENDING"}
    assert queue_baselines(store, [tiny_llava_onevision_dir], status) == 0
    assert len(store.list_requests()) == len(rows)


def test_status_line_shows_stage_elapsed_time_and_queue_counts():
    status = BootstrapStatus()
    status.set("training zoo model", "qwen2-vl")
    line = status.line({"PENDING": 3, "RUNNING": 1, "FAILED": 0})
    assert line.startswith("**Training zoo model** qwen2-vl (")
    assert "queue: 3 pending, 1 running" in line
    assert "failed" not in line


def test_a_missing_medmnist_folder_is_reported_in_the_status(tmp_path, monkeypatch):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    missing = tmp_path / "no-medmnist"
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    status = BootstrapStatus()
    first_start(store, BootstrapOptions(medmnist_root=missing), status, threading.Event())
    assert status.error is not None
    assert str(missing) in status.error
    assert "First start stopped" in status.line()
    assert store.list_requests() == []


def test_a_retrained_model_gets_its_baselines_queued_again(
    tmp_path, tiny_llava_onevision_dir, monkeypatch
):
    """A new benchmark version retrains the zoo models, whose new revision is queued again;
    the old requests and their results stay in the store."""
    import shutil

    from safetensors.torch import load_file, save_file

    model = tmp_path / "models" / "mme-tiny-llava-onevision"
    shutil.copytree(tiny_llava_onevision_dir, model)
    monkeypatch.setenv("MME_MODELS_ROOT", str(model.parent))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    first = queue_baselines(store, [model], BootstrapStatus())
    weights = model / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, weights, metadata={"format": "pt"})
    again = queue_baselines(store, [model], BootstrapStatus())
    assert first == again == len(editor_names())
    assert len({r.record.revision for r in store.list_requests()}) == 2


def test_a_built_benchmark_of_another_version_is_rebuilt(tmp_path, monkeypatch):
    import json

    from backend.bootstrap import ensure_benchmark
    from evaluator.benchmark.release import VERSION
    from tests.fixtures.benchmark import write_tiny_npz

    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "benchmark" / "multimededit-mini"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"version": "1.0.0", "splits": {}}))
    root = tmp_path / "npz"
    root.mkdir()
    from evaluator.benchmark.vocab import DEFAULT_FLAGS

    for number, flag in enumerate(DEFAULT_FLAGS):
        write_tiny_npz(root, flag, seed=number)
    options = BootstrapOptions(medmnist_root=root, quick=True)
    monkeypatch.setattr(
        "evaluator.benchmark.builder.SCALES",
        {"quick": {"train": (12, 12), "public": (10, 10), "hidden": (10, 10)}},
    )
    out = ensure_benchmark(options, BootstrapStatus())
    assert json.loads((out / "manifest.json").read_text())["version"] == VERSION
