"""LoRA and AdaLoRA editing through peft: low-rank adapters on chosen projections of the
language model's decoder layers, trained on the edit; removed with peft's unload on reset."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from peft import AdaLoraConfig, AdaLoraModel, LoraConfig, LoraModel

from evaluator.editors.base import ConfigError, Editor, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import (
    LAYER_BOUNDS,
    LAYER_HELP,
    MODULE_KINDS,
    check_layer_spec,
    resolve_layer,
)
from evaluator.editors.probes import edit_probe
from evaluator.editors.registry import register_editor
from evaluator.editors.training import (
    model_mode,
    optimise_steps,
    restored_requires_grad,
    seed_everything,
)

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit

ADAPTER_NAME = "mme_edit"


@dataclass(frozen=True)
class LoRAConfig(EditorConfig):
    variant: Literal["lora", "adalora"] = field(
        "adalora", "lora (plain LoRA) or adalora (adaptive rank budget, the paper's choice)"
    )
    rank: int = field(
        4, "adapter rank (AdaLoRA: the average target rank; it starts at 2x)", min=1, max=256
    )
    alpha: float = field(
        32.0, "LoRA scaling numerator (scale = alpha / rank)", min=0, min_open=True, max=4096
    )
    dropout: float = field(0.1, "dropout on the adapter input while training", min=0, max=1)
    modules: tuple[str, ...] = field(
        ("attn.q", "attn.v"),
        f"projections to adapt: {MODULE_KINDS}",
        max_items=len(MODULE_KINDS),
    )
    layers: tuple[int | float, ...] = field(
        (),
        f"decoder layers to adapt, empty = all; each {LAYER_HELP}",
        max_items=256,
        **LAYER_BOUNDS,
    )
    steps: int = field(30, "optimisation steps per edit", min=1, max=1000)
    lr: float = field(5e-3, "Adam learning rate", min=0, min_open=True, max=10)
    early_stop_loss: float = field(
        1e-2, "stop an edit once its loss is below this (0 = never)", min=0, max=100
    )

    def check(self) -> None:
        if not self.modules:
            raise ConfigError("field 'modules': empty; name at least one of " + str(MODULE_KINDS))
        for kind in self.modules:
            if kind not in MODULE_KINDS:
                raise ConfigError(f"field 'modules': {kind!r} is not one of {MODULE_KINDS}")
        for spec in self.layers:
            check_layer_spec("layers", spec)

    def check_for_model(self, num_layers: int) -> None:
        for spec in self.layers:
            resolve_layer("layers", spec, num_layers)


@register_editor("lora")
class LoRAEditor(Editor):
    """Installs the adapter on the first edit of a sequence and keeps training it on later
    edits (lifelong); the base weights never change, so touched_modules() is empty."""

    config_class = LoRAConfig
    config: LoRAConfig

    def setup(self) -> None:
        n = self.adapter.num_layers
        layers = [resolve_layer("layers", s, n) for s in self.config.layers] or list(range(n))
        self.target_names = [
            self.adapter.module_name(layer, kind)
            for layer in sorted(set(layers))
            for kind in self.config.modules
        ]
        self._tuner: LoraModel | None = None
        self._flags: contextlib.ExitStack | None = None
        self._step = 0

    def _install(self) -> LoraModel:
        seed_everything(self.seed)
        c = self.config
        self._flags = contextlib.ExitStack()
        self._flags.enter_context(restored_requires_grad(self.adapter.model))
        common = {
            "lora_alpha": c.alpha,
            "lora_dropout": c.dropout,
            "target_modules": self.target_names,
            "bias": "none",
        }
        if c.variant == "adalora":
            config = AdaLoraConfig(
                init_r=2 * c.rank, target_r=c.rank, total_step=c.steps, tinit=0, tfinal=0, **common
            )
            tuner: LoraModel = AdaLoraModel(self.adapter.model, config, ADAPTER_NAME)
        else:
            tuner = LoraModel(self.adapter.model, LoraConfig(r=c.rank, **common), ADAPTER_NAME)
        self._step = 0
        return tuner

    def apply(self, edit: Edit) -> None:
        if self._tuner is None:
            self._tuner = self._install()
        seed_everything(self.seed + self._step)
        tuner = self._tuner
        params = [p for n, p in self.adapter.model.named_parameters() if "lora_" in n]
        optimizer = torch.optim.Adam(params, lr=self.config.lr)
        probe = edit_probe(edit)

        def count_step() -> None:
            if isinstance(tuner, AdaLoraModel):
                tuner.update_and_allocate(self._step)
            self._step += 1

        with model_mode(self.adapter.model, True):
            optimise_steps(
                optimizer,
                lambda: self.adapter.loss([probe]),
                self.config.steps,
                self.config.early_stop_loss,
                after_step=count_step,
            )
        optimizer.zero_grad(set_to_none=True)

    def reset(self) -> None:
        if self._tuner is not None:
            self._tuner.unload()
            self._tuner = None
        if self._flags is not None:
            self._flags.close()
            self._flags = None
