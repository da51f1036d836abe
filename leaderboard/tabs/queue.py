"""The Queue tab: pending, running and the latest finished requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from leaderboard.queue_view import queue_frame

__all__ = ["build_queue_tab"]


def build_queue_tab(load_requests: Callable[[], list[Any]]) -> gr.Dataframe:
    """The queue's table, filled now (the refresh keeps it up to date)."""
    with gr.Tab("Queue", id="queue"):
        return gr.Dataframe(
            value=queue_frame(load_requests()),
            interactive=False,
            elem_id="queue-table",
            max_height=640,
            wrap=True,
        )
