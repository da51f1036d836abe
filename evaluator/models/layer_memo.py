"""The constant part of the first edited layer, computed once per edit.

Within the first edited decoder layer, every submodule call made before the edited module's
first call reads only the layer's recorded inputs and frozen weights (the edited module has
not produced anything yet), so it returns the same tensors at every optimisation step: the
attention block, the norms, and the MLP's gate and up projections when the down projection is
edited. `LayerMemo.record` runs the layer once up to the edited module and keeps those calls'
outputs; `LayerMemo.replaying` makes the same calls return them, in call order, and runs the
real forward for any call past the recorded ones. Returned tensors are the very ones recorded,
so the layer's output is bit for bit what running it computes; an in-place change to one of
them (which would make the next replay differ) drops the memo instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

_PAST = object()  # a call past the recorded ones


class _Reached(Exception):
    """Raised by the pre-hook on an edited module: the constant part of the layer is over."""


def _outer_frozen(layer: nn.Module, edited: Sequence[nn.Module]) -> list[nn.Module]:
    """The largest submodules of `layer` that neither are, contain nor lie inside an edited
    module: the children of the edited modules' ancestors that are not ancestors themselves."""
    edited_ids = {id(m) for m in edited}
    ancestors: set[int] = set()

    def mark(module: nn.Module) -> bool:
        found = id(module) in edited_ids
        for child in module.children():
            found = mark(child) or found
        if found:
            ancestors.add(id(module))
        return found

    if not mark(layer):
        return []
    return [
        child
        for parent in layer.modules()
        if id(parent) in ancestors and id(parent) not in edited_ids
        for child in parent.children()
        if id(child) not in ancestors
    ]


def _tensors(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    return []


class LayerMemo:
    """The outputs of one layer's constant calls for one recorded input (see the module doc),
    with the version counter of each recorded tensor when it was recorded."""

    def __init__(
        self,
        outputs: dict[nn.Module, list[object]],
        versions: list[tuple[torch.Tensor, int]],
    ) -> None:
        self.outputs = outputs
        self._versions = versions
        if not self.intact():  # changed in place during the recording itself
            self.outputs, self._versions = {}, []

    @classmethod
    def record(
        cls, layer: nn.Module, edited: Sequence[nn.Module], run: Callable[[], object]
    ) -> LayerMemo:
        """Run `run` (a call of `layer` on its recorded inputs) up to the first call of an
        edited module, keeping the outputs of the layer's frozen submodules called before it
        (a submodule with a trainable parameter is never kept)."""
        frozen = [
            m
            for m in _outer_frozen(layer, edited)
            if not any(p.requires_grad for p in m.parameters())
        ]
        outputs: dict[nn.Module, list[object]] = {m: [] for m in frozen}
        versions: list[tuple[torch.Tensor, int]] = []

        def keep(module: nn.Module, _args: tuple, output: object) -> None:
            outputs[module].append(output)
            versions.extend((t, t._version) for t in _tensors(output))

        def stop(*_: object) -> None:
            raise _Reached

        handles = [m.register_forward_hook(keep) for m in frozen]
        handles += [m.register_forward_pre_hook(stop) for m in edited]
        try:
            with torch.no_grad():
                run()
        except _Reached:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return cls({m: out for m, out in outputs.items() if out}, versions)

    def intact(self) -> bool:
        """No recorded tensor was changed in place since it was recorded."""
        return all(t._version == version for t, version in self._versions)

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """Within the block, each memoised module's k-th call returns its k-th recorded
        output (the real forward past those); afterwards, the memo is emptied if a caller
        changed a returned tensor in place."""
        # the instance's own `forward` (in its __dict__) shadows the class's; set and removed
        # there directly, at every step, without nn.Module's attribute bookkeeping
        patched = [(m, m.__dict__.get("forward")) for m in self.outputs]
        for module, out in self.outputs.items():
            module.__dict__["forward"] = _replay(module.forward, out)
        try:
            yield
        finally:
            for module, own in patched:
                if own is None:
                    del module.__dict__["forward"]
                else:
                    module.__dict__["forward"] = own
            if not self.intact():
                self.outputs, self._versions = {}, []


def _replay(forward: Callable[..., Any], outputs: list[object]) -> Callable[..., Any]:
    calls = iter(outputs)

    def replayed(*args: object, **kwargs: object) -> object:
        recorded = next(calls, _PAST)
        return forward(*args, **kwargs) if recorded is _PAST else recorded

    return replayed
