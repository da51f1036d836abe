"""WISE: side-memory routing by activation margin, disjoint shard masks, TIES merges."""

from __future__ import annotations

import torch

from evaluator.editors.wise import WiseSideMemory, ties_merge
from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    ToyAdapter,
    case_probe,
    edited_score,
    make_case,
    make_editor,
    single_thread_torch,
    wrong_target,
)


def test_ties_merge_keeps_disjoint_changes_and_resolves_sign_conflicts():
    base = torch.zeros(4)
    a = torch.tensor([1.0, 0.0, 2.0, 0.0])
    b = torch.tensor([0.0, 3.0, -1.0, 0.0])
    merged = ties_merge(base, [a, b], density=1.0)
    assert torch.equal(merged, torch.tensor([1.0, 3.0, 2.0, 0.0]))


def test_unrelated_text_probe_routes_to_the_main_weights():
    adapter = ToyAdapter()
    editor = make_editor("wise", adapter, train=[make_case(40)])
    case = wrong_target(adapter, make_case(0))
    unrelated = case_probe(make_case(9), target="A")
    unrelated = type(unrelated)((), "who wrote the novel number 9", "tolstoy")
    before = adapter.score([unrelated])[0]
    editor.apply(case.edit())
    assert edited_score(editor, case_probe(case)).exact_match
    assert edited_score(editor, unrelated) == before


def test_shards_use_disjoint_masks_and_are_merged_at_merge_freq():
    adapter = ToyAdapter()
    editor = make_editor("wise", adapter, train=[make_case(41)], n_iter=3)
    cases = [wrong_target(adapter, make_case(i)) for i in range(10)]
    masks = []
    for i, case in enumerate(cases):
        editor.apply(case.edit())
        if i in (0, 5):
            masks.append(editor._mask.clone())
        if i == 4:
            assert len(editor.saved) == 1 and editor.merged is None
    assert not (masks[0] & masks[1]).any()
    assert editor.saved == [] and editor.merged is not None
    memory = adapter.get_module(editor.module_name)
    assert isinstance(memory, WiseSideMemory)
    assert torch.equal(memory.current.detach(), memory.original)


class _CountedLoad(list):
    """Train cases that record when they were first read (a run's LazyCases loads, decodes
    and hashes the whole train split on first read)."""

    def __init__(self, cases: list, events: list[str]) -> None:
        super().__init__(cases)
        self.events = events

    def __len__(self) -> int:
        if "loaded" not in self.events:
            self.events.append("loaded")
        return super().__len__()


def test_the_train_split_loads_in_setup_not_in_the_first_edits_latency():
    adapter = ToyAdapter()
    events: list[str] = []
    editor = make_editor("wise", adapter, train=_CountedLoad([make_case(40)], events), n_iter=2)
    events.append("constructed")
    editor.apply(wrong_target(adapter, make_case(0)).edit())
    assert events == ["loaded", "constructed"]
    assert editor.setup_seconds > 0.0  # reported as efficiency.setup_s, apart from edits
