"""Helpers shared by the editors: layer specs relative to depth, the edit probe, last-prompt
positions from the adapter's labels, parameter freezing, seeding and module wrappers."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from contract.limits import LAYER_INDEX_MAX
from evaluator.editors.base import Bounds, ConfigError
from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit
    from evaluator.models.adapter import VLMAdapter

IGNORE = -100
LAYER_HELP = (
    "a float in [0, 1] is relative depth, round(f * (num_layers - 1)); an int is an absolute "
    "index, negative counting from the end"
)
MODULE_KINDS = ("mlp.up", "mlp.gate", "mlp.down", "attn.q", "attn.k", "attn.v", "attn.o")


def field(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    finite: bool = True,
    max_items: int | None = None,
) -> Any:
    """A dataclass field with its default, the help text and the bounds that `describe()`
    prints and `EditorConfig.from_mapping` enforces: `min`/`max` (excluded when `min_open`/
    `max_open`), `finite` (NaN and infinities refused, the default) and, for tuple fields,
    `max_items`; a tuple field's bounds apply to each of its items."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple default so that configs stay frozen and hashable")
    bounds = Bounds(min, max, min_open, max_open, finite, max_items)
    for value in default if isinstance(default, tuple) else (default,):
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric and not bounds.contains(value):
            raise ValueError(f"default {value!r} lies outside {bounds.range_text()}")
    return dataclasses.field(default=default, metadata={"help": help, "bounds": bounds})


# an integer layer index is declared within these bounds; the real check is against the model
LAYER_BOUNDS = {"min": -LAYER_INDEX_MAX, "max": LAYER_INDEX_MAX - 1}


def check_layer_spec(name: str, spec: int | float) -> None:
    """A float layer must be a relative depth in [0, 1] (ints are checked against the model)."""
    if isinstance(spec, float) and not (0.0 <= spec <= 1.0 and math.isfinite(spec)):
        raise ConfigError(
            f"field {name!r}: {spec!r} is not a relative depth in [0, 1]; give a float in [0, 1] "
            "or an integer layer index"
        )


def resolve_layer(name: str, spec: int | float, num_layers: int) -> int:
    """The absolute layer index of `spec` for a model with `num_layers` decoder layers."""
    check_layer_spec(name, spec)
    if isinstance(spec, float):
        return round(spec * (num_layers - 1))
    if not -num_layers <= spec < num_layers:
        raise ConfigError(
            f"field {name!r}: layer {spec} does not exist, the model has {num_layers} decoder "
            f"layers; use 0..{num_layers - 1}, a negative index from the end, or a float depth"
        )
    return spec % num_layers


def check_positive(config: Any, *names: str, allow_zero: bool = False) -> None:
    """Each named field must be > 0 (or >= 0 with allow_zero)."""
    for name in names:
        value = getattr(config, name)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"field {name!r}: {value!r} is out of range; it must be {bound}")


def check_fraction(config: Any, name: str, *, open_low: bool = False) -> None:
    """The named field must lie in [0, 1] (or (0, 1] with open_low)."""
    value = getattr(config, name)
    if not (0.0 < value <= 1.0 if open_low else 0.0 <= value <= 1.0):
        bound = "(0, 1]" if open_low else "[0, 1]"
        raise ConfigError(f"field {name!r}: {value!r} is out of range; it must be in {bound}")


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


class LayerWrapper(nn.Module):
    """Base for editors that replace a linear layer by a wrapper around it (GRACE, WISE):
    `install` swaps it in through the adapter, `uninstall` puts the original back."""

    def __init__(self, layer: nn.Module, adapter: VLMAdapter) -> None:
        super().__init__()
        self.layer = layer
        # a plain attribute (not a submodule): the adapter must not become part of the tree
        object.__setattr__(self, "_adapter", adapter)

    @property
    def adapter(self) -> VLMAdapter:
        return self._adapter  # type: ignore[no-any-return]

    def positions(self, hidden: torch.Tensor) -> torch.Tensor:
        """Per-row last prompt position for the activation `hidden` [B, T, D]."""
        batch, length = hidden.shape[:2]
        return last_prompt_positions(self.adapter.active_labels, batch, length).to(hidden.device)


def install_wrapper(adapter: VLMAdapter, name: str, wrapper: LayerWrapper) -> None:
    adapter.set_module(name, wrapper)


def uninstall_wrapper(adapter: VLMAdapter, name: str) -> None:
    """Puts the wrapped original layer back at `name` (no-op if no wrapper is installed)."""
    module = adapter.get_module(name)
    if isinstance(module, LayerWrapper):
        adapter.set_module(name, module.layer)
