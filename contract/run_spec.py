"""What one evaluation runs (`RunSpec`), and how a stored request becomes one (`run_spec_for`).

The record's config is the canonical config the submission was validated into (JSON, every
field, defaults included) and its hash; the worker passes both through unchanged and the
evaluator refuses a run whose config hashes to anything else (`ConfigHashMismatch`), so a
request is parsed once and what runs is what was accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from contract.names import SETTINGS

EVALUATION_SPLITS = ("public", "hidden")


class ConfigHashMismatch(ValueError):
    """The config to run does not hash to the hash the request was accepted with."""


@dataclass(frozen=True)
class RunSpec:
    """What to evaluate; the result records every field needed to reproduce it."""

    model: str  # hub id or local folder
    revision: str | None  # hub commit or branch; None: the default branch / the folder as is
    editor: str  # a registered editor name
    config: Mapping[str, Any] | str | None  # the editor config: mapping, or YAML/JSON text
    benchmark: str  # benchmark folder or hub id
    split: str  # "public" | "hidden"
    setting: str  # "single" | "lifelong"
    limit: int | None = None  # at most this many edits, stratified by tier (edit_set.py)
    per_tier: int | None = None  # at most this many edits of each tier
    seed: int = 0  # reseeds before every edit (seed + case index) and seeds the bootstrap
    batch_size: int = 16  # most probes per forward pass
    config_hash: str | None = None  # the accepted config's hash; None: not checked (CLI runs)

    def check(self) -> None:
        """Raise ValueError naming the bad field before anything is loaded."""
        if self.setting not in SETTINGS:
            raise ValueError(f"setting {self.setting!r} is not one of {list(SETTINGS)}")
        if self.split not in EVALUATION_SPLITS:
            raise ValueError(
                f"split {self.split!r} cannot be evaluated; choose one of {list(EVALUATION_SPLITS)}"
            )
        for name in ("limit", "per_tier"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} {value!r} must be a positive integer or None")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed {self.seed!r} must be a non-negative integer")
        if self.batch_size < 1:
            raise ValueError(f"batch_size {self.batch_size!r} must be at least 1")

    def check_config_hash(self, computed: str) -> None:
        """Refuse to run a config whose hash is not the one the request was accepted with."""
        if self.config_hash is not None and computed != self.config_hash:
            raise ConfigHashMismatch(
                f"the {self.editor} config hashes to {computed[:12]}, but the request was "
                f"accepted with {self.config_hash[:12]}; the editor's fields or defaults changed "
                "since submission: submit the request again"
            )


class AcceptedRequest(Protocol):
    """What `run_spec_for` reads of a stored request (submissions.SubmissionRecord)."""

    @property
    def model_id(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def editor(self) -> str: ...
    @property
    def editor_config(self) -> str: ...
    @property
    def config_hash(self) -> str: ...


def run_spec_for(
    record: AcceptedRequest,
    setting: str,
    *,
    benchmark: str,
    split: str,
    limit: int | None = None,
    seed: int = 0,
) -> RunSpec:
    """The run of one setting of an accepted request: the config text passes through as stored
    (the canonical config) with the hash it was accepted with."""
    return RunSpec(
        model=record.model_id,
        revision=record.revision,
        editor=record.editor,
        config=record.editor_config,
        benchmark=benchmark,
        split=split,
        setting=setting,
        limit=limit,
        seed=seed,
        config_hash=record.config_hash,
    )
