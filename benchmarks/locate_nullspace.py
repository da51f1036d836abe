"""Why AlphaEdit's null-space projection does (or does not) keep locality on a zoo model.

Not a test. On the first edits of the public split (the model's errors), with MEMIT and
AlphaEdit at their defaults and the statistics from the cache under MME_HOME:
- the share of a key's squared norm that lies in AlphaEdit's null space (||P k||^2 / ||k||^2),
  for the preserved train keys' second moment (trace(P C) / trace(C)), the edit keys and the
  last-prompt keys of the cases' text, image and multiple-choice locality probes;
- per single edit, the update's norm per layer and the relative change it makes to the layer's
  output on those locality keys (||dW k|| / ||W k||);
- after a sequence of edits, the same relative change.
Prints one JSON object.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.locate_nullspace \\
        --model data/models/mme-tiny-llava-onevision --edits 40
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import torch

from contract import paths
from evaluator.benchmark import load_benchmark
from evaluator.benchmark.case import Case
from evaluator.editors.locate import LocateEditor, read_last
from evaluator.editors.registry import get_editor, parse_editor_config
from evaluator.models import load_vlm
from evaluator.models.probe import Probe
from evaluator.protocols import case_probes
from evaluator.run import LazyCases


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.zoo_dir("llava-onevision")))
    parser.add_argument("--benchmark", default=str(paths.benchmark_dir()))
    parser.add_argument("--edits", type=int, default=40, help="edits (half of each tier)")
    return parser.parse_args()


def first_errors(adapter, cases: Sequence[Case], count: int) -> list[Case]:
    """The first `count` cases (half of each tier) whose edit probe the model gets wrong."""
    chosen: dict[str, list[Case]] = {"understanding": [], "reasoning": []}
    for case in cases:
        if len(chosen[case.task]) >= count // 2:
            continue
        if not adapter.score([case_probes(case)[0]])[0].exact_match:
            chosen[case.task].append(case)
        if all(len(v) >= count // 2 for v in chosen.values()):
            break
    return chosen["understanding"] + chosen["reasoning"]


def locality_probes(cases: Sequence[Case]) -> list[Probe]:
    return [p for case in cases for p in case_probes(case)[3:]]


def keys(editor: LocateEditor, probes: Sequence[Probe]) -> dict[str, torch.Tensor]:
    """Per edited layer, the last-prompt keys of `probes` [N, D_in]."""
    reads = [read_last(editor.adapter, p, editor.down_names, []) for p in probes]
    return {n: torch.stack([r[n] for r in reads]).double() for n in editor.down_names}


def null_share(projector: torch.Tensor, rows: torch.Tensor) -> float:
    p = projector.double()
    return float(((rows @ p).pow(2).sum(1) / rows.pow(2).sum(1)).mean())


def output_change(editor: LocateEditor, before: dict, loc_keys: dict) -> dict[str, float]:
    """Per layer: mean ||dW k|| / ||W k|| over the locality keys, and ||dW||_F."""
    out = {}
    for name in editor.down_names:
        weight = editor.adapter.get_module(name).weight.detach().double()
        delta = weight - before[name]
        k = loc_keys[name]
        ratio = (k @ delta.T).norm(dim=1) / (k @ before[name].T).norm(dim=1)
        out[name.split(".layers.")[1]] = {
            "rel_change": float(ratio.mean()),
            "delta_fro": float(delta.norm()),
        }
    return out


def measure(name: str, adapter, train, edits: list[Case], loc_keys) -> dict:
    config = parse_editor_config(name, None)
    editor = get_editor(name)(adapter, config, train_cases=train, seed=0)
    before = {n: adapter.get_module(n).weight.detach().double().clone() for n in editor.down_names}
    single = []
    for case in edits[:10]:
        editor.apply(case.edit())
        single.append(output_change(editor, before, loc_keys))
        editor.reset()
        for n, w in before.items():
            adapter.get_module(n).weight.data.copy_(w.to(adapter.get_module(n).weight.dtype))
    for case in edits:
        editor.apply(case.edit())
    sequence = output_change(editor, before, loc_keys)
    editor.reset()
    for n, w in before.items():
        adapter.get_module(n).weight.data.copy_(w.to(adapter.get_module(n).weight.dtype))
    layers = list(single[0])
    mean_single = {
        layer: {k: sum(s[layer][k] for s in single) / len(single) for k in single[0][layer]}
        for layer in layers
    }
    return {"single_mean_of_10": mean_single, f"after_{len(edits)}_in_sequence": sequence}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    adapter = load_vlm(args.model)
    public = load_benchmark(args.benchmark, "public").cases
    edits = first_errors(adapter, public, args.edits)
    train = LazyCases(args.benchmark)
    alpha = get_editor("alphaedit")(
        adapter, parse_editor_config("alphaedit", None), train_cases=train, seed=0
    )
    loc_keys = keys(alpha, locality_probes(edits))
    edit_keys = keys(alpha, [case_probes(c)[0] for c in edits])
    shares = {}
    for name in alpha.down_names:
        p, c = alpha.projectors[name].double(), alpha.stats[name]
        shares[name.split(".layers.")[1]] = {
            "null_dims": round(float(p.trace())),
            "preserved_moment": float(torch.trace(p @ c) / torch.trace(c)),
            "edit_keys": null_share(p, edit_keys[name]),
            "locality_keys": null_share(p, loc_keys[name]),
        }
    report = {"model": args.model, "edits": len(edits), "null_space_share": shares}
    for name in ("memit", "alphaedit"):
        report[name] = measure(name, adapter, train, edits, loc_keys)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
