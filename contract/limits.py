"""Every limit of the public write path (form, editor config, model files, downloads, uploads)
and of the worker, with its default, in one place. docs/queue.md lists them all.

Torch-free: the app, the submissions package and the worker import it without loading a model.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

# ---- the submission form -------------------------------------------------------------------

# field -> maximum length in characters, after control characters are stripped
FIELD_MAX_CHARS = {
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
# the stored model identity: a hub id, or a served folder's canonical real path
MODEL_ID_STORED_MAX_CHARS = 300
# the stored settings: their names joined by commas
SETTINGS_STORED_MAX_CHARS = 100
# an organisation's or submitter's identity key (NFKC + casefold) longer than this is stored as
# its sha256 (the key columns are this wide)
IDENTITY_KEY_MAX_CHARS = 200
# items in the settings list (there are two settings; a few repeats are tolerated)
SETTINGS_MAX_ITEMS = 8
# the largest model accepted, in parameters (safetensors headers or hub metadata)
MAX_PARAMETERS = 14_000_000_000
# requests per organisation within the window (NFKC + casefold identity, see submissions.record)
QUOTA_MAX_REQUESTS = 5
QUOTA_WINDOW = timedelta(days=7)
# the only folder whose sub-folders the public form accepts as local models
MODELS_ROOT_ENV = "MME_MODELS_ROOT"

# ---- error messages ------------------------------------------------------------------------

# the longest piece of a submitted value that an error message quotes
MESSAGE_VALUE_MAX_CHARS = 200
# the longest refusal message of a submission (a safety net: messages are built shorter)
ERROR_MAX_CHARS = 1_000

# ---- the editor config (YAML or JSON text) -------------------------------------------------

CONFIG_MAX_CHARS = FIELD_MAX_CHARS["editor_config"]
# YAML nodes (mappings, lists, scalars) in one config; anchors and aliases are refused outright
CONFIG_MAX_NODES = 256
# nesting of mappings and lists (the top mapping is level 1; a list of values is level 2)
CONFIG_MAX_DEPTH = 4
# the declared bound of an integer layer index (the real check is against the model's depth)
LAYER_INDEX_MAX = 1024

# ---- model files -----------------------------------------------------------------------------

# config.json larger than this is refused before it is parsed
MODEL_CONFIG_MAX_BYTES = 1 << 20
# a safetensors header larger than this is refused (the safetensors format's own limit)
SAFETENSORS_HEADER_MAX_BYTES = 100_000_000
# weight files per model folder
MODEL_MAX_WEIGHT_FILES = 1_000

# ---- downloads and uploads -----------------------------------------------------------------

# CSV files kept in the downloads folder (newest first) ...
DOWNLOADS_MAX_FILES = 50
# ... and only while younger than this; older ones are deleted when a new file is written
DOWNLOADS_MAX_AGE_S = 3_600
# the app has no upload field: every non-empty upload is refused (HTTP 413)
UPLOAD_MAX_BYTES = 0

# ---- the worker ----------------------------------------------------------------------------

RUN_TIMEOUT_ENV = "MME_RUN_TIMEOUT_S"
# wall-clock limit of one request (all its settings) on a GPU worker and on a CPU-only worker
RUN_TIMEOUT_S_GPU = 6 * 3600
RUN_TIMEOUT_S_CPU = 2 * 3600
# after the limit, how long an in-process run may take to stop at its next progress report
# before the worker abandons it and moves on
RUN_TIMEOUT_GRACE_S = 30.0


def models_root() -> Path:
    """The served-models folder: $MME_MODELS_ROOT, else MME_HOME/models (default data/models)."""
    from contract import paths

    configured = os.environ.get(MODELS_ROOT_ENV)
    return Path(configured).resolve() if configured else paths.home() / "models"


def has_gpu() -> bool:
    """Whether this machine has a CUDA GPU, without importing torch unless it is loaded."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    try:
        return any(Path("/proc/driver/nvidia/gpus").iterdir())
    except OSError:
        return False


def run_timeout_s() -> float:
    """$MME_RUN_TIMEOUT_S if set, else the default for this machine's hardware."""
    configured = os.environ.get(RUN_TIMEOUT_ENV, "").strip()
    if configured:
        value = float(configured)
        if not value > 0:
            raise ValueError(f"{RUN_TIMEOUT_ENV}={configured!r}: give a positive number of seconds")
        return value
    return float(RUN_TIMEOUT_S_GPU if has_gpu() else RUN_TIMEOUT_S_CPU)


def clip(value: object, limit: int = MESSAGE_VALUE_MAX_CHARS) -> str:
    """A repr of `value` of at most about `limit` characters, safe on any input (huge strings
    and numbers, deep or long containers): what error messages quote of a submitted value."""
    text = _bounded_repr(value, limit, depth=0)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def shorten(text: str, limit: int = MESSAGE_VALUE_MAX_CHARS) -> str:
    """Plain `text` cut to at most `limit` characters (for messages built from other errors)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def _bounded_repr(value: object, budget: int, depth: int) -> str:
    if isinstance(value, str):
        text = repr(value[: budget + 1])
        return text if len(value) <= budget else text[:-1] + f"…' ({len(value)} characters)"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 600:
            return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
        return repr(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return _container_repr(value, budget, depth)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the real error
        return f"<{type(value).__name__}>"
    return text[: budget + 1]


def _container_repr(value: Collection[Any], budget: int, depth: int) -> str:
    kind = type(value).__name__
    if depth >= 3:
        return f"<{kind} of {len(value)} items>"
    items = value.items() if isinstance(value, dict) else value
    opening, closing = {"list": "[]", "tuple": "()"}.get(kind, "{}")
    parts: list[str] = []
    used = 2
    for n, item in enumerate(items):
        if used > budget:
            parts.append(f"… {len(value) - n} more")
            break
        if isinstance(value, dict):
            key, val = item
            part = (
                f"{_bounded_repr(key, budget, depth + 1)}: {_bounded_repr(val, budget, depth + 1)}"
            )
        else:
            part = _bounded_repr(item, budget, depth + 1)
        parts.append(part)
        used += len(part) + 2
    return opening + ", ".join(parts) + closing
