"""`python -m evaluator <command> ...`: each command lives in its own module, imported on use."""

from __future__ import annotations

import importlib
import sys

# command -> (module with build_parser(prog) and main(args), one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "benchmark": ("evaluator.benchmark.cli", "build MultiMedEdit-mini from MedMNIST files"),
    "model": ("evaluator.models.cli", "build and train a tiny zoo model"),
    "editors": ("evaluator.editors.cli", "list editors with their config fields"),
    "editor": ("evaluator.editors.train_cli", "train a learned editor (mend, serac) ahead of runs"),
    "run": ("evaluator.run_cli", "evaluate one editor on one model (single or lifelong)"),
    "worker": ("backend.worker_cli", "claim queued submissions and evaluate them"),
}


def usage() -> str:
    lines = ["usage: python -m evaluator <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines.append("\n`python -m evaluator <command> --help` shows a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = module.build_parser(f"python -m evaluator {name}")
    return int(module.main(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
