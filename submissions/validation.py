"""Everything a submission must pass before it is stored; each failure names the form field.

Form keys (FORM_FIELDS, in the order of the app's form and API): model_id, revision (optional),
model_type, editor, editor_config (YAML/JSON text, optional), settings (a list or a
comma-separated string), submitter, organisation, contact, description (optional), link
(optional). Every limit comes from `contract.limits`.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from contract.checks import CanonicalConfig, FieldError, PinnedModel, SubmissionChecks
from contract.form import (
    FORM_BY_NAME,
    FORM_FIELDS,
    MULTILINE_FIELDS,
    NFC_FIELDS,
    REQUIRED,
    TEXT_FIELDS,
)
from contract.limits import (
    ERROR_MAX_CHARS,
    MAX_PARAMETERS,
    MODEL_ID_STORED_MAX_CHARS,
    SETTINGS_MAX_ITEMS,
    clip,
    models_root,
    shorten,
)
from contract.names import MODEL_TYPES, SETTINGS
from contract.safe_yaml import ConfigError
from submissions.quotas import Quota, QuotaExceededError
from submissions.record import SubmissionRecord
from submissions.store import DuplicateRequestError, RequestRow, Store, utc_now

MAX_LENGTHS = {name: FORM_BY_NAME[name].max_chars for name in TEXT_FIELDS}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
HANDLE = re.compile(r"^@?[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


class SubmissionError(ValueError):
    """A refused submission: `field` is the form field to fix, the message says how."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = shorten(message, ERROR_MAX_CHARS)
        super().__init__(f"{field}: {self.message}")


@dataclasses.dataclass(frozen=True)
class SubmissionLimits:
    """Configurable limits: the largest model accepted, the per-organisation quota, and the
    folder whose sub-folders are served local models (None: `contract.limits.models_root()`,
    i.e. $MME_MODELS_ROOT or MME_HOME/models)."""

    max_parameters: int = MAX_PARAMETERS
    quota: Quota = Quota()
    models_root: Path | None = None


def form_from_values(values: Sequence[Any]) -> dict[str, Any]:
    """The form from positional values in FORM_FIELDS order (the app's API); wrong arity is a
    SubmissionError under `form` that lists the fields."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SubmissionError(
            "form", f"expected a list of {len(FORM_FIELDS)} values, got {type(values).__name__}"
        )
    if len(values) != len(FORM_FIELDS):
        raise SubmissionError(
            "form",
            f"expected {len(FORM_FIELDS)} values, one per field in this order: "
            f"{', '.join(FORM_FIELDS)}; got {len(values)}. Send '' for an optional field",
        )
    return dict(zip(FORM_FIELDS, values, strict=True))


def precheck_form(form: object) -> tuple[dict[str, str], tuple[str, ...]]:
    """The checks that need neither the model nor the editor registry: the form is a mapping
    of known fields, every text field is text within its length, required fields are filled,
    the settings and model type are valid. Returns (cleaned text fields, settings)."""
    if not isinstance(form, Mapping):
        raise SubmissionError(
            "form", f"expected a mapping of field -> value, got {type(form).__name__}"
        )
    unknown = [key for key in form if key not in FORM_FIELDS]
    if unknown:
        raise SubmissionError(
            "form",
            f"unknown field(s) {', '.join(clip(k, 40) for k in unknown[:3])}; the fields are "
            f"{', '.join(FORM_FIELDS)}",
        )
    text = {name: _clean_text(name, form.get(name)) for name in MAX_LENGTHS}
    for name in REQUIRED:
        if name != "settings" and not text[name]:
            raise SubmissionError(name, f"{name} is required; fill it in")
    settings = _settings(form.get("settings"))
    if text["model_type"] not in MODEL_TYPES:
        raise SubmissionError(
            "model_type",
            f"{clip(text['model_type'], 40)} is not a model type; choose one of {MODEL_TYPES}",
        )
    return text, settings


def validate_submission(
    form: Mapping[str, Any],
    *,
    checks: SubmissionChecks,
    limits: SubmissionLimits | None = None,
    now: datetime | None = None,
) -> SubmissionRecord:
    """Check every field of `form` and return the frozen record with the model under its
    canonical identity, the revision pinned and the editor config in canonical form.

    `checks` pins the model and canonicalises the config (backend.checks.EvaluatorChecks).
    Raises SubmissionError(field, message) at the first failure.
    """
    limits = limits or SubmissionLimits()
    text, settings = precheck_form(form)
    resolved = _resolve(text["model_id"], text["revision"] or None, checks, limits)
    _check_size(resolved, limits)
    config = _check_editor(text["editor"], text["editor_config"], resolved, checks)
    if text["link"]:
        _check_link(text["link"])
    _check_contact(text["contact"])

    return SubmissionRecord(
        model_id=resolved.model_id,
        revision=resolved.revision,
        model_type=text["model_type"],
        editor=text["editor"],
        editor_config=config.text,
        config_hash=config.config_hash,
        settings=settings,
        submitter=text["submitter"],
        organisation=text["organisation"],
        contact=text["contact"],
        description=text["description"],
        link=text["link"],
        submitted_at=(now or utc_now()).isoformat(timespec="seconds"),
        num_parameters=resolved.num_parameters,
    )


def submit(
    store: Store,
    form: Mapping[str, Any],
    *,
    checks: SubmissionChecks,
    limits: SubmissionLimits | None = None,
    now: datetime | None = None,
) -> RequestRow:
    """Validate `form`, then in one transaction refuse duplicates and over-quota requests and
    insert the PENDING row. A refusal raises SubmissionError and leaves no row."""
    limits = limits or SubmissionLimits()
    now = now or store.clock()
    record = validate_submission(form, checks=checks, limits=limits, now=now)
    try:
        return store.add_request(record, quota=limits.quota, now=now)
    except DuplicateRequestError as err:
        raise SubmissionError("request", str(err)) from None
    except QuotaExceededError as err:
        raise SubmissionError(err.field, str(err)) from None


def _clean_text(name: str, value: object) -> str:
    """Strip control characters (newlines and tabs kept in multi-line fields), put the text in
    NFC form where that is safe, and check its length."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SubmissionError(
            name, f"expected text, got {type(value).__name__}; send a string ('' if empty)"
        )
    limit = MAX_LENGTHS[name]
    if len(value) > 4 * limit + 1_000:  # far too long: refuse before scanning it
        raise SubmissionError(name, f"is {len(value)} characters long; shorten it to {limit}")
    keep = "\n\t" if name in MULTILINE_FIELDS else ""
    cleaned = "".join(
        ch for ch in value if ch in keep or not unicodedata.category(ch).startswith("C")
    ).strip()
    if name in NFC_FIELDS:
        cleaned = unicodedata.normalize("NFC", cleaned)
    if len(cleaned) > limit:
        raise SubmissionError(
            name, f"is {len(cleaned)} characters long; shorten it to at most {limit}"
        )
    return cleaned


def _settings(value: object) -> tuple[str, ...]:
    choose = f"choose one or both of {SETTINGS}"
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(part, str) for part in value):
            raise SubmissionError("settings", f"expected a list of setting names (text); {choose}")
        items = [part.strip() for part in value]
    elif value is None:
        items = []
    else:
        raise SubmissionError(
            "settings", f"expected a list of settings, got {type(value).__name__}; {choose}"
        )
    if not items:
        raise SubmissionError("settings", f"settings is required; {choose}")
    if len(items) > SETTINGS_MAX_ITEMS:
        raise SubmissionError("settings", f"{len(items)} settings given; {choose}")
    unknown = sorted(set(items) - set(SETTINGS))
    if unknown:
        shown = ", ".join(clip(item, 40) for item in unknown[:3])
        raise SubmissionError("settings", f"unknown setting(s) {shown}; {choose}")
    return tuple(s for s in SETTINGS if s in items)


def _resolve(
    model_id: str, revision: str | None, checks: SubmissionChecks, limits: SubmissionLimits
) -> PinnedModel:
    root = limits.models_root if limits.models_root is not None else models_root()
    try:
        return checks.resolve_model(model_id, revision, root)
    except FieldError as err:
        raise SubmissionError(err.field, str(err)) from None
    except OSError as err:
        raise SubmissionError(
            "model_id",
            f"the files of {clip(model_id, 80)} could not be read ({type(err).__name__}); ask "
            "the maintainers to check the served model",
        ) from None


def _check_size(resolved: PinnedModel, limits: SubmissionLimits) -> None:
    name = clip(resolved.model_id, 120)
    if len(resolved.model_id) > MODEL_ID_STORED_MAX_CHARS:
        raise SubmissionError(
            "model_id",
            f"the served model's path {name} is {len(resolved.model_id)} characters long, above "
            f"{MODEL_ID_STORED_MAX_CHARS}; ask the maintainers to serve it under a shorter path",
        )
    if resolved.num_parameters is None:
        raise SubmissionError(
            "model_id",
            f"the size of {name} could not be determined; publish safetensors weights so that "
            "the parameter count can be read",
        )
    if resolved.num_parameters > limits.max_parameters:
        raise SubmissionError(
            "model_id",
            f"{name} has {resolved.num_parameters:,} parameters, above the limit of "
            f"{limits.max_parameters:,}; submit a smaller model",
        )


def _check_editor(
    editor: str, config_text: str, resolved: PinnedModel, checks: SubmissionChecks
) -> CanonicalConfig:
    """The canonical config of a valid editor config; its layers are checked against the
    model's decoder depth from config.json when it declares one."""
    names = checks.editor_names()
    if editor not in names:
        raise SubmissionError("editor", f"unknown editor {clip(editor, 60)}; choose one of {names}")
    try:
        return checks.canonical_config(editor, config_text, resolved.num_layers)
    except ConfigError as err:
        raise SubmissionError("editor_config", str(err)) from None
    except FieldError as err:
        raise SubmissionError(err.field, str(err)) from None


def _is_http_url(value: str) -> bool:
    try:
        parsed = urlparse(value)
        netloc = parsed.netloc
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parsed.scheme in ("http", "https") and bool(netloc) and " " not in value


def _check_link(link: str) -> None:
    if not _is_http_url(link):
        raise SubmissionError(
            "link",
            f"{clip(link, 100)} is not an http(s) URL; give a link such as "
            "https://arxiv.org/abs/...",
        )


def _check_contact(contact: str) -> None:
    if EMAIL.match(contact) or _is_http_url(contact) or HANDLE.match(contact):
        return
    raise SubmissionError(
        "contact",
        f"{clip(contact, 100)} is not an email address, an http(s) URL or a handle such as "
        "@name; give one way to reach you",
    )
