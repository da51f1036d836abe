"""Turn dataset rows into `Case`s, refusing the first row that breaks the case schema."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

from PIL.Image import Image

from contract.names import TASKS
from evaluator.benchmark.case import Case
from evaluator.benchmark.split_content import IMAGE_FIELDS, OPTIONAL_FIELDS, REQUIRED_FIELDS

FRAMES = {"understanding": (1, 1), "reasoning": (2, 4)}
NON_EMPTY_TEXT = (
    "case_id",
    "question",
    "rephrase_question",
    "loc_question",
    "loc_answer",
    "m_loc_question",
    "m_loc_answer",
    "mc_loc_question",
    "source",
)


class CaseValidationError(ValueError):
    """A row is not a valid edit case; names the case and the field."""

    def __init__(self, case_id: str, field: str, problem: str) -> None:
        self.case_id, self.field = case_id, field
        super().__init__(f"case {case_id!r}, field {field!r}: {problem}")


def check_columns(columns: Iterable[str], first_case_id: str) -> None:
    """Every required field must be a column."""
    present = set(columns)
    for name in REQUIRED_FIELDS:
        if name not in present:
            raise CaseValidationError(
                first_case_id, name, "missing field: every case needs it (see docs/benchmark.md)"
            )


def _options(case_id: str, raw: object, field: str = "options") -> dict[str, str]:
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(o, Mapping) for o in raw):
        try:
            pairs = [(o["letter"], o["text"]) for o in raw]
        except KeyError as exc:
            raise CaseValidationError(
                case_id, field, f"each option needs 'letter' and 'text', one lacks {exc}"
            ) from None
    else:
        raise CaseValidationError(
            case_id, field, f"expected a list of {{letter, text}}, got {type(raw).__name__}"
        )
    if not 2 <= len(pairs) <= 8:
        raise CaseValidationError(case_id, field, f"has {len(pairs)} options; needs 2 to 8")
    letters = [p[0] for p in pairs]
    expected = list(string.ascii_uppercase[: len(pairs)])
    if letters != expected:
        raise CaseValidationError(case_id, field, f"letters {letters} are not {expected} in order")
    texts = [p[1] for p in pairs]
    if any(not isinstance(t, str) or not t.strip() for t in texts):
        raise CaseValidationError(case_id, field, "an option text is empty or not a string")
    if len(set(texts)) != len(texts):
        raise CaseValidationError(case_id, field, f"option texts repeat: {texts}")
    return dict(pairs)


def _rephrase_options(case_id: str, raw: object, options: dict[str, str], target: str) -> dict:
    """The same option texts in another order, the target's text under another letter."""
    reordered = _options(case_id, raw, "rephrase_options")
    if sorted(reordered.values()) != sorted(options.values()):
        raise CaseValidationError(
            case_id, "rephrase_options", "must hold exactly the texts of options, reordered"
        )
    if reordered.get(target) == options[target]:
        raise CaseValidationError(
            case_id,
            "rephrase_options",
            f"the target's option keeps letter {target!r}; reorder so that it moves",
        )
    return reordered


def _images(case_id: str, field: str, raw: object) -> tuple[Image, ...]:
    if not isinstance(raw, list | tuple) or not all(isinstance(im, Image) for im in raw):
        raise CaseValidationError(case_id, field, "expected a list of images")
    return tuple(raw)


def row_to_case(row: Mapping[str, Any], index: int) -> Case:
    """Validate one row (as `datasets` yields it, images decoded) and build its Case."""
    case_id = row.get("case_id")
    if not isinstance(case_id, str) or not case_id.strip():
        raise CaseValidationError(f"<row {index}>", "case_id", "missing or empty")
    for name in REQUIRED_FIELDS:
        if name not in row or row[name] is None:
            raise CaseValidationError(case_id, name, "missing field")
    for name in NON_EMPTY_TEXT + ("task", "answer", "target", "mc_loc_answer"):
        if not isinstance(row[name], str) or not row[name].strip():
            raise CaseValidationError(case_id, name, f"expected non-empty text, got {row[name]!r}")
    task = row["task"]
    if task not in TASKS:
        raise CaseValidationError(case_id, "task", f"{task!r} is not one of {TASKS}")
    options = _options(case_id, row["options"])
    for name in ("answer", "target"):
        if row[name] not in options:
            raise CaseValidationError(
                case_id, name, f"{row[name]!r} is not among the option letters {list(options)}"
            )
    rephrase_options = _rephrase_options(case_id, row["rephrase_options"], options, row["target"])
    mc_options = _options(case_id, row["mc_loc_options"], "mc_loc_options")
    if row["mc_loc_answer"] not in mc_options:
        raise CaseValidationError(
            case_id, "mc_loc_answer", f"{row['mc_loc_answer']!r} is not among {list(mc_options)}"
        )
    images = {name: _images(case_id, name, row[name]) for name in IMAGE_FIELDS}
    low, high = FRAMES[task]
    if not low <= len(images["images"]) <= high:
        raise CaseValidationError(
            case_id,
            "images",
            f"a {task} case needs {low if low == high else f'{low}-{high}'} image(s), "
            f"has {len(images['images'])}",
        )
    if len(images["rephrase_images"]) != len(images["images"]):
        raise CaseValidationError(
            case_id,
            "rephrase_images",
            f"has {len(images['rephrase_images'])} images for {len(images['images'])} in images",
        )
    for name in ("m_loc_images", "mc_loc_images"):
        if not images[name]:
            raise CaseValidationError(case_id, name, "needs at least one image")
    if row["rephrase_question"] == row["question"]:
        raise CaseValidationError(
            case_id, "rephrase_question", "is the same text as question; it must be reworded"
        )
    extra = {k: (row.get(k) if row.get(k) is not None else v) for k, v in OPTIONAL_FIELDS.items()}
    return Case(
        case_id=case_id,
        task=task,
        question_type=extra["question_type"],
        images=images["images"],
        question=row["question"],
        options=options,
        answer=row["answer"],
        target=row["target"],
        rephrase_question=row["rephrase_question"],
        rephrase_images=images["rephrase_images"],
        loc_question=row["loc_question"],
        loc_answer=row["loc_answer"],
        m_loc_images=images["m_loc_images"],
        m_loc_question=row["m_loc_question"],
        m_loc_answer=row["m_loc_answer"],
        source=row["source"],
        rephrase_options=rephrase_options,
        mc_loc_images=images["mc_loc_images"],
        mc_loc_question=row["mc_loc_question"],
        mc_loc_options=mc_options,
        mc_loc_answer=row["mc_loc_answer"],
        question_spec=extra["question_spec"],
    )


def rows_to_cases(rows: Iterable[Mapping[str, Any]]) -> tuple[Case, ...]:
    """Validate every row; case ids must be unique."""
    cases, seen = [], set()
    for index, row in enumerate(rows):
        case = row_to_case(row, index)
        if case.case_id in seen:
            raise CaseValidationError(case.case_id, "case_id", "appears twice; ids must be unique")
        seen.add(case.case_id)
        cases.append(case)
    return tuple(cases)
