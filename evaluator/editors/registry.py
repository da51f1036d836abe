"""Editors register by name; configs are parsed from YAML/JSON text or a mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evaluator.editors.base import ConfigError, Editor, EditorConfig
from evaluator.limits import clip
from evaluator.safe_yaml import load_config_text

EDITORS: dict[str, type[Editor]] = {}


def register_editor(name: str) -> Callable[[type[Editor]], type[Editor]]:
    """Class decorator: `@register_editor("grace")`. A duplicate name is an error."""

    def decorate(cls: type[Editor]) -> type[Editor]:
        if name in EDITORS:
            raise ValueError(f"editor {name!r} is already registered by {EDITORS[name].__module__}")
        cls.name = name
        EDITORS[name] = cls
        return cls

    return decorate


def editor_names() -> list[str]:
    _load_builtin_editors()
    return sorted(EDITORS)


def get_editor(name: str) -> type[Editor]:
    _load_builtin_editors()
    if name not in EDITORS:
        raise ConfigError(f"unknown editor {clip(name, 60)}; choose one of {sorted(EDITORS)}")
    return EDITORS[name]


def parse_editor_config(name: str, config: str | Mapping[str, Any] | None) -> EditorConfig:
    """Parse YAML or JSON text (or a mapping) into the editor's checked config dataclass.

    Text goes through `evaluator.safe_yaml.load_config_text` (size cap, no anchors or aliases,
    capped nodes and nesting); every field is then checked against its type and bounds.
    """
    editor = get_editor(name)
    if isinstance(config, str):
        config = load_config_text(config)
    return editor.config_class.from_mapping(config)


def _load_builtin_editors() -> None:
    """Import the built-in editor modules so that their decorators run."""
    import evaluator.editors.builtin  # noqa: F401
