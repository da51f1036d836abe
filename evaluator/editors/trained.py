"""Learned editors (MEND, SERAC) are trained on a benchmark's train split before they edit.
This module stores a trained editor under `contract.paths.home()` / editors / <editor> / <key>
beside a card, and loads it back: a run loads the matching trained editor, or trains it first.

The key is a sha256 over the editor's name, its training fields, the model's identity (its
revision, else a fingerprint of its weights) and the train split's content hash, so another
model, another train split or another training recipe never loads a stale editor, while fields
that only matter at edit time (thresholds) share one trained editor.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import platform
import random
import shutil
import tempfile
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from safetensors.torch import load_file, save_file

from contract import paths
from evaluator.benchmark.case import Edit, letter_of
from evaluator.editors.base import Editor, EditorConfig
from evaluator.models.probe import Probe
from evaluator.snapshot import named_tensors, value_fingerprint
from evaluator.version import HARNESS_VERSION

if TYPE_CHECKING:
    from evaluator.benchmark.case import BenchmarkSplit, Case
    from evaluator.models.adapter import VLMAdapter

CARD = "card.json"
WEIGHTS = "editor.safetensors"


_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("editor_progress", default=True)


@contextlib.contextmanager
def training_progress(enabled: bool) -> Iterator[None]:
    """Show or hide the progress bars of editors trained inside the block (default: shown)."""
    token = _PROGRESS.set(enabled)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


class TrainingDataError(ValueError):
    """A learned editor was asked to train without train cases."""


def train_split_sha256(cases: Sequence[Case]) -> str:
    """The content hash of the train cases (the manifest's hash when the sequence carries it)."""
    known = getattr(cases, "sha256", None)
    if isinstance(known, str) and known:
        return known
    from evaluator.benchmark.split_content import canonical_sha256

    return canonical_sha256(cases)


def model_identity(adapter: VLMAdapter) -> dict[str, str]:
    """The model's id and revision as the adapter reports them, and a fingerprint of its weights
    (per-tensor sum and norm), which identifies a model that has no revision."""
    digest = hashlib.sha256(
        value_fingerprint(dict(named_tensors(adapter.model))).numpy().tobytes()
    ).hexdigest()
    return {
        "id": str(getattr(adapter, "model_id", "") or ""),
        "revision": str(getattr(adapter, "revision", "") or ""),
        "weights_fingerprint": digest,
    }


def trained_key(
    editor: str, training: dict[str, Any], identity: dict[str, str], train_sha256: str
) -> str:
    """The folder name of one trained editor: 24 hex digits of a sha256 over what it depends on."""
    model = identity["revision"] or identity["weights_fingerprint"]
    payload = json.dumps(
        {"editor": editor, "training": training, "model": model, "train": train_sha256},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def trained_dir(editor: str, key: str) -> Path:
    return paths.home() / "editors" / editor / key


def save_trained(folder: Path, tensors: dict[str, torch.Tensor], card: dict[str, Any]) -> Path:
    """Write weights, card.json and README.md into a temporary sibling folder, then rename it
    into place (atomic: a reader sees all of it or none). A concurrent writer that got there
    first wins; its editor is the same training recipe."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        save_file(cpu, str(staging / WEIGHTS))
        (staging / CARD).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        (staging / "README.md").write_text(card_markdown(card))
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / CARD).exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_trained(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The stored tensors (on the CPU) and the card of a trained editor."""
    card = json.loads((folder / CARD).read_text())
    return load_file(str(folder / WEIGHTS)), card


def card_markdown(card: dict[str, Any]) -> str:
    """A human-readable README.md for a trained editor's folder."""
    model = card["model"]
    lines = [
        f"# Trained {card['editor']} editor",
        "",
        card.get("description", ""),
        "",
        f"- Model: `{model['id']}` (revision `{model['revision'] or 'none'}`, weights "
        f"fingerprint `{model['weights_fingerprint'][:16]}`)",
        f"- Train split: {card['train_cases']} cases, sha256 `{card['train_split_sha256']}`",
        f"- Training: {card['training_steps']} steps, {card['training_seconds']:.1f} s on "
        f"{card['device']} (seed {card['seed']})",
        f"- Created {card['created_at']} by harness {card['harness_version']}, torch "
        f"{card['torch']}",
        "",
        "## Training fields",
        "",
        *[f"- `{name}`: {value!r}" for name, value in sorted(card["training"].items())],
        "",
        "## Training metrics",
        "",
        *[f"- {name}: {value}" for name, value in sorted(card.get("metrics", {}).items())],
        "",
    ]
    return "\n".join(lines)


class SplitCases(Sequence["Case"]):
    """A loaded split's cases that also carry the split's manifest hash (`sha256`), so a learned
    editor does not hash the train split again."""

    def __init__(self, split: BenchmarkSplit) -> None:
        self.sha256 = split.sha256
        self._cases = split.cases

    def __getitem__(self, index):  # noqa: ANN001, ANN204
        return self._cases[index]

    def __len__(self) -> int:
        return len(self._cases)


def training_config(config: EditorConfig, fields: Sequence[str]) -> dict[str, Any]:
    """The values of the config fields that shape training."""
    values = config.to_dict()
    return {name: values[name] for name in fields}


def folder_for(
    editor: str,
    training: dict[str, Any],
    adapter: VLMAdapter,
    cases: Sequence[Case],
) -> Path:
    """Where the trained state of `editor` with these training fields lives for this model and
    train split; refuses an empty train split."""
    if not cases:
        raise TrainingDataError(
            f"the {editor} editor is trained on the benchmark's train split, but it was "
            "given no train cases; pass the train split (the evaluator does)"
        )
    key = trained_key(editor, training, model_identity(adapter), train_split_sha256(cases))
    return trained_dir(editor, key)


class TrainedEditor(Editor):
    """An editor with a learned part trained on the train split before its first edit.

    Subclasses name the config fields that shape training (`training_fields`, including a
    `train_seed`, so runs with any seed share one trained editor), build their learned modules
    in `setup()` and then call `ensure_trained()`; they implement `train` (the training loop, on
    the train cases only, returning tensors to store and a card's extras) and `load_state` (put
    stored tensors in place). Training never writes the model's weights.
    """

    training_fields: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    @property
    def train_seed(self) -> int:
        """The seed of training (initialisation, sampled edits), apart from the run's seed."""
        return int(getattr(self.config, "train_seed", 0))

    def training_config(self) -> dict[str, Any]:
        return training_config(self.config, self.training_fields)

    def trained_folder(self) -> Path:
        """Where this editor's trained state for this model and train split lives."""
        return folder_for(self.name, self.training_config(), self.adapter, self.train_cases)

    def ensure_trained(self, *, progress: bool | None = None) -> Path:
        """Load the matching trained state, or train, store and load it. Sets `setup_seconds`
        to the training seconds on the card (the one-off cost, whether trained now or before)."""
        folder = self.trained_folder()
        if not (folder / CARD).exists():
            started = time.perf_counter()
            show = _PROGRESS.get() if progress is None else progress
            tensors, extras = self.train(progress=show)
            seconds = time.perf_counter() - started
            save_trained(folder, tensors, self._card(seconds, extras))
        tensors, card = load_trained(folder)
        self.load_state(tensors)
        self.card = card
        self.setup_seconds = float(card["training_seconds"])
        return folder

    def _card(self, seconds: float, extras: dict[str, Any]) -> dict[str, Any]:
        return {
            "editor": self.name,
            "description": self.description,
            "training": self.training_config(),
            "training_steps": int(extras.pop("steps")),
            "training_seconds": round(seconds, 3),
            "train_split_sha256": train_split_sha256(self.train_cases),
            "train_cases": len(self.train_cases),
            "model": model_identity(self.adapter),
            "seed": self.train_seed,
            "device": str(getattr(self.adapter, "device", "cpu")),
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "harness_version": HARNESS_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "metrics": extras.pop("metrics", {}),
            **extras,
        }

    @abstractmethod
    def train(self, *, progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Train the learned part on `self.train_cases`; return the tensors to store and card
        extras (`steps` required, `metrics` optional)."""

    @abstractmethod
    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put stored tensors (CPU) into the learned part."""


def counterfactual_edit(case: Case, rng: random.Random) -> tuple[Edit, list[Probe]]:
    """A synthetic edit on a train case with a random target letter (counterfactual: it is the
    correct answer only by chance, so a learned editor must read the edit, not the images), and
    the inputs in its scope with their answers: the edit itself, the rephrased question and the
    rephrase images, both with the case's reordered options (the target's text moves with them)."""
    target = rng.choice(sorted(case.options))
    edit = Edit(case.case_id, case.images, case.question, case.options, target)
    moved = letter_of(case.rephrase_options, case.options[target])
    scope = [
        Probe(case.images, case.question, target, case.options),
        Probe(case.images, case.rephrase_question, moved, case.rephrase_options),
        Probe(case.rephrase_images, case.question, moved, case.rephrase_options),
    ]
    return edit, scope


def locality_probes(case: Case) -> list[Probe]:
    """A train case's unrelated prompts: text, image and multiple-choice locality."""
    return [
        Probe((), case.loc_question, case.loc_answer),
        Probe(case.m_loc_images, case.m_loc_question, case.m_loc_answer),
        Probe(case.mc_loc_images, case.mc_loc_question, case.mc_loc_answer, case.mc_loc_options),
    ]
