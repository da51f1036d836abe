"""Where an evaluation runs: in the worker's process (local), in a child process per run
(process: killed at the wall-clock limit), or as a Ray task (scale-out). Either way the result
dict comes back to the worker, which alone writes the store. `cancel()` stops the current run
where the executor can (process, Ray); an in-process run stops at its next progress report."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contract.run_spec import RunSpec

Progress = Callable[[int, int], None]
# evaluate(spec, progress=...) -> result dict; evaluator.run.run_evaluation by default
Evaluate = Callable[..., dict[str, Any]]


class Executor(Protocol):
    """Runs one (request, setting) evaluation and returns its result JSON."""

    def run(self, spec: RunSpec, progress: Progress) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Cancellable(Protocol):
    """An executor that can stop the run in progress (called from another thread)."""

    def cancel(self) -> None: ...


def default_evaluate(spec: RunSpec, progress: Progress | None = None) -> dict[str, Any]:
    """The real evaluator, imported on use so that the worker starts without torch."""
    from evaluator.run import run_evaluation

    return run_evaluation(spec, progress=progress)


class LocalExecutor:
    """Runs the evaluation in the calling process (the default; what app.py uses)."""

    def __init__(self, evaluate: Evaluate | None = None) -> None:
        self.evaluate = evaluate or default_evaluate

    def run(self, spec: RunSpec, progress: Progress) -> dict[str, Any]:
        return self.evaluate(spec, progress=progress)

    def close(self) -> None:
        return None


class ProcessExecutor:
    """Each run in a fresh child process (spawned: no state shared with the worker), its
    progress relayed to the worker; `cancel()` kills it, so a run past the wall-clock limit
    frees its CPU, GPU and memory at once. `evaluate` must be importable by name."""

    def __init__(self, evaluate: Evaluate | None = None, *, kill_after_s: float = 10.0) -> None:
        self.evaluate = evaluate or default_evaluate
        self.kill_after_s = kill_after_s
        self._process: BaseProcess | None = None
        self._lock = threading.Lock()

    def run(self, spec: RunSpec, progress: Progress) -> dict[str, Any]:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_child_run, args=(self.evaluate, spec, send), name="mme-evaluation", daemon=True
        )
        with self._lock:
            process.start()
            self._process = process
        send.close()
        try:
            return _relay(receive, process, progress)
        finally:
            receive.close()
            self._stop(process)

    def cancel(self) -> None:
        with self._lock:
            process = self._process
        if process is not None:
            self._stop(process)

    def close(self) -> None:
        self.cancel()

    def _stop(self, process: BaseProcess) -> None:
        if process.is_alive():
            process.terminate()
            process.join(self.kill_after_s)
        if process.is_alive():
            process.kill()
        process.join(self.kill_after_s)


def _relay(receive: Connection, process: BaseProcess, progress: Progress) -> dict[str, Any]:
    """Forward the child's progress; return its result or raise its exception."""
    while True:
        try:
            kind, payload = receive.recv()
        except EOFError:
            process.join(1.0)
            raise RuntimeError(
                f"the evaluation process ended without a result (exit code {process.exitcode}); "
                "it was killed or ran out of memory"
            ) from None
        if kind == "progress":
            progress(*payload)
        elif kind == "result":
            return payload
        else:
            raise payload


def _child_run(evaluate: Evaluate, spec: RunSpec, send: Connection) -> None:
    """In the child: run the evaluation, sending progress, then the result or the error."""

    def progress(done: int, total: int) -> None:
        send.send(("progress", (done, total)))

    try:
        send.send(("result", evaluate(spec, progress=progress)))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the worker
        try:
            send.send(("error", err))
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled
            send.send(("error", RuntimeError(f"{type(err).__name__}: {err}"[:2000])))
    finally:
        send.close()


def _ray_task(evaluate: Evaluate, spec: RunSpec) -> dict[str, Any]:
    return evaluate(spec, progress=None)


class RayExecutor:
    """Each run is one Ray task with `num_gpus` GPUs, on the cluster at `address` or on a
    local instance (2 CPUs, no dashboard, bound to 127.0.0.1). Progress is per setting:
    0 of n when sent, n of n when the result comes back.

    A task whose Ray worker process or node dies is run again on another node, up to
    `max_retries` times (Ray's system-failure retries); an exception raised by the evaluation
    itself is never retried, and a task cancelled at the wall-clock limit is not retried."""

    def __init__(
        self,
        address: str | None = None,
        *,
        num_gpus: float | None = None,
        num_cpus: int = 2,
        evaluate: Evaluate | None = None,
        max_retries: int = 3,
    ) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports: offline
        if not address:
            # Ray reads this when imported: on Linux it then keeps a local node on 127.0.0.1.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        self._started_here = not ray.is_initialized()
        if self._started_here and address:
            ray.init(address=address, log_to_driver=False)
        elif self._started_here:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": _python_path()}},
            )
        if num_gpus is None:
            num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        self.num_gpus = num_gpus
        self.evaluate = evaluate or default_evaluate
        self.max_retries = max_retries
        self._remote = ray.remote(
            num_gpus=num_gpus, max_retries=max_retries, retry_exceptions=False
        )(_ray_task)
        self._current: Any = None

    def run(self, spec: RunSpec, progress: Progress) -> dict[str, Any]:
        import ray

        self._current = self._remote.remote(self.evaluate, spec)
        try:
            result = ray.get(self._current)
        except ray.exceptions.RayTaskError as err:
            # Raise the task's own exception; the chained RayTaskError keeps the remote traceback.
            cause = getattr(err, "cause", None)
            if isinstance(cause, Exception):
                raise cause from err
            raise
        finally:
            self._current = None
        cases = (result.get("benchmark") or {}).get("cases")
        if isinstance(cases, int):
            progress(cases, cases)
        return result

    def cancel(self) -> None:
        """Kill the task in progress (its ray.get then raises in the worker's run thread)."""
        import ray

        current = self._current
        if current is not None:
            ray.cancel(current, force=True)

    def close(self) -> None:
        """Shut down the Ray instance if this executor started it."""
        import ray

        if self._started_here and ray.is_initialized():
            ray.shutdown()


def _python_path() -> str:
    """The repository root first, so that Ray workers import this project's modules."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (root, rest) if p)


def make_executor(
    kind: str, *, ray_address: str | None = None, num_gpus: float | None = None
) -> Executor:
    """`kind` is "local", "process" or "ray"."""
    if kind == "local":
        return LocalExecutor()
    if kind == "process":
        return ProcessExecutor()
    if kind == "ray":
        return RayExecutor(ray_address, num_gpus=num_gpus)
    raise ValueError(f"unknown executor {kind!r}; choose 'local', 'process' or 'ray'")
