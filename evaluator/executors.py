"""Where an evaluation runs: in the worker's process (local) or as a Ray task (scale-out).
Either way the result dict comes back to the worker, which alone writes the store."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

Progress = Callable[[int, int], None]
# evaluate(spec, progress=...) -> result dict; evaluator.run.run_evaluation by default
Evaluate = Callable[..., dict[str, Any]]


class Executor(Protocol):
    """Runs one (request, setting) evaluation and returns its result JSON."""

    def run(self, spec: Any, progress: Progress) -> dict[str, Any]: ...

    def close(self) -> None: ...


def default_evaluate(spec: Any, progress: Progress | None = None) -> dict[str, Any]:
    """The real evaluator, imported on use so that the worker starts without torch."""
    from evaluator.run import run_evaluation

    return run_evaluation(spec, progress=progress)


class LocalExecutor:
    """Runs the evaluation in the calling process (the default; what app.py uses)."""

    def __init__(self, evaluate: Evaluate | None = None) -> None:
        self.evaluate = evaluate or default_evaluate

    def run(self, spec: Any, progress: Progress) -> dict[str, Any]:
        return self.evaluate(spec, progress=progress)

    def close(self) -> None:
        return None


def _ray_task(evaluate: Evaluate, spec: Any) -> dict[str, Any]:
    return evaluate(spec, progress=None)


class RayExecutor:
    """Each run is one Ray task with `num_gpus` GPUs, on the cluster at `address` or on a
    local instance (2 CPUs, no dashboard, bound to 127.0.0.1). Progress is per setting:
    0 of n when sent, n of n when the result comes back."""

    def __init__(
        self,
        address: str | None = None,
        *,
        num_gpus: float | None = None,
        num_cpus: int = 2,
        evaluate: Evaluate | None = None,
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
        self._remote = ray.remote(num_gpus=num_gpus, max_retries=0)(_ray_task)

    def run(self, spec: Any, progress: Progress) -> dict[str, Any]:
        import ray

        try:
            result = ray.get(self._remote.remote(self.evaluate, spec))
        except ray.exceptions.RayTaskError as err:
            # Raise the task's own exception; the chained RayTaskError keeps the remote traceback.
            cause = getattr(err, "cause", None)
            if isinstance(cause, Exception):
                raise cause from err
            raise
        cases = (result.get("benchmark") or {}).get("cases")
        if isinstance(cases, int):
            progress(cases, cases)
        return result

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
    """`kind` is "local" or "ray"."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(ray_address, num_gpus=num_gpus)
    raise ValueError(f"unknown executor {kind!r}; choose 'local' or 'ray'")
