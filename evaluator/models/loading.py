"""Load any image-text-to-text model the way users load it (Auto classes), pinned, safetensors
only, never with remote code, on the device chosen at run time."""

from __future__ import annotations

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from evaluator.models.adapter import VLMAdapter
from evaluator.models.resolve import resolve_model

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_vlm(
    id_or_path: str,
    revision: str | None = None,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> VLMAdapter:
    """Resolve, load and wrap a model; float32 unless `dtype` is given, in eval mode."""
    resolved = resolve_model(id_or_path, revision)
    source = str(resolved.local_path) if resolved.local_path else id_or_path
    pin = None if resolved.local_path else resolved.revision
    torch_dtype = _dtype(dtype)
    target = torch.device(device) if device is not None else default_device()
    processor = AutoProcessor.from_pretrained(source, revision=pin, trust_remote_code=False)
    model = AutoModelForImageTextToText.from_pretrained(
        source, revision=pin, trust_remote_code=False, use_safetensors=True, dtype=torch_dtype
    )
    model.to(target).eval()
    return VLMAdapter(model, processor, model_id=id_or_path, revision=resolved.revision)


def _dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]
