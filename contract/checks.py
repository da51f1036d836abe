"""What the write side asks of the evaluator, as Protocols: pin a model, canonicalise an editor
config, list the editors. `submissions` validates through these and never imports the
evaluator; `backend.checks.EvaluatorChecks` implements them with the evaluator's code, and the
app (or a test) passes that in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class FieldError(ValueError):
    """An input refused by a check; `field` is the form field to fix, the message says how."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PinnedModel(Protocol):
    """A model pinned to one revision, with what is known without loading it."""

    @property
    def model_id(self) -> str: ...  # the canonical identity (hub id, or a served folder's path)
    @property
    def revision(self) -> str: ...  # a hub commit sha, or sha256 over a folder's files
    @property
    def num_parameters(self) -> int | None: ...
    @property
    def num_layers(self) -> int | None: ...  # decoder layers, when config.json says


@dataclass(frozen=True)
class CanonicalConfig:
    """An editor config after validation: `text` is canonical JSON of every field (defaults
    included, keys sorted) and `config_hash` the editor's hash of it."""

    text: str
    config_hash: str


class EditorCatalog(Protocol):
    """The registered editors, as the form shows them."""

    def editor_names(self) -> list[str]: ...
    def defaults_yaml(self, editor: str) -> str: ...
    def help_markdown(self, editor: str) -> str: ...


class SubmissionChecks(EditorCatalog, Protocol):
    """The checks of a submission that need the evaluator's knowledge."""

    def resolve_model(self, model_id: str, revision: str | None, models_root: Path) -> PinnedModel:
        """Pin a served model or hub id; raise FieldError (model_id or revision)."""
        ...

    def canonical_config(self, editor: str, text: str, num_layers: int | None) -> CanonicalConfig:
        """Parse and check `text` for `editor` (against `num_layers` when known); raise
        contract.safe_yaml.ConfigError naming the config field."""
        ...
