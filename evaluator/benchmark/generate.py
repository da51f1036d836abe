"""Generate understanding and reasoning edit cases from one split's image pool."""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from contract.names import UNDERSTANDING_TYPES
from evaluator.benchmark.case import Case
from evaluator.benchmark.locality import Deck, image_wordings, text_prompts
from evaluator.benchmark.pool import ImageKey, SplitPool
from evaluator.benchmark.reasoning import answer_text, frame_word
from evaluator.benchmark.vocab import subset, subsets, templates

LETTERS = string.ascii_uppercase[:8]
MAX_TRIES = 200

_Item = TypeVar("_Item")


class _Retry(Exception):
    """The random draw cannot make a valid case (e.g. too few images of a label): draw again."""


def _pick(rng: np.random.Generator, items: Sequence[_Item]) -> _Item:
    if not items:
        raise _Retry
    return items[int(rng.integers(len(items)))]


def all_modalities() -> list[str]:
    return sorted({s.modality for s in subsets().values()})


def all_fixed_organs() -> list[str]:
    return sorted({s.fixed_organ for s in subsets().values() if s.fixed_organ})


class CaseFactory:
    """Draws cases for one split; every random choice comes from `rng`, so a seed fixes all."""

    def __init__(self, pool: SplitPool, rng: np.random.Generator, split: str) -> None:
        self.pool = pool
        self.rng = rng
        self.split = split
        self.flags = [f for f in pool.flags if pool.labels_with(f, 2)]
        if not self.flags:
            raise ValueError(f"split {split!r}: no subset has two images of one label")
        self.text_locality = Deck(text_prompts(split), rng, "text-locality prompt")
        self.templates = templates()
        self.modal_flags: dict[str, list[str]] = {}
        for f in self.flags:
            self.modal_flags.setdefault(subset(f).modality, []).append(f)

    # -- shared pieces -------------------------------------------------------------------
    def _image(self, flag: str, label: int, exclude: set[ImageKey]) -> ImageKey:
        free = [i for i in self.pool.by_label[flag].get(label, []) if (flag, i) not in exclude]
        key = (flag, _pick(self.rng, free))
        exclude.add(key)
        return key

    def _label(self, flag: str, but: Sequence[int] = ()) -> int:
        return _pick(self.rng, [lab for lab in self.pool.labels_with(flag, 2) if lab not in but])

    def _two_templates(self, texts: list[str], **values: object) -> tuple[str, str]:
        order = self.rng.permutation(len(texts))
        rendered = [texts[int(k)].format(**values) for k in order]
        for other in rendered[1:]:
            if other != rendered[0]:
                return rendered[0], other
        raise ValueError(f"templates {texts!r} render to one text; add a different template")

    def _options(self, correct: str, distractors: Sequence[str]) -> tuple[dict[str, str], str]:
        texts = [correct, *sorted(set(distractors) - {correct})]
        order = self.rng.permutation(len(texts))
        shuffled = [texts[int(k)] for k in order]
        options = dict(zip(LETTERS, shuffled, strict=False))
        return options, LETTERS[shuffled.index(correct)]

    def _sample(self, items: Sequence[str], k: int) -> list[str]:
        k = min(k, len(items))
        return [items[int(i)] for i in self.rng.choice(len(items), size=k, replace=False)]

    def _understanding_question(
        self, flag: str, label: int, qtype: str
    ) -> tuple[list[str], str, list[str]]:
        """(templates, correct option text, distractor texts) of one single-image question."""
        info = subset(flag)
        name = info.labels[label]
        if qtype == "modality":
            others = [m for m in all_modalities() if m != info.modality]
            k = int(self.rng.integers(2, 5))
            return self.templates["modality"], info.modality, self._sample(others, k)
        if qtype == "organ":
            vocab = list(info.labels) if info.fixed_organ is None else all_fixed_organs()
            correct = info.organ(name)
            others = [o for o in vocab if o != correct]
            k = int(self.rng.integers(2, 6))
            return self.templates["organ"], correct, self._sample(others, k)
        finding = self.templates["finding"]
        texts = finding.get(flag, finding["default"])
        others = [n for n in info.labels if n != name]
        return texts, name, self._sample(others, len(LETTERS) - 1)

    def _qtypes(self, flag: str) -> list[str]:
        return [q for q in UNDERSTANDING_TYPES if q != "finding" or subset(flag).fixed_organ]

    def _unrelated_question(
        self, edit_flags: set[str], edit_qtype: str, used: set[ImageKey]
    ) -> tuple[ImageKey, list[str], str, list[str], dict[str, str]]:
        """An understanding question on an image of another subset (or another question type
        where the split has one subset): (image key, templates, correct, distractors, where)."""
        other_flags = [f for f in self.flags if f not in edit_flags]
        flag = _pick(self.rng, other_flags or self.flags)
        qtypes = [q for q in self._qtypes(flag) if other_flags or q != edit_qtype]
        qtype = _pick(self.rng, qtypes)
        label = self._label(flag)
        key = self._image(flag, label, used)
        texts, correct, distractors = self._understanding_question(flag, label, qtype)
        texts = [t.format(modality=subset(flag).modality) for t in texts]
        where = {"flag": flag, "label": subset(flag).labels[label], "question_type": qtype}
        return key, texts, correct, distractors, where

    def _locality(self, edit_flags: set[str], edit_qtype: str, used: set[ImageKey]) -> dict:
        """The three locality probes: a text prompt of this split, an unrelated image question
        worded from this split's wordings, and an unrelated multiple-choice question."""
        question, answer = self.text_locality.draw()
        m_key, texts, m_answer, _, m_where = self._unrelated_question(edit_flags, edit_qtype, used)
        wordings = image_wordings(texts, self.split) or texts
        mc_key, mc_texts, correct, distractors, mc_where = self._unrelated_question(
            edit_flags, edit_qtype, used
        )
        mc_options, mc_answer = self._options(correct, distractors)
        return {
            "loc_question": question,
            "loc_answer": answer,
            "m_loc_images": (self.pool.pil(m_key),),
            "m_loc_question": _pick(self.rng, wordings),
            "m_loc_answer": m_answer,
            "mc_loc_images": (self.pool.pil(mc_key),),
            "mc_loc_question": _pick(self.rng, mc_texts),
            "mc_loc_options": mc_options,
            "mc_loc_answer": mc_answer,
            "spec": {"m_loc": m_where, "mc_loc": mc_where},
        }

    def _reordered(self, options: dict[str, str], answer: str) -> dict[str, str]:
        """The options in a seeded new order in which the correct option has another letter."""
        texts = list(options.values())
        correct = texts.index(options[answer])
        while True:
            order = [int(k) for k in self.rng.permutation(len(texts))]
            if order.index(correct) != correct:
                return dict(zip(LETTERS, [texts[k] for k in order], strict=False))

    def _case(
        self,
        case_id: str,
        task: str,
        qtype: str,
        images: list[ImageKey],
        question: str,
        rephrase: str,
        options: dict[str, str],
        answer: str,
        rephrase_images: list[ImageKey],
        edit_flags: set[str],
        source: str,
        spec: dict[str, Any],
    ) -> Case:
        used = set(images) | set(rephrase_images)
        locality = self._locality(edit_flags, qtype, used)
        spec = {**spec, **locality.pop("spec")}
        pil = self.pool.pil
        return Case(
            case_id=case_id,
            task=task,
            question_type=qtype,
            images=tuple(pil(k) for k in images),
            question=question,
            options=options,
            answer=answer,
            target=answer,
            rephrase_question=rephrase,
            rephrase_images=tuple(pil(k) for k in rephrase_images),
            rephrase_options=self._reordered(options, answer),
            source=source,
            question_spec=json.dumps(spec, sort_keys=True),
            **locality,
        )

    # -- understanding -------------------------------------------------------------------
    def understanding(self, case_id: str) -> tuple[Case, list[ImageKey]]:
        flag = _pick(self.rng, self.flags)
        qtype = _pick(self.rng, self._qtypes(flag))
        label = self._label(flag)
        used: set[ImageKey] = set()
        key = self._image(flag, label, used)
        rephrase_key = self._image(flag, label, used)
        texts, correct, distractors = self._understanding_question(flag, label, qtype)
        question, rephrase = self._two_templates(texts, modality=subset(flag).modality)
        options, answer = self._options(correct, distractors)
        name = subset(flag).labels[label]
        spec = {"kind": qtype, "frames": [{"flag": flag, "label": name}]}
        case = self._case(
            case_id,
            "understanding",
            qtype,
            [key],
            question,
            rephrase,
            options,
            answer,
            [rephrase_key],
            {flag},
            f"{flag}:{name}",
            spec,
        )
        return case, [key, rephrase_key]

    # -- reasoning -----------------------------------------------------------------------
    def _reasoning_kinds(self) -> dict[str, Callable[[], dict]]:
        kinds: dict[str, Callable[[], dict]] = {}
        single = [f for f in self.flags if len(self.pool.labels_with(f, 2)) >= 2]
        organ_flags = [f for f in single if subset(f).fixed_organ is None]
        graded = [f for f in single if subset(f).ordinal]
        if len(self.modal_flags) >= 2 or single:
            kinds["which_frame"] = lambda: self._which_or_count("which_frame", single)
            kinds["count_frames"] = lambda: self._which_or_count("count_frames", single)
        if len(self.modal_flags) >= 2:
            kinds["same_modality"] = self._same_modality
            kinds["odd_modality"] = self._odd_modality
        if organ_flags:
            kinds["same_organ"] = lambda: self._same_organ(organ_flags)
        if graded:
            kinds["compare_grade"] = lambda: self._compare_grade(graded)
        return kinds

    def _frames(self, spec_frames: list[tuple[str, int]]) -> list[tuple[str, int]]:
        order = self.rng.permutation(len(spec_frames))
        return [spec_frames[int(k)] for k in order]

    def _which_or_count(self, kind: str, single: list[str]) -> dict:
        n = int(self.rng.integers(2, 5))
        attributes = (["modality"] if len(self.modal_flags) >= 2 else []) + (
            ["label"] if single else []
        )
        attribute = _pick(self.rng, attributes)
        hits = 1 if kind == "which_frame" else int(self.rng.integers(0, n + 1))
        if attribute == "modality":
            modality = _pick(self.rng, sorted(self.modal_flags))
            others = [f for m, fs in self.modal_flags.items() if m != modality for f in fs]
            flags = [_pick(self.rng, self.modal_flags[modality]) for _ in range(hits)]
            flags += [_pick(self.rng, others) for _ in range(n - hits)]
            frames = [(f, self._label(f)) for f in flags]
            value, phrase, universe = modality, f"a {modality} image", self.flags
        else:
            flag = _pick(self.rng, single)
            label = self._label(flag)
            frames = [(flag, label)] * hits + [
                (flag, self._label(flag, [label])) for _ in range(n - hits)
            ]
            info = subset(flag)
            attribute = "organ" if info.fixed_organ is None else "finding"
            name = info.labels[label]
            value = name if attribute == "organ" else f"{flag}:{name}"
            phrase, universe = info.describe(name), [flag]
        spec = {"kind": kind, "attribute": attribute, "value": value, "universe": universe}
        return {"spec": spec, "frames": self._frames(frames), "phrase": phrase}

    def _same(
        self,
        kind: str,
        partner_for: Callable[[tuple[str, int], bool], list[tuple[str, int]]],
        first_flags: list[str],
        universe: list[str],
    ) -> dict:
        n = int(self.rng.integers(2, 5))
        i, j = sorted(int(x) + 1 for x in self.rng.choice(n, size=2, replace=False))
        flag = _pick(self.rng, first_flags)
        frames = [(f, self._label(f)) for f in (_pick(self.rng, first_flags) for _ in range(n))]
        frames[i - 1] = (flag, self._label(flag))
        same = bool(self.rng.integers(2))
        frames[j - 1] = _pick(self.rng, partner_for(frames[i - 1], same))
        spec = {"kind": kind, "i": i, "j": j, "universe": universe}
        return {"spec": spec, "frames": frames, "phrase": ""}

    def _same_modality(self) -> dict:
        def partner(frame: tuple[str, int], same: bool) -> list[tuple[str, int]]:
            modality = subset(frame[0]).modality
            flags = [f for f in self.flags if (subset(f).modality == modality) == same]
            flag = _pick(self.rng, flags)
            return [(flag, self._label(flag))]

        return self._same("same_modality", partner, self.flags, self.flags)

    def _same_organ(self, organ_flags: list[str]) -> dict:
        flag = _pick(self.rng, organ_flags)

        def partner(frame: tuple[str, int], same: bool) -> list[tuple[str, int]]:
            return [(flag, frame[1] if same else self._label(flag, [frame[1]]))]

        return self._same("same_organ", partner, [flag], [flag])

    def _compare_grade(self, graded: list[str]) -> dict:
        flag = _pick(self.rng, graded)
        labels = self.pool.labels_with(flag, 2)
        n = int(self.rng.integers(2, min(3, len(labels)) + 1))
        grades = [labels[int(k)] for k in self.rng.choice(len(labels), size=n, replace=False)]
        spec = {"kind": "compare_grade", "universe": [flag]}
        return {"spec": spec, "frames": [(flag, g) for g in grades], "phrase": ""}

    def _odd_modality(self) -> dict:
        n = int(self.rng.integers(3, 5))
        modality = _pick(self.rng, sorted(self.modal_flags))
        others = [f for m, fs in self.modal_flags.items() if m != modality for f in fs]
        flags = [_pick(self.rng, self.modal_flags[modality]) for _ in range(n - 1)]
        flags.append(_pick(self.rng, others))
        frames = self._frames([(f, self._label(f)) for f in flags])
        spec = {"kind": "odd_modality", "universe": self.flags}
        return {"spec": spec, "frames": frames, "phrase": ""}

    def reasoning(self, case_id: str) -> tuple[Case, list[ImageKey]]:
        kinds = self._reasoning_kinds()
        if not kinds:
            raise ValueError(f"split {self.split!r}: the subsets here allow no reasoning question")
        kind = _pick(self.rng, sorted(kinds))
        draw = kinds[kind]()
        spec, frames = draw["spec"], draw["frames"]
        n = len(frames)
        named = [(f, subset(f).labels[lab]) for f, lab in frames]
        spec["frames"] = [{"flag": f, "label": name} for f, name in named]
        correct = answer_text(spec, named)
        if kind == "count_frames":
            choices = [str(c) for c in range(n + 1)]
        elif kind.startswith("same_"):
            choices = ["Yes", "No"]
        else:
            choices = [frame_word([k]) for k in range(1, n + 1)]
        used: set[ImageKey] = set()
        keys = [self._image(f, lab, used) for f, lab in frames]
        rephrase_keys = [self._image(f, lab, used) for f, lab in frames]
        grade = next((subset(f).grade_name for f, _ in frames if subset(f).grade_name), "")
        question, rephrase = self._two_templates(
            self.templates[kind],
            value=draw["phrase"],
            n=n,
            i=spec.get("i"),
            j=spec.get("j"),
            grade_name=grade,
        )
        options, answer = self._options(correct, [c for c in choices if c != correct])
        source = "|".join(f"{f}:{name}" for f, name in named)
        case = self._case(
            case_id,
            "reasoning",
            kind,
            keys,
            question,
            rephrase,
            options,
            answer,
            rephrase_keys,
            {f for f, _ in frames},
            source,
            spec,
        )
        return case, keys + rephrase_keys

    def draw(self, task: str, case_id: str) -> tuple[Case, list[ImageKey]]:
        """One case of `task`, redrawing when a random choice cannot be completed."""
        make = self.understanding if task == "understanding" else self.reasoning
        for _ in range(MAX_TRIES):
            try:
                return make(case_id)
            except _Retry:
                continue
        raise ValueError(
            f"split {self.split!r}: could not draw a valid {task} case in {MAX_TRIES} tries; "
            "the split has too few images per label"
        )
