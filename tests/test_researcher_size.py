"""Model size and date on the board: the submission keeps the pinned model's parameter
count, the board shows it (and the result's date and wall time), and a size filter narrows
the leaderboard by ranges of parameter counts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from contract.checks import CanonicalConfig
from leaderboard.table import SIZE_CHOICES, leaderboard_view, params_text, results_frame
from submissions.record import SubmissionRecord
from submissions.validation import validate_submission


@dataclasses.dataclass(frozen=True)
class Pinned:
    model_id: str = "org/model"
    revision: str = "a" * 40
    num_parameters: int | None = 2_500_000_000
    num_layers: int | None = 4


class FakeChecks:
    def editor_names(self) -> list[str]:
        return ["ft"]

    def defaults_yaml(self, editor: str) -> str:
        return ""

    def help_markdown(self, editor: str) -> str:
        return ""

    def resolve_model(self, model_id: str, revision: str | None, models_root: Path) -> Pinned:
        return Pinned()

    def canonical_config(self, editor: str, text: str, num_layers: int | None) -> CanonicalConfig:
        return CanonicalConfig(text="{}", config_hash="b" * 64)


FORM = {
    "model_id": "org/model",
    "model_type": "general",
    "editor": "ft",
    "editor_config": "",
    "settings": ["single"],
    "submitter": "Ada",
    "organisation": "Lab",
    "contact": "ada@example.org",
}


def test_the_record_keeps_the_pinned_models_parameter_count(tmp_path):
    from submissions.validation import SubmissionLimits

    limits = SubmissionLimits(models_root=tmp_path)
    record = validate_submission(FORM, checks=FakeChecks(), limits=limits)
    assert record.num_parameters == 2_500_000_000
    assert SubmissionRecord.from_dict(record.to_dict()) == record


def test_a_record_stored_before_the_count_was_kept_still_loads():
    old = {
        "model_id": "org/model",
        "revision": "a" * 40,
        "model_type": "general",
        "editor": "ft",
        "editor_config": "{}",
        "config_hash": "b" * 64,
        "settings": ["single"],
        "submitter": "Ada",
        "organisation": "Lab",
        "contact": "ada@example.org",
    }
    assert SubmissionRecord.from_dict(old).num_parameters is None


def test_parameter_counts_read_in_millions_or_billions():
    assert params_text(None) == ""
    assert params_text(float("nan")) == ""
    assert params_text(350_000_000) == "350M"
    assert params_text(7_240_000_000) == "7.2B"


def _row(result: dict, model_id: str, count: int | None) -> dict:
    return {
        "setting": result["setting"],
        "result": result,
        "model_id": model_id,
        "model_type": "general",
        "editor": result["editor"]["name"],
        "num_parameters": count,
    }


def test_the_size_filter_keeps_the_chosen_ranges(real_results):
    single = next(r for r in real_results if r["setting"] == "single")
    sizes = {"tiny": 5e8, "small": 2e9, "mid": 7e9, "big": 7e10, "unknown": None}
    frame = results_frame([_row(single, name, count) for name, count in sizes.items()])
    assert set(SIZE_CHOICES) == {"<1B", "1-4B", "4-10B", ">10B", "unknown"}

    def kept(chosen: list[str] | None) -> set[str]:
        view = leaderboard_view(frame, setting="single", tier="overall", sizes=chosen)
        return set(view["model_id"])

    assert kept(None) == kept([]) == set(sizes)
    assert kept(["<1B"]) == {"tiny"}
    assert kept(["1-4B", "4-10B"]) == {"small", "mid"}
    assert kept([">10B", "unknown"]) == {"big", "unknown"}
    view = leaderboard_view(frame, setting="single", tier="overall", sizes=["4-10B"])
    assert view["params"].tolist() == ["7.0B"]
    assert isinstance(view["evaluated"].iloc[0], str) and len(view["evaluated"].iloc[0]) == 10
    assert pd.notna(view["wall_s"].iloc[0])
