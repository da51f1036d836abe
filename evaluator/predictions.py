"""Per-case predictions of a public-split run (the result's `cases` section, schema 4): for each
edit case and each of its probes, the option letter the model answered before and after the
edit, the letter the probe expects, and whether it hit before and after.

Only letters, ids and booleans are kept (the app looks the case's content up in the public
split). `run.assemble_result` calls `case_predictions` only when the split is "public": the
hidden split's cases never leave the evaluator (DESIGN.md invariant 3), and
`evaluator.result.validate_result` refuses a hidden-split result that carries any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from contract.names import LETTER_PROBES, PROBE_KINDS

if TYPE_CHECKING:
    from evaluator.benchmark.case import Case
    from evaluator.models.probe import ProbeScore

# the splits whose per-case predictions a result may carry
RECORDED_SPLITS = ("public",)


class Decoder(Protocol):
    """What turns a probe's argmax token ids back into text: a tokenizer's `decode`."""

    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str: ...


def probe_options(case: Case) -> dict[str, dict[str, str] | None]:
    """Each probe's options (None for the free-text probes), in PROBE_KINDS order."""
    return {
        "edit": case.options,
        "rephrase": case.rephrase_options,
        "image_rephrase": case.rephrase_options,
        "loc_text": None,
        "loc_image": None,
        "loc_mc": case.mc_loc_options,
    }


def expected_letters(case: Case) -> dict[str, str | None]:
    """The letter each probe teacher-forces (None for the free-text probes)."""
    return {
        "edit": case.target,
        "rephrase": case.rephrase_target,
        "image_rephrase": case.rephrase_target,
        "loc_text": None,
        "loc_image": None,
        "loc_mc": case.mc_loc_answer,
    }


def answered_letter(
    score: ProbeScore, options: dict[str, str] | None, decoder: Decoder | None
) -> str | None:
    """The option letter of the model's argmax over the answer positions, or None when the
    probe is free text, there is no decoder, or the argmax is not one of the letters."""
    if options is None or decoder is None or not score.argmax_ids:
        return None
    text = decoder.decode(list(score.argmax_ids), skip_special_tokens=True).strip()
    return text if text in options else None


def case_predictions(
    cases: Sequence[Case],
    before: Sequence[Sequence[ProbeScore]],
    after: Sequence[Sequence[ProbeScore]],
    decoder: Decoder | None,
) -> list[dict[str, object]]:
    """The `cases` section: `before[i]` are the untouched model's scores of case i's probes,
    `after[i]` the edited model's (as the protocol scored them), both in PROBE_KINDS order."""
    if not len(cases) == len(before) == len(after):
        raise ValueError(f"{len(cases)} cases, {len(before)} before and {len(after)} after")
    out: list[dict[str, object]] = []
    for case, pre, post in zip(cases, before, after, strict=True):
        options, expected = probe_options(case), expected_letters(case)
        probes = {}
        for kind, b, a in zip(PROBE_KINDS, pre, post, strict=True):
            letter = kind in LETTER_PROBES
            probes[kind] = {
                "expected": expected[kind] if letter else None,
                "before": answered_letter(b, options[kind], decoder),
                "after": answered_letter(a, options[kind], decoder),
                "hit_before": bool(b.exact_match),
                "hit_after": bool(a.exact_match),
            }
        out.append(
            {
                "case_id": case.case_id,
                "tier": case.task,
                "question_type": case.question_type,
                "probes": probes,
            }
        )
    return out
