"""The zoo: tiny LLaVA-OneVision and Qwen2-VL models trained on the benchmark's train split on
the CPU, saved so that load_vlm(DIR) and AutoModelForImageTextToText.from_pretrained(DIR) work."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL.Image import Image
from tqdm.auto import tqdm
from transformers import AutoModelForImageTextToText

from evaluator.benchmark.case import BenchmarkSplit, Case
from evaluator.benchmark.reasoning import spec_frames
from evaluator.models.adapter import ANSWER_INSTRUCTION, VLMAdapter
from evaluator.models.card import write_model_card
from evaluator.models.probe import Probe
from evaluator.models.tiny import ARCHES, tiny_config, tiny_processor, train_tokenizer

STEPS = 4000  # training steps when max_steps is not given
# the quick recipe (app.py --quick, the planted-editor tests): single-image probes of the
# understanding cases only, at a higher learning rate, enough steps on the quick-scale benchmark
# to answer the understanding tier about 2x chance (0.55 vs 0.27; docs/models.md)
QUICK_STEPS = 1500
QUICK_LEARNING_RATE = 1e-3
RECIPES = ("full", "quick")
BATCH_SIZE = 16
LEARNING_RATE = 5e-4  # 3e-3 left the option lookup untrained (public accuracy at chance)
LOOKUP_QUESTION = "Which option says"
FRAME_QUESTION = "What does frame {k} show?"


def training_probes(cases: Sequence[Case]) -> list[Probe]:
    """What the model learns: the answer letter for every question, rephrase (with its
    reordered options) and rephrase image; the train split's locality prompts (each distinct
    text prompt once) and its multiple-choice locality questions, so locality probes are not
    noise; and auxiliary probes that teach the parts separately (the correct option's text for
    the images, which letter carries a given option text, what each frame of a multi-image case
    shows)."""
    probes: list[Probe] = []
    text_facts: dict[str, Probe] = {}
    for case in cases:
        probes += [Probe(images, q, case.answer, case.options) for images, q in variants(case)]
        probes += [
            Probe(im, q, case.rephrase_target, case.rephrase_options)
            for im, q in (
                (case.images, case.rephrase_question),
                (case.rephrase_images, case.question),
            )
        ]
        probes += [
            Probe(case.m_loc_images, case.m_loc_question, case.m_loc_answer),
            Probe(
                case.mc_loc_images, case.mc_loc_question, case.mc_loc_answer, case.mc_loc_options
            ),
            Probe(case.images, case.question, case.options[case.answer]),
            lookup_probe(case),
        ]
        probes += frame_probes(case)
        text_facts.setdefault(case.loc_question, Probe((), case.loc_question, case.loc_answer))
    return probes + list(text_facts.values())


def variants(case: Case) -> list[tuple[tuple[Image, ...], str]]:
    """(images, question) of the question, the rephrased question, and the rephrase images."""
    return [
        (case.images, case.question),
        (case.images, case.rephrase_question),
        (case.rephrase_images, case.question),
    ]


def lookup_probe(case: Case) -> Probe:
    """Text only: "Which option says <correct text>?" with the case's options; answer its letter."""
    correct = case.options[case.answer]
    return Probe((), f"{LOOKUP_QUESTION} {correct}?", case.answer, case.options)


def frame_probes(case: Case) -> list[Probe]:
    """FRAME_QUESTION for each frame of a multi-image case, answered "<subset> <label>" (e.g.
    "blood lymphocyte") from the frame labels its question_spec records; none for single-image
    cases or cases without a spec. They teach the model to tell frames apart (docs/models.md)."""
    if len(case.images) < 2 or not case.question_spec:
        return []
    frames = spec_frames(json.loads(case.question_spec))
    return [
        Probe(case.images, FRAME_QUESTION.format(k=k), f"{flag.removesuffix('mnist')} {label}")
        for k, (flag, label) in enumerate(frames, start=1)
    ]


def case_texts(cases: Iterable[Case]) -> Iterable[str]:
    """The train text the tokenizer learns from."""
    yield ANSWER_INSTRUCTION
    yield LOOKUP_QUESTION
    for case in cases:
        yield case.question
        yield case.rephrase_question
        yield from (f"{letter}. {text}" for letter, text in case.options.items())
        yield f"{case.loc_question} {case.loc_answer}"
        yield f"{case.m_loc_question} {case.m_loc_answer}"
        yield case.mc_loc_question
        yield from (f"{letter}. {text}" for letter, text in case.mc_loc_options.items())
        yield from (f"{p.question} {p.answer}" for p in frame_probes(case))


def new_model(arch: str, cases: Sequence[Case], seed: int = 0, **sizes: int) -> VLMAdapter:
    """A randomly initialised zoo model with a tokenizer trained on the cases' text; `sizes`
    override tiny_config's (hidden, layers, vision_hidden, vision_layers)."""
    tokenizer = train_tokenizer(arch, case_texts(cases))
    processor = tiny_processor(arch, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(tiny_config(arch, tokenizer, **sizes))
    return VLMAdapter(model.float(), processor, model_id=f"mme-tiny-{arch}")


def train(
    adapter: VLMAdapter,
    probes: Sequence[Probe],
    *,
    steps: int,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
    lr: float = LEARNING_RATE,
) -> None:
    """AdamW with linear decay over `steps` batches of same-image-count probes, on the CPU."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = adapter.model.train()
    optimizer, schedule = optimizer_and_schedule(model, steps, lr)
    batches = _batches(probes, batch_size, rng)
    bar = tqdm(range(steps), desc=f"training {adapter.family}", disable=not progress)
    for step in bar:
        if step % len(batches) == 0 and step:
            batches = _batches(probes, batch_size, rng)
        loss = adapter.loss(batches[step % len(batches)])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()


def optimizer_and_schedule(
    model: torch.nn.Module, steps: int, lr: float = LEARNING_RATE
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW (weight decay 0.01), 5% linear warm-up, then linear decay to 0 at `steps`."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, 1.0 - s / max(steps, 1))
    )
    return optimizer, schedule


def _batches(probes: Sequence[Probe], batch_size: int, rng: random.Random) -> list[list[Probe]]:
    by_count: dict[int, list[Probe]] = defaultdict(list)
    for probe in probes:
        by_count[len(probe.images)].append(probe)
    batches = []
    for group in by_count.values():
        group = list(group)
        rng.shuffle(group)
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches


def accuracy_table(adapter: VLMAdapter, cases: Sequence[Case]) -> dict[str, Any]:
    """Exact-match accuracy of the correct letter per task tier and question type, with chance."""
    probes = [Probe(c.images, c.question, c.answer, c.options) for c in cases]
    scores = adapter.score(probes, batch_size=32)
    groups: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for case, score in zip(cases, scores, strict=True):
        hit, chance = float(score.exact_match), 1.0 / len(case.options)
        groups[(case.task, case.question_type)].append((hit, chance))
        groups[(case.task, "all")].append((hit, chance))
        groups[("overall", "all")].append((hit, chance))
    return {
        f"{task}/{qtype}": {
            "n": len(rows),
            "accuracy": sum(h for h, _ in rows) / len(rows),
            "chance": sum(c for _, c in rows) / len(rows),
        }
        for (task, qtype), rows in sorted(groups.items())
    }


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer, by name (determinism checks)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_zoo_model(
    arch: str,
    benchmark_dir: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool = True,
    recipe: str = "full",
) -> Path:
    """Build, train, evaluate and save one zoo model with its model card; returns `out`."""
    from evaluator.benchmark import load_benchmark

    train_split = load_benchmark(str(benchmark_dir), "train")
    public = load_benchmark(str(benchmark_dir), "public")
    return build_from_splits(
        arch,
        train_split,
        public,
        out,
        seed=seed,
        max_steps=max_steps,
        progress=progress,
        recipe=recipe,
    )


def recipe_probes(cases: Sequence[Case], recipe: str) -> tuple[list[Probe], float, int]:
    """(training probes, learning rate, default steps) of a recipe: `full` trains on every
    case; `quick` on the single-image probes of the understanding cases only."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown zoo recipe {recipe!r}; use one of {list(RECIPES)}")
    if recipe == "full":
        return training_probes(cases), LEARNING_RATE, STEPS
    understanding = [c for c in cases if c.task == "understanding"]
    probes = [p for p in training_probes(understanding) if len(p.images) <= 1]
    return probes, QUICK_LEARNING_RATE, QUICK_STEPS


def build_from_splits(
    arch: str,
    train_split: BenchmarkSplit,
    public: BenchmarkSplit,
    out: str | Path,
    *,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool = True,
    recipe: str = "full",
) -> Path:
    """build_zoo_model on splits already loaded."""
    if arch not in ARCHES:
        raise ValueError(f"unknown zoo architecture {arch!r}; use one of {list(ARCHES)}")
    started = time.perf_counter()
    probes, lr, default_steps = recipe_probes(train_split.cases, recipe)
    adapter = new_model(arch, train_split.cases, seed)
    steps = default_steps if max_steps is None else max_steps
    train(adapter, probes, steps=steps, seed=seed, progress=progress, lr=lr)
    train_seconds = time.perf_counter() - started
    accuracy = accuracy_table(adapter, public.cases)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    adapter.model.save_pretrained(out)
    adapter.processor.save_pretrained(out)
    write_model_card(
        out / "README.md",
        arch=arch,
        num_parameters=sum(p.numel() for p in adapter.model.parameters()),
        steps=steps,
        recipe=recipe,
        train_seconds=train_seconds,
        seed=seed,
        benchmark=f"{public.name} {public.version} (public split sha256 {public.sha256})",
        accuracy=accuracy,
        weights_sha256=weights_sha256(adapter.model),
    )
    return out
