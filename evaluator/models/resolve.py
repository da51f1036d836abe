"""Pin a model to an exact revision without loading its weights, and refuse what must not be
loaded (remote code, no safetensors). Used by load_vlm and by submission validation."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelResolutionError(ValueError):
    """The model cannot be pinned or must not be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model pinned to one revision, plus what can be known without loading it."""

    model_id: str  # as given (hub id or local path)
    revision: str  # hub commit sha, or sha256 over a local folder's files
    local_path: Path | None  # the folder for a local model, else None
    num_parameters: int | None  # from safetensors headers or hub metadata
    architecture: str | None  # config.architectures[0]


def resolve_model(id_or_path: str, revision: str | None = None) -> ResolvedModel:
    """Pin `id_or_path` (a local folder or a hub id) to a revision; raise ModelResolutionError."""
    path = Path(id_or_path).expanduser()
    if path.is_dir():
        return _resolve_local(id_or_path, path, revision)
    if not _HUB_ID.match(id_or_path):
        raise ModelResolutionError(
            f"model {id_or_path!r} is neither an existing local folder nor a hub id of the form "
            "'owner/name'; check the path or the id"
        )
    return _resolve_hub(id_or_path, revision)


def folder_sha256(path: Path) -> str:
    """sha256 over every file of a folder (relative path and bytes), in sorted path order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".cache/") or rel.startswith(".git/"):
            continue
        digest.update(rel.encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_config(config: dict[str, Any], where: str) -> str | None:
    """Refuse configs that need remote code; return the architecture name."""
    from transformers import CONFIG_MAPPING

    if config.get("auto_map"):
        raise ModelResolutionError(
            f"{where} needs remote code (config.json has auto_map {sorted(config['auto_map'])}); "
            "the evaluator never runs trust_remote_code models. Submit a model whose architecture "
            "ships with transformers"
        )
    model_type = config.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise ModelResolutionError(
            f"{where} has model_type {model_type!r}, which this transformers version does not "
            "know; it would need remote code, which the evaluator never runs. Submit a model "
            "whose architecture ships with transformers"
        )
    architectures = config.get("architectures") or [None]
    return architectures[0]


def _resolve_local(model_id: str, path: Path, revision: str | None) -> ResolvedModel:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelResolutionError(
            f"local model folder {str(path)!r} has no config.json; save the model there with "
            "save_pretrained"
        )
    architecture = check_config(json.loads(config_file.read_text()), f"model {model_id!r}")
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise ModelResolutionError(
            f"local model folder {str(path)!r} has no .safetensors weights; only safetensors are "
            "loaded (pickled .bin files can run code). Re-save with save_pretrained(..., "
            "safe_serialization=True)"
        )
    sha = folder_sha256(path)
    if revision is not None and revision != sha:
        raise ModelResolutionError(
            f"local model folder {str(path)!r} has content hash {sha}, not the requested revision "
            f"{revision!r}; its files changed, or pass revision=None to pin the current content"
        )
    count = sum(_safetensors_parameter_count(w) for w in weights)
    return ResolvedModel(model_id, sha, path.resolve(), count, architecture)


def _safetensors_parameter_count(file: Path) -> int:
    with file.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return constants.HF_HUB_OFFLINE or flag.upper() in ("1", "ON", "YES", "TRUE")


def _resolve_hub(model_id: str, revision: str | None) -> ResolvedModel:
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    offline_hint = (
        f"hub model {model_id!r} cannot be resolved offline (HF_HUB_OFFLINE is set or the hub "
        "is unreachable), so its revision cannot be pinned; pass a local path to the model "
        "folder instead"
    )
    if _offline():
        raise ModelResolutionError(offline_hint)
    try:
        info = huggingface_hub.model_info(model_id, revision=revision)
        config_path = huggingface_hub.hf_hub_download(model_id, "config.json", revision=info.sha)
    except RepositoryNotFoundError as err:
        raise ModelResolutionError(
            f"hub model {model_id!r} was not found (or is private without a token); check the id"
        ) from err
    except RevisionNotFoundError as err:
        raise ModelResolutionError(
            f"hub model {model_id!r} has no revision {revision!r}; give a branch, tag or commit sha"
        ) from err
    except Exception as err:  # network failures surface as many exception types
        raise ModelResolutionError(f"{offline_hint} ({type(err).__name__}: {err})") from err
    config = json.loads(Path(config_path).read_text())
    architecture = check_config(config, f"hub model {model_id!r}")
    files = [s.rfilename for s in info.siblings or []]
    if not any(f.endswith(".safetensors") for f in files):
        raise ModelResolutionError(
            f"hub model {model_id!r} at {info.sha} has no .safetensors weights; only safetensors "
            "are loaded. Ask the authors for a safetensors revision"
        )
    count = getattr(info.safetensors, "total", None) if info.safetensors else None
    return ResolvedModel(model_id, str(info.sha), None, count, architecture)
