"""This harness against EasyEdit's multimodal editor: the same model, cases and hyper-parameters.

Not a test. Chooses the first N errors of each tier on the public split (as `--per-tier N`
does), then for each editor and setting runs this project's harness
(`evaluator.run.run_evaluation`) and, with `--easyedit PATH`, EasyEdit's
`MultimodalEditor.edit` (single: `sequential_edit=False`, lifelong: `sequential_edit=True`),
interleaved, each in its own process with one thread, and prints seconds per edit, seconds
per case, import seconds, the process's peak RSS and each harness's reliability, generality
and locality, EasyEdit's locality also recomputed against the unedited model.

EasyEdit runs from the user's checkout under `--easyedit-python` (default: this interpreter)
through benchmarks/easyedit_child.py, which imports nothing of this project and changes nothing
in the checkout; the compatibility fixes it applies at run time are printed. Our editor config
(defaults, `--config EDITOR=FILE.yaml`, and COMPARABLE below) is mapped onto EasyEdit's
hparams (`easyedit_hparams`); what cannot be mapped is printed as notes.

    .venv/bin/python -m benchmarks.bench_vs_easyedit --per-tier 10 --easyedit ~/EasyEdit
        [--easyedit-python ~/ee-venv/bin/python] [--editors grace wise ft lora]
        [--settings single lifelong] [--rounds 1] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "easyedit_child.py"
EDITORS = ("grace", "wise", "ft", "lora")
DEFAULT_EDITORS = ("grace", "wise", "ft")
SETTINGS = ("single", "lifelong")
ALGORITHMS = {"grace": "GRACE", "wise": "WISE", "ft": "FT", "lora": "LoRA"}
# ours, changed where EasyEdit cannot express our default: GRACE's radius scaled by the key's
# norm has no EasyEdit counterpart, so both use an absolute radius (EasyEdit's and the GRACE
# paper's eps 1.0)
COMPARABLE: dict[str, dict[str, Any]] = {"grace": {"eps_scale": "absolute", "eps": 1.0}}
# EasyEdit's MultimodalEditor picks the model class from the model path's name
EASYEDIT_NAMES = {"llava_onevision": "llava-onevision", "qwen2_vl": "qwen2-vl"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_model() -> str:
    from contract import paths

    return str(paths.zoo_dir("llava-onevision"))


def default_benchmark() -> str:
    from contract import paths

    return str(paths.benchmark_dir())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_vs_easyedit", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", default=None, help="default: the llava zoo model")
    parser.add_argument("--benchmark", default=None, help="default: MultiMedEdit-mini")
    parser.add_argument("--per-tier", type=int, default=10, help="public edits of each tier")
    parser.add_argument("--editors", nargs="+", default=list(DEFAULT_EDITORS), choices=EDITORS)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs of each pair")
    parser.add_argument("--easyedit", type=Path, default=None, help="an EasyEdit checkout")
    parser.add_argument(
        "--easyedit-python", default=sys.executable, help="interpreter for EasyEdit's side"
    )
    parser.add_argument(
        "--config", action="append", default=[], metavar="EDITOR=FILE",
        help="our config for EDITOR (YAML), mapped onto EasyEdit's hparams; repeatable",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each side")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument("--ours-job", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.per_tier < 1 or args.rounds < 1 or args.threads < 1:
        parser.error("--per-tier, --rounds and --threads must be at least 1")
    if args.easyedit is not None and not (args.easyedit / "easyeditor").is_dir():
        parser.error(f"--easyedit {args.easyedit}: no easyeditor/ package in that folder")
    try:
        args.configs = parse_configs(args.config, args.editors)
    except ValueError as err:
        parser.error(str(err))
    args.model = args.model or default_model()
    args.benchmark = args.benchmark or default_benchmark()
    return args


def parse_configs(items: Sequence[str], editors: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`EDITOR=FILE.yaml` items -> our config per editor: COMPARABLE, then the file's fields."""
    from contract.safe_yaml import load_config_text

    configs = {name: dict(COMPARABLE.get(name, {})) for name in editors}
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or name not in EDITORS:
            raise ValueError(f"--config {item!r}: give EDITOR=FILE with EDITOR in {EDITORS}")
        configs.setdefault(name, dict(COMPARABLE.get(name, {})))
        configs[name].update(load_config_text(Path(file).read_text()) or {})
    return configs


# our config -> EasyEdit's hparams


@dataclass(frozen=True)
class Target:
    """What the mapping needs to know of the model and the run."""

    model: str  # the model folder as EasyEdit will load it
    layers_path: str  # the decoder layers' qualified name, e.g. model.language_model.layers
    num_layers: int
    device: str  # "cpu" or "cuda"
    setting: str


def our_config(editor: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Our editor's full config (defaults plus overrides), as the run records it."""
    from evaluator.editors.registry import parse_editor_config

    return parse_editor_config(editor, overrides or {}).to_dict()


def _layer(field: str, spec: int | float, target: Target) -> int:
    from evaluator.editors.layers import resolve_layer

    return resolve_layer(field, spec, target.num_layers)


def _common(algorithm: str, target: Target) -> dict[str, Any]:
    return {
        "alg_name": algorithm,
        "model_name": target.model,
        "device": 0 if target.device == "cuda" else "cpu",
    }


def _down_proj(config: dict[str, Any], target: Target) -> str:
    """EasyEdit's GRACE and WISE evaluate `self.model.<name>`: the layer index in brackets."""
    return f"{target.layers_path}[{_layer('layer', config['layer'], target)}].mlp.down_proj.weight"


def grace_hparams(config: dict[str, Any], target: Target) -> tuple[dict[str, Any], list[str]]:
    hparams = _common("GRACE", target) | {
        "inner_params": [_down_proj(config, target)],
        "edit_lr": config["edit_lr"], "n_iter": config["n_iter"], "eps": config["eps"],
        "replacement": config["replacement"], "val_init": "warm", "dist_fn": "euc",
        "val_train": "sgd", "val_reg": None, "reg": "early_stop", "eps_expand": "coverage",
        "num_pert": 8, "dropout": 0.0,
    }  # fmt: skip
    notes = [
        "GRACE: EasyEdit runs all n_iter steps (no early stop); ours stops once the loss is "
        f"below early_stop_loss={config['early_stop_loss']}",
    ]
    if config["eps_scale"] != "absolute":
        notes.append("GRACE: ours scales eps by the key's norm, EasyEdit's eps is absolute")
    return hparams, notes


def wise_hparams(config: dict[str, Any], target: Target) -> tuple[dict[str, Any], list[str]]:
    hparams = _common("WISE", target) | {
        "inner_params": [_down_proj(config, target)],
        "edit_lr": config["edit_lr"], "n_iter": config["n_iter"],
        "mask_ratio": config["mask_ratio"], "norm_constraint": config["norm_constraint"],
        "alpha": config["alpha"], "beta": config["beta"], "gamma": config["gamma"],
        "act_ratio": config["act_ratio"], "save_freq": config["save_freq"],
        "merge_freq": config["merge_freq"], "densities": config["density"], "weights": 1.0,
        "merge_alg": "ties", "retrieve": False, "replay": False,
        "objective_optimization": "only_label", "sequential_edit": target.setting == "lifelong",
        "use_chat_template": True, "exact_match": True, "hidden_act": "silu",
        "name": target.model, "tokenizer_class": ".", "tokenizer_name": ".", "dtype": "float32",
        "qformer_checkpoint": ".", "qformer_name_or_path": ".", "state_dict_file": ".",
        "pretrained_ckpt": ".", "file_type": "image", "coco_image": ".", "rephrase_image": ".",
    }  # fmt: skip
    notes = [
        "WISE: EasyEdit's irrelevant input is the case's own text-locality prompt (a scored "
        f"probe); ours are {config['irrelevant_cases']} train case(s)' locality prompts",
        "WISE: EasyEdit stops when the loss is <= 0.02 and changed by <= 1e-4; ours once it is "
        f"below early_stop_loss={config['early_stop_loss']}",
    ]
    return hparams, notes


def ft_hparams(config: dict[str, Any], target: Target) -> tuple[dict[str, Any], list[str]]:
    from evaluator.models.families import PROJECTIONS

    if config["norm_kind"] != "linf":
        raise ValueError("ft: EasyEdit's FT bounds each weight (L-inf) only; use norm_kind linf")
    layers = target.layers_path
    hparams = _common("FT", target) | {
        "layers": [_layer("layer", config["layer"], target)],
        "num_steps": config["steps"], "lr": config["lr"], "weight_decay": 0.0,
        "kl_factor": 0.0, "norm_constraint": float(config["norm_constraint"]),
        "rewrite_module_tmp": f"{layers}.{{}}.{PROJECTIONS[config['module']]}",
        "layer_module_tmp": f"{layers}.{{}}", "mlp_module_tmp": f"{layers}.{{}}.mlp",
        "attn_module_tmp": f"{layers}.{{}}.self_attn", "ln_f_module": "model.language_model.norm",
        "lm_head_module": "lm_head", "objective_optimization": "target_new", "batch_size": 1,
        "max_length": 40,
    }  # fmt: skip
    notes = []
    if config["early_stop_loss"] != 0.01:
        notes.append(
            "FT: EasyEdit stops once the loss is below 0.01; ours at early_stop_loss="
            f"{config['early_stop_loss']}"
        )
    return hparams, notes


def lora_hparams(config: dict[str, Any], target: Target) -> tuple[dict[str, Any], list[str]]:
    from evaluator.models.families import PROJECTIONS

    layers = [_layer("layers", s, target) for s in config["layers"]] or range(target.num_layers)
    kinds = [PROJECTIONS[kind] for kind in config["modules"]]
    modules = [f"{target.layers_path}.{i}.{kind}" for i in layers for kind in kinds]
    hparams = _common("LoRA", target) | {
        "lora_type": config["variant"], "layers": [], "num_steps": config["steps"],
        "lr": config["lr"], "sh_lr": 1.0, "weight_decay": 0.0, "kl_factor": 0.0,
        "norm_constraint": False, "target_modules": modules, "rank": config["rank"],
        "lora_alpha": config["alpha"], "lora_dropout": config["dropout"], "batch_size": 1,
        "max_length": 40, "use_chat_template": True,
    }  # fmt: skip
    notes = [
        "LoRA: EasyEdit trains with SGD (here without learning-rate decay, sh_lr 1.0), ours "
        "with Adam at the same lr; EasyEdit has no early stop (ours: early_stop_loss="
        f"{config['early_stop_loss']}) and scores with the adapter's dropout on",
    ]
    return hparams, notes


MAPPINGS: dict[str, Callable[[dict[str, Any], Target], tuple[dict[str, Any], list[str]]]] = {
    "grace": grace_hparams,
    "wise": wise_hparams,
    "ft": ft_hparams,
    "lora": lora_hparams,
}


def easyedit_hparams(
    editor: str, config: dict[str, Any], target: Target
) -> tuple[dict[str, Any], list[str]]:
    """EasyEdit's hparams for our `editor` with our full `config`, and what differs anyway."""
    hparams, notes = MAPPINGS[editor](config, target)
    if config.get("stop_when_reached"):
        notes.append(
            f"{ALGORITHMS[editor]}: ours also stops once the target is the argmax at every "
            "answer position (stop_when_reached); EasyEdit has no such stop"
        )
    return hparams, notes


# the cases both harnesses edit


@dataclass
class Chosen:
    """The edits both sides make, and what the hparams mapping needs to know of the model."""

    cases: list[Any]  # evaluator.benchmark.case.Case, in our edit order
    model_type: str
    layers_path: str
    num_layers: int

    @property
    def case_ids(self) -> list[str]:
        return [c.case_id for c in self.cases]


def first_errors(adapter: Any, cases: Sequence[Any], per_tier: int, chunk: int = 32) -> list[Any]:
    """The first `per_tier` cases of each tier whose edit probe the untouched model gets wrong,
    in split order: the edits `--per-tier N` chooses (evaluator.edit_set.choose_edits), found
    by scoring edit probes only until each tier has its N (not every probe of the split)."""
    from evaluator.protocols import case_probes

    found: dict[str, list[int]] = {c.task: [] for c in cases}
    for start in range(0, len(cases), chunk):
        if all(len(ids) >= per_tier for ids in found.values()):
            break
        block = cases[start : start + chunk]
        scores = adapter.score([case_probes(c)[0] for c in block])
        for offset, (case, score) in enumerate(zip(block, scores, strict=True)):
            if not score.exact_match and len(found[case.task]) < per_tier:
                found[case.task].append(start + offset)
    return [cases[i] for i in sorted(i for ids in found.values() for i in ids)]


def choose_cases(model: str, benchmark: str, per_tier: int, device: str) -> Chosen:
    """The edits `--per-tier N` gives on the public split, and the model's layout."""
    from evaluator.benchmark import load_benchmark
    from evaluator.models import load_vlm

    adapter = load_vlm(model, device=device)
    cases = first_errors(adapter, load_benchmark(benchmark, "public").cases, per_tier)
    if not cases:
        raise SystemExit("the untouched model answers every public case: nothing to edit")
    return Chosen(cases, adapter.model.config.model_type, adapter.layers_path, adapter.num_layers)


def prompt_body(question: str, options: dict[str, str] | None) -> str:
    """The user turn's text as our adapter writes it (VLMAdapter.prompt_text): the question,
    the options as `A. text` lines and the instruction."""
    from evaluator.models.adapter import ANSWER_INSTRUCTION

    if not options:
        return question
    lines = "\n".join(f"{k}. {v}" for k, v in options.items())
    return f"{question}\n{lines}\n{ANSWER_INSTRUCTION}"


def _save_images(images: Sequence[Any], folder: Path, stem: str) -> list[str]:
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{stem}-{i}.png"
        image.convert("RGB").save(path)
        paths.append(str(path))
    return paths


def export_case(case: Any, folder: Path) -> dict[str, Any]:
    """One case as EasyEdit's side reads it: prompts as text (our prompt body), images as PNG.
    EasyEdit's request has one target for every probe, so its rephrase keeps the edit's
    option order (ours shows the options reordered, the target moved with its option)."""
    return {
        "case_id": case.case_id,
        "task": case.task,
        "prompt": prompt_body(case.question, case.options),
        "target": case.target,
        "rephrase_prompt": prompt_body(case.rephrase_question, case.options),
        "images": _save_images(case.images, folder, f"{case.case_id}-edit"),
        "rephrase_images": _save_images(case.rephrase_images, folder, f"{case.case_id}-image"),
        "loc_prompt": case.loc_question,
        "loc_answer": case.loc_answer,
        "m_loc_image": _save_images(case.m_loc_images[:1], folder, f"{case.case_id}-mloc")[0],
        "m_loc_prompt": case.m_loc_question,
        "m_loc_answer": case.m_loc_answer,
    }


def export_cases(cases: Sequence[Any], workdir: Path) -> Path:
    """Write the chosen cases for EasyEdit's side; the path of the cases file."""
    folder = workdir / "images"
    folder.mkdir(parents=True, exist_ok=True)
    out = workdir / "cases.json"
    out.write_text(json.dumps([export_case(c, folder) for c in cases], indent=1))
    return out


def easyedit_model_path(model: str, model_type: str, workdir: Path) -> str:
    """The model folder under a name EasyEdit's MultimodalEditor recognises (a link in the
    workdir when the folder's own name does not say the family)."""
    name = EASYEDIT_NAMES.get(model_type)
    if name is None:
        raise ValueError(f"EasyEdit's MultimodalEditor does not load {model_type!r} models")
    if name in Path(model).name.lower():
        return str(Path(model).resolve())
    link = workdir / f"{name}-{Path(model).name}"
    if not link.exists():
        link.symlink_to(Path(model).resolve(), target_is_directory=True)
    return str(link)


# the two sides, each in its own process


def _our_metrics(result: dict[str, Any]) -> dict[str, float]:
    overall = result["metrics"]["overall"]
    return {k: float(overall[k]["mean"]) for k in ("reliability", "generality", "locality")}


def run_ours_job(job: dict[str, Any]) -> dict[str, Any]:
    """Our side of one run (in its own process): the chosen cases as the split, their
    untouched reference scored first (as a second run on the same model reuses it), then
    `run_evaluation` as benchmarks/bench_edit_speed.py calls it."""
    from dataclasses import replace

    import torch

    from benchmarks.easyedit_child import peak_rss_mb, preimport

    preimport()
    started = time.perf_counter()
    from evaluator.benchmark import load_benchmark
    from evaluator.efficiency import PeakMemory
    from evaluator.models import load_vlm
    from evaluator.protocols import RunStats
    from evaluator.run import RunSpec, prepare, reference_pass, run_evaluation

    import_s = time.perf_counter() - started
    torch.set_num_threads(int(job["threads"]))
    adapter = load_vlm(job["model"], device=job["device"])
    split = load_benchmark(job["benchmark"], "public")
    ids = list(job["case_ids"])
    chosen = replace(split, cases=tuple(c for c in split.cases if c.case_id in set(ids)))
    spec = RunSpec(
        model=job["model"], revision=None, editor=job["editor"], config=job["config"],
        benchmark=job["benchmark"], split="public", setting=job["setting"], per_tier=len(ids),
    )  # fmt: skip
    reference_pass(prepare(spec, adapter, chosen), RunStats(memory=PeakMemory(adapter.device)))
    result = run_evaluation(spec, adapter=adapter, split_data=chosen)
    edited = [c["case_id"] for c in result["cases"]]
    if edited != ids:
        raise RuntimeError(f"our run edited {edited}, not the chosen cases {ids}")
    return {
        "harness": "ours",
        "import_s": import_s,
        "wall_s": result["efficiency"]["wall_s"],
        "edit_s": result["efficiency"]["edit_latency_s"]["mean"],
        "edits": len(edited),
        "metrics": _our_metrics(result),
        "peak_rss_mb": peak_rss_mb(),
        "case_ids": edited,
    }


class ChildFailed(RuntimeError):
    """A side's process exited without a result."""


def child_env(threads: int, *, ours: bool) -> dict[str, str]:
    """One thread each; our repository on the path of our side only."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) != REPO]
    if ours:
        paths.insert(0, str(REPO))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_child(cmd: list[str], job: dict[str, Any], stem: Path, env: dict[str, str],
              timeout: float) -> dict[str, Any]:  # fmt: skip
    """Write the job, run `cmd JOB OUT` (output to STEM.log), read the result."""
    job_file, out_file, log_file = (stem.with_suffix(s) for s in (".job.json", ".out.json", ".log"))
    job_file.write_text(json.dumps(job, indent=1))
    out_file.unlink(missing_ok=True)
    with log_file.open("w") as log:
        try:
            proc = subprocess.run(
                [*cmd, str(job_file), str(out_file)], stdout=log, stderr=subprocess.STDOUT,
                cwd=stem.parent, env=env, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as err:
            raise ChildFailed(f"timed out after {timeout:.0f} s; see {log_file}") from err
    if proc.returncode != 0 or not out_file.exists():
        tail = log_file.read_text(errors="replace").strip().splitlines()[-6:]
        raise ChildFailed(f"exit {proc.returncode}; see {log_file}:\n    " + "\n    ".join(tail))
    return json.loads(out_file.read_text())


# the table


@dataclass
class Row:
    """One harness on one editor and setting, averaged over rounds (metrics: first round)."""

    editor: str
    setting: str
    harness: str  # "ours" | "EasyEdit"
    per_edit: float | None = None
    per_case: float | None = None
    import_s: float | None = None
    peak_rss_mb: float | None = None
    reliability: float | None = None
    generality: float | None = None
    locality: float | None = None
    locality_unedited: float | None = None  # ours is always against the unedited model
    error: str | None = None


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def summarise_ours(editor: str, setting: str, results: Sequence[dict[str, Any]]) -> Row:
    first = results[0]["metrics"]
    return Row(
        editor, setting, "ours",
        per_edit=_mean([r["edit_s"] for r in results]),
        per_case=_mean([r["wall_s"] / r["edits"] for r in results]),
        import_s=_mean([r["import_s"] for r in results]),
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        reliability=first["reliability"], generality=first["generality"],
        locality=first["locality"], locality_unedited=first["locality"],
    )  # fmt: skip


def _pair_mean(cases: Sequence[dict[str, float]], a: str, b: str) -> float:
    return _mean([(c[a] + c[b]) / 2 for c in cases])


def summarise_easyedit(editor: str, setting: str, results: Sequence[dict[str, Any]]) -> Row:
    """Seconds per edit: each call of the algorithm's apply function, timed in EasyEdit's
    process. Reliability is rewrite_acc, generality the mean of rephrase_acc and
    image_rephrase_acc, locality the mean of its text (top-1) and image (top-10) locality."""
    cases = results[0]["cases"]
    return Row(
        editor, setting, "EasyEdit",
        per_edit=_mean([_mean(r["edit_s"]) for r in results]),
        per_case=_mean([r["wall_s"] / len(r["cases"]) for r in results]),
        import_s=_mean([r["import_s"] for r in results]),
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        reliability=_mean([c["rewrite_acc"] for c in cases]),
        generality=_pair_mean(cases, "rephrase_acc", "image_rephrase_acc"),
        locality=_pair_mean(cases, "locality_acc", "multimodal_locality_acc"),
        locality_unedited=_pair_mean(
            cases, "locality_acc_unedited", "multimodal_locality_acc_unedited"
        ),
    )  # fmt: skip


COLUMNS = (
    ("editor", "editor", "{}"), ("setting", "setting", "{}"), ("harness", "harness", "{}"),
    ("s/edit", "per_edit", "{:.3f}"), ("s/case", "per_case", "{:.3f}"),
    ("import s", "import_s", "{:.2f}"), ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
    ("reliability", "reliability", "{:.3f}"), ("generality", "generality", "{:.3f}"),
    ("locality", "locality", "{:.3f}"), ("locality vs unedited", "locality_unedited", "{:.3f}"),
)  # fmt: skip


def _cell(row: Row, attr: str, fmt: str) -> str:
    value = getattr(row, attr)
    if value is None:
        return "failed" if row.error and attr == "per_edit" else "-"
    return fmt.format(value)


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, one line per editor, setting and harness; then each failure."""
    lines = ["| " + " | ".join(title for title, _, _ in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, a, f) for _, a, f in COLUMNS) + " |")
    for row in rows:
        if row.error:
            lines.append(f"\n{row.harness} {row.editor} {row.setting} failed: {row.error}")
    return "\n".join(lines)


def format_ratios(rows: Sequence[Row]) -> str:
    """Ours over EasyEdit's seconds per edit and per case, where both ran."""
    by_key = {(r.editor, r.setting, r.harness): r for r in rows if r.per_edit is not None}
    lines = []
    for (editor, setting, harness), ours in by_key.items():
        theirs = by_key.get((editor, setting, "EasyEdit"))
        if harness != "ours" or theirs is None:
            continue
        lines.append(
            f"{editor} {setting}: ours / EasyEdit = {ours.per_edit / theirs.per_edit:.2f}x per "
            f"edit, {ours.per_case / theirs.per_case:.2f}x per case"
        )
    return "\n".join(lines)


# the runs


@dataclass
class Pair:
    """One editor and setting: our job, EasyEdit's (None without --easyedit), the notes."""

    editor: str
    setting: str
    ours: dict[str, Any]
    easyedit: dict[str, Any] | None
    notes: list[str]


SHOWN = {
    "grace": ("inner_params", "n_iter", "edit_lr", "eps", "replacement", "val_init"),
    "wise": ("inner_params", "n_iter", "edit_lr", "mask_ratio", "act_ratio", "alpha", "beta",
             "gamma", "norm_constraint", "save_freq", "merge_freq", "densities"),
    "ft": ("layers", "rewrite_module_tmp", "num_steps", "lr", "norm_constraint"),
    "lora": ("lora_type", "rank", "lora_alpha", "lora_dropout", "num_steps", "lr",
             "target_modules"),
}  # fmt: skip


def build_pairs(args: argparse.Namespace, chosen: Chosen, workdir: Path) -> list[Pair]:
    """Every editor x setting: our job and, with --easyedit, EasyEdit's mapped from it."""
    cases_file = export_cases(chosen.cases, workdir) if args.easyedit else None
    model = easyedit_model_path(args.model, chosen.model_type, workdir) if args.easyedit else ""
    pairs = []
    for editor in args.editors:
        for setting in args.settings:
            ours = {
                "model": args.model, "benchmark": args.benchmark, "editor": editor,
                "config": args.configs.get(editor, {}), "setting": setting,
                "case_ids": chosen.case_ids, "threads": args.threads, "device": args.device,
            }  # fmt: skip
            if cases_file is None:
                pairs.append(Pair(editor, setting, ours, None, []))
                continue
            target = Target(model, chosen.layers_path, chosen.num_layers, args.device, setting)
            hparams, notes = easyedit_hparams(editor, our_config(editor, ours["config"]), target)
            easyedit = {
                "easyedit": str(args.easyedit.resolve()), "algorithm": ALGORITHMS[editor],
                "setting": setting, "cases": str(cases_file), "hparams": hparams,
                "threads": args.threads, "seed": 0,
            }  # fmt: skip
            pairs.append(Pair(editor, setting, ours, easyedit, notes))
    return pairs


def run_pairs(pairs: Sequence[Pair], args: argparse.Namespace, workdir: Path) -> list[Row]:
    """Round after round, each pair's two sides one after the other; failures become rows."""
    runs = workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    child = workdir / CHILD.name
    shutil.copyfile(CHILD, child)
    ours_cmd = [sys.executable, "-m", "benchmarks.bench_vs_easyedit", "--ours-job"]
    sides = {
        "ours": (ours_cmd, child_env(args.threads, ours=True), summarise_ours),
        "EasyEdit": ([args.easyedit_python, str(child)], child_env(args.threads, ours=False),
                     summarise_easyedit),
    }  # fmt: skip
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    errors: dict[tuple[int, str], str] = {}
    for round_ in range(args.rounds):
        for i, pair in enumerate(pairs):
            for harness, job in (("ours", pair.ours), ("EasyEdit", pair.easyedit)):
                if job is None or (i, harness) in errors:
                    continue
                cmd, env, _ = sides[harness]
                stem = runs / f"{pair.editor}-{pair.setting}-{harness}-{round_}"
                print(f"  running {harness} {pair.editor} {pair.setting} (round {round_ + 1})",
                      flush=True)  # fmt: skip
                try:
                    out = run_child(cmd, job, stem, env, args.timeout)
                    results.setdefault((i, harness), []).append(out)
                except ChildFailed as err:
                    errors[(i, harness)] = str(err)
    rows = []
    for i, pair in enumerate(pairs):
        for harness in ("ours", "EasyEdit") if pair.easyedit else ("ours",):
            if (i, harness) in errors:
                rows.append(Row(pair.editor, pair.setting, harness, error=errors[(i, harness)]))
            else:
                rows.append(sides[harness][2](pair.editor, pair.setting, results[(i, harness)]))
    return rows


def fixes_applied(workdir: Path) -> list[str]:
    """The compatibility fixes EasyEdit's processes reported, each once."""
    seen: dict[str, None] = {}
    for path in sorted((workdir / "runs").glob("*-EasyEdit-*.out.json")):
        for fix in json.loads(path.read_text()).get("fixes", []):
            seen.setdefault(fix, None)
    return list(seen)


def print_mapping(pairs: Sequence[Pair]) -> None:
    """Our config per editor, the EasyEdit hparams it maps to, and what still differs."""
    seen = set()
    for pair in pairs:
        if pair.easyedit is None or pair.editor in seen:
            continue
        seen.add(pair.editor)
        hparams = pair.easyedit["hparams"]
        shown = ", ".join(f"{k}={hparams[k]}" for k in SHOWN[pair.editor])
        changed = pair.ours["config"]
        print(f"{pair.editor}: ours = our defaults" + (f" with {changed}" if changed else ""))
        print(f"  EasyEdit {pair.easyedit['algorithm']}: {shown}")
        for note in pair.notes:
            print(f"  differs: {note}")


def resolve_local(path: str) -> str:
    """A local folder as an absolute path (the sides run in the workdir); a hub id as is."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ours_job:
        job, out = (Path(p) for p in args.ours_job)
        out.write_text(json.dumps(run_ours_job(json.loads(job.read_text())), indent=1))
        return 0
    args.model, args.benchmark = resolve_local(args.model), resolve_local(args.benchmark)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-vs-easyedit-"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    chosen = choose_cases(args.model, args.benchmark, args.per_tier, args.device)
    tiers = {t: sum(c.task == t for c in chosen.cases) for t in ("understanding", "reasoning")}
    print(f"model {args.model} ({chosen.model_type}, {chosen.num_layers} layers, {args.device})")
    print(f"{len(chosen.cases)} public edits {tiers} (the first {args.per_tier} errors of each "
          f"tier, chosen in {time.perf_counter() - started:.0f} s); {args.threads} thread(s) "
          f"per side, {args.rounds} round(s); runs, logs and results in {workdir}")  # fmt: skip
    pairs = build_pairs(args, chosen, workdir)
    if args.easyedit:
        print(f"EasyEdit {args.easyedit} under {args.easyedit_python}")
        print_mapping(pairs)
    else:
        print("EasyEdit: not run (give --easyedit PATH to run it side by side)")
    rows = run_pairs(pairs, args, workdir)
    if args.easyedit:
        fixes = fixes_applied(workdir)
        print("\nEasyEdit compatibility fixes applied at run time (in its process; the "
              "checkout is not changed):" if fixes else "\nEasyEdit: no compatibility fix "
              "was needed")  # fmt: skip
        for fix in fixes:
            print(f"  - {fix}")
    print()
    print(format_table(rows))
    if args.easyedit:
        print(
            "\nEasyEdit scores single-edit locality on the already-edited model (its 'pre' "
            "is taken after the edit); 'locality vs unedited' compares its tokens with the "
            "unedited model's, by its own rule (text top-1, image top-10 tokens, every "
            "position). Ours: text, image and multiple-choice locality at answer positions. "
            "EasyEdit's lifelong scores each case right after its own edit, ours after the "
            "last edit; its rephrase keeps the edit's option order, ours reorders the options."
        )
        print(format_ratios(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
