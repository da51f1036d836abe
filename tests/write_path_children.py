"""Evaluate functions for the process-executor tests: a module with stdlib imports only, so
that the spawned child process that imports it starts fast."""

from __future__ import annotations

import time


def quick_result(spec, progress=None) -> dict:
    if progress is not None:
        progress(2, 2)
    return {"setting": spec.setting, "benchmark": {"cases": 2}, "metrics": {}}


def sleepy_evaluate(spec, progress=None) -> dict:
    """Stands for a run stuck inside one case: it never reports progress."""
    time.sleep(120)
    return quick_result(spec, progress)


def failing_evaluate(spec, progress=None) -> dict:
    raise ValueError(f"model {spec.model} has no layer 99")
