"""Pinning a model to a revision, and refusing what must not be loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoModelForImageTextToText

from evaluator.models import ModelResolutionError, load_vlm, resolve_model


@pytest.fixture
def model_copy(tiny_family_dirs: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of a saved tiny model that a test may alter."""
    return Path(shutil.copytree(tiny_family_dirs["qwen2-vl"], tmp_path / "model"))


def _edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_local_folder_is_pinned_to_a_hash_of_its_config_and_weight_files(model_copy):
    resolved = resolve_model(str(model_copy))
    model = AutoModelForImageTextToText.from_pretrained(model_copy)
    assert resolved.local_path == model_copy.resolve()
    assert resolved.architecture == "Qwen2VLForConditionalGeneration"
    assert resolved.num_parameters == sum(p.numel() for p in model.parameters())
    assert resolve_model(str(model_copy)).revision == resolved.revision
    (model_copy / "README.md").write_text("changed")  # documentation is not part of the model
    assert resolve_model(str(model_copy)).revision == resolved.revision
    _edit_config(model_copy, use_cache=False)  # config and weights are
    assert resolve_model(str(model_copy)).revision != resolved.revision


def test_load_vlm_records_the_revision_and_refuses_a_stale_one(model_copy):
    revision = resolve_model(str(model_copy)).revision
    assert load_vlm(str(model_copy), revision=revision).revision == revision
    with pytest.raises(ModelResolutionError, match="content hash"):
        load_vlm(str(model_copy), revision="0" * 64)


def test_a_config_with_auto_map_is_refused_as_remote_code(model_copy):
    _edit_config(model_copy, auto_map={"AutoModelForImageTextToText": "modeling_x.XModel"})
    with pytest.raises(ModelResolutionError, match="remote code"):
        load_vlm(str(model_copy))


def test_an_unknown_model_type_is_refused_as_remote_code(model_copy):
    _edit_config(model_copy, model_type="my_secret_vlm")
    with pytest.raises(ModelResolutionError, match="'my_secret_vlm'.*remote code"):
        resolve_model(str(model_copy))


def test_a_folder_without_safetensors_is_refused(model_copy):
    for weights in model_copy.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelResolutionError, match="no .safetensors"):
        load_vlm(str(model_copy))


def test_a_hub_id_offline_says_to_pass_a_local_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelResolutionError, match="cannot be resolved offline.*local path"):
        load_vlm("lmms-lab/llava-onevision-qwen2-7b-ov")


def test_a_missing_local_path_is_not_taken_for_a_hub_id(tmp_path):
    with pytest.raises(ModelResolutionError, match="neither an existing local folder"):
        resolve_model(str(tmp_path / "nowhere" / "model"))
