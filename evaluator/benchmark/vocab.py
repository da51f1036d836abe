"""MedMNIST label vocabularies, modalities and organs, read from data/medmnist_subsets.json.

A subset is added by adding its entry to that table; no code names a subset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_FLAGS = ("pneumoniamnist", "bloodmnist", "organamnist", "retinamnist", "breastmnist")


class UnknownSubsetError(KeyError):
    """A MedMNIST flag that the subset table does not list."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Subset:
    """One MedMNIST 2D subset as the builder sees it."""

    flag: str
    title: str
    task: str  # MedMNIST's task, e.g. "binary-class", "ordinal-regression"
    licence: str
    md5: str | None  # official MD5 of the 28x28 .npz, None when not recorded
    modality: str
    fixed_organ: str | None  # None: the label itself names the organ
    labels: tuple[str, ...]  # label names by label index
    finding_phrase: str  # "{label}" / "{modality}" placeholders
    citation: str
    multi_label: bool = False
    grade_name: str | None = None  # set for ordinal subsets

    @property
    def ordinal(self) -> bool:
        return self.task == "ordinal-regression"

    def organ(self, label: str) -> str:
        """The organ an image of this subset with this label shows."""
        return label if self.fixed_organ is None else self.fixed_organ

    def describe(self, label: str) -> str:
        return self.finding_phrase.format(label=label, modality=self.modality)


def _data_text(name: str) -> str:
    return (DATA_DIR / name).read_text("utf-8")


@cache
def subsets() -> dict[str, Subset]:
    """Every subset in the table, by flag."""
    table = json.loads(_data_text("medmnist_subsets.json"))["subsets"]
    out = {}
    for flag, e in table.items():
        labels = tuple(e["labels"][str(i)] for i in range(len(e["labels"])))
        out[flag] = Subset(
            flag=flag,
            title=e["title"],
            task=e["task"],
            licence=e["licence"],
            md5=e.get("md5"),
            modality=e["modality"],
            fixed_organ=e.get("organ"),
            labels=labels,
            finding_phrase=e.get("finding_phrase", "a {modality} image labelled '{label}'"),
            citation=e["citation"],
            multi_label=bool(e.get("multi_label", False)),
            grade_name=e.get("grade_name"),
        )
    return out


def subset(flag: str) -> Subset:
    """The table entry for `flag`, or a clear error listing the known flags."""
    table = subsets()
    if flag not in table:
        raise UnknownSubsetError(
            f"unknown MedMNIST subset {flag!r}: known subsets are {', '.join(sorted(table))} "
            "(add an entry to evaluator/benchmark/data/medmnist_subsets.json for a new one)"
        )
    return table[flag]


@cache
def templates() -> dict:
    """Question templates by question type (data/templates.json)."""
    return json.loads(_data_text("templates.json"))


@cache
def facts() -> tuple[tuple[str, str], ...]:
    """The curated text-locality facts as (question, answer) pairs (data/facts.jsonl)."""
    rows = [json.loads(line) for line in _data_text("facts.jsonl").splitlines() if line.strip()]
    return tuple((r["question"], r["answer"]) for r in rows)
