"""Layer wrappers: editors that replace a linear layer by a module around it (GRACE, WISE,
MEMOIR, MEND, SERAC) install and remove it through the adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from evaluator.editors.probes import last_prompt_positions

if TYPE_CHECKING:
    from evaluator.models.adapter import VLMAdapter


POSITIONS_KEPT = 8  # labels tensors whose positions a wrapper remembers


class LayerWrapper(nn.Module):
    """Base for editors that replace a linear layer by a wrapper around it (GRACE, WISE):
    `install` swaps it in through the adapter, `uninstall` puts the original back."""

    def __init__(self, layer: nn.Module, adapter: VLMAdapter) -> None:
        super().__init__()
        self.layer = layer
        # a plain attribute (not a submodule): the adapter must not become part of the tree
        object.__setattr__(self, "_adapter", adapter)
        # positions already read, by the labels tensor they came from (see `positions`)
        self._positions: dict[int, tuple[object, tuple[int, int], torch.Tensor]] = {}

    @property
    def adapter(self) -> VLMAdapter:
        return self._adapter  # type: ignore[no-any-return]

    def positions(self, hidden: torch.Tensor) -> torch.Tensor:
        """Per-row last prompt position for the activation `hidden` [B, T, D]. Remembered for
        the few latest labels tensors: an edit's optimisation replays the same batches at
        every step, and reading the labels back from the device each time cost as much as
        the edited layer."""
        batch, length = hidden.shape[:2]
        labels = self.adapter.active_labels
        seen = self._positions.get(id(labels))
        if seen is not None and seen[0] is labels and seen[1] == (batch, length):
            return seen[2]
        found = last_prompt_positions(labels, batch, length).to(hidden.device)
        if len(self._positions) >= POSITIONS_KEPT:
            self._positions.clear()
        self._positions[id(labels)] = (labels, (batch, length), found)
        return found


def install_wrapper(adapter: VLMAdapter, name: str, wrapper: LayerWrapper) -> None:
    adapter.set_module(name, wrapper)


def uninstall_wrapper(adapter: VLMAdapter, name: str) -> None:
    """Puts the wrapped original layer back at `name` (no-op if no wrapper is installed)."""
    module = adapter.get_module(name)
    if isinstance(module, LayerWrapper):
        adapter.set_module(name, module.layer)
