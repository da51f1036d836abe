"""The editor interface and the config base class every editor's config derives from: typed
fields with declared bounds, checked on parse with messages that name the field and its range."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from contract.limits import clip
from contract.safe_yaml import ConfigError, load_config_text

if TYPE_CHECKING:
    from evaluator.benchmark.case import Case, Edit
    from evaluator.models.adapter import VLMAdapter
    from evaluator.models.probe import Probe

__all__ = ["Bounds", "ConfigError", "Editor", "EditorConfig", "load_config_text"]


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The allowed values of a numeric field (each item of a tuple field): `min`/`max`
    (excluded when `min_open`/`max_open`), finiteness, and for tuples the most items."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    finite: bool = True
    max_items: int | None = None

    def range_text(self) -> str:
        """The interval in math notation, e.g. "[1, 1000]", "(0, 10]", ">= 0"."""
        low = None if self.min is None else f"{self.min:g}"
        high = None if self.max is None else f"{self.max:g}"
        if low is not None and high is not None:
            return f"{'(' if self.min_open else '['}{low}, {high}{')' if self.max_open else ']'}"
        if low is not None:
            return f"{'>' if self.min_open else '>='} {low}"
        if high is not None:
            return f"{'<' if self.max_open else '<='} {high}"
        return "any finite number" if self.finite else "any number"

    def contains(self, value: float) -> bool:
        if math.isnan(value):
            return not self.finite
        if self.finite and math.isinf(value):
            return False
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            return False
        return self.max is None or (value < self.max if self.max_open else value <= self.max)


def field_bounds(f: dataclasses.Field) -> Bounds:
    """A field's declared bounds; finite-only when it declares none."""
    bounds = f.metadata.get("bounds")
    return bounds if isinstance(bounds, Bounds) else Bounds()


@dataclasses.dataclass(frozen=True)
class EditorConfig:
    """Base of every editor config: a frozen dataclass whose fields carry a default, help and
    bounds (`evaluator.editors.config_fields.field`). `from_mapping` checks types and bounds;
    subclasses add cross-field checks in `check()` and layer checks in `check_for_model()`."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> EditorConfig:
        """Build and check a config; unknown fields, wrong types or bad values: ConfigError."""
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(
                f"editor config must be a mapping of field: value, got {type(data).__name__}"
            )
        data = dict(data or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [key for key in data if key not in fields]
        if unknown:
            shown = ", ".join(clip(key, 60) for key in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ConfigError(
                f"unknown field(s) {shown}{more} for {cls.__name__}; known fields: {sorted(fields)}"
            )
        hints = typing.get_type_hints(cls)
        values = {}
        for name, value in data.items():
            values[name] = _coerce(name, value, hints[name])
            _check_bounds(name, values[name], field_bounds(fields[name]))
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Checks across fields that need no model; raise ConfigError naming the field."""

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
        """One entry per field: name, type, default, help and bounds (min, max, range, finite,
        max_items), for the CLI and the app form."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            entry = {
                "name": f.name,
                "type": _type_name(hints[f.name]),
                "default": default,
                "help": f.metadata.get("help", ""),
            }
            bounds = field_bounds(f)
            if _is_numeric(hints[f.name]):
                entry |= {
                    "min": bounds.min,
                    "max": bounds.max,
                    "range": bounds.range_text(),
                    "finite": bounds.finite,
                }
            if bounds.max_items is not None:
                entry["max_items"] = bounds.max_items
            out.append(entry)
        return out


def _is_numeric(tp: object) -> bool:
    """Whether values of `tp` (or its items) are numbers: int, float or a union/tuple of them."""
    if tp in (int, float):
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType, tuple, list):
        return any(_is_numeric(arg) for arg in typing.get_args(tp) if arg is not Ellipsis)
    return False


def _check_bounds(name: str, value: object, bounds: Bounds) -> None:
    """Refuse NaN, infinities and values outside `bounds`, naming the field and its range."""
    if isinstance(value, (tuple, list)):
        if bounds.max_items is not None and len(value) > bounds.max_items:
            raise ConfigError(
                f"field {name!r}: {len(value)} items; give at most {bounds.max_items}"
            )
        for item in value:
            _check_bounds(name, item, bounds)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if bounds.contains(value):
        return
    kind = "an integer" if isinstance(value, int) else "a number"
    if isinstance(value, float) and not math.isfinite(value):
        problem = f"{clip(value)} is not a finite number"
    else:
        problem = f"{clip(value)} is out of range"
    raise ConfigError(f"field {name!r}: {problem}; give {kind} in {bounds.range_text()}")


def _type_name(tp: object) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(name: str, value: object, tp: object) -> object:
    """Check `value` against the annotation `tp`; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except ConfigError:
                continue
        raise ConfigError(
            f"field {name!r}: {clip(value)} is not a value of type {_type_name(tp)}; "
            "give one of those"
        )
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"field {name!r}: {clip(value)} is not one of {list(args)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"field {name!r}: expected a list, got {type(value).__name__} {clip(value)}"
            )
        item = args[0] if args else Any
        items = [_coerce(name, v, item) for v in value]
        return tuple(items) if origin is tuple else items
    return _coerce_scalar(name, value, tp)


def _coerce_scalar(name: str, value: object, tp: object) -> object:
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {name!r}: expected true or false, got {clip(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {name!r}: expected an integer, got {clip(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {name!r}: expected a number, got {clip(value)}")
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(
                f"field {name!r}: {clip(value)} is too large to be a number; give a smaller one"
            ) from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"field {name!r}: expected a string, got {clip(value)}")
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
    # one-off set-up cost in seconds (statistics, training), reported as efficiency.setup_s
    # apart from the per-edit latency; 0.0 for editors with no set-up. A cached set-up that
    # was only loaded reports the seconds its computation took when it was made.
    setup_seconds: float = 0.0
    # the lowest decoder layer whose output an edit's optimisation can change, set by editors
    # that edit from one depth up (their steps then run the layers below once per edit:
    # evaluator.models.frozen_prefix); None: every step runs the whole model
    first_edited_layer: int | None = None

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
