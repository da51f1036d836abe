"""Editors register by name; configs are parsed from YAML/JSON text or a mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

from evaluator.editors.base import ConfigError, Editor, EditorConfig

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
        raise ConfigError(f"unknown editor {name!r}; choose one of {sorted(EDITORS)}")
    return EDITORS[name]


def parse_editor_config(name: str, config: str | Mapping[str, Any] | None) -> EditorConfig:
    """Parse YAML or JSON text (or a mapping) into the editor's checked config dataclass."""
    editor = get_editor(name)
    if isinstance(config, str):
        try:
            data = yaml.safe_load(config) if config.strip() else {}
        except yaml.YAMLError as err:
            raise ConfigError(f"editor config is not valid YAML/JSON: {err}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(
                f"editor config must be a mapping of field: value, got {type(data).__name__}"
            )
        config = data
    return editor.config_class.from_mapping(config)


def _load_builtin_editors() -> None:
    """Import the built-in editor modules so that their decorators run."""
    import evaluator.editors.builtin  # noqa: F401
