"""The Submit tab: the submission form, an editor's config defaults and help."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from contract.checks import EditorCatalog
from contract.form import FORM_BY_NAME, FORM_HELP
from contract.names import MODEL_TYPES, SETTINGS

__all__ = ["NO_EDITORS", "SubmitTab", "build_submit_tab"]


class _NoEditors:
    """The catalog of an app started without submission checks: no editor to choose."""

    def editor_names(self) -> list[str]:
        return []

    def defaults_yaml(self, editor: str) -> str:
        return ""

    def help_markdown(self, editor: str) -> str:
        return ""


NO_EDITORS: EditorCatalog = _NoEditors()


def _textbox(name: str, **options: object) -> gr.Textbox:
    """A text field of the form, labelled and explained as contract.form declares it."""
    field = FORM_BY_NAME[name]
    return gr.Textbox(elem_id=f"form-{name}", label=field.label, info=field.help, **options)


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

    def wire(self, run_submit: Callable[..., str], catalog: EditorCatalog) -> None:
        """Choosing an editor fills its defaults and help; the button submits (API: submit)."""

        def pick_editor(editor: str) -> tuple[str, str]:
            names = catalog.editor_names()
            if editor not in names:
                return "", f"Unknown editor {editor!r}; choose one of {names}."
            return catalog.defaults_yaml(editor), catalog.help_markdown(editor)

        self.editor.change(
            pick_editor, self.editor, [self.editor_config, self.editor_help], api_name=False
        )
        self.submit_btn.click(run_submit, self.form, self.submit_msg, api_name="submit")


def build_submit_tab(catalog: EditorCatalog) -> SubmitTab:
    """The form, its fields as contract.form declares them; editors from `catalog`."""
    with gr.Tab("Submit", id="submit"), gr.Row():
        with gr.Column(scale=3):
            model = _model_column(catalog)
        with gr.Column(scale=2):
            submitter = _submitter_column()
    return SubmitTab(*model, *submitter)


def _model_column(catalog: EditorCatalog) -> tuple[gr.components.Component, ...]:
    """Model, revision, type, editor, its config and help, settings."""
    names = catalog.editor_names()
    first = names[0] if names else None
    model_id, revision = _textbox("model_id"), _textbox("revision")
    model_type = gr.Radio(
        list(MODEL_TYPES),
        value=MODEL_TYPES[0],
        label=FORM_BY_NAME["model_type"].label,
        info=FORM_HELP["model_type"],
    )
    editor = gr.Dropdown(
        names,
        value=first,
        label=FORM_BY_NAME["editor"].label,
        info=FORM_HELP["editor"],
        allow_custom_value=True,
    )
    editor_config = gr.Code(
        value=catalog.defaults_yaml(first) if first else "",
        language="yaml",
        label=FORM_BY_NAME["editor_config"].label,
        interactive=True,
    )
    editor_help = gr.Markdown(catalog.help_markdown(first) if first else "")
    settings = gr.CheckboxGroup(
        list(SETTINGS),
        value=list(SETTINGS),
        label=FORM_BY_NAME["settings"].label,
        info=FORM_HELP["settings"],
    )
    return model_id, revision, model_type, editor, editor_config, editor_help, settings


def _submitter_column() -> tuple[gr.components.Component, ...]:
    """Submitter, organisation, contact, description, link, the button and its message."""
    submitter, organisation, contact = (
        _textbox(name) for name in ("submitter", "organisation", "contact")
    )
    description, link = _textbox("description", lines=3), _textbox("link")
    submit_btn = gr.Button("Submit", variant="primary", elem_id="submit-button")
    submit_msg = gr.Markdown(elem_id="submit-message")
    return submitter, organisation, contact, description, link, submit_btn, submit_msg
