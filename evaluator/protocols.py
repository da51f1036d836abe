"""The single and lifelong editing protocols, and the untouched model's reference pass.

Every case is scored as one unit: its six probes in one batched `adapter.score` call. The
reference pass before any editor exists uses the very same units, so an editor that changes
nothing gets locality exactly 1 and reliability exactly its pre-edit value (0 on the edit set,
which is the cases the untouched model gets wrong).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from evaluator.efficiency import PeakMemory, stopwatch
from evaluator.metrics import CaseScores, overall_means, score_case
from evaluator.models.probe import Probe, ProbeScore
from evaluator.snapshot import (
    ModelGuard,
    Snapshot,
    named_tensors,
    restore_snapshot,
    snapshot_modules,
    value_fingerprint,
)

if TYPE_CHECKING:
    from evaluator.benchmark.case import Case
    from evaluator.editors.base import Editor
    from evaluator.models.adapter import VLMAdapter

LIFELONG_CHECKPOINTS = (1, 10, 50, 100, 250, 500, 1000)
Progress = Callable[[int, int], None]

# (model id, revision, device, dtype, weights fingerprint, split sha256, case id) -> the
# untouched model's scores of that case's six probes.
_REFERENCE_CACHE: dict[tuple[str, ...], tuple[ProbeScore, ...]] = {}


@dataclass
class RunStats:
    """What the protocols measure besides quality: timings, probe count and peak memory."""

    memory: PeakMemory
    edit_seconds: list[float] = field(default_factory=list)
    scoring_seconds: list[float] = field(default_factory=list)
    reference_seconds: list[float] = field(default_factory=list)
    probes_scored: int = 0
    references_cached: int = 0


def case_probes(case: Case) -> tuple[Probe, ...]:
    """The six probes of a case, in contract.names.PROBE_KINDS order. Both rephrases show the
    options in another order, so their target is the letter that now labels the target's
    option."""
    rephrased = case.rephrase_options
    return (
        Probe(case.images, case.question, case.target, case.options),
        Probe(case.images, case.rephrase_question, case.rephrase_target, rephrased),
        Probe(case.rephrase_images, case.question, case.rephrase_target, rephrased),
        Probe((), case.loc_question, case.loc_answer, None),
        Probe(case.m_loc_images, case.m_loc_question, case.m_loc_answer, None),
        Probe(case.mc_loc_images, case.mc_loc_question, case.mc_loc_answer, case.mc_loc_options),
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that an edit is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lifelong_checkpoints(n: int) -> tuple[int, ...]:
    """1, 10, 50, 100, 250, 500, 1000 (those below n) and n itself."""
    if n < 1:
        raise ValueError(f"lifelong editing needs at least one case, got {n}")
    return tuple(t for t in LIFELONG_CHECKPOINTS if t < n) + (n,)


def _model_key(adapter: VLMAdapter) -> tuple[str, ...]:
    model = adapter.model
    fingerprint = value_fingerprint(dict(named_tensors(model)))
    digest = hashlib.sha256(fingerprint.numpy().tobytes()).hexdigest()
    dtype = next((str(p.dtype) for p in model.parameters()), "none")
    return (str(adapter.model_id), str(adapter.revision), str(adapter.device), dtype, digest)


def reference_scores(
    adapter: VLMAdapter,
    split_sha256: str,
    cases: Sequence[Case],
    *,
    batch_size: int,
    stats: RunStats,
) -> list[tuple[ProbeScore, ...]]:
    """The untouched model's scores of every case's probes; must run before any editor is built.

    Kept in memory for the process, keyed by model revision, a fingerprint of its weights,
    the split's sha256 and the case id, so a second setting on the same model reuses them.
    """
    base = _model_key(adapter) + (split_sha256,)
    out = []
    for case in cases:
        key = base + (case.case_id,)
        if key in _REFERENCE_CACHE:
            stats.references_cached += 1
        else:
            probes = case_probes(case)
            with stopwatch(adapter.device, stats.reference_seconds):
                _REFERENCE_CACHE[key] = tuple(adapter.score(list(probes), batch_size=batch_size))
            stats.probes_scored += len(probes)
        out.append(_REFERENCE_CACHE[key])
    return out


def clear_reference_cache() -> None:
    """Forget every cached reference (tests use it to measure a cold run)."""
    _REFERENCE_CACHE.clear()


def score_edited_case(
    adapter: VLMAdapter,
    editor: Editor,
    case: Case,
    reference: Sequence[ProbeScore],
    *,
    batch_size: int,
    stats: RunStats,
) -> CaseScores:
    """Score a case's six probes, as the editor presents them, in one batched call."""
    probes = [editor.transform_probe(p) for p in case_probes(case)]
    adapter.model.eval()
    with stopwatch(adapter.device, stats.scoring_seconds):
        scores = adapter.score(probes, batch_size=batch_size)
    stats.probes_scored += len(probes)
    stats.memory.sample()
    return score_case(case.task, scores, reference)


@dataclass
class EditSession:
    """One protocol run's editing state: the editor, the snapshot of the modules it touches
    and the guard that checks the model is back as it was after an undo."""

    adapter: VLMAdapter
    editor: Editor
    seed: int
    stats: RunStats
    guard: ModelGuard
    touched: list[str]
    snapshot: Snapshot

    def apply(self, i: int, case: Case) -> None:
        """Seed for case `i` and apply its edit, timed and with memory sampled around it."""
        seed_everything(self.seed + i)
        self.stats.memory.sample()
        with stopwatch(self.adapter.device, self.stats.edit_seconds):
            self.editor.apply(case.edit())
        self.stats.memory.sample()

    def undo(self) -> None:
        """Reset the editor, restore the touched modules and requires_grad, eval mode."""
        self.editor.reset()
        restore_snapshot(self.adapter.model, self.snapshot)
        self.guard.restore_requires_grad()
        self.adapter.model.eval()

    def restore(self) -> None:
        """Undo every edit and check that the model is exactly as the guard found it."""
        self.undo()
        self.guard.check(self.touched)


@contextlib.contextmanager
def edit_session(
    adapter: VLMAdapter,
    editor: Editor,
    *,
    seed: int,
    stats: RunStats,
    guard: ModelGuard | None = None,
) -> Iterator[EditSession]:
    """Snapshot the modules the editor touches (and take the guard, if none was taken before
    the editor was built); if the block fails, undo its edits best-effort and re-raise."""
    touched = editor.touched_modules()
    guard = guard or ModelGuard(adapter.model)
    snapshot = snapshot_modules(adapter.model, touched)
    session = EditSession(adapter, editor, seed, stats, guard, touched, snapshot)
    try:
        yield session
    except BaseException:
        # best effort: the original error is the one worth raising
        with contextlib.suppress(Exception):
            session.undo()
        raise


def run_single(
    adapter: VLMAdapter,
    editor: Editor,
    cases: Sequence[Case],
    references: Sequence[Sequence[ProbeScore]],
    *,
    seed: int,
    batch_size: int,
    stats: RunStats,
    progress: Progress | None = None,
    guard: ModelGuard | None = None,
) -> list[CaseScores]:
    """Edit each case alone, score it, and restore the model exactly before the next case.

    `guard`, taken before the editor was built, checks after every case that the model is
    back as it was; without one the guard is taken here, after construction.
    """
    results = []
    with edit_session(adapter, editor, seed=seed, stats=stats, guard=guard) as session:
        for i, case in enumerate(cases):
            session.apply(i, case)
            results.append(
                score_edited_case(
                    adapter, editor, case, references[i], batch_size=batch_size, stats=stats
                )
            )
            session.restore()
            if progress is not None:
                progress(i + 1, len(cases))
    return results


def run_lifelong(
    adapter: VLMAdapter,
    editor: Editor,
    cases: Sequence[Case],
    references: Sequence[Sequence[ProbeScore]],
    *,
    seed: int,
    batch_size: int,
    stats: RunStats,
    progress: Progress | None = None,
    guard: ModelGuard | None = None,
) -> tuple[list[CaseScores], list[dict[str, float | int]]]:
    """Apply the edits one after another; at each checkpoint t score all t cases edited so far.

    Returns the per-case scores at the last checkpoint (the final metrics) and the curve.
    The model is restored at the end so that a preloaded adapter can be reused.
    """
    checkpoints = set(lifelong_checkpoints(len(cases)))
    curve: list[dict[str, float | int]] = []
    scores: list[CaseScores] = []
    with edit_session(adapter, editor, seed=seed, stats=stats, guard=guard) as session:
        for i, case in enumerate(cases):
            session.apply(i, case)
            edits = i + 1
            if edits in checkpoints:
                scores = [
                    score_edited_case(
                        adapter, editor, c, references[j], batch_size=batch_size, stats=stats
                    )
                    for j, c in enumerate(cases[:edits])
                ]
                curve.append({"edits": edits, **overall_means(scores)})
            if progress is not None:
                progress(edits, len(cases))
    session.restore()
    return scores, curve
