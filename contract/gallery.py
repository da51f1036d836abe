"""The case gallery's data, torch-free: public-split runs (result JSON files in
`paths.gallery_dir()`, kept apart from the store so that they never reach the board, its CSVs
or its API), their per-case predictions (the result's `cases` section, schema 4), and the
public cases' content as the app shows it (`PublicCase`, supplied through the `CaseLibrary`
Protocol, which `backend.gallery.PublicCaseLibrary` implements with the evaluator's loader).

Only runs on the public split are read: a file whose result names another split, or carries no
per-case predictions, is skipped. Nothing here raises on a bad file.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contract.names import EDIT_PROBES, LOCALITY_PROBES, PROBE_KINDS
from contract.result_reader import section

log = logging.getLogger(__name__)
GALLERY_SPLIT = "public"  # the only split whose cases the app may show
# a gallery file is at most this large (a run of a few hundred edits is ~100 KB)
GALLERY_FILE_MAX_BYTES = 8 * 2**20


@dataclass(frozen=True)
class ProbePrediction:
    """One probe of one case: the letter it expects, the letters answered before and after
    the edit (None: not an option letter, or a free-text probe), and the exact-match hits."""

    expected: str | None
    before: str | None
    after: str | None
    hit_before: bool
    hit_after: bool


@dataclass(frozen=True)
class CasePrediction:
    """A public case as one run edited it: its id, tier, type and each probe's prediction."""

    case_id: str
    tier: str
    question_type: str
    probes: Mapping[str, ProbePrediction]

    def fixed(self) -> tuple[str, ...]:
        """The edit and rephrase probes the edit fixed: wrong before, right after."""
        return tuple(
            k for k in EDIT_PROBES if not self.probes[k].hit_before and self.probes[k].hit_after
        )

    def broke(self) -> tuple[str, ...]:
        """The locality probes the edit broke: right before, wrong after."""
        return tuple(
            k for k in LOCALITY_PROBES if self.probes[k].hit_before and not self.probes[k].hit_after
        )


@dataclass(frozen=True)
class GalleryRun:
    """One public-split run: who edited what, how, and the per-case predictions."""

    model_id: str
    revision: str
    editor: str
    config_hash: str
    setting: str
    benchmark_version: str
    split_sha256: str
    cases: tuple[CasePrediction, ...]

    @property
    def label(self) -> str:
        """model · editor · config · setting (the model's last path part)."""
        model = self.model_id.rstrip("/").rsplit("/", 1)[-1]
        return f"{model} · {self.editor} · {self.config_hash[:8]} · {self.setting}"

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """(model revision, editor, config hash, setting): a board run with the same identity
        is the same model (pinned revision), editor, config and setting on the hidden split."""
        return (self.revision, self.editor, self.config_hash, self.setting)

    def case(self, case_id: str) -> CasePrediction | None:
        return next((c for c in self.cases if c.case_id == case_id), None)


@dataclass(frozen=True)
class PublicCase:
    """A public-split case as the gallery shows it; images are PNG bytes."""

    case_id: str
    tier: str
    question_type: str
    images: tuple[bytes, ...]
    question: str
    options: Mapping[str, str]
    answer: str
    target: str
    rephrase_question: str
    rephrase_images: tuple[bytes, ...]
    rephrase_options: Mapping[str, str]
    loc_question: str
    loc_answer: str
    m_loc_images: tuple[bytes, ...]
    m_loc_question: str
    m_loc_answer: str
    mc_loc_images: tuple[bytes, ...]
    mc_loc_question: str
    mc_loc_options: Mapping[str, str]
    mc_loc_answer: str


class CaseLibrary(Protocol):
    """The public split's cases (never another split's), for the Cases and Compare tabs."""

    def public_sha256(self) -> str | None:
        """The public split's sha256, or None while the benchmark is not built."""
        ...

    def public_cases(self) -> Sequence[PublicCase]:
        """Every public case, in split order (empty while the benchmark is not built)."""
        ...


class NoCases:
    """A library with no cases (the app without a built benchmark, or a test)."""

    def public_sha256(self) -> str | None:
        return None

    def public_cases(self) -> Sequence[PublicCase]:
        return ()


def gallery_file_name(model_id: str, editor: str, setting: str) -> str:
    """`<model>__<editor>__<setting>.json`, the model's last path part, filename-safe."""
    model = model_id.rstrip("/").rsplit("/", 1)[-1]
    return (
        "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", p) for p in (model, editor, setting)) + ".json"
    )


def _prediction(entry: Mapping[str, object]) -> ProbePrediction:
    def letter(name: str) -> str | None:
        value = entry.get(name)
        return value if isinstance(value, str) else None

    return ProbePrediction(
        expected=letter("expected"),
        before=letter("before"),
        after=letter("after"),
        hit_before=entry.get("hit_before") is True,
        hit_after=entry.get("hit_after") is True,
    )


def run_from_result(result: Mapping[str, Any]) -> GalleryRun | None:
    """The gallery run of a result record: None unless it is a public-split run with per-case
    predictions, or where a field it needs is missing."""
    bench, model, editor = (section(result, k) for k in ("benchmark", "model", "editor"))
    entries = result.get("cases")
    if bench.get("split") != GALLERY_SPLIT or not isinstance(entries, list):
        return None
    try:
        cases = tuple(
            CasePrediction(
                case_id=str(c["case_id"]),
                tier=str(c["tier"]),
                question_type=str(c["question_type"]),
                probes={k: _prediction(section(c, "probes", k)) for k in PROBE_KINDS},
            )
            for c in entries
        )
        return GalleryRun(
            model_id=str(model["id"]),
            revision=str(model["revision"]),
            editor=str(editor["name"]),
            config_hash=str(editor["config_hash"]),
            setting=str(result["setting"]),
            benchmark_version=str(bench["version"]),
            split_sha256=str(bench["sha256"]),
            cases=cases,
        )
    except (KeyError, TypeError):
        return None


class GalleryFolder:
    """The gallery runs in one folder, re-read only when its files change (name, size, mtime)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._runs: tuple[GalleryRun, ...] = ()

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        try:
            files = sorted(p for p in self.folder.glob("*.json") if p.is_file())
            return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        except OSError:
            return ()

    def runs(self, split_sha256: str | None = None) -> tuple[GalleryRun, ...]:
        """Every readable public-split run (sorted by label); with `split_sha256`, only the
        runs on that build of the public split."""
        with self._lock:
            listing = self._listing()
            if listing != self._seen:
                self._runs = tuple(sorted(_read_runs(self.folder, listing), key=lambda r: r.label))
                self._seen = listing
            runs = self._runs
        return tuple(r for r in runs if split_sha256 is None or r.split_sha256 == split_sha256)


def _read_runs(folder: Path, listing: Sequence[tuple[str, int, int]]) -> list[GalleryRun]:
    runs = []
    for name, size, _ in listing:
        if size > GALLERY_FILE_MAX_BYTES:
            log.warning("gallery file %s skipped: %d bytes", name, size)
            continue
        try:
            result = json.loads((folder / name).read_text("utf-8"))
        except (OSError, ValueError):
            log.warning("gallery file %s skipped: not readable JSON", name)
            continue
        run = run_from_result(result) if isinstance(result, Mapping) else None
        if run is None:
            log.warning("gallery file %s skipped: not a public-split run with cases", name)
        else:
            runs.append(run)
    return runs
