"""Every column of the leaderboard, declared once: the table, its filters, the column selector
and both CSV exports read this list (and docs/app.md documents it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contract.names import METRICS, SETTINGS, TIERS

# METRICS, SETTINGS and TIERS are the evaluator's, re-exported for the table and the UI
__all__ = [
    "COLUMNS",
    "METRICS",
    "SETTINGS",
    "TIERS",
    "Column",
    "Kind",
    "default_visible",
    "hideable",
    "label_of",
    "table_columns",
    "visible_columns",
]

Kind = Literal["str", "number", "markdown"]


@dataclass(frozen=True)
class Column:
    """One column: its key in the results frame, its header, how Gradio shows it, and its role."""

    key: str
    # header shown in the app and used in the filtered CSV
    label: str
    # Gradio datatype
    kind: Kind
    # one sentence for docs/app.md and the About tab
    description: str
    # shown in the leaderboard tab until the user hides it
    shown: bool = True
    # part of the leaderboard tab at all (False: only in the all-results CSV)
    displayed: bool = True
    # cannot be hidden by the column selector
    never_hidden: bool = False


def _metric_columns() -> list[Column]:
    words = {
        "score": "mean of reliability, generality and locality, per case; ranks use its interval",
        "reliability": "edit case answered with the target (exact match under teacher forcing)",
        "generality": "mean of text and image generality",
        "generality_text": "target reproduced on the rephrased question, options reordered",
        "generality_image": "target reproduced on other images with the same answer, options "
        "reordered",
        "locality": "mean of text, image and multiple-choice locality",
        "locality_text": "agreement with the unedited model on unrelated text questions",
        "locality_image": "agreement with the unedited model on unrelated image questions",
        "locality_mc": "agreement with the unedited model on unrelated multiple-choice questions",
    }
    out = []
    for metric in METRICS:
        headline = "_" not in metric
        label = (
            metric.replace("_", " ")
            .replace("text", "(text)")
            .replace("image", "(image)")
            .replace(" mc", " (MC)")
        )
        out.append(
            Column(
                metric,
                label.capitalize(),
                "number",
                f"Mean over cases: {words[metric]}.",
                shown=headline,
            )
        )
    return out


def _interval_columns() -> list[Column]:
    out = []
    for metric in METRICS:
        for end, word in (("lo", "lower"), ("hi", "upper")):
            out.append(
                Column(
                    f"{metric}_{end}",
                    f"{metric} ci95 {end}",
                    "number",
                    f"{word.capitalize()} end of the 95% bootstrap interval of {metric}.",
                    displayed=False,
                )
            )
    return out


def _token_columns() -> list[Column]:
    return [
        Column(
            f"token_{metric}",
            f"token {metric}",
            "number",
            f"Token-level accuracy version of {metric} (comparable with the paper's code).",
            displayed=False,
        )
        for metric in METRICS
    ]


COLUMNS: tuple[Column, ...] = (
    Column(
        "rank", "Rank", "number", "Shared rank by score (see the ranking rule).", never_hidden=True
    ),
    Column(
        "model",
        "Model",
        "markdown",
        "Model id, linked to the Hugging Face hub when it is a hub id.",
        never_hidden=True,
    ),
    Column("model_id", "model id", "str", "Model id as submitted (plain text).", displayed=False),
    Column("model_type", "Type", "str", "general or medical VLM."),
    Column(
        "params",
        "Params",
        "str",
        "Parameter count of the pinned model, in millions (M) or billions (B); empty if unknown.",
    ),
    Column(
        "num_parameters",
        "parameters",
        "number",
        "Parameter count of the pinned model (exact).",
        displayed=False,
    ),
    Column("editor", "Editor", "str", "Knowledge editor name.", never_hidden=True),
    Column(
        "config_short",
        "Config",
        "str",
        "First 8 characters of the editor config hash.",
        never_hidden=True,
    ),
    Column(
        "setting", "Setting", "str", "single (restore after each edit) or lifelong.", shown=False
    ),
    Column("tier", "Tier", "str", "overall, understanding or reasoning.", displayed=False),
    *_metric_columns(),
    *_interval_columns(),
    *_token_columns(),
    Column(
        "pre_accuracy",
        "Pre-edit accuracy",
        "number",
        "The unedited model's accuracy on the whole split (a property of the model).",
    ),
    Column(
        "pre_reliability",
        "pre-edit reliability",
        "number",
        "Reliability before any edit, on the edit set: 0 by construction (the edits are the "
        "model's errors).",
        shown=False,
    ),
    Column(
        "pre_generality",
        "Pre-edit generality",
        "number",
        "Generality before any edit, on the edit set.",
    ),
    Column(
        "seconds_per_edit", "s / edit", "number", "Mean seconds per edit (evaluation excluded)."
    ),
    Column(
        "seconds_per_edit_p50", "s / edit p50", "number", "Median seconds per edit.", shown=False
    ),
    Column("seconds_per_edit_p95", "s / edit p95", "number", "95th percentile.", shown=False),
    Column("peak_memory_mb", "Peak MB", "number", "Peak memory during the run, MiB."),
    Column("wall_s", "wall s", "number", "Wall time of the whole run, seconds.", shown=False),
    Column("probes_per_s", "probes / s", "number", "Scoring throughput.", displayed=False),
    Column(
        "cases",
        "Edits",
        "number",
        "Number of edits evaluated: the hidden-split cases the unedited model gets wrong.",
        shown=False,
    ),
    Column("submitted_at", "Submitted", "str", "When the request was submitted (UTC)."),
    Column("evaluated", "evaluated", "str", "Date the result was written (UTC, YYYY-MM-DD)."),
    Column("submitter", "Submitter", "str", "Who submitted the request.", shown=False),
    Column("organisation", "organisation", "str", "Submitter's organisation.", displayed=False),
    Column("model_revision", "Revision", "str", "Resolved model revision (commit or folder hash)."),
    Column(
        "config_hash",
        "Config hash",
        "str",
        "sha256 of the editor name and full config.",
        shown=False,
    ),
    Column(
        "editor_config",
        "editor config",
        "str",
        "The editor config as validated: canonical JSON of every field, defaults included.",
        displayed=False,
    ),
    Column("benchmark_name", "benchmark", "str", "Benchmark name.", displayed=False),
    Column("benchmark_version", "Bench. version", "str", "Benchmark version."),
    Column("split", "split", "str", "Split evaluated on (hidden).", displayed=False),
    Column("split_sha256", "Split sha256", "str", "sha256 of the evaluated split."),
    Column("harness_version", "harness", "str", "Evaluator version.", displayed=False),
    Column("seed", "seed", "number", "Seed of the run.", displayed=False),
    Column("device", "device", "str", "Device the run used.", displayed=False),
    Column("hardware", "hardware", "str", "Hardware description.", displayed=False),
    Column("created_at", "result created", "str", "When the result was written.", displayed=False),
)

BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}
if len(BY_KEY) != len(COLUMNS):
    raise RuntimeError("leaderboard/columns.py declares a column key twice")


def table_columns() -> list[Column]:
    """Columns of the leaderboard tab, in display order."""
    return [c for c in COLUMNS if c.displayed]


def default_visible() -> list[str]:
    """Keys shown until the user changes the column selector."""
    return [c.key for c in table_columns() if c.shown]


def hideable() -> list[str]:
    """Keys offered in the column selector."""
    return [c.key for c in table_columns() if not c.never_hidden]


def visible_columns(selected: list[str] | None) -> list[Column]:
    """The always-shown columns plus those selected, in declared order."""
    chosen = set(default_visible() if selected is None else selected)
    return [c for c in table_columns() if c.never_hidden or c.key in chosen]


def label_of(key: str) -> str:
    return BY_KEY[key].label
