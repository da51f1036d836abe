"""docs/app.md's API example, run as written against the app served on 127.0.0.1: the
ranked table, a run's result JSON and a submission, through gradio_client."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from gradio_client import Client

from submissions import Store
from tests.app_support import serve_app, store_results

DOC = Path(__file__).resolve().parents[1] / "docs" / "app.md"


def api_example() -> str:
    """The Python block under the `api-example` marker of docs/app.md."""
    text = DOC.read_text()
    match = re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/app.md has no api-example block"
    return match.group(1)


@pytest.fixture
def served(real_results, tmp_path, monkeypatch, tiny_llava_onevision_dir):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MME_MODELS_ROOT", str(tiny_llava_onevision_dir.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    url = f"sqlite:///{tmp_path / 'home' / 'store.db'}"
    (tmp_path / "home").mkdir()
    store = Store(url)
    store_results(store, real_results)
    with serve_app(store, url) as base:
        yield base + "/", store


def test_the_documented_api_example_runs_as_written(served, monkeypatch, real_results):
    base, store = served
    monkeypatch.setenv("MME_URL", base)
    before = len(store.list_requests())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(api_example(), str(DOC), "exec"), {"__name__": "api_example"})  # noqa: S102 - the documented example
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("1 ")
    versions = {r["benchmark"]["version"] for r in real_results}
    assert lines[1].split()[0] in versions
    assert len(store.list_requests()) == before + 1, lines[2:]


def test_the_result_endpoint_returns_the_stored_json_and_refuses_unknown_ids(served):
    base, store = served
    client = Client(base, verbose=False)
    rows = client.predict("lifelong", "overall", api_name="/leaderboard")
    got = client.predict(rows[0]["request_id"], "lifelong", api_name="/result")
    assert got == store.get_result(rows[0]["request_id"], "lifelong").result
    with pytest.raises(Exception, match="no finished result"):
        client.predict(10_000, "single", api_name="/result")


@pytest.mark.parametrize(
    ("request_id", "setting", "field"),
    [(10**30, "single", "request_id"), (-1, "single", "request_id"),
     ("abc", "single", "request_id"), (1, "x" * 5000, "setting"), (1, "hidden", "setting")],
)  # fmt: skip
def test_the_result_endpoint_names_a_bad_argument_and_echoes_nothing_unbounded(
    served, request_id, setting, field
):
    base, _ = served
    client = Client(base, verbose=False)
    with pytest.raises(Exception) as err:
        client.predict(request_id, setting, api_name="/result")
    message = str(err.value)
    assert field in message and len(message) < 300 and "x" * 100 not in message
