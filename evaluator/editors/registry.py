"""Editors register by name; configs are parsed from YAML/JSON text or a mapping.

Built-in editors register when evaluator.editors.builtin is imported. Installed packages add
editors through the entry point group `multimededit.editors` (docs/editors.md, "Add your
editor"): each entry point names an Editor subclass, or a module that registers editors with
`@register_editor` when imported. A plugin that fails to import or to pass the checks below is
left out and reported by name (`plugin_errors()`, a logged warning); it never stops the app or
the CLI, and the other editors stay available.

Tests register editors for a while only: `with registered(PlantedEditor): ...` (or
`scoped_registry()` around code that calls `register_editor`) leaves the registry as it was.
"""

from __future__ import annotations

import importlib.metadata
import logging
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from contract.limits import clip
from contract.safe_yaml import load_config_text
from evaluator.editors.base import ConfigError, Editor, EditorConfig

PLUGIN_GROUP = "multimededit.editors"
EDITORS: dict[str, type[Editor]] = {}
# editor name -> (distribution "name version", entry point "name=value") that added it
PLUGINS: dict[str, tuple[str, str]] = {}
# entry point "name=value" -> the editor names it registered
_LOADED: dict[str, list[str]] = {}
# entry point name -> why that plugin was left out
_PLUGIN_ERRORS: dict[str, str] = {}
_plugins_loaded = False
log = logging.getLogger(__name__)


def register_editor(name: str) -> Callable[[type[Editor]], type[Editor]]:
    """Class decorator: `@register_editor("grace")`. A duplicate name is an error."""

    def decorate(cls: type[Editor]) -> type[Editor]:
        if name in EDITORS:
            raise ValueError(f"editor {name!r} is already registered by {EDITORS[name].__module__}")
        cls.name = name
        EDITORS[name] = cls
        return cls

    return decorate


@contextmanager
def scoped_registry() -> Iterator[None]:
    """Snapshot the registry (editors, plugins, plugin errors) and restore it on exit, even
    when the block raises: whatever the block registers or removes is undone.

    The built-in editors and the plugins are loaded first, so that they are in the snapshot
    and stay registered afterwards. The dicts are restored in place (modules that imported
    `EDITORS` or `PLUGINS` see the restored contents). Not thread-safe: meant for tests and
    other single-threaded set-up code.
    """
    global _plugins_loaded
    _load_builtin_editors()
    editors, plugins = dict(EDITORS), dict(PLUGINS)
    loaded, errors = dict(_LOADED), dict(_PLUGIN_ERRORS)
    plugins_loaded = _plugins_loaded
    try:
        yield
    finally:
        _restore(EDITORS, editors)
        _restore(PLUGINS, plugins)
        _restore(_LOADED, loaded)
        _restore(_PLUGIN_ERRORS, errors)
        _plugins_loaded = plugins_loaded


def _restore(live: dict[str, Any], snapshot: dict[str, Any]) -> None:
    live.clear()
    live.update(snapshot)


@contextmanager
def registered(*classes: type[Editor]) -> Iterator[list[str]]:
    """Register editor classes for the duration of a `with` block; yields their names.

    Each class is registered under its `name` class attribute, as `@register_editor(name)`
    would (a name taken by a built-in, a plugin or another class is an error, and then nothing
    stays registered). On exit the registry is restored as `scoped_registry()` does.
    """
    with scoped_registry():
        names = []
        for cls in classes:
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise TypeError(f"{cls.__qualname__} needs a `name` class attribute to register")
            register_editor(name)(cls)
            names.append(name)
        yield names


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

    Text goes through `contract.safe_yaml.load_config_text` (size cap, no anchors or aliases,
    capped nodes and nesting); every field is then checked against its type and bounds.
    """
    editor = get_editor(name)
    if isinstance(config, str):
        config = load_config_text(config)
    return editor.config_class.from_mapping(config)


def _load_builtin_editors() -> None:
    """Import the built-in editor modules so that their decorators run, then the plugins."""
    import evaluator.editors.builtin  # noqa: F401

    if not _plugins_loaded:
        load_plugins()


def plugin_errors() -> dict[str, str]:
    """Entry point name -> why that plugin was left out (empty when every plugin loaded)."""
    _load_builtin_editors()
    return dict(_PLUGIN_ERRORS)


def load_plugins(*, refresh: bool = False) -> dict[str, str]:
    """Discover the `multimededit.editors` entry points and register their editors; returns
    the errors (entry point name -> reason). `refresh` looks again: editors of entry points
    that are gone are removed and failed ones are retried (for installs while running)."""
    global _plugins_loaded
    import evaluator.editors.builtin  # noqa: F401  (built-in names win over plugins)

    _plugins_loaded = True
    try:
        entry_points = list(importlib.metadata.entry_points(group=PLUGIN_GROUP))
    except Exception as err:  # noqa: BLE001 - a broken environment must not stop the app
        _PLUGIN_ERRORS["*"] = f"cannot list the {PLUGIN_GROUP} entry points: {clip(err, 200)}"
        return dict(_PLUGIN_ERRORS)
    keys = {f"{e.name}={e.value}": e for e in entry_points}
    if refresh:
        _PLUGIN_ERRORS.clear()
        for key in [k for k in _LOADED if k not in keys]:
            for name in _LOADED.pop(key):
                EDITORS.pop(name, None)
                PLUGINS.pop(name, None)
    for key, entry_point in sorted(keys.items()):
        if key in _LOADED:
            continue
        error = _load_plugin(entry_point)
        if error:
            _PLUGIN_ERRORS[entry_point.name] = error
            log.warning("editor plugin %r left out: %s", entry_point.name, error)
        else:
            _LOADED[key] = [n for n, origin in PLUGINS.items() if origin[1] == key]
    return dict(_PLUGIN_ERRORS)


def _load_plugin(entry_point: importlib.metadata.EntryPoint) -> str | None:
    """Register one plugin; the reason it was left out, or None. What it registered before
    failing is removed again."""
    before = set(EDITORS)
    try:
        loaded = entry_point.load()
        names = _plugin_editor_names(entry_point.name, loaded, before)
        for name in names:
            _check_plugin_editor(name, EDITORS[name])
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any plugin fault is reported
        for name in set(EDITORS) - before:
            EDITORS.pop(name, None)
        return f"{type(err).__name__}: {clip(err, 300)}"
    dist = entry_point.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else entry_point.value
    for name in names:
        PLUGINS[name] = (origin, f"{entry_point.name}={entry_point.value}")
    return None


def _plugin_editor_names(name: str, loaded: object, before: set[str]) -> list[str]:
    """The editor names a loaded entry point adds: an Editor subclass registers under the
    entry point's name (unless its decorator already did); a module must have registered
    at least one editor while it was imported."""
    added = sorted(set(EDITORS) - before)
    if isinstance(loaded, type) and issubclass(loaded, Editor):
        if EDITORS.get(name) is loaded:
            return added
        if name in EDITORS:
            raise ValueError(
                f"the name {name!r} is taken by {EDITORS[name].__module__}; rename the entry point"
            )
        register_editor(name)(loaded)
        return sorted(set(EDITORS) - before)
    if isinstance(loaded, types.ModuleType):
        if not added:
            raise ValueError(f"module {loaded.__name__} registered no new editor when imported")
        return added
    raise TypeError(
        f"entry point value must be an Editor subclass or a module, got {type(loaded).__name__}"
    )


def _check_plugin_editor(name: str, cls: type[Editor]) -> None:
    """What the app, the CLI and the protocols rely on: a config class deriving EditorConfig
    whose defaults parse and whose fields describe themselves, and an apply method."""
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and issubclass(config_class, EditorConfig)):
        raise TypeError(f"editor {name!r}: config_class must be an EditorConfig subclass")
    config_class.from_mapping(None)
    config_class.describe()
    if getattr(cls, "__abstractmethods__", None):
        missing = sorted(cls.__abstractmethods__)
        raise TypeError(f"editor {name!r} does not implement {missing}")
