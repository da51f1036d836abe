"""The case gallery as HTML, for the Cases tab and the Compare tab's fixed/broke lists: a public
case (images, question, options, the rephrase and the locality probes), what each public-split
gallery run answered before and after its edit, and the cases a run fixed or broke.

Everything shown comes from the public split (`contract.gallery.CaseLibrary`) and from gallery
runs on that same build of it (matched by sha256); the board's hidden-split cases are never
read. Every text is HTML-escaped; images are inline PNG data URIs.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contract.gallery import (
    CaseLibrary,
    CasePrediction,
    GalleryFolder,
    GalleryRun,
    ProbePrediction,
    PublicCase,
)
from contract.names import LETTER_PROBES, PROBE_KINDS, QUESTION_TYPES

PROBE_LABELS = {
    "edit": "edit (reliability)",
    "rephrase": "rephrased question",
    "image_rephrase": "other images",
    "loc_text": "text locality",
    "loc_image": "image locality",
    "loc_mc": "multiple-choice locality",
}
# cases listed per run in the Compare tab's fixed and broke lists
LIST_MAX_CASES = 12
NO_CASES = (
    "The public split is not built yet: the gallery appears once the first start has built the "
    "benchmark and run the baselines on the public split."
)
STYLE = """<style>
.mme-case{border:1px solid #ccc;border-radius:8px;padding:10px;margin:6px 0}
.mme-imgs{display:flex;flex-wrap:wrap;gap:4px;margin:4px 0}
.mme-imgs img{display:inline-block;width:112px;height:112px;image-rendering:pixelated;
border:1px solid #999}
.mme-case .ok{color:#137333;font-weight:600}.mme-case .bad{color:#b3261e;font-weight:600}
.mme-runs td,.mme-runs th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
</style>"""


@dataclass(frozen=True)
class Gallery:
    """What the Cases and Compare tabs read: the public cases and the gallery runs on them."""

    library: CaseLibrary
    folder: GalleryFolder

    @classmethod
    def at(cls, library: CaseLibrary, folder: Path) -> Gallery:
        return cls(library, GalleryFolder(folder))

    def runs(self) -> tuple[GalleryRun, ...]:
        """The gallery runs on the public split as built now (none before it is built)."""
        sha256 = self.library.public_sha256()
        return () if sha256 is None else self.folder.runs(sha256)

    def cases(self) -> Sequence[PublicCase]:
        return self.library.public_cases()

    def by_id(self) -> dict[str, PublicCase]:
        return {c.case_id: c for c in self.cases()}


def question_types(cases: Sequence[PublicCase], tier: str) -> list[str]:
    """The question types of `tier` among `cases`, in the benchmark's order, then any other."""
    present = {c.question_type for c in cases if c.tier == tier}
    known = [q for q in QUESTION_TYPES.get(tier, ()) if q in present]
    return known + sorted(present - set(known))


def case_choices(
    cases: Sequence[PublicCase], runs: Sequence[GalleryRun], tier: str, qtype: str
) -> list[tuple[str, str]]:
    """(label, case id) of the cases of a tier and type: those some gallery run edited first
    (labelled with how many), then the rest in split order."""
    edited: dict[str, int] = {}
    for run in runs:
        for prediction in run.cases:
            edited[prediction.case_id] = edited.get(prediction.case_id, 0) + 1
    chosen = [c for c in cases if c.tier == tier and c.question_type == qtype]
    chosen.sort(key=lambda c: c.case_id not in edited)
    labels = {c: f"{c} · edited in {n} run(s)" for c, n in edited.items()}
    return [(labels.get(c.case_id, c.case_id), c.case_id) for c in chosen]


def _e(text: object) -> str:
    return html.escape(str(text))


def images_html(images: Sequence[bytes]) -> str:
    tags = "".join(
        f'<img alt="image {i + 1}" src="data:image/png;base64,{base64.b64encode(b).decode()}">'
        for i, b in enumerate(images)
    )
    return f'<div class="mme-imgs">{tags}</div>'


def options_html(options: Mapping[str, str], correct: str | None = None) -> str:
    items = "".join(
        f"<li{' class=ok' if letter == correct else ''}>{_e(letter)}. {_e(text)}"
        f"{' ✓ correct' if letter == correct else ''}</li>"
        for letter, text in options.items()
    )
    return f'<ul class="mme-options">{items}</ul>'


def case_html(case: PublicCase) -> str:
    """The whole case: edit prompt, rephrases and the three locality probes."""
    rephrase_answer = next(
        (k for k, v in case.rephrase_options.items() if v == case.options.get(case.answer)), None
    )
    return STYLE + (
        f'<div class="mme-case" data-case-id="{_e(case.case_id)}">'
        f"<h3>{_e(case.case_id)} · {_e(case.tier)} · {_e(case.question_type)}</h3>"
        f"{images_html(case.images)}<p><b>Question</b>: {_e(case.question)}</p>"
        f"{options_html(case.options, case.answer)}"
        f"<p><b>Correct answer</b>: {_e(case.answer)} · <b>edit target</b>: {_e(case.target)}</p>"
        f"<h4>Rephrased question (same images, options reordered)</h4>"
        f"<p>{_e(case.rephrase_question)}</p>{options_html(case.rephrase_options, rephrase_answer)}"
        f"<h4>Other images, same question and answer</h4>{images_html(case.rephrase_images)}"
        f"<h4>Locality probes (unrelated; the edit should not change them)</h4>"
        f"<p><b>Text</b>: {_e(case.loc_question)} → <i>{_e(case.loc_answer)}</i></p>"
        f"{images_html(case.m_loc_images)}"
        f"<p><b>Image</b>: {_e(case.m_loc_question)} → <i>{_e(case.m_loc_answer)}</i></p>"
        f"{images_html(case.mc_loc_images)}<p><b>Multiple choice</b>: {_e(case.mc_loc_question)}"
        f"</p>{options_html(case.mc_loc_options, case.mc_loc_answer)}</div>"
    )


def probe_cell(kind: str, p: ProbePrediction) -> str:
    """before → after: letters for the letter probes, right/wrong for the free-text ones;
    the mark says whether the answer after the edit is right."""
    mark = '<span class="ok">✓</span>' if p.hit_after else '<span class="bad">✗</span>'
    if kind in LETTER_PROBES:
        return f"{_e(p.before or '–')} → {_e(p.after or '–')} {mark}"
    return f"{'right' if p.hit_before else 'wrong'} → {'right' if p.hit_after else 'wrong'} {mark}"


def runs_html(case_id: str, runs: Sequence[GalleryRun]) -> str:
    """A table: one line per gallery run that edited the case, its answers before → after."""
    edited = [(run, run.case(case_id)) for run in runs]
    lines = [(run, p) for run, p in edited if p is not None]
    if not runs:
        return "<p>No gallery run on this build of the public split yet.</p>"
    if not lines:
        return (
            f"<p>None of the {len(runs)} gallery run(s) edited this case (a model's edits are "
            "the cases it gets wrong; the gallery runs edit a few of each tier). Cases marked "
            "'edited in' come first in the list.</p>"
        )
    head = "".join(f"<th>{_e(PROBE_LABELS[k])}</th>" for k in PROBE_KINDS)
    rows = "".join(
        f"<tr><td>{_e(run.label)}</td>"
        + "".join(f"<td>{probe_cell(k, p.probes[k])}</td>" for k in PROBE_KINDS)
        + "</tr>"
        for run, p in lines
    )
    return (
        STYLE + '<div class="mme-case"><b>What each gallery run answered, before → after the '
        "edit</b> (letters; – is no option letter; ✓/✗: right or wrong after the edit; "
        "lifelong: after the whole sequence)"
        f'<table class="mme-runs"><tr><th>run</th>{head}</tr>{rows}</table></div>'
    )


def changed_cases(run: GalleryRun, which: str) -> list[tuple[CasePrediction, tuple[str, ...]]]:
    """The cases `run` fixed (`which` "fixed": an edit or rephrase probe wrong before, right
    after) or broke ("broke": a locality probe right before, wrong after), with those probes."""
    out = []
    for prediction in run.cases:
        probes = prediction.fixed() if which == "fixed" else prediction.broke()
        if probes:
            out.append((prediction, probes))
    return out


def _case_summary(case: PublicCase, prediction: CasePrediction, probes: tuple[str, ...]) -> str:
    detail = ", ".join(f"{PROBE_LABELS[k]} {probe_cell(k, prediction.probes[k])}" for k in probes)
    return (
        f'<div class="mme-case" data-case-id="{_e(case.case_id)}"><b>{_e(case.case_id)}</b> · '
        f"{_e(case.tier)} · {_e(case.question_type)}: {detail}{images_html(case.images)}"
        f"<p>{_e(case.question)}</p>{options_html(case.options, case.answer)}</div>"
    )


def fixed_broke_html(label: str, run: GalleryRun | None, cases: Mapping[str, PublicCase]) -> str:
    """One compared run's fixed and broke lists, or a plain statement that it has no
    public-split predictions."""
    if run is None:
        return (
            f"<p><b>{_e(label)}</b>: no public-split predictions for this run. The board's "
            "runs are on the hidden split, whose cases are never shown; the cases appear here "
            "when a gallery run on the public split has the same model, editor, config and "
            "setting.</p>"
        )
    parts = [f"<h4>{_e(label)}: gallery run {_e(run.label)} ({len(run.cases)} public edits)</h4>"]
    for which, title in (("fixed", "Fixed"), ("broke", "Broke")):
        changed = [(p, k) for p, k in changed_cases(run, which) if p.case_id in cases]
        shown = "".join(_case_summary(cases[p.case_id], p, k) for p, k in changed[:LIST_MAX_CASES])
        more = len(changed) - LIST_MAX_CASES
        parts.append(
            f'<div class="mme-{which}"><b>{title}</b>: {len(changed)} case(s){shown}'
            + (f"<p>… and {more} more</p>" if more > 0 else "")
            + "</div>"
        )
    return "".join(parts)


def compare_cases_html(
    labels: tuple[str, str], runs: tuple[GalleryRun | None, GalleryRun | None], gallery: Gallery
) -> str:
    """Both compared runs' fixed and broke lists (the Compare tab)."""
    cases = gallery.by_id() if any(r is not None for r in runs) else {}
    body = "".join(
        f'<div class="mme-side" data-side="{side}">'
        f"{fixed_broke_html(f'{side}: {label}', run, cases)}</div>"
        for side, label, run in zip(("A", "B"), labels, runs, strict=True)
    )
    return (
        STYLE + "<h3>Cases each run fixed or broke (public split)</h3><p>Fixed: an edit or "
        "rephrase probe answered wrong before the edit and right after. Broke: an unrelated "
        "(locality) probe answered right before and wrong after.</p>" + body
    )
