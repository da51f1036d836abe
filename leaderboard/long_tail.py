"""The long tail: each result's headline metrics per question type (the result record's
`metrics_by_type`, schema 3; docs/evaluator.md) as one long frame, one line per result x
question type. The per-type CSV (`csv_export.write_by_type_csv`) and the type heatmap
(`plots.type_heatmap`) read it. Results without the block (schema 1 and 2) give no lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from contract import result_reader as read
from contract.names import HEADLINE_METRICS, REASONING_TYPES, TASKS, UNDERSTANDING_TYPES
from leaderboard.table import ResultLike, flatten_result

# the metrics reported per question type: the headline score and its three parts
TYPE_METRICS: tuple[str, ...] = ("score", *HEADLINE_METRICS)
# the benchmark's question types per tier, in the order the benchmark card lists them
# (understanding as drawn, reasoning by name); a type not named there (a later benchmark)
# follows them, by name
QUESTION_TYPES: dict[str, tuple[str, ...]] = {
    "understanding": UNDERSTANDING_TYPES,
    "reasoning": tuple(sorted(REASONING_TYPES)),
}
BY_TYPE_COLUMNS: tuple[str, ...] = (
    "model",
    "editor",
    "config_short",
    "setting",
    "benchmark_version",
    "type",
    "tier",
    "n",
    *(f"{m}{suffix}" for m in TYPE_METRICS for suffix in ("", "_lo", "_hi")),
    "too_few_edits",
)


def type_order(qtype: str, tier: str) -> tuple[int, int, str]:
    """Sort key of a question type: tier, then the card's order, then name."""
    tier_index = TASKS.index(tier) if tier in TASKS else len(TASKS)
    known = QUESTION_TYPES.get(tier, ())
    return tier_index, known.index(qtype) if qtype in known else len(known), qtype


def _result_of(row: ResultLike) -> Mapping[str, Any]:
    value = row.get("result") if isinstance(row, Mapping) else getattr(row, "result", None)
    return value if isinstance(value, Mapping) else {}


def _type_lines(base: Mapping[str, Any], by_type: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lines of one result: one per question type of its `metrics_by_type`."""
    lines = []
    for qtype, entry in by_type.items():
        if not isinstance(entry, Mapping):
            continue
        line: dict[str, Any] = {**base, "type": str(qtype), "tier": str(entry.get("tier", ""))}
        line["n"] = entry.get("n")
        for name in TYPE_METRICS:
            stat = entry.get(name)
            stat = stat if isinstance(stat, Mapping) else {}
            ci = stat.get("ci95")
            lo, hi = ci if isinstance(ci, list) and len(ci) == 2 else (None, None)
            for suffix, value in (("", stat.get("mean")), ("_lo", lo), ("_hi", hi)):
                number = read.finite(value)
                line[f"{name}{suffix}"] = float("nan") if number is None else number
        line["too_few_edits"] = bool(entry.get("too_few_edits", False))
        lines.append(line)
    return sorted(lines, key=lambda line: type_order(line["type"], line["tier"]))


def by_type_frame(rows: Iterable[ResultLike]) -> pd.DataFrame:
    """Every stored result's per-question-type metrics: one line per (result, question type)
    with the model id, editor, config, setting, benchmark version, type, tier, `n` (edits of
    that type), each metric's mean and interval (NaN where `too_few_edits`) and the flag."""
    records: list[dict[str, Any]] = []
    for row in rows:
        by_type = _result_of(row).get("metrics_by_type")
        if not isinstance(by_type, Mapping) or not by_type:
            continue
        flat = flatten_result(row, "overall")
        base = {
            "model": flat["model_id"],
            "editor": flat["editor"],
            "config_short": flat["config_short"],
            "setting": flat["setting"],
            "benchmark_version": flat["benchmark_version"],
        }
        records.extend(_type_lines(base, by_type))
    frame = pd.DataFrame.from_records(records, columns=list(BY_TYPE_COLUMNS))
    frame["n"] = frame["n"].astype("Int64")
    frame["too_few_edits"] = frame["too_few_edits"].astype(bool)
    return frame


def _md_text(value: object) -> str:
    """A value as the text of one markdown table cell (no pipes, no line breaks)."""
    return " ".join(str(value).split()).replace("|", "/")


def _breakdown_cell(line: Mapping[str, Any], metric: str) -> str:
    mean, lo, hi = (read.finite(line[f"{metric}{suffix}"]) for suffix in ("", "_lo", "_hi"))
    return read.Stat(mean, lo, hi).text()


def type_breakdown_markdown(result: Mapping[str, Any], label: str) -> str:
    """One run's per-question-type numbers (its `metrics_by_type`) as a markdown table: the
    type, its tier, its edits and each of TYPE_METRICS as mean [95% interval]; a type with too
    few edits for an interval says so instead of a number, as the heatmap's blank cell does."""
    head = f"**Per question type**: {_md_text(label)}"
    by_type = result.get("metrics_by_type")
    if not isinstance(by_type, Mapping) or not by_type:
        return f"{head}\n\nThis result records no per-question-type metrics (schema 3 has them)."
    lines = [
        head,
        "",
        "| question type | tier | edits | " + " | ".join(TYPE_METRICS) + " |",
        "|---|---|---|" + "---|" * len(TYPE_METRICS),
    ]
    for line in _type_lines({}, by_type):
        few = bool(line["too_few_edits"])
        cells = ["too few edits" if few else _breakdown_cell(line, m) for m in TYPE_METRICS]
        name, tier, n = (_md_text(line[k]) for k in ("type", "tier", "n"))
        lines.append(f"| {name} | {tier} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
