"""The raw API values are checked before Gradio's own components see them, so that every
refusal names its field (Gradio's radio would refuse an empty model type with a generic
error; found by the HTTP fuzz test)."""

from __future__ import annotations

import pytest

from contract.form import FORM_FIELDS
from leaderboard.submit_api import check_raw_submit_values
from submissions import SubmissionError


def values(**overrides: object) -> list[object]:
    form = {name: "" for name in FORM_FIELDS} | {"settings": ["single"], "model_type": "general"}
    form.update(overrides)
    return [form[name] for name in FORM_FIELDS]


@pytest.mark.parametrize("model_type", ["", "   ", "GENERAL", "\u200b"])
def test_a_bad_model_type_is_refused_naming_the_field(model_type: str) -> None:
    with pytest.raises(SubmissionError) as err:
        check_raw_submit_values(values(model_type=model_type))
    assert err.value.field == "model_type"


def test_a_valid_form_and_an_unset_model_type_pass() -> None:
    check_raw_submit_values(values())
    check_raw_submit_values(values(model_type=None))
