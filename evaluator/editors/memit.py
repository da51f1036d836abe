"""MEMIT (Meng et al., ICLR 2023): mass editing by a least-squares update of the MLP
down-projections of several layers. Per edit a target residual after the last edited layer is
found by optimisation; the gap between it and the current residual is spread over the layers,
lowest first, each solving W += R K^T (lambda C + K^T K)^-1 with C the second moment of the
layer's keys over the train split's prompts (the preserved knowledge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from evaluator.editors.config_fields import field
from evaluator.editors.locate import ShiftEditor, ValueConfig, key_second_moments
from evaluator.editors.registry import register_editor
from evaluator.models.probe import Probe


@dataclass(frozen=True)
class MEMITConfig(ValueConfig):
    mom2_weight_per_dim: float = field(
        15000 / 16384,
        "lambda, the weight of the preserved keys' second moment, divided by the key width "
        "(the paper's 15000 on GPT-J's 16384-wide MLP); lambda = this x the down-projection's "
        "input width",
        min=0,
        max=1e6,
    )


def memit_delta(
    keys: torch.Tensor, gap: torch.Tensor, moment: torch.Tensor, lam: float
) -> torch.Tensor:
    """R^T K (lam C + K^T K)^-1 as a [D_out, D_in] float64 tensor, for keys K [N, D_in], gaps
    R [N, D_out] and the preserved keys' second moment C [D_in, D_in]."""
    k = keys.double()
    system = lam * moment.to(k) + k.T @ k
    jitter = 1e-10 * system.diagonal().mean().clamp(min=1e-30)
    system = system + jitter * torch.eye(len(system), dtype=k.dtype, device=k.device)
    return gap.double().T @ torch.linalg.solve(system, k.T).T


@register_editor("memit")
class MEMITEditor(ShiftEditor):
    """Single: one edit, one update. Lifelong: updates accumulate on the same weights; with
    batch_size > 1 the current batch's update is re-solved with all of its edits."""

    config_class = MEMITConfig
    config: MEMITConfig
    stats_kind = "mom2"

    def compute_stats(self, probes: Sequence[Probe]) -> dict[str, torch.Tensor]:
        return key_second_moments(self.adapter, self.down_names, probes, "memit key statistics")

    def moment(self, name: str, width: int, device: torch.device) -> torch.Tensor:
        """The preserved keys' second moment on `device`; the identity when there are no
        train prompts."""

        def make() -> torch.Tensor:
            return self.stats.get(name, torch.eye(width, dtype=torch.float64))

        return self.on_device(f"moment:{name}", device, make)

    def solve(self, index: int, name: str, keys: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
        width = keys.shape[1]
        lam = self.config.mom2_weight_per_dim * width
        return memit_delta(keys, gap, self.moment(name, width, keys.device), lam)
