"""Benchmark data: the case schema, loading and validation, and the MultiMedEdit-mini builder.

Exports resolve on first use, so importing `evaluator.benchmark.case` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from evaluator.benchmark.case import BenchmarkSplit, Case

if TYPE_CHECKING:
    from evaluator.benchmark.loader import BenchmarkLoadError, load_benchmark
    from evaluator.benchmark.validation import CaseValidationError

_LAZY = {
    "load_benchmark": "evaluator.benchmark.loader",
    "BenchmarkLoadError": "evaluator.benchmark.loader",
    "CaseValidationError": "evaluator.benchmark.validation",
}

__all__ = ["BenchmarkLoadError", "BenchmarkSplit", "Case", "CaseValidationError", "load_benchmark"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evaluator.benchmark' has no attribute {name!r}")
