"""IKE, in-context knowledge editing: the edited facts (and optional demonstrations retrieved
from the train split) are written before each probe; no weight changes."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from evaluator.editors.base import Editor, EditorConfig
from evaluator.editors.config_fields import field
from evaluator.editors.registry import register_editor
from evaluator.models.probe import Probe

if TYPE_CHECKING:
    from evaluator.benchmark.case import Edit

FACT_TEMPLATE = "Question: {prompt}\nAnswer: {target}"
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class IKEConfig(EditorConfig):
    demonstrations: int = field(
        0,
        "k demonstrations retrieved from the train split by question similarity (0 = Prompt)",
        min=0,
        max=32,
    )
    max_facts: int = field(
        1, "edited facts written before each probe (lifelong: the most similar ones)", min=1, max=64
    )


def format_prompt(question: str, options: dict[str, str] | None) -> str:
    """The edit question with its lettered options, as the template's {prompt}."""
    if not options:
        return question
    return question + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())


def format_fact(question: str, options: dict[str, str] | None, target: str) -> str:
    return FACT_TEMPLATE.format(prompt=format_prompt(question, options), target=target)


def bag_of_words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(count * b[word] for word, count in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def most_similar(query: str, texts: Sequence[Counter[str]], k: int) -> list[int]:
    """Indices of the k texts most similar to `query` (bag-of-words cosine), ties by order."""
    bag = bag_of_words(query)
    ranked = sorted(range(len(texts)), key=lambda i: (-cosine(bag, texts[i]), i))
    return ranked[:k]


@register_editor("ike")
class IKEEditor(Editor):
    """Keeps every applied edit; each probe gets the most similar edited facts (newest fact
    nearest the question) after the retrieved demonstrations."""

    config_class = IKEConfig
    config: IKEConfig

    def setup(self) -> None:
        self.facts: list[str] = []
        self._fact_bags: list[Counter[str]] = []
        # the train split loads lazily, only when demonstrations are asked for
        pool = list(self.train_cases) if self.config.demonstrations else []
        self._demos = [format_fact(c.question, c.options, c.answer) for c in pool]
        self._demo_bags = [bag_of_words(c.question) for c in pool]

    def apply(self, edit: Edit) -> None:
        self.facts.append(format_fact(edit.question, edit.options, edit.target))
        self._fact_bags.append(bag_of_words(edit.question))

    def reset(self) -> None:
        self.facts.clear()
        self._fact_bags.clear()

    def transform_probe(self, probe: Probe) -> Probe:
        if not self.facts:
            return probe
        demos = [
            self._demos[i]
            for i in most_similar(probe.question, self._demo_bags, self.config.demonstrations)
        ]
        chosen = sorted(most_similar(probe.question, self._fact_bags, self.config.max_facts))
        facts = [self.facts[i] for i in chosen]
        parts = [*demos, *facts, *([probe.prefix] if probe.prefix else [])]
        return replace(probe, prefix="\n\n".join(parts))
