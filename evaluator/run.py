"""One evaluation: a model, an editor config and a benchmark split in, a result record out.

The worker and `python -m evaluator run` both call `run_evaluation`. Everything that can be
wrong with the request (setting, split, limit, editor name, config, layers the model lacks)
raises before the model is scored or edited.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evaluator.editors.base import ConfigError
from evaluator.editors.registry import get_editor, parse_editor_config
from evaluator.efficiency import PeakMemory, latency_stats
from evaluator.metrics import summarize_cases, summarize_pre_edit
from evaluator.protocols import (
    Progress,
    RunStats,
    reference_scores,
    run_lifelong,
    run_single,
)
from evaluator.result import SCHEMA_VERSION, SETTINGS, environment, utc_now, validate_result
from evaluator.snapshot import ModelGuard

if TYPE_CHECKING:
    from evaluator.benchmark.case import BenchmarkSplit, Case
    from evaluator.models.adapter import VLMAdapter

EVALUATION_SPLITS = ("public", "hidden")


@dataclass(frozen=True)
class RunSpec:
    """What to evaluate; the result records every field needed to reproduce it."""

    model: str  # hub id or local folder
    revision: str | None  # hub commit or branch; None: the default branch / the folder as is
    editor: str  # a registered editor name
    config: Mapping[str, Any] | str | None  # the editor config: mapping, or YAML/JSON text
    benchmark: str  # benchmark folder or hub id
    split: str  # "public" | "hidden"
    setting: str  # "single" | "lifelong"
    limit: int | None = None  # evaluate only the first `limit` cases
    seed: int = 0  # reseeds before every edit (seed + case index) and seeds the bootstrap
    batch_size: int = 16  # most probes per forward pass

    def check(self) -> None:
        """Raise ValueError naming the bad field before anything is loaded."""
        if self.setting not in SETTINGS:
            raise ValueError(f"setting {self.setting!r} is not one of {list(SETTINGS)}")
        if self.split not in EVALUATION_SPLITS:
            raise ValueError(
                f"split {self.split!r} cannot be evaluated; choose one of {list(EVALUATION_SPLITS)}"
            )
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise ValueError(f"limit {self.limit!r} must be a positive integer or None")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed {self.seed!r} must be a non-negative integer")
        if self.batch_size < 1:
            raise ValueError(f"batch_size {self.batch_size!r} must be at least 1")


@dataclass
class LazyCases(Sequence["Case"]):
    """The train split, loaded the first time an editor reads it (most editors never do)."""

    benchmark: str
    _cases: tuple[Case, ...] | None = field(default=None, repr=False)

    def _load(self) -> tuple[Case, ...]:
        if self._cases is None:
            from evaluator.benchmark import load_benchmark

            self._cases = load_benchmark(self.benchmark, "train").cases
        return self._cases

    def __getitem__(self, index):  # noqa: ANN001, ANN204
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[Case]:
        return iter(self._load())


@dataclass
class Evaluation:
    """A finished run: the result record and the raw measurements behind its efficiency block."""

    result: dict[str, Any]
    stats: RunStats


def evaluate(
    spec: RunSpec,
    *,
    progress: Progress | None = None,
    adapter: VLMAdapter | None = None,
    split_data: BenchmarkSplit | None = None,
    train_cases: Sequence[Case] | None = None,
) -> Evaluation:
    """`run_evaluation` plus the timings (used by benchmarks/bench_harness.py)."""
    started = time.perf_counter()
    spec.check()
    editor_class = get_editor(spec.editor)
    config = parse_editor_config(spec.editor, spec.config)
    if split_data is None:
        from evaluator.benchmark import load_benchmark

        split_data = load_benchmark(spec.benchmark, spec.split)
    if split_data.split != spec.split:
        raise ValueError(
            f"split_data is the {split_data.split!r} split but the spec asks for {spec.split!r}"
        )
    if adapter is None:
        from evaluator.models import load_vlm

        adapter = load_vlm(spec.model, revision=spec.revision)
    config.check_for_model(adapter.num_layers)
    cases = split_data.cases[: spec.limit] if spec.limit else split_data.cases
    if not cases:
        raise ValueError(f"the {spec.split} split of {spec.benchmark} has no cases")

    stats = RunStats(memory=PeakMemory(adapter.device))
    references = reference_scores(
        adapter, split_data.sha256, cases, batch_size=spec.batch_size, stats=stats
    )
    guard = ModelGuard(adapter.model)
    editor = editor_class(
        adapter,
        config,
        train_cases=train_cases if train_cases is not None else LazyCases(spec.benchmark),
        seed=spec.seed,
    )
    protocol = run_single if spec.setting == "single" else run_lifelong
    output = protocol(
        adapter,
        editor,
        cases,
        references,
        seed=spec.seed,
        batch_size=spec.batch_size,
        stats=stats,
        progress=progress,
        guard=guard,
    )
    case_scores, curve = output if spec.setting == "lifelong" else (output, None)
    summary = summarize_cases(case_scores, seed=spec.seed)
    pre_edit = summarize_pre_edit(
        [c.task for c in cases],
        [r[0] for r in references],
        [r[1] for r in references],
        [r[2] for r in references],
        seed=spec.seed,
    )
    scoring_s = sum(stats.scoring_seconds) + sum(stats.reference_seconds)
    result = {
        "schema_version": SCHEMA_VERSION,
        "model": {"id": str(adapter.model_id), "revision": str(adapter.revision)},
        "editor": {
            "name": spec.editor,
            "config": _jsonable(config.to_dict()),
            "config_hash": config.config_hash(spec.editor),
        },
        "benchmark": {
            "name": split_data.name,
            "version": split_data.version,
            "split": split_data.split,
            "sha256": split_data.sha256,
            "cases": len(cases),
        },
        "setting": spec.setting,
        "metrics": summary["metrics"],
        "token_metrics": summary["token_metrics"],
        "pre_edit": pre_edit,
        "lifelong_curve": curve,
        "efficiency": {
            "edit_latency_s": latency_stats(stats.edit_seconds),
            "peak_memory_mb": stats.memory.peak_mb(),
            "wall_s": time.perf_counter() - started,
            "probes_per_s": stats.probes_scored / scoring_s if scoring_s > 0 else 0.0,
        },
        "environment": environment(adapter.device, spec.seed),
        "created_at": utc_now(),
    }
    validate_result(result)
    return Evaluation(result=result, stats=stats)


def run_evaluation(
    spec: RunSpec,
    *,
    progress: Progress | None = None,
    adapter: VLMAdapter | None = None,
    split_data: BenchmarkSplit | None = None,
) -> dict[str, Any]:
    """Evaluate `spec` and return the validated result record (schema_version 1).

    `adapter` and `split_data` let a caller reuse a loaded model and split across runs;
    the model is restored before returning. `progress(done, total)` follows the edits.
    """
    return evaluate(spec, progress=progress, adapter=adapter, split_data=split_data).result


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


__all__ = ["ConfigError", "Evaluation", "RunSpec", "evaluate", "run_evaluation"]
