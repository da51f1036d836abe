"""The edit loss's one definition and its "reached" signal (evaluator/models/answer_loss.py)."""

from __future__ import annotations

import pytest
import torch

from evaluator.models.answer_loss import EditLoss, mean_answer_loss


def _groups(hit_second: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    first = (torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]]), torch.tensor([1, 0]))
    second_logits = torch.tensor([[0.0, 0.0, 5.0]])
    second = (second_logits, torch.tensor([2 if hit_second else 0]))
    return [first, second]


def test_the_mean_runs_over_every_answer_token_of_every_group():
    groups = _groups(True)
    logits = torch.cat([g[0] for g in groups])
    targets = torch.cat([g[1] for g in groups])
    expected = torch.nn.functional.cross_entropy(logits, targets)
    assert torch.allclose(mean_answer_loss(groups), expected)


@pytest.mark.parametrize("hit", [True, False])
def test_reached_only_when_every_answer_position_has_the_target_as_argmax(hit):
    loss = EditLoss(lambda: _groups(hit))
    assert not loss.reached()  # nothing computed yet
    loss()
    assert loss.reached() is hit


def test_no_answer_tokens_is_an_error_not_a_nan():
    with pytest.raises(ValueError, match="no answer tokens"):
        mean_answer_loss([])
