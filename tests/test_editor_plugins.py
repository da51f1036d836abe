"""Editors as plugins: a throw-away distribution (a dist-info with a `multimededit.editors`
entry point on a temporary path) holding the minimal editor of docs/editors.md is discovered,
listed, parsed, run end to end through the CLI and checked by the common editor tests; broken
plugins are reported by name and take nothing else down."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evaluator.editors import registry
from evaluator.editors.cli import describe_editors, format_editors
from evaluator.editors.registry import (
    PLUGINS,
    editor_names,
    get_editor,
    load_plugins,
    parse_editor_config,
    plugin_errors,
)
from evaluator.result import validate_result

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "editors.md"


def documented_example() -> str:
    """The minimal editor of docs/editors.md, between its plugin-example markers."""
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- plugin-example:begin -->")[1].split("<!-- plugin-example:end -->")[0]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def install(site: Path, dist: str, version: str, files: dict[str, str], entry_points: dict) -> None:
    """A distribution as pip leaves it: its modules and a dist-info with METADATA and
    entry_points.txt, on `site`."""
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[multimededit.editors]\n{lines}")


BROKEN = {
    "mme_broken/__init__.py": textwrap.dedent(
        """
        from evaluator.editors.base import Editor, EditorConfig

        import torch


        class NotAConfig:
            pass


        class NoConfigEditor(Editor):
            config_class = NotAConfig

            def apply(self, edit):
                pass


        class NoApplyEditor(Editor):
            config_class = EditorConfig


        NOT_AN_EDITOR = 42
        """
    ),
    "mme_broken/crash.py": "raise ImportError('the plugin needs a package that is missing')\n",
    "mme_broken/exits.py": "import sys\nsys.exit(3)\n",
}
BROKEN_ENTRY_POINTS = {
    "crash": "mme_broken.crash",
    "exits": "mme_broken.exits",
    "number": "mme_broken:NOT_AN_EDITOR",
    "noconfig": "mme_broken:NoConfigEditor",
    "noapply": "mme_broken:NoApplyEditor",
    "ft": "mme_nudge:NudgeEditor",  # a built-in's name
    "missing": "mme_nowhere:Editor",
}


@pytest.fixture()
def site(tmp_path, monkeypatch):
    """A temporary site folder on sys.path with the documented plugin installed; the registry
    forgets every plugin from it afterwards."""
    folder = tmp_path / "site"
    install(
        folder,
        "mme-nudge",
        "0.1.0",
        {"mme_nudge/__init__.py": documented_example()},
        {"nudge": "mme_nudge:NudgeEditor"},
    )
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    monkeypatch.undo()
    for module in [m for m in sys.modules if m.startswith(("mme_nudge", "mme_broken"))]:
        del sys.modules[module]
    load_plugins(refresh=True)


def env_with(site: Path, home: Path) -> dict[str, str]:
    paths = [str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "OMP_NUM_THREADS": "1",
        "MME_HOME": str(home),
    }


def test_an_installed_plugin_is_listed_parsed_and_described_like_a_built_in(site):
    assert load_plugins(refresh=True) == {}
    assert "nudge" in editor_names()
    assert PLUGINS["nudge"][0] == "mme-nudge 0.1.0"
    config = parse_editor_config("nudge", "steps: 3\nlayer: 0.5")
    assert (config.steps, config.layer) == (3, 0.5)
    described = describe_editors(["nudge"])
    assert [f["name"] for f in described["nudge"]] == ["layer", "steps", "lr"]
    assert "nudge  (plugin: mme-nudge 0.1.0)" in format_editors(described)
    assert get_editor("ft").__module__ == "evaluator.editors.ft"


def test_a_removed_plugin_disappears_on_refresh(site, monkeypatch):
    load_plugins(refresh=True)
    assert "nudge" in editor_names()
    monkeypatch.syspath_prepend(str(site.parent))  # keep sys.path valid, drop the site folder
    sys.path.remove(str(site))
    load_plugins(refresh=True)
    assert "nudge" not in editor_names() and "nudge" not in PLUGINS


def test_broken_plugins_are_reported_by_name_and_the_rest_still_load(site, capsys):
    install(site, "mme-broken", "0.0.1", BROKEN, BROKEN_ENTRY_POINTS)
    errors = load_plugins(refresh=True)
    assert set(errors) == set(BROKEN_ENTRY_POINTS)
    assert "missing" in errors["crash"] and "SystemExit" in errors["exits"]
    assert "taken by evaluator.editors.ft" in errors["ft"]
    assert "EditorConfig" in errors["noconfig"] and "apply" in errors["noapply"]
    assert "nudge" in editor_names()
    assert get_editor("ft").__module__ == "evaluator.editors.ft"
    assert not set(BROKEN_ENTRY_POINTS) - {"ft"} & set(registry.EDITORS)
    assert plugin_errors() == errors


def test_the_cli_lists_plugins_and_warns_about_broken_ones_by_name(site, tmp_path):
    install(site, "mme-broken", "0.0.1", BROKEN, {"crash": "mme_broken.crash"})
    done = subprocess.run(
        [sys.executable, "-m", "evaluator", "editors"],
        cwd=ROOT,
        env=env_with(site, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "nudge  (plugin: mme-nudge 0.1.0)" in done.stdout
    assert "memit" in done.stdout and "ultraedit" in done.stdout
    assert "warning: editor plugin 'crash' left out: ImportError" in done.stderr


def test_the_plugin_runs_end_to_end_through_the_evaluator_cli(
    site, tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir
):
    config = tmp_path / "nudge.yaml"
    config.write_text("steps: 3\n")
    out = tmp_path / "result.json"
    argv = [
        sys.executable, "-m", "evaluator", "run",
        "--model", str(tiny_llava_onevision_dir),
        "--editor", "nudge",
        "--config", str(config),
        "--benchmark", str(tiny_benchmark_dir),
        "--split", "public",
        "--setting", "single",
        "--limit", "2",
        "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        argv, cwd=ROOT, env=env_with(site, tmp_path / "home"), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    validate_result(result)
    assert result["editor"]["name"] == "nudge"
    assert result["editor"]["config"] == {"layer": -1, "steps": 3, "lr": 0.1}
    assert result["benchmark"]["cases"] == 2 and result["efficiency"]["setup_s"] == 0.0


def test_the_common_editor_tests_run_against_the_plugin(site, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_editors_common.py", "-k", "nudge"],
        cwd=ROOT, env=env_with(site, tmp_path / "home"), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    passed = int(re.search(r"(\d+) passed", done.stdout).group(1))
    assert passed >= 5 and " failed" not in done.stdout
