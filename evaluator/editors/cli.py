"""`python -m evaluator editors`: every registered editor with its config fields."""

from __future__ import annotations

import argparse
import json
import sys
import typing

from evaluator.editors.base import ConfigError
from evaluator.editors.registry import PLUGINS, editor_names, get_editor, plugin_errors


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="List the editors and their config fields (name, type, default, allowed "
        "range, help).",
    )
    parser.add_argument("names", nargs="*", help="only these editors (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def describe_editors(names: list[str] | None = None) -> dict[str, list[dict]]:
    """{editor name: its config's describe()} for the given or all registered editors; a
    Literal field also gets its allowed values as `choices`."""
    out = {}
    for name in names or editor_names():
        config_class = get_editor(name).config_class
        hints = typing.get_type_hints(config_class)
        fields = config_class.describe()
        for field in fields:
            if typing.get_origin(hints[field["name"]]) is typing.Literal:
                field["choices"] = list(typing.get_args(hints[field["name"]]))
        out[name] = fields
    return out


def format_editors(described: dict[str, list[dict]]) -> str:
    lines = []
    for name, fields in described.items():
        origin = PLUGINS.get(name)
        lines.append(f"{name}  (plugin: {origin[0]})" if origin else name)
        for f in fields:
            kind = " | ".join(map(repr, f["choices"])) if "choices" in f else f["type"]
            bounds = f"  in {f['range']}" if "range" in f else ""
            if "max_items" in f:
                bounds += f", at most {f['max_items']} items"
            lines.append(f"  {f['name']}: {kind} = {f['default']!r}{bounds}")
            if f["help"]:
                lines.append(f"      {f['help']}")
        if not fields:
            lines.append("  (no config fields)")
        lines.append("")
    return "\n".join(lines).rstrip() or "no editors registered"


def main(args: argparse.Namespace) -> int:
    for name, why in plugin_errors().items():
        print(f"warning: editor plugin {name!r} left out: {why}", file=sys.stderr)
    try:
        described = describe_editors(args.names)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(described, indent=2, default=list))
    else:
        print(format_editors(described))
    return 0
