"""Locality prompts, partitioned by split.

Text-locality prompts (the curated facts plus generated everyday questions) and the wordings of
image-locality questions each belong to exactly one benchmark split, decided by a hash of their
text: nothing of hidden or public is in train, nothing of hidden in public. Locality compares
the edited model with the untouched one, so a prompt need not be a fact the model knows; it must
be unrelated to the edits, varied and fixed.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np

from evaluator.benchmark.vocab import DATA_DIR, facts

# share of every prompt family that each split receives, in hash order
SPLIT_SHARES = (("hidden", 0.35), ("public", 0.20), ("train", 0.45))
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def split_of(text: str) -> str:
    """The split a locality prompt belongs to: a fixed function of its text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    upper = 0.0
    for split, share in SPLIT_SHARES:
        upper += share
        if point < upper:
            return split
    return SPLIT_SHARES[-1][0]


def _generated() -> Iterator[tuple[str, str]]:
    """Everyday questions with one short answer each: arithmetic, sequences, spelling."""
    for a in range(2, 61):
        for b in range(2, 61):
            yield f"What is {a} plus {b}?", str(a + b)
            if a > b:
                yield f"What is {a} minus {b}?", str(a - b)
            if a <= 20 and b <= 20:
                yield f"What is {a} times {b}?", str(a * b)
    for n in range(1, 1000):
        yield f"Which number comes after {n}?", str(n + 1)
    letters = string.ascii_uppercase
    for i, letter in enumerate(letters[:-1]):
        yield f"Which letter comes after {letter} in the alphabet?", letters[i + 1]
    for i, day in enumerate(DAYS):
        yield f"Which day comes after {day}?", DAYS[(i + 1) % len(DAYS)]
    for i, month in enumerate(MONTHS):
        yield f"Which month comes after {month}?", MONTHS[(i + 1) % len(MONTHS)]
    for word in _words():
        yield f"What is the first letter of the word {word}?", word[0].upper()
        yield f"How many letters does the word {word} have?", str(len(word))


@cache
def _words() -> tuple[str, ...]:
    return tuple(json.loads((DATA_DIR / "locality_words.json").read_text("utf-8"))["words"])


@cache
def text_prompts(split: str) -> tuple[tuple[str, str], ...]:
    """Every (question, answer) text-locality prompt of `split`, in a fixed order."""
    seen: set[str] = set()
    out = []
    for question, answer in [*facts(), *_generated()]:
        if question in seen:
            continue
        seen.add(question)
        if split_of(question) == split:
            out.append((question, answer))
    return tuple(out)


@cache
def lead_ins() -> tuple[str, ...]:
    """Sentences put before an image-locality question to vary its wording."""
    return tuple(json.loads((DATA_DIR / "locality_words.json").read_text("utf-8"))["lead_ins"])


def image_wordings(stems: Sequence[str], split: str) -> list[str]:
    """The wordings of `stems` (each stem with and without a lead-in) that belong to `split`."""
    texts = [stem for stem in stems] + [f"{lead} {stem}" for lead in lead_ins() for stem in stems]
    return [t for t in texts if split_of(t) == split]


class Deck:
    """Hands out a split's prompts in a seeded shuffled order, reshuffling when all are used, so
    that with P prompts and N draws no prompt is drawn more than ceil(N / P) times."""

    def __init__(self, items: Sequence, rng: np.random.Generator, what: str) -> None:
        if not items:
            raise ValueError(f"no {what} belongs to this split; add prompts to the pool")
        self.items = list(items)
        self.rng = rng
        self._order: list[int] = []

    def draw(self):  # noqa: ANN201 - the item type is the caller's
        if not self._order:
            self._order = [int(k) for k in self.rng.permutation(len(self.items))]
        return self.items[self._order.pop()]
