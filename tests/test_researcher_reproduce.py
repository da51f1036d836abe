"""Reproduce this row: a row's detail gives the editor config as a YAML file and the exact
evaluator command on the PUBLIC split, and its result JSON is written for download inside the
downloads folder only."""

from __future__ import annotations

import json

import yaml

from contract import paths
from contract.safe_yaml import load_config_text
from leaderboard.csv_export import write_result_json
from leaderboard.table import (
    board_frame,
    board_wide,
    config_yaml,
    detail_frame,
    interval_details,
    leaderboard_view,
)
from submissions import Store
from tests.app_support import store_results


def test_the_detail_gives_the_public_split_command_and_the_config_file(real_results, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store_results(store, real_results)
    board = store.board_rows()
    view = leaderboard_view(board_frame(board_wide(board.columns, board.rows)),
                            setting="lifelong", tier="overall")  # fmt: skip
    line = view.iloc[0]
    full = store.get_result(int(line["request_id"]), "lifelong")
    row = detail_frame(full, "overall").iloc[0]
    text = interval_details(detail_frame(full, "overall"), 0)
    result = full.result
    command = next(t for t in text.splitlines() if t.startswith("python -m evaluator run"))
    seed = result["environment"]["seed"]
    assert command == (
        f"python -m evaluator run --model {result['model']['id']} --revision "
        f"{result['model']['revision']} --editor {result['editor']['name']} --config "
        f"config-{result['editor']['config_hash'][:8]}.yaml --benchmark "
        f"{result['benchmark']['name']} --split public --setting lifelong --seed {seed} "
        "--out result.json"
    )
    assert "hidden" not in command
    assert f"version {result['benchmark']['version']}" in text
    block = text.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    # the YAML block reads back as the result's editor config, every field
    assert yaml.safe_load(block) == json.loads(row["editor_config"])
    assert yaml.safe_load(block) == result["editor"]["config"]
    store.close()


def test_config_yaml_keeps_every_kind_of_value():
    config = {"lr": 0.001, "layers": [1, 2], "name": "a: b", "on": True, "none": None, "1": 2}
    assert yaml.safe_load(config_yaml(json.dumps(config))) == config
    assert load_config_text(config_yaml(json.dumps(config))) == config  # the evaluator's parser


def test_the_result_json_is_written_in_the_downloads_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    result = {"model": {"id": "org/m"}, "setting": "single"}
    path = write_result_json(result, "result-3-single/../../etc")
    assert path.parent == paths.downloads_dir()
    assert path.name.startswith("result-3-single-etc-") and path.suffix == ".json"
    assert json.loads(path.read_text()) == result
    assert write_result_json(result, "result-3-single/../../etc") == path  # same content
