"""benchmarks/bench_vs_easyedit.py without EasyEdit: arguments, the mapping of our editor
configs onto EasyEdit's hparams (names that exist in a real LLaVA-OneVision), the prompt both
sides see, the case choice, the table, the child's stubs and FT shim, and that without
--easyedit only our side runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from benchmarks import bench_vs_easyedit as bench
from benchmarks import easyedit_child as child
from evaluator.models.probe import Probe
from tests.fixtures.models import random_image, save_tiny_family

LAYERS = "model.language_model.layers"


def target(setting: str = "single", num_layers: int = 4) -> bench.Target:
    return bench.Target("/m/mme-tiny-llava-onevision", LAYERS, num_layers, "cpu", setting)


def test_parse_args_defaults_and_config_overrides(tmp_path: Path) -> None:
    args = bench.parse_args([])
    assert args.editors == ["grace", "wise", "ft"]
    assert args.settings == ["single", "lifelong"]
    assert args.easyedit is None and args.easyedit_python == sys.executable
    assert args.configs["grace"] == {"eps_scale": "absolute", "eps": 1.0}
    assert args.configs["wise"] == {} and args.per_tier == 10 and args.threads == 1
    config = tmp_path / "grace.yaml"
    config.write_text("n_iter: 5\n")
    args = bench.parse_args(["--editors", "grace", "--config", f"grace={config}"])
    assert args.configs["grace"] == {"eps_scale": "absolute", "eps": 1.0, "n_iter": 5}


@pytest.mark.parametrize(
    "argv",
    [
        ["--easyedit", "/no/such/checkout"],
        ["--config", "grace"],
        ["--config", "memit=x.yaml"],
        ["--per-tier", "0"],
        ["--editors", "ike"],
    ],
)
def test_parse_args_refuses(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_grace_and_wise_map_layer_iterations_and_rates() -> None:
    grace, notes = bench.easyedit_hparams(
        "grace", bench.our_config("grace", bench.COMPARABLE["grace"]), target()
    )
    assert grace["inner_params"] == [f"{LAYERS}[3].mlp.down_proj.weight"]  # round(0.87 * 3)
    assert (grace["n_iter"], grace["edit_lr"], grace["eps"]) == (100, 1.0, 1.0)
    assert (grace["replacement"], grace["val_init"], grace["device"]) == (
        "replace_last", "warm", "cpu",
    )  # fmt: skip
    assert any("no early stop" in n for n in notes)
    _, notes = bench.easyedit_hparams("grace", bench.our_config("grace", {}), target())
    assert any("key's norm" in n for n in notes)
    wise, _ = bench.easyedit_hparams("wise", bench.our_config("wise", {}), target("lifelong"))
    assert wise["inner_params"] == grace["inner_params"]
    assert (wise["n_iter"], wise["mask_ratio"], wise["act_ratio"]) == (70, 0.2, 0.88)
    assert (wise["alpha"], wise["beta"], wise["gamma"], wise["densities"]) == (0.5, 2.0, 1.0, 0.53)
    assert wise["sequential_edit"] is True and wise["retrieve"] is False


def test_ft_and_lora_map_modules_steps_and_rates() -> None:
    ft, _ = bench.easyedit_hparams("ft", bench.our_config("ft", {}), target())
    assert ft["layers"] == [2] and ft["rewrite_module_tmp"] == f"{LAYERS}.{{}}.mlp.down_proj"
    assert (ft["num_steps"], ft["lr"], ft["norm_constraint"]) == (40, 0.02, 0.5)
    assert isinstance(ft["norm_constraint"], float)  # EasyEdit clamps only for a float
    assert ft["objective_optimization"] == "target_new"
    _, notes = bench.easyedit_hparams(
        "ft", {**bench.our_config("ft", {}), "stop_when_reached": True}, target()
    )
    assert any("stop_when_reached" in n for n in notes)
    with pytest.raises(ValueError, match="L-inf"):
        bench.easyedit_hparams("ft", bench.our_config("ft", {"norm_kind": "l2"}), target())
    lora, notes = bench.easyedit_hparams("lora", bench.our_config("lora", {}), target())
    assert lora["target_modules"] == [
        f"{LAYERS}.{i}.self_attn.{p}_proj" for i in range(4) for p in "qv"
    ]
    assert (lora["lora_type"], lora["rank"], lora["lora_alpha"], lora["num_steps"]) == (
        "adalora", 4, 32.0, 30,
    )  # fmt: skip
    assert any("SGD" in n for n in notes)
    lora, _ = bench.easyedit_hparams("lora", bench.our_config("lora", {"layers": [-1]}), target())
    assert lora["target_modules"] == [
        f"{LAYERS}.3.self_attn.q_proj",
        f"{LAYERS}.3.self_attn.v_proj",
    ]


@pytest.fixture(scope="module")
def onevision(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from evaluator.models import load_vlm

    folder = save_tiny_family("llava-onevision", tmp_path_factory.mktemp("ov") / "ov")
    return load_vlm(str(folder), device="cpu")


def test_mapped_names_exist_in_a_llava_onevision(onevision: Any) -> None:
    tgt = bench.Target("x", onevision.layers_path, onevision.num_layers, "cpu", "single")
    params = dict(onevision.model.named_parameters())
    modules = dict(onevision.model.named_modules())
    for editor in ("grace", "wise"):
        hparams, _ = bench.easyedit_hparams(editor, bench.our_config(editor, {}), tgt)
        name = hparams["inner_params"][0].replace("[", ".").replace("]", "")
        assert name in params
    ft, _ = bench.easyedit_hparams("ft", bench.our_config("ft", {}), tgt)
    assert ft["rewrite_module_tmp"].format(ft["layers"][0]) + ".weight" in params
    assert ft["ln_f_module"] in modules and ft["lm_head_module"] in modules
    lora, _ = bench.easyedit_hparams("lora", bench.our_config("lora", {}), tgt)
    assert all(name in modules for name in lora["target_modules"])


@pytest.mark.parametrize("images", [1, 3])
def test_easyedit_sees_our_prompt_and_chat_template(onevision: Any, images: int) -> None:
    pictures = tuple(random_image(i) for i in range(images))
    options = {"A": "yes", "B": "no"}
    ours = onevision.prompt_text(Probe(pictures, "Is it a scan?", "A", options))
    paths = [f"/x/{i}.png" for i in range(images)]
    theirs = child.chat_prompt(
        onevision.processor, bench.prompt_body("Is it a scan?", options),
        paths if images > 1 else paths[0],
    )  # fmt: skip
    assert theirs == ours
    text = onevision.prompt_text(Probe((), "What is 2 plus 2?", "4", None))
    assert child.chat_prompt(onevision.processor, "What is 2 plus 2?", []) == text


def fake_case(case_id: str, task: str, frames: int) -> SimpleNamespace:
    image = Image.new("L", (28, 28), 7)
    return SimpleNamespace(
        case_id=case_id, task=task, images=(image,) * frames, question="Q?",
        options={"A": "a", "B": "b"}, target="B", rephrase_question="R?",
        rephrase_images=(image,) * frames, loc_question="L?", loc_answer="l",
        m_loc_images=(image,), m_loc_question="M?", m_loc_answer="m",
    )  # fmt: skip


def test_export_case_writes_prompts_and_rgb_images(tmp_path: Path) -> None:
    row = bench.export_case(fake_case("c1", "reasoning", 3), tmp_path)
    assert row["prompt"] == "Q?\nA. a\nB. b\nAnswer with the option's letter."
    assert row["rephrase_prompt"].startswith("R?\nA. a\nB. b")  # the edit's option order
    assert len(row["images"]) == 3 and len(row["rephrase_images"]) == 3
    assert Image.open(row["m_loc_image"]).mode == "RGB"
    inputs = child.edit_inputs(
        [row, bench.export_case(fake_case("c2", "understanding", 1), tmp_path)]
    )
    assert inputs["file_type"] == ["multi-image", "image"]
    assert isinstance(inputs["image"][0], list) and isinstance(inputs["image"][1], str)
    assert inputs["locality_inputs"]["vision"]["prompt"] == ["M?", "M?"]


def test_first_errors_takes_the_first_n_of_each_tier_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = ["understanding", "reasoning"] * 40
    wrong = {1, 2, 4, 5, 9, 11, 60}
    cases = [SimpleNamespace(case_id=str(i), task=t) for i, t in enumerate(tasks)]
    scored: list[int] = []

    class Adapter:
        def score(self, probes: list[Any]) -> list[Any]:
            start = len(scored)
            scored.extend(range(start, start + len(probes)))
            return [SimpleNamespace(exact_match=i not in wrong) for i in scored[start:]]

    monkeypatch.setattr("evaluator.protocols.case_probes", lambda case: (case,))
    chosen = bench.first_errors(Adapter(), cases, per_tier=2, chunk=4)
    assert [c.case_id for c in chosen] == ["1", "2", "4", "5"]
    assert len(scored) == 8  # stopped after the chunk that completed both tiers


def ours_result(edit_s: float) -> dict[str, Any]:
    return {
        "harness": "ours", "import_s": 0.5, "wall_s": 4.0, "edit_s": edit_s, "edits": 4,
        "peak_rss_mb": 900.0, "case_ids": ["a"],
        "metrics": {"reliability": 1.0, "generality": 0.25, "locality": 0.9},
    }  # fmt: skip


def easyedit_result() -> dict[str, Any]:
    case = {
        "time": 2.0, "rewrite_acc": 1.0, "rephrase_acc": 1.0, "image_rephrase_acc": 0.0,
        "locality_acc": 1.0, "multimodal_locality_acc": 1.0, "locality_acc_unedited": 0.5,
        "multimodal_locality_acc_unedited": 0.25,
    }  # fmt: skip
    return {
        "import_s": 9.0, "wall_s": 5.0, "edit_s": [1.5, 2.5], "cases": [case, case],
        "peak_rss_mb": 1500.0,
    }  # fmt: skip


def test_summaries_table_and_ratios() -> None:
    ours = bench.summarise_ours("grace", "single", [ours_result(0.5), ours_result(0.7)])
    assert ours.per_edit == pytest.approx(0.6) and ours.per_case == pytest.approx(1.0)
    theirs = bench.summarise_easyedit("grace", "single", [easyedit_result()])
    assert (theirs.per_edit, theirs.per_case, theirs.generality) == (2.0, 2.5, 0.5)
    assert (theirs.locality, theirs.locality_unedited) == (1.0, 0.375)
    failed = bench.Row("wise", "lifelong", "EasyEdit", error="exit 1; see log")
    table = bench.format_table([ours, theirs, failed])
    lines = table.splitlines()
    assert lines[0].startswith("| editor | setting | harness | s/edit | s/case |")
    assert (
        "| grace | single | ours | 0.600 | 1.000 | 0.50 | 900 | 1.000 | 0.250 | 0.900 | 0.900 |"
        in lines
    )
    row = "| grace | single | EasyEdit | 2.000 | 2.500 | 9.00 | 1500 | 1.000 | 0.500 | 1.000 |"
    assert row + " 0.375 |" in lines
    assert "| wise | lifelong | EasyEdit | failed |" in table
    assert "EasyEdit wise lifelong failed: exit 1; see log" in table
    assert bench.format_ratios([ours, theirs, failed]) == (
        "grace single: ours / EasyEdit = 0.30x per edit, 0.40x per case"
    )


def test_without_easyedit_only_our_side_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [fake_case("c1", "understanding", 1), fake_case("c2", "reasoning", 2)]
    chosen = bench.Chosen(cases, "llava_onevision", LAYERS, 4)
    monkeypatch.setattr(bench, "choose_cases", lambda *a: chosen)
    jobs: list[tuple[list[str], dict[str, Any]]] = []

    def fake_run(cmd: list[str], job: dict, stem: Path, env: dict, timeout: float) -> dict:
        jobs.append((cmd, job))
        assert env["OMP_NUM_THREADS"] == "1"
        return ours_result(0.25)

    monkeypatch.setattr(bench, "run_child", fake_run)
    argv = ["--per-tier", "1", "--editors", "grace", "ft", "--workdir", str(tmp_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "EasyEdit: not run" in out and "| EasyEdit |" not in out
    assert out.count("| ours |") == 4  # grace and ft, single and lifelong
    assert all(cmd[-1] == "--ours-job" for cmd, _ in jobs) and len(jobs) == 4
    assert jobs[0][1]["case_ids"] == ["c1", "c2"]
    assert jobs[0][1]["config"] == {"eps_scale": "absolute", "eps": 1.0}
    assert not (tmp_path / "cases.json").exists()


def test_stubs_only_for_missing_modules_imported_from_the_checkout(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "uses_missing.py").write_text(
        "from mme_missing_pkg.sub import Thing\nVALUE = Thing.attr[int]\n"
    )
    stubs = child.IncidentalStubs(["mme_missing_pkg", "json"], root)
    sys.meta_path.insert(0, stubs)
    sys.path.insert(0, str(root))
    try:
        with pytest.raises(ModuleNotFoundError):
            __import__("mme_missing_pkg")  # imported from here, outside the checkout
        module = __import__("uses_missing")
        with pytest.raises(ImportError, match="stub"):
            module.Thing()
        assert stubs.stubbed == ["mme_missing_pkg"]  # json is installed: never stubbed
        assert json.loads("[1]") == [1]
    finally:
        sys.meta_path.remove(stubs)
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.startswith(("mme_missing_pkg", "uses_missing"))]:
            del sys.modules[name]


def test_ft_shim_adds_images_and_drops_the_space() -> None:
    calls: list[tuple[str, Any]] = []

    class Processor:
        def __init__(self) -> None:
            self.tokenizer = lambda texts, **kw: calls.append(("tokenizer", texts)) or "ids"
            self.tokenizer.pad_token_id = 0  # type: ignore[attr-defined]
            self.tokenizer.unk_token_id = None  # type: ignore[attr-defined]
            self.tokenizer.padding_side = "right"  # type: ignore[attr-defined]

        def __call__(self, images: Any, text: list[str], **kw: Any) -> str:
            calls.append(("processor", (images, text)))
            return "batch"

    shim = child.ImageTokenizer(Processor(), "<prompt>\n", "B", ["img"])
    assert shim(["<prompt>\n"], return_tensors="pt") == "batch"
    assert shim(["<prompt>\n B"], return_tensors="pt") == "batch"
    assert shim([" B"], return_tensors="pt") == "ids"
    assert calls == [
        ("processor", ([["img"]], ["<prompt>\n"])),
        ("processor", ([["img"]], ["<prompt>\nB"])),
        ("tokenizer", [" B"]),
    ]
    assert shim.pad_token_id == 0


def test_match_rate_aligns_at_the_end() -> None:
    assert child.match_rate([[[1], [2], [3]]], [[[1], [2], [3]]]) == 1.0
    assert child.match_rate([[[9], [2], [3]]], [[[2], [4]]]) == 0.5
