"""The submission form, declared once: each field's name (the API key), label, help, length
limit and handling. Validation (submissions.validation), the store's columns
(submissions.schema), the app's Submit tab and its API read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.limits import (
    FIELD_MAX_CHARS,
    MODEL_ID_STORED_MAX_CHARS,
    SETTINGS_STORED_MAX_CHARS,
)


@dataclass(frozen=True)
class FormField:
    """One field of the form. `max_chars` is checked after control characters are stripped;
    `multiline` fields keep newlines and tabs; `nfc` fields are put in Unicode NFC form (paths
    and the config text stay byte-exact); `label` and `help` are what the app shows;
    `stored_max` is the width of the field's store column where the stored value is not the
    typed text (the resolved model identity, the joined settings)."""

    name: str
    label: str
    help: str
    required: bool = False
    multiline: bool = False
    nfc: bool = True
    stored_max: int | None = None

    @property
    def stored_chars(self) -> int:
        """The width of the field's column in the store."""
        width = self.stored_max or self.max_chars
        assert width is not None, self.name
        return width

    @property
    def max_chars(self) -> int | None:
        """The text limit (None for `settings`, a list bounded by SETTINGS_MAX_ITEMS)."""
        return FIELD_MAX_CHARS.get(self.name)


FORM: tuple[FormField, ...] = (
    FormField(
        "model_id",
        "Model",
        "A Hugging Face hub id (org/name) pinned to a commit, or a model served from the models "
        "root; image-text-to-text, safetensors weights, no remote code.",
        required=True,
        nfc=False,
        stored_max=MODEL_ID_STORED_MAX_CHARS,
    ),
    FormField(
        "revision",
        "Revision",
        "Commit, tag or branch; it is resolved and pinned to a commit (empty: main).",
        nfc=False,
    ),
    FormField(
        "model_type",
        "Model type",
        "general: a general-purpose VLM; medical: adapted to medicine.",
        required=True,
    ),
    FormField(
        "editor",
        "Editor",
        "A registered knowledge editor; choosing one fills its config with the defaults.",
        required=True,
    ),
    FormField(
        "editor_config",
        "Editor config (YAML)",
        "YAML (or JSON): field: value. Missing fields take the defaults below.",
        multiline=True,
        nfc=False,
    ),
    FormField(
        "settings",
        "Settings",
        "single: each case edited alone, model restored; lifelong: edits accumulate.",
        required=True,
        stored_max=SETTINGS_STORED_MAX_CHARS,
    ),
    FormField(
        "submitter", "Submitter", "Your name or handle, shown on the leaderboard.", required=True
    ),
    FormField(
        "organisation",
        "Organisation",
        "Counts towards the per-organisation quota.",
        required=True,
    ),
    FormField(
        "contact",
        "Contact",
        "An email, a URL or a handle, to reach you about this run (not shown).",
        required=True,
    ),
    FormField(
        "description",
        "Description",
        "Optional: what is special about this run.",
        multiline=True,
    ),
    FormField("link", "Link", "Optional: paper or code, http(s)."),
)

FORM_FIELDS = tuple(f.name for f in FORM)  # the API's positional order
FORM_BY_NAME = {f.name: f for f in FORM}
FORM_HELP = {f.name: f.help for f in FORM}
TEXT_FIELDS = tuple(f.name for f in FORM if f.max_chars is not None)
REQUIRED = tuple(f.name for f in FORM if f.required)
MULTILINE_FIELDS = tuple(f.name for f in FORM if f.multiline)
NFC_FIELDS = tuple(f.name for f in FORM if f.nfc and f.max_chars is not None)
