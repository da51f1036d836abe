"""The case gallery's back end: the baselines run on the PUBLIC split (few edits per tier) and
their result JSON files written to `paths.gallery_dir()`, and the public cases read for the app
(`PublicCaseLibrary`, the `contract.gallery.CaseLibrary` the Cases and Compare tabs get).

Why files and not the store: the board, its CSVs and its API read every finished result of the
store, so a public-split row there would have to be filtered out on each of those paths. Files
in a folder of their own cannot reach the board at all, need no migration, and any public-split
result (`python -m evaluator run --split public --out <home>/gallery/x.json`) can be added by
hand. The hidden split is never read here: its results carry no per-case predictions anyway.

Gallery runs yield to the queue: each starts only when the store has no queued or running
request (`run_gallery(idle=...)`; the first start passes `bootstrap.queue_idle`), so they never
delay the board's rows.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from contract import paths
from contract.gallery import GALLERY_SPLIT, PublicCase, gallery_file_name
from contract.names import SETTINGS

if TYPE_CHECKING:
    from PIL.Image import Image

    from evaluator.benchmark.case import Case

log = logging.getLogger(__name__)
# edits of each tier per gallery run: enough to see what an edit does, quick on a CPU
GALLERY_PER_TIER = 3
# one evaluation at a time in this process: the protocols seed Python, NumPy and torch
# globally, so a gallery run beside a worker run would change the worker's result (a gallery
# run starts only on an empty queue, but a request may be claimed just after that look)
EVALUATION_LOCK = threading.Lock()
# seconds between two looks at the queue while a gallery run waits for it to empty
IDLE_POLL_S = 5.0


def _png(images: Sequence[Image]) -> tuple[bytes, ...]:
    out = []
    for image in images:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return tuple(out)


def public_case(case: Case) -> PublicCase:
    """A loaded public case as the gallery shows it (images as PNG bytes)."""
    return PublicCase(
        case_id=case.case_id,
        tier=case.task,
        question_type=case.question_type,
        images=_png(case.images),
        question=case.question,
        options=dict(case.options),
        answer=case.answer,
        target=case.target,
        rephrase_question=case.rephrase_question,
        rephrase_images=_png(case.rephrase_images),
        rephrase_options=dict(case.rephrase_options),
        loc_question=case.loc_question,
        loc_answer=case.loc_answer,
        m_loc_images=_png(case.m_loc_images),
        m_loc_question=case.m_loc_question,
        m_loc_answer=case.m_loc_answer,
        mc_loc_images=_png(case.mc_loc_images),
        mc_loc_question=case.mc_loc_question,
        mc_loc_options=dict(case.mc_loc_options),
        mc_loc_answer=case.mc_loc_answer,
    )


class PublicCaseLibrary:
    """The public split of a built benchmark folder, loaded on first use and again when its
    manifest names another public split (a rebuild). Only the public split is ever opened."""

    def __init__(self, benchmark: Path | None = None) -> None:
        self.benchmark = Path(benchmark) if benchmark is not None else paths.benchmark_dir()
        self._lock = threading.Lock()
        self._sha256: str | None = None
        self._cases: tuple[PublicCase, ...] = ()

    def public_sha256(self) -> str | None:
        try:
            manifest = json.loads((self.benchmark / paths.MANIFEST).read_text("utf-8"))
            return str(manifest["splits"][GALLERY_SPLIT]["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def public_cases(self) -> Sequence[PublicCase]:
        sha256 = self.public_sha256()
        if sha256 is None:
            return ()
        with self._lock:
            if sha256 != self._sha256:
                from evaluator.benchmark import load_benchmark

                split = load_benchmark(str(self.benchmark), GALLERY_SPLIT)
                self._cases = tuple(public_case(c) for c in split.cases)
                self._sha256 = split.sha256
            return self._cases


def _current(path: Path, revision: str, split_sha256: str) -> bool:
    """Whether `path` holds a gallery run of this model revision on this public split."""
    try:
        result = json.loads(path.read_text("utf-8"))
        return (
            result["model"]["revision"] == revision
            and result["benchmark"]["sha256"] == split_sha256
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def wait_until_idle(
    idle: Callable[[], bool] | None,
    stop: threading.Event,
    *,
    poll_s: float = IDLE_POLL_S,
    report: Callable[[str], None] | None = None,
) -> bool:
    """Block until `idle()` is true (None: at once), looking every `poll_s` seconds; False if
    `stop` was set first."""
    if idle is None:
        return not stop.is_set()
    said = False
    while not stop.is_set():
        if idle():
            return True
        if report is not None and not said:
            report("waiting for the queue to empty (queued and running requests go first)")
            said = True
        stop.wait(poll_s)
    return False


def run_gallery(
    model: Path,
    benchmark: Path,
    editors: Sequence[str],
    *,
    per_tier: int = GALLERY_PER_TIER,
    seed: int = 0,
    out: Path | None = None,
    report: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    idle: Callable[[], bool] | None = None,
    poll_s: float = IDLE_POLL_S,
) -> int:
    """Run each editor (default config) in both settings on the public split, `per_tier` edits
    of each tier, and write each result to `out` (default `paths.gallery_dir()`); runs whose
    file already holds this model revision on this split are skipped. Each run starts only once
    `idle()` is true (the queue has nothing queued or running: the board's requests go first),
    looked at every `poll_s` seconds. Returns the runs made; an editor that fails is logged and
    skipped."""
    from evaluator.benchmark import load_benchmark
    from evaluator.models import load_vlm
    from evaluator.result import write_result
    from evaluator.run import RunSpec, run_evaluation

    out = out or paths.gallery_dir()
    stop = stop or threading.Event()
    split = load_benchmark(str(benchmark), GALLERY_SPLIT)
    adapter = load_vlm(str(model))
    made = 0
    for editor in editors:
        for setting in SETTINGS:
            path = out / gallery_file_name(str(model), editor, setting)
            if _current(path, str(adapter.revision), split.sha256):
                continue
            if not wait_until_idle(idle, stop, poll_s=poll_s, report=report):
                return made
            if report is not None:
                report(f"{editor} {setting} on {model.name}")
            spec = RunSpec(
                model=str(model), revision=None, editor=editor, config={},
                benchmark=str(benchmark), split=GALLERY_SPLIT, setting=setting,
                per_tier=per_tier, seed=seed,
            )  # fmt: skip
            try:
                with EVALUATION_LOCK:
                    result = run_evaluation(spec, adapter=adapter, split_data=split)
                write_result(result, path)
                made += 1
            except Exception as err:  # noqa: BLE001 - one editor's failure must not stop the rest
                log.warning("gallery run %s %s on %s failed: %s", editor, setting, model, err)
    return made
