"""What an editor trains on and where it acts: the edit's probe, and the prompt and answer
positions read from the adapter's labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit

IGNORE = -100


def edit_probe(edit: Edit) -> Probe:
    """The probe an edit trains on: the edit's prompt with the target letter as answer."""
    return Probe(
        images=edit.images, question=edit.question, answer=edit.target, options=edit.options
    )


def last_prompt_positions(labels: torch.Tensor | None, batch: int, length: int) -> torch.Tensor:
    """Per row, the position whose logits predict the first answer token. Rows with no answer
    (generation) and calls without matching labels use the last input position."""
    last = torch.full((batch,), length - 1, dtype=torch.long)
    if labels is None or labels.shape != (batch, length):
        return last
    labels = labels.detach().cpu()
    has_answer = (labels != IGNORE).any(dim=1)
    first = (labels != IGNORE).float().argmax(dim=1) - 1
    return torch.where(has_answer, first.clamp(min=0), last)


def answer_positions(labels: torch.Tensor | None, batch: int, length: int) -> torch.Tensor:
    """[B, T] bool: the last prompt position and every later position that predicts an answer
    token (GRACE's replace_all); just the last prompt position where there is no answer."""
    mask = torch.zeros((batch, length), dtype=torch.bool)
    last = last_prompt_positions(labels, batch, length)
    mask[torch.arange(batch), last] = True
    if labels is not None and labels.shape == (batch, length):
        predicts = torch.zeros_like(mask)
        predicts[:, :-1] = labels.detach().cpu()[:, 1:] != IGNORE
        mask |= predicts
    return mask
