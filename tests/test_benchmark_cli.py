"""`python -m evaluator benchmark build|info` end to end on the tiny MedMNIST files."""

from __future__ import annotations

import json

from evaluator.__main__ import main
from evaluator.benchmark import load_benchmark


def test_build_then_info(medmnist_npz_root, tmp_path, capsys):
    out = tmp_path / "mme"
    argv = ["benchmark", "build", "--medmnist-root", str(medmnist_npz_root), "--out", str(out)]
    assert main([*argv, "--scale", "small", "--seed", "3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["scale"] == "small"
    assert f"hidden: {manifest['splits']['hidden']['cases']} cases" in printed
    assert len(load_benchmark(out, "public")) == manifest["splits"]["public"]["cases"]

    assert main(["benchmark", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert manifest["splits"]["train"]["sha256"] in info and "reasoning:" in info


def test_build_with_a_missing_file_exits_2_with_the_reason(tmp_path, capsys):
    argv = ["benchmark", "build", "--medmnist-root", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--scale", "small", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "missing MedMNIST file" in err and "https://medmnist.com" in err


def test_info_on_a_folder_without_manifest(tmp_path, capsys):
    assert main(["benchmark", "info", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_build_with_an_unknown_subset_lists_the_known_ones(medmnist_npz_root, tmp_path, capsys):
    argv = ["benchmark", "build", "--medmnist-root", str(medmnist_npz_root)]
    assert main([*argv, "--out", str(tmp_path / "o"), "--flags", "nosuchmnist"]) == 2
    err = capsys.readouterr().err
    assert "unknown MedMNIST subset 'nosuchmnist'" in err and "bloodmnist" in err
