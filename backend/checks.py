"""`EvaluatorChecks`: the write side's checks (contract.checks.SubmissionChecks) implemented with
the evaluator: model resolution, the editor registry and its config classes. The app and the
bootstrap pass one to the Submit form and to `submissions.submit`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from contract.checks import CanonicalConfig, FieldError, PinnedModel
from contract.safe_yaml import ConfigError

# (id_or_path, revision) -> a pinned model; replaces the served-model resolution (tests)
Resolver = Callable[[str, str | None], PinnedModel]


class EvaluatorChecks:
    """Submission checks backed by the evaluator. `resolve` overrides the served-model
    resolution under the models root (tests use it to fake the hub)."""

    def __init__(self, resolve: Resolver | None = None) -> None:
        self._resolve = resolve

    def editor_names(self) -> list[str]:
        from evaluator.editors.registry import editor_names

        return editor_names()

    def resolve_model(self, model_id: str, revision: str | None, models_root: Path) -> PinnedModel:
        from evaluator.models.resolve import resolve_served_model

        if self._resolve is not None:
            return self._resolve(model_id, revision)
        return resolve_served_model(model_id, revision, models_root=models_root)

    def canonical_config(self, editor: str, text: str, num_layers: int | None) -> CanonicalConfig:
        from evaluator.editors.registry import parse_editor_config

        config = parse_editor_config(editor, text)
        if num_layers:
            try:
                config.check_for_model(num_layers)
            except ConfigError as err:
                raise ConfigError(
                    f"{err} (config.json of the model declares {num_layers} layers)"
                ) from None
        canonical = json.dumps(config.to_dict(), sort_keys=True, ensure_ascii=False)
        config_hash = config.config_hash(editor)
        again = parse_editor_config(editor, canonical).config_hash(editor)
        if again != config_hash:  # a config class whose fields do not survive JSON: a bug
            raise FieldError(
                f"the {editor} config does not round-trip through JSON; report this editor",
                field="editor_config",
            )
        return CanonicalConfig(text=canonical, config_hash=config_hash)

    def defaults_yaml(self, editor: str) -> str:
        """The editor's config fields with their defaults, as YAML for the form."""
        fields = _describe(editor)
        return yaml.safe_dump(
            {f["name"]: _plain(f["default"]) for f in fields}, sort_keys=False, allow_unicode=True
        )

    def help_markdown(self, editor: str) -> str:
        """One line per config field: name, type, default, allowed range and help."""
        lines = [f"**{editor}** config fields:", ""]
        for f in _describe(editor):
            allowed = f", range `{f['range']}`" if "range" in f else ""
            default = _plain(f["default"])
            head = f"- `{f['name']}` ({f['type']}, default `{default}`{allowed})"
            lines.append(f"{head}: {f['help']}")
        return "\n".join(lines)


def _describe(editor: str) -> list[dict[str, Any]]:
    from evaluator.editors.registry import get_editor

    return get_editor(editor).config_class.describe()


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
