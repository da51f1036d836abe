"""The case gallery: public-split runs kept as result files apart from the store (read back by
contract.gallery, hidden-split or broken files skipped), the public cases read through
backend.gallery (the hidden split never opened), the first start's gallery runs, and the HTML
the Cases and Compare tabs show (escaped; fixed and broke lists; a plain statement when a run
has no public-split predictions)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from contract.gallery import (
    GALLERY_SPLIT,
    CasePrediction,
    GalleryFolder,
    ProbePrediction,
    gallery_file_name,
    run_from_result,
)
from contract.names import PROBE_KINDS
from leaderboard.cases import (
    Gallery,
    case_choices,
    case_html,
    compare_cases_html,
    question_types,
    runs_html,
)


def write(folder: Path, name: str, value: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def test_the_folder_reads_public_runs_and_skips_everything_else(tiny_results, tmp_path):
    folder = tmp_path / "gallery"
    public = tiny_results[("ike", "single")]
    write(folder, "ike.json", public)
    hidden = copy.deepcopy(public)
    hidden["benchmark"]["split"] = "hidden"  # even if one carried cases, it is never read
    write(folder, "hidden.json", hidden)
    write(folder, "no-cases.json", {**public, "cases": None})
    write(folder, "broken.json", "{not json")
    write(folder, "list.json", [1, 2])
    gallery = GalleryFolder(folder)
    (run,) = gallery.runs()
    assert (run.editor, run.setting, run.revision) == ("ike", "single", public["model"]["revision"])
    assert [c.case_id for c in run.cases] == [c["case_id"] for c in public["cases"]]
    assert gallery.runs(public["benchmark"]["sha256"]) == (run,)
    assert gallery.runs("0" * 64) == ()  # another build of the public split
    later = write(folder, "grace.json", tiny_results[("grace", "lifelong")])
    os.utime(later, (1, 1))
    assert [r.editor for r in gallery.runs()] == ["grace", "ike"]  # re-read on change


def test_a_result_without_a_field_is_no_run(tiny_results):
    result = tiny_results[("ft", "lifelong")]
    assert run_from_result(result) is not None
    for drop in ("model", "editor", "setting"):
        assert run_from_result({k: v for k, v in result.items() if k != drop}) is None
    assert run_from_result({**result, "cases": [{"case_id": "x"}]}) is None


def prediction(case_id: str, hits: dict[str, tuple[bool, bool]]) -> CasePrediction:
    return CasePrediction(
        case_id=case_id,
        tier="understanding",
        question_type="organ",
        probes={k: ProbePrediction("A", "B", "A", *hits.get(k, (True, True))) for k in PROBE_KINDS},
    )


def test_fixed_and_broke_are_read_from_the_hits():
    p = prediction(
        "c1", {"edit": (False, True), "rephrase": (False, False), "loc_mc": (True, False)}
    )
    assert p.fixed() == ("edit",)
    assert p.broke() == ("loc_mc",)
    assert prediction("c2", {"loc_text": (False, False)}).broke() == ()


def test_gallery_files_are_named_safely():
    assert gallery_file_name("/x/models/mme-tiny-llava", "grace", "single") == (
        "mme-tiny-llava__grace__single.json"
    )
    assert "/" not in gallery_file_name("org/../../etc", "a b", "single")


# the back end: the public cases and the first start's gallery runs


def test_the_library_reads_only_the_public_split(tiny_benchmark_dir, monkeypatch):
    import evaluator.benchmark.loader as loader
    from backend.gallery import PublicCaseLibrary

    asked = []
    real = loader.load_benchmark

    def spy(path, split, revision=None):
        asked.append(split)
        return real(path, split, revision)

    monkeypatch.setattr(loader, "load_benchmark", spy)
    library = PublicCaseLibrary(tiny_benchmark_dir)
    cases = library.public_cases()
    public = real(str(tiny_benchmark_dir), GALLERY_SPLIT)
    assert [c.case_id for c in cases] == [c.case_id for c in public.cases]
    assert library.public_sha256() == public.sha256
    assert cases[0].images[0].startswith(b"\x89PNG") and cases[0].options == public.cases[0].options
    assert library.public_cases() is cases  # loaded once
    assert asked == [GALLERY_SPLIT]
    assert PublicCaseLibrary(tiny_benchmark_dir.parent / "none").public_cases() == ()


GALLERY_EDITORS = ("ike", "grace")  # a prompt editor and a trained one, both quick here


def test_gallery_runs_on_a_zoo_model_are_valid_public_results_kept_apart_and_reused(
    tiny_llava_onevision_dir, tiny_benchmark_dir, tmp_path, monkeypatch
):
    """run_gallery end to end on the tiny zoo model: one valid public-split result file per
    (editor, setting) with the per-case predictions of one edit of each tier, written under
    <home>/gallery and nowhere else; a second call with the same model revision and public
    split runs nothing, and only a file of another revision would be run again."""
    import evaluator.run
    from backend.gallery import run_gallery
    from contract.names import SETTINGS, TASKS
    from evaluator.benchmark import load_benchmark
    from evaluator.result import validate_result

    home = tmp_path / "home"
    monkeypatch.setenv("MME_HOME", str(home))
    made = run_gallery(tiny_llava_onevision_dir, tiny_benchmark_dir, GALLERY_EDITORS, per_tier=1)
    assert made == len(GALLERY_EDITORS) * len(SETTINGS)
    assert sorted(p.name for p in home.iterdir()) == ["gallery"]  # no store, nothing else
    public = load_benchmark(str(tiny_benchmark_dir), GALLERY_SPLIT)
    files = {}
    for editor in GALLERY_EDITORS:
        for setting in SETTINGS:
            path = (
                home / "gallery" / gallery_file_name(str(tiny_llava_onevision_dir), editor, setting)
            )
            result = json.loads(path.read_text())
            validate_result(result)
            assert (result["editor"]["name"], result["setting"]) == (editor, setting)
            assert result["benchmark"]["split"] == GALLERY_SPLIT == "public"
            assert result["benchmark"]["sha256"] == public.sha256
            assert result["benchmark"]["edits"] == {tier: 1 for tier in TASKS}
            assert sorted(c["tier"] for c in result["cases"]) == sorted(TASKS)
            public_ids = {c.case_id for c in public.cases}
            for case in result["cases"]:
                assert case["case_id"] in public_ids and set(case["probes"]) == set(PROBE_KINDS)
                assert case["probes"]["edit"]["expected"] in "ABCDEFGH"
            files[path] = path.stat().st_mtime_ns
    assert len(GalleryFolder(home / "gallery").runs(public.sha256)) == len(files)

    ran = []

    def spy(spec, **_):
        ran.append((spec.editor, spec.setting))
        raise RuntimeError("not run again in this test")  # logged and skipped by run_gallery

    monkeypatch.setattr(evaluator.run, "run_evaluation", spy)
    again = run_gallery(tiny_llava_onevision_dir, tiny_benchmark_dir, GALLERY_EDITORS, per_tier=1)
    assert (again, ran) == (0, [])
    assert {p: p.stat().st_mtime_ns for p in files} == files  # reused, not rewritten

    stale = next(iter(files))
    old = json.loads(stale.read_text())
    old["model"]["revision"] = "0" * 64  # as if written by an earlier build of the model
    stale.write_text(json.dumps(old))
    run_gallery(tiny_llava_onevision_dir, tiny_benchmark_dir, GALLERY_EDITORS, per_tier=1)
    assert ran == [(old["editor"]["name"], old["setting"])]  # that one only is run again


class FakeEvaluations:
    """run_gallery's evaluator calls replaced by fakes that record which runs started (the
    order of runs against the queue is under test here, not the evaluation)."""

    def __init__(self, monkeypatch, editors: list[str]) -> None:
        import evaluator.benchmark
        import evaluator.editors.registry
        import evaluator.models
        import evaluator.result
        import evaluator.run

        self.started: list[tuple[str, str]] = []
        split = type("Split", (), {"sha256": "s" * 64})()
        adapter = type("Adapter", (), {"revision": "r" * 64})()
        monkeypatch.setattr(evaluator.benchmark, "load_benchmark", lambda path, name: split)
        monkeypatch.setattr(evaluator.models, "load_vlm", lambda path: adapter)
        monkeypatch.setattr(evaluator.run, "run_evaluation", self.run)
        monkeypatch.setattr(evaluator.result, "write_result", self.write)
        monkeypatch.setattr(evaluator.editors.registry, "editor_names", lambda: editors)

    def run(self, spec, adapter, split_data) -> dict:
        self.started.append((spec.editor, spec.setting))
        return {"model": {"revision": adapter.revision}, "benchmark": {"sha256": split_data.sha256}}

    @staticmethod
    def write(result: dict, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))
        return path


def test_gallery_runs_wait_until_the_queue_has_nothing_queued_or_running(tmp_path, monkeypatch):
    import threading

    from backend.bootstrap import BootstrapOptions, BootstrapStatus, run_gallery_baselines
    from submissions import Store, SubmissionRecord
    from tests.app_support import wait_until

    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    fakes = FakeEvaluations(monkeypatch, ["ike"])
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    record = SubmissionRecord(
        model_id="m", revision="r", model_type="general", editor="grace", editor_config="",
        config_hash="c" * 64, settings=("single",), submitter="s", organisation="o",
        contact="s@example.org",
    )  # fmt: skip
    request = store.add_request(record)
    options = BootstrapOptions(medmnist_root=tmp_path, gallery_poll_s=0.02)
    status, stop, made = BootstrapStatus(), threading.Event(), []
    model = tmp_path / "models" / "mme-tiny-llava-onevision"
    thread = threading.Thread(
        target=lambda: made.append(
            run_gallery_baselines(store, [model], tmp_path / "bench", options, status, stop)
        )
    )
    thread.start()
    try:
        wait_until(lambda: "waiting for the queue" in status.detail, timeout_s=10)
        stop.wait(0.3)  # ~15 looks at a queue holding a PENDING request
        assert fakes.started == []
        assert store.claim("w", lease_s=60).id == request.id  # RUNNING now
        stop.wait(0.3)
        assert fakes.started == []
        store.finish(request.id, "w")
        thread.join(10)
        assert fakes.started == [("ike", "single"), ("ike", "lifelong")]
        assert made == [2]
    finally:
        stop.set()
        thread.join(10)
        store.close()


# the HTML


class FixedLibrary:
    def __init__(self, cases, sha256):
        self.cases, self.sha256 = cases, sha256

    def public_sha256(self):
        return self.sha256

    def public_cases(self):
        return self.cases


@pytest.fixture
def public_cases(tiny_benchmark_dir):
    from backend.gallery import PublicCaseLibrary

    library = PublicCaseLibrary(tiny_benchmark_dir)
    return library.public_cases(), library.public_sha256()


def test_a_case_is_drawn_escaped_with_its_images_and_probes(public_cases):
    case = public_cases[0][0]
    nasty = type(case)(**{**case.__dict__, "question": "<script>alert(1)</script>"})
    text = case_html(nasty)
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    images = len(case.images) + len(case.rephrase_images) + 2  # + both image locality probes
    assert text.count("data:image/png;base64,") == images
    for part in (case.loc_question, case.m_loc_question, "✓ correct"):
        assert part.split("'")[0] in text


def test_the_cases_of_a_type_put_the_edited_ones_first(public_cases, tiny_results, tmp_path):
    cases, sha256 = public_cases
    result = tiny_results[("ike", "single")]
    write(tmp_path, "ike.json", result)
    gallery = Gallery.at(FixedLibrary(cases, sha256), tmp_path)
    (run,) = gallery.runs()
    edited = run.cases[0]
    types = question_types(cases, edited.tier)
    assert edited.question_type in types
    choices = case_choices(cases, gallery.runs(), edited.tier, edited.question_type)
    assert choices[0] == (f"{edited.case_id} · edited in 1 run(s)", edited.case_id)
    table = runs_html(edited.case_id, gallery.runs())
    assert run.label in table and "→" in table
    untouched = next(c for c in cases if not run.case(c.case_id))
    assert "None of the 1 gallery run(s) edited this case" in runs_html(untouched.case_id, [run])
    assert Gallery.at(FixedLibrary(cases, None), tmp_path).runs() == ()  # not built: no runs


def test_compare_lists_fixed_and_broken_cases_or_says_there_are_none(public_cases, tmp_path):
    cases, sha256 = public_cases
    gallery = Gallery.at(FixedLibrary(cases, sha256), tmp_path)
    from contract.gallery import GalleryRun

    fixed = prediction(cases[0].case_id, {"edit": (False, True), "loc_text": (True, False)})
    run = GalleryRun("m", "rev", "grace", "c" * 64, "single", "1", sha256, (fixed,))
    text = compare_cases_html(("run a", "run b"), (run, None), gallery)
    a, b = text.split("B: run b")
    assert "Fixed</b>: 1 case(s)" in a and "Broke</b>: 1 case(s)" in a
    assert a.count(f'data-case-id="{cases[0].case_id}"') == 2
    assert "data:image/png" in a
    assert "no public-split predictions for this run" in b
