"""Config-field helpers for the editors' EditorConfig dataclasses: a field with its help text
and declared bounds, and checks of a parsed config's values."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from evaluator.editors.base import Bounds, ConfigError, EditorConfig

T = TypeVar("T")


def field(
    default: T,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    finite: bool = True,
    max_items: int | None = None,
) -> T:
    """A dataclass field with its default, the help text and the bounds that `describe()`
    prints and `EditorConfig.from_mapping` enforces: `min`/`max` (excluded when `min_open`/
    `max_open`), `finite` (NaN and infinities refused, the default) and, for tuple fields,
    `max_items`; a tuple field's bounds apply to each of its items."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple default so that configs stay frozen and hashable")
    bounds = Bounds(min, max, min_open, max_open, finite, max_items)
    for value in default if isinstance(default, tuple) else (default,):
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric and not bounds.contains(value):
            raise ValueError(f"default {value!r} lies outside {bounds.range_text()}")
    return dataclasses.field(default=default, metadata={"help": help, "bounds": bounds})


def check_positive(config: EditorConfig, *names: str, allow_zero: bool = False) -> None:
    """Each named field must be > 0 (or >= 0 with allow_zero)."""
    for name in names:
        value = getattr(config, name)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"field {name!r}: {value!r} is out of range; it must be {bound}")


def check_fraction(config: EditorConfig, name: str, *, open_low: bool = False) -> None:
    """The named field must lie in [0, 1] (or (0, 1] with open_low)."""
    value = getattr(config, name)
    if not (0.0 < value <= 1.0 if open_low else 0.0 <= value <= 1.0):
        bound = "(0, 1]" if open_low else "[0, 1]"
        raise ConfigError(f"field {name!r}: {value!r} is out of range; it must be in {bound}")
