"""GRACE (Hartvigsen et al., 2023): a codebook of keys (input activations of one MLP
down-projection at the last prompt position), trained values and deferral radii. Inside a
key's radius the layer's output is replaced by its value; elsewhere it passes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from evaluator.editors.base import Editor, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP, check_layer_spec, resolve_layer
from evaluator.editors.probes import answer_positions, edit_probe
from evaluator.editors.registry import register_editor
from evaluator.editors.training import model_mode, only_trainable, optimise_steps, seed_everything
from evaluator.editors.wrappers import LayerWrapper, install_wrapper, uninstall_wrapper
from evaluator.models.frozen_prefix import frozen_prefix_loss

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import Probe


@dataclass(frozen=True)
class GRACEConfig(EditorConfig):
    layer: int | float = field(
        0.87, f"decoder layer whose MLP down-projection is wrapped: {LAYER_HELP}", **LAYER_BOUNDS
    )
    eps: float = field(
        0.05,
        "initial deferral radius of a new key (Euclidean distance)",
        min=0,
        min_open=True,
        max=10_000,
    )
    eps_scale: Literal["key_norm", "absolute"] = field(
        "key_norm",
        "key_norm: the radius is eps times the new key's norm, so one default fits every model "
        "size; absolute: eps as is (the GRACE paper used eps 1.0 on its models)",
    )
    n_iter: int = field(100, "optimisation steps on a key's value per edit", min=1, max=1000)
    edit_lr: float = field(1.0, "Adam learning rate for the values", min=0, min_open=True, max=100)
    replacement: Literal["replace_last", "replace_all"] = field(
        "replace_last",
        "replace_last: only the last prompt position; replace_all: it and every answer position",
    )
    early_stop_loss: float = field(
        1e-2, "stop an edit once its loss is below this (0 = never)", min=0, max=100
    )

    def check(self) -> None:
        check_layer_spec("layer", self.layer)

    def check_for_model(self, num_layers: int) -> None:
        resolve_layer("layer", self.layer, num_layers)


class GraceCodebook(LayerWrapper):
    """The wrapped down-projection plus its codebook. Keys and values are float32 tensors held
    as plain attributes; `training_value` forces one entry's value while it is trained."""

    def __init__(self, layer: nn.Module, adapter: VLMAdapter, replace_all: bool) -> None:
        super().__init__(layer, adapter)
        self.replace_all = replace_all
        self.keys: torch.Tensor | None = None  # [K, D_in]
        self.values: list[torch.Tensor] = []  # each [D_out]
        self.radii: list[float] = []
        self.labels: list[str] = []
        self.training_value: tuple[int, torch.Tensor] | None = None  # (entry, value)
        self.captured: tuple[torch.Tensor, torch.Tensor] | None = None  # (key, output) of row 0
        self.capture = False

    def nearest(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance to and index of the nearest key for each query row [B, D_in]."""
        assert self.keys is not None
        dist = torch.cdist(query.float(), self.keys.to(query.device))
        return dist.min(dim=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.layer(hidden)
        batch, length = hidden.shape[:2]
        pos = self.positions(hidden)
        rows = torch.arange(batch, device=hidden.device)
        query = hidden[rows, pos]
        if self.capture:
            self.captured = (query[0].detach().float(), out[rows, pos][0].detach().float())
        if self.training_value is not None:
            hit = torch.ones(batch, dtype=torch.bool, device=hidden.device)
            stacked = self.training_value[1][None].expand(batch, -1)
        elif self.keys is not None:
            dist, chosen = self.nearest(query)
            hit = dist <= torch.tensor(self.radii, device=hidden.device)[chosen]
            if not bool(hit.any()):
                return out
            stacked = torch.stack([self.values[i] for i in chosen.tolist()])
        else:
            return out
        if self.replace_all:
            where = answer_positions(self.adapter.active_labels, batch, length).to(hidden.device)
        else:
            where = torch.zeros((batch, length), dtype=torch.bool, device=hidden.device)
            where[rows, pos] = True
        where &= hit[:, None]
        stacked = stacked.to(device=out.device, dtype=out.dtype)
        return torch.where(where[..., None], stacked[:, None, :], out)

    def add(self, key: torch.Tensor, value: torch.Tensor, radius: float, label: str) -> int:
        key = key[None]
        self.keys = key if self.keys is None else torch.cat([self.keys, key.to(self.keys.device)])
        self.values.append(value.detach())
        self.radii.append(radius)
        self.labels.append(label)
        return len(self.values) - 1


@register_editor("grace")
class GRACEEditor(Editor):
    """Codebook rules per edit (GRACE paper): far from every key -> new key; near a key with
    the same answer -> expand that key's radius and retrain its value; near a key with another
    answer -> split (both radii become half the distance) and add the new key."""

    config_class = GRACEConfig
    config: GRACEConfig

    def setup(self) -> None:
        layer = resolve_layer("layer", self.config.layer, self.adapter.num_layers)
        self.module_name = self.adapter.module_name(layer, "mlp.down")
        self.first_edited_layer = layer % self.adapter.num_layers
        self.codebook: GraceCodebook | None = None

    def _install(self) -> GraceCodebook:
        layer = self.adapter.get_module(self.module_name)
        codebook = GraceCodebook(layer, self.adapter, self.config.replacement == "replace_all")
        install_wrapper(self.adapter, self.module_name, codebook)
        return codebook

    def apply(self, edit: Edit) -> None:
        seed_everything(self.seed)
        if self.codebook is None:
            self.codebook = self._install()
        book = self.codebook
        probe = edit_probe(edit)
        book.capture = True
        try:
            with torch.no_grad(), model_mode(self.adapter.model, False):
                self.adapter.loss([probe])
        finally:
            book.capture = False
        assert book.captured is not None
        key, output = book.captured
        index = self._place(book, key, output, edit.target)
        self._train_value(book, index, probe)

    def _place(
        self, book: GraceCodebook, key: torch.Tensor, output: torch.Tensor, label: str
    ) -> int:
        """The codebook entry this edit trains, after GRACE's growth, expansion and split rules."""
        eps = self.config.eps
        if self.config.eps_scale == "key_norm":
            eps *= float(key.norm())
        if book.keys is None:
            return book.add(key, output, eps, label)
        dist, index = (t.item() for t in book.nearest(key[None]))
        index = int(index)
        if dist > book.radii[index] + eps:
            return book.add(key, output, eps, label)
        if book.labels[index] == label:
            book.radii[index] = max(book.radii[index], dist)
            return index
        if dist == 0.0:
            book.labels[index] = label
            return index
        book.radii[index] = dist / 2
        return book.add(key, output, dist / 2, label)

    def _train_value(self, book: GraceCodebook, index: int, probe: Probe) -> None:
        value = nn.Parameter(book.values[index].to(self.adapter.device).clone())
        optimizer = torch.optim.Adam([value], lr=self.config.edit_lr)
        book.training_value = (index, value)
        try:
            with (
                only_trainable(self.adapter.model, []),
                model_mode(self.adapter.model, False),
                frozen_prefix_loss(
                    self.adapter, [probe], self.first_edited_layer, [book]
                ) as step_loss,
            ):
                optimise_steps(
                    optimizer,
                    step_loss,
                    self.config.n_iter,
                    self.config.early_stop_loss,
                )
        finally:
            book.training_value = None
        book.values[index] = value.detach()

    def reset(self) -> None:
        if self.codebook is not None:
            uninstall_wrapper(self.adapter, self.module_name)
            self.codebook = None
