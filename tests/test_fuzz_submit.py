"""Fuzz the Python submission API with property-based malformed forms (well over 1,000 per
run): every one is refused with a SubmissionError naming the field at fault, no other
exception escapes, no row is left, and the message is under 2 KB."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backend.submission import submit
from submissions import FORM_FIELDS, Store, SubmissionError
from submissions.store import requests_table
from tests.fuzz_strategies import SERVED, field_mutations, junk
from tests.write_path_support import valid_form, write_model

RUNS: Counter[str] = Counter()  # examples run per test, checked by the last test
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(store, base form) with a served model; HF_HUB_OFFLINE so hub ids fail fast."""
    home = tmp_path_factory.mktemp("fuzz-submit")
    model = write_model(home / "models" / SERVED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("MME_MODELS_ROOT", str(home / "models"))
        store = Store(f"sqlite:///{home / 'store.db'}")
        submit(store, valid_form(str(model)))  # the base form is valid ...
        store.engine.dispose()
        store = Store(f"sqlite:///{home / 'fuzz.db'}")  # ... and the fuzz store starts empty
        yield store, valid_form(str(model))
        store.close()


def assert_refused(store: Store, form: object, field: str) -> None:
    """`form` is refused naming `field` with a short message, and no row is left (a wrongly
    accepted form is deleted again, so that the next examples stay independent)."""
    try:
        submit(store, form)  # type: ignore[arg-type]
    except SubmissionError as err:
        message = str(err)
        assert err.field == field, (field, err.field, message[:300])
        assert err.field in (*FORM_FIELDS, "form")
        assert len(message.encode()) < 2048 and message.startswith(f"{field}: ")
        assert store.count_requests() == 0
    else:
        with store.engine.begin() as conn:
            conn.execute(requests_table.delete())
        shown = form.get(field) if isinstance(form, dict) else form
        pytest.fail(f"accepted a malformed {field}: {shown!r:.300}")


@settings(FUZZ, max_examples=1000)
@given(mutation=field_mutations())
def test_one_malformed_field_is_refused_naming_that_field(world, mutation):
    store, base = world
    field, value = mutation
    event(field)  # --hypothesis-show-statistics shows how often each field was fuzzed
    RUNS["field"] += 1
    assert_refused(store, {**base, field: value}, field)


@settings(FUZZ, max_examples=100)
@given(
    form=st.one_of(
        st.lists(st.text(max_size=5), max_size=12),
        st.text(max_size=20),
        st.integers(),
        st.none(),
        st.tuples(st.just("model_id"), st.just("x")),
    )
)
def test_a_form_that_is_not_a_mapping_is_refused_under_form(world, form):
    RUNS["shape"] += 1
    assert_refused(world[0], form, "form")


@settings(FUZZ, max_examples=60)
@given(
    key=st.text(max_size=300).filter(lambda k: k not in FORM_FIELDS),
    value=st.one_of(junk(json_only=False), st.text(max_size=20)),
)
def test_an_unknown_field_is_refused_under_form(world, key, value):
    RUNS["unknown"] += 1
    store, base = world
    with pytest.raises(SubmissionError) as err:
        submit(store, {**base, key: value})
    assert err.value.field == "form" and len(str(err.value)) < 600
    assert store.count_requests() == 0


def test_the_fuzz_ran_at_least_1000_malformed_submissions():
    if not RUNS:
        pytest.skip("run with the fuzz tests above")
    assert sum(RUNS.values()) >= 1000, RUNS
