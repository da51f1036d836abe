"""A tiny torch model behind the VLMAdapter interface, and synthetic cases, so the protocols
and metrics can be tested in milliseconds without a real vision-language model."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from evaluator.benchmark.case import BenchmarkSplit, Case
from evaluator.models.probe import Probe, ProbeScore

VOCAB = 64
HIDDEN = 16
PROJECTIONS = {"mlp.up": "mlp.up", "mlp.down": "mlp.down", "attn.q": "attn.q", "attn.v": "attn.v"}


class FakeMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(HIDDEN, 2 * HIDDEN)
        self.down = nn.Linear(2 * HIDDEN, HIDDEN)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(h)))


class FakeAttn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(HIDDEN, HIDDEN)
        self.v = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.v(h) * torch.sigmoid(self.q(h))


class FakeLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = FakeAttn()
        self.mlp = FakeMLP()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(h)
        return h + self.mlp(h)


class FakeVLM(nn.Module):
    """Prompt text and image pixels -> a hidden state -> decoder layers -> one logit row per
    teacher-forced answer position. Has dropout (to catch scoring in train mode) and a buffer."""

    def __init__(self, num_layers: int = 4) -> None:
        super().__init__()
        self.vision = nn.Linear(3, HIDDEN)
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList(FakeLayer() for _ in range(num_layers))
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(HIDDEN, VOCAB)
        self.register_buffer("position", torch.randn(8, HIDDEN))
        self.forward_modes: list[bool] = []

    def forward(self, text_ids: torch.Tensor, pixels: torch.Tensor, answer_ids: torch.Tensor):
        self.forward_modes.append(self.training)
        h = self.embed(text_ids).mean(dim=1) + self.vision(pixels)
        for layer in self.layers:
            h = layer(h)
        h = self.dropout(h)
        previous = torch.cat([torch.zeros_like(answer_ids[:, :1]), answer_ids[:, :-1]], dim=1)
        steps = h[:, None, :] + self.embed(previous) + self.position[: answer_ids.shape[1]]
        return self.head(steps)


def token_ids(text: str) -> list[int]:
    return [ord(c) % VOCAB for c in text] or [0]


class FakeAdapter:
    """The VLMAdapter surface the harness and the planted editors use, over FakeVLM.

    Unlike the real adapter, `score` leaves the train/eval mode alone, so that tests can check
    that the protocols themselves put the model in eval mode before scoring.
    """

    family = "fake"

    def __init__(self, num_layers: int = 4, seed: int = 0, revision: str = "fake-rev") -> None:
        torch.manual_seed(seed)
        self.model = FakeVLM(num_layers).eval()
        self.model_id = "fake/tiny-vlm"
        self.revision = revision
        self.num_layers = num_layers
        self.score_calls: list[int] = []  # probes in each forward pass of score()
        self.score_modes: list[bool] = []  # model.training at each score() call
        self.active_labels = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _inputs(self, probes: Sequence[Probe]) -> tuple[torch.Tensor, ...]:
        texts = []
        for p in probes:
            body = p.prefix + p.question + "".join(f"{k}{v}" for k, v in (p.options or {}).items())
            texts.append(token_ids(body))
        width = max(len(t) for t in texts)
        text_ids = torch.tensor([t + t[-1:] * (width - len(t)) for t in texts])
        pixels = torch.from_numpy(
            np.stack(
                [
                    np.mean([np.asarray(im, np.float32).mean((0, 1)) / 255 for im in p.images], 0)
                    if p.images
                    else np.zeros(3, dtype=np.float32)
                    for p in probes
                ]
            )
        )
        answers = [token_ids(p.answer) for p in probes]
        length = max(len(a) for a in answers)
        answer_ids = torch.tensor([a + [0] * (length - len(a)) for a in answers])
        return text_ids, pixels, answer_ids, torch.tensor([len(a) for a in answers])

    def loss(self, probes: Sequence[Probe]) -> torch.Tensor:
        (logits, targets), *_ = self.answer_logits(probes)
        return nn.functional.cross_entropy(logits, targets)

    def answer_logits(self, probes: Sequence[Probe]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        text_ids, pixels, answer_ids, lengths = self._inputs(probes)
        logits = self.model(text_ids, pixels, answer_ids)
        mask = torch.arange(answer_ids.shape[1])[None, :] < lengths[:, None]
        yield logits[mask], answer_ids[mask]

    def score(self, probes: Sequence[Probe], batch_size: int = 16) -> list[ProbeScore]:
        self.score_modes.append(self.model.training)
        out = []
        for start in range(0, len(probes), batch_size):
            chunk = probes[start : start + batch_size]
            self.score_calls.append(len(chunk))
            text_ids, pixels, answer_ids, lengths = self._inputs(chunk)
            with torch.no_grad():
                argmax = self.model(text_ids, pixels, answer_ids).argmax(-1)
            for row, n in enumerate(lengths.tolist()):
                answer = tuple(answer_ids[row, :n].tolist())
                guess = tuple(argmax[row, :n].tolist())
                hits = sum(a == g for a, g in zip(answer, guess, strict=True))
                out.append(ProbeScore(answer, guess, hits / n, hits == n))
        return out

    def module_name(self, layer: int, kind: str) -> str:
        if not -self.num_layers <= layer < self.num_layers:
            raise ValueError(f"layer {layer} out of range for {self.num_layers} layers")
        group = "mlp" if kind.startswith("mlp") else "attn"
        return f"layers.{layer % self.num_layers}.{group}.{kind.split('.')[1]}"

    def get_module(self, name: str) -> nn.Module:
        return self.model.get_submodule(name)

    def set_module(self, name: str, module: nn.Module) -> None:
        parent, _, child = name.rpartition(".")
        setattr(self.model.get_submodule(parent) if parent else self.model, child, module)

    def vision_module_prefixes(self) -> list[str]:
        return ["vision"]


def _image(rng: random.Random, frames: int) -> tuple[Image.Image, ...]:
    return tuple(
        Image.new("RGB", (4, 4), tuple(rng.randrange(256) for _ in range(3))) for _ in range(frames)
    )


def _reordered(options: dict[str, str], answer: str) -> dict[str, str]:
    """The options rotated by one letter, so the answer's option moves to another letter."""
    texts = list(options.values())
    return dict(zip(options, texts[-1:] + texts[:-1], strict=True))


def fake_cases(n: int, seed: int = 0) -> tuple[Case, ...]:
    """`n` synthetic cases, alternating understanding (1 image) and reasoning (2 frames)."""
    rng = random.Random(seed)
    words = ["lesion", "organ", "scan", "tissue", "frame", "view", "nodule", "mass", "field"]
    cases = []
    for i in range(n):
        task = "understanding" if i % 2 == 0 else "reasoning"
        frames = 1 if task == "understanding" else 2
        question = " ".join(rng.choice(words) for _ in range(5)) + f" {i}?"
        options = {letter: rng.choice(words) for letter in "ABCD"}
        answer = rng.choice("ABCD")
        cases.append(
            Case(
                case_id=f"fake-{i}",
                task=task,
                question_type="finding",
                images=_image(rng, frames),
                question=question,
                options=options,
                answer=answer,
                target=rng.choice([x for x in "ABCD" if x != answer]),
                rephrase_question="which " + question,
                rephrase_images=_image(rng, frames),
                loc_question=" ".join(rng.choice(words) for _ in range(4)),
                loc_answer=rng.choice(words),
                m_loc_images=_image(rng, 1),
                m_loc_question=" ".join(rng.choice(words) for _ in range(3)),
                m_loc_answer=rng.choice(words),
                source="fake:0",
                rephrase_options=_reordered(options, answer),
                mc_loc_images=_image(rng, 1),
                mc_loc_question=" ".join(rng.choice(words) for _ in range(4)) + "?",
                mc_loc_options={"A": "left", "B": "right", "C": "middle"},
                mc_loc_answer=rng.choice("ABC"),
            )
        )
    return tuple(cases)


def fake_split(n: int = 6, seed: int = 0, split: str = "public") -> BenchmarkSplit:
    return BenchmarkSplit(
        name="fake-bench",
        version="0",
        split=split,
        sha256=f"{seed:064x}",
        cases=fake_cases(n, seed),
    )
