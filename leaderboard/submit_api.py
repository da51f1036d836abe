"""The Submit tab's handler and its public `submit` API endpoint: whatever a browser or a raw
HTTP client sends (too few or too many values, None, numbers, lists where text is expected),
the answer names the field to fix, is short, and stores nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

from contract.names import MODEL_TYPES, SETTINGS
from submissions import FORM_FIELDS, SubmissionError, form_from_values

if TYPE_CHECKING:
    from gradio.block_function import BlockFunction

log = logging.getLogger(__name__)


def format_submission_error(err: Exception) -> str:
    """The message shown under the form: the field and what to do; other errors by type only
    (their text may hold server details), logged in full for the operators."""
    field = getattr(err, "field", None)
    if field:
        return f"❌ **{field}**: {getattr(err, 'message', str(err))}"
    return (
        f"❌ The request could not be checked (internal error {type(err).__name__}); nothing was "
        "queued. Try again later or contact the maintainers."
    )


def check_raw_submit_values(values: list[Any]) -> None:
    """What Gradio's form components would otherwise reject with a generic error: the number
    of values, text fields that are not text, settings that are not a list of known settings
    and a model type that is not one of the choices. Empty values pass (the handler's message
    says they are required)."""
    form = form_from_values(values)
    for name, value in form.items():
        if name != "settings" and value is not None and not isinstance(value, str):
            raise SubmissionError(
                name, f"expected text, got {type(value).__name__}; send a string ('' if empty)"
            )
    settings = form["settings"]
    if not isinstance(settings, list) or not all(isinstance(s, str) for s in settings):
        raise SubmissionError(
            "settings",
            f"expected a list of setting names such as {list(SETTINGS)}, got "
            f"{type(settings).__name__}",
        )
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise SubmissionError(
            "settings", f"{len(unknown)} unknown setting(s); choose one or both of {SETTINGS}"
        )
    # Gradio's radio refuses "" with a generic error of its own: name the field here instead
    if form["model_type"] == "":
        raise SubmissionError("model_type", f"model_type is required; choose one of {MODEL_TYPES}")
    if form["model_type"] not in (None, *MODEL_TYPES):
        raise SubmissionError("model_type", f"not a model type; choose one of {MODEL_TYPES}")


def make_submit_handler(submit: Callable[[dict[str, Any]], str]) -> Callable[..., str]:
    """The click handler: one value per FORM_FIELDS entry in, the success or refusal message
    out; it never raises."""

    def run_submit(*values: object) -> str:
        try:
            form = form_from_values(list(values))
            if isinstance(form["settings"], (list, tuple)):
                form["settings"] = list(form["settings"])
            return submit(form)
        except SubmissionError as err:
            return format_submission_error(err)
        except Exception as err:  # noqa: BLE001 - every failure is shown next to the form
            log.exception("submit handler failed")
            return format_submission_error(err)

    return run_submit


class CheckedBlocks(gr.Blocks):
    """gr.Blocks whose registered handlers get their raw values checked before Gradio's
    components process them (`checked(fn, check)`): a failed check answers with the field to
    fix instead of Gradio's generic 'error: null'."""

    def checked(self, fn: Callable[..., Any], check: Callable[[list[Any]], None]) -> None:
        self._raw_checks = {**getattr(self, "_raw_checks", {}), fn: check}

    def validate_inputs(self, block_fn: BlockFunction, inputs: list[Any]) -> None:
        check = getattr(self, "_raw_checks", {}).get(block_fn.fn)
        if check is not None:
            try:
                check(inputs)
            except SubmissionError as err:
                raise gr.Error(format_submission_error(err), print_exception=False) from None
        super().validate_inputs(block_fn, inputs)


__all__ = [
    "FORM_FIELDS",
    "CheckedBlocks",
    "check_raw_submit_values",
    "format_submission_error",
    "make_submit_handler",
]
