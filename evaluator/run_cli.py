"""`python -m evaluator run`: evaluate one editor on one model and write the result JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from contract.names import HEADLINE_METRICS, SETTINGS
from contract.run_spec import EVALUATION_SPLITS, RunSpec
from evaluator.editors.base import ConfigError
from evaluator.result import write_result
from evaluator.run import run_evaluation


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Edit a model case by case (single) or cumulatively (lifelong) on a "
        "benchmark split and write a result JSON (schema in docs/evaluator.md).",
    )
    parser.add_argument("--model", required=True, help="hub id or local folder of the model")
    parser.add_argument("--revision", default=None, help="hub commit or branch (default: main)")
    parser.add_argument(
        "--editor", required=True, help="editor name; see `python -m evaluator editors`"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="editor config, YAML or JSON file"
    )
    parser.add_argument("--benchmark", required=True, help="benchmark folder or hub id")
    parser.add_argument("--split", required=True, choices=EVALUATION_SPLITS)
    parser.add_argument("--setting", required=True, choices=SETTINGS)
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="at most N edits, stratified over both tiers (the edits are the model's errors)",
    )
    parser.add_argument(
        "--per-tier", type=int, default=None, help="at most N edits of each task tier"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for edits and bootstrap")
    parser.add_argument("--batch-size", type=int, default=16, help="most probes per forward pass")
    parser.add_argument("--out", required=True, type=Path, help="where to write the result JSON")
    return parser


def main(args: argparse.Namespace) -> int:
    config_text = None
    if args.config is not None:
        try:
            config_text = args.config.read_text(encoding="utf-8")
        except OSError as err:
            print(f"error: cannot read editor config {args.config}: {err}", file=sys.stderr)
            return 2
    spec = RunSpec(
        model=args.model,
        revision=args.revision,
        editor=args.editor,
        config=config_text,
        benchmark=args.benchmark,
        split=args.split,
        setting=args.setting,
        limit=args.limit,
        per_tier=args.per_tier,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    with tqdm(desc=f"{args.editor} {args.setting}", unit="edit", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = run_evaluation(spec, progress=progress)
        except ConfigError as err:
            print(f"error: bad editor config: {err}", file=sys.stderr)
            return 2
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    write_result(result, args.out)
    overall = result["metrics"]["overall"]
    summary = {name: round(overall[name]["mean"], 4) for name in ("score", *HEADLINE_METRICS)}
    print(json.dumps({"out": str(args.out), "edits": result["benchmark"]["edits"], **summary}))
    return 0
