"""MEMOIR (Wang et al., NeurIPS 2025): a residual memory, a zero-initialised matrix beside one
MLP down-projection, adds W_m (M * a) to the layer's output W a. Each edit gets a sparse,
sample-dependent mask M (TopHash: the k largest entries of the prompt's mean activation after
subtracting a background mean, moved through a fixed random permutation) and trains only the
memory's k columns under its mask. At inference a row's own TopHash mask is compared with the
stored edit masks; when its best overlap |M_q & M_e| / k reaches the threshold, the memory is
read under the matched edit's mask, otherwise the memory adds nothing (the row is unchanged)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn
from torch.nn import functional as F

from evaluator.editors.base import Editor, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP, check_layer_spec, resolve_layer
from evaluator.editors.probes import edit_probe
from evaluator.editors.registry import register_editor
from evaluator.editors.trained import locality_probes
from evaluator.editors.training import model_mode, only_trainable, optimise_steps, seed_everything
from evaluator.editors.wise import FALLBACK_IRRELEVANT
from evaluator.editors.wrappers import LayerWrapper, install_wrapper, uninstall_wrapper
from evaluator.models.frozen_prefix import frozen_prefix_loss

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import Probe

# the paper's top_k 4096 over LLaMA-3-8B's 14336-wide down-projection input
PAPER_TOP_K_RATIO = 4096 / 14336


@dataclass(frozen=True)
class MEMOIRConfig(EditorConfig):
    layer: int | float = field(
        0.87,
        f"decoder layer whose MLP down-projection gets the residual memory (the paper: 27 of "
        f"32); {LAYER_HELP}",
        **LAYER_BOUNDS,
    )
    top_k_ratio: float = field(
        round(PAPER_TOP_K_RATIO, 4),
        "share of the down-projection's input entries in an edit's mask, k = round(ratio * "
        "width) (the paper: 4096 of 14336)",
        min=0,
        min_open=True,
        max=1,
    )
    threshold: float = field(
        0.4,
        "a row reads the memory when its mask overlaps a stored edit's mask by at least this "
        "share of k (the paper: irr_threshold 0.4 on ZsRE)",
        min=0,
        max=1,
    )
    n_iter: int = field(30, "SGD steps per edit (the paper: 30)", min=1, max=1000)
    edit_lr: float = field(
        1.0, "SGD learning rate of the memory (the paper: 1.0)", min=0, min_open=True, max=100
    )
    background_cases: int = field(
        100,
        "train cases whose text, image and multiple-choice locality prompts give the background "
        "mean activation subtracted before the top-k (the paper's mean_decentered features)",
        min=1,
        max=100_000,
    )
    read_mask: Literal["matched", "query"] = field(
        "matched",
        "matched: a routed row reads the memory under the best-matching edit's mask; query: "
        "under its own mask",
    )
    early_stop_loss: float = field(
        0.0, "stop an edit once its loss is below this (0 = never, as the paper)", min=0, max=100
    )

    def check(self) -> None:
        check_layer_spec("layer", self.layer)

    def check_for_model(self, num_layers: int) -> None:
        resolve_layer("layer", self.layer, num_layers)


class ResidualMemory(LayerWrapper):
    """The wrapped down-projection plus the residual memory (float32, zero at start), the
    TopHash permutation, the background mean and the bank of stored edit masks [E, width]."""

    def __init__(
        self, layer: nn.Module, adapter: VLMAdapter, k: int, permutation: torch.Tensor
    ) -> None:
        super().__init__(layer, adapter)
        weight = layer.weight
        self.memory = nn.Parameter(torch.zeros(weight.shape, device=weight.device))
        self.k = k
        self.permutation = permutation.to(weight.device)
        self.background = torch.zeros(weight.shape[1], device=weight.device)
        self.bank: torch.Tensor | None = None
        self.threshold = 1.0
        self.read_matched = True
        self.edit_mask: torch.Tensor | None = None
        self.captured: list[torch.Tensor] = []
        self.capture = False
        self.last_overlap: torch.Tensor | None = None

    def prompt_means(self, hidden: torch.Tensor) -> torch.Tensor:
        """[B, width]: each row's mean activation over its prompt positions."""
        pos = self.positions(hidden)
        prompt = torch.arange(hidden.shape[1], device=hidden.device)[None, :] <= pos[:, None]
        return (hidden.float() * prompt[..., None]).sum(1) / prompt.sum(1, keepdim=True)

    def top_hash(self, means: torch.Tensor) -> torch.Tensor:
        """[B, width] float masks: the k largest entries of (mean - background), permuted."""
        top = (means - self.background).topk(self.k, dim=-1).indices
        masks = torch.zeros_like(means)
        masks.scatter_(1, self.permutation[top], 1.0)
        return masks

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.layer(hidden)
        if self.capture:
            self.captured.append(self.prompt_means(hidden).detach())
        if self.edit_mask is not None:
            masks = self.edit_mask[None].expand(hidden.shape[0], -1)
        elif self.bank is None:
            return out
        else:
            masks = self.route(self.top_hash(self.prompt_means(hidden)))
            if masks is None:
                return out
        extra = F.linear(hidden.float() * masks[:, None, :], self.memory)
        return out + extra.to(out.dtype)

    def route(self, query: torch.Tensor) -> torch.Tensor | None:
        """Per row the mask to read the memory with (zeros for rows that match no edit), or None
        when no row matches."""
        assert self.bank is not None
        overlap = (query @ self.bank.T) / self.k
        best, index = overlap.max(dim=1)
        self.last_overlap = best.detach()
        active = best >= self.threshold
        if not bool(active.any()):
            return None
        masks = self.bank[index] if self.read_matched else query
        return masks * active[:, None].to(masks.dtype)


@register_editor("memoir")
class MEMOIREditor(Editor):
    """Installs the residual memory on the first edit; each edit stores its TopHash mask and
    trains the memory under it with SGD (main weights frozen). Lifelong: masks and memory
    accumulate. The background mean is computed once, in setup (reported as setup seconds)."""

    config_class = MEMOIRConfig
    config: MEMOIRConfig

    def setup(self) -> None:
        layer = resolve_layer("layer", self.config.layer, self.adapter.num_layers)
        self.module_name = self.adapter.module_name(layer, "mlp.down")
        self.first_edited_layer = layer % self.adapter.num_layers
        width = self.adapter.get_module(self.module_name).weight.shape[1]
        self.k = max(1, min(width, round(self.config.top_k_ratio * width)))
        generator = torch.Generator().manual_seed(self.seed)
        self.permutation = torch.randperm(width, generator=generator)
        self.memory: ResidualMemory | None = None
        self.background = torch.zeros(width)
        started = time.perf_counter()
        self.background = self._background()
        self.setup_seconds = time.perf_counter() - started

    def _new_memory(self) -> ResidualMemory:
        layer = self.adapter.get_module(self.module_name)
        memory = ResidualMemory(layer, self.adapter, self.k, self.permutation)
        memory.background = self.background.to(memory.background.device)
        memory.threshold = self.config.threshold
        memory.read_matched = self.config.read_mask == "matched"
        return memory

    def _prompt_means(self, memory: ResidualMemory, probes: list[Probe]) -> torch.Tensor:
        """[N, width] prompt-mean activations of `probes`, one forward pass each."""
        rows = []
        memory.capture = True
        try:
            with torch.no_grad(), model_mode(self.adapter.model, False):
                for probe in probes:
                    memory.captured = []
                    self.adapter.loss([probe])
                    rows.append(memory.captured[0][0])
        finally:
            memory.capture = False
            memory.captured = []
        return torch.stack(rows)

    def _background(self) -> torch.Tensor:
        """Mean prompt activation over the train split's locality prompts (text, image, MC)."""
        cases = list(self.train_cases[: self.config.background_cases]) if self.train_cases else []
        probes = [p for case in cases for p in locality_probes(case)] or [FALLBACK_IRRELEVANT]
        memory = self._new_memory()
        install_wrapper(self.adapter, self.module_name, memory)
        try:
            means = self._prompt_means(memory, probes)
        finally:
            uninstall_wrapper(self.adapter, self.module_name)
        return means.mean(dim=0)

    def apply(self, edit: Edit) -> None:
        edits = 0 if self.memory is None or self.memory.bank is None else len(self.memory.bank)
        seed_everything(self.seed + edits)
        if self.memory is None:
            self.memory = self._new_memory()
            install_wrapper(self.adapter, self.module_name, self.memory)
        memory = self.memory
        probe = edit_probe(edit)
        mask = memory.top_hash(self._prompt_means(memory, [probe]))[0]
        self._train(memory, probe, mask)
        memory.bank = mask[None] if memory.bank is None else torch.cat([memory.bank, mask[None]])

    def _train(self, memory: ResidualMemory, probe: Probe, mask: torch.Tensor) -> None:
        optimizer = torch.optim.SGD([memory.memory], lr=self.config.edit_lr)
        memory.edit_mask = mask
        try:
            with (
                only_trainable(self.adapter.model, [memory.memory]),
                model_mode(self.adapter.model, False),
                frozen_prefix_loss(
                    self.adapter, [probe], self.first_edited_layer, [memory]
                ) as step_loss,
            ):
                optimise_steps(
                    optimizer,
                    step_loss,
                    self.config.n_iter,
                    self.config.early_stop_loss,
                )
        finally:
            memory.edit_mask = None
            optimizer.zero_grad(set_to_none=True)

    def reset(self) -> None:
        if self.memory is not None:
            uninstall_wrapper(self.adapter, self.module_name)
            self.memory = None
