"""AlphaEdit (Fang et al., ICLR 2025): MEMIT's update projected onto the null space of the
preserved knowledge's keys, so that it leaves their outputs alone. P projects onto the
eigenvectors of the preserved keys' second moment whose eigenvalues are below a threshold;
each layer solves (P (K^T K + K_p^T K_p) + l2 I) X = P K^T R and adds X^T, where K_p are the
keys of the edits made before (accumulated after every batch, so sequential edits keep each
other too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from evaluator.editors.config_fields import field
from evaluator.editors.locate import ShiftEditor, ValueConfig, cached_stats, key_second_moments
from evaluator.editors.registry import register_editor
from evaluator.models.probe import Probe


@dataclass(frozen=True)
class AlphaEditConfig(ValueConfig):
    v_lr: float = field(
        0.1, "Adam learning rate of the residual shift", min=0, min_open=True, max=100
    )
    nullspace_threshold: float = field(
        2e-2,
        "eigenvalues of the preserved keys' second moment (the mean of k k^T) below this span "
        "the null space that updates are projected onto",
        min=0,
        max=1,
    )
    l2: float = field(
        0.1,
        "ridge term added to the projected system, in units of the preserved keys' mean squared "
        "norm (the trace of their second moment; the edit keys' when there are no train "
        "prompts); the paper's L2 is absolute, see docs/editors.md",
        min=0,
        min_open=True,
        max=1e6,
    )


def null_space_projector(moment: torch.Tensor, threshold: float) -> torch.Tensor:
    """U U^T over the eigenvectors of `moment` whose eigenvalues are below `threshold`
    (float32, [D, D])."""
    values, vectors = torch.linalg.eigh(moment.double())
    keep = vectors[:, values < threshold]
    return (keep @ keep.T).float()


def alphaedit_delta(
    keys: torch.Tensor,
    gap: torch.Tensor,
    projector: torch.Tensor,
    previous: torch.Tensor,
    l2: float,
) -> torch.Tensor:
    """The [D_out, D_in] update X^T with (P (K^T K + previous) + l2 I) X = P K^T R."""
    k, p = keys.double(), projector.to(keys.device).double()
    eye = torch.eye(k.shape[1], dtype=k.dtype, device=k.device)
    system = p @ (k.T @ k + previous.to(k)) + l2 * eye
    return torch.linalg.solve(system, p @ k.T @ gap.double()).T


@register_editor("alphaedit")
class AlphaEditEditor(ShiftEditor):
    """MEMIT's target residuals and layer loop; the null-space projected solve. The preserved
    keys' second moment is MEMIT's (one shared cache); the projectors are cached beside it."""

    config_class = AlphaEditConfig
    config: AlphaEditConfig
    stats_kind = "mom2"

    def setup(self) -> None:
        super().setup()
        self.projectors: dict[str, torch.Tensor] = {}
        if not self.stats:
            return
        key = {**self.stats_key, "threshold": self.config.nullspace_threshold}

        def compute() -> dict[str, torch.Tensor]:
            threshold = self.config.nullspace_threshold
            return {n: null_space_projector(self.stats[n], threshold) for n in self.down_names}

        self.projectors, seconds, _ = cached_stats(self.adapter, "nullspace", key, compute)
        self.setup_seconds += seconds

    def compute_stats(self, probes: Sequence[Probe]) -> dict[str, torch.Tensor]:
        return key_second_moments(self.adapter, self.down_names, probes, "alphaedit key statistics")

    def forget(self) -> None:
        super().forget()
        self.previous: dict[str, torch.Tensor] = {}  # sum of k k^T over earlier batches' edits
        self.batch_keys: dict[str, torch.Tensor] = {}  # the current batch's keys per layer

    def close_batch(self) -> None:
        for name, keys in self.batch_keys.items():
            k = keys.double()
            self.previous[name] = self.previous.get(name, 0) + k.T @ k
        self.batch_keys = {}

    def solve(self, index: int, name: str, keys: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
        width, device = keys.shape[1], keys.device
        self.batch_keys[name] = keys.detach()
        projector = self.on_device(
            f"projector:{name}", device, lambda: self.projectors.get(name, torch.eye(width))
        )
        previous = self.previous.get(name)
        if previous is None:
            previous = torch.zeros(width, width, dtype=torch.float64, device=device)
        if name in self.stats:
            scale = float(self.stats[name].diagonal().sum())
        else:
            scale = float(keys.double().pow(2).sum(dim=1).mean())
        return alphaedit_delta(keys, gap, projector, previous, self.config.l2 * max(scale, 1e-12))
