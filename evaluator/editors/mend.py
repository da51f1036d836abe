"""MEND (Mitchell et al., 2022): a hypernetwork per weight shape maps the rank-one factors of a
linear layer's fine-tuning gradient, the layer input u and the gradient delta of the loss with
respect to the layer output at each position, to pseudo-factors (u~, delta~); the edit is
W <- W - alpha * sum_t delta~_t u~_t^T with a learned step size alpha per layer. The networks are
trained on the train split so that the edited model answers the edit and its rephrases
(edit loss) and keeps its output distribution on unrelated prompts (KL locality loss)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from evaluator.editors.base import ConfigError, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP, check_layer_spec, resolve_layer
from evaluator.editors.probes import edit_probe
from evaluator.editors.registry import register_editor
from evaluator.editors.trained import TrainedEditor, counterfactual_edit, locality_probes
from evaluator.editors.training import model_mode, only_trainable, seed_everything
from evaluator.editors.wrappers import LayerWrapper, install_wrapper, uninstall_wrapper

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import Probe


@dataclass(frozen=True)
class MENDConfig(EditorConfig):
    layers: tuple[int | float, ...] = field(
        (-3, -2, -1),
        f"decoder layers whose MLP down-projection MEND edits (the paper: the last 3); each "
        f"{LAYER_HELP}",
        max_items=64,
        **LAYER_BOUNDS,
    )
    rank: int = field(
        1920, "hidden width of each MEND network (MEND's released configs: 1920)", min=1, max=8192
    )
    edit_lr: float = field(
        1e-4,
        "initial per-layer step size alpha of the predicted update, learned in training "
        "(MEND's released configs: 1e-4)",
        min=0,
        min_open=True,
        max=100,
    )
    lr: float = field(
        1e-4,
        "Adam learning rate of the MEND networks in training (MEND's released configs: 1e-6, "
        "for networks trained far longer on far larger models)",
        min=0,
        min_open=True,
        max=1,
    )
    lr_lr: float = field(
        1e-4,
        "Adam learning rate of the step sizes (MEND's released configs: 1e-4)",
        min=0,
        min_open=True,
        max=1,
    )
    c_edit: float = field(
        0.1, "weight of the edit loss in training (MEND's released configs: 0.1)", min=0, max=100
    )
    c_loc: float = field(
        1.0, "weight of the locality KL in training (MEND's released configs: 1)", min=0, max=100
    )
    train_steps: int = field(
        2000, "training steps, one synthetic edit of a train case each", min=1, max=1_000_000
    )
    train_seed: int = field(
        0,
        "seed of training (initialisation, sampled edits); runs with any --seed share the "
        "trained editor",
        min=0,
        max=2**31 - 1,
    )
    grad_clip: float = field(
        100.0,
        "gradient-norm clip in training (MEND's released configs: 100)",
        min=0,
        min_open=True,
        max=1e6,
    )

    def check(self) -> None:
        for spec in self.layers:
            check_layer_spec("layers", spec)
        if not self.layers:
            raise ConfigError("field 'layers': empty; name at least one decoder layer")

    def check_for_model(self, num_layers: int) -> None:
        for spec in self.layers:
            resolve_layer("layers", spec, num_layers)


class RunningNorm(nn.Module):
    """Per-feature running mean and variance (Welford, merged per batch), updated in training
    and frozen afterwards; MEND normalises u and delta with it before its network."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("m2", torch.zeros(dim))

    def update(self, rows: torch.Tensor) -> None:
        rows = rows.detach().float()
        n = rows.shape[0]
        if n == 0:
            return
        batch_mean = rows.mean(dim=0)
        batch_m2 = ((rows - batch_mean) ** 2).sum(dim=0)
        total = self.count + n
        shift = batch_mean - self.mean
        self.mean += shift * n / total
        self.m2 += batch_m2 + shift**2 * self.count * n / total
        self.count.fill_(total)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        if float(self.count) < 2:
            return rows
        std = (self.m2 / (self.count - 1)).sqrt()
        return (rows - self.mean) / (std + 1e-6)


class MendNetwork(nn.Module):
    """One network per weight shape, shared by the layers of that shape: z = [norm(u); norm(d)]
    -> z + W2 relu(W1 z) * scale[layer] + shift[layer] (identity at initialisation: W2 = 0),
    split back into (u~, d~)."""

    def __init__(self, d_in: int, d_out: int, rank: int, modes: int) -> None:
        super().__init__()
        self.d_in = d_in
        dim = d_in + d_out
        self.fc1 = nn.Linear(dim, rank)
        self.fc2 = nn.Linear(rank, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)
        self.scale = nn.Parameter(torch.ones(modes, rank))
        self.shift = nn.Parameter(torch.zeros(modes, rank))
        self.norms = nn.ModuleList(RunningNorm(dim) for _ in range(modes))

    def forward(
        self, u: torch.Tensor, delta: torch.Tensor, mode: int, *, learn_stats: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.cat([u, delta], dim=-1).float()
        if learn_stats:
            self.norms[mode].update(z)
        z = self.norms[mode](z)
        hidden = F.relu(self.fc1(z)) * self.scale[mode] + self.shift[mode]
        out = z + self.fc2(hidden)
        return out[:, : self.d_in], out[:, self.d_in :]


class MendSlot(LayerWrapper):
    """Wraps an edited linear layer. `capture`: record its input and make its output a tensor
    that autograd can differentiate against (for the gradient factors). `update`: add a pending
    low-rank change -alpha * x u~^T d~ to the output (training, without writing the weight)."""

    def __init__(self, layer: nn.Module, adapter: VLMAdapter) -> None:
        super().__init__(layer, adapter)
        self.capture = False
        self.inputs: torch.Tensor | None = None
        self.outputs: torch.Tensor | None = None
        self.update: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.layer(hidden)
        if self.capture:
            if not out.requires_grad:
                out = out.detach().requires_grad_()
            self.inputs, self.outputs = hidden.detach(), out
        if self.update is not None:
            u, d, alpha = self.update
            change = (hidden.float() @ u.T) @ d
            out = out - (alpha * change).to(out.dtype)
        return out


@register_editor("mend")
class MENDEditor(TrainedEditor):
    """Trained once per model and train split (stored under MME_HOME/editors/mend); each edit is
    one gradient computation and one pass of the networks, applied in place to the weights
    (lifelong: each update in turn, as EasyEdit's sequential MEND)."""

    config_class = MENDConfig
    config: MENDConfig
    training_fields = (
        "layers", "rank", "edit_lr", "lr", "lr_lr", "c_edit", "c_loc", "train_steps",
        "train_seed", "grad_clip",
    )  # fmt: skip
    description = (
        "MEND hypernetworks for the MLP down-projections of the listed layers, trained on "
        "counterfactual edits of the train split (edit loss on the edit and its two rephrases, "
        "KL on the train split's locality prompts)."
    )

    def setup(self) -> None:
        n = self.adapter.num_layers
        layers = sorted({resolve_layer("layers", s, n) for s in self.config.layers})
        self.names = [self.adapter.module_name(layer, "mlp.down") for layer in layers]
        shapes = [tuple(self.adapter.get_module(name).weight.shape) for name in self.names]
        self.shape_of = {name: f"{s[1]}x{s[0]}" for name, s in zip(self.names, shapes, strict=True)}
        self.mode_of = {}
        for name in self.names:
            same = [m for m in self.names if self.shape_of[m] == self.shape_of[name]]
            self.mode_of[name] = same.index(name)
        torch.manual_seed(self.train_seed)
        self.nets = nn.ModuleDict()
        for key in dict.fromkeys(self.shape_of.values()):
            d_in, d_out = (int(v) for v in key.split("x"))
            modes = sum(1 for v in self.shape_of.values() if v == key)
            self.nets[key] = MendNetwork(d_in, d_out, self.config.rank, modes)
        self.alphas = nn.Parameter(torch.full((len(self.names),), self.config.edit_lr))
        self.to_device(self.adapter.device)
        self.ensure_trained()

    def to_device(self, device: torch.device) -> None:
        self.nets.to(device)
        self.alphas.data = self.alphas.data.to(device)

    def touched_modules(self) -> list[str]:
        return list(self.names)

    # the gradient factors and the networks

    def _slots(self) -> Iterator[MendSlot]:
        for name in self.names:
            slot = self.adapter.get_module(name)
            assert isinstance(slot, MendSlot)
            yield slot

    def _install(self) -> list[MendSlot]:
        slots = []
        for name in self.names:
            slot = MendSlot(self.adapter.get_module(name), self.adapter)
            install_wrapper(self.adapter, name, slot)
            slots.append(slot)
        return slots

    def _uninstall(self) -> None:
        for name in self.names:
            uninstall_wrapper(self.adapter, name)

    def _factors(self, slots: list[MendSlot], probe: Probe) -> list[tuple[torch.Tensor, ...]]:
        """Per edited layer, (u, delta) at every position where the loss has a gradient."""
        for slot in slots:
            slot.capture = True
        try:
            loss = self.adapter.loss([probe])
        finally:
            for slot in slots:
                slot.capture = False
        outputs = [slot.outputs for slot in slots]
        grads = torch.autograd.grad(loss, outputs, allow_unused=True)
        factors = []
        for slot, grad in zip(slots, grads, strict=True):
            assert slot.inputs is not None
            u = slot.inputs.reshape(-1, slot.inputs.shape[-1]).float()
            if grad is None:
                grad = torch.zeros(*slot.inputs.shape[:-1], slot.outputs.shape[-1])
            delta = grad.reshape(-1, grad.shape[-1]).float().to(u.device)
            keep = delta.abs().sum(dim=1) > 0
            factors.append((u[keep], delta[keep]))
            slot.inputs = slot.outputs = None
        return factors

    def _pseudo(
        self, factors: list[tuple[torch.Tensor, ...]], *, learn_stats: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(u~, d~, alpha) per edited layer from the networks."""
        out = []
        for i, (name, (u, delta)) in enumerate(zip(self.names, factors, strict=True)):
            net = self.nets[self.shape_of[name]]
            u_t, d_t = net(u, delta, self.mode_of[name], learn_stats=learn_stats)
            out.append((u_t, d_t, self.alphas[i]))
        return out

    # editing

    def apply(self, edit: Edit) -> None:
        seed_everything(self.seed)
        slots = self._install()
        try:
            with only_trainable(self.adapter.model, []), model_mode(self.adapter.model, False):
                factors = self._factors(slots, edit_probe(edit))
            with torch.no_grad():
                updates = self._pseudo(factors)
        finally:
            self._uninstall()
        with torch.no_grad():
            for name, (u_t, d_t, alpha) in zip(self.names, updates, strict=True):
                weight = self.adapter.get_module(name).weight
                change = alpha * (d_t.T @ u_t)
                weight.sub_(change.to(device=weight.device, dtype=weight.dtype))

    # training

    def train(self, *, progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        c = self.config
        rng = random.Random(self.train_seed)
        torch.manual_seed(self.train_seed)
        cases = list(self.train_cases)
        optimizer = torch.optim.Adam(
            [
                {"params": list(self.nets.parameters()), "lr": c.lr},
                {"params": [self.alphas], "lr": c.lr_lr},
            ]
        )
        slots = self._install()
        history: list[tuple[float, float]] = []
        try:
            with only_trainable(self.adapter.model, []), model_mode(self.adapter.model, False):
                bar = tqdm(range(c.train_steps), desc="training mend", disable=not progress)
                for _ in bar:
                    edit_loss, kl = self._train_step(slots, cases, rng, optimizer)
                    history.append((edit_loss, kl))
                    bar.set_postfix(edit=f"{edit_loss:.3f}", kl=f"{kl:.4f}")
        finally:
            self._uninstall()
        tail = history[-max(1, len(history) // 10) :]
        metrics = {
            "edit_loss_last_10pct": round(sum(e for e, _ in tail) / len(tail), 4),
            "kl_last_10pct": round(sum(k for _, k in tail) / len(tail), 5),
            "alphas": [round(float(a), 6) for a in self.alphas.detach().cpu()],
        }
        return self.state_tensors(), {"steps": c.train_steps, "metrics": metrics}

    def _train_step(
        self,
        slots: list[MendSlot],
        cases: list[Any],
        rng: random.Random,
        optimizer: torch.optim.Optimizer,
    ) -> tuple[float, float]:
        c = self.config
        case = rng.choice(cases)
        edit, scope = counterfactual_edit(case, rng)
        unrelated = locality_probes(rng.choice(cases))
        factors = self._factors(slots, edit_probe(edit))
        with torch.no_grad():
            before = self._logits(unrelated)
        updates = self._pseudo(factors, learn_stats=True)
        for slot, update in zip(slots, updates, strict=True):
            slot.update = update
        try:
            edit_loss = self.adapter.loss(scope)
            after = self._logits(unrelated)
        finally:
            for slot in slots:
                slot.update = None
        kl = F.kl_div(
            F.log_softmax(after, dim=-1), F.log_softmax(before, dim=-1), log_target=True,
            reduction="batchmean",
        )  # fmt: skip
        loss = c.c_edit * edit_loss + c.c_loc * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*self.nets.parameters(), self.alphas], c.grad_clip)
        optimizer.step()
        return float(edit_loss.detach()), float(kl.detach())

    def _logits(self, probes: list[Probe]) -> torch.Tensor:
        """The model's logits [N, V] at every position its forward returns, for `probes`."""
        captured: list[torch.Tensor] = []

        def keep(_module: nn.Module, _args: tuple[object, ...], output: object) -> None:
            logits = output if isinstance(output, torch.Tensor) else output.logits
            captured.append(logits.reshape(-1, logits.shape[-1]).float())

        handle = self.adapter.model.register_forward_hook(keep)
        try:
            self.adapter.loss(probes)
        finally:
            handle.remove()
        return torch.cat(captured)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        state = {f"nets.{k}": v for k, v in self.nets.state_dict().items()}
        return state | {"alphas": self.alphas.detach()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        device = self.adapter.device
        nets = {k.removeprefix("nets."): v for k, v in tensors.items() if k.startswith("nets.")}
        self.nets.load_state_dict(nets)
        self.nets.to(device)
        self.alphas.data = tensors["alphas"].to(device)
