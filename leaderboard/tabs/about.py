"""The About tab: the benchmark, its metrics and the data manifest."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from leaderboard import about

__all__ = ["build_about_tab", "wire_about"]


def build_about_tab(manifest_path: Path | None) -> gr.Markdown:
    with gr.Tab("About", id="about"):
        return gr.Markdown(about.about_markdown(manifest_path))


def wire_about(app: gr.Blocks, about_text: gr.Markdown, manifest_path: Path | None) -> None:
    """Each page load reads the manifest again."""
    app.load(lambda: about.about_markdown(manifest_path), None, about_text, api_name=False)
