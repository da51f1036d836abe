"""Case field groups and the canonical content hash of a split (no `datasets` import)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from evaluator.benchmark.case import Case

ALL_FIELDS = (
    "case_id",
    "task",
    "question_type",
    "images",
    "question",
    "options",
    "answer",
    "target",
    "rephrase_question",
    "rephrase_images",
    "loc_question",
    "loc_answer",
    "m_loc_images",
    "m_loc_question",
    "m_loc_answer",
    "source",
    "rephrase_options",
    "mc_loc_images",
    "mc_loc_question",
    "mc_loc_options",
    "mc_loc_answer",
    "question_spec",
)
IMAGE_FIELDS = ("images", "rephrase_images", "m_loc_images", "mc_loc_images")
OPTION_FIELDS = ("options", "rephrase_options", "mc_loc_options")
TEXT_FIELDS = tuple(name for name in ALL_FIELDS if name not in (*IMAGE_FIELDS, *OPTION_FIELDS))

# Fields a dataset in the case schema may leave out, with the value they then take.
OPTIONAL_FIELDS = {"question_type": "", "question_spec": ""}
REQUIRED_FIELDS = tuple(name for name in ALL_FIELDS if name not in OPTIONAL_FIELDS)


def canonical_sha256(cases: Iterable[Case]) -> str:
    """sha256 over case fields and decoded image pixels, in case order.

    Independent of file format and PNG encoder, so a parquet folder and a hub copy of the
    same cases hash alike.
    """
    h = hashlib.sha256()
    for case in cases:
        fields = {name: getattr(case, name) for name in TEXT_FIELDS}
        for name in OPTION_FIELDS:
            fields[name] = list(getattr(case, name).items())
        h.update(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        for name in IMAGE_FIELDS:
            images = getattr(case, name)
            h.update(f"|{name}:{len(images)}".encode())
            for image in images:
                h.update(f"|{image.mode}:{image.size[0]}x{image.size[1]}|".encode())
                h.update(image.tobytes())
    return h.hexdigest()
