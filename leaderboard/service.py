"""What the UI needs from the store, in one object: the board's narrow rows (and full results
only for a row's detail and the all-results CSV), requests, submit, status line; and the
launch settings that keep the app's file routes to the downloads folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from contract import paths
from contract.checks import SubmissionChecks
from contract.limits import UPLOAD_MAX_BYTES, models_root
from contract.status import StatusLine
from submissions import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    BoardRows,
    RequestRow,
    ResultRow,
    Store,
    SubmissionError,
    submit,
)

# the queue tab lists every pending and running request and this many of the latest others
RECENT_DONE_REQUESTS = 200


class LeaderboardService:
    """Read and write access to one store for the app's callbacks."""

    def __init__(
        self,
        store: Store,
        status: StatusLine | None = None,
        checks: SubmissionChecks | None = None,
    ) -> None:
        """`checks` validate submissions (backend.checks.EvaluatorChecks); without them the
        app serves the board and refuses submissions."""
        self.store = store
        self.status = status
        self.checks = checks

    def results(self, result_ids: Iterable[int] | None = None) -> list[ResultRow]:
        """Full results (every result JSON parsed): the all-results CSV, incrementally."""
        return self.store.results(result_ids)

    def results_version(self) -> str:
        """Changes whenever the set of finished results changes."""
        return self.store.results_version()

    def board(self, result_ids: Iterable[int] | None = None) -> BoardRows:
        """The board's narrow rows (Store.board_rows): no result JSON parsed."""
        return self.store.board_rows(result_ids)

    def board_curves(self, result_ids: Iterable[int] | None = None) -> dict[int, list[Any]]:
        """result id -> stored lifelong curve (Store.board_curves)."""
        return self.store.board_curves(result_ids)

    def visible_result_ids(self) -> list[int]:
        return self.store.visible_result_ids()

    def result(self, request_id: int, setting: str) -> ResultRow | None:
        """One full result, for a board row's detail."""
        return self.store.get_result(request_id, setting)

    def requests(self) -> list[RequestRow]:
        """Every pending and running request, and the latest finished, failed or cancelled
        ones (the queue tab; reading every request of a large store on each refresh is not)."""
        active = self.store.list_requests([PENDING, RUNNING])
        done = self.store.recent_requests([FINISHED, FAILED, CANCELLED], RECENT_DONE_REQUESTS)
        return sorted([*active, *done], key=lambda r: (r.created_at, r.id))

    def submit(self, form: dict[str, Any]) -> str:
        """Validate and queue `form`; the success message names the request key and the
        queue position. A refusal raises SubmissionError(field, message)."""
        if self.checks is None:
            raise SubmissionError("form", "this app was started without submission checks")
        row = submit(self.store, form, checks=self.checks)
        position = self.store.queue_position(row.id)
        place = f"position {position} in the queue" if position else f"state {row.state}"
        return (
            f"✅ Request #{row.id} queued ({place}).\n\n"
            f"Request key: `{row.request_key}` · pinned revision `{row.record.revision}`"
        )

    def status_line(self) -> str:
        counts = self.store.count_by_state()
        if self.status is None:
            parts = [f"{n} {state.lower()}" for state, n in sorted(counts.items())]
            return "Queue: " + (", ".join(parts) if parts else "empty")
        return self.status.line(dict(sorted(counts.items())))


def launch_kwargs(store_url: str | None = None) -> dict[str, Any]:
    """allowed_paths: only the downloads folder; blocked: the benchmark, models and store;
    uploads: none (the app has no upload field; contract.limits.UPLOAD_MAX_BYTES)."""
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
