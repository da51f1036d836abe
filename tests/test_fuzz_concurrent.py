"""200 valid submissions from 4 processes at once, straight through the Python API into one
SQLite file (not through Gradio's one-at-a-time queue): each request is stored exactly once,
and every second attempt of the same request is refused as a duplicate."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

from backend.submission import submit
from submissions import Quota, Store, SubmissionError, SubmissionLimits
from tests.write_path_support import valid_form, write_model

PROCESSES = 4
REQUESTS = 200
ORGANISATIONS = ("ÉCOLE-lab", "école-LAB", "Analytical Lab", "ANALYTICAL  lab")


def forms(model: str) -> list[dict]:
    """200 distinct valid requests (GRACE n_iter 1..200), organisations in several spellings."""
    return [
        valid_form(
            model,
            editor_config=f"n_iter: {n + 1}",
            organisation=ORGANISATIONS[n % len(ORGANISATIONS)],
            settings=["single"] if n % 2 else ["single", "lifelong"],
        )
        for n in range(REQUESTS)
    ]


def submit_share(index: int, url: str, model: str, root: str, barrier, results) -> None:
    """In a child process: its own 50 requests and its neighbour's 50, shuffled; puts the ids
    stored and the fields of the refusals on `results`."""
    import os

    os.environ["MME_MODELS_ROOT"] = root
    os.environ["HF_HUB_OFFLINE"] = "1"
    share = REQUESTS // PROCESSES
    everything = forms(model)
    mine = everything[index * share : (index + 1) * share]
    neighbour = (index + 1) % PROCESSES
    theirs = everything[neighbour * share : (neighbour + 1) * share]
    attempts = mine + theirs
    random.Random(index).shuffle(attempts)
    store = Store(url)
    limits = SubmissionLimits(quota=Quota(max_requests=10_000))
    stored, refused = [], []
    barrier.wait()
    for form in attempts:
        try:
            stored.append(submit(store, form, limits=limits).id)
        except SubmissionError as err:
            refused.append(err.field)
    store.close()
    results.put((stored, refused))


def test_200_valid_submissions_from_4_processes_are_each_stored_once(tmp_path: Path):
    model = write_model(tmp_path / "models" / "tiny")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).close()  # tables exist before the processes start
    context = multiprocessing.get_context("fork")  # children inherit the imported editors
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    root = str(tmp_path / "models")
    processes = [
        context.Process(target=submit_share, args=(i, url, str(model), root, barrier, results))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    stored = [request_id for ids, _ in outcomes for request_id in ids]
    refused = [field for _, fields in outcomes for field in fields]
    assert len(stored) == REQUESTS and len(set(stored)) == REQUESTS
    assert refused == ["request"] * REQUESTS  # every second attempt is a duplicate
    store = Store(url)
    rows = store.list_requests()
    assert len(rows) == REQUESTS
    assert len({row.request_key for row in rows}) == REQUESTS
    stored = {json.loads(row.record.editor_config)["n_iter"] for row in rows}  # canonical JSON
    assert stored == set(range(1, 201))
    assert {row.state for row in rows} == {"PENDING"}
    store.close()
