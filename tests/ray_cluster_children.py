"""The parts of the two-node Ray test that run outside pytest: the evaluate function Ray workers
import (stdlib imports only, so a Ray worker starts it fast), and the worker process the test
starts twice (`python -m tests.ray_cluster_children STORE_URL RAY_ADDRESS WORKER_ID`): the
same Worker and RayExecutor that `python -m evaluator worker --executor ray --ray-address ADDR`
builds, with this evaluate function instead of the real evaluator."""

from __future__ import annotations

import json
import os
import sys
import time


def _log(event: str, spec, node: str) -> None:
    """One line per start and end of a run, in the file the request's config names (the Ray
    worker processes run with their node's environment, not the test's)."""
    line = f"{event}|{spec.model}|{spec.setting}|{node}|{os.getpid()}|{time.time():.3f}\n"
    fd = os.open(_config(spec)["run_log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _config(spec) -> dict:
    """The request's config: the canonical JSON text the worker passes through."""
    return json.loads(spec.config)


def sleepy_evaluate(spec, progress=None) -> dict:
    """A run of the config's `sleep_s` seconds that records where it ran in its `run_log`."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    _log("start", spec, node)
    time.sleep(float(_config(spec).get("sleep_s", 1.0)))
    _log("end", spec, node)
    return {
        "setting": spec.setting,
        "benchmark": {"split": spec.split, "cases": 1},
        "metrics": {"overall": {"reliability": {"mean": 1.0, "ci95": [1.0, 1.0]}}},
        "node_id": node,
        "pid": os.getpid(),
    }


def ray_start(argv: list[str]) -> int:
    """`ray start ARGS` that keeps a node on 127.0.0.1. Ray's CLI refuses a second node unless
    multi-node clusters are enabled, and then replaces 127.0.0.1 (as a node address and as the
    head's address) by the machine's external address, where every Ray server then listens on
    all interfaces. Ray's own multi-node test harness (ray.cluster_utils) runs several nodes
    on 127.0.0.1 through the same Node class; this runs the real CLI with only that address
    rewrite turned off, so the node's servers listen on 127.0.0.1 alone."""
    import ray._private.services as services
    from ray.scripts.scripts import main as ray_main

    original = services.resolve_ip_for_localhost

    def keep_loopback(host: str) -> str:
        return host if host in ("127.0.0.1", "localhost") else original(host)

    services.resolve_ip_for_localhost = keep_loopback
    sys.argv = ["ray", "start", *argv]
    return ray_main()


def main(argv: list[str]) -> int:
    import logging
    import signal
    import threading

    from backend.executors import RayExecutor
    from backend.worker import Worker
    from submissions.store import Store

    store_url, address, worker_id = argv
    logging.basicConfig(level=logging.INFO, format=f"{worker_id} %(levelname)s %(message)s")
    store = Store(store_url)
    executor = RayExecutor(address, num_gpus=0, evaluate=sleepy_evaluate)
    worker = Worker(
        store, executor, benchmark="bench", worker_id=worker_id, lease_s=15, max_attempts=3
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{worker_id} ready", flush=True)
    try:
        worker.run_forever(stop, idle_s=0.5)
    finally:
        executor.close()
        store.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["ray-start"]:
        sys.exit(ray_start(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
