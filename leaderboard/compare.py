"""Two runs side by side: each headline metric of one task tier with its 95% interval, the
difference, and whether the intervals overlap (overlapping score intervals share a rank on the
board). Read from the two result records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from contract import result_reader as read
from contract.names import HEADLINE_METRICS
from leaderboard.table import short_name

COMPARED_METRICS: tuple[str, ...] = ("score", *HEADLINE_METRICS)
_SEP = "|"  # between a run's request id and its setting in a choice's value


def run_label(model_id: str, editor: str, config_short: str, setting: str) -> str:
    """How a run is named in the Compare tab's choices: "model · editor · config · setting"."""
    return f"{short_name(model_id)} · {editor} · {config_short} · {setting}"


def choice_value(request_id: int, setting: str) -> str:
    """The value of a run's choice: "request_id|setting" (parse_choice reads it back)."""
    return f"{int(request_id)}{_SEP}{setting}"


def run_choices(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, value) per run on the board, newest benchmark first as the frame orders it:
    label "model · editor · config · setting", value "request_id|setting"."""
    if frame.empty or "request_id" not in frame:
        return []
    runs = frame.drop_duplicates(["request_id", "setting"])
    return [
        (
            run_label(r.model_id, r.editor, r.config_short, r.setting),
            choice_value(r.request_id, r.setting),
        )
        for r in runs.itertuples()
    ]


def partner_choice(view: pd.DataFrame, request_id: int, setting: str) -> str | None:
    """The run a selected row is first compared with: the top row of `view` (a ranked
    leaderboard view) other than that row itself, i.e. the leader, or the runner-up when the
    row is the leader; None when the view holds no other run."""
    if view.empty or "request_id" not in view:
        return None
    for r in view.itertuples():
        if (int(r.request_id), str(r.setting)) != (int(request_id), setting):
            return choice_value(r.request_id, r.setting)
    return None


def parse_choice(value: str | None) -> tuple[int, str] | None:
    """(request id, setting) of a choice's value, None for anything else."""
    if not isinstance(value, str) or value.count(_SEP) != 1:
        return None
    request_id, setting = value.split(_SEP)
    return (int(request_id), setting) if request_id.isdigit() else None


def run_identity(result: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(model revision, editor, config hash, setting) of a result: what a gallery run of the
    same run on the public split shares with it."""
    model, editor = read.section(result, "model"), read.section(result, "editor")
    return (
        str(model.get("revision", "")),
        str(editor.get("name", "")),
        str(editor.get("config_hash", "")),
        str(result.get("setting", "")),
    )


def _overlap(a: read.Stat, b: read.Stat) -> str:
    if a.lo is None or a.hi is None or b.lo is None or b.hi is None:
        return "no interval"
    return "yes" if a.lo <= b.hi and b.lo <= a.hi else "no"


def compare_markdown(
    a: Mapping[str, Any], b: Mapping[str, Any], tier: str, labels: tuple[str, str]
) -> str:
    """A markdown table: metric, run A, run B (mean [95% interval]), B − A, overlap."""
    lines = [
        f"**A**: {labels[0]}  \n**B**: {labels[1]}  \ntask tier: {tier}",
        "",
        "| metric | A | B | B − A | intervals overlap |",
        "|---|---|---|---|---|",
    ]
    for name in COMPARED_METRICS:
        sa, sb = read.stat(a, tier, name), read.stat(b, tier, name)
        diff = "n/a" if sa.mean is None or sb.mean is None else f"{sb.mean - sa.mean:+.3f}"
        lines.append(f"| {name} | {sa.text()} | {sb.text()} | {diff} | {_overlap(sa, sb)} |")
    lines.append(
        "\nWhere the score intervals overlap, the board gives both runs the same rank. The board's "
        "runs are on the hidden split, whose cases are never shown; the cases each run fixed or "
        "broke (below) come from a public-split gallery run of the same model, editor, config "
        "and setting, where there is one."
    )
    return "\n".join(lines)
