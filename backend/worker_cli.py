"""`python -m evaluator worker`: claim queued submissions and evaluate them on the hidden split."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from contract import paths


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Claim PENDING requests from the store (oldest first) and evaluate them.",
    )
    parser.add_argument("--once", action="store_true", help="run at most one request, then exit")
    parser.add_argument(
        "--executor",
        choices=("local", "process", "ray"),
        default="local",
        help="run evaluations in this process (local), in a child process per run that is killed "
        "at the wall-clock limit (process), or as Ray tasks (ray)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster address; default: start a local Ray instance",
    )
    parser.add_argument(
        "--num-gpus",
        type=float,
        default=None,
        help="GPUs per Ray task; default: 1 if the cluster has GPUs, else 0",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="SQLAlchemy URL of the store; default $MME_STORE_URL or MME_HOME/store.db",
    )
    parser.add_argument(
        "--benchmark",
        default=None,
        help="benchmark folder or hub dataset id; default MME_HOME's built benchmark",
    )
    parser.add_argument("--split", default="hidden", help="split to evaluate on (default hidden)")
    parser.add_argument(
        "--lease-s",
        type=float,
        default=60.0,
        help="lease length in seconds; the heartbeat renews it every third of it",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="attempts before a request whose worker vanished is marked FAILED",
    )
    parser.add_argument(
        "--idle-s",
        type=float,
        default=5.0,
        help="seconds to wait when the queue is empty (without --once)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="evaluate only the first N cases of each setting (smoke tests only: results are "
        "stored like full ones)",
    )
    parser.add_argument(
        "--run-timeout-s",
        type=float,
        default=None,
        help="wall-clock limit of one request in seconds, after which it is FAILED; default "
        "$MME_RUN_TIMEOUT_S, else 21600 (6 h) with a GPU and 7200 (2 h) without",
    )
    parser.add_argument("--worker-id", default=None, help="name of this worker in the store")
    return parser


def main(args: argparse.Namespace) -> int:
    from backend.executors import make_executor
    from backend.worker import Worker
    from submissions.store import Store

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = Store(args.store or paths.store_url())
    executor = make_executor(args.executor, ray_address=args.ray_address, num_gpus=args.num_gpus)
    worker = Worker(
        store,
        executor,
        benchmark=args.benchmark or str(paths.benchmark_dir()),
        split=args.split,
        lease_s=args.lease_s,
        max_attempts=args.max_attempts,
        worker_id=args.worker_id,
        limit=args.limit,
        run_timeout_s=args.run_timeout_s,
    )
    try:
        if args.once:
            worked = worker.run_once()
            if not worked:
                print("no PENDING request in the queue")
                return 0
            row = store.get_request(worker.last_request_id)
            print(f"request #{row.id}: {row.state}" + (f" ({row.error})" if row.error else ""))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        worker.run_forever(stop, idle_s=args.idle_s)
        return 0
    finally:
        executor.close()
        store.close()
