"""Results -> one pandas DataFrame (built once per refresh), then cheap views of it: the
leaderboard for one setting and tier, ranked with shared ranks where score intervals overlap.

Two frames: `results_frame` (every column of columns.py, from full result JSON: the
all-results CSV and a row's detail) and `board_frame` (the board's columns only, from the
values the store keeps in real columns beside each result: `Store.board_rows()`, no JSON
parsed). `leaderboard_view`, `display_frame`, the plots and the filtered CSV take either."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from contract import result_reader as read
from contract.hub import is_hub_id
from contract.names import HEADLINE_METRICS, METRICS, PRE_EDIT_METRICS, TIERS
from leaderboard.columns import COLUMNS, Column, visible_columns

REQUEST_FIELDS = (
    "model_id",
    "model_type",
    "editor",
    "editor_config",
    "config_hash",
    "submitter",
    "organisation",
    "submitted_at",
)


class StoredResult(Protocol):
    """What the frames read of one stored result: `submissions.ResultRow` (Store.results(),
    Store.get_result()) is one. The request's fields (model_id, editor, submitter, ...) are
    read by name from the row, else from its `record`."""

    @property
    def setting(self) -> str: ...

    @property
    def result(self) -> Mapping[str, Any]: ...


# a stored result row, or a mapping of the same fields (read the same way by `_field`)
ResultLike = StoredResult | Mapping[str, Any]


def _field(row: ResultLike, name: str, default: object = None) -> Any:  # noqa: ANN401 - a field looked up by name
    """A request or result field of a store row (attribute, key, or inside its `record`)."""
    value = row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)
    if value is None:
        record = row.get("record") if isinstance(row, Mapping) else getattr(row, "record", None)
        if record is not None:
            value = record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)
    return default if value is None else value


def short_name(model_id: str) -> str:
    """A hub id as is; a local folder by its name."""
    if is_hub_id(model_id) or ("/" not in model_id and "\\" not in model_id):
        return model_id
    # PurePath(model_id).name without building a path (the board maps every model id)
    parts = [part for part in model_id.split("/") if part not in ("", ".")]
    return parts[-1] if parts else ""


def model_link(model_id: str) -> str:
    """Markdown link to the hub for a hub id (`org/name`); a local folder shows its name
    (the full path is in the model_id column of the CSVs)."""
    if is_hub_id(model_id):
        return f"[{model_id}](https://huggingface.co/{model_id})"
    short = short_name(model_id)
    return model_id if short == model_id else f"{short} (local)"


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _num(value: object) -> float:
    return _nan(read.finite(value))


# the size filter's ranges (billions of parameters: lower bound inclusive, upper exclusive)
SIZE_RANGES: dict[str, tuple[float, float]] = {
    "<1B": (0.0, 1e9),
    "1-4B": (1e9, 4e9),
    "4-10B": (4e9, 10e9),
    ">10B": (10e9, float("inf")),
}
SIZE_UNKNOWN = "unknown"
SIZE_CHOICES: tuple[str, ...] = (*SIZE_RANGES, SIZE_UNKNOWN)


def params_text(count: object) -> str:
    """A parameter count in millions (M) or billions (B); "" when unknown."""
    value = read.finite(count)
    if value is None or value < 0:
        return ""
    if value >= 1e9:
        return f"{value / 1e9:.1f}B"
    return f"{value / 1e6:.0f}M"


def size_mask(counts: pd.Series, ranges: Sequence[str]) -> pd.Series:
    """True where a parameter count (NaN: unknown) falls in one of the named SIZE_CHOICES."""
    values = pd.to_numeric(counts, errors="coerce").astype(float)
    mask = pd.Series(False, index=counts.index)
    for name in ranges:
        if name == SIZE_UNKNOWN:
            mask |= values.isna()
        elif name in SIZE_RANGES:
            low, high = SIZE_RANGES[name]
            mask |= (values >= low) & (values < high)
    return mask


def _hardware_text(hardware: object) -> str:
    if isinstance(hardware, Mapping):
        chip = hardware.get("gpu") or hardware.get("cpu") or "unknown"
        return f"{chip} ({hardware.get('cpu_cores', '?')} CPU cores)"
    return str(hardware or "")


def flatten_result(row: ResultLike, tier: str) -> dict[str, Any]:
    """One stored result row (request fields + setting + result dict) as flat column values
    for one task tier. Keys are the column keys of leaderboard/columns.py."""
    return _tier_fields(_field(row, "result") or {}, tier, _row_fields(row))


def _row_fields(row: ResultLike) -> dict[str, Any]:
    """The columns that do not depend on the task tier."""
    result: Mapping[str, Any] = _field(row, "result") or {}
    model = result.get("model", {})
    editor = result.get("editor", {})
    bench = result.get("benchmark", {})
    eff = result.get("efficiency", {})
    env = result.get("environment", {})
    latency = eff.get("edit_latency_s", {})
    model_id = _field(row, "model_id") or model.get("id", "")
    config = _field(row, "editor_config")
    if not config:  # no config kept with the request: the one the result records
        config = json.dumps(editor.get("config", {}), sort_keys=True)
    config_hash = editor.get("config_hash") or _field(row, "config_hash") or ""
    num_parameters = _num(_field(row, "num_parameters"))
    return {
        "model": model_link(model_id),
        "model_id": model_id,
        "model_type": _field(row, "model_type") or "",
        "params": params_text(num_parameters),
        "num_parameters": num_parameters,
        "editor": _field(row, "editor") or editor.get("name", ""),
        "config_short": config_hash[:8],
        "setting": _field(row, "setting") or result.get("setting", ""),
        "seconds_per_edit": _num(latency.get("mean")),
        "seconds_per_edit_p50": _num(latency.get("p50")),
        "seconds_per_edit_p95": _num(latency.get("p95")),
        "peak_memory_mb": _num(eff.get("peak_memory_mb")),
        "wall_s": _num(eff.get("wall_s")),
        "probes_per_s": _num(eff.get("probes_per_s")),
        "cases": bench.get("cases"),
        "submitted_at": str(_field(row, "submitted_at") or "")[:19].replace("T", " "),
        "evaluated": str(result.get("created_at") or "")[:10],
        "submitter": _field(row, "submitter") or "",
        "organisation": _field(row, "organisation") or "",
        "model_revision": _field(row, "revision") or model.get("revision", ""),
        "config_hash": config_hash,
        "editor_config": config,
        "benchmark_name": bench.get("name", ""),
        "benchmark_version": bench.get("version", ""),
        "split": bench.get("split", ""),
        "split_sha256": bench.get("sha256", ""),
        "harness_version": env.get("harness_version", ""),
        "seed": env.get("seed"),
        "device": env.get("device", ""),
        "hardware": _hardware_text(env.get("hardware")),
        "created_at": result.get("created_at", ""),
    }


def _tier_fields(result: Mapping[str, Any], tier: str, base: dict[str, Any]) -> dict[str, Any]:
    """`base` plus the metrics of one task tier, the score and its interval."""
    out = dict(base)
    out["tier"] = tier
    for name in PRE_EDIT_METRICS:
        out[f"pre_{name}"] = _nan(read.pre_edit(result, tier, name))
    for name in METRICS:
        stat = read.stat(result, tier, name)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = (
            _nan(v) for v in (stat.mean, stat.lo, stat.hi)
        )
        out[f"token_{name}"] = _nan(read.metric(result, tier, name, view="token_metrics").mean)
    out["rank"] = None
    return out


def results_frame(rows: Iterable[ResultLike]) -> pd.DataFrame:
    """Every stored result, one line per (request, setting, tier), every column of columns.py."""
    records = []
    for row in rows:
        result, base = _field(row, "result") or {}, _row_fields(row)
        records.extend(_tier_fields(result, tier, base) for tier in TIERS)
    return pd.DataFrame.from_records(records, columns=[c.key for c in COLUMNS])


def shared_ranks(score: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> list[int]:
    """Rank = 1 + number of rows whose score interval lies entirely above this row's interval.
    Rows whose intervals overlap share a rank; a missing score ranks last; a missing interval
    end falls back to the score."""
    score_a = np.asarray(score, dtype=float)
    lo_a = np.where(np.isnan(np.asarray(lo, dtype=float)), score_a, np.asarray(lo, dtype=float))
    hi_a = np.where(np.isnan(np.asarray(hi, dtype=float)), score_a, np.asarray(hi, dtype=float))
    valid = ~np.isnan(score_a)
    lower_ends = np.sort(lo_a[valid])
    above = len(lower_ends) - np.searchsorted(lower_ends, hi_a, side="right")
    ranks = np.where(valid, above + 1, len(score_a))
    return [int(r) for r in ranks]


def _version_key(version: str) -> tuple:
    parts = str(version).split(".")
    if all(p.isdigit() for p in parts):
        return (1, *(int(p) for p in parts))
    return (0, str(version))


def benchmark_versions(frame: pd.DataFrame) -> list[str]:
    """The benchmark versions that have results, newest first."""
    versions = {str(v) for v in frame["benchmark_version"].dropna() if str(v)}
    return sorted(versions, key=_version_key, reverse=True)


def leaderboard_view(
    frame: pd.DataFrame,
    *,
    setting: str,
    tier: str,
    model_types: Sequence[str] | None = None,
    editors: Sequence[str] | None = None,
    search: str = "",
    version: str | None = None,
    sizes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The rows of one setting and tier of one benchmark version (default: the newest with
    results), filtered, ranked (shared ranks) and sorted by score; all columns kept (choose the
    shown ones with `display_frame`). Older versions stay in the store and the CSVs.
    `sizes`: SIZE_CHOICES names of parameter-count ranges to keep (None or empty: all)."""
    versions = benchmark_versions(frame)
    version = version or (versions[0] if versions else None)
    view = frame[(frame["setting"] == setting) & (frame["tier"] == tier)]
    if version is not None:
        view = view[view["benchmark_version"].astype(str) == version]
    if model_types:
        view = view[view["model_type"].isin(model_types)]
    if editors:
        view = view[view["editor"].isin(editors)]
    if sizes:
        view = view[size_mask(view["num_parameters"], sizes)]
    if search.strip():
        needle = search.strip().lower()
        haystack = (
            view["model_id"].astype(str)
            + " "
            + view["editor"].astype(str)
            + " "
            + view["model_type"].astype(str)
            + " "
            + view["submitter"].astype(str)
        ).str.lower()
        view = view[haystack.str.contains(needle, regex=False)]
    view = view.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
    view["rank"] = shared_ranks(
        view["score"].tolist(), view["score_lo"].tolist(), view["score_hi"].tolist()
    )
    return view


def display_frame(view: pd.DataFrame, selected: list[str] | None = None) -> pd.DataFrame:
    """The shown columns with their headers, numbers rounded for reading."""
    columns: list[Column] = visible_columns(selected)
    shown = view[[c.key for c in columns]].copy()
    for c in columns:
        if c.kind == "number" and c.key not in ("rank", "cases", "seed"):
            shown[c.key] = shown[c.key].astype(float).round(4)
    shown.columns = [c.label for c in columns]
    return shown


def datatypes(selected: list[str] | None = None) -> list[str]:
    """Gradio datatype per shown column, in the same order as `display_frame`."""
    return [c.kind for c in visible_columns(selected)]


def interval_details(view: pd.DataFrame, index: int) -> str:
    """Markdown detail of one leaderboard row: each metric's mean and 95% interval, provenance."""
    if index < 0 or index >= len(view):
        return "Select a row to see its intervals and provenance."
    row = view.iloc[index]
    lines = [
        f"**{row['model_id']}** · {row['editor']} · config `{row['config_short']}` · "
        f"{row['setting']} · {row['tier']}",
        "",
        "| metric | mean | 95% interval |",
        "|---|---|---|",
    ]
    for metric in METRICS:
        lo, hi = row[f"{metric}_lo"], row[f"{metric}_hi"]
        lines.append(f"| {metric} | {row[metric]:.4f} | [{lo:.4f}, {hi:.4f}] |")
    lines += [
        "",
        f"model revision `{row['model_revision']}` · config hash `{row['config_hash']}` · "
        f"benchmark {row['benchmark_name']} {row['benchmark_version']} · split sha256 "
        f"`{row['split_sha256']}` · harness {row['harness_version']} · device {row['device']}",
        "",
        reproduce_markdown(row.to_dict()),
    ]
    return "\n".join(lines)


def _yaml_scalar(value: object) -> str:
    """A config value as YAML: JSON scalars and flow sequences/mappings are valid YAML."""
    return json.dumps(value, sort_keys=True)


_YAML_WORDS = frozenset(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]
)  # plain keys YAML 1.1 would read as booleans or null


def _yaml_key(key: object) -> str:
    text = str(key)
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) and text.lower() not in _YAML_WORDS
    return text if plain else json.dumps(text)


def config_yaml(config_text: object) -> str:
    """The editor config (canonical JSON of every field) as a YAML file's text, one field a
    line; a text that is not a JSON mapping is returned as is."""
    try:
        config = json.loads(str(config_text or "{}"))
    except ValueError:
        return str(config_text or "")
    if not isinstance(config, Mapping):
        return str(config_text)
    return "".join(f"{_yaml_key(k)}: {_yaml_scalar(v)}\n" for k, v in sorted(config.items()))


def reproduce_markdown(row: Mapping[str, Any]) -> str:
    """How to reproduce one board line on the PUBLIC split (never the hidden one, whose
    cases are not published): the editor config as a YAML file and the evaluator command."""
    config_file = f"config-{str(row.get('config_hash') or '')[:8] or 'editor'}.yaml"
    seed = row.get("seed")
    seed = 0 if seed is None or (isinstance(seed, float) and np.isnan(seed)) else int(seed)
    benchmark = row.get("benchmark_name") or "<benchmark folder or hub id>"
    command = (
        f"python -m evaluator run --model {row.get('model_id')} "
        f"--revision {row.get('model_revision')} --editor {row.get('editor')} "
        f"--config {config_file} --benchmark {benchmark} --split public "
        f"--setting {row.get('setting')} --seed {seed} --out result.json"
    )
    return "\n".join(
        [
            "#### Reproduce this row (public split)",
            f"Save the editor config as `{config_file}`:",
            "```yaml",
            config_yaml(row.get("editor_config")).rstrip("\n"),
            "```",
            f"then run, with benchmark {benchmark} version {row.get('benchmark_version')} "
            "(the board's numbers are on the hidden split, so the public split's differ):",
            "```bash",
            command,
            "```",
        ]
    )


def lifelong_curves(rows: Iterable[ResultLike]) -> pd.DataFrame:
    """Long frame of lifelong curves of the newest benchmark version: one line per (model,
    editor, config, checkpoint)."""
    runs = [
        (flatten_result(row, "overall"), (_field(row, "result") or {}).get("lifelong_curve"))
        for row in rows
    ]
    return _curves_frame(runs)


CURVE_METRICS: tuple[str, ...] = ("score", *HEADLINE_METRICS)
CURVE_COLUMNS: tuple[str, ...] = ("line", "model_id", "editor", "edits", "metric", "value", "lo",
                                  "hi")  # fmt: skip


def _curve_point(value: object) -> tuple[float, float, float]:
    """(mean, ci95 lo, ci95 hi) of one curve point's metric: a bare mean (what the evaluator
    stores today) has no interval (NaN ends); a {mean, ci95} mapping has one."""
    if isinstance(value, Mapping):
        ci = value.get("ci95")
        lo, hi = ci if isinstance(ci, list | tuple) and len(ci) == 2 else (None, None)
        return _num(value.get("mean")), _num(lo), _num(hi)
    return _num(value), float("nan"), float("nan")


def _curves_frame(runs: list[tuple[Mapping[str, Any], Any]]) -> pd.DataFrame:
    """`runs`: (fields with model_id, editor, config_short, benchmark_version; the curve)."""
    records = []
    runs = [(flat, curve) for flat, curve in runs if curve]
    versions = sorted({f["benchmark_version"] for f, _ in runs}, key=_version_key, reverse=True)
    for flat, curve in runs:
        if flat["benchmark_version"] != versions[0]:
            continue
        line = f"{short_name(flat['model_id'])} · {flat['editor']} · {flat['config_short']}"
        for point in curve:
            for metric in CURVE_METRICS:
                if metric not in point:
                    continue
                value, lo, hi = _curve_point(point.get(metric))
                records.append(
                    {
                        "line": line,
                        "model_id": flat["model_id"],
                        "editor": flat["editor"],
                        "edits": point.get("edits"),
                        "metric": metric,
                        "value": value,
                        "lo": lo,
                        "hi": hi,
                    }
                )
    return pd.DataFrame.from_records(records, columns=list(CURVE_COLUMNS))


# ---- the narrow board frame (Store.board_rows: values stored beside each result) ----

# keys of every tier-dependent column the board reads (metric means, the score's interval and
# the pre-edit values); their stored names are `<tier>__<key>` (submissions/board.py)
BOARD_TIER_KEYS: tuple[str, ...] = (
    *METRICS,
    "score_lo",
    "score_hi",
    *(f"pre_{name}" for name in PRE_EDIT_METRICS),
)
# the columns of `board_frame`, in columns.py order: every column the leaderboard tab can
# show, plus what ranking, filters and search read
BOARD_COLUMNS: tuple[str, ...] = tuple(
    c.key
    for c in COLUMNS
    if c.displayed or c.key in ("model_id", "tier", "num_parameters", *BOARD_TIER_KEYS)
)
# identify the stored result behind a board line (for its detail and incremental refresh)
BOARD_ID_COLUMNS: tuple[str, ...] = ("result_id", "request_id")
_BOARD_TEXT = (
    "model_id", "model_type", "editor", "setting", "submitted_at", "submitter",
    "model_revision", "config_hash", "benchmark_version", "split_sha256", "evaluated",
)  # fmt: skip
_BOARD_RENAMES = {"edit_latency_s": "seconds_per_edit"}
_BOARD_FLOATS = (
    "seconds_per_edit", "seconds_per_edit_p50", "seconds_per_edit_p95", "peak_memory_mb",
    "wall_s", "num_parameters",
)  # fmt: skip


def board_wide(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One line per stored result, as `Store.board_rows()` returns them (columns, rows)."""
    wide = pd.DataFrame.from_records(rows, columns=list(columns))
    for name in _BOARD_TEXT:
        if name in wide and wide[name].isna().any():
            wide[name] = wide[name].fillna("")
    return wide


def board_frame(wide: pd.DataFrame) -> pd.DataFrame:
    """The board's frame: one line per (result, tier), the BOARD_COLUMNS (+ result_id and
    request_id), equal to `results_frame`'s values on those columns, built from stored values
    without parsing any result JSON."""
    wide = wide.rename(columns=_BOARD_RENAMES)
    n = len(wide)
    models = wide["model_id"] if n else pd.Series([], dtype=object)
    links = {m: model_link(m) for m in pd.unique(models)}
    base = pd.DataFrame(
        {
            "model": models.map(links) if n else models,
            "config_short": wide["config_hash"].str[:8] if n else models,
        },
        index=wide.index,
    )
    for name in (*_BOARD_TEXT, *_BOARD_FLOATS, "cases", *BOARD_ID_COLUMNS):
        base[name] = wide[name] if name in wide else pd.Series(index=wide.index, dtype=object)
    for name in _BOARD_FLOATS:
        base[name] = _floats(base[name])
    base["params"] = [params_text(n) for n in base["num_parameters"]]
    base["rank"] = None
    parts = []
    for tier in TIERS:
        part = base.copy()
        part["tier"] = tier
        for key in BOARD_TIER_KEYS:
            stored = f"{tier}__{key}"
            values = wide[stored] if stored in wide else pd.Series(index=wide.index, dtype=float)
            part[key] = _floats(values)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    for key in BOARD_COLUMNS:  # a column declared after the store's board values: empty
        if key not in frame:
            frame[key] = float("nan")
    return frame[[*BOARD_COLUMNS, *BOARD_ID_COLUMNS]]


def _floats(values: pd.Series) -> pd.Series:
    if values.dtype == np.float64:
        return values
    return pd.to_numeric(values, errors="coerce").astype(float)


def board_curves(wide: pd.DataFrame, curves: Mapping[int, Any]) -> pd.DataFrame:
    """`lifelong_curves` of the stored results behind a board frame: `curves` maps result id
    to stored curve (`Store.board_curves`)."""
    if wide.empty or not curves:
        return _curves_frame([])
    rows = wide[wide["result_id"].isin(list(curves))]
    rows = rows.assign(lifelong_curve=[curves[i] for i in rows["result_id"]])
    runs = [
        (
            {
                "model_id": model_id,
                "editor": editor,
                "config_short": str(config_hash)[:8],
                "benchmark_version": version,
            },
            curve,
        )
        for model_id, editor, config_hash, version, curve in zip(
            rows["model_id"],
            rows["editor"],
            rows["config_hash"],
            rows["benchmark_version"],
            rows["lifelong_curve"],
            strict=True,
        )  # fmt: skip
    ]
    return _curves_frame(runs)


def is_board_frame(frame: pd.DataFrame) -> bool:
    """True for a `board_frame` (its rows' details must be read from the store)."""
    return "result_id" in frame.columns


def detail_frame(row: ResultLike, tier: str) -> pd.DataFrame:
    """The full line of one stored result (a `Store.get_result` row) for one tier, for
    `interval_details`."""
    frame = results_frame([row])
    return frame[frame["tier"] == tier].reset_index(drop=True)
