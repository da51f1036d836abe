"""`python -m evaluator model build`: build, train and save a tiny zoo model with its card."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from contract import paths
from evaluator.models.tiny import ARCHES


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    commands = parser.add_subparsers(dest="action", required=True)
    build = commands.add_parser("build", help="build and train one zoo model on the train split")
    build.add_argument("--arch", choices=ARCHES, required=True, help="model family")
    build.add_argument(
        "--benchmark",
        type=Path,
        default=paths.benchmark_dir(),
        help="a built benchmark folder (default: %(default)s)",
    )
    build.add_argument(
        "--out", type=Path, default=None, help="output folder (default: $MME_HOME/models/<name>)"
    )
    build.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    build.add_argument(
        "--max-steps", type=int, default=None, help="training steps (default: the zoo's schedule)"
    )
    build.add_argument(
        "--recipe",
        choices=("full", "quick"),
        default="full",
        help="full: every train case (default); quick: single-image understanding probes, "
        "fewer steps (what app.py --quick trains)",
    )
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(args: argparse.Namespace) -> int:
    from evaluator.benchmark import BenchmarkLoadError
    from evaluator.models.zoo import build_zoo_model

    out = args.out or paths.zoo_dir(args.arch)
    if args.max_steps is not None and args.max_steps < 1:
        print(f"--max-steps must be at least 1, got {args.max_steps}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        build_zoo_model(
            args.arch,
            args.benchmark,
            out,
            seed=args.seed,
            max_steps=args.max_steps,
            progress=not args.no_progress,
            recipe=args.recipe,
        )
    except (BenchmarkLoadError, FileNotFoundError) as err:
        print(
            f"cannot read the benchmark at {args.benchmark}: {err}\nbuild it first with "
            "`python -m evaluator benchmark build`",
            file=sys.stderr,
        )
        return 1
    print(f"built {out} in {time.perf_counter() - started:.1f} s; model card: {out / 'README.md'}")
    return 0
