"""WISE (Wang et al., 2024): a side memory, a copy of one MLP down-projection, trained on the
edits under random gradient masks while the main weights stay frozen. At inference a row is
routed to a side memory when its activation margin ||side(a) - main(a)|| at the last prompt
position exceeds a threshold calibrated on the edits. Shards trained on disjoint masks are
saved every `save_freq` edits and TIES-merged every `merge_freq` edits."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from evaluator.editors.base import ConfigError, Editor, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP, check_layer_spec, resolve_layer
from evaluator.editors.probes import edit_probe
from evaluator.editors.registry import register_editor
from evaluator.editors.training import model_mode, only_trainable, seed_everything
from evaluator.editors.wrappers import LayerWrapper, install_wrapper, uninstall_wrapper
from evaluator.models.frozen_prefix import FrozenPrefixLoss, frozen_prefix_loss
from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit
    from evaluator.models.adapter import VLMAdapter

# an irrelevant prompt for the margin loss when the editor has no train cases
FALLBACK_IRRELEVANT = Probe(images=(), question="What is the capital of France?", answer="Paris")


@dataclass(frozen=True)
class WISEConfig(EditorConfig):
    layer: int | float = field(
        0.87, f"decoder layer whose MLP down-projection is copied: {LAYER_HELP}", **LAYER_BOUNDS
    )
    mask_ratio: float = field(
        0.2, "share of the side memory's weights a shard may change", min=0, min_open=True, max=1
    )
    n_iter: int = field(70, "SGD steps per edit", min=1, max=1000)
    edit_lr: float = field(
        1.0, "SGD learning rate on the side memory", min=0, min_open=True, max=100
    )
    act_ratio: float = field(
        0.88,
        "routing threshold = act_ratio * the smallest edit margin",
        min=0,
        min_open=True,
        max=10,
    )
    alpha: float = field(
        0.5,
        "irrelevant inputs' margin is pushed below alpha (the paper: 5 on 7B models)",
        min=0,
        max=1000,
    )
    beta: float = field(
        2.0, "edit inputs' margin is pushed above beta (the paper: 20 on 7B)", min=0, max=1000
    )
    gamma: float = field(
        1.0,
        "edit margin must exceed the irrelevant margin by gamma (the paper: 10 on 7B)",
        min=0,
        max=1000,
    )
    norm_constraint: float = field(
        1.0, "max change of any side-memory weight (L-inf)", min=0, min_open=True, max=100
    )
    save_freq: int = field(
        500, "edits per knowledge shard; a full shard is saved", min=1, max=100_000
    )
    merge_freq: int = field(
        1000, "edits between TIES merges of the saved shards", min=1, max=100_000
    )
    irrelevant_cases: int = field(
        1,
        "train cases whose text and image locality prompts serve as irrelevant inputs",
        min=1,
        max=1000,
    )
    density: float = field(
        0.53, "TIES trim: share of each shard's largest changes kept", min=0, min_open=True, max=1
    )
    early_stop_loss: float = field(
        1e-2, "stop an edit once its loss is below this (0 = never)", min=0, max=100
    )

    def check(self) -> None:
        check_layer_spec("layer", self.layer)
        if self.merge_freq % self.save_freq:
            raise ConfigError(
                f"field 'merge_freq': {self.merge_freq} is not a multiple of save_freq "
                f"{self.save_freq}; a merge must combine whole shards"
            )
        shards = self.merge_freq // self.save_freq
        if shards * self.mask_ratio > 1.0 + 1e-9:
            raise ConfigError(
                f"field 'mask_ratio': {self.mask_ratio} times {shards} shards per merge exceeds 1, "
                "so the shards' masks cannot be disjoint; lower mask_ratio or merge more often"
            )

    def check_for_model(self, num_layers: int) -> None:
        resolve_layer("layer", self.layer, num_layers)


def ties_merge(base: torch.Tensor, weights: Sequence[torch.Tensor], density: float) -> torch.Tensor:
    """TIES merging of task vectors (weights - base): trim each to its `density` largest
    magnitudes, elect a sign per entry by summed mass, average the entries that agree."""
    trimmed = []
    for weight in weights:
        delta = (weight - base).flatten()
        keep = max(1, int(density * delta.numel()))
        cutoff = delta.abs().kthvalue(delta.numel() - keep + 1).values
        trimmed.append(torch.where(delta.abs() >= cutoff, delta, torch.zeros_like(delta)))
    stacked = torch.stack(trimmed)
    sign = torch.sign(stacked.sum(dim=0))
    agree = (torch.sign(stacked) == sign) & (stacked != 0)
    count = agree.sum(dim=0).clamp(min=1)
    merged = (stacked * agree).sum(dim=0) / count
    return base + merged.view_as(base)


class WiseSideMemory(LayerWrapper):
    """The wrapped main down-projection plus side-memory weights (float32, plain attributes).
    While `editing`, every row goes through `current` and the margins are recorded."""

    def __init__(self, layer: nn.Module, adapter: VLMAdapter) -> None:
        super().__init__(layer, adapter)
        self.original = layer.weight.detach().float().clone()
        self.current = nn.Parameter(self.original.clone())
        self.memories: list[torch.Tensor] = []  # merged or saved side memories in use
        self.threshold = float("inf")
        self.editing = False
        self.margins: torch.Tensor | None = None
        # while editing: the main layer's output at the last prompt positions, by labels tensor
        # (the layer and its input are frozen, so a replayed batch gives the same rows)
        self.main_rows: dict[int, tuple[object, torch.Tensor]] = {}

    def side(self, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        bias = getattr(self.layer, "bias", None)
        out = F.linear(hidden.float(), weight, None if bias is None else bias.float())
        return out

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        pos = self.positions(hidden)
        if self.editing:
            out = self.side(hidden, self.current)
            self.margins = (out[rows, pos] - self._main_rows(hidden, rows, pos)).norm(dim=-1)
            return out.to(hidden.dtype)
        main = self.layer(hidden)
        candidates = [*self.memories, self.current.detach()]
        outs = [self.side(hidden, w) for w in candidates]
        margins = torch.stack([(o[rows, pos] - main[rows, pos].float()).norm(dim=-1) for o in outs])
        best, index = margins.max(dim=0)
        routed = best > self.threshold
        if not bool(routed.any()):
            return main
        chosen = torch.stack(outs)[index, rows].to(main.dtype)
        return torch.where(routed[:, None, None], chosen, main)

    def _main_rows(
        self, hidden: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """The main layer's float output at the last prompt positions of `hidden`'s batch,
        computed once per labels tensor while editing (the main weights never train)."""
        labels = self.adapter.active_labels
        seen = self.main_rows.get(id(labels)) if labels is not None else None
        if seen is not None and seen[0] is labels:
            return seen[1]
        with torch.no_grad():
            found = self.layer(hidden)[rows, pos].float()
        if labels is not None:
            self.main_rows[id(labels)] = (labels, found)
        return found


@register_editor("wise")
class WISEEditor(Editor):
    """Each edit trains the current shard on the edit's loss plus WISE's margin loss against an
    irrelevant prompt (a train case's locality question), with gradients masked to the shard."""

    config_class = WISEConfig
    config: WISEConfig

    def setup(self) -> None:
        layer = resolve_layer("layer", self.config.layer, self.adapter.num_layers)
        self.module_name = self.adapter.module_name(layer, "mlp.down")
        self.first_edited_layer = layer % self.adapter.num_layers
        self.memory: WiseSideMemory | None = None
        self._reset_state()
        # the train split (a run's is loaded on first use: decoded and hashed) loads here, a
        # one-off cost reported as set-up seconds rather than inside the first edit's latency
        started = time.perf_counter()
        self.train_count = len(self.train_cases)
        self.setup_seconds = time.perf_counter() - started

    def _reset_state(self) -> None:
        self.edits = 0
        self.edit_margins: list[float] = []
        self.saved: list[torch.Tensor] = []
        self.merged: torch.Tensor | None = None
        self._permutation: torch.Tensor | None = None
        self._mask: torch.Tensor | None = None

    def _irrelevant(self) -> list[Probe]:
        """Unrelated prompts for the margin loss: text and image locality prompts of
        `irrelevant_cases` train cases, taken in turn."""
        if not self.train_count:
            return [FALLBACK_IRRELEVANT]
        probes = []
        for k in range(self.config.irrelevant_cases):
            case = self.train_cases[(self.edits + k) % self.train_count]
            probes.append(Probe(images=(), question=case.loc_question, answer=case.loc_answer))
            probes.append(Probe(case.m_loc_images, case.m_loc_question, case.m_loc_answer))
        return probes

    def _new_mask(self, memory: WiseSideMemory) -> torch.Tensor:
        """A mask disjoint from the other shards of the same merge group."""
        numel = memory.original.numel()
        shards_per_merge = self.config.merge_freq // self.config.save_freq
        slot = (self.edits // self.config.save_freq) % shards_per_merge
        if slot == 0 or self._permutation is None:
            generator = torch.Generator().manual_seed(self.seed + self.edits)
            self._permutation = torch.randperm(numel, generator=generator)
        size = max(1, int(self.config.mask_ratio * numel))
        mask = torch.zeros(numel, dtype=torch.bool)
        mask[self._permutation[slot * size : (slot + 1) * size]] = True
        return mask.view_as(memory.original).to(memory.original.device)

    def apply(self, edit: Edit) -> None:
        seed_everything(self.seed + self.edits)
        if self.memory is None:
            layer = self.adapter.get_module(self.module_name)
            self.memory = WiseSideMemory(layer, self.adapter)
            install_wrapper(self.adapter, self.module_name, self.memory)
        memory = self.memory
        if self.edits % self.config.save_freq == 0 or self._mask is None:
            self._mask = self._new_mask(memory)
        self._train(memory, edit_probe(edit), self._irrelevant(), self._mask)
        self.edits += 1
        if self.edits % self.config.save_freq == 0:
            self.saved.append(memory.current.detach().clone())
            memory.current.data.copy_(memory.original)
        if self.edits % self.config.merge_freq == 0:
            shards = self.saved + ([self.merged] if self.merged is not None else [])
            self.merged = ties_merge(memory.original, shards, self.config.density)
            self.saved = []
        memory.memories = [*([self.merged] if self.merged is not None else []), *self.saved]
        memory.threshold = min(self.edit_margins) * self.config.act_ratio

    def _train(
        self, memory: WiseSideMemory, probe: Probe, irrelevant: list[Probe], mask: torch.Tensor
    ) -> None:
        c = self.config
        weight = memory.current
        optimizer = torch.optim.SGD([weight], lr=c.edit_lr)
        memory.editing = True
        memory.main_rows.clear()
        try:
            with (
                only_trainable(self.adapter.model, [weight]),
                model_mode(self.adapter.model, False),
                contextlib.ExitStack() as stack,
            ):
                layer = self.first_edited_layer
                step_loss = stack.enter_context(
                    frozen_prefix_loss(self.adapter, [probe], layer, [memory])
                )
                unrelated_losses = [
                    stack.enter_context(frozen_prefix_loss(self.adapter, [u], layer, [memory]))
                    for u in irrelevant
                ]
                for _ in range(c.n_iter):
                    optimizer.zero_grad(set_to_none=True)
                    edit_loss = step_loss()
                    assert memory.margins is not None
                    inside = memory.margins.mean()
                    outside_parts = []
                    for unrelated_loss in unrelated_losses:
                        run_to_margins(unrelated_loss)
                        outside_parts.append(memory.margins)
                    outside = torch.cat(outside_parts).max()
                    margin_loss = (
                        F.relu(outside - inside + c.gamma)
                        + F.relu(outside - c.alpha)
                        + F.relu(c.beta - inside)
                    )
                    loss = edit_loss + margin_loss
                    if loss.item() < c.early_stop_loss:
                        break
                    loss.backward()
                    assert weight.grad is not None
                    weight.grad.mul_(mask)
                    optimizer.step()
                    with torch.no_grad():
                        delta = (weight - memory.original).clamp(
                            -c.norm_constraint, c.norm_constraint
                        )
                        weight.copy_(memory.original + delta)
                with torch.no_grad():
                    self.adapter.loss([probe])
                    assert memory.margins is not None
                    self.edit_margins.append(float(memory.margins.mean()))
        finally:
            memory.editing = False
            memory.main_rows.clear()
            optimizer.zero_grad(set_to_none=True)

    def reset(self) -> None:
        if self.memory is not None:
            uninstall_wrapper(self.adapter, self.module_name)
            self.memory = None
        self._reset_state()


def run_to_margins(loss: Callable[[], torch.Tensor]) -> None:
    """Run a prompt far enough for the side memory to record its margins: through the edited
    layer only when its prefix is cached (FrozenPrefixLoss), else the whole model."""
    if isinstance(loss, FrozenPrefixLoss):
        loss.run_first_layer()
    else:
        loss()
