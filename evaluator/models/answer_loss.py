"""The edit loss: the mean cross-entropy over every answer token of some probes, one definition
for `VLMAdapter.loss` and the frozen-prefix replay, and whether the edit is reached (the target
token is the argmax at every answer position of the last call), for editors that stop there."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

LogitGroups = Iterable[tuple[torch.Tensor, torch.Tensor]]  # (logits [N, V], targets [N])


def mean_answer_loss(groups: LogitGroups, hits: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens of every group, summed group by group in
    order; with `hits`, each group's "target is the argmax everywhere" (a detached bool
    tensor, read only when asked, so no device sync here) is appended to it."""
    total, count = torch.zeros(()), 0
    for logits, targets in groups:
        part = nn.functional.cross_entropy(logits, targets, reduction="sum")
        total = total.to(part.device) + part
        count += targets.numel()
        if hits is not None:
            hits.append((logits.detach().argmax(dim=-1) == targets).all())
    if count == 0:
        raise ValueError("no answer tokens: pass at least one probe with an answer")
    return total / count


class EditLoss:
    """Callable: the edit loss of the answer logits `groups()` gives; `reached()` says whether
    the last call's targets were the argmax at every answer position."""

    def __init__(self, groups: Callable[[], LogitGroups]) -> None:
        self._groups = groups
        self._hits: list[torch.Tensor] = []

    def __call__(self) -> torch.Tensor:
        hits: list[torch.Tensor] = []
        loss = mean_answer_loss(self._groups(), hits)
        self._hits = hits
        return loss

    def reached(self) -> bool:
        return bool(self._hits) and all(bool(hit) for hit in self._hits)
