"""The EasyEdit side of benchmarks/bench_vs_easyedit.py, run in its own process.

    python benchmarks/easyedit_child.py JOB.json OUT.json

Runs under the interpreter given by `--easyedit-python` and imports nothing of this project:
only the user's EasyEdit checkout (named in the job), torch, transformers and the standard
library. The job names the model folder, the EasyEdit algorithm and its hyper-parameters, the
setting and a cases file written by the parent (prompts as text, images as PNG files). It
drives `easyeditor.MultimodalEditor.edit` on the cases (single: `sequential_edit=False`,
lifelong: `sequential_edit=True`) and writes, as JSON: seconds per edit (EasyEdit's own
per-edit `time`), seconds per case (wall of the `edit` call over the cases), import seconds,
peak RSS, EasyEdit's metrics, its locality recomputed against the unedited model, and the
compatibility fixes applied at run time (nothing in the checkout is changed).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import json
import resource
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Third-party modules EasyEdit imports at package import time for features these runs never
# use (video decoding, sentence embeddings, BLEU/ROUGE, API clients, MEND's `higher`, plots).
# When one is not installed, and only when EasyEdit's own code imports it, a stub module
# stands in; using anything from a stub raises ImportError.
INCIDENTAL_MODULES = (
    "av", "cv2", "einops", "fairscale", "gpustat", "higher", "hydra", "iopath",
    "matplotlib", "nltk", "omegaconf", "openai", "qwen_vl_utils", "rouge", "scipy",
    "seaborn", "sentence_transformers", "sklearn", "tabulate", "timm", "zhipuai",
)  # fmt: skip


class _Missing(type):
    """A class standing in for anything taken from a stub module: attribute access and
    subscripting give more stand-ins (so module-level annotations and base classes work),
    calling raises."""

    def __getattr__(cls, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return _missing(f"{cls.__qualname__}.{name}")

    def __getitem__(cls, item: object) -> type:
        return cls

    def __call__(cls, *args: object, **kwargs: object) -> object:
        raise ImportError(f"{cls.__qualname__} comes from a stub module: install the package")


def _missing(name: str) -> type:
    return _Missing(name, (), {"__qualname__": name})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return _missing(f"{self.__name__}.{name}")


class IncidentalStubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stub modules for INCIDENTAL_MODULES that are not installed, imported by EasyEdit."""

    def __init__(self, names: Sequence[str], easyedit_root: Path) -> None:
        self.names = set(names)
        self.root = str(easyedit_root.resolve())
        self.own_file = __file__  # module globals are gone at interpreter exit
        self.stubbed: list[str] = []

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        top = fullname.split(".")[0]
        if top not in self.names:
            return None
        if fullname == top:
            if self._installed(fullname, path) or not self._imported_by_easyedit():
                return None
            self.stubbed.append(top)
        elif top not in self.stubbed:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def _installed(self, fullname: str, path: object) -> bool:
        finders = [f for f in sys.meta_path if f is not self and hasattr(f, "find_spec")]
        return any(f.find_spec(fullname, path) is not None for f in finders)

    def _imported_by_easyedit(self) -> bool:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            if not name.startswith("<frozen") and name != self.own_file:
                return name.startswith(self.root + "/")
            frame = frame.f_back
        return False

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _StubModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []


def import_easyedit(root: Path) -> tuple[types.ModuleType, float, list[str]]:
    """`import easyeditor` from the checkout; the seconds it took and the stubbed modules."""
    stubs = IncidentalStubs(INCIDENTAL_MODULES, root)
    sys.meta_path.insert(0, stubs)
    sys.path.insert(0, str(root))
    started = time.perf_counter()
    import easyeditor

    return easyeditor, time.perf_counter() - started, sorted(set(stubs.stubbed))


# compatibility fixes: each returns the sentence the parent prints


def adalora_total_step(num_steps: int) -> str:
    """Recent peft refuses an AdaLoraConfig without total_step, and AdaLoRA ignores the `r`
    EasyEdit passes; give it the run's steps, init_r = 2 x rank and target_r = rank (as ours)."""
    import peft

    lora_main = importlib.import_module("easyeditor.models.lora.lora_main")
    original = lora_main.AdaLoraConfig

    def config(**kwargs: Any) -> object:
        rank = kwargs.pop("r")
        return original(init_r=2 * rank, target_r=rank, total_step=num_steps, **kwargs)

    lora_main.AdaLoraConfig = config
    return (
        "LoRA: easyeditor.models.lora.lora_main.AdaLoraConfig wrapped: total_step = num_steps "
        f"({num_steps}; peft {peft.__version__} refuses None), init_r = 2 x rank, target_r = "
        "rank (AdaLoRA ignores the `r` EasyEdit passes)"
    )


class ImageTokenizer:
    """What EasyEdit's text-only FT calls as `tok`, for one multimodal request: a text that
    starts with the request's chat prompt is encoded by the processor with the request's
    images; any other text (the target alone) by the tokenizer. FT writes the target after a
    space (GPT-2 style); after the chat template's assistant turn the answer follows the
    newline, as in EasyEdit's multimodal editors, so that space is dropped."""

    def __init__(self, processor: Any, prompt: str, target: str, images: Any) -> None:
        self.processor = processor
        self.prompt, self.target, self.images = prompt, target, images
        self.pad_token_id = processor.tokenizer.pad_token_id
        self.unk_token_id = processor.tokenizer.unk_token_id
        self.padding_side = processor.tokenizer.padding_side

    def __call__(self, texts: list[str], **kwargs: Any) -> Any:
        if not all(t.startswith(self.prompt) for t in texts):
            return self.processor.tokenizer(texts, **kwargs)
        spaced = self.prompt + " " + self.target
        texts = [self.prompt + self.target if t == spaced else t for t in texts]
        return self.processor(images=[self.images] * len(texts), text=texts, **kwargs)


def chat_prompt(processor: Any, prompt: str, images: Any) -> str:
    """The user turn EasyEdit's multimodal editors build (images first, then the text)."""
    count = len(images) if isinstance(images, list) else 1
    content = [{"type": "image"}] * count + [{"type": "text", "text": prompt}]
    messages = [{"role": "user", "content": content}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def register_multimodal_ft() -> str:
    """EasyEdit's MultimodalEditor has no FT: register EasyEdit's text FT
    (easyeditor.models.ft.ft_main.apply_ft_to_model) under 'FT', fed through ImageTokenizer."""
    ft_main = importlib.import_module("easyeditor.models.ft.ft_main")
    alg_dict = importlib.import_module("easyeditor.util.alg_dict")

    def apply_ft_multimodal(model: Any, tok: Any, requests: list[dict], hparams: Any, **kw: Any):  # noqa: ANN202
        request = requests[0]
        prompt = chat_prompt(tok, request["prompt"], request["image"])
        shim = ImageTokenizer(tok, prompt, request["target"], request["image"])
        text_request = {"prompt": prompt, "target_new": request["target"]}
        kw.pop("train_ds", None)
        return ft_main.apply_ft_to_model(model, shim, [text_request], hparams, **kw)

    alg_dict.ALG_MULTIMODAL_DICT["FT"] = apply_ft_multimodal
    return (
        "FT: MultimodalEditor has no FT; 'FT' registered in ALG_MULTIMODAL_DICT as EasyEdit's "
        "text FT (ft_main.apply_ft_to_model) given a tokenizer shim that encodes the prompt "
        "with the case's images in the chat template EasyEdit's multimodal editors use, and "
        "drops the space FT writes before the target"
    )


def timed_algorithm(algorithm: str, setting: str) -> tuple[list[float], list[str]]:
    """Time each call of the algorithm's apply function (the edit itself, what EasyEdit's own
    single-edit `time` measures; under sequential_edit its `time` runs on from the first edit,
    evaluations included). Lifelong: MultimodalEditor.edit's sequential branch passes each
    request as a dict where every apply_*_to_multimodal_model takes a list; the wrapper takes
    both. The seconds of each edit, and the fixes made."""
    alg_dict = importlib.import_module("easyeditor.util.alg_dict")
    original = alg_dict.ALG_MULTIMODAL_DICT[algorithm]
    seconds: list[float] = []
    lifelong = setting == "lifelong"

    def timed(model: Any, tok: Any, requests: Any, hparams: Any, **kwargs: Any) -> Any:
        if lifelong and isinstance(requests, dict):
            requests = [requests]
        started = time.perf_counter()
        try:
            return original(model, tok, requests, hparams, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    alg_dict.ALG_MULTIMODAL_DICT[algorithm] = timed
    fixes = []
    if lifelong:
        fixes.append(
            "lifelong: MultimodalEditor.edit(sequential_edit=True) passes one request dict to "
            f"{algorithm}'s apply function, which takes a list; wrapped to take either"
        )
    return seconds, fixes


def apply_fixes(algorithm: str, hparams: dict, setting: str) -> tuple[list[float], list[str]]:
    """Patch EasyEdit in this process (never its files) before the editor is built; the list
    the edits' seconds go into, and the fixes made."""
    fixes = []
    if algorithm == "LoRA" and hparams.get("lora_type") == "adalora":
        fixes.append(adalora_total_step(int(hparams["num_steps"])))
    if algorithm == "FT":
        fixes.append(register_multimodal_ft())
    seconds, more = timed_algorithm(algorithm, setting)
    return seconds, fixes + more


HPARAMS_CLASSES = {
    "GRACE": ("easyeditor.models.grace.grace_hparams", "GraceHyperParams"),
    "WISE": ("easyeditor.models.wise.wise_multimodal_hparams", "WISEMultimodalHyperParams"),
    "FT": ("easyeditor.models.ft.ft_hparams", "FTHyperParams"),
    "LoRA": ("easyeditor.models.lora.lora_multimodal_hparams", "LoRAMultimodalHyperParams"),
}


def build_hparams(algorithm: str, values: dict) -> Any:
    """EasyEdit's hparams dataclass for `algorithm`, from the values the parent mapped."""
    import torch

    module, name = HPARAMS_CLASSES[algorithm]
    values = dict(values)
    if isinstance(values.get("dtype"), str):
        values["dtype"] = getattr(torch, values["dtype"].removeprefix("torch."))
    return getattr(importlib.import_module(module), name)(**values)


def _media(paths: list[str]) -> tuple[str | list[str], str]:
    """One image is EasyEdit's file_type "image" (a path), several are "multi-image"."""
    return (paths[0], "image") if len(paths) == 1 else (list(paths), "multi-image")


def edit_inputs(cases: list[dict]) -> dict[str, Any]:
    """MultimodalEditor.edit's arguments for the cases (as written by the parent)."""
    images = [_media(c["images"]) for c in cases]
    return {
        "prompts": [c["prompt"] for c in cases],
        "targets": [c["target"] for c in cases],
        "image": [m for m, _ in images],
        "file_type": [t for _, t in images],
        "rephrase_prompts": [c["rephrase_prompt"] for c in cases],
        "rephrase_image": [_media(c["rephrase_images"])[0] for c in cases],
        "locality_inputs": {
            "text": {
                "prompt": [c["loc_prompt"] for c in cases],
                "ground_truth": [c["loc_answer"] for c in cases],
            },
            "vision": {
                "image": [c["m_loc_image"] for c in cases],
                "prompt": [c["m_loc_prompt"] for c in cases],
                "ground_truth": [c["m_loc_answer"] for c in cases],
            },
        },
    }


def _topk(logits: Any, k: int) -> list:
    import torch

    logits = torch.as_tensor(logits)
    return torch.topk(logits, k=min(k, logits.shape[-1]), dim=-1).indices.tolist()


def unedited_locality(editor: Any, inputs: dict[str, Any]) -> list[tuple[list, list]]:
    """The unedited model's top-1 (text) and top-10 (image) tokens on each case's locality
    prompts, computed by EasyEdit's own scorer before any edit: what EasyEdit's single-edit
    locality should compare with (it compares with the already-edited model)."""
    evaluate = importlib.import_module("easyeditor.evaluate.multimodal_evaluate")
    hparams = editor.hparams
    out = []
    for request in editor._prepare_requests(**inputs):
        ret = evaluate.compute_multimodal_hf_edit_results(
            editor.model, editor.model_name, hparams, editor.tok, request, hparams.device
        )
        out.append((_topk(ret["locality_output"], 1), _topk(ret["multimodal_locality_output"], 10)))
    return out


def match_rate(post: list, reference: list) -> float:
    """EasyEdit's topk_token_match on token lists: the share of equal entries, the sequences
    aligned at their ends."""
    import torch

    post_t, ref_t = torch.as_tensor(post), torch.as_tensor(reference)
    width = min(post_t.shape[1], ref_t.shape[1])
    post_t, ref_t = post_t[:, -width:], ref_t[:, -width:]
    return float((post_t.reshape(-1) == ref_t.reshape(-1)).float().mean())


METRIC_KEYS = (
    "rewrite_acc", "rephrase_acc", "image_rephrase_acc", "locality_acc", "multimodal_locality_acc",
)  # fmt: skip


def case_rows(metrics: list[dict], reference: list[tuple[list, list]]) -> list[dict]:
    """Per edited case: EasyEdit's seconds and metrics, and its locality against the unedited
    model (same tokens, same rule)."""
    rows = []
    for m, (text_ref, image_ref) in zip(metrics, reference, strict=True):
        post = m["post"]
        row = {"time": float(m["time"])}
        row.update({k: float(post[k]) for k in METRIC_KEYS if k in post})
        row["locality_acc_unedited"] = match_rate(post["locality_topk_tokens"], text_ref)
        row["multimodal_locality_acc_unedited"] = match_rate(
            post["multimodal_locality_topk_tokens"], image_ref
        )
        rows.append(row)
    return rows


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (VmHWM: not the parent's RSS at fork, which
    ru_maxrss of an exec'd child includes on Linux)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def preimport() -> None:
    """torch, transformers and peft before the timed import: both sides time their own
    package's import on top of the same libraries."""
    import torch  # noqa: F401
    import transformers  # noqa: F401

    with contextlib.suppress(ImportError):
        import peft  # noqa: F401


def run_job(job: dict) -> dict:
    """Import EasyEdit, apply the fixes, load the model, edit the cases; the measurements."""
    import torch

    preimport()
    torch.set_num_threads(int(job.get("threads", 1)))
    torch.manual_seed(int(job.get("seed", 0)))
    _, import_s, stubbed = import_easyedit(Path(job["easyedit"]))
    edit_seconds, fixes = apply_fixes(job["algorithm"], job["hparams"], job["setting"])
    if stubbed:
        fixes.insert(0, "stub modules (not installed; imported by EasyEdit, unused on these "
                     "paths): " + ", ".join(stubbed))  # fmt: skip
    editor_class = importlib.import_module("easyeditor.editors.multimodal_editor").MultimodalEditor
    editor = editor_class.from_hparams(build_hparams(job["algorithm"], job["hparams"]))
    cases = json.loads(Path(job["cases"]).read_text())
    inputs = edit_inputs(cases)
    reference = unedited_locality(editor, inputs)
    started = time.perf_counter()
    metrics, _, _ = editor.edit(
        **inputs, keep_original_weight=False, verbose=False,
        sequential_edit=job["setting"] == "lifelong",
    )  # fmt: skip
    wall = time.perf_counter() - started
    return {
        "harness": "easyedit",
        "import_s": import_s,
        "wall_s": wall,
        "edit_s": edit_seconds,
        "cases": case_rows(metrics, reference),
        "case_ids": [c["case_id"] for c in cases],
        "peak_rss_mb": peak_rss_mb(),
        "fixes": fixes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text())
    Path(args[1]).write_text(json.dumps(run_job(job), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
