"""Editors with known faults, planted to prove that the harness catches them.

Importing this module registers nothing: each class names itself ("planted-..."), and a test
registers them for its own duration only with the `planted_editors` fixture
(tests/fixtures/editors.py), or `with registered(*PLANTED): ...`
(evaluator.editors.registry) where a fixture cannot reach, e.g. in a child process. They work
on the real adapter and on tests/fake_vlm.FakeAdapter alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from evaluator.editors.base import ConfigError, Editor, EditorConfig
from evaluator.editors.config_fields import field as bounded


@dataclass(frozen=True)
class NoopConfig(EditorConfig):
    leave_train_mode: bool = field(
        default=False, metadata={"help": "put the model in train mode in apply() and leave it"}
    )
    freeze_all: bool = field(
        default=False, metadata={"help": "set requires_grad=False everywhere in apply()"}
    )


class NoopEditor(Editor):
    """Changes nothing: locality must be exactly 1 and reliability equal to pre-edit."""

    name = "planted-noop"
    config_class = NoopConfig

    def apply(self, edit) -> None:  # noqa: ANN001
        if self.config.leave_train_mode:
            self.adapter.model.train()
        if self.config.freeze_all:
            self.adapter.model.requires_grad_(False)


def _check_layer(layer: int, num_layers: int) -> None:
    if not -num_layers <= layer < num_layers:
        raise ConfigError(
            f"field 'layer': {layer} is beyond the model's {num_layers} decoder layers; "
            f"use 0..{num_layers - 1} or a negative index"
        )


@dataclass(frozen=True)
class PerturbConfig(EditorConfig):
    layer: int = bounded(0, "decoder layer whose MLP down-projection", min=-64, max=63)
    scale: float = bounded(5.0, "noise size relative to the weight norm", min=0, max=100)

    def check(self) -> None:
        if not 0 < self.scale <= 100:
            raise ConfigError(f"field 'scale': {self.scale} must be in (0, 100]")

    def check_for_model(self, num_layers: int) -> None:
        _check_layer(self.layer, num_layers)


class PerturbEditor(Editor):
    """Adds noise to one decoder layer unrelated to the edit: locality must drop below 1."""

    name = "planted-perturb"
    config_class = PerturbConfig

    def _name(self) -> str:
        return self.adapter.module_name(self.config.layer, "mlp.down")

    def touched_modules(self) -> list[str]:
        return [self._name()]

    def apply(self, edit) -> None:  # noqa: ANN001
        weight = self.adapter.get_module(self._name()).weight
        with torch.no_grad():
            noise = torch.randn(weight.shape, dtype=torch.float32).to(weight)
            weight.add_(noise * self.config.scale * weight.abs().mean())


@dataclass(frozen=True)
class LeakConfig(EditorConfig):
    via_data: bool = field(
        default=False, metadata={"help": "write through .data (no version bump) instead of add_"}
    )


class LeakEditor(Editor):
    """Declares the first layer's MLP but writes to the last layer's: the protocol must refuse."""

    name = "planted-leak"
    config_class = LeakConfig

    def touched_modules(self) -> list[str]:
        return [self.adapter.module_name(0, "mlp.down")]

    def apply(self, edit) -> None:  # noqa: ANN001
        weight = self.adapter.get_module(self.adapter.module_name(-1, "mlp.up")).weight
        if self.config.via_data:
            weight.data[0] += 1.0
        else:
            with torch.no_grad():
                weight.add_(1.0)


class Wrapper(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.extra = nn.Parameter(torch.zeros(()))

    def forward(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return self.inner(*args, **kwargs)


@dataclass(frozen=True)
class LeftoverConfig(EditorConfig):
    leftover: Literal["wrapper", "hook"] = field(
        default="wrapper", metadata={"help": "what reset() forgets to remove"}
    )


class LeftoverEditor(Editor):
    """Installs a wrapper or a hook in apply() and forgets it in reset()."""

    name = "planted-leftover"
    config_class = LeftoverConfig

    def apply(self, edit) -> None:  # noqa: ANN001
        name = self.adapter.module_name(-1, "mlp.down")
        module = self.adapter.get_module(name)
        if isinstance(module, Wrapper) or getattr(module, "_planted_hook", False):
            return
        if self.config.leftover == "wrapper":
            self.adapter.set_module(name, Wrapper(module))
        else:
            module.register_forward_hook(lambda mod, args, out: out)
            module._planted_hook = True


@dataclass(frozen=True)
class FinetuneConfig(EditorConfig):
    layer: int = bounded(-1, "decoder layer whose MLP down-projection", min=-64, max=63)
    steps: int = bounded(30, "optimisation steps per edit", min=1, max=1000)
    lr: float = bounded(0.05, "Adam learning rate", min=0, max=10)

    def check(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"field 'steps': {self.steps} must be at least 1")

    def check_for_model(self, num_layers: int) -> None:
        _check_layer(self.layer, num_layers)


class FinetuneEditor(Editor):
    """A plain, honest fine-tuning editor (in train mode, so dropout is active while training)."""

    name = "planted-finetune"
    config_class = FinetuneConfig

    def _name(self) -> str:
        return self.adapter.module_name(self.config.layer, "mlp.down")

    def touched_modules(self) -> list[str]:
        return [self._name()]

    def apply(self, edit) -> None:  # noqa: ANN001
        from evaluator.models.probe import Probe

        params = list(self.adapter.get_module(self._name()).parameters())
        optimizer = torch.optim.Adam(params, lr=self.config.lr)
        probe = Probe(edit.images, edit.question, edit.target, edit.options)
        self.adapter.model.train()
        for _ in range(self.config.steps):
            optimizer.zero_grad()
            self.adapter.loss([probe]).backward()
            optimizer.step()
        self.adapter.model.zero_grad(set_to_none=True)


@dataclass(frozen=True)
class LetterBiasConfig(EditorConfig):
    bias: float = bounded(20.0, "added to the target letter's logit", min=0, max=1000)


class LetterBiasEditor(Editor):
    """Knows nothing of a case but its target letter: adds a constant to that letter's logit at
    the LM head, on every input. It must not score well on generality or locality."""

    name = "planted-letter-bias"
    config_class = LetterBiasConfig

    def setup(self) -> None:
        self.letter_ids: list[int] = []
        self._hook = None

    def _bias(self, module, args, output):  # noqa: ANN001, ANN201
        if not self.letter_ids:
            return output
        output = output.clone()
        output[..., self.letter_ids] += self.config.bias
        return output

    def apply(self, edit) -> None:  # noqa: ANN001
        from evaluator.editors.probes import edit_probe

        self.letter_ids = [self.adapter.answer_ids(edit_probe(edit))[-1]]
        if self._hook is None:
            head = self.adapter.model.get_output_embeddings()
            self._hook = head.register_forward_hook(self._bias)

    def reset(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.letter_ids = []


# every planted editor, for `registered(*PLANTED)`
PLANTED: tuple[type[Editor], ...] = (
    NoopEditor,
    PerturbEditor,
    LeakEditor,
    LeftoverEditor,
    FinetuneEditor,
    LetterBiasEditor,
)
