"""The loss of an edit's optimisation with its frozen part computed once.

An editor that changes only decoder layers from L up (FT-L, GRACE, WISE, MEMOIR: one layer;
MEMIT and AlphaEdit while they optimise their target residual) sees, at every optimisation
step, the same vision tower output and the same inputs to layer L: only layer L and above, the
final norm and the LM head depend on what it trains. `FrozenPrefixLoss`
encodes the probes once, runs the model once up to layer L (a pre-hook on layer L records that
layer's inputs, hidden states and the position and mask arguments the model built, and stops
the forward there), then each call runs layers L.. and the head only. It computes exactly what
`VLMAdapter.loss` computes, with the same operations in the same order, so the loss and its
gradients are bit-for-bit the same (tests/test_frozen_prefix.py, every editor that uses it, both
zoo architectures). Only families in the adapter's table (evaluator/models/families.py) are
replayed; the recorded tensors are released when the `with` block ends. Given the edited
modules, the calls of layer L made before theirs run once too (evaluator/models/layer_memo.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from evaluator.models.answer_loss import EditLoss
from evaluator.models.families import FAMILIES
from evaluator.models.layer_memo import LayerMemo

if TYPE_CHECKING:
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import Probe

IGNORE = -100


class _Reached(Exception):
    """Raised by the pre-hook to stop the recording forward at layer L."""


@dataclass
class _Recorded:
    """One image-count group's inputs to layer L and what its loss reads of the logits."""

    hidden: torch.Tensor
    args: tuple[object, ...]  # the layer's positional arguments after the hidden states
    kwargs: dict[str, object]
    labels: torch.Tensor  # [B, T], for editors that read `adapter.active_labels`
    keep: torch.Tensor | None  # positions the LM head is applied to (logits_to_keep)
    rows: torch.Tensor
    cols: torch.Tensor  # of each answer token, in the kept logits
    targets: torch.Tensor
    memo: LayerMemo | None = None  # the first layer's constant calls (evaluator.models.layer_memo)


def replayable(adapter: VLMAdapter) -> bool:
    """Whether the adapter's family is one whose forward after the decoder layers is the final
    norm and the LM head (every family of the table)."""
    return getattr(adapter, "family", None) in {f.name for f in FAMILIES.values()}


class FrozenPrefixLoss(EditLoss):
    """EditLoss: the mean answer-token cross-entropy of `probes` (as `adapter.loss`), layers
    below `from_layer` run once at construction. Use through `frozen_prefix_loss`."""

    def __init__(
        self,
        adapter: VLMAdapter,
        probes: Sequence[Probe],
        from_layer: int,
        edited: Sequence[nn.Module] = (),
    ) -> None:
        if not 0 <= from_layer < adapter.num_layers:
            raise ValueError(f"from_layer must be in 0..{adapter.num_layers - 1}: {from_layer}")
        self.adapter = adapter
        layers_path = adapter.layers_path
        self.layers = list(adapter.get_module(layers_path))[from_layer:]
        self.norm = adapter.get_module(layers_path.rsplit(".", 1)[0] + ".norm")
        head = adapter.model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(adapter.model).__name__} has no output embeddings")
        self.head: nn.Module = head
        first = adapter.get_module(layers_path)[from_layer]
        self.groups = [
            self._record(first, adapter.encode([probes[i] for i in group]), edited)
            for group in adapter.image_count_groups(probes)
        ]
        super().__init__(self.answer_logits)

    def _record(
        self, first: nn.Module, batch: dict[str, object], edited: Sequence[nn.Module]
    ) -> _Recorded:
        adapter = self.adapter
        batch = adapter.to_device(batch)
        labels = batch.pop("labels")
        assert isinstance(labels, torch.Tensor)
        rows, cols = (labels != IGNORE).nonzero(as_tuple=True)
        keep = torch.unique(cols - 1) if adapter.keeps_logits else None
        seen: dict[str, object] = {}

        def stop(_module: nn.Module, args: tuple, kwargs: dict) -> None:
            seen["args"], seen["kwargs"] = args, kwargs
            raise _Reached

        handle = first.register_forward_pre_hook(stop, with_kwargs=True)
        extra = {"logits_to_keep": keep} if keep is not None else {}
        try:
            with torch.no_grad(), adapter.labels_active(labels):
                adapter.model(**batch, use_cache=False, **extra)
        except _Reached:
            pass
        finally:
            handle.remove()
        if "args" not in seen:
            raise RuntimeError("the recording forward never reached the first edited layer")
        args, kwargs = seen["args"], dict(seen["kwargs"])  # type: ignore[call-overload]
        hidden = args[0] if args else kwargs.pop("hidden_states")
        in_logits = torch.searchsorted(keep, cols - 1) if keep is not None else cols - 1
        group = _Recorded(
            hidden.detach(), tuple(args[1:]), kwargs, labels, keep, rows, in_logits,
            labels[rows, cols],
        )  # fmt: skip
        if edited:
            with adapter.labels_active(labels):
                group.memo = LayerMemo.record(
                    first, edited, lambda: first(group.hidden, *group.args, **group.kwargs)
                )
        return group

    def answer_logits(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(logits, targets) of each group, layers from L up run now."""
        for group in self.groups:
            yield self._answer_logits(group), group.targets

    def run_first_layer(self) -> None:
        """Run only the first edited layer on the recorded inputs, for what a wrapper in it
        records (WISE's margins on unrelated prompts); the layers above and the head, whose
        output nothing reads then, are skipped."""
        for group in self.groups:
            self._layers(group, self.layers[:1])

    def _layers(self, group: _Recorded, layers: list[nn.Module]) -> torch.Tensor:
        hidden = group.hidden
        with self.adapter.labels_active(group.labels):
            for depth, layer in enumerate(layers):
                replay = group.memo if group.memo is not None and depth == 0 else None
                with replay.replaying() if replay else contextlib.nullcontext():
                    out = layer(hidden, *group.args, **group.kwargs)
                hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def _answer_logits(self, group: _Recorded) -> torch.Tensor:
        hidden = self.norm(self._layers(group, self.layers))
        kept = hidden[:, group.keep, :] if group.keep is not None else hidden
        return self.head(kept)[group.rows, group.cols].float()


@contextlib.contextmanager
def frozen_prefix_loss(
    adapter: VLMAdapter,
    probes: Sequence[Probe],
    from_layer: int | None,
    edited: Sequence[nn.Module] = (),
) -> Iterator[EditLoss]:
    """Within the block, an EditLoss of `probes` whose value equals `adapter.loss(probes)` and
    that runs only layers `from_layer` and above per call (the rest once, on entry); with the
    `edited` modules of layer `from_layer` named, that layer's calls before theirs run once
    too (evaluator.models.layer_memo). The full model per call where `from_layer` is None, the
    family is not replayable or the adapter's `prefix_cache` is off. The recorded tensors are
    dropped on exit."""
    if from_layer is None or not getattr(adapter, "prefix_cache", False) or not replayable(adapter):
        yield EditLoss(lambda: adapter.answer_logits(probes))
        return
    loss = FrozenPrefixLoss(adapter, probes, from_layer, edited)
    try:
        yield loss
    finally:
        loss.groups.clear()
