"""The editor interface and the config base class every editor's config derives from."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from evaluator.benchmark.case import Case, Edit
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import Probe


class ConfigError(ValueError):
    """A bad editor config: the message names the field, the bad value and what to do."""


@dataclasses.dataclass(frozen=True)
class EditorConfig:
    """Base of every editor config: a frozen dataclass whose fields carry a default and
    `metadata={"help": "..."}`. Subclasses add range checks in `check()` and layer checks
    in `check_for_model()`."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> EditorConfig:
        """Build and check a config; unknown fields, wrong types or bad values: ConfigError."""
        data = dict(data or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"unknown field(s) {unknown} for {cls.__name__}; known fields: {sorted(fields)}"
            )
        hints = typing.get_type_hints(cls)
        values = {name: _coerce(name, value, hints[name]) for name, value in data.items()}
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Range checks that need no model; raise ConfigError naming the field."""

    def check_for_model(self, num_layers: int) -> None:
        """Checks that need the model (e.g. the layer exists); raise ConfigError."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self, editor_name: str) -> str:
        """sha256 over the editor name and every field value (defaults included), canonical JSON."""
        payload = json.dumps({"editor": editor_name, "config": self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One entry per field: name, type, default and help (for the CLI and the app form)."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            out.append(
                {
                    "name": f.name,
                    "type": _type_name(hints[f.name]),
                    "default": default,
                    "help": f.metadata.get("help", ""),
                }
            )
        return out


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"field {name!r}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"field {name!r}: {value!r} is not one of {list(args)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"field {name!r}: expected a list, got {type(value).__name__} {value!r}"
            )
        item = args[0] if args else Any
        items = [_coerce(name, v, item) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {name!r}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {name!r}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {name!r}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"field {name!r}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"field {name!r}: unsupported type {_type_name(tp)}")


class Editor(ABC):
    """A knowledge editor. Family-free: it reaches the model only through the adapter.

    Lifecycle, driven by the protocols: construct (config already checked), then `apply`
    once per edit (edits accumulate), `transform_probe` on every probe scored while edits
    are in force, and `reset` to remove every structural change (hooks, wrappers, adapter
    layers). Parameter values are restored by the protocol from a snapshot of
    `touched_modules()`, taken before the first edit.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[EditorConfig]]

    def __init__(
        self,
        adapter: VLMAdapter,
        config: EditorConfig,
        *,
        train_cases: Sequence[Case] = (),
        seed: int = 0,
    ) -> None:
        self.adapter = adapter
        self.config = config
        self.train_cases = train_cases
        self.seed = seed
        self.setup()

    def setup(self) -> None:  # noqa: B027 - most editors need no set-up
        """Per-editor set-up after the base attributes exist (resolve layers, make state);
        it must not change the model's weights."""

    def touched_modules(self) -> list[str]:
        """Qualified names (as in model.named_modules()) whose parameters or buffers `apply`
        may change. The protocol snapshots exactly these; an empty list means none."""
        return []

    @abstractmethod
    def apply(self, edit: Edit) -> None:
        """Make the model answer `edit.target` for (edit.images, edit.question, edit.options).
        An editor sees only the edit, never the probes it is scored on (DESIGN.md, invariant 7);
        unrelated inputs it needs come from `train_cases`."""

    def reset(self) -> None:  # noqa: B027 - a no-op is the right default for most editors
        """Remove every structural change made since construction (no-op by default)."""

    def transform_probe(self, probe: Probe) -> Probe:
        """The probe as the edited system sees it (in-context editors add demonstrations)."""
        return probe
