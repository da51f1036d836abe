"""Everything a submission must pass before it is stored; each failure names the form field.

Form keys: model_id, revision (optional), model_type, editor, editor_config (YAML/JSON text,
optional), settings (a list or a comma-separated string), submitter, organisation, contact,
description (optional), link (optional).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from submissions.quotas import Quota, QuotaExceededError
from submissions.record import MODEL_TYPES, SETTINGS, SubmissionRecord
from submissions.store import DuplicateRequestError, RequestRow, Store, utc_now

REQUIRED = ("model_id", "model_type", "editor", "settings", "submitter", "organisation", "contact")
# field -> maximum length after stripping control characters
MAX_LENGTHS = {
    "model_id": 200,
    "revision": 100,
    "model_type": 20,
    "editor": 50,
    "editor_config": 10_000,
    "submitter": 100,
    "organisation": 100,
    "contact": 200,
    "description": 1_000,
    "link": 500,
}
MULTILINE_FIELDS = ("editor_config", "description")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
HANDLE = re.compile(r"^@?[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


class SubmissionError(ValueError):
    """A refused submission: `field` is the form field to fix, the message says how."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclasses.dataclass(frozen=True)
class SubmissionLimits:
    """Configurable limits: the largest model accepted and the per-organisation quota."""

    max_parameters: int = 14_000_000_000
    quota: Quota = Quota()


def validate_submission(
    form: Mapping[str, Any],
    *,
    limits: SubmissionLimits | None = None,
    resolve: Callable[[str, str | None], Any] | None = None,
    now: datetime | None = None,
) -> SubmissionRecord:
    """Check every field of `form` and return the frozen record with the revision pinned.

    `resolve(id_or_path, revision)` defaults to evaluator.models.resolve.resolve_model.
    Raises SubmissionError(field, message) at the first failure.
    """
    limits = limits or SubmissionLimits()
    text = {name: _clean_text(name, form.get(name)) for name in MAX_LENGTHS}
    for name in REQUIRED:
        if name == "settings":
            continue
        if not text[name]:
            raise SubmissionError(name, f"{name} is required; fill it in")
    settings = _settings(form.get("settings"))

    if text["model_type"] not in MODEL_TYPES:
        raise SubmissionError(
            "model_type", f"{text['model_type']!r} is not a model type; choose one of {MODEL_TYPES}"
        )
    _check_model_id_syntax(text["model_id"])
    resolved = _resolve(text["model_id"], text["revision"] or None, resolve)
    if resolved.num_parameters is None:
        raise SubmissionError(
            "model_id",
            f"the size of {text['model_id']!r} could not be determined; publish safetensors "
            "weights so that the parameter count can be read",
        )
    if resolved.num_parameters > limits.max_parameters:
        raise SubmissionError(
            "model_id",
            f"{text['model_id']!r} has {resolved.num_parameters:,} parameters, above the limit of "
            f"{limits.max_parameters:,}; submit a smaller model",
        )
    config_hash = _check_editor(text["editor"], text["editor_config"])
    if text["link"]:
        _check_link(text["link"])
    _check_contact(text["contact"])

    return SubmissionRecord(
        model_id=resolved.model_id,
        revision=resolved.revision,
        model_type=text["model_type"],
        editor=text["editor"],
        editor_config=text["editor_config"],
        config_hash=config_hash,
        settings=settings,
        submitter=text["submitter"],
        organisation=text["organisation"],
        contact=text["contact"],
        description=text["description"],
        link=text["link"],
        submitted_at=(now or utc_now()).isoformat(timespec="seconds"),
    )


def submit(
    store: Store,
    form: Mapping[str, Any],
    *,
    limits: SubmissionLimits | None = None,
    resolve: Callable[[str, str | None], Any] | None = None,
    now: datetime | None = None,
) -> RequestRow:
    """Validate `form`, then in one transaction refuse duplicates and over-quota requests and
    insert the PENDING row. A refusal raises SubmissionError and leaves no row."""
    limits = limits or SubmissionLimits()
    now = now or store.clock()
    record = validate_submission(form, limits=limits, resolve=resolve, now=now)
    try:
        return store.add_request(record, quota=limits.quota, now=now)
    except DuplicateRequestError as err:
        raise SubmissionError("request", str(err)) from None
    except QuotaExceededError as err:
        raise SubmissionError("organisation", str(err)) from None


def _clean_text(name: str, value: Any) -> str:
    """Strip control characters (newlines and tabs kept in multi-line fields) and check length."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SubmissionError(name, f"expected text, got {type(value).__name__} {value!r}")
    keep = "\n\t" if name in MULTILINE_FIELDS else ""
    cleaned = "".join(
        ch for ch in value if ch in keep or not unicodedata.category(ch).startswith("C")
    ).strip()
    limit = MAX_LENGTHS[name]
    if len(cleaned) > limit:
        raise SubmissionError(
            name, f"is {len(cleaned)} characters long; shorten it to at most {limit}"
        )
    return cleaned


def _settings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = [str(part).strip() for part in value]
    elif value is None:
        items = []
    else:
        raise SubmissionError("settings", f"expected a list of settings, got {value!r}")
    if not items:
        raise SubmissionError("settings", f"settings is required; choose one or both of {SETTINGS}")
    unknown = sorted(set(items) - set(SETTINGS))
    if unknown:
        raise SubmissionError(
            "settings", f"unknown setting(s) {unknown}; choose one or both of {SETTINGS}"
        )
    return tuple(s for s in SETTINGS if s in items)


def _check_model_id_syntax(model_id: str) -> None:
    if Path(model_id).is_dir():
        return
    if HUB_ID.match(model_id) and ".." not in model_id and "--" not in model_id:
        return
    raise SubmissionError(
        "model_id",
        f"{model_id!r} is neither a hub id of the form 'organisation/model-name' (letters, "
        "digits, '.', '_' and '-') nor an existing local folder; correct the id or the path",
    )


def _resolve(model_id: str, revision: str | None, resolve: Callable[..., Any] | None) -> Any:
    from evaluator.models.resolve import ModelResolutionError, resolve_model

    try:
        return (resolve or resolve_model)(model_id, revision)
    except ModelResolutionError as err:
        raise SubmissionError("model_id", str(err)) from None


def _check_editor(editor: str, config_text: str) -> str:
    from evaluator.editors.base import ConfigError
    from evaluator.editors.registry import editor_names, parse_editor_config

    names = editor_names()
    if editor not in names:
        raise SubmissionError("editor", f"unknown editor {editor!r}; choose one of {names}")
    try:
        config = parse_editor_config(editor, config_text)
    except ConfigError as err:
        raise SubmissionError("editor_config", str(err)) from None
    return config.config_hash(editor)


def _is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and " " not in value


def _check_link(link: str) -> None:
    if not _is_http_url(link):
        raise SubmissionError(
            "link", f"{link!r} is not an http(s) URL; give a link such as https://arxiv.org/abs/..."
        )


def _check_contact(contact: str) -> None:
    if EMAIL.match(contact) or _is_http_url(contact) or HANDLE.match(contact):
        return
    raise SubmissionError(
        "contact",
        f"{contact!r} is not an email address, an http(s) URL or a handle such as @name; "
        "give one way to reach you",
    )
