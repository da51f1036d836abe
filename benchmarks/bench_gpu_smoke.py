"""GPU smoke: every registered editor, a few cases, both settings, on whatever device is here.

Loads the model once on the device it finds (CUDA when `torch.cuda.is_available()`, else the
CPU; `--device` overrides) in the dtype chosen at run time (bfloat16 on a CUDA device that
supports it, else float16 on CUDA, float32 on the CPU; `--dtype` overrides), runs
`evaluator.run.run_evaluation` for each editor and setting on the first `--cases` cases of the
public split, and prints per editor and setting: seconds per edit (mean and p95 of the
result's edit latency), peak memory (the result's `peak_memory_mb`: torch.cuda
.max_memory_allocated on a GPU, the process's peak RSS on the CPU), wall time, and the error of
a run that failed (the smoke goes on with the next one). The editors that edit from one
layer up (FT-L, GRACE, WISE, MEMOIR: benchmarks/bench_edit_speed.EDITORS) also run with the
frozen-prefix cache off (`adapter.prefix_cache = False`, the full model at every step), so
the smoke prints their seconds per edit before and after the cache, and a run whose metrics
differ between the two fails (`--no-cache-compare` skips these runs). Exit status 1 if any
run failed.

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
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if TYPE_CHECKING:
    from evaluator.benchmark.case import BenchmarkSplit
    from evaluator.models.adapter import VLMAdapter
    from evaluator.run import RunSpec


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
    parser.add_argument(
        "--no-cache-compare",
        dest="cache_compare",
        action="store_false",
        help="skip the runs with the frozen-prefix cache off",
    )
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

    from benchmarks.bench_edit_speed import EDITORS as CACHED_EDITORS
    from evaluator.benchmark import load_benchmark
    from evaluator.editors.registry import editor_names
    from evaluator.models import load_vlm
    from evaluator.run import RunSpec

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
    rows = []
    header = (f"{'editor':<12} {'setting':<9} {'cache':<5} {'edits':>5} {'s/edit':>9} "
              f"{'p95 s':>9} {'peak MiB':>10} {'wall s':>8}  status")  # fmt: skip
    print(header)
    print("-" * len(header))
    for editor in args.editors or editor_names():
        for setting in args.settings:
            spec = RunSpec(
                model=args.model, revision=args.revision, editor=editor, config={},
                benchmark=args.benchmark, split=args.split, setting=setting, limit=args.cases,
            )  # fmt: skip
            states = (True, False) if args.cache_compare and editor in CACHED_EDITORS else (True,)
            runs = [smoke_run(spec, adapter, split, cached=cached) for cached in states]
            if len(runs) == 2:
                compare_cache(*runs)
            for row, _ in runs:
                row |= {"device": device, "dtype": dtype}
                rows.append(row)
                print(_line(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    failed = [r for r in rows if not r["status"].startswith("ok")]
    print(f"{len(rows) - len(failed)} of {len(rows)} runs ok")
    return 1 if failed else 0


def smoke_run(
    spec: RunSpec, adapter: VLMAdapter, split: BenchmarkSplit, *, cached: bool
) -> tuple[dict, dict | None]:
    """One run with the frozen-prefix cache on or off: its row and its metrics (None if it
    failed; the row then says why)."""
    import torch

    from evaluator.run import run_evaluation

    device = str(adapter.device)
    began = time.perf_counter()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    row: dict = {"editor": spec.editor, "setting": spec.setting, "prefix_cache": cached}
    adapter.prefix_cache = cached
    try:
        result = run_evaluation(spec, adapter=adapter, split_data=split)
    except Exception as err:  # noqa: BLE001 - reported per editor, the smoke goes on
        row |= {
            "wall_s": time.perf_counter() - began,
            "status": f"FAILED {type(err).__name__}: {str(err).splitlines()[0][:120]}",
            "traceback": traceback.format_exc()[-2000:],
        }
        return row, None
    finally:
        adapter.prefix_cache = True
    efficiency = result["efficiency"]
    row |= {
        "edits": result["benchmark"]["cases"],
        "s_per_edit": efficiency["edit_latency_s"]["mean"],
        "s_per_edit_p95": efficiency["edit_latency_s"]["p95"],
        "peak_memory_mb": efficiency["peak_memory_mb"],
        "wall_s": time.perf_counter() - began,
        "status": "ok",
    }
    if device.startswith("cuda"):
        row["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return row, result["metrics"]


def compare_cache(on: tuple[dict, dict | None], off: tuple[dict, dict | None]) -> None:
    """The cache-on row gets the speed-up over the cache-off run; the cache-off row fails when
    the two runs' metrics differ (the cache must not change a number)."""
    (on_row, on_metrics), (off_row, off_metrics) = on, off
    if on_metrics is None or off_metrics is None:
        return
    on_row["speedup_vs_cache_off"] = off_row["s_per_edit"] / on_row["s_per_edit"]
    on_row["status"] = f"ok, {on_row['speedup_vs_cache_off']:.2f}x the cache-off s/edit"
    if on_metrics != off_metrics:
        off_row["status"] = "FAILED metrics differ between cache on and off"


def _line(row: dict) -> str:
    def number(key: str, fmt: str) -> str:
        value = row.get(key)
        return format(value, fmt) if isinstance(value, int | float) else "-"

    return (
        f"{row['editor']:<12} {row['setting']:<9} "
        f"{'on' if row.get('prefix_cache', True) else 'off':<5} {number('edits', '5d')} "
        f"{number('s_per_edit', '9.4f')} {number('s_per_edit_p95', '9.4f')} "
        f"{number('peak_memory_mb', '10.1f')} {number('wall_s', '8.1f')}  {row['status']}"
    )


if __name__ == "__main__":
    sys.exit(main())
