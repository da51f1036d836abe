"""First start on a fresh machine: build what is missing (benchmark, zoo models), queue the
baseline submissions, run an in-process worker, and run the baselines on the public split for
the case gallery (backend.gallery). Runs in a background thread; the UI reads
`BootstrapStatus.line()` on a timer."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import paths
from contract.names import SETTINGS, ZOO_ARCHITECTURES
from evaluator.benchmark.release import VERSION

if TYPE_CHECKING:
    from backend.executors import Progress
    from backend.worker import Worker
    from contract.run_spec import RunSpec
    from submissions import Store

log = logging.getLogger(__name__)
BASELINE_SUBMITTER = "MultiMedEdit baselines"
BASELINE_ORGANISATION = "MultiMedEdit"
BASELINE_CONTACT = "https://github.com/multimededit"
# baselines are queued cheapest first, so that the first rows land sooner; others follow
CHEAP_FIRST = ("ike", "grace", "wise", "lora", "ft")


@dataclass(frozen=True)
class BootstrapOptions:
    """What the first start builds and runs; filled from app.py's command line."""

    medmnist_root: Path
    # quick: the quick-scale benchmark, short zoo training, baselines on few edits
    quick: bool = False
    # run an in-process worker that evaluates queued requests
    worker: bool = True
    # edits per baseline run in quick mode, stratified over both tiers
    quick_cases: int = 6
    # training steps of each zoo model in quick mode (None: the quick recipe's zoo.QUICK_STEPS,
    # enough to answer the understanding tier well above chance, so quick rows carry information)
    quick_zoo_steps: int | None = None
    seed: int = 0
    # with the worker: also run the baselines on the public split for the case gallery
    # (backend.gallery; files under paths.gallery_dir(), never on the board)
    gallery: bool = True
    gallery_per_tier: int = 3
    # seconds between two looks at the queue while a gallery run waits for it to empty
    gallery_poll_s: float = 5.0


@dataclass
class BootstrapStatus:
    """Thread-safe progress of the first start, shown as one status line in the app."""

    stage: str = "starting"
    detail: str = ""
    error: str | None = None
    done: bool = False
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, stage: str, detail: str = "") -> None:
        with self._lock:
            self.stage, self.detail = stage, detail
        log.info("first start: %s %s", stage, detail)

    def fail(self, message: str) -> None:
        with self._lock:
            self.error = message
        log.error("first start failed: %s", message)

    def line(self, queue_counts: dict[str, int] | None = None) -> str:
        """One markdown line: the stage, elapsed time, and the queue's counts."""
        with self._lock:
            elapsed = time.monotonic() - self.started
            if self.error:
                text = f"**First start stopped**: {self.error}"
            elif self.done:
                text = f"**{self.stage.capitalize()}**"
            else:
                text = f"**{self.stage.capitalize()}** {self.detail} ({elapsed:.0f} s)"
        if queue_counts:
            parts = [f"{n} {state.lower()}" for state, n in queue_counts.items() if n]
            text += " · queue: " + (", ".join(parts) if parts else "empty")
        return text


def _built_version(folder: Path) -> str | None:
    manifest = folder / paths.MANIFEST
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text("utf-8")).get("version"))


def ensure_benchmark(options: BootstrapOptions, status: BootstrapStatus) -> Path:
    """The built benchmark folder, (re)building it from MedMNIST when its manifest is missing or
    names another benchmark version. Results of the older version stay in the store."""
    out = paths.benchmark_dir()
    if _built_version(out) == VERSION:
        return out
    if not options.medmnist_root.exists():
        raise FileNotFoundError(
            f"MedMNIST folder {options.medmnist_root} does not exist; pass --medmnist-root or set "
            "MME_MEDMNIST_ROOT to a folder of MedMNIST .npz files"
        )
    from evaluator.benchmark.builder import build_benchmark

    scale = "quick" if options.quick else "default"
    status.set(
        "building the benchmark", f"MultiMedEdit-mini ({scale}) from {options.medmnist_root}"
    )
    return Path(
        build_benchmark(options.medmnist_root, out, seed=options.seed, scale=scale, progress=True)
    )


def _trained_on(model: Path, benchmark: Path) -> bool:
    """Whether the zoo model's card names this benchmark build (its public split's sha256)."""
    card, manifest = model / "README.md", benchmark / paths.MANIFEST
    if not (model / "config.json").exists() or not card.is_file():
        return False
    public = json.loads(manifest.read_text("utf-8"))["splits"]["public"]["sha256"]
    return public in card.read_text("utf-8")


def ensure_zoo_model(
    arch: str, options: BootstrapOptions, benchmark: Path, status: BootstrapStatus
) -> Path:
    """The zoo model's folder, training it when missing or trained on another benchmark build
    (a retrained model has a new revision, so its baselines are queued again)."""
    out = paths.zoo_dir(arch)
    if _trained_on(out, benchmark):
        return out
    from evaluator.models.zoo import QUICK_STEPS, build_zoo_model

    status.set("training zoo model", arch)

    steps = (options.quick_zoo_steps or QUICK_STEPS) if options.quick else None
    return Path(
        build_zoo_model(arch, benchmark, out, seed=options.seed, max_steps=steps, progress=True)
    )


def queue_baselines(store: Store, models: list[Path], status: BootstrapStatus) -> int:
    """Submit every built-in editor on each zoo model (single and lifelong) through the same
    submit() path as the form; requests already in the store are not submitted again."""
    from backend.submission import submit
    from contract.limits import models_root
    from evaluator.editors.registry import editor_names
    from evaluator.models.resolve import resolve_served_model
    from submissions import Quota, SubmissionError, SubmissionLimits

    existing = {
        (row.record.model_id, row.record.revision, row.record.editor)
        for row in store.list_requests()
        if row.record.submitter == BASELINE_SUBMITTER
    }
    limits = SubmissionLimits(quota=Quota(max_requests=10_000))
    queued = 0
    for model in models:
        # the identity the record stores: the canonical path and the files' hash
        resolved = resolve_served_model(str(model), None, models_root=models_root())
        for editor in sorted(editor_names(), key=_cheap_first):
            if (resolved.model_id, resolved.revision, editor) in existing:
                continue
            status.set("queueing baselines", f"{editor} on {model.name}")
            form = {
                "model_id": str(model),
                "revision": "",
                "model_type": "general",
                "editor": editor,
                "editor_config": "",
                "settings": list(SETTINGS),
                "submitter": BASELINE_SUBMITTER,
                "organisation": BASELINE_ORGANISATION,
                "contact": BASELINE_CONTACT,
                "description": "Built-in editor with its default config on a zoo model.",
                "link": "",
            }
            try:
                submit(store, form, limits=limits)
                queued += 1
            except SubmissionError as err:
                log.warning("baseline %s on %s not queued: %s", editor, model, err)
    return queued


def _cheap_first(editor: str) -> tuple[int, str]:
    return (CHEAP_FIRST.index(editor) if editor in CHEAP_FIRST else len(CHEAP_FIRST), editor)


def make_worker(store: Store, benchmark: Path, options: BootstrapOptions) -> Worker:
    """The in-process worker on the hidden split; in quick mode every run is limited to
    `quick_cases` edits over both tiers (the result's benchmark.edits says so)."""
    from backend.executors import LocalExecutor, default_evaluate
    from backend.gallery import EVALUATION_LOCK
    from backend.worker import Worker

    def evaluate(spec: RunSpec, progress: Progress | None = None) -> dict[str, Any]:
        if options.quick:
            spec = dataclasses.replace(spec, limit=options.quick_cases)
        with EVALUATION_LOCK:  # never beside a gallery run (the protocols seed globally)
            return default_evaluate(spec, progress)

    return Worker(store, LocalExecutor(evaluate), benchmark=str(benchmark), split="hidden")


def queue_idle(store: Store) -> bool:
    """Whether the store has no PENDING or RUNNING request (a store error counts as busy)."""
    from submissions import PENDING, RUNNING

    try:
        counts = store.count_by_state()
    except Exception as err:  # noqa: BLE001 - looked at again a few seconds later
        log.warning("gallery runs: could not read the queue: %s", err)
        return False
    return not (counts.get(PENDING) or counts.get(RUNNING))


def run_gallery_baselines(
    store: Store,
    models: list[Path],
    benchmark: Path,
    options: BootstrapOptions,
    status: BootstrapStatus,
    stop: threading.Event,
) -> int:
    """The baselines on the public split for the case gallery (backend.gallery), after the
    board's baselines are queued; each run waits until `store`'s queue is empty, so that the
    board's requests go first. Returns the runs made."""
    from backend.gallery import run_gallery
    from evaluator.editors.registry import editor_names

    editors = sorted(editor_names(), key=_cheap_first)
    made = 0
    for model in models:
        made += run_gallery(
            model, benchmark, editors, per_tier=options.gallery_per_tier, seed=options.seed,
            report=lambda what: status.set("gallery runs on the public split", what), stop=stop,
            idle=lambda: queue_idle(store), poll_s=options.gallery_poll_s,
        )  # fmt: skip
    return made


def first_start(
    store: Store, options: BootstrapOptions, status: BootstrapStatus, stop: threading.Event
) -> None:
    """Build the benchmark, start the worker, then build each zoo model and queue its
    baselines as soon as it exists, so the first rows appear while the next model trains.
    Errors end up in the status line."""
    try:
        benchmark = ensure_benchmark(options, status)
        if options.worker:
            worker = make_worker(store, benchmark, options)
            threading.Thread(
                target=worker.run_forever, args=(stop,), name="mme-worker", daemon=True
            ).start()
        queued, models = 0, []
        for arch in ZOO_ARCHITECTURES:
            models.append(ensure_zoo_model(arch, options, benchmark, status))
            queued += queue_baselines(store, [models[-1]], status)
        gallery = ""
        if options.worker and options.gallery:
            made = run_gallery_baselines(store, models, benchmark, options, status, stop)
            gallery = f"; {made} gallery run(s) on the public split"
        where = "the in-process worker" if options.worker else "external workers"
        status.set(
            f"ready: {queued} baseline request(s) queued this start, run by {where}{gallery}"
        )
        status.done = True
    except Exception as err:  # noqa: BLE001 - shown in the UI instead of killing the app
        log.error("first start failed:\n%s", traceback.format_exc())
        status.fail(f"{type(err).__name__}: {err}")


def start_in_background(
    store: Store, options: BootstrapOptions
) -> tuple[BootstrapStatus, threading.Event, threading.Thread]:
    """Start `first_start` in a daemon thread; set the returned event to stop the worker."""
    status, stop = BootstrapStatus(), threading.Event()
    thread = threading.Thread(
        target=first_start, args=(store, options, status, stop), name="mme-first-start", daemon=True
    )
    thread.start()
    return status, stop, thread
