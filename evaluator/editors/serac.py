"""SERAC (Mitchell et al., 2022): the base model is never changed. Edits go to an edit memory;
a scope classifier decides whether an input is covered by a stored edit, and if so a
counterfactual model, given the nearest edit and the input, answers in place of the base model.

Here the counterfactual model is a smaller model of the base model's own class, built from the
base's config with fewer decoder layers and initialised from the base (its embeddings, vision
tower, projector, first decoder layers and head), then trained on the train split to answer
inputs in the scope of an edit written before them. The scope classifier embeds an input with
the frozen base model (the input of one MLP down-projection, mean over the prompt and at the last
prompt position) through a trained projection; the probability that an input is in the scope of
an edit is sigmoid(scale * cos + bias) of their embeddings (SERAC's embedding classifier)."""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from evaluator.editors.base import EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.layers import LAYER_BOUNDS, LAYER_HELP, check_layer_spec, resolve_layer
from evaluator.editors.probes import IGNORE, edit_probe
from evaluator.editors.registry import register_editor
from evaluator.editors.trained import TrainedEditor, counterfactual_edit, locality_probes
from evaluator.editors.training import model_mode
from evaluator.editors.wrappers import LayerWrapper, install_wrapper, uninstall_wrapper
from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Case, Edit
    from evaluator.models.adapter import VLMAdapter

CHUNK = 32  # probes per forward pass when embedding many


@dataclass(frozen=True)
class SERACConfig(EditorConfig):
    cf_layers: int = field(
        2,
        "decoder layers of the counterfactual model, a truncated copy of the base (at most the "
        "base's own count)",
        min=1,
        max=1024,
    )
    cf_steps: int = field(600, "training steps of the counterfactual model", min=1, max=1_000_000)
    cf_batch: int = field(8, "synthetic edits per counterfactual training step", min=1, max=256)
    cf_lr: float = field(
        3e-4, "AdamW learning rate of the counterfactual model", min=0, min_open=True, max=1
    )
    classifier_layer: int | float = field(
        0.5,
        f"decoder layer whose MLP down-projection input the scope classifier embeds: {LAYER_HELP}",
        **LAYER_BOUNDS,
    )
    classifier_dim: int = field(256, "embedding width of the scope classifier", min=1, max=8192)
    classifier_cases: int = field(
        1000, "train cases whose probes train the scope classifier", min=2, max=1_000_000
    )
    classifier_steps: int = field(
        1000, "training steps of the scope classifier", min=1, max=1_000_000
    )
    classifier_batch: int = field(
        32, "train cases per classifier step (the others are its negatives)", min=2, max=1024
    )
    classifier_lr: float = field(
        1e-3, "Adam learning rate of the scope classifier", min=0, min_open=True, max=1
    )
    train_seed: int = field(
        0,
        "seed of training (initialisation, sampled edits); runs with any --seed share the "
        "trained editor",
        min=0,
        max=2**31 - 1,
    )
    threshold: float = field(
        0.5,
        "an input goes to the counterfactual model when the classifier's probability that it "
        "is in the nearest edit's scope exceeds this (the paper: 0.5)",
        min=0,
        max=1,
    )

    def check(self) -> None:
        check_layer_spec("classifier_layer", self.classifier_layer)

    def check_for_model(self, num_layers: int) -> None:
        resolve_layer("classifier_layer", self.classifier_layer, num_layers)


def edit_text(edit: Edit) -> str:
    """How the counterfactual model is told the edit: its question and the target's letter and
    option text (its images are not repeated; the classifier has seen them)."""
    return f"Edit: {edit.question} Answer: {edit.target}. {edit.options[edit.target]}"


def with_edit(probe: Probe, edit: Edit) -> Probe:
    """The counterfactual model's input: the edit written before the probe's question."""
    prefix = edit_text(edit) + (f"\n{probe.prefix}" if probe.prefix else "")
    return Probe(probe.images, probe.question, probe.answer, probe.options, prefix)


def counterfactual_model(base: nn.Module, layers: int) -> nn.Module:
    """A model of the base's class with at most `layers` decoder layers, built from the base's
    config and initialised from the base's tensors wherever names and shapes match. A model
    without a transformers config (a test toy) gets a full copy of itself."""
    config = getattr(base, "config", None)
    if config is None or not hasattr(config, "get_text_config"):
        model = copy.deepcopy(base)
    else:
        config = copy.deepcopy(config)
        text = config.get_text_config()
        count = text.num_hidden_layers
        if isinstance(getattr(text, "layer_types", None), list):
            text.layer_types = text.layer_types[: min(layers, count)]
        text.num_hidden_layers = min(layers, count)
        model = type(base)(config)
        own = model.state_dict()
        matching = {
            k: v for k, v in base.state_dict().items() if k in own and own[k].shape == v.shape
        }
        model.load_state_dict(matching, strict=False)
    parameter = next(base.parameters())
    model.to(device=parameter.device, dtype=parameter.dtype).eval()
    model.requires_grad_(False)
    return model


class FeatureTap(LayerWrapper):
    """Records, per row, the mean of the wrapped layer's input over the prompt and the input at
    the last prompt position (the scope classifier's raw features)."""

    def __init__(self, layer: nn.Module, adapter: VLMAdapter) -> None:
        super().__init__(layer, adapter)
        self.features: list[torch.Tensor] = []

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        pos = self.positions(hidden)
        length = hidden.shape[1]
        prompt = torch.arange(length, device=hidden.device)[None, :] <= pos[:, None]
        mean = (hidden.float() * prompt[..., None]).sum(1) / prompt.sum(1, keepdim=True)
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), pos].float()
        self.features.append(torch.cat([mean, last], dim=-1).detach())
        return self.layer(hidden)


class ScopeClassifier(nn.Module):
    """Standardised features -> linear projection -> unit embedding; in-scope probability
    sigmoid(scale * cos + bias), with scale and bias learned."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))
        self.project = nn.Linear(in_dim, dim)
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.bias = nn.Parameter(torch.tensor(-5.0))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.feature_mean) / self.feature_std
        return F.normalize(self.project(z), dim=-1)

    def logits(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.scale * (queries @ keys.T) + self.bias


def row_key(ids: torch.Tensor, labels: torch.Tensor) -> tuple[int, ...] | None:
    """A batch row's tokens up to its last answer token (padding excluded), or None without an
    answer: the same for a probe encoded alone or in any batch."""
    answer = (labels != IGNORE).nonzero().flatten()
    if answer.numel() == 0:
        return None
    return tuple(ids[: int(answer[-1]) + 1].tolist())


@register_editor("serac")
class SERACEditor(TrainedEditor):
    """apply() stores the edit and its classifier embedding; transform_probe() writes the
    nearest edit before an input the classifier puts in its scope, and a forward hook on the
    base model hands exactly those rows to the counterfactual model (lifelong: the memory
    grows, as EasyEdit's sequential SERAC). No base weight changes."""

    config_class = SERACConfig
    config: SERACConfig
    training_fields = (
        "cf_layers", "cf_steps", "cf_batch", "cf_lr", "classifier_layer", "classifier_dim",
        "classifier_cases", "classifier_steps", "classifier_batch", "classifier_lr", "train_seed",
    )  # fmt: skip
    description = (
        "SERAC: a counterfactual model (a truncated copy of the base, fine-tuned to answer "
        "inputs in the scope of an edit written before them) and a scope classifier (a "
        "projection of the frozen base's MLP activations, trained contrastively), both on "
        "counterfactual edits of the train split."
    )

    def setup(self) -> None:
        layer = resolve_layer(
            "classifier_layer", self.config.classifier_layer, self.adapter.num_layers
        )
        self.tap_name = self.adapter.module_name(layer, "mlp.down")
        width = self.adapter.get_module(self.tap_name).weight.shape[1]
        torch.manual_seed(self.train_seed)
        self.classifier = ScopeClassifier(2 * width, self.config.classifier_dim)
        self.classifier.to(self.adapter.device)
        self.cf_model = counterfactual_model(self.adapter.model, self.config.cf_layers)
        self.edits: list[Edit] = []
        self.keys: torch.Tensor | None = None
        self.routed: set[tuple[int, ...]] = set()
        self.bypass = False
        self.hook: Any = None
        self.ensure_trained()

    # features and embeddings

    def features(self, probes: Sequence[Probe]) -> torch.Tensor:
        """Raw classifier features [N, 2 * width] of `probes` from the frozen base model."""
        tap = FeatureTap(self.adapter.get_module(self.tap_name), self.adapter)
        install_wrapper(self.adapter, self.tap_name, tap)
        out: list[torch.Tensor | None] = [None] * len(probes)
        self.bypass = True
        try:
            with torch.no_grad(), model_mode(self.adapter.model, False):
                by_count: dict[int, list[int]] = {}
                for i, probe in enumerate(probes):
                    by_count.setdefault(len(probe.images), []).append(i)
                for indices in by_count.values():
                    for start in range(0, len(indices), CHUNK):
                        chunk = indices[start : start + CHUNK]
                        tap.features = []
                        self.adapter.loss([probes[i] for i in chunk])
                        for i, row in zip(chunk, torch.cat(tap.features), strict=True):
                            out[i] = row
        finally:
            self.bypass = False
            uninstall_wrapper(self.adapter, self.tap_name)
        return torch.stack([row for row in out if row is not None])

    def embed(self, probes: Sequence[Probe]) -> torch.Tensor:
        with torch.no_grad():
            return self.classifier(self.features(probes))

    # editing

    def apply(self, edit: Edit) -> None:
        if self.hook is None:
            self.hook = self.adapter.model.register_forward_hook(self._route, with_kwargs=True)
        key = self.embed([edit_probe(edit)])
        self.keys = key if self.keys is None else torch.cat([self.keys, key])
        self.edits.append(edit)

    def transform_probe(self, probe: Probe) -> Probe:
        if self.keys is None:
            return probe
        query = self.embed([probe])
        with torch.no_grad():
            logits = self.classifier.logits(query, self.keys)[0]
        best = int(logits.argmax())
        if float(torch.sigmoid(logits[best])) <= self.config.threshold:
            return probe
        routed = with_edit(probe, self.edits[best])
        batch = self.adapter.encode([routed])
        key = row_key(batch["input_ids"][0], batch["labels"][0])
        if key is not None:
            self.routed.add(key)
        return routed

    def _route(
        self,
        _module: nn.Module,
        args: tuple[object, ...],
        kwargs: dict[str, object],
        output: object,
    ) -> object:
        """Forward hook: rows whose tokens are a routed probe get the counterfactual logits."""
        ids, labels = kwargs.get("input_ids"), self.adapter.active_labels
        if self.bypass or not self.routed or ids is None or labels is None:
            return None
        if labels.shape != ids.shape:
            return None
        labels = labels.to(ids.device)
        rows = [row_key(ids[b], labels[b]) in self.routed for b in range(ids.shape[0])]
        if not any(rows):
            return None
        with torch.no_grad():
            counterfactual = self.cf_model(*args, **kwargs)
        mask = torch.tensor(rows, device=ids.device)[:, None, None]
        if isinstance(output, torch.Tensor):
            return torch.where(mask, counterfactual, output)
        cf_logits = counterfactual.logits
        output["logits"] = torch.where(mask, cf_logits.to(output.logits.dtype), output.logits)
        return output

    def reset(self) -> None:
        if self.hook is not None:
            self.hook.remove()
            self.hook = None
        self.edits, self.keys, self.routed = [], None, set()

    # training

    def train(self, *, progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        cases = list(self.train_cases)
        held = cases[-max(1, len(cases) // 10) :] if len(cases) > 10 else cases
        fit = cases[: len(cases) - len(held)] if len(cases) > 10 else cases
        rng = random.Random(self.train_seed)
        torch.manual_seed(self.train_seed)
        cf_loss = self._train_counterfactual(fit, rng, progress)
        cls_loss = self._train_classifier(fit, rng, progress)
        metrics = {"cf_loss_last_10pct": cf_loss, "classifier_loss_last_10pct": cls_loss}
        metrics |= self._held_out_metrics(held[:100], random.Random(self.train_seed + 1))
        tensors = {f"cf.{k}": v.clone() for k, v in self.cf_model.state_dict().items()}
        tensors |= {f"classifier.{k}": v.clone() for k, v in self.classifier.state_dict().items()}
        steps = self.config.cf_steps + self.config.classifier_steps
        return tensors, {"steps": steps, "metrics": metrics}

    def _cf_adapter(self) -> VLMAdapter:
        """The adapter again, over the counterfactual model (same processor and prompts)."""
        cf_adapter = copy.copy(self.adapter)
        cf_adapter.model = self.cf_model
        return cf_adapter

    def _train_counterfactual(self, cases: list[Case], rng: random.Random, progress: bool) -> float:
        c = self.config
        cf_adapter = self._cf_adapter()
        params = list(self.cf_model.parameters())
        optimizer = torch.optim.AdamW(params, lr=c.cf_lr, weight_decay=0.01)
        losses = []
        self.cf_model.requires_grad_(True)
        try:
            bar = tqdm(
                range(c.cf_steps), desc="training serac counterfactual", disable=not progress
            )
            for _ in bar:
                probes = []
                for case in rng.sample(cases, min(c.cf_batch, len(cases))):
                    edit, scope = counterfactual_edit(case, rng)
                    probes += [with_edit(p, edit) for p in scope]
                loss = cf_adapter.loss(probes)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        finally:
            self.cf_model.requires_grad_(False)
            self.cf_model.eval()
        tail = losses[-max(1, len(losses) // 10) :]
        return round(sum(tail) / len(tail), 4)

    def _case_features(self, cases: list[Case], progress: bool) -> torch.Tensor:
        """[cases, 6, F]: features of each case's edit probe, its two rephrases and its three
        locality prompts (the first three in scope of the edit, the last three not)."""
        probes = []
        for case in cases:
            _, scope = counterfactual_edit(case, random.Random(0))
            probes += [*scope, *locality_probes(case)]
        rows = []
        step = CHUNK * 8
        bar = tqdm(
            range(0, len(probes), step), desc="serac classifier features", disable=not progress
        )
        for start in bar:
            rows.append(self.features(probes[start : start + step]))
        return torch.cat(rows).view(len(cases), 6, -1)

    def _train_classifier(self, cases: list[Case], rng: random.Random, progress: bool) -> float:
        c = self.config
        chosen = rng.sample(cases, min(c.classifier_cases, len(cases)))
        feats = self._case_features(chosen, progress)
        flat = feats.view(-1, feats.shape[-1])
        self.classifier.feature_mean.copy_(flat.mean(0))
        self.classifier.feature_std.copy_(flat.std(0).clamp(min=1e-4))
        optimizer = torch.optim.Adam(self.classifier.parameters(), lr=c.classifier_lr)
        generator = torch.Generator().manual_seed(self.train_seed)
        losses = []
        bar = tqdm(
            range(c.classifier_steps), desc="training serac classifier", disable=not progress
        )
        for _ in bar:
            pick = torch.randperm(len(chosen), generator=generator)[: c.classifier_batch]
            loss = self._classifier_loss(feats[pick.to(feats.device)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        tail = losses[-max(1, len(losses) // 10) :]
        return round(sum(tail) / len(tail), 4)

    def _classifier_loss(self, batch: torch.Tensor) -> torch.Tensor:
        """Balanced binary cross-entropy: each edit against its own two rephrases (in scope) and
        against the other edits' rephrases and every locality prompt of the batch (not)."""
        n = batch.shape[0]
        anchors = self.classifier(batch[:, 0])
        others = self.classifier(batch[:, 1:].reshape(-1, batch.shape[-1])).view(n, 5, -1)
        logits = self.classifier.logits(anchors, others.reshape(n * 5, -1)).view(n, n, 5)
        positive = torch.zeros(n, n, 5, dtype=torch.bool, device=batch.device)
        positive[torch.arange(n), torch.arange(n), :2] = True
        target = positive.float()
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return loss[positive].mean() + loss[~positive].mean()

    def _held_out_metrics(self, cases: list[Case], rng: random.Random) -> dict[str, float]:
        """On train cases held out of training: the classifier's recall on rephrases and false
        routing on locality prompts (pairwise, at the threshold), and the counterfactual model's
        exact match on in-scope inputs written after their edit."""
        if len(cases) < 2:
            return {}
        feats = self._case_features(cases, progress=False)
        with torch.no_grad():
            anchors = self.classifier(feats[:, 0])
            others = self.classifier(feats[:, 1:].reshape(-1, feats.shape[-1]))
            probs = torch.sigmoid(self.classifier.logits(anchors, others)).view(len(cases), -1, 5)
        n = len(cases)
        own = probs[torch.arange(n), torch.arange(n)]
        recall = float((own[:, :2] > self.config.threshold).float().mean())
        false_loc = float((probs[..., 2:].amax(dim=0) > self.config.threshold).float().mean())
        probes = []
        for case in cases:
            edit, scope = counterfactual_edit(case, rng)
            probes += [with_edit(p, edit) for p in scope]
        scores = self._cf_adapter().score(probes)
        cf_acc = sum(s.exact_match for s in scores) / len(scores)
        return {
            "held_out_cases": n,
            "classifier_rephrase_recall": round(recall, 4),
            "classifier_locality_false_routing": round(false_loc, 4),
            "cf_in_scope_exact_match": round(cf_acc, 4),
        }

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        device = self.adapter.device
        cf = {k.removeprefix("cf."): v for k, v in tensors.items() if k.startswith("cf.")}
        cls = {
            k.removeprefix("classifier."): v
            for k, v in tensors.items()
            if k.startswith("classifier.")
        }
        self.cf_model.load_state_dict(cf)
        self.cf_model.to(device)
        self.classifier.load_state_dict(cls)
        self.classifier.to(device)
