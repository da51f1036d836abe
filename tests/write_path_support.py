"""Helpers for the write-path and fuzz tests: served model folders (config.json plus real
safetensors weights, written without torch), raw safetensors files, and a valid form."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

LLAVA_CONFIG: dict[str, Any] = {
    "architectures": ["LlavaOnevisionForConditionalGeneration"],
    "model_type": "llava_onevision",
    "text_config": {"model_type": "qwen2", "num_hidden_layers": 4},
}


def write_model(
    folder: Path, *, params: int = 24, config: dict[str, Any] | None = None, seed: int = 0
) -> Path:
    """A model folder as resolve_served_model reads it: config.json plus one weight file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config if config is not None else LLAVA_CONFIG))
    weight = np.random.default_rng(seed).standard_normal(params).astype(np.float32)
    save_file({"weight": weight}, str(folder / "model.safetensors"))
    return folder


def write_raw_safetensors(file: Path, header: Any, data: bytes = b"", length: int | None = None):
    """A safetensors file with any header (even an invalid one) and `data` after it."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    size = len(raw) if length is None else length
    file.write_bytes(struct.pack("<Q", size) + raw + data)


def valid_form(model_id: str, **overrides: Any) -> dict[str, Any]:
    """A form that `submit` accepts for a served model (GRACE with n_iter 50)."""
    form: dict[str, Any] = {
        "model_id": model_id,
        "revision": "",
        "model_type": "medical",
        "editor": "grace",
        "editor_config": "n_iter: 50",
        "settings": ["single", "lifelong"],
        "submitter": "Ada Lovelace",
        "organisation": "Analytical Lab",
        "contact": "ada@example.org",
        "description": "A write-path test submission.",
        "link": "https://example.org/paper",
    }
    form.update(overrides)
    return form
