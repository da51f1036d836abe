"""Training state for an edit: which parameters train, the model's train/eval mode, seeding,
and the optimiser loop the gradient editors (FT, GRACE, LoRA, MEMOIR) share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn


@contextlib.contextmanager
def only_trainable(model: nn.Module, params: Iterable[nn.Parameter]) -> Iterator[None]:
    """Within the block only `params` require grad (vision tower and the rest frozen); every
    parameter's previous requires_grad is restored afterwards."""
    keep = {id(p) for p in params}
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    try:
        yield
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(before.get(name, p.requires_grad))


@contextlib.contextmanager
def restored_requires_grad(model: nn.Module) -> Iterator[None]:
    """Restores every base parameter's requires_grad flag on exit (peft freezes the base model)."""
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    try:
        yield
    finally:
        for name, p in model.named_parameters():
            if name in before:
                p.requires_grad_(before[name])


@contextlib.contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Puts the model in train or eval mode for the block and restores its previous mode."""
    was = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(was)


def seed_everything(seed: int) -> None:
    """Seeds torch's CPU and CUDA generators so that two runs give identical weights."""
    torch.manual_seed(seed)


def optimise_steps(
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[], torch.Tensor],
    steps: int,
    early_stop_loss: float,
    after_step: Callable[[], None] | None = None,
    reached: Callable[[], bool] | None = None,
) -> None:
    """Up to `steps` optimiser steps on `loss_fn()`: each clears the gradients, computes the
    loss, stops before stepping once it is below `early_stop_loss` (or, given `reached`, once
    that says the edit is reached: EditLoss.reached, the target the argmax at every answer
    position), else backpropagates, steps and calls `after_step` (a projection, a rank
    update). Gradients of the last step are left in place; the caller clears them."""
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        if loss.item() < early_stop_loss or (reached is not None and reached()):
            break
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
