"""One interface over any image-text-to-text model: prompts, batched teacher-forced scoring,
loss, greedy generation and layer lookup by stable names (docs/architecture.md, Models)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from evaluator.models.answer_loss import mean_answer_loss
from evaluator.models.families import PROJECTIONS, family_for
from evaluator.models.probe import Probe, ProbeScore

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, ProcessorMixin

ANSWER_INSTRUCTION = "Answer with the option's letter."
# used when the processor has no chat template; the same for every probe
PLAIN_TEMPLATE = "{prefix}{images}{body}\nAnswer:\n"
IGNORE = -100
# per-token tensors some processors return beside input_ids; extended with zeros for answers
_PER_TOKEN_KEYS = ("token_type_ids", "mm_token_type_ids")


class VLMAdapter:
    """Wraps a loaded model and its processor; the only way editors and metrics touch a model."""

    def __init__(
        self,
        model: nn.Module,
        processor: ProcessorMixin | PreTrainedTokenizerBase,
        model_id: str = "",
        revision: str = "",
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.model_id = model_id
        self.revision = revision
        self._family = family_for(model)
        self.family = self._family.name
        self.active_labels: torch.Tensor | None = None
        layers = self.get_module(self._family.layers)
        self.num_layers = len(layers)
        self._image_token = getattr(processor, "image_token", None) or "<image>"
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # editors' optimisation runs the layers below the edited one once per edit
        # (evaluator.models.frozen_prefix); off: every step runs the whole model
        self.prefix_cache = True

    @property
    def layers_path(self) -> str:
        """Qualified name of the language model's decoder layers (an nn.ModuleList)."""
        return self._family.layers

    def image_count_groups(
        self, probes: Sequence[Probe], batch_size: int | None = None
    ) -> list[list[int]]:
        """Indices of `probes` grouped as `loss` (batch_size None) and `score` batch them."""
        return _groups_by_image_count(probes, batch_size or max(len(probes), 1))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # prompting

    def prompt_text(self, probe: Probe) -> str:
        """The full prompt before the answer: chat template with the assistant turn opened, else
        PLAIN_TEMPLATE. Images appear as the processor's placeholders, not yet expanded."""
        body = probe.question
        if probe.options:
            body += "\n" + "\n".join(f"{k}. {v}" for k, v in probe.options.items())
            body += "\n" + ANSWER_INSTRUCTION
        if getattr(self.processor, "chat_template", None):
            content: list[dict[str, str]] = []
            if probe.prefix:
                content.append({"type": "text", "text": probe.prefix})
            content += [{"type": "image"} for _ in probe.images]
            content.append({"type": "text", "text": body})
            messages = [{"role": "user", "content": content}]
            return self.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        prefix = f"{probe.prefix}\n" if probe.prefix else ""
        images = f"{self._image_token * len(probe.images)}\n" if probe.images else ""
        return PLAIN_TEMPLATE.format(prefix=prefix, images=images, body=body)

    def answer_ids(self, probe: Probe) -> list[int]:
        """The answer's tokens as they tokenize after the prompt (so a leading space or newline
        merging into the answer is accounted for); standalone tokens if the prompt's tokens
        would change."""
        prompt = self.prompt_text(probe)
        alone = self._tokenize(prompt)
        joined = self._tokenize(prompt + probe.answer)
        ids = joined[len(alone) :] if joined[: len(alone)] == alone else []
        if not ids:
            ids = self._tokenize(probe.answer)
        if not ids:
            raise ValueError(
                f"answer {probe.answer!r} tokenizes to nothing; give a non-empty answer"
            )
        return ids

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # batching

    def encode(self, probes: Sequence[Probe], *, with_answers: bool = True) -> dict[str, Any]:
        """Model inputs for a batch (right-padded) with teacher-forced answers, plus `labels`
        ([B, T], -100 except answer tokens). Rows may differ in image count only where the
        processor allows it; `score` and `loss` group by image count."""
        if not probes:
            raise ValueError("encode() got no probes; pass at least one Probe")
        prompts = [self.prompt_text(p) for p in probes]
        kwargs: dict[str, Any] = {"text": prompts, "return_tensors": "pt", "padding": True}
        if any(p.images for p in probes):
            kwargs["images"] = [[im.convert("RGB") for im in p.images] for p in probes]
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"
        try:
            batch = dict(self.processor(**kwargs))
        finally:
            self.tokenizer.padding_side = side
        rows = []
        for i, probe in enumerate(probes):
            keep = batch["attention_mask"][i].bool()
            prompt_ids = batch["input_ids"][i][keep].tolist()
            extra = {k: batch[k][i][keep].tolist() for k in _PER_TOKEN_KEYS if k in batch}
            answer = self.answer_ids(probe) if with_answers else []
            rows.append((prompt_ids, answer, extra))
        width = max(len(p) + len(a) for p, a, _ in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        per_token = {k: torch.zeros((len(rows), width), dtype=torch.long) for k in rows[0][2]}
        for i, (prompt_ids, answer, extra) in enumerate(rows):
            n, m = len(prompt_ids), len(answer)
            input_ids[i, : n + m] = torch.tensor(prompt_ids + answer)
            attention[i, : n + m] = 1
            if m:
                labels[i, n : n + m] = torch.tensor(answer)
            for k, values in extra.items():
                per_token[k][i, :n] = torch.tensor(values)
        batch.update(input_ids=input_ids, attention_mask=attention, labels=labels, **per_token)
        return batch

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch's tensors on the model's device, floating ones in the model's dtype."""
        dtype = next(self.model.parameters()).dtype
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(dtype)
            out[key] = value
        return out

    @contextlib.contextmanager
    def labels_active(self, labels: torch.Tensor) -> Iterator[None]:
        """`active_labels` set to `labels` for the block (wrappers read the answer positions)."""
        self.active_labels = labels
        try:
            yield
        finally:
            self.active_labels = None

    def _forward_answer_logits(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at the positions that predict answer tokens: returns (logits [N, V], targets [N])
        over all answer tokens of the batch in row-major order."""
        batch = self.to_device(batch)
        labels = batch.pop("labels")
        rows, cols = (labels != IGNORE).nonzero(as_tuple=True)
        kwargs = {}
        if self.keeps_logits:
            keep = torch.unique(cols - 1)
            kwargs["logits_to_keep"] = keep
            cols_in_logits = torch.searchsorted(keep, cols - 1)
        else:
            cols_in_logits = cols - 1
        with self.labels_active(labels):
            logits = self.model(**batch, use_cache=False, **kwargs).logits
        return logits[rows, cols_in_logits].float(), labels[rows, cols]

    # what editors and metrics call

    def answer_logits(self, probes: Sequence[Probe]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(logits [N, V], targets [N]) at the answer tokens of `probes`, one forward pass per
        image-count group, as the groups are iterated."""
        for group in self.image_count_groups(probes):
            yield self._forward_answer_logits(self.encode([probes[i] for i in group]))

    def loss(self, probes: Sequence[Probe]) -> torch.Tensor:
        """Differentiable mean cross-entropy over all answer tokens of `probes` (one forward
        pass per image-count group; the caller chooses train or eval mode)."""
        if not probes:
            raise ValueError("loss() got no probes; pass at least one Probe")
        return mean_answer_loss(self.answer_logits(probes))

    def score(self, probes: Sequence[Probe], batch_size: int = 16) -> list[ProbeScore]:
        """Teacher-forced scores per probe, in input order; batches of up to `batch_size` probes
        with the same image count, one forward pass per batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        results: list[ProbeScore | None] = [None] * len(probes)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for group in _groups_by_image_count(probes, batch_size):
                    for index, score in zip(
                        group, self._score_batch([probes[i] for i in group]), strict=True
                    ):
                        results[index] = score
        finally:
            self.model.train(was_training)
        return [r for r in results if r is not None]

    def _score_batch(self, probes: list[Probe]) -> list[ProbeScore]:
        batch = self.encode(probes)
        lengths = (batch["labels"] != IGNORE).sum(dim=1).tolist()
        logits, targets = self._forward_answer_logits(batch)
        logprobs = torch.log_softmax(logits, dim=-1)
        picked = logprobs.gather(1, targets[:, None])[:, 0].tolist()
        argmax = logits.argmax(dim=-1).tolist()
        targets_list = targets.tolist()
        scores, start = [], 0
        for n in lengths:
            answer = tuple(targets_list[start : start + n])
            guess = tuple(argmax[start : start + n])
            hits = sum(a == g for a, g in zip(answer, guess, strict=True))
            scores.append(
                ProbeScore(
                    answer_ids=answer,
                    argmax_ids=guess,
                    token_accuracy=hits / n,
                    exact_match=hits == n,
                    answer_logprob=float(sum(picked[start : start + n])),
                )
            )
            start += n
        return scores

    def generate(self, probe: Probe, max_new_tokens: int = 16) -> str:
        """Greedy continuation of the prompt, decoded without special tokens."""
        batch = self.to_device(self.encode([probe], with_answers=False))
        labels = batch.pop("labels")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), self.labels_active(labels):
                out = self.model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
        finally:
            self.model.train(was_training)
        new = out[0, batch["input_ids"].shape[1] :]
        return self.tokenizer.decode(new, skip_special_tokens=True).strip()

    # layer lookup

    def module_name(self, layer: int, kind: str) -> str:
        """Qualified name of projection `kind` of decoder layer `layer` (negative counts from the
        end)."""
        if kind not in PROJECTIONS:
            raise ValueError(f"unknown module kind {kind!r}; use one of {sorted(PROJECTIONS)}")
        if not -self.num_layers <= layer < self.num_layers:
            raise ValueError(
                f"layer {layer} is out of range: the model has {self.num_layers} decoder layers "
                f"(use 0..{self.num_layers - 1} or negative indices from the end)"
            )
        return f"{self._family.layers}.{layer % self.num_layers}.{PROJECTIONS[kind]}"

    def get_module(self, name: str) -> nn.Module:
        try:
            return self.model.get_submodule(name)
        except AttributeError as err:
            raise ValueError(f"model has no module named {name!r}: {err}") from err

    def set_module(self, name: str, module: nn.Module) -> None:
        """Replace the module at qualified `name` (editors install wrappers this way)."""
        parent_name, _, child = name.rpartition(".")
        parent = self.get_module(parent_name) if parent_name else self.model
        if not hasattr(parent, child):
            raise ValueError(f"model has no module named {name!r}; cannot replace it")
        setattr(parent, child, module)

    def vision_module_prefixes(self) -> list[str]:
        """Qualified names of the vision tower and the multimodal projector."""
        return list(self._family.vision)


def _groups_by_image_count(probes: Sequence[Probe], batch_size: int) -> list[list[int]]:
    """Indices of probes grouped by image count (first-seen order), chunked to batch_size."""
    by_count: dict[int, list[int]] = {}
    for i, probe in enumerate(probes):
        by_count.setdefault(len(probe.images), []).append(i)
    return [
        idx[start : start + batch_size]
        for idx in by_count.values()
        for start in range(0, len(idx), batch_size)
    ]
