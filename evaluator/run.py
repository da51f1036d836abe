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

from contract.names import TASKS
from contract.run_spec import RunSpec
from evaluator.edit_set import EditSet, choose_edits
from evaluator.editors.base import ConfigError, EditorConfig
from evaluator.editors.registry import get_editor, parse_editor_config
from evaluator.efficiency import PeakMemory, latency_stats
from evaluator.metrics import (
    CaseScores,
    summarize_by_type,
    summarize_cases,
    summarize_pre_edit,
)
from evaluator.predictions import RECORDED_SPLITS, case_predictions
from evaluator.protocols import (
    Progress,
    RunStats,
    reference_scores,
    run_lifelong,
    run_single,
)
from evaluator.result import SCHEMA_VERSION, environment, utc_now, validate_result
from evaluator.snapshot import ModelGuard

if TYPE_CHECKING:
    from evaluator.benchmark.case import BenchmarkSplit, Case
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import ProbeScore


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


@dataclass
class Prepared:
    """A run after its checks: the editor class and config, the split and the model."""

    spec: RunSpec
    editor_class: type
    config: EditorConfig
    split: BenchmarkSplit
    adapter: VLMAdapter


@dataclass
class Reference:
    """The untouched model on the split: every case's probe scores and the chosen edits."""

    split_scores: list[tuple[ProbeScore, ...]]
    edits: EditSet

    def cases(self, split: BenchmarkSplit) -> list[Case]:
        return [split.cases[i] for i in self.edits.indices]

    def scores(self) -> list[tuple[ProbeScore, ...]]:
        return [self.split_scores[i] for i in self.edits.indices]


def prepare(
    spec: RunSpec, adapter: VLMAdapter | None, split_data: BenchmarkSplit | None
) -> Prepared:
    """Check the request, then load what is not given; nothing is scored or edited yet."""
    spec.check()
    editor_class = get_editor(spec.editor)
    config = parse_editor_config(spec.editor, spec.config)
    spec.check_config_hash(config.config_hash(spec.editor))
    if split_data is None:
        from evaluator.benchmark import load_benchmark

        split_data = load_benchmark(spec.benchmark, spec.split)
    if split_data.split != spec.split:
        raise ValueError(
            f"split_data is the {split_data.split!r} split but the spec asks for {spec.split!r}"
        )
    if not split_data.cases:
        raise ValueError(f"the {spec.split} split of {spec.benchmark} has no cases")
    if adapter is None:
        from evaluator.models import load_vlm

        adapter = load_vlm(spec.model, revision=spec.revision)
    config.check_for_model(adapter.num_layers)
    return Prepared(spec, editor_class, config, split_data, adapter)


def reference_pass(run: Prepared, stats: RunStats) -> Reference:
    """Score every case of the split on the untouched model and choose the edits: the cases
    whose edit probe it gets wrong (stratified by tier under a limit)."""
    split = run.split
    scores = reference_scores(
        run.adapter, split.sha256, split.cases, batch_size=run.spec.batch_size, stats=stats
    )
    edits = choose_edits(
        [c.task for c in split.cases],
        [bool(s[0].exact_match) for s in scores],
        limit=run.spec.limit,
        per_tier=run.spec.per_tier,
    )
    if not edits.indices:
        raise ValueError(
            f"the model answers every case of the {split.split} split correctly, so there is "
            "nothing to edit; evaluate a model that makes errors or a harder split"
        )
    return Reference(split_scores=scores, edits=edits)


def run_edits(
    run: Prepared,
    reference: Reference,
    stats: RunStats,
    train_cases: Sequence[Case] | None,
    progress: Progress | None,
) -> tuple[list[CaseScores], list[dict[str, float | int]] | None, float]:
    """Build the editor after the reference pass and run the spec's protocol on the edits;
    also returns the editor's one-off set-up seconds (`Editor.setup_seconds`)."""
    guard = ModelGuard(run.adapter.model)
    editor = run.editor_class(
        run.adapter,
        run.config,
        train_cases=train_cases if train_cases is not None else LazyCases(run.spec.benchmark),
        seed=run.spec.seed,
    )
    protocol = run_single if run.spec.setting == "single" else run_lifelong
    output = protocol(
        run.adapter,
        editor,
        reference.cases(run.split),
        reference.scores(),
        seed=run.spec.seed,
        batch_size=run.spec.batch_size,
        stats=stats,
        progress=progress,
        guard=guard,
    )
    setup_s = float(getattr(editor, "setup_seconds", 0.0) or 0.0)
    case_scores, curve = output if run.spec.setting == "lifelong" else (output, None)
    return case_scores, curve, setup_s


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
    run = prepare(spec, adapter, split_data)
    stats = RunStats(memory=PeakMemory(run.adapter.device))
    reference = reference_pass(run, stats)
    case_scores, curve, setup_s = run_edits(run, reference, stats, train_cases, progress)
    result = assemble_result(run, reference, case_scores, curve, stats, started, setup_s=setup_s)
    validate_result(result)
    return Evaluation(result=result, stats=stats)


def assemble_result(
    run: Prepared,
    reference: Reference,
    case_scores: Sequence[CaseScores],
    curve: list[dict[str, float | int]] | None,
    stats: RunStats,
    started: float,
    *,
    setup_s: float = 0.0,
) -> dict[str, Any]:
    """The result record (docs/evaluator.md) from the run's measurements; `setup_s` is the
    editor's one-off set-up cost (statistics, training), kept apart from the edit latency."""
    spec, split, edits = run.spec, run.split, reference.edits
    summary = summarize_cases(case_scores, seed=spec.seed)
    edit_cases = reference.cases(split)
    pre_edit = summarize_pre_edit(
        [c.task for c in split.cases],
        [bool(s[0].exact_match) for s in reference.split_scores],
        [c.task for c in edit_cases],
        reference.scores(),
        seed=spec.seed,
    )
    scoring_s = sum(stats.scoring_seconds) + sum(stats.reference_seconds)
    return {
        "schema_version": SCHEMA_VERSION,
        "model": {"id": str(run.adapter.model_id), "revision": str(run.adapter.revision)},
        "editor": {
            "name": spec.editor,
            "config": _jsonable(run.config.to_dict()),
            "config_hash": run.config.config_hash(spec.editor),
        },
        "benchmark": {
            "name": split.name,
            "version": split.version,
            "split": split.split,
            "sha256": split.sha256,
            "cases": len(edit_cases),
            "split_cases": {t: sum(c.task == t for c in split.cases) for t in TASKS},
            "errors": edits.errors,
            "edits": {t: sum(c.task == t for c in edit_cases) for t in TASKS},
        },
        "setting": spec.setting,
        "metrics": summary["metrics"],
        "token_metrics": summary["token_metrics"],
        "pre_edit": pre_edit,
        "metrics_by_type": summarize_by_type(
            case_scores, [c.question_type for c in edit_cases], seed=spec.seed
        ),
        "cases": _predictions(run, reference, case_scores),
        "lifelong_curve": curve,
        "notes": list(edits.notes),
        "efficiency": {
            "edit_latency_s": latency_stats(stats.edit_seconds),
            "peak_memory_mb": stats.memory.peak_mb(),
            "wall_s": time.perf_counter() - started,
            "probes_per_s": stats.probes_scored / scoring_s if scoring_s > 0 else 0.0,
            "setup_s": max(0.0, setup_s),
        },
        "environment": environment(run.adapter.device, spec.seed),
        "created_at": utc_now(),
    }


def _predictions(
    run: Prepared, reference: Reference, case_scores: Sequence[CaseScores]
) -> list[dict[str, object]] | None:
    """The per-case predictions of a public-split run; None for any other split (the hidden
    split's cases never leave the evaluator: DESIGN.md invariant 3)."""
    if run.split.split not in RECORDED_SPLITS:
        return None
    return case_predictions(
        reference.cases(run.split),
        reference.scores(),
        [c.probes for c in case_scores],
        getattr(run.adapter, "tokenizer", None),
    )


def run_evaluation(
    spec: RunSpec,
    *,
    progress: Progress | None = None,
    adapter: VLMAdapter | None = None,
    split_data: BenchmarkSplit | None = None,
) -> dict[str, Any]:
    """Evaluate `spec` and return the validated result record (schema_version 4).

    `adapter` and `split_data` let a caller reuse a loaded model and split across runs;
    the model is restored before returning. `progress(done, total)` follows the edits.
    """
    return evaluate(spec, progress=progress, adapter=adapter, split_data=split_data).result


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


__all__ = ["ConfigError", "Evaluation", "RunSpec", "evaluate", "run_evaluation"]
