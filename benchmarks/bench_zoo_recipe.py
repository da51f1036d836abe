"""Train a zoo model on one recipe and print its public accuracy as it trains: the letter per
task tier, the correct option's text on reasoning cases, and the text-only option lookup.

The recipe experiments behind docs/models.md ("Why the reasoning target is not reachable"),
in the virtualenv with OMP_NUM_THREADS=1:

    python -m benchmarks.bench_zoo_recipe --mix lookup --lr 1e-3 --steps 3000
    python -m benchmarks.bench_zoo_recipe --first reasoning --first-steps 2000
    python -m benchmarks.bench_zoo_recipe --mix reasoning --steps 6000
    python -m benchmarks.bench_zoo_recipe --layers 2 --steps 8000

Mixes: `full` (the build's training_probes), `lookup` ("Which option says X?" of every train
case), `reasoning` (reasoning cases only: option text and letter for question, rephrase and
rephrase images, frame probes, plus every lookup probe). `--first MIX --first-steps N` trains
MIX for the first N steps, then `--mix`, under one learning-rate schedule. Nothing is saved.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator, Sequence

import torch

from evaluator.benchmark import load_benchmark
from evaluator.benchmark.case import Case
from evaluator.models import zoo
from evaluator.models.probe import Probe

SHOWN = ("overall/all", "understanding/all", "reasoning/all", "reasoning_text", "lookup")


def option_text_probes(cases: Sequence[Case]) -> list[Probe]:
    """The correct option's text (no options shown) for every question variant."""
    return [Probe(im, q, c.options[c.answer]) for c in cases for im, q in zoo.variants(c)]


def letter_probes(cases: Sequence[Case]) -> list[Probe]:
    """The correct letter for every question variant."""
    return [Probe(im, q, c.answer, c.options) for c in cases for im, q in zoo.variants(c)]


def mix_probes(mix: str, train: Sequence[Case], reasoning_text_repeats: int = 0) -> list[Probe]:
    reasoning = [c for c in train if c.task == "reasoning"]
    if mix == "full":
        return zoo.training_probes(train) + option_text_probes(reasoning) * reasoning_text_repeats
    if mix == "lookup":
        return [zoo.lookup_probe(c) for c in train]
    if mix == "reasoning":
        frames = [p for c in reasoning for p in zoo.frame_probes(c)]
        lookup = mix_probes("lookup", train)
        return option_text_probes(reasoning) + frames + letter_probes(reasoning) + lookup
    raise ValueError(f"unknown mix {mix!r}; use full, lookup or reasoning")


def _stream(probes: Sequence[Probe], rng: random.Random) -> Iterator[list[Probe]]:
    while True:
        yield from zoo._batches(probes, zoo.BATCH_SIZE, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", default="data/benchmark/multimededit-mini")
    ap.add_argument("--arch", default="llava-onevision", choices=zoo.ARCHES)
    ap.add_argument("--mix", default="full", choices=("full", "lookup", "reasoning"))
    ap.add_argument("--first", choices=("full", "lookup", "reasoning"))
    ap.add_argument("--first-steps", type=int, default=0)
    ap.add_argument("--reasoning-text-repeats", type=int, default=0)
    ap.add_argument("--steps", type=int, default=zoo.STEPS)
    ap.add_argument("--lr", type=float, default=zoo.LEARNING_RATE)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    train = load_benchmark(args.benchmark, "train").cases
    public = load_benchmark(args.benchmark, "public").cases
    adapter = zoo.new_model(args.arch, train, args.seed, layers=args.layers)
    model = adapter.model.train()
    print(f"{args.arch}: {sum(p.numel() for p in model.parameters()):,} parameters", flush=True)

    rng = random.Random(args.seed)
    main_mix = _stream(mix_probes(args.mix, train, args.reasoning_text_repeats), rng)
    first = _stream(mix_probes(args.first, train), rng) if args.first else main_mix
    optimizer, schedule = zoo.optimizer_and_schedule(model, args.steps, args.lr)
    reasoning = [c for c in public if c.task == "reasoning"]
    evals = {
        "reasoning_text": option_text_probes(reasoning)[::3],
        "lookup": [zoo.lookup_probe(c) for c in public],
    }
    started = time.perf_counter()
    for step in range(args.steps):
        batch = next(first if step < args.first_steps else main_mix)
        loss = adapter.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            model.eval()
            row = {k: v["accuracy"] for k, v in zoo.accuracy_table(adapter, public).items()}
            for name, probes in evals.items():
                scores = adapter.score(probes, batch_size=32)
                row[name] = sum(s.exact_match for s in scores) / len(scores)
            model.train()
            figures = " ".join(f"{k}={row[k]:.3f}" for k in SHOWN)
            print(f"step {step + 1} ({time.perf_counter() - started:.0f} s) {figures}", flush=True)


if __name__ == "__main__":
    main()
