"""The About tab's text: what the benchmark is, metrics and protocols, ranking, reproduction,
the result record's fields (rendered from contract.result_schema, their one definition), the
hidden split's sha256 (read from the manifest) and data licences."""

from __future__ import annotations

import json
from pathlib import Path

from contract import paths
from contract.result_schema import SCHEMA_VERSION, schema_markdown


def hidden_split_sha256(manifest_path: Path | None = None) -> str | None:
    """The hidden split's sha256 from the benchmark manifest, or None before it is built."""
    path = manifest_path or paths.benchmark_dir() / paths.MANIFEST
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    sha = manifest.get("sha256") or {}
    if isinstance(sha, dict) and "hidden" in sha:
        return str(sha["hidden"])
    split = (manifest.get("splits") or {}).get("hidden") or {}
    return split.get("sha256") if isinstance(split, dict) else None


def about_markdown(manifest_path: Path | None = None) -> str:
    sha = hidden_split_sha256(manifest_path)
    sha_text = f"`{sha}`" if sha else "_not built yet (it appears once the benchmark is built)_"
    return f"""
## What this is
MultiMedEdit asks whether knowledge editing (KE) methods can correct a vision-language model's
answers to medical visual questions without breaking the rest of its behaviour (after Wen et al.,
arXiv 2508.07022). Each case is a multiple-choice question about one image (the
*understanding* tier) or several frames or views (the *reasoning* tier). The edits are exactly the
cases the unedited model gets wrong (exact match on the edit prompt), in split order; the edit
makes it answer the correct letter. The unedited model's accuracy on the whole split is shown as
a property of the model (Pre-edit accuracy). This instance runs on MultiMedEdit-mini, a stand-in
built from MedMNIST v2 images, because the paper's data is not public.

## Metrics
All scores are taken with the target answer teacher-forced.
- **Reliability**: the edited model reproduces the target on the edit prompt itself (every target
  token is the argmax). A token-level accuracy, comparable with the paper's code, is in the CSV.
- **Generality**: the same check on a rephrased question (text) and on other images with the same
  answer (image), both with the options in another order, so the correct option has moved to
  another letter: pushing the edited letter does not pass; the headline is their mean.
- **Locality**: on unrelated questions, text-only (text), with images (image) and
  multiple-choice with options of their own (MC), the share of answer positions where the edited
  model's argmax equals the *untouched* model's argmax; the reference outputs are computed once,
  before any editor touches the model. Headline: the mean of the three.
- **Pre-edit**: the unedited model's accuracy on the whole split, and its generality on the edit
  set (its reliability there is 0 by construction: the edits are its errors).
- **Efficiency**: seconds per edit (evaluation excluded; mean, p50, p95) and peak memory.
Each mean carries a 95% bootstrap interval over cases (click a row, or download the CSV).

## Protocols
- **Single editing**: each case is edited alone; every parameter and buffer is restored bit for bit
  before the next case.
- **Lifelong editing**: edits accumulate; at checkpoints the metrics are taken over every case
  edited so far (the Lifelong tab); the table shows the last checkpoint.

## Ranking rule
score = mean(reliability, generality, locality), computed per case, so it has its own 95%
bootstrap interval from the same resamples as the metrics. A row's rank is 1 + the number of rows
whose score interval lies entirely above its own; rows whose intervals overlap share a rank. The
board shows the newest benchmark version; results of older versions stay in the all-results CSV
with their version.

## Reproduce a result locally (public split)
```
python -m evaluator benchmark build --scale default      # MultiMedEdit-mini from MedMNIST .npz
python -m evaluator model --help                          # build a tiny zoo model, if you need one
python -m evaluator editors                               # editors, config fields, defaults
python -m evaluator run --model <hub id or folder> --editor grace --config grace.yaml \\
    --benchmark data/benchmark/multimededit-mini --split public --setting single --out result.json
```
Results on the public split are not comparable with the leaderboard's hidden-split numbers, but use
the same code path. Every leaderboard row names the model revision, config hash, benchmark version
and split hash it came from.

## Hidden split
sha256 of the hidden split: {sha_text}. Its cases are never served by this app. The Cases tab
shows public-split cases only, with what the baselines answered before and after an edit in
runs on the public split (a few edits of each tier, kept apart from the board).

## The result record (`schema_version: {SCHEMA_VERSION}`)
Every run's result JSON (the *Download result JSON* button of a row, the `/result` API) has
these sections and fields; every field is required unless its schema version is newer than
the record's. `cases` holds per-case predictions only on the public split; on the hidden split
it is null.

{schema_markdown()}

## Data licences
MultiMedEdit-mini is built from MedMNIST v2 (Yang et al., Scientific Data 2023), released under
CC BY 4.0; the underlying source datasets keep their own licences, listed at medmnist.com. Text
locality questions and the benchmark card are in the built benchmark folder's README.
"""
