"""Hypothesis strategies for the write-path fuzz tests: one malformed value for one form field,
as (field, value), where the field is the one a correct refusal must name. The base form is
`tests.write_path_support.valid_form` on a served model with GRACE (4 decoder layers)."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from hypothesis import strategies as st

from contract.limits import FIELD_MAX_CHARS, SETTINGS_MAX_ITEMS
from contract.names import MODEL_TYPES, SETTINGS
from submissions.validation import EMAIL, HANDLE

SERVED = "served-model-q7"  # the served model's folder name: no generated path may name it
EDITORS = ("ft", "grace", "ike", "lora", "wise")
# GRACE's numeric fields and their bounds (low, low_open, high): see GRACEConfig
GRACE_BOUNDS = {
    "eps": (0, True, 10_000),
    "n_iter": (1, False, 1000),
    "edit_lr": (0, True, 100),
    "early_stop_loss": (0, False, 100),
}
WORDS = st.characters(categories=("Lu", "Ll", "Nd"))  # letters and digits: never stripped
VISIBLE = st.characters(exclude_categories=("C", "Z"))  # survives cleaning, never whitespace


def junk(json_only: bool) -> st.SearchStrategy[Any]:
    """Values of the wrong type for a text field: numbers, booleans, lists, mappings (and, over
    the Python API, bytes, sets, NaN and infinities)."""
    plain = st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
    if json_only:
        return plain
    return st.one_of(
        plain, st.binary(max_size=8), st.sets(st.integers(), max_size=3), st.just(math.nan)
    )


def blank() -> st.SearchStrategy[str]:
    """Text that is empty once control characters and surrounding spaces are stripped."""
    return st.sampled_from(["", "   ", "\x00\x01\x7f", "\u200b\u2060", "\t\n ", "\x1b\x07"])


def too_long(name: str) -> st.SearchStrategy[str]:
    limit = FIELD_MAX_CHARS[name]
    return st.text(WORDS, min_size=limit + 1, max_size=limit + 40)


def bad_text(name: str, json_only: bool, *extra: st.SearchStrategy[Any]):
    return st.tuples(st.just(name), st.one_of(junk(json_only), too_long(name), *extra))


def not_served_model_ids() -> st.SearchStrategy[str]:
    fixed = st.sampled_from(
        ["/etc", "/", ".", "..", "../..", "/proc/self/cwd", "/proc/self/root/etc", "~", "/tmp",
         "é" * 200, "/nonexistent/model", "file:///etc/passwd", "org/../etc", "a--b/c"]
    )  # fmt: skip
    hub_like = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}/[A-Za-z0-9][A-Za-z0-9._-]{0,15}",
                             fullmatch=True)  # fmt: skip
    pathish = st.lists(st.sampled_from(["..", ".", "etc", "models", "x", "", "~"]), max_size=6)
    return st.one_of(
        fixed,
        hub_like,
        pathish.map("/".join),
        st.text(max_size=60),
    ).filter(lambda text: SERVED not in text)


def model_id(json_only: bool):
    return bad_text("model_id", json_only, blank(), not_served_model_ids())


def revision(json_only: bool):
    visible = st.text(VISIBLE, min_size=1, max_size=64)
    return bad_text("revision", json_only, visible)


def choice_field(name: str, valid: tuple[str, ...], json_only: bool):
    other = st.text(max_size=30).filter(lambda t: t.strip() not in valid)
    return bad_text(name, json_only, blank(), other)


def _out_of_range(field: str) -> st.SearchStrategy[str]:
    low, low_open, high = GRACE_BOUNDS[field]
    below = st.integers(max_value=low if low_open else low - 1, min_value=-(10**30))
    above = st.integers(min_value=high + 1, max_value=10**30)
    return st.one_of(below, above).map(lambda v: f"{field}: {v}")


def bad_configs() -> st.SearchStrategy[str]:
    """Config texts GRACE must refuse: alias bombs, non-finite and out-of-range numbers, layers
    the model lacks, wrong types, unknown fields, non-mappings, syntax errors, deep nesting,
    too many values, huge numbers and Python tags."""
    bomb = st.tuples(st.integers(1, 9), st.integers(1, 9)).map(lambda t: _bomb(*t))
    non_finite = st.tuples(
        st.sampled_from(sorted(GRACE_BOUNDS)), st.sampled_from([".nan", ".NaN", ".inf", "-.inf"])
    ).map(lambda t: f"{t[0]}: {t[1]}")
    out_of_range = st.sampled_from(sorted(GRACE_BOUNDS)).flatmap(_out_of_range)
    missing_layer = st.one_of(st.integers(4, 5000), st.integers(-5000, -5)).map(
        lambda v: f"layer: {v}"
    )
    wrong_type = st.tuples(
        st.sampled_from(["n_iter", "eps", "layer", "eps_scale", "replacement"]),
        st.sampled_from(["[1, 2]", "{a: 1}", "true", "'abc'", "2020-01-01", "!!binary aGk="]),
    ).map(lambda t: f"{t[0]}: {t[1]}")
    unknown = st.from_regex(r"[a-z_]{1,20}", fullmatch=True).filter(
        lambda k: (
            k
            not in {
                "layer",
                "eps",
                "eps_scale",
                "n_iter",
                "edit_lr",
                "replacement",
                "early_stop_loss",
            }
        )  # fmt: skip
    )
    fixed = st.sampled_from(
        ["[1, 2]", "42", "'text'", "- a\n- b", "{1: 2}", "? [a]\n: 1", "a: [1, 2", "a: 'x",
         "{{", "a: b: c", "n_iter: 1.5", "layer: 1.5", "eps_scale: sideways",
         "n_iter: !!python/object/apply:os.system ['true']", "\t- x", "n_iter: 1e3",
         "n_iter: " + "9" * 4400, "x" * (FIELD_MAX_CHARS["editor_config"] + 1)]
    )  # fmt: skip
    deep = st.integers(4, 60).map(lambda k: "layer: " + "[" * k + "]" * k)
    many = st.integers(300, 600).map(lambda n: "layers: [" + ", ".join(["0"] * n) + "]")
    return st.one_of(
        bomb,
        non_finite,
        out_of_range,
        missing_layer,
        wrong_type,
        unknown.map(lambda k: f"{k}: 1"),
        fixed,
        deep,
        many,
    )


def _bomb(levels: int, fan_out: int) -> str:
    parts = [f"&a0 [{','.join(['1'] * fan_out)}]"]
    parts += [f"&a{i} [{','.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels + 1)]
    return f"n_iter: [{', '.join(parts)}]"


def _valid_settings(value: Any) -> bool:
    if isinstance(value, list):
        if not value or not all(isinstance(item, str) for item in value):
            return False
        parts = [item.strip() for item in value]
    elif isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
    else:
        return False
    return bool(parts) and len(parts) <= SETTINGS_MAX_ITEMS and set(parts) <= set(SETTINGS)


def settings(json_only: bool):
    wrong_type = st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
    item = st.one_of(st.sampled_from(SETTINGS), st.integers(), st.none(), st.text(max_size=12))
    lists = st.lists(item, max_size=10)
    many = st.integers(SETTINGS_MAX_ITEMS + 1, 20).map(lambda n: ["single"] * n)
    value = st.one_of(wrong_type, lists, st.text(max_size=30), many, st.just(None))
    return st.tuples(st.just("settings"), value.filter(lambda v: not _valid_settings(v)))


def contact(json_only: bool):
    def reachable(text: str) -> bool:
        # judged as the server sees it: control, format and unassigned characters stripped
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C")).strip()
        return bool(EMAIL.match(text) or HANDLE.match(text) or text.startswith("http"))

    other = st.text(max_size=60).filter(lambda t: t.strip() and not reachable(t))
    return bad_text("contact", json_only, blank(), other)


def link(json_only: bool):
    other = st.text(VISIBLE, min_size=1, max_size=60).filter(lambda t: not t.startswith("http"))
    return bad_text("link", json_only, other, st.sampled_from(["http://[::1", "javascript:x"]))


def field_mutations(json_only: bool = False) -> st.SearchStrategy[tuple[str, Any]]:
    """One malformed value for one field of the form, as (field, value)."""
    return st.one_of(
        model_id(json_only),
        revision(json_only),
        choice_field("model_type", MODEL_TYPES, json_only),
        choice_field("editor", EDITORS, json_only),
        st.tuples(st.just("editor_config"), st.one_of(junk(json_only), bad_configs())),
        settings(json_only),
        bad_text("submitter", json_only, blank()),
        bad_text("organisation", json_only, blank()),
        contact(json_only),
        bad_text("description", json_only),
        link(json_only),
    )
