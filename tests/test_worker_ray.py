"""The Ray executor on a local Ray instance: same results as the local executor, failures
reported with the remote reason, and only the worker writes the store."""

from __future__ import annotations

import hashlib
import json

import pytest

from backend.executors import LocalExecutor, RayExecutor
from backend.worker import Worker
from submissions.record import SubmissionRecord
from submissions.store import FAILED, FINISHED, Store


def seeded_fake_evaluate(spec, progress=None) -> dict:
    """Deterministic in the spec, like the real evaluator for a fixed seed; runs in Ray workers."""
    import os

    digest = hashlib.sha256(json.dumps([spec.model, spec.setting, spec.seed]).encode()).digest()
    reliability = digest[0] / 255
    if progress is not None:
        progress(3, 3)
    return {
        "setting": spec.setting,
        "benchmark": {"split": spec.split, "cases": 3},
        "metrics": {"overall": {"reliability": {"mean": reliability, "ci95": [0.0, 1.0]}}},
        "efficiency": {"wall_s": 0.0},
        "pid": os.getpid(),
    }


def failing_evaluate(spec, progress=None) -> dict:
    raise ValueError(f"model {spec.model} has no layer 99")


def comparable(result: dict) -> dict:
    """A result without what may differ between runs of the same request: timings and where."""
    return {k: v for k, v in result.items() if k not in ("efficiency", "created_at", "pid")}


def make_record(model: str, settings=("single", "lifelong")) -> SubmissionRecord:
    return SubmissionRecord(
        model_id=model,
        revision="b" * 40,
        model_type="general",
        editor="prompt",
        editor_config="",
        config_hash="c" * 64,
        settings=tuple(settings),
        submitter="Ada",
        organisation="Lab",
        contact="ada@example.org",
    )


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs, no dashboard, 127.0.0.1) for the module, shut down after."""
    import ray

    executor = RayExecutor(num_gpus=0, evaluate=seeded_fake_evaluate)
    yield executor
    executor.close()
    assert not ray.is_initialized()


def run_request(tmp_path, name, executor, record) -> Store:
    store = Store(f"sqlite:///{tmp_path / f'{name}.db'}")
    store.add_request(record)
    assert Worker(store, executor, benchmark="bench", worker_id=name).run_once()
    return store


def test_ray_results_equal_local_results_for_the_same_request(tmp_path, ray_instance):
    record = make_record("org/model-r")
    local = run_request(tmp_path, "local", LocalExecutor(seeded_fake_evaluate), record)
    remote = run_request(tmp_path, "ray", ray_instance, record)
    local_results = {r.setting: comparable(r.result) for r in local.results()}
    ray_results = {r.setting: comparable(r.result) for r in remote.results()}
    assert set(ray_results) == {"single", "lifelong"}
    assert ray_results == local_results
    assert remote.list_requests()[0].state == FINISHED
    assert remote.list_requests()[0].progress_done == 6  # coarse: per finished setting
    pids = {r.result["pid"] for r in remote.results()}
    assert os_pid() not in pids  # the evaluation really ran in a Ray worker


def test_a_failing_ray_task_marks_the_request_failed_with_the_remote_reason(tmp_path, ray_instance):
    executor = RayExecutor(num_gpus=0, evaluate=failing_evaluate)  # reuses the running instance
    store = run_request(tmp_path, "fail", executor, make_record("org/broken", ("single",)))
    failed = store.list_requests()[0]
    assert failed.state == FAILED
    assert "has no layer 99" in failed.error
    assert "ValueError" in failed.log_tail
    executor.close()
    import ray

    assert ray.is_initialized()  # the executor that did not start Ray leaves it running


def os_pid() -> int:
    import os

    return os.getpid()


def test_ray_executor_reproduces_the_local_evaluator_on_a_tiny_model(
    ray_instance, tiny_llava_onevision_dir, tiny_benchmark_dir
):
    from evaluator.run import RunSpec

    spec = RunSpec(
        model=str(tiny_llava_onevision_dir),
        revision=None,
        editor="ike",
        config={},
        benchmark=str(tiny_benchmark_dir),
        split="hidden",
        setting="single",
        limit=2,
        seed=0,
    )
    progress: list[tuple[int, int]] = []
    local = LocalExecutor().run(spec, lambda done, total: progress.append((done, total)))
    remote = RayExecutor(num_gpus=0).run(spec, lambda done, total: progress.append((done, total)))
    assert comparable(remote) == comparable(local)
    assert remote["benchmark"]["split"] == "hidden" and remote["benchmark"]["cases"] == 2
    assert progress[-1] == (2, 2)
