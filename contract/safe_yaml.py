"""Editor config text (YAML or JSON) to a flat mapping, safely: a size cap on the text, no
anchors or aliases (so no alias bombs), capped node count and nesting, and error messages that
quote at most a bounded piece of the input. Torch-free, so the worker can use it too."""

from __future__ import annotations

import re
from typing import Any

import yaml

from contract.limits import CONFIG_MAX_CHARS, CONFIG_MAX_DEPTH, CONFIG_MAX_NODES, clip, shorten


class ConfigError(ValueError):
    """A bad editor config: the message names the field, the bad value and what to do."""


class _FlatConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases and caps the number and depth of nodes
    while composing, before any value is constructed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(
        self, parent: yaml.Node | None, index: int | yaml.Node | None
    ) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ConfigError(
                f"editor config uses a YAML anchor or alias (& or *) at {_where(event)}; "
                "anchors and aliases are not accepted, write each value out in full"
            )
        self._nodes += 1
        if self._nodes > CONFIG_MAX_NODES:
            raise ConfigError(
                f"editor config has more than {CONFIG_MAX_NODES} values; a config is a short "
                "mapping of field: value, keep it under that"
            )
        self._depth += 1
        try:
            if self._depth > CONFIG_MAX_DEPTH:
                raise ConfigError(
                    f"editor config is nested more than {CONFIG_MAX_DEPTH} levels deep at "
                    f"{_where(event)}; fields take a value or a flat list of values"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# YAML 1.1 (PyYAML) reads 1e-05 as text; YAML 1.2 and JSON read it as a number, as a person
# typing a learning rate means it and as the canonical JSON config writes it
_FlatConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _where(event: yaml.Event) -> str:
    mark = getattr(event, "start_mark", None)
    if mark is None:
        return "an unknown position"
    return f"line {mark.line + 1}, column {mark.column + 1}"


def load_config_text(text: str) -> dict[str, Any]:
    """Parse YAML or JSON `text` into a mapping of field name -> value; empty text gives {}.

    Raises ConfigError (size, anchors/aliases, node count, nesting, syntax, not a mapping,
    non-text keys); the message quotes at most a bounded piece of the text.
    """
    if not isinstance(text, str):
        raise ConfigError(f"editor config must be YAML or JSON text, got {type(text).__name__}")
    if len(text) > CONFIG_MAX_CHARS:
        raise ConfigError(
            f"editor config is {len(text)} characters long; shorten it to at most "
            f"{CONFIG_MAX_CHARS} (list only the fields that differ from the defaults)"
        )
    if not text.strip():
        return {}
    loader = _FlatConfigLoader(text)
    try:
        data = loader.get_single_data()
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as err:
        raise ConfigError(f"editor config is not valid YAML/JSON: {_yaml_problem(err)}") from None
    except yaml.YAMLError as err:
        problem = shorten(str(err), 160)
        raise ConfigError(f"editor config is not valid YAML/JSON: {problem}") from None
    except (ValueError, OverflowError, RecursionError, TypeError) as err:
        raise ConfigError(
            f"editor config has a value that cannot be read ({type(err).__name__}, e.g. a number "
            "with thousands of digits); give plain numbers, strings and lists"
        ) from None
    finally:
        loader.dispose()
    return _as_mapping(data)


def _yaml_problem(err: yaml.MarkedYAMLError) -> str:
    problem = shorten(err.problem or err.context or "syntax error", 160)
    mark = err.problem_mark or err.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}; write one 'field: value' per line"


def _as_mapping(data: object) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"editor config must be a mapping of field: value, got {type(data).__name__} "
            f"{clip(data, 80)}; write one 'field: value' per line"
        )
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(
                f"editor config field names must be text, got {type(key).__name__} "
                f"{clip(key, 80)}; write 'field: value' with the field's name"
            )
    return data
