"""The result record's fields, defined once: each field's path, type and meaning, and the schema
version that introduced it. `evaluator.result.validate_result` takes every object's keys from
here (`keys_of`); the About tab and docs/evaluator.md show the table `schema_markdown` renders,
so the schema is written in one place. Torch-free, like the rest of `contract`.

Paths are dotted; `<tier>`, `<metric>`, `<type>` and `<probe>` stand for the keys of a map, and
`[]` for the items of a list.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.names import (
    HEADLINE_METRICS,
    LETTER_PROBES,
    LOCALITY_PROBES,
    METRICS,
    PRE_EDIT_METRICS,
    PROBE_KINDS,
    TASKS,
    TIERS,
)

# 2: edits are the model's errors, locality_mc, the score's own interval, notes
# 3: metrics_by_type; 4: cases (per-case predictions of a public-split run, null on hidden)
SCHEMA_VERSION = 4
ACCEPTED_SCHEMA_VERSIONS = (2, 3, 4)


@dataclass(frozen=True)
class SchemaField:
    """One field of the result record: where it is, what it holds, since which version."""

    path: str
    kind: str
    meaning: str
    since: int = 2


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


_CURVE_POINT = ("edits", "score", *HEADLINE_METRICS)
_BY_TYPE = ("score", *HEADLINE_METRICS)

_FREE_TEXT = tuple(p for p in LOCALITY_PROBES if p not in LETTER_PROBES)
_OLDER = ", ".join(str(v) for v in ACCEPTED_SCHEMA_VERSIONS[:-1])
F = SchemaField

FIELDS: tuple[SchemaField, ...] = (
    F(
        "schema_version",
        "int",
        f"{SCHEMA_VERSION}; older records ({_OLDER}) still validate without the fields added since",
    ),
    F("model", "object", "the model evaluated"),
    F("model.id", "str", "hub id or local path as requested"),
    F("model.revision", "str", "resolved hub commit, or sha256 of a local folder's files"),
    F("editor", "object", "the editor and its whole config"),
    F("editor.name", "str", "registered editor name"),
    F("editor.config", "object", "every config field, defaults included"),
    F("editor.config_hash", "str", "sha256 of the editor name and config"),
    F("benchmark", "object", "the data the run was evaluated on"),
    F("benchmark.name", "str", "from the benchmark manifest"),
    F("benchmark.version", "str", "from the benchmark manifest"),
    F("benchmark.split", "str", "`public` or `hidden`"),
    F("benchmark.sha256", "str", "the split's hash from the manifest"),
    F("benchmark.cases", "int", "edits evaluated (after `--limit` / `--per-tier`)"),
    F("benchmark.split_cases", "{tier: int}", f"cases of the split per tier ({_names(TASKS)})"),
    F("benchmark.errors", "{tier: int}", "the untouched model's errors per tier"),
    F("benchmark.edits", "{tier: int}", "edits evaluated per tier (sum = `cases`)"),
    F("setting", "str", "`single` (restored after each edit) or `lifelong`"),
    F(
        "metrics",
        "object",
        f"`metrics.<tier>.<metric>` = {{mean, ci95}}: tier in {_names(TIERS)}; metric in "
        f"{_names(METRICS)}; `mean` in [0, 1], `ci95` = [lo, hi] containing it (both null "
        "for a tier without cases)",
    ),
    F("token_metrics", "object", "the token-level versions of `metrics`, same shape"),
    F(
        "pre_edit",
        "object",
        f"`pre_edit.<tier>.<metric>` = {{mean, ci95}}, metric in {_names(PRE_EDIT_METRICS)}: "
        "the untouched model's accuracy on the whole split; its reliability (0) and "
        "generality on the edit set",
    ),
    F(
        "metrics_by_type",
        "object",
        "one entry per question type among the edits (keyed `<tier>/<type>` only if a type "
        "name occurs in both tiers)",
        since=3,
    ),
    F("metrics_by_type.<type>.tier", "str", _names(TASKS), since=3),
    F(
        "metrics_by_type.<type>.n",
        "int",
        "edits of that type (>= 1; a tier's types sum to its edits)",
        since=3,
    ),
    F(
        "metrics_by_type.<type>.too_few_edits",
        "bool",
        "fewer edits than a 95% interval needs (10)",
        since=3,
    ),
    *(
        F(
            f"metrics_by_type.<type>.{m}",
            "{mean, ci95}",
            "exact match; `ci95` null exactly when `too_few_edits`",
            since=3,
        )
        for m in _BY_TYPE
    ),
    F(
        "cases",
        "list or null",
        "the per-case predictions of a public-split run; null on the hidden split, whose "
        "cases never leave the evaluator",
        since=4,
    ),
    F("cases[].case_id", "str", "the public case's id (its content is in the public split)", 4),
    F("cases[].tier", "str", _names(TASKS), since=4),
    F("cases[].question_type", "str", "the case's question type", since=4),
    F("cases[].probes", "object", f"one entry per probe: {_names(PROBE_KINDS)}", since=4),
    F(
        "cases[].probes.<probe>.expected",
        "str or null",
        "the letter the probe teacher-forces: the target (edit, rephrases) or the correct "
        f"option (`loc_mc`); null for the free-text probes ({_names(_FREE_TEXT)})",
        since=4,
    ),
    F(
        "cases[].probes.<probe>.before",
        "str or null",
        "the option letter the untouched model answered (null: not an option letter, or a "
        "free-text probe)",
        since=4,
    ),
    F(
        "cases[].probes.<probe>.after",
        "str or null",
        "the same after the edit (single: that edit alone; lifelong: after the whole sequence)",
        since=4,
    ),
    F(
        "cases[].probes.<probe>.hit_before",
        "bool",
        "exact match with the probe's answer before the edit",
        since=4,
    ),
    F(
        "cases[].probes.<probe>.hit_after",
        "bool",
        "exact match with the probe's answer after the edit",
        since=4,
    ),
    F(
        "lifelong_curve",
        "list or null",
        "lifelong: one point per checkpoint, `edits` increasing, the last equal to "
        "`benchmark.cases`; single: null",
    ),
    F("lifelong_curve[].edits", "int", "edits so far"),
    *(
        F(f"lifelong_curve[].{k}", "float", "overall exact-match mean at that point")
        for k in _CURVE_POINT[1:]
    ),
    F("notes", "list of str", "plain-language remarks, e.g. a tier with no errors"),
    F("efficiency", "object", "what the run cost"),
    F("efficiency.edit_latency_s", "object", "seconds per edit, evaluation excluded"),
    F("efficiency.edit_latency_s.mean", "float", "mean seconds per edit"),
    F("efficiency.edit_latency_s.p50", "float", "median"),
    F("efficiency.edit_latency_s.p95", "float", "95th percentile"),
    F("efficiency.peak_memory_mb", "float", "peak memory, MiB"),
    F("efficiency.wall_s", "float", "wall time of the whole run, seconds"),
    F("efficiency.probes_per_s", "float", "scoring throughput"),
    F(
        "efficiency.setup_s",
        "float",
        "the editor's one-off set-up seconds, apart from the per-edit latency",
    ),
    F("environment", "object", "the software and hardware of the run"),
    F("environment.python", "str", "Python version"),
    F("environment.torch", "str", "torch version"),
    F("environment.transformers", "str", "transformers version"),
    F("environment.harness_version", "str", "`evaluator/version.py`"),
    F("environment.device", "str", "e.g. `cpu`, `cuda:0`"),
    F("environment.seed", "int", "the run's seed"),
    F("environment.hardware", "object", "never a hostname"),
    F("environment.hardware.cpu", "str", "CPU model"),
    F("environment.hardware.cpu_cores", "int", "logical core count"),
    F("environment.hardware.gpu", "str or null", "GPU name"),
    F("created_at", "str", "UTC, ISO 8601 (`2026-01-01T12:00:00Z`)"),
)


def keys_of(parent: str = "", version: int = SCHEMA_VERSION) -> tuple[str, ...]:
    """The keys of the object at `parent` ("" for the top level, e.g. "benchmark",
    "cases[]", "metrics_by_type.<type>") in a record of schema `version`, in order."""
    prefix = f"{parent}." if parent else ""
    out: list[str] = []
    for f in FIELDS:
        if f.since > version or not f.path.startswith(prefix):
            continue
        rest = f.path[len(prefix) :]
        if rest and "." not in rest and "[" not in rest and rest not in out:
            out.append(rest)
    return tuple(out)


def schema_markdown() -> str:
    """The schema as a markdown table (field, type, meaning), one row per field."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for f in FIELDS:
        since = f" (schema {f.since})" if f.since > 2 else ""
        lines.append(f"| `{f.path}` | {f.kind} | {f.meaning}{since} |")
    return "\n".join(lines)
