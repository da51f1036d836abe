"""Edit latency and peak memory: what the leaderboard reports beside the quality metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import psutil
import torch


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work so that a wall-clock reading covers it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def stopwatch(device: torch.device | str, into: list[float]) -> Iterator[None]:
    """Append the seconds spent in the block (GPU work included) to `into`."""
    synchronize(device)
    start = time.perf_counter()
    try:
        yield
    finally:
        synchronize(device)
        into.append(time.perf_counter() - start)


def latency_stats(seconds: Sequence[float]) -> dict[str, float | None]:
    """mean, p50 and p95 of a list of durations (all null when there is none)."""
    if not seconds:
        return {"mean": None, "p50": None, "p95": None}
    values = np.asarray(seconds, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
    }


class PeakMemory:
    """Peak memory of the run: torch.cuda.max_memory_allocated on a GPU, else the process RSS
    sampled by `sample()` (the protocols call it before and after every edit and scoring)."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.process = psutil.Process()
        self.peak_rss = 0
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self.sample()

    def sample(self) -> None:
        if self.device.type != "cuda":
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        self.sample()
        return self.peak_rss / 2**20
