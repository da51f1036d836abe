"""What a cross-frame question means: its answer as a function of the frames' labels, and the
check that no single frame determines that answer.

A question spec is a dict: kind, its parameters (attribute, value, i, j), frames (one
{"flag", "label"} per frame) and universe (the subsets whose labels a frame may range over).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from contract.names import REASONING_TYPES
from evaluator.benchmark.case import Case
from evaluator.benchmark.vocab import subset

REASONING_KINDS = REASONING_TYPES
Frame = tuple[str, str]  # (flag, label name)


def frame_attribute(frame: Frame, attribute: str) -> str | int | None:
    """modality, organ, finding ("flag:label") or grade (ordinal subsets only) of a frame."""
    flag, label = frame
    info = subset(flag)
    if attribute == "modality":
        return info.modality
    if attribute == "organ":
        return info.organ(label)
    if attribute == "finding":
        return f"{flag}:{label}"
    if attribute == "grade":
        return int(label) if info.ordinal else None
    raise ValueError(f"unknown frame attribute {attribute!r}")


def frame_word(indices: Sequence[int]) -> str:
    """Option text naming frames by 1-based number: "Frame 2", "Frames 1, 3", "No frame"."""
    if not indices:
        return "No frame"
    if len(indices) == 1:
        return f"Frame {indices[0]}"
    return "Frames " + ", ".join(str(i) for i in indices)


def answer_text(spec: dict, frames: Sequence[Frame]) -> str:
    """The correct answer's text for these frames; defined for every labelling."""
    kind = spec["kind"]
    if kind in ("which_frame", "count_frames"):
        hits = [
            k + 1
            for k, f in enumerate(frames)
            if frame_attribute(f, spec["attribute"]) == spec["value"]
        ]
        return frame_word(hits) if kind == "which_frame" else str(len(hits))
    if kind in ("same_modality", "same_organ"):
        attribute = "modality" if kind == "same_modality" else "organ"
        a, b = (frame_attribute(frames[spec[k] - 1], attribute) for k in ("i", "j"))
        return "Yes" if a == b else "No"
    if kind == "compare_grade":
        grades = [frame_attribute(f, "grade") for f in frames]
        known = [g for g in grades if g is not None]
        top = max(known) if known else None
        return frame_word([k + 1 for k, g in enumerate(grades) if g is not None and g == top])
    if kind == "odd_modality":
        modalities = [frame_attribute(f, "modality") for f in frames]
        odd = [
            k + 1
            for k, m in enumerate(modalities)
            if len({x for n, x in enumerate(modalities) if n != k}) == 1
            and m not in modalities[:k] + modalities[k + 1 :]
        ]
        return frame_word(odd)
    raise ValueError(f"unknown reasoning question kind {kind!r}")


def spec_frames(spec: dict) -> list[Frame]:
    return [(f["flag"], f["label"]) for f in spec["frames"]]


def frames_deciding_alone(spec: dict) -> list[int]:
    """1-based frames whose labels alone fix the answer: for each, no relabelling of any one
    other frame (over the spec's universe) changes it. Empty means the case needs several frames.
    """
    frames = spec_frames(spec)
    universe = [(flag, label) for flag in spec["universe"] for label in subset(flag).labels]
    original = answer_text(spec, frames)
    deciding = []
    for keep in range(len(frames)):
        changed = False
        for other in range(len(frames)):
            if other == keep:
                continue
            for replacement in universe:
                trial = list(frames)
                trial[other] = replacement
                if answer_text(spec, trial) != original:
                    changed = True
                    break
            if changed:
                break
        if not changed:
            deciding.append(keep + 1)
    return deciding


def check_needs_several_frames(case: Case) -> None:
    """Raise ValueError unless the case's recorded frames give its answer and no single frame
    determines it."""
    if not case.question_spec:
        raise ValueError(f"case {case.case_id!r}: no question_spec recorded, cannot check it")
    spec = json.loads(case.question_spec)
    frames = spec_frames(spec)
    if len(frames) != len(case.images):
        raise ValueError(
            f"case {case.case_id!r}: question_spec lists {len(frames)} frames for "
            f"{len(case.images)} images"
        )
    expected = answer_text(spec, frames)
    if case.options[case.answer] != expected:
        raise ValueError(
            f"case {case.case_id!r}: answer {case.answer}={case.options[case.answer]!r} but the "
            f"recorded frame labels give {expected!r}"
        )
    deciding = frames_deciding_alone(spec)
    if deciding:
        raise ValueError(
            f"case {case.case_id!r}: frame(s) {deciding} alone determine the answer "
            f"{expected!r}; a reasoning case must need more than one frame"
        )
