"""The contract's definitions are the ones the sides use: the form's fields drive validation,
the store's columns and the app's API order; the config parser reads numbers as JSON does."""

from __future__ import annotations

import pytest

from contract.form import FORM, FORM_BY_NAME, FORM_FIELDS
from contract.hub import is_hub_id
from contract.safe_yaml import load_config_text
from submissions import validation
from submissions.schema import requests_table


def test_validation_reads_its_fields_and_limits_from_the_form() -> None:
    assert validation.FORM_FIELDS == FORM_FIELDS == tuple(f.name for f in FORM)
    assert tuple(f.name for f in FORM if f.required) == validation.REQUIRED
    for name, limit in validation.MAX_LENGTHS.items():
        assert limit == FORM_BY_NAME[name].max_chars


def test_the_store_columns_of_form_fields_are_as_wide_as_the_form_allows() -> None:
    stored = [c for c in requests_table.columns if c.name in FORM_BY_NAME]
    assert {c.name for c in stored} >= {"model_id", "editor", "submitter", "organisation"}
    for column in stored:
        field = FORM_BY_NAME[column.name]
        assert column.type.length == field.stored_chars
        assert field.max_chars is None or field.max_chars <= field.stored_chars


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lr: 1e-5", 1e-5), ("lr: 1E+3", 1000.0), ("lr: 2.5", 2.5), ("lr: .5", 0.5), ("lr: 3", 3),
     ('{"lr": 1e-06}', 1e-6), ("lr: '1e-5'", "1e-5"), ("lr: x1e5", "x1e5")],
)  # fmt: skip
def test_numbers_in_a_config_read_as_json_and_yaml_1_2_read_them(text: str, expected) -> None:
    value = load_config_text(text)["lr"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("org/name", True), ("Org-1/model_v2.5", True), ("org/../etc", False), ("a--b/c", False),
     ("org/name/extra", False), ("/abs/path", False), ("org/é", False), ("o/" + "n" * 97, False),
     ("_org/name", False)],
)  # fmt: skip
def test_one_hub_id_rule(text: str, ok: bool) -> None:
    assert is_hub_id(text) is ok
