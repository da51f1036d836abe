"""GPU smoke: every registered editor, a few cases, both settings, on whatever device is here.

Loads the model once on the device it finds (CUDA when `torch.cuda.is_available()`, else the
CPU; `--device` overrides) in the dtype chosen at run time (bfloat16 on a CUDA device that
supports it, else float16 on CUDA, float32 on the CPU; `--dtype` overrides), runs
`evaluator.run.run_evaluation` for each editor and setting on the first `--cases` cases of the
public split, and prints per editor and setting: seconds per edit (mean and p95 of the
result's edit latency), peak memory (the result's `peak_memory_mb`: torch.cuda
.max_memory_allocated on a GPU, the process's peak RSS on the CPU), wall time, and the error of
a run that failed (the smoke goes on with the next one). Exit status 1 if any run failed.

    python benchmarks/bench_gpu_smoke.py                     # the zoo model and benchmark
    python benchmarks/bench_gpu_smoke.py --model data/models/mme-tiny-qwen2-vl --cases 2 \\
        --editors ike grace --json smoke.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_parser() -> argparse.ArgumentParser:
    from contract import paths
    from contract.names import SETTINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(paths.zoo_dir("llava-onevision")))
    parser.add_argument("--revision", default=None)
    parser.add_argument("--benchmark", default=str(paths.benchmark_dir()))
    parser.add_argument("--split", default="public")
    parser.add_argument("--cases", type=int, default=3, help="cases per run (first N edits)")
    parser.add_argument("--editors", nargs="*", default=None, help="default: every editor")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--dtype", default=None, help="default: bfloat16 (else float16) on cuda, float32 on cpu"
    )
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    return parser


def pick_dtype(device: str, requested: str | None) -> str:
    import torch

    if requested:
        return requested
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def describe_device(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    import os

    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from evaluator.benchmark import load_benchmark
    from evaluator.editors.registry import editor_names
    from evaluator.models import load_vlm
    from evaluator.run import RunSpec, run_evaluation

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = pick_dtype(device, args.dtype)
    print(f"device: {describe_device(device)}; dtype {dtype}; torch {torch.__version__}")
    if not device.startswith("cuda"):
        print("no CUDA device: this is the CPU path (peak memory is the process's peak RSS)")
    start = time.perf_counter()
    adapter = load_vlm(args.model, args.revision, dtype=dtype, device=device)
    split = load_benchmark(args.benchmark, args.split)
    print(f"model {args.model} loaded in {time.perf_counter() - start:.1f} s; "
          f"{len(split.cases)} {args.split} cases, {args.cases} per run")  # fmt: skip
    editors = args.editors or editor_names()
    rows = []
    header = (f"{'editor':<12} {'setting':<9} {'edits':>5} {'s/edit':>9} {'p95 s':>9} "
              f"{'peak MiB':>10} {'wall s':>8}  status")  # fmt: skip
    print(header)
    print("-" * len(header))
    for editor in editors:
        for setting in args.settings:
            spec = RunSpec(
                model=args.model,
                revision=args.revision,
                editor=editor,
                config={},
                benchmark=args.benchmark,
                split=args.split,
                setting=setting,
                limit=args.cases,
            )
            began = time.perf_counter()
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats(device)
            row = {"editor": editor, "setting": setting, "device": device, "dtype": dtype}
            try:
                result = run_evaluation(spec, adapter=adapter, split_data=split)
                efficiency = result["efficiency"]
                latency = efficiency["edit_latency_s"]
                row |= {
                    "edits": result["benchmark"]["cases"],
                    "s_per_edit": latency["mean"],
                    "s_per_edit_p95": latency["p95"],
                    "peak_memory_mb": efficiency["peak_memory_mb"],
                    "wall_s": time.perf_counter() - began,
                    "status": "ok",
                }
                if device.startswith("cuda"):
                    row["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            except Exception as err:  # noqa: BLE001 - reported per editor, the smoke goes on
                row |= {
                    "wall_s": time.perf_counter() - began,
                    "status": f"FAILED {type(err).__name__}: {str(err).splitlines()[0][:120]}",
                    "traceback": traceback.format_exc()[-2000:],
                }
            rows.append(row)
            print(_line(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{len(rows) - len(failed)} of {len(rows)} runs ok")
    return 1 if failed else 0


def _line(row: dict) -> str:
    def number(key: str, fmt: str) -> str:
        value = row.get(key)
        return format(value, fmt) if isinstance(value, int | float) else "-"

    return (
        f"{row['editor']:<12} {row['setting']:<9} {number('edits', '5d')} "
        f"{number('s_per_edit', '9.4f')} {number('s_per_edit_p95', '9.4f')} "
        f"{number('peak_memory_mb', '10.1f')} {number('wall_s', '8.1f')}  {row['status']}"
    )


if __name__ == "__main__":
    sys.exit(main())
