"""`python -m evaluator editor train`: train a learned editor (MEND, SERAC) on a benchmark's
train split for one model and store it beside its card (docs/editors.md, Learned editors).

A run (`python -m evaluator run`, the worker) loads the matching trained editor, or trains it
first; this command does the training ahead of time, e.g. before queueing baselines.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from evaluator.editors.base import ConfigError


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="action", required=True)
    train = commands.add_parser(
        "train", help="train a learned editor on a benchmark's train split and store it"
    )
    train.add_argument("--editor", required=True, help="a learned editor: mend or serac")
    train.add_argument("--model", required=True, help="hub id or local folder of the model")
    train.add_argument("--revision", default=None, help="hub commit or branch (default: main)")
    train.add_argument("--benchmark", required=True, help="benchmark folder or hub id")
    train.add_argument("--config", type=Path, default=None, help="editor config, YAML or JSON file")
    train.add_argument(
        "--force", action="store_true", help="train again even if a matching editor is stored"
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def learned_editor_names() -> list[str]:
    """The registered editors that are trained before they edit."""
    from evaluator.editors.registry import editor_names, get_editor
    from evaluator.editors.trained import TrainedEditor

    return [name for name in editor_names() if issubclass(get_editor(name), TrainedEditor)]


def train_editor(
    editor: str,
    model: str,
    benchmark: str,
    *,
    config_text: str | None = None,
    revision: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train (or find) the editor for the model on the benchmark's train split; returns its
    card plus `folder` and `trained_now`. Raises ConfigError or ValueError on a bad request."""
    from evaluator.benchmark import load_benchmark
    from evaluator.editors.registry import get_editor, parse_editor_config
    from evaluator.editors.trained import (
        CARD,
        SplitCases,
        folder_for,
        training_config,
        training_progress,
    )
    from evaluator.models import load_vlm

    editor_class = get_editor(editor)
    if editor not in learned_editor_names():
        raise ConfigError(
            f"editor {editor!r} needs no training; the learned editors are {learned_editor_names()}"
        )
    config = parse_editor_config(editor, config_text)
    adapter = load_vlm(model, revision=revision)
    config.check_for_model(adapter.num_layers)
    cases = SplitCases(load_benchmark(benchmark, "train"))
    folder = folder_for(
        editor, training_config(config, editor_class.training_fields), adapter, cases
    )
    existed = (folder / CARD).exists()
    if existed and force:
        shutil.rmtree(folder)
    with training_progress(progress):
        editor_class(adapter, config, train_cases=cases, seed=0)  # trains, or loads the match
    card = json.loads((folder / CARD).read_text())
    return card | {"folder": str(folder), "trained_now": force or not existed}


def main(args: argparse.Namespace) -> int:
    config_text = None
    if args.config is not None:
        try:
            config_text = args.config.read_text(encoding="utf-8")
        except OSError as err:
            print(f"error: cannot read editor config {args.config}: {err}", file=sys.stderr)
            return 2
    from evaluator.benchmark import BenchmarkLoadError

    try:
        card = train_editor(
            args.editor,
            args.model,
            args.benchmark,
            config_text=config_text,
            revision=args.revision,
            force=args.force,
            progress=not args.no_progress,
        )
    except ConfigError as err:
        print(f"error: bad editor or config: {err}", file=sys.stderr)
        return 2
    except (ValueError, BenchmarkLoadError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verb = "trained" if card["trained_now"] else "already trained (loaded)"
    print(
        f"{args.editor} {verb}: {card['training_steps']} steps, "
        f"{card['training_seconds']:.1f} s; stored in {card['folder']}",
        file=sys.stderr,
    )
    summary = {k: card[k] for k in ("folder", "trained_now", "training_steps", "training_seconds")}
    print(json.dumps(summary | {"metrics": card.get("metrics", {})}))
    return 0
