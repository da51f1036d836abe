"""The Submit tab: the submission form, an editor's config defaults and help."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
import yaml

from contract.names import SETTINGS

__all__ = [
    "FORM_HELP",
    "SubmitTab",
    "build_submit_tab",
    "editor_defaults_yaml",
    "editor_help_markdown",
]

FORM_HELP = {
    "model_id": "A Hugging Face hub id (org/name) pinned to a commit, or a model served from the "
    "models root; image-text-to-text, safetensors weights, no remote code.",
    "revision": "Commit, tag or branch; it is resolved and pinned to a commit (empty: main).",
    "model_type": "general: a general-purpose VLM; medical: adapted to medicine.",
    "editor": "A registered knowledge editor; choosing one fills its config with the defaults.",
    "editor_config": "YAML (or JSON): field: value. Missing fields take the defaults below.",
    "settings": "single: each case edited alone, model restored; lifelong: edits accumulate.",
    "submitter": "Your name or handle, shown on the leaderboard.",
    "organisation": "Counts towards the per-organisation quota.",
    "contact": "An email, a URL or a handle, to reach you about this run (not shown).",
    "description": "Optional: what is special about this run.",
    "link": "Optional: paper or code, http(s).",
}


def editor_defaults_yaml(editor: str) -> str:
    """The editor's config fields with their defaults, as YAML for the form."""
    from evaluator.editors.registry import get_editor

    fields = get_editor(editor).config_class.describe()
    return yaml.safe_dump(
        {f["name"]: _plain(f["default"]) for f in fields}, sort_keys=False, allow_unicode=True
    )


def editor_help_markdown(editor: str) -> str:
    """One line per config field: name, type, default, allowed range and help."""
    from evaluator.editors.registry import get_editor

    lines = [f"**{editor}** config fields:", ""]
    for f in get_editor(editor).config_class.describe():
        allowed = f", range `{f['range']}`" if "range" in f else ""
        lines.append(
            f"- `{f['name']}` ({f['type']}, default `{_plain(f['default'])}`{allowed}): {f['help']}"
        )
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(eq=False)
class SubmitTab:
    model_id: gr.Textbox
    revision: gr.Textbox
    model_type: gr.Radio
    editor: gr.Dropdown
    editor_config: gr.Code
    editor_help: gr.Markdown
    settings: gr.CheckboxGroup
    submitter: gr.Textbox
    organisation: gr.Textbox
    contact: gr.Textbox
    description: gr.Textbox
    link: gr.Textbox
    submit_btn: gr.Button
    submit_msg: gr.Markdown

    @property
    def form(self) -> list[gr.components.Component]:
        """The form's inputs, in the order of FORM_FIELDS (the submit handler's arguments)."""
        return [
            self.model_id, self.revision, self.model_type, self.editor, self.editor_config,
            self.settings, self.submitter, self.organisation, self.contact, self.description,
            self.link,
        ]  # fmt: skip

    def wire(self, run_submit: Callable[..., str], editor_names: Callable[[], list[str]]) -> None:
        """Choosing an editor fills its defaults and help; the button submits (API: submit)."""

        def pick_editor(editor):
            if editor not in editor_names():
                return "", f"Unknown editor {editor!r}; choose one of {editor_names()}."
            return editor_defaults_yaml(editor), editor_help_markdown(editor)

        self.editor.change(
            pick_editor, self.editor, [self.editor_config, self.editor_help], api_name=False
        )
        self.submit_btn.click(run_submit, self.form, self.submit_msg, api_name="submit")


def build_submit_tab(editor_names: Callable[[], list[str]]) -> SubmitTab:
    with gr.Tab("Submit", id="submit"):
        names = editor_names()
        with gr.Row():
            with gr.Column(scale=3):
                model = _model_column(names)
            with gr.Column(scale=2):
                submitter = _submitter_column()
    return SubmitTab(*model, *submitter)


def _model_column(names: list[str]) -> tuple[gr.components.Component, ...]:
    """Model, revision, type, editor, its config and help, settings."""
    model_id = gr.Textbox(elem_id="form-model_id", label="Model", info=FORM_HELP["model_id"])
    revision = gr.Textbox(elem_id="form-revision", label="Revision", info=FORM_HELP["revision"])
    model_type = gr.Radio(
        ["general", "medical"], value="general", label="Model type", info=FORM_HELP["model_type"]
    )
    editor = gr.Dropdown(
        names,
        value=names[0] if names else None,
        label="Editor",
        info=FORM_HELP["editor"],
        allow_custom_value=True,
    )
    editor_config = gr.Code(
        value=editor_defaults_yaml(names[0]) if names else "",
        language="yaml",
        label="Editor config (YAML)",
        interactive=True,
    )
    editor_help = gr.Markdown(editor_help_markdown(names[0]) if names else "")
    settings = gr.CheckboxGroup(
        list(SETTINGS), value=list(SETTINGS), label="Settings", info=FORM_HELP["settings"]
    )
    return model_id, revision, model_type, editor, editor_config, editor_help, settings


def _submitter_column() -> tuple[gr.components.Component, ...]:
    """Submitter, organisation, contact, description, link, the button and its message."""
    submitter = gr.Textbox(elem_id="form-submitter", label="Submitter", info=FORM_HELP["submitter"])
    organisation = gr.Textbox(
        elem_id="form-organisation", label="Organisation", info=FORM_HELP["organisation"]
    )
    contact = gr.Textbox(elem_id="form-contact", label="Contact", info=FORM_HELP["contact"])
    description = gr.Textbox(
        elem_id="form-description", label="Description", lines=3, info=FORM_HELP["description"]
    )
    link = gr.Textbox(elem_id="form-link", label="Link", info=FORM_HELP["link"])
    submit_btn = gr.Button("Submit", variant="primary", elem_id="submit-button")
    submit_msg = gr.Markdown(elem_id="submit-message")
    return submitter, organisation, contact, description, link, submit_btn, submit_msg
