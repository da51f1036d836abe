"""UltraEdit (Gu et al., 2025): lifelong, training-free editing. One forward and backward pass
per edit gives, at each edited MLP down-projection, the keys (its input) and the gradients of
the edit's loss with respect to its output, at the positions that predict the answer. Both are
normalised with running statistics that every edit updates ("lifelong normalisation", seeded
from the train split's prompts), and a closed-form ridge regression maps the normalised keys to
value shifts along the negative normalised gradients: no optimisation loop, no preserved-key
covariance to invert. Unlike the paper's normaliser, features are scaled by their running RMS
but not centred (docs/editors.md says why)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP
from evaluator.editors.locate import (
    LocateConfig,
    LocateEditor,
    add_to_weight,
    feature_moments,
    keys_and_gradients,
)
from evaluator.editors.probes import edit_probe
from evaluator.editors.registry import register_editor
from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit

# per edited module: the edit's keys and gradients at its prompt ([N, D_in], [N, D_out])
EditKeys = dict[str, tuple[torch.Tensor, torch.Tensor]]
EPS = 1e-6
PARTS = ("n", "sum", "sq")


@dataclass(frozen=True)
class UltraEditConfig(LocateConfig):
    layers: tuple[int | float, ...] = field(
        (0.75, 0.85, 0.95),
        "decoder layers whose MLP down-projection is edited (duplicates after rounding are "
        f"merged); each {LAYER_HELP}",
        max_items=256,
        **LAYER_BOUNDS,
    )
    edit_lr: float = field(
        0.1,
        "step along the negative normalised gradient: the value shift asked of each edited "
        "layer at the edit's answer positions",
        min=0,
        min_open=True,
        max=1e4,
    )
    ridge: float = field(
        1.0,
        "lambda of the ridge regression from normalised keys to value shifts",
        min=0,
        min_open=True,
        max=1e6,
    )
    stats_cases: int = field(
        1000,
        "train cases whose prompts (edit, text, image and multiple-choice locality) seed the "
        "running statistics of keys and gradients; 0 = none",
        min=0,
        max=1_000_000,
    )


class RunningMoments:
    """Count, sum and sum of squares of feature rows (float64), updated edit after edit."""

    def __init__(self, count: float, total: torch.Tensor, squares: torch.Tensor) -> None:
        self.count = float(count)
        self.total = total.double().cpu().clone()
        self.squares = squares.double().cpu().clone()

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.double().cpu()
        self.count += rows.shape[0]
        self.total += rows.sum(dim=0)
        self.squares += rows.pow(2).sum(dim=0)

    def mean(self) -> torch.Tensor:
        return self.total / max(self.count, 1.0)

    def rms(self) -> torch.Tensor:
        return (self.squares / max(self.count, 1.0)).sqrt() + EPS


def ultra_delta(
    keys: torch.Tensor, grads: torch.Tensor, norm_k: RunningMoments, norm_g: RunningMoments,
    lr: float, ridge: float,
) -> torch.Tensor:  # fmt: skip
    """The [D_out, D_in] update. Keys and gradients are scaled by their running RMS
    (k_hat = k / rms_k, so that the update applies to the raw inputs exactly; g_hat = g / rms_g,
    or g over its own overall RMS while the statistics hold no other rows);
    value shifts V = -lr g_hat; X = K_hat^T (K_hat K_hat^T + ridge I)^-1 V (the dual form of
    the ridge regression) and the update is (X / rms_k)^T."""
    rms = norm_k.rms().to(keys.device)
    k_hat = keys.double() / rms
    if norm_g.count > len(grads):
        scale = norm_g.rms().to(grads.device)
    else:  # the statistics hold only these rows: one scale keeps the gradient's direction
        scale = grads.double().pow(2).mean().sqrt() + EPS
    values = -lr * grads.double() / scale
    gram = k_hat @ k_hat.T + ridge * torch.eye(len(k_hat), dtype=k_hat.dtype, device=k_hat.device)
    mapped = k_hat.T @ torch.linalg.solve(gram, values)
    return (mapped / rms[:, None]).T


@register_editor("ultraedit")
class UltraEditEditor(LocateEditor[EditKeys]):
    """Each edit: one forward and backward pass, the running statistics updated with the edit's
    keys and gradients, then every edited layer's closed-form update. Lifelong: updates and
    statistics accumulate; with batch_size > 1 the current batch is re-solved together."""

    config_class = UltraEditConfig
    config: UltraEditConfig
    stats_kind = "ultraedit-moments"

    def compute_stats(self, probes: Sequence[Probe]) -> dict[str, torch.Tensor]:
        return feature_moments(
            self.adapter, self.down_names, probes, "ultraedit key and gradient statistics"
        )

    def forget(self) -> None:
        super().forget()
        self.moments: dict[str, tuple[RunningMoments, RunningMoments]] = {}
        for name in self.down_names:
            if f"{name}:k_n" in self.stats:
                self.moments[name] = tuple(  # type: ignore[assignment]
                    RunningMoments(
                        *(self.stats[f"{name}:{kind}_{part}"] for part in ("n", "sum", "sq"))
                    )
                    for kind in ("k", "g")
                )

    def _moments_for(self, name: str, keys: torch.Tensor, grads: torch.Tensor) -> tuple:
        if name not in self.moments:  # no train statistics: start from nothing
            zero = torch.zeros
            self.moments[name] = (
                RunningMoments(0, zero(keys.shape[1]), zero(keys.shape[1])),
                RunningMoments(0, zero(grads.shape[1]), zero(grads.shape[1])),
            )
        return self.moments[name]

    def prepare(self, edit: Edit) -> EditKeys:
        features = keys_and_gradients(self.adapter, self.down_names, [edit_probe(edit)])
        for name, (keys, grads) in features.items():
            norm_k, norm_g = self._moments_for(name, keys, grads)
            norm_k.add(keys)
            norm_g.add(grads)
        return features

    def update(self, batch: Sequence[EditKeys]) -> None:
        deltas = {}
        for name in self.down_names:
            keys = torch.cat([features[name][0] for features in batch])
            grads = torch.cat([features[name][1] for features in batch])
            norm_k, norm_g = self.moments[name]
            deltas[name] = ultra_delta(
                keys, grads, norm_k, norm_g, self.config.edit_lr, self.config.ridge
            )
        for name, delta in deltas.items():
            add_to_weight(self.adapter, name, delta)
