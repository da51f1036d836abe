"""What the UI needs from the store, in one object: results, requests, submit, status line;
and the launch settings that keep the app's file routes to the downloads folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from evaluator import paths
from evaluator.limits import UPLOAD_MAX_BYTES, models_root
from leaderboard.bootstrap import BootstrapStatus


class LeaderboardService:
    """Read and write access to one store for the app's callbacks."""

    def __init__(self, store: Any, status: BootstrapStatus | None = None) -> None:
        self.store = store
        self.status = status

    def results(self) -> list[Any]:
        return self.store.results()

    def results_version(self) -> str:
        """Changes whenever the set of finished results changes."""
        return self.store.results_version()

    def requests(self) -> list[Any]:
        return self.store.list_requests()

    def submit(self, form: dict[str, Any]) -> str:
        """Validate and queue `form`; the success message names the request key and the
        queue position. A refusal raises SubmissionError(field, message)."""
        from submissions import submit

        row = submit(self.store, form)
        position = self.store.queue_position(row.id)
        place = f"position {position} in the queue" if position else f"state {row.state}"
        return (
            f"✅ Request #{row.id} queued ({place}).\n\n"
            f"Request key: `{row.request_key}` · pinned revision `{row.record.revision}`"
        )

    def status_line(self) -> str:
        counts = Counter(str(row.state) for row in self.requests())
        if self.status is None:
            parts = [f"{n} {state.lower()}" for state, n in sorted(counts.items())]
            return "Queue: " + (", ".join(parts) if parts else "empty")
        return self.status.line(dict(sorted(counts.items())))


def launch_kwargs(store_url: str | None = None) -> dict[str, Any]:
    """allowed_paths: only the downloads folder; blocked: the benchmark, models and store;
    uploads: none (the app has no upload field; evaluator.limits.UPLOAD_MAX_BYTES)."""
    downloads = paths.downloads_dir()
    downloads.mkdir(parents=True, exist_ok=True)
    blocked = [paths.benchmark_dir(), paths.home() / "models", models_root()]
    url = store_url or paths.store_url()
    if url.startswith("sqlite:///"):
        blocked.append(Path(url.removeprefix("sqlite:///")).resolve())
    return {
        "allowed_paths": [str(downloads)],
        "blocked_paths": [str(p) for p in blocked],
        "show_error": False,
        "max_file_size": UPLOAD_MAX_BYTES,
    }
