"""Read what a model folder declares without loading it, refusing malformed files with a clear
message: config.json (size, encoding, JSON, a mapping, the decoder depth) and safetensors
headers (truncated, oversized, malformed JSON, negative or non-integer shapes, shapes that do
not match the bytes the file holds)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from contract.checks import FieldError
from contract.limits import MODEL_CONFIG_MAX_BYTES, SAFETENSORS_HEADER_MAX_BYTES, clip, shorten

# bytes per element of each safetensors dtype (sub-byte and unknown dtypes skip the size check)
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
}  # fmt: skip
RESAVE = "re-save the model with save_pretrained(..., safe_serialization=True)"


class ModelResolutionError(FieldError):
    """The model cannot be pinned or must not be loaded; the message says why and what to do.
    `field` is the form field at fault: model_id, or revision for a revision that does not
    exist or does not match the files."""

    def __init__(self, message: str, *, field: str = "model_id") -> None:
        super().__init__(message, field=field)


def read_config_json(file: Path, where: str) -> dict[str, Any]:
    """config.json as a dict; any problem with it is a ModelResolutionError naming the fix."""
    try:
        size = file.stat().st_size if file.is_file() else None
    except (OSError, ValueError):
        size = None
    if size is None:
        raise ModelResolutionError(
            f"{where} has no config.json; save the model there with save_pretrained"
        )
    if size > MODEL_CONFIG_MAX_BYTES:
        raise ModelResolutionError(
            f"{where}: config.json is {size:,} bytes, above the limit of "
            f"{MODEL_CONFIG_MAX_BYTES:,}; a model config is a few KB, {RESAVE}"
        )
    try:
        config = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelResolutionError(f"{where}: config.json is not UTF-8 text; {RESAVE}") from None
    except json.JSONDecodeError as err:
        raise ModelResolutionError(
            f"{where}: config.json is not valid JSON ({shorten(err.msg, 80)} at line "
            f"{err.lineno}, column {err.colno}); {RESAVE}"
        ) from None
    except (ValueError, RecursionError) as err:
        raise ModelResolutionError(
            f"{where}: config.json cannot be read ({type(err).__name__}); {RESAVE}"
        ) from None
    if not isinstance(config, dict):
        raise ModelResolutionError(
            f"{where}: config.json holds a {type(config).__name__}, not an object; {RESAVE}"
        )
    return config


def num_layers(config: dict[str, Any], where: str) -> int | None:
    """The language model's decoder depth (text_config.num_hidden_layers, else the top-level
    num_hidden_layers); None when config.json does not say (transformers' default applies)."""
    text_config = config.get("text_config")
    sources = [text_config, config] if isinstance(text_config, dict) else [config]
    for source in sources:
        value = source.get("num_hidden_layers")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
            raise ModelResolutionError(
                f"{where}: config.json has num_hidden_layers {clip(value, 60)}, not a positive "
                f"integer; {RESAVE}"
            )
        return value
    return None


def safetensors_parameter_count(file: Path, where: str) -> int:
    """The number of parameters a safetensors file holds, read from its header only."""
    name = clip(file.name, 80)
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _bad(where, name, "is shorter than a safetensors header")
            (length,) = struct.unpack("<Q", prefix)
            if length > SAFETENSORS_HEADER_MAX_BYTES or 8 + length > size:
                raise _bad(where, name, f"declares a header of {length:,} bytes")
            raw = handle.read(length)
    except OSError as err:
        raise _bad(where, name, f"cannot be read ({type(err).__name__})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _bad(where, name, "has a header that is not valid JSON") from None
    if not isinstance(header, dict):
        raise _bad(where, name, "has a header that is not a JSON object")
    data_bytes = size - 8 - length
    return sum(
        _tensor_numel(where, name, key, entry, data_bytes)
        for key, entry in header.items()
        if key != "__metadata__"
    )


def _tensor_numel(where: str, name: str, key: str, entry: object, data_bytes: int) -> int:
    tensor = clip(key, 60)
    if not isinstance(entry, dict):
        raise _bad(where, name, f"describes tensor {tensor} as {type(entry).__name__}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _bad(
            where, name, f"gives tensor {tensor} the shape {clip(shape, 80)}, not a list of "
            "non-negative integers",
        )  # fmt: skip
    numel = math.prod(shape)
    offsets = entry.get("data_offsets")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_bytes
    ):
        raise _bad(where, name, f"gives tensor {tensor} data offsets {clip(offsets, 80)} "
                   "outside the file")  # fmt: skip
    itemsize = DTYPE_BYTES.get(entry.get("dtype")) if isinstance(entry.get("dtype"), str) else None
    if itemsize is not None and numel * itemsize != offsets[1] - offsets[0]:
        raise _bad(
            where, name, f"gives tensor {tensor} the shape {clip(shape, 80)}, which does not "
            f"match its {offsets[1] - offsets[0]:,} bytes of data",
        )  # fmt: skip
    return numel


def _bad(where: str, name: str, problem: str) -> ModelResolutionError:
    return ModelResolutionError(
        f"{where}: weight file {name} {problem}; it is not a valid safetensors file, {RESAVE}"
    )
