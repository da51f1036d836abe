"""Exact restore of the modules an editor touches, and cheap checks that nothing else changed.

Single editing snapshots only `editor.touched_modules()` (cheap even for a 7B model) and
copies it back after each case; `ModelGuard`, taken before the editor exists, then checks
that the model has the same tensors, modules and hooks, and the same values everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn


class ModelChangedError(RuntimeError):
    """The editor left the model different from before: the message names what changed."""


def named_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Every parameter and buffer of `model` by qualified name (shared tensors once)."""
    yield from model.named_parameters()
    yield from model.named_buffers()


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


@dataclass(frozen=True)
class Snapshot:
    """Copies of the parameters and buffers under some modules, by qualified tensor name."""

    modules: tuple[str, ...]
    tensors: dict[str, torch.Tensor]


def snapshot_modules(model: nn.Module, module_names: Iterable[str]) -> Snapshot:
    """Copy every parameter and buffer under the named modules (on their own device)."""
    names = tuple(dict.fromkeys(module_names))
    known = dict(model.named_modules())
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(
            f"touched_modules names {missing} that the model does not have; "
            "names must be as in model.named_modules()"
        )
    tensors = {
        name: tensor.detach().clone()
        for name, tensor in named_tensors(model)
        if _under(name, names)
    }
    return Snapshot(modules=names, tensors=tensors)


def restore_snapshot(model: nn.Module, snapshot: Snapshot) -> None:
    """Copy the snapshot back in place, bit for bit; a tensor that vanished is an error."""
    current = dict(named_tensors(model))
    missing = sorted(set(snapshot.tensors) - set(current))
    if missing:
        raise ModelChangedError(
            f"cannot restore {missing}: no longer in the model after editor.reset(); "
            "reset() must undo every structural change"
        )
    with torch.no_grad():
        for name, saved in snapshot.tensors.items():
            target = current[name]
            if target.shape != saved.shape or target.dtype != saved.dtype:
                raise ModelChangedError(
                    f"cannot restore {name}: it is now {tuple(target.shape)} {target.dtype}, "
                    f"was {tuple(saved.shape)} {saved.dtype}"
                )
            target.copy_(saved)


def model_hash(model: nn.Module) -> str:
    """sha256 over every parameter and buffer name and its exact bytes (for tests)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(named_tensors(model), key=lambda item: item[0]):
        data = tensor.detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(data.dtype).encode())
        digest.update(str(tuple(data.shape)).encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def value_fingerprint(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-tensor (sum, norm) as float64: one device pass, one transfer to the CPU."""
    if not tensors:
        return torch.zeros(0, 2, dtype=torch.float64)
    rows = []
    for tensor in tensors.values():
        t = tensor.detach()
        if t.numel() == 0:
            rows.append(torch.zeros(2, dtype=torch.float64, device=t.device))
            continue
        spread = torch.linalg.vector_norm(t) if t.is_floating_point() else t.count_nonzero()
        rows.append(torch.stack([t.sum(dtype=torch.float64), spread.to(torch.float64)]))
    return torch.stack([r.cpu() for r in rows])


# Libraries that install their own hooks lazily on a first forward pass (transformers'
# output capturing); those hooks are not the editor's and are never removed.
_FRAMEWORK_HOOK_MODULES = ("transformers.", "accelerate.")


def _is_framework_hook(hook: object) -> bool:
    function = getattr(hook, "func", hook)
    return str(getattr(function, "__module__", "")).startswith(_FRAMEWORK_HOOK_MODULES)


def _editor_hooks(model: nn.Module) -> dict[str, set[int]]:
    """Module name -> ids of its forward/pre/backward hooks, framework hooks left out."""
    hooks: dict[str, set[int]] = {}
    for name, module in model.named_modules():
        ids = {
            id(hook)
            for table in (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks)
            for hook in table.values()
            if not _is_framework_hook(hook)
        }
        if ids:
            hooks[name] = ids
    return hooks


class ModelGuard:
    """Remembers a model's structure and a fingerprint of every tensor, taken before the editor
    is built, and checks after an edit cycle (reset + restore) that all of it is unchanged."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {name: type(t).__name__ for name, t in named_tensors(model)}
        self.modules = {name: type(m).__name__ for name, m in model.named_modules()}
        self.hooks = _editor_hooks(model)
        self.requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}
        tensors = dict(named_tensors(model))
        self.identity = {n: (t.data_ptr(), t._version) for n, t in tensors.items()}
        self.fingerprint = value_fingerprint(tensors)

    def restore_requires_grad(self) -> None:
        """Put back every parameter's requires_grad flag (editors freeze and unfreeze freely)."""
        for name, param in self.model.named_parameters():
            if name in self.requires_grad:
                param.requires_grad_(self.requires_grad[name])

    def check(self, touched: Iterable[str] = ()) -> None:
        """Raise ModelChangedError naming the first thing that differs from construction time.

        Tensors under `touched` (restored from a snapshot) may have been written in place;
        every other tensor must not even have been written.
        """
        touched = tuple(touched)
        names = {name: type(t).__name__ for name, t in named_tensors(self.model)}
        added = sorted(set(names) - set(self.names))
        removed = sorted(set(self.names) - set(names))
        if added or removed:
            raise ModelChangedError(
                f"after editor.reset() the model's parameters/buffers differ: added {added[:5]}, "
                f"removed {removed[:5]}; reset() must remove every wrapper and adapter it added"
            )
        modules = {name: type(m).__name__ for name, m in self.model.named_modules()}
        if modules != self.modules:
            changed = sorted(set(modules.items()) ^ set(self.modules.items()))
            raise ModelChangedError(
                f"after editor.reset() the model's modules differ: {changed[:5]}; "
                "reset() must put every original module back"
            )
        hooks = _editor_hooks(self.model)
        if hooks != self.hooks:
            changed = sorted(
                k for k in set(hooks) | set(self.hooks) if hooks.get(k) != self.hooks.get(k)
            )
            raise ModelChangedError(
                f"after editor.reset() modules {changed[:5]} have hooks added or removed; "
                "reset() must remove every hook it registered, and only those"
            )
        tensors = dict(named_tensors(self.model))
        for name, tensor in tensors.items():
            if not _under(name, touched) and (
                (tensor.data_ptr(), tensor._version) != self.identity[name]
            ):
                raise ModelChangedError(self._leak_message(name, touched))
        fingerprint = value_fingerprint(tensors)
        differs = (fingerprint != self.fingerprint).any(dim=1).nonzero().flatten().tolist()
        if differs:
            raise ModelChangedError(self._leak_message(list(tensors)[differs[0]], touched))

    @staticmethod
    def _leak_message(name: str, touched: tuple[str, ...]) -> str:
        if _under(name, touched):
            return (
                f"{name} differs from the untouched model after restoring the snapshot of "
                f"{list(touched)}; the editor must not change weights when it is constructed"
            )
        return (
            f"the editor changed {name}, which is outside its touched_modules() "
            f"{list(touched)}; list every module whose weights apply() may change"
        )
