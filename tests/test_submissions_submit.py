"""Submitting: one test per validation rule (each leaves no row and names the field),
duplicates, quotas with a fake clock, and concurrent submissions from many threads."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from backend.checks import EvaluatorChecks
from backend.submission import submit
from evaluator.editors import registry
from evaluator.editors.base import ConfigError, Editor, EditorConfig
from submissions.quotas import Quota
from submissions.store import PENDING, Store
from submissions.validation import SubmissionError, SubmissionLimits, validate_submission

TEST_EDITOR = "test-note"


@dataclasses.dataclass(frozen=True)
class NoteConfig(EditorConfig):
    strength: float = dataclasses.field(default=1.0, metadata={"help": "how hard to edit"})

    def check(self) -> None:
        if self.strength < 0:
            raise ConfigError(f"field 'strength': {self.strength} is negative; use a value >= 0")


class NoteEditor(Editor):
    """A do-nothing editor so that these tests do not depend on the built-in ones."""

    config_class = NoteConfig

    def apply(self, case):  # pragma: no cover - never run here
        return None


@pytest.fixture(autouse=True)
def note_editor(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MME_MODELS_ROOT", str(tmp_path))  # the test's model folders are served
    registry.editor_names()  # import the built-in editors first
    NoteEditor.name = TEST_EDITOR
    monkeypatch.setitem(registry.EDITORS, TEST_EDITOR, NoteEditor)


def write_model_folder(path: Path, *, params: int = 24, config: dict | None = None) -> Path:
    """A local model folder as resolve_model sees it: config.json plus safetensors weights."""
    path.mkdir(parents=True, exist_ok=True)
    base = {
        "architectures": ["LlavaOnevisionForConditionalGeneration"],
        "model_type": "llava_onevision",
    }
    (path / "config.json").write_text(json.dumps(config if config is not None else base))
    save_file({"weight": torch.zeros(params)}, str(path / "model.safetensors"))
    return path


@pytest.fixture
def model_dir(tmp_path) -> Path:
    return write_model_folder(tmp_path / "tiny-model")


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def form_for(model_dir: Path, **overrides: object) -> dict:
    form: dict[str, object] = {
        "model_id": str(model_dir),
        "model_type": "medical",
        "editor": TEST_EDITOR,
        "editor_config": "strength: 2.0",
        "settings": ["single", "lifelong"],
        "submitter": "Ada Lovelace",
        "organisation": "Analytical Lab",
        "contact": "ada@example.org",
        "description": "A test submission.",
        "link": "https://example.org/paper",
    }
    form.update(overrides)
    return form


def refused(store: Store, form: dict, field: str, **kwargs: object) -> SubmissionError:
    """Submit `form`, expect a refusal naming `field`, and check that no row was left."""
    before = store.count_requests()
    with pytest.raises(SubmissionError) as err:
        submit(store, form, **kwargs)
    assert err.value.field == field, err.value
    assert store.count_requests() == before
    return err.value


def test_a_valid_submission_is_stored_pending_with_the_revision_pinned(store, model_dir):
    row = submit(store, form_for(model_dir, revision=""))
    assert row.state == PENDING
    assert store.queue_position(row.id) == 1
    record = row.record
    assert record.settings == ("single", "lifelong")
    assert len(record.revision) == 64  # sha256 of the folder's files, not a branch name
    assert record.config_hash == NoteConfig(strength=2.0).config_hash(TEST_EDITOR)
    assert record.submitted_at.endswith("+00:00")


@pytest.mark.parametrize(
    "field",
    ["model_id", "model_type", "editor", "settings", "submitter", "organisation", "contact"],
)
def test_each_required_field_is_required(store, model_dir, field):
    error = refused(store, form_for(model_dir, **{field: ""}), field)
    assert "required" in error.message


def test_model_id_must_be_a_hub_id_or_an_existing_folder(store, model_dir):
    error = refused(store, form_for(model_dir, model_id="not a/valid id!"), "model_id")
    assert "organisation/model-name" in error.message


def test_an_unknown_hub_model_is_refused_offline_with_a_clear_error(store, model_dir):
    error = refused(store, form_for(model_dir, model_id="nobody-org/no-such-model"), "model_id")
    assert "nobody-org/no-such-model" in error.message


def test_a_model_that_needs_remote_code_is_refused(store, tmp_path):
    folder = write_model_folder(
        tmp_path / "remote",
        config={
            "architectures": ["LlavaOnevisionForConditionalGeneration"],
            "model_type": "llava_onevision",
            "auto_map": {"AutoModel": "modeling_custom.CustomModel"},
        },
    )
    error = refused(store, form_for(folder), "model_id")
    assert "remote code" in error.message.lower()


def test_a_model_without_safetensors_weights_is_refused(store, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llava_onevision"}))
    error = refused(store, form_for(folder), "model_id")
    assert "safetensors" in error.message


def test_a_model_above_the_size_limit_is_refused(store, model_dir):
    limits = SubmissionLimits(max_parameters=10)
    error = refused(store, form_for(model_dir), "model_id", limits=limits)
    assert "24 parameters" in error.message and "10" in error.message


def test_an_unknown_editor_is_refused_with_the_known_names(store, model_dir):
    error = refused(store, form_for(model_dir, editor="rome-xl"), "editor")
    assert "rome-xl" in error.message and TEST_EDITOR in error.message


def test_an_invalid_editor_config_passes_the_config_error_through(store, model_dir):
    error = refused(store, form_for(model_dir, editor_config="strength: -1"), "editor_config")
    assert "strength" in error.message and "negative" in error.message
    error = refused(store, form_for(model_dir, editor_config="speed: 3"), "editor_config")
    assert "speed" in error.message


@pytest.mark.parametrize("settings", [["single", "forever"], []])
def test_settings_must_be_a_non_empty_subset_of_single_and_lifelong(store, model_dir, settings):
    error = refused(store, form_for(model_dir, settings=settings), "settings")
    assert "single" in error.message and "lifelong" in error.message


def test_model_type_must_be_general_or_medical(store, model_dir):
    error = refused(store, form_for(model_dir, model_type="legal"), "model_type")
    assert "legal" in error.message


def test_text_fields_are_stripped_of_control_characters(store, model_dir):
    row = submit(
        store,
        form_for(model_dir, submitter="Ada\x00 Love\x1b[31mlace\u200b", description="a\nb\x07"),
    )
    assert row.record.submitter == "Ada Love[31mlace"
    assert row.record.description == "a\nb"


def test_text_fields_are_length_limited(store, model_dir):
    error = refused(store, form_for(model_dir, description="x" * 1001), "description")
    assert "1000" in error.message


def test_link_must_be_an_http_url(store, model_dir):
    error = refused(store, form_for(model_dir, link="javascript:alert(1)"), "link")
    assert "http" in error.message


def test_contact_must_be_an_email_url_or_handle(store, model_dir):
    error = refused(store, form_for(model_dir, contact="call me maybe"), "contact")
    assert "email" in error.message
    assert submit(store, form_for(model_dir, contact="@ada_l")).record.contact == "@ada_l"


def test_a_duplicate_is_refused_with_the_existing_request_and_state(store, model_dir):
    first = submit(store, form_for(model_dir))
    # same request, other wording of the same config and other order of settings
    again = form_for(model_dir, editor_config='{"strength": 2}', settings="lifelong, single")
    error = refused(store, again, "request")
    assert f"#{first.id}" in error.message and "PENDING" in error.message


def test_the_quota_refuses_the_sixth_request_and_says_when_the_next_slot_opens(store, model_dir):
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    limits = SubmissionLimits(quota=Quota(max_requests=5, window=timedelta(days=7)))
    for n in range(5):
        config = f"strength: {n}"
        submit(
            store,
            form_for(model_dir, editor_config=config),
            limits=limits,
            now=start + timedelta(hours=n),
        )
    late = start + timedelta(days=2)
    error = refused(
        store,
        form_for(model_dir, editor_config="strength: 9"),
        "organisation",
        limits=limits,
        now=late,
    )
    assert "2026-03-09 09:30 UTC" in error.message
    other_org = form_for(model_dir, editor_config="strength: 10", organisation="Other Lab")
    assert submit(store, other_org, limits=limits, now=late).state == PENDING
    after_slot = start + timedelta(days=7, minutes=1)
    row = submit(
        store, form_for(model_dir, editor_config="strength: 9"), limits=limits, now=after_slot
    )
    assert row.state == PENDING


def test_validate_submission_alone_stores_nothing_and_returns_the_record(model_dir):
    record = validate_submission(form_for(model_dir), checks=EvaluatorChecks())
    assert record.editor == TEST_EDITOR and record.model_type == "medical"


def test_concurrent_submissions_are_each_stored_exactly_once(store, model_dir):
    limits = SubmissionLimits(quota=Quota(max_requests=1000))
    forms = [form_for(model_dir, editor_config=f"strength: {n}") for n in range(20)]
    attempts = forms * 3  # every request submitted three times, from different threads
    accepted: list[int] = []
    duplicates: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def submit_some(chunk: list[dict]) -> None:
        barrier.wait()
        for form in chunk:
            try:
                row = submit(store, form, limits=limits)
            except SubmissionError as err:
                with lock:
                    duplicates.append(err.field)
            else:
                with lock:
                    accepted.append(row.id)

    threads = [threading.Thread(target=submit_some, args=(attempts[i::12],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = store.list_requests()
    assert len(accepted) == 20 and len(stored) == 20
    assert duplicates == ["request"] * 40
    assert len({row.request_key for row in stored}) == 20


def test_concurrent_submissions_never_exceed_the_quota(store, model_dir):
    limits = SubmissionLimits(quota=Quota(max_requests=3))
    forms = [form_for(model_dir, editor_config=f"strength: {n}") for n in range(10)]
    refusals: list[str] = []

    def submit_one(form: dict) -> None:
        try:
            submit(store, form, limits=limits)
        except SubmissionError as err:
            refusals.append(err.field)

    threads = [threading.Thread(target=submit_one, args=(f,)) for f in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_requests() == 3
    assert refusals == ["organisation"] * 7
