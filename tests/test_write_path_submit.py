"""The public write path end to end through `submit`: one identity per served model, one
message for every path that is not served, Unicode-safe quotas, layers checked against the
model's config.json, and clear refusals of malformed model files. Each refusal leaves no row."""

from __future__ import annotations

import json
import os
import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.submission import submit
from submissions import Quota, Store, SubmissionError, SubmissionLimits, identity_key
from tests.write_path_support import valid_form, write_model, write_raw_safetensors


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """The models root ($MME_MODELS_ROOT) with one served model, `tiny`."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "models"
    write_model(root / "tiny")
    monkeypatch.setenv("MME_MODELS_ROOT", str(root))
    return root


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def refused(store: Store, form: dict, field: str, **kwargs) -> str:
    before = store.count_requests()
    with pytest.raises(SubmissionError) as err:
        submit(store, form, **kwargs)
    assert err.value.field == field, err.value
    assert store.count_requests() == before
    return err.value.message


def test_three_spellings_of_one_served_model_are_one_request(store, root, monkeypatch):
    monkeypatch.chdir(root.parent)
    first = submit(store, valid_form(str(root / "tiny")))
    assert first.record.model_id == os.path.realpath(root / "tiny")
    for spelling in ("models/tiny", "/proc/self/cwd/models/tiny", "tiny", "models/../models/tiny"):
        message = refused(store, valid_form(spelling), "request")
        assert f"#{first.id}" in message
    assert store.count_requests() == 1


def test_a_symlinked_served_model_and_its_target_are_one_request(store, root, tmp_path):
    elsewhere = write_model(tmp_path / "big-disk" / "model-b")
    (root / "model-b").symlink_to(elsewhere, target_is_directory=True)
    first = submit(store, valid_form(str(root / "model-b")))
    assert first.record.model_id == str(elsewhere.resolve())
    refused(store, valid_form("model-b"), "request")


def test_every_path_that_is_not_served_gets_the_same_message(store, root, tmp_path):
    outside = write_model(tmp_path / "outside-model")  # a valid model, just not served
    (root / "tiny" / "escape").symlink_to("/etc", target_is_directory=True)
    paths = [
        "/etc",
        "/nonexistent/folder",
        str(outside),
        str(root / "tiny" / ".." / ".." / "outside-model"),
        str(root / "tiny" / "escape"),
        str(root),
        "/proc/self/cwd",
        "../../../../etc",
    ]
    messages = {refused(store, valid_form(p), "model_id").replace(repr(p), "ID") for p in paths}
    assert len(messages) == 1, messages
    (message,) = messages
    assert message.startswith("ID is not a hub id") and "served model" in message


def test_a_long_non_ascii_model_id_gets_a_clear_message(store, root):
    message = refused(store, valid_form("é" * 200), "model_id")
    assert "not a hub id" in message and "Errno" not in message
    assert len(message) < 500


def test_a_local_revision_hashes_config_and_weights_not_documentation(store, root):
    first = submit(store, valid_form("tiny"))
    (root / "tiny" / "README.md").write_text("a model card")
    refused(store, valid_form("tiny"), "request")  # same request: the card is not the model
    write_model(root / "tiny", seed=1)  # other weights: another revision, another request
    second = submit(store, valid_form("tiny"))
    assert second.record.revision != first.record.revision


def test_layers_are_checked_against_the_models_config_json(store, root):
    message = refused(store, valid_form("tiny", editor_config="layer: 7"), "editor_config")
    assert "4 decoder layers" in message and "config.json" in message
    assert submit(store, valid_form("tiny", editor_config="layer: -4")).state == "PENDING"
    message = refused(store, valid_form("tiny", editor="lora", editor_config="layers: [0, 9]"),
                      "editor_config")  # fmt: skip
    assert "'layers'" in message


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: (d / "config.json").write_text("{not json"), "config.json is not valid JSON"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "not an object"),
        (lambda d: (d / "config.json").write_bytes(b"\xff\xfe{}"), "not UTF-8"),
        (lambda d: (d / "config.json").write_text(" " * (2 << 20)), "above the limit"),
        (lambda d: (d / "config.json").unlink(), "has no config.json"),
        (
            lambda d: (d / "config.json").write_text(json.dumps({"model_type": ["llava"]})),
            "model_type ['llava']",
        ),
        (
            lambda d: write_raw_safetensors(
                d / "model.safetensors",
                {"w": {"dtype": "F32", "shape": [-3, 4], "data_offsets": [0, 0]}},
            ),
            "non-negative integers",
        ),
        (
            lambda d: write_raw_safetensors(
                d / "model.safetensors",
                {"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 16]}},
                b"\0" * 16,
            ),
            "does not match its 16 bytes",
        ),
        (lambda d: write_raw_safetensors(d / "model.safetensors", b"{oops"), "not valid JSON"),
        (
            lambda d: write_raw_safetensors(d / "model.safetensors", {}, length=2**63),
            "declares a header",
        ),
        (lambda d: (d / "model.safetensors").write_bytes(b"\1\2"), "shorter than"),
    ],
)
def test_malformed_model_files_get_a_clear_message(store, root, damage, expected):
    damage(root / "tiny")
    message = refused(store, valid_form("tiny"), "model_id")
    assert expected in message, message
    assert "Traceback" not in message and len(message) < 600


ECOLE_SPELLINGS = [
    "ÉCOLE-lab",
    "école-lab",
    "École-Lab",
    "ÉCOLE-LAB",
    "ＥＣＯＬＥ-lab".replace("Ｅ", "É", 1),  # full-width letters after the É
    unicodedata.normalize("NFD", "École-lab"),  # E + combining acute accent
    "école-lab ",
    "\u00c9cole\u200b-lab",  # a zero-width space inside
]


def test_eight_submissions_for_ecole_lab_leave_five_rows(store, root):
    assert len({identity_key(s.strip().replace("\u200b", "")) for s in ECOLE_SPELLINGS}) == 1
    start = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    outcomes = []
    for n, organisation in enumerate(ECOLE_SPELLINGS):
        form = valid_form("tiny", organisation=organisation, editor_config=f"n_iter: {n + 1}")
        try:
            submit(store, form, now=start + timedelta(minutes=n))
            outcomes.append("stored")
        except SubmissionError as err:
            outcomes.append(err.field)
    assert outcomes == ["stored"] * 5 + ["organisation"] * 3
    assert store.count_requests() == 5
    assert {row.record.organisation for row in store.list_requests()} == set(ECOLE_SPELLINGS[:5])


def test_a_per_submitter_quota_compares_submitters_the_same_way(store, root):
    limits = SubmissionLimits(quota=Quota(max_requests=100, max_per_submitter=2))
    for n, name in enumerate(["Zoë Ada", "ZOË ADA"]):
        config = f"n_iter: {n + 1}"
        form = valid_form("tiny", submitter=name, organisation=f"org {n}", editor_config=config)
        submit(store, form, limits=limits)
    form = valid_form("tiny", submitter="zoë  ada", organisation="org 3", editor_config="n_iter: 9")
    assert "submitter" in refused(store, form, "submitter", limits=limits)


def test_a_store_made_before_identity_keys_is_migrated(tmp_path, root):
    path = tmp_path / "old.db"
    old = Store(f"sqlite:///{path}")
    for n in range(5):
        submit(old, valid_form("tiny", organisation="ÉCOLE-lab", editor_config=f"n_iter: {n + 1}"))
    old.close()
    with sqlite3.connect(path) as conn:  # back to the old schema: no identity key columns
        for index in ("ix_requests_organisation_key", "ix_requests_submitter_key"):
            conn.execute(f"DROP INDEX {index}")
        conn.execute("ALTER TABLE requests DROP COLUMN organisation_key")
        conn.execute("ALTER TABLE requests DROP COLUMN submitter_key")
    store = Store(f"sqlite:///{path}")
    refused(store, valid_form("tiny", organisation="école-LAB", editor_config="n_iter: 9"),
            "organisation")  # fmt: skip
    store.close()
