"""What the adapter scores: a prompt (images, question, options, optional prefix) plus the
answer text to teacher-force, and the per-probe scores it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL.Image import Image


@dataclass(frozen=True)
class Probe:
    """One teacher-forced query. `options=None` for free-text probes (locality).

    `prefix` is plain text placed before the question inside the user turn (in-context
    editing puts its demonstrations there); it is empty for every other editor.
    """

    images: tuple[Image, ...]
    question: str
    answer: str
    options: dict[str, str] | None = None
    prefix: str = ""


@dataclass(frozen=True)
class ProbeScore:
    """Scores of one probe under teacher forcing of its answer tokens."""

    answer_ids: tuple[int, ...]  # the answer's token ids
    argmax_ids: tuple[int, ...]  # the model's argmax at each answer position
    token_accuracy: float  # share of answer positions whose argmax equals the answer token
    exact_match: bool  # every answer token is the argmax
    answer_logprob: float = field(default=0.0)  # sum of log p(answer token); informational
