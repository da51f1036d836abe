"""Fuzz the app's `submit` HTTP API (Gradio's /gradio_api/call/submit on 127.0.0.1) with raw
malformed calls: wrong arity, None, wrong types and malformed values. Every answer names a
field ("❌ **field**: ..."), is under 2 KB, and leaves no row. Uploads are refused."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from submissions import FORM_FIELDS, Store
from tests.app_support import serve_app
from tests.fuzz_strategies import SERVED, field_mutations, junk
from tests.write_path_support import valid_form, write_model

RUNS: Counter[str] = Counter()
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMED = re.compile(r"^❌ \*\*(?P<field>[a-z_]+)\*\*: ")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(base URL, store, base values) of the real UI over an empty store, with a served model."""
    home = tmp_path_factory.mktemp("fuzz-http")
    model = write_model(home / "models" / SERVED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("MME_HOME", str(home))
        patch.setenv("MME_MODELS_ROOT", str(home / "models"))
        url = f"sqlite:///{home / 'store.db'}"
        store = Store(url)
        with serve_app(store, url) as base, httpx.Client(base_url=base, timeout=30) as client:
            form = valid_form(str(model))
            yield client, store, [form[name] for name in FORM_FIELDS]
        store.close()


def call_submit(client: httpx.Client, data: Any) -> tuple[str, int]:
    """POST the raw values, read the event stream; (the answer's text, bytes received)."""
    posted = client.post("/gradio_api/call/submit", json={"data": data})
    assert posted.status_code == 200, posted.text[:300]
    stream = client.get(f"/gradio_api/call/submit/{posted.json()['event_id']}")
    size = len(posted.content) + len(stream.content)
    kind = re.search(r"^event: (\w+)$", stream.text, re.M)
    payload = json.loads(re.search(r"^data: (.*)$", stream.text, re.M).group(1))
    assert kind is not None
    if kind.group(1) == "complete":
        return payload[0], size
    assert kind.group(1) == "error", stream.text[:300]
    assert isinstance(payload, dict) and payload.get("error"), stream.text[:300]  # never null
    return payload["error"], size


def assert_named(app: tuple, data: Any, field: str) -> None:
    client, store, _ = app
    before = store.count_requests()
    answer, size = call_submit(client, data)
    match = NAMED.match(answer)
    assert match is not None, answer[:300]
    assert match.group("field") == field, (field, answer[:300])
    assert size < 2048, size
    assert store.count_requests() == before


@settings(FUZZ, max_examples=90)
@given(mutation=field_mutations(json_only=True))
def test_one_malformed_value_over_http_is_refused_naming_its_field(app, mutation):
    field, value = mutation
    event(field)
    RUNS["field"] += 1
    data = list(app[2])
    data[FORM_FIELDS.index(field)] = value
    assert_named(app, data, field)


@settings(FUZZ, max_examples=30)
@given(
    count=st.integers(0, 25).filter(lambda n: n != len(FORM_FIELDS)),
    filler=st.one_of(junk(json_only=True), st.none(), st.text(max_size=10)),
)
def test_the_wrong_number_of_values_is_refused_under_form(app, count, filler):
    RUNS["arity"] += 1
    data = (list(app[2]) + [filler] * count)[:count]
    assert_named(app, data, "form")


def test_the_raw_api_names_the_field_for_none_and_wrong_types(app):
    base = app[2]
    assert_named(app, [None] * len(FORM_FIELDS), "settings")
    with_none_settings = list(base)
    with_none_settings[FORM_FIELDS.index("settings")] = None
    assert_named(app, with_none_settings, "settings")
    without_submitter = list(base)
    without_submitter[FORM_FIELDS.index("submitter")] = None
    assert_named(app, without_submitter, "submitter")


def test_the_fuzz_ran_at_least_100_http_submissions():
    if not RUNS:
        pytest.skip("run with the fuzz tests above")
    assert sum(RUNS.values()) >= 100, RUNS


def test_uploads_are_refused(app):
    client = app[0]
    response = client.post("/gradio_api/upload", files={"files": ("big.bin", b"x" * 4096)})
    assert response.status_code == 413
