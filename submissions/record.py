"""The submission record: what a submitter asked us to evaluate, frozen at submission time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from typing import Any

from contract.limits import IDENTITY_KEY_MAX_CHARS
from contract.names import MODEL_TYPES, SETTINGS

__all__ = ["MODEL_TYPES", "SETTINGS", "SubmissionRecord", "identity_key"]


def identity_key(text: str) -> str:
    """The form under which organisations and submitters are compared (quotas): Unicode NFKC,
    then casefold (so 'ÉCOLE-lab', 'école-LAB' and full-width 'ＥＣＯＬＥ-lab' variants meet),
    normalised again, with runs of whitespace collapsed to one space; longer than
    IDENTITY_KEY_MAX_CHARS, its sha256. Computed in Python and stored; never the database's
    lower(), which lowers ASCII only."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    key = " ".join(folded.split())
    if len(key) <= IDENTITY_KEY_MAX_CHARS:
        return key
    # NFKC can expand a character up to 18-fold ("\ufdfa"): a long key is stored as its hash,
    # so that it fits its column and its index on every database; equal texts still meet
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class SubmissionRecord:
    """One validated request. `revision` is the resolved, pinned revision, never a branch."""

    model_id: str  # hub "org/name" or the canonical real path of a served local folder
    revision: str  # commit sha on the hub; sha256 of a local folder's config and weight files
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
    # the pinned model's parameter count (None: unknown; records stored before it was kept)
    num_parameters: int | None = None

    @property
    def organisation_key(self) -> str:
        return identity_key(self.organisation)

    @property
    def submitter_key(self) -> str:
        return identity_key(self.submitter)

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
