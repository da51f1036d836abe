"""Editor configs from the public form: alias bombs and oversized texts are refused at once,
every numeric field declares its bounds, and NaN, infinities and out-of-range values are
refused with a message that names the field and its range and quotes little of the value."""

from __future__ import annotations

import dataclasses
import time

import pytest

from contract.limits import CONFIG_MAX_CHARS, CONFIG_MAX_DEPTH, CONFIG_MAX_NODES
from contract.safe_yaml import load_config_text
from evaluator.editors.base import ConfigError
from evaluator.editors.cli import describe_editors, format_editors
from evaluator.editors.config_fields import field
from evaluator.editors.registry import editor_names, get_editor, parse_editor_config


def alias_bomb(levels: int = 8, fan_out: int = 9) -> str:
    """The issue's shape: each anchor a list of `fan_out` aliases to the previous one, so the
    expanded value has fan_out ** levels items while the text stays a few hundred characters."""
    parts = [f"&a0 [{','.join(['1'] * fan_out)}]"]
    parts += [f"&a{i} [{','.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels + 1)]
    return f"steps: [{', '.join(parts)}]"


def refusal(editor: str, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_editor_config(editor, text)
    return str(err.value)


def test_the_alias_bomb_is_refused_in_under_100_ms_with_a_short_message():
    editor_names()  # import the editors first: the timing is the parse alone
    bomb = alias_bomb()
    assert len(bomb) < 400
    started = time.perf_counter()
    message = refusal("ft", bomb)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert elapsed_ms < 100, elapsed_ms
    assert len(message) < 300
    assert "anchor or alias" in message and "line 1" in message


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x",  # a single anchor and alias
        "base: &b {steps: 3}\n<<: *b",  # a merge key needs an alias
        "steps: !!int &n 5",  # an anchor on a tagged scalar
    ],
)
def test_every_anchor_or_alias_is_refused(text):
    with pytest.raises(ConfigError, match="anchor or alias"):
        load_config_text(text)


@pytest.mark.parametrize(
    ("editor", "text", "name"),
    [
        ("ft", "lr: .nan", "lr"),
        ("ft", "lr: .inf", "lr"),
        ("ft", "lr: -.inf", "lr"),
        ("grace", "eps: .nan", "eps"),
        ("ft", "steps: 1000000000", "steps"),
        ("grace", "n_iter: 100000000", "n_iter"),
        ("wise", "n_iter: 100000000", "n_iter"),
        ("lora", "rank: 100000", "rank"),
        ("wise", "irrelevant_cases: 1000000000", "irrelevant_cases"),
        ("wise", "alpha: .nan", "alpha"),
        ("ike", "demonstrations: 1000000", "demonstrations"),
        ("lora", "layers: [0, .nan]", "layers"),
        ("ft", "layer: 100000", "layer"),
    ],
)
def test_nan_infinite_and_oversized_values_are_refused_naming_the_field_and_range(
    editor, text, name
):
    message = refusal(editor, text)
    described = {f["name"]: f for f in get_editor(editor).config_class.describe()}
    assert message.startswith(f"field {name!r}: ")
    assert f"in {described[name]['range']}" in message, message
    assert len(message) < 200


def test_every_numeric_field_of_every_editor_declares_finite_bounds_that_hold_its_default():
    for name in editor_names():
        for f in get_editor(name).config_class.describe():
            if f["type"] in ("int", "float", "int | float") or "range" in f:
                assert f["min"] is not None and f["max"] is not None, (name, f["name"])
                assert f["finite"] is True, (name, f["name"])
                assert f["range"].startswith(("[", "(")), (name, f["name"])
        defaults = get_editor(name).config_class()
        assert get_editor(name).config_class.from_mapping(dataclasses.asdict(defaults))


def test_the_cli_listing_shows_each_fields_range():
    text = format_editors(describe_editors(["ft", "lora"]))
    assert "steps: int = 40  in [1, 1000]" in text
    assert "lr: float = 0.02  in (0, 10]" in text
    assert "at most 7 items" in text  # lora modules


def test_a_declared_default_outside_its_bounds_is_a_programming_error():
    with pytest.raises(ValueError, match="outside"):
        field(0, "steps", min=1, max=10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x" * (CONFIG_MAX_CHARS + 1), f"at most {CONFIG_MAX_CHARS}"),
        ("\n".join(f"k{i}: [1, 2]" for i in range(CONFIG_MAX_NODES)), "more than"),
        ("a: " + "[" * (CONFIG_MAX_DEPTH + 2) + "]" * (CONFIG_MAX_DEPTH + 2), "nested"),
        ("{1: 2}", "field names must be text"),
        ("[1, 2]", "must be a mapping"),
        ("steps: " + "9" * 5000, "cannot be read"),
        ("steps: [1, 2", "not valid YAML"),
        ("steps: !!python/object/apply:os.system ['true']", "not valid YAML"),
    ],
)
def test_malformed_config_texts_are_refused_with_a_short_message(text, expected):
    message = refusal("ft", text)
    assert expected in message
    assert len(message) < 400


def test_messages_quote_at_most_about_200_characters_of_a_value():
    huge = "z" * 5000
    for text in (f"lr: '{huge}'", f"norm_kind: '{huge}'", f"{huge}: 1", f"steps: ['{huge}']"):
        message = refusal("ft", text)
        assert len(message) < 500, (text[:20], len(message))
        assert "z" * 201 not in message


def test_a_float_too_large_for_a_number_is_refused_not_crashed():
    message = refusal("ft", "lr: " + "1" * 400)
    assert message.startswith("field 'lr':") and "too large" in message


def test_a_mapping_passes_the_same_checks_as_text():
    with pytest.raises(ConfigError, match="'steps'.*\\[1, 1000\\]"):
        parse_editor_config("ft", {"steps": 10**30})
    with pytest.raises(ConfigError, match="mapping"):
        get_editor("ft").config_class.from_mapping([("steps", 3)])  # type: ignore[arg-type]
