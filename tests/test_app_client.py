"""The app served on a free local port, driven through gradio_client: read the ranked table,
submit a valid request (it is queued) and invalid ones (refused, nothing stored)."""

from __future__ import annotations

import pytest
from gradio_client import Client

from evaluator.editors.registry import editor_names
from submissions import Store
from tests.app_support import serve_app, store_results


@pytest.fixture
def served(real_results, tmp_path, monkeypatch, tiny_llava_onevision_dir):
    """(client, store) of an app whose store holds the fixture's real results and whose
    models root serves the tiny zoo model."""
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MME_MODELS_ROOT", str(tiny_llava_onevision_dir.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    url = f"sqlite:///{tmp_path / 'home' / 'store.db'}"
    (tmp_path / "home").mkdir()
    store = Store(url)
    store_results(store, real_results)
    with serve_app(store, url) as base:
        yield Client(base + "/", verbose=False), store


def _form(model_dir, **changes):
    form = {
        "model_id": str(model_dir),
        "revision": "",
        "model_type": "general",
        "editor": editor_names()[0],
        "editor_config": "",
        "settings": ["single"],
        "submitter": "Client Test",
        "organisation": "client-tests",
        "contact": "client@example.org",
        "description": "",
        "link": "",
    }
    form.update(changes)
    return list(form.values())


def test_the_api_returns_the_ranked_table(served, real_results):
    client, _ = served
    rows = client.predict("single", "overall", api_name="/leaderboard")
    single = [r for r in real_results if r["setting"] == "single"]
    assert len(rows) == len(single)
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    assert {r["editor"] for r in rows} == {r["editor"]["name"] for r in single}


def test_a_valid_submission_is_queued_with_its_key_and_position(served, tiny_llava_onevision_dir):
    client, store = served
    before = len(store.list_requests())
    message = client.predict(*_form(tiny_llava_onevision_dir), api_name="/submit")
    rows = store.list_requests()
    assert len(rows) == before + 1
    new = rows[-1]
    assert new.state == "PENDING"
    assert new.request_key in message
    assert f"position {store.queue_position(new.id)} in the queue" in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"submitter": ""}, "submitter"),
        ({"contact": "not a contact!"}, "contact"),
        ({"editor": "no-such-editor"}, "editor"),
        ({"editor_config": "{unknown_field: 1}"}, "editor_config"),
        ({"model_id": "/no/such/folder"}, "model_id"),
    ],
)
def test_an_invalid_submission_names_the_field_and_stores_nothing(
    served, tiny_llava_onevision_dir, change, field
):
    client, store = served
    before = len(store.list_requests())
    message = client.predict(*_form(tiny_llava_onevision_dir, **change), api_name="/submit")
    assert message.startswith(f"❌ **{field}**"), message
    assert len(store.list_requests()) == before
