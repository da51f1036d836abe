"""Pin a model to an exact revision without loading its weights, and refuse what must not be
loaded (remote code, no safetensors, malformed config.json or safetensors headers). Used by
load_vlm and, through `resolve_served_model`, by submission validation: the public form takes
hub ids and folders under the models root only, each under one canonical identity."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.hub import is_hub_id
from contract.limits import MODEL_MAX_WEIGHT_FILES, clip, shorten
from evaluator.models.model_files import (
    ModelResolutionError,
    num_layers,
    read_config_json,
    safetensors_parameter_count,
)

__all__ = [
    "ModelResolutionError",
    "ResolvedModel",
    "is_hub_id",
    "model_files_sha256",
    "resolve_model",
    "resolve_served_model",
    "served_folder",
]

# what a local model's revision hashes: its config, tokenizer/processor and weight files
MODEL_FILE_SUFFIXES = (".json", ".safetensors", ".model", ".txt", ".jinja", ".tiktoken")
_DOC_PREFIXES = ("readme", "license", "licence", "notice")
_HASH_CACHE: dict[tuple[Any, ...], str] = {}
_HASH_CACHE_SIZE = 64


@dataclass(frozen=True)
class ResolvedModel:
    """A model pinned to one revision, plus what can be known without loading it."""

    model_id: str  # resolve_model: as given; resolve_served_model: the canonical identity
    revision: str  # hub commit sha, or sha256 over a local folder's config and weight files
    local_path: Path | None  # the folder for a local model, else None
    num_parameters: int | None  # from safetensors headers or hub metadata
    architecture: str | None  # config.architectures[0]
    num_layers: int | None = None  # decoder layers from config.json, when it says


def resolve_model(id_or_path: str, revision: str | None = None) -> ResolvedModel:
    """Pin `id_or_path` (a local folder or a hub id) to a revision; raise ModelResolutionError.
    For the operator's tools (CLI, worker): any local folder is accepted."""
    path = Path(id_or_path).expanduser() if "\0" not in id_or_path else None
    if path is not None and _is_dir(path):
        return _resolve_local(id_or_path, path, revision)
    if not is_hub_id(id_or_path):
        raise ModelResolutionError(
            f"model {clip(id_or_path)} is neither an existing local folder nor a hub id of the "
            "form 'owner/name'; check the path or the id"
        )
    return _resolve_hub(id_or_path, revision)


def resolve_served_model(
    id_or_path: str, revision: str | None = None, *, models_root: Path
) -> ResolvedModel:
    """The public form's resolution: a folder under `models_root` (given as an absolute path,
    relative to the working directory or to the root; symlinks and `..` resolved), pinned to a
    hash of its files, with its canonical real path as `model_id`; else a hub id pinned to a
    commit. Every other path gets the same message whether it exists or not."""
    folder = served_folder(id_or_path, models_root)
    if folder is not None:
        return _resolve_local(str(folder), folder, revision, canonical=True)
    if is_hub_id(id_or_path):
        return _resolve_hub(id_or_path, revision)
    raise ModelResolutionError(
        f"{clip(id_or_path)} is not a hub id ('organisation/model-name': letters, digits, '.', "
        "'_' and '-') or a served model (a folder under the models root); give a hub id, or ask "
        "the maintainers to serve your local model"
    )


def served_folder(text: str, models_root: Path) -> Path | None:
    """The canonical real path of the served folder `text` names, or None. Accepted: a path
    (absolute, relative to the working directory, or relative to the root) whose real path lies
    under the root's real path, or is the real path of one of the root's entries (a served
    model the maintainers symlinked into the root)."""
    root = _real(models_root)
    if root is None or not _is_dir(root):
        return None
    for candidate in (_real(Path(text)), _real(root / text)):
        if candidate is None or candidate == root or not _is_dir(candidate):
            continue
        if candidate.is_relative_to(root) or candidate in _root_entries(root):
            return candidate
    return None


def _root_entries(root: Path) -> set[Path]:
    try:
        entries = list(root.iterdir())
    except OSError:
        return set()
    return {real for entry in entries if (real := _real(entry)) is not None}


def _real(path: Path) -> Path | None:
    """os.path.realpath, or None for paths the OS cannot even look up (NUL, too long)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def model_files_sha256(path: Path) -> str:
    """sha256 over a folder's config, tokenizer/processor and weight files (relative path and
    bytes, sorted by path); documentation and hidden folders are left out, so editing a README
    keeps the revision. Cached per (path, size, mtime) of every hashed file."""
    files = _model_files(path)
    key = (str(path), *((rel, st.st_size, st.st_mtime_ns, st.st_ino) for rel, _, st in files))
    if key in _HASH_CACHE:
        return _HASH_CACHE[key]
    digest = hashlib.sha256()
    for rel, file, _ in files:
        digest.update(rel.encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    if len(_HASH_CACHE) >= _HASH_CACHE_SIZE:
        _HASH_CACHE.clear()
    _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def _model_files(path: Path) -> list[tuple[str, Path, os.stat_result]]:
    out = []
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        name = file.name.lower()
        if not name.endswith(MODEL_FILE_SUFFIXES) or name.startswith(_DOC_PREFIXES):
            continue
        if file.is_file():
            out.append((rel, file, file.stat()))
    return out


def check_config(config: dict[str, Any], where: str) -> str | None:
    """Refuse configs that need remote code; return the architecture name."""
    from transformers import CONFIG_MAPPING

    auto_map = config.get("auto_map")
    if auto_map:
        names = sorted(map(str, auto_map))[:5] if isinstance(auto_map, dict) else []
        raise ModelResolutionError(
            f"{where} needs remote code (config.json has auto_map {clip(names)}); the evaluator "
            "never runs trust_remote_code models. Submit a model whose architecture ships with "
            "transformers"
        )
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ModelResolutionError(
            f"{where} has model_type {clip(model_type, 80)}, which this transformers version does "
            "not know; it would need remote code, which the evaluator never runs. Submit a model "
            "whose architecture ships with transformers"
        )
    architectures = config.get("architectures") or [None]
    if not isinstance(architectures, list) or not all(
        isinstance(a, str) or a is None for a in architectures
    ):
        raise ModelResolutionError(
            f"{where}: config.json 'architectures' is {clip(architectures, 80)}, not a list of "
            "class names; re-save the model with save_pretrained"
        )
    return architectures[0]


def _resolve_local(
    model_id: str, path: Path, revision: str | None, *, canonical: bool = False
) -> ResolvedModel:
    where = f"model {clip(model_id)}"
    config = read_config_json(path / "config.json", where)
    architecture = check_config(config, where)
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise ModelResolutionError(
            f"local model folder {clip(str(path))} has no .safetensors weights; only safetensors "
            "are loaded (pickled .bin files can run code). Re-save with save_pretrained(..., "
            "safe_serialization=True)"
        )
    if len(weights) > MODEL_MAX_WEIGHT_FILES:
        raise ModelResolutionError(
            f"{where} has {len(weights)} .safetensors files, above the limit of "
            f"{MODEL_MAX_WEIGHT_FILES}; re-save it with larger shards (max_shard_size)"
        )
    count = sum(safetensors_parameter_count(w, where) for w in weights)
    sha = model_files_sha256(path)
    if revision is not None and revision != sha:
        raise ModelResolutionError(
            f"local model folder {clip(str(path))} has content hash {sha}, not the requested "
            f"revision {clip(revision, 80)}; its files changed, or pass revision=None to pin the "
            "current content",
            field="revision",
        )
    layers = num_layers(config, where)
    name = str(path) if canonical else model_id
    return ResolvedModel(name, sha, path.resolve(), count, architecture, layers)


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return constants.HF_HUB_OFFLINE or flag.upper() in ("1", "ON", "YES", "TRUE")


def _resolve_hub(model_id: str, revision: str | None) -> ResolvedModel:
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    offline_hint = (
        f"hub model {clip(model_id)} cannot be resolved offline (HF_HUB_OFFLINE is set or the "
        "hub is unreachable), so its revision cannot be pinned; pass a local path to the model "
        "folder instead"
    )
    if _offline():
        raise ModelResolutionError(offline_hint)
    try:
        info = huggingface_hub.model_info(model_id, revision=revision)
        config_path = huggingface_hub.hf_hub_download(model_id, "config.json", revision=info.sha)
    except RepositoryNotFoundError as err:
        raise ModelResolutionError(
            f"hub model {clip(model_id)} was not found (or is private without a token); check "
            "the id"
        ) from err
    except RevisionNotFoundError as err:
        raise ModelResolutionError(
            f"hub model {clip(model_id)} has no revision {clip(revision, 80)}; give a branch, tag "
            "or commit sha",
            field="revision",
        ) from err
    except Exception as err:  # network failures surface as many exception types
        detail = shorten(f"{type(err).__name__}: {err}", 200)
        raise ModelResolutionError(f"{offline_hint} ({detail})") from err
    canonical = str(getattr(info, "id", None) or model_id)
    where = f"hub model {clip(canonical)}"
    config = read_config_json(Path(config_path), where)
    architecture = check_config(config, where)
    files = [s.rfilename for s in info.siblings or []]
    if not any(f.endswith(".safetensors") for f in files):
        raise ModelResolutionError(
            f"{where} at {info.sha} has no .safetensors weights; only safetensors are loaded. Ask "
            "the authors for a safetensors revision"
        )
    count = getattr(info.safetensors, "total", None) if info.safetensors else None
    layers = num_layers(config, where)
    return ResolvedModel(canonical, str(info.sha), None, count, architecture, layers)
