"""MultiMedEdit leaderboard: `python app.py` serves the Gradio app on 127.0.0.1:7860.

On a fresh machine it builds what is missing (benchmark, zoo models) in the background,
queues the baseline submissions and runs an in-process worker, so rows appear as results land.

As a Hugging Face Space (`python app.py` with no arguments) the defaults come from the
environment: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (set by the Space) for the interface and
port, and MME_SERVE_ONLY=1 for --no-build --no-worker (the store is the external
MME_STORE_URL; the GPU workers evaluate). See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def env_flag(name: str) -> bool:
    """True when the environment variable is set to 1/true/yes (any case)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def build_parser() -> argparse.ArgumentParser:
    serve_only = env_flag("MME_SERVE_ONLY")
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Serve the MultiMedEdit leaderboard; on first start build the benchmark and "
        "zoo models, queue the baselines and evaluate them in-process.",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="interface to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        help="port to listen on (default: $GRADIO_SERVER_PORT or 7860)",
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        default=serve_only,
        help="do not evaluate requests in this process (workers run elsewhere; default when "
        "MME_SERVE_ONLY=1)",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        default=serve_only,
        help="do not build missing data nor queue baselines; serve what the store holds "
        "(default when MME_SERVE_ONLY=1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small benchmark, short zoo training, baselines on few cases: first rows in minutes",
    )
    parser.add_argument(
        "--medmnist-root",
        default=None,
        help="folder of MedMNIST .npz files "
        "(default: $MME_MEDMNIST_ROOT or ../shared/data/medmnist)",
    )
    parser.add_argument(
        "--home", default=None, help="run-time data folder (default: $MME_HOME or ./data)"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="SQLAlchemy URL of the store (default: $MME_STORE_URL or <home>/store.db)",
    )
    parser.add_argument(
        "--models-root",
        default=None,
        help="folder whose sub-folders the Submit form accepts as local models "
        "(default: $MME_MODELS_ROOT or <home>/models)",
    )
    parser.add_argument("--refresh-s", type=float, default=5.0, help="seconds between UI refreshes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.home:
        os.environ["MME_HOME"] = str(Path(args.home).resolve())
    if args.store:
        os.environ["MME_STORE_URL"] = args.store
    if args.models_root:
        os.environ["MME_MODELS_ROOT"] = str(Path(args.models_root).resolve())
    if args.medmnist_root:
        os.environ["MME_MEDMNIST_ROOT"] = str(Path(args.medmnist_root).resolve())
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from backend.bootstrap import BootstrapOptions, start_in_background
    from backend.checks import EvaluatorChecks
    from backend.gallery import PublicCaseLibrary
    from contract import paths
    from evaluator.editors.registry import editor_names
    from leaderboard.cases import Gallery
    from leaderboard.service import LeaderboardService, launch_kwargs
    from leaderboard.ui import build_service_ui
    from submissions import Store

    paths.home().mkdir(parents=True, exist_ok=True)
    store = Store(paths.store_url())
    editor_names()  # import every editor (torch, transformers, peft) before any thread starts
    status, stop = None, None
    if not args.no_build:
        options = BootstrapOptions(
            medmnist_root=paths.medmnist_root(), quick=args.quick, worker=not args.no_worker
        )
        status, stop, _ = start_in_background(store, options)
    service = LeaderboardService(store, status, checks=EvaluatorChecks())
    app = build_service_ui(
        service,
        manifest_path=paths.benchmark_dir() / paths.MANIFEST,
        refresh_s=args.refresh_s,
        gallery=Gallery.at(PublicCaseLibrary(paths.benchmark_dir()), paths.gallery_dir()),
    )
    try:
        app.launch(server_name=args.host, server_port=args.port, **launch_kwargs(paths.store_url()))
    finally:
        if stop is not None:
            stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
