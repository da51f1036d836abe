"""Helpers for the app and leaderboard tests: put real result JSONs into a real Store through
its own methods (add_request, claim, save_result, finish), and run the app on a free port."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from backend.checks import EvaluatorChecks
from submissions import Store, SubmissionRecord

SUBMITTED_AT = "2026-01-01T00:00:00+00:00"


def record_for(
    result: dict[str, Any], settings: Iterable[str], **overrides: Any
) -> SubmissionRecord:
    """The submission record a result came from (its model, revision, editor and config)."""
    values = {
        "model_id": result["model"]["id"],
        "revision": result["model"]["revision"],
        "model_type": "general",
        "editor": result["editor"]["name"],
        "editor_config": "",
        "config_hash": result["editor"]["config_hash"],
        "settings": tuple(s for s in ("single", "lifelong") if s in set(settings)),
        "submitter": "app tests",
        "organisation": "tests",
        "contact": "tests@example.org",
        "submitted_at": SUBMITTED_AT,
    }
    values.update(overrides)
    return SubmissionRecord(**values)


def store_results(store: Store, results: Iterable[dict[str, Any]], **overrides: Any) -> list[int]:
    """Queue, claim, save and finish one request per (model, editor, config) holding its
    results; returns the request ids."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        key = (result["model"]["id"], result["editor"]["name"], result["editor"]["config_hash"])
        groups[key].append(result)
    ids = []
    for group in groups.values():
        record = record_for(group[0], [r["setting"] for r in group], **overrides)
        row = store.add_request(record)
        claimed = store.claim("app-tests", lease_s=60)
        assert claimed is not None and claimed.id == row.id
        for result in group:
            store.save_result(row.id, "app-tests", result["setting"], result)
        store.finish(row.id, "app-tests")
        ids.append(row.id)
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Any, timeout_s: float = 30.0, every_s: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy; fail with its last value."""
    event = threading.Event()
    value = None
    waited = 0.0
    while waited < timeout_s:
        value = predicate()
        if value:
            return value
        event.wait(every_s)
        waited += every_s
    raise AssertionError(f"condition not met within {timeout_s} s; last value {value!r}")


@contextlib.contextmanager
def serve_app(store: Store, store_url: str, **ui_overrides: Any) -> Iterator[str]:
    """Launch the real UI over `store` on a free 127.0.0.1 port; yields its base URL (no
    trailing slash) and always closes the server."""
    from leaderboard.service import LeaderboardService, launch_kwargs
    from leaderboard.ui import build_service_ui

    service = LeaderboardService(store, checks=EvaluatorChecks())
    app = build_service_ui(service, **{"refresh_s": 1.0, **ui_overrides})
    port = free_port()
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        **launch_kwargs(store_url),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()
