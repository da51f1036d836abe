"""The edit case as Python code sees it, and a loaded benchmark split."""

from __future__ import annotations

from dataclasses import dataclass

from PIL.Image import Image


@dataclass(frozen=True)
class Case:
    """One edit case (DESIGN.md, case schema). Options keep their letter order (A, B, ...)."""

    case_id: str
    task: str  # "understanding" | "reasoning"
    question_type: str  # e.g. "modality", "organ", "finding", "which_frame", "count_frames"
    images: tuple[Image, ...]  # 1 (understanding) or 2-4 frames (reasoning)
    question: str
    options: dict[str, str]  # letter -> option text, letters "A".."H" in order
    answer: str  # the correct letter
    target: str  # the letter the edit must make the model answer
    rephrase_question: str  # other wording, same images
    rephrase_images: tuple[Image, ...]  # other images, same question, same correct answer
    loc_question: str  # unrelated text-only question
    loc_answer: str
    m_loc_images: tuple[Image, ...]  # unrelated image question
    m_loc_question: str
    m_loc_answer: str
    source: str  # "<medmnist flag>:<label or labels>" or wherever the case came from
    # the options of both rephrase probes, in another order: the correct option moves to
    # another letter, so a rephrase tests the knowledge and not the letter
    rephrase_options: dict[str, str]
    # an unrelated multiple-choice question (other images, other question type where possible)
    mc_loc_images: tuple[Image, ...]
    mc_loc_question: str
    mc_loc_options: dict[str, str]
    mc_loc_answer: str
    # JSON: the question's kind, parameters and per-frame labels ("" when unknown); lets
    # tests prove that no single frame determines a reasoning answer.
    question_spec: str = ""

    @property
    def rephrase_target(self) -> str:
        """The letter that labels the target's option text in `rephrase_options`."""
        return letter_of(self.rephrase_options, self.options[self.target])

    def edit(self) -> Edit:
        """What an editor is given: the edit itself, never the probes it is scored on."""
        return Edit(
            edit_id=self.case_id,
            images=self.images,
            question=self.question,
            options=self.options,
            target=self.target,
        )


@dataclass(frozen=True)
class Edit:
    """One edit as an editor sees it (DESIGN.md invariant 7): the images, the question, its
    options and the letter to answer. The rephrase and locality probes stay with the harness."""

    edit_id: str  # the case id, for logs
    images: tuple[Image, ...]
    question: str
    options: dict[str, str]
    target: str


def letter_of(options: dict[str, str], text: str) -> str:
    """The letter whose option text is `text`."""
    for letter, option in options.items():
        if option == text:
            return letter
    raise ValueError(f"no option reads {text[:80]!r}")


@dataclass(frozen=True)
class BenchmarkSplit:
    """A validated split plus the provenance every result must carry."""

    name: str  # e.g. "multimededit-mini"
    version: str
    split: str  # "train" | "public" | "hidden"
    sha256: str  # the manifest's hash of this split's canonical content
    cases: tuple[Case, ...]

    def __len__(self) -> int:
        return len(self.cases)
