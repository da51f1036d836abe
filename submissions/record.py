"""The submission record: what a submitter asked us to evaluate, frozen at submission time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from evaluator.result import SETTINGS

__all__ = ["MODEL_TYPES", "SETTINGS", "SubmissionRecord"]

MODEL_TYPES = ("general", "medical")


@dataclasses.dataclass(frozen=True)
class SubmissionRecord:
    """One validated request. `revision` is the resolved, pinned revision, never a branch."""

    model_id: str  # hub "org/name" or a local folder path
    revision: str  # commit sha on the hub; sha256 of the files for a local folder
    model_type: str  # "general" or "medical"
    editor: str  # a registered editor name
    editor_config: str  # the YAML/JSON text as submitted
    config_hash: str  # EditorConfig.config_hash(editor): defaults included
    settings: tuple[str, ...]  # subset of SETTINGS, in canonical order
    submitter: str
    organisation: str
    contact: str  # an email, a URL or a handle
    description: str = ""
    link: str = ""  # paper or code, http(s)
    submitted_at: str = ""  # UTC ISO 8601

    @property
    def request_key(self) -> str:
        """sha256 over what decides the result: model, revision, editor, config and settings."""
        payload = {
            "model_id": self.model_id,
            "revision": self.revision,
            "editor": self.editor,
            "config_hash": self.config_hash,
            "settings": sorted(self.settings),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["settings"] = list(self.settings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionRecord:
        """Inverse of `to_dict`; unknown keys are an error so that stored rows stay exact."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown SubmissionRecord field(s) {unknown}; known: {sorted(names)}")
        values = dict(data)
        values["settings"] = tuple(values.get("settings", ()))
        return cls(**values)
