"""The result record (schema_version 4): its environment block, validation and atomic write.

The fields are defined once in contract.result_schema (docs/evaluator.md and the About tab
show its table). A result on disk is complete or absent.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import torch

from contract.names import (
    LETTER_PROBES,
    METRICS,
    PRE_EDIT_METRICS,
    PROBE_KINDS,
    SETTINGS,
    TASKS,
    TIERS,
)
from contract.result_schema import ACCEPTED_SCHEMA_VERSIONS, SCHEMA_VERSION, keys_of
from evaluator.metrics import BY_TYPE_METRICS
from evaluator.version import HARNESS_VERSION

# the fields of each version and their meaning: contract.result_schema (one definition)
TOP_LEVEL_KEYS = keys_of("", SCHEMA_VERSION)
SCHEMA_3_KEYS = keys_of("", 3)  # no cases
SCHEMA_2_KEYS = keys_of("", 2)  # no metrics_by_type either
BY_TYPE_KEYS = keys_of("metrics_by_type.<type>")
CASE_KEYS = keys_of("cases[]")
PROBE_KEYS = keys_of("cases[].probes.<probe>")
_KEYS_BY_VERSION = {2: SCHEMA_2_KEYS, 3: SCHEMA_3_KEYS, 4: TOP_LEVEL_KEYS}
_LETTER = re.compile(r"^[A-Z]$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else platform's best guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_description(device: torch.device | str) -> dict[str, Any]:
    """CPU model, core count and GPU name; deliberately no hostname."""
    device = torch.device(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"cpu": cpu_name(), "cpu_cores": os.cpu_count() or 0, "gpu": gpu}


def environment(device: torch.device | str, seed: int) -> dict[str, Any]:
    """The software and hardware a result was produced with."""
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "harness_version": HARNESS_VERSION,
        "device": str(device),
        "seed": seed,
        "hardware": hardware_description(device),
    }


def utc_now() -> str:
    """UTC time as ISO 8601 with a Z, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_result(result: Mapping[str, Any]) -> None:
    """Check a result against its schema_version (2, 3 or 4; 3 adds metrics_by_type, 4 the
    per-case predictions `cases`, which a hidden-split result must not carry); raise
    ValueError naming the first bad key."""
    if not isinstance(result, Mapping):
        _fail("result", f"must be an object, got {type(result).__name__}")
    version = result.get("schema_version")
    if version not in ACCEPTED_SCHEMA_VERSIONS or isinstance(version, bool):
        _fail("schema_version", f"is {version!r}, expected one of {ACCEPTED_SCHEMA_VERSIONS}")
    _mapping(result, "result", _KEYS_BY_VERSION[version])
    _mapping(result["model"], "model", keys_of("model"))
    _text(result["model"], "model", "id", "revision")
    editor = _mapping(result["editor"], "editor", keys_of("editor"))
    _text(editor, "editor", "name")
    if not isinstance(editor["config"], Mapping):
        _fail("editor.config", "must be a mapping of field: value")
    _sha256(editor["config_hash"], "editor.config_hash")
    bench = _mapping(result["benchmark"], "benchmark", keys_of("benchmark"))
    _edit_counts(bench)
    _text(bench, "benchmark", "name", "version", "split")
    if bench["split"] not in ("public", "hidden"):
        _fail("benchmark.split", f"is {bench['split']!r}, expected 'public' or 'hidden'")
    _sha256(bench["sha256"], "benchmark.sha256")
    _count(bench["cases"], "benchmark.cases", minimum=1)
    setting = result["setting"]
    if setting not in SETTINGS:
        _fail("setting", f"is {setting!r}, expected one of {list(SETTINGS)}")
    for key in ("metrics", "token_metrics"):
        _tiers(result[key], key, METRICS)
    _tiers(result["pre_edit"], "pre_edit", PRE_EDIT_METRICS)
    if version >= 3:
        _by_type(result["metrics_by_type"], bench["edits"])
    if version >= 4:
        _cases(result["cases"], bench)
    _curve(result["lifelong_curve"], setting, bench["cases"])
    notes = result["notes"]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        _fail("notes", "must be a list of strings")
    _efficiency(result["efficiency"])
    _environment(result["environment"])
    created = result["created_at"]
    try:
        datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        _fail("created_at", f"is {created!r}, expected an ISO 8601 UTC time")


def write_result(result: Mapping[str, Any], path: str | Path) -> Path:
    """Validate, then write the JSON atomically (temp file in the same folder, then rename)."""
    validate_result(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fail(key: str, why: str) -> NoReturn:
    raise ValueError(f"invalid result: {key} {why}")


def _mapping(value: object, key: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(key, f"must be an object, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(f"{key}.{missing[0]}" if key != "result" else missing[0], "is missing")
    extra = sorted(set(value) - set(keys))
    if extra:
        _fail(f"{key}.{extra[0]}" if key != "result" else extra[0], "is not a field of schema 1")
    return value


def _text(block: Mapping[str, Any], key: str, *names: str) -> None:
    for name in names:
        if not isinstance(block[name], str) or not block[name]:
            _fail(f"{key}.{name}", f"must be a non-empty string, got {block[name]!r}")


def _sha256(value: object, key: str) -> None:
    if not isinstance(value, str) or not _SHA256.match(value):
        _fail(key, f"must be 64 lowercase hex digits, got {value!r}")


def _count(value: object, key: str, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, f"must be an integer >= {minimum}, got {value!r}")


def _number(value: object, key: str, *, unit: bool = False, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(key, f"must be a finite number, got {value!r}")
    if value < 0 or (unit and value > 1):
        _fail(key, f"is {value!r}, outside [0, {'1' if unit else 'inf'}]")


def _tiers(block: object, key: str, names: tuple[str, ...]) -> None:
    _mapping(block, key, TIERS)
    for tier in TIERS:
        _mapping(block[tier], f"{key}.{tier}", names)
        for name in names:
            where = f"{key}.{tier}.{name}"
            entry = _mapping(block[tier][name], where, ("mean", "ci95"))
            mean, ci = entry["mean"], entry["ci95"]
            if mean is None and ci is None and tier != "overall":
                continue
            _number(mean, f"{where}.mean", unit=True)
            if not isinstance(ci, list) or len(ci) != 2:
                _fail(f"{where}.ci95", f"must be [lo, hi], got {ci!r}")
            _number(ci[0], f"{where}.ci95", unit=True)
            _number(ci[1], f"{where}.ci95", unit=True)
            if not ci[0] <= mean <= ci[1]:
                _fail(f"{where}.ci95", f"{ci} does not contain the mean {mean}")


def _interval(entry: Mapping[str, Any], where: str) -> None:
    """A {mean, ci95} entry: mean in [0, 1], ci95 [lo, hi] in [0, 1] containing it."""
    mean, ci = entry["mean"], entry["ci95"]
    _number(mean, f"{where}.mean", unit=True)
    if not isinstance(ci, list) or len(ci) != 2:
        _fail(f"{where}.ci95", f"must be [lo, hi], got {ci!r}")
    _number(ci[0], f"{where}.ci95", unit=True)
    _number(ci[1], f"{where}.ci95", unit=True)
    if not ci[0] <= mean <= ci[1]:
        _fail(f"{where}.ci95", f"{ci} does not contain the mean {mean}")


def _by_type(block: object, edits: Mapping[str, int]) -> None:
    """{question type: {tier, n, too_few_edits, metric: {mean, ci95}}}; ci95 null exactly when
    too_few_edits; the n of each tier's types sum to its edits."""
    if not isinstance(block, Mapping):
        _fail("metrics_by_type", f"must be an object, got {type(block).__name__}")
    totals = dict.fromkeys(TASKS, 0)
    for qtype, entry in block.items():
        where = f"metrics_by_type.{qtype}"
        if not isinstance(qtype, str) or not qtype:
            _fail("metrics_by_type", f"has a type name {qtype!r}, expected a non-empty string")
        _mapping(entry, where, BY_TYPE_KEYS)
        if entry["tier"] not in TASKS:
            _fail(f"{where}.tier", f"is {entry['tier']!r}, expected one of {list(TASKS)}")
        _count(entry["n"], f"{where}.n", minimum=1)
        totals[entry["tier"]] += entry["n"]
        too_few = entry["too_few_edits"]
        if not isinstance(too_few, bool):
            _fail(f"{where}.too_few_edits", f"must be true or false, got {too_few!r}")
        for name in BY_TYPE_METRICS:
            stat = _mapping(entry[name], f"{where}.{name}", ("mean", "ci95"))
            if too_few:
                _number(stat["mean"], f"{where}.{name}.mean", unit=True)
                if stat["ci95"] is not None:
                    _fail(f"{where}.{name}.ci95", "must be null when too_few_edits is true")
            else:
                _interval(stat, f"{where}.{name}")
    for tier in TASKS:
        if totals[tier] != edits[tier]:
            _fail("metrics_by_type", f"has {totals[tier]} {tier} edits, expected {edits[tier]}")


def _edit_counts(bench: Mapping[str, Any]) -> None:
    """split_cases, errors and edits are {tier: count}; edits <= errors <= split_cases."""
    tiers = TIERS[1:]
    for key in ("split_cases", "errors", "edits"):
        _mapping(bench[key], f"benchmark.{key}", tiers)
        for tier in tiers:
            _count(bench[key][tier], f"benchmark.{key}.{tier}")
    for tier in tiers:
        if not bench["edits"][tier] <= bench["errors"][tier] <= bench["split_cases"][tier]:
            _fail(f"benchmark.edits.{tier}", "must satisfy edits <= errors <= split_cases")
    if sum(bench["edits"].values()) != bench["cases"]:
        _fail("benchmark.cases", "must equal the sum of benchmark.edits")


def _curve(curve: object, setting: str, cases: int) -> None:
    if setting == "single":
        if curve is not None:
            _fail("lifelong_curve", "must be null for the single setting")
        return
    if not isinstance(curve, list) or not curve:
        _fail("lifelong_curve", "must be a non-empty list for the lifelong setting")
    previous = 0
    for i, point in enumerate(curve):
        where = f"lifelong_curve[{i}]"
        keys = _mapping(point, where, keys_of("lifelong_curve[]"))
        _count(point["edits"], f"{where}.edits", minimum=previous + 1)
        previous = point["edits"]
        for name in tuple(keys)[1:]:
            _number(point[name], f"{where}.{name}", unit=True)
    if previous != cases:
        _fail("lifelong_curve", f"ends at {previous} edits, expected benchmark.cases = {cases}")


def _efficiency(block: object) -> None:
    keys = keys_of("efficiency")
    _mapping(block, "efficiency", keys)
    latency_keys = keys_of("efficiency.edit_latency_s")
    latency = _mapping(block["edit_latency_s"], "efficiency.edit_latency_s", latency_keys)
    for name in latency_keys:
        _number(latency[name], f"efficiency.edit_latency_s.{name}")
    for name in keys[1:]:
        _number(block[name], f"efficiency.{name}")


def _environment(block: object) -> None:
    env = _mapping(block, "environment", keys_of("environment"))
    _text(env, "environment", "python", "torch", "transformers", "harness_version", "device")
    _count(env["seed"], "environment.seed")
    hardware = _mapping(env["hardware"], "environment.hardware", keys_of("environment.hardware"))
    _text(hardware, "environment.hardware", "cpu")
    _count(hardware["cpu_cores"], "environment.hardware.cpu_cores", minimum=1)
    if hardware["gpu"] is not None and not isinstance(hardware["gpu"], str):
        _fail("environment.hardware.gpu", f"must be a string or null, got {hardware['gpu']!r}")


def _cases(block: object, bench: Mapping[str, Any]) -> None:
    """Per-case predictions: null on the hidden split (DESIGN.md invariant 3), else one entry
    per edit, the tiers counting as `benchmark.edits`, each probe's letters and hits."""
    if bench["split"] == "hidden":
        if block is not None:
            _fail(
                "cases",
                "must be null for a hidden-split result: its cases never leave the evaluator",
            )
        return
    if not isinstance(block, list) or len(block) != bench["cases"]:
        _fail("cases", f"must be a list of benchmark.cases = {bench['cases']} entries")
    for i, entry in enumerate(block):
        where = f"cases[{i}]"
        _mapping(entry, where, CASE_KEYS)
        _text(entry, where, "case_id", "question_type")
        if entry["tier"] not in TASKS:
            _fail(f"{where}.tier", f"is {entry['tier']!r}, expected one of {list(TASKS)}")
        probes = _mapping(entry["probes"], f"{where}.probes", PROBE_KINDS)
        for kind in PROBE_KINDS:
            _probe_prediction(probes[kind], f"{where}.probes.{kind}", kind in LETTER_PROBES)
    for tier in TASKS:
        if sum(e["tier"] == tier for e in block) != bench["edits"][tier]:
            _fail(
                "cases", f"must hold benchmark.edits.{tier} = {bench['edits'][tier]} {tier} cases"
            )


def _probe_prediction(entry: object, where: str, letters: bool) -> None:
    """{expected, before, after: one capital letter or null (always null on a free-text
    probe; expected set on a letter probe), hit_before, hit_after: bool}."""
    _mapping(entry, where, PROBE_KEYS)
    for name in ("expected", "before", "after"):
        value = entry[name]
        if value is None and not (letters and name == "expected"):
            continue
        if not letters:
            _fail(f"{where}.{name}", "must be null: the probe is answered in free text")
        if not isinstance(value, str) or not _LETTER.match(value):
            _fail(f"{where}.{name}", f"must be an option letter A-Z, got {value!r}")
    for name in ("hit_before", "hit_after"):
        if not isinstance(entry[name], bool):
            _fail(f"{where}.{name}", f"must be true or false, got {entry[name]!r}")
