"""GRACE: codebook growth, expansion and splitting, locality outside the radius, unwrap."""

from __future__ import annotations

import torch

from evaluator.editors.grace import GraceCodebook
from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    ToyAdapter,
    case_probe,
    edited_score,
    make_case,
    make_editor,
    module_tree,
    single_thread_torch,
    wrong_target,
)


def test_far_away_probe_is_left_unchanged():
    adapter = ToyAdapter()
    editor = make_editor("grace", adapter)
    far = answer_probe(make_case(7))
    before = adapter.score([far])[0]
    editor.apply(wrong_target(adapter, make_case(0)).edit())
    after = edited_score(editor, far)
    assert after == before
    assert len(editor.codebook.values) == 1
    assert editor.codebook.radii == [0.05]


def answer_probe(case):
    return case_probe(case, target=case.answer)


def test_same_answer_near_an_existing_key_expands_it_without_crashing():
    adapter = ToyAdapter()
    editor = make_editor("grace", adapter, eps=1000.0)
    first = wrong_target(adapter, make_case(0))
    second = type(first)(
        **{**first.__dict__, "case_id": "c0b", "question": first.question + " now"}
    )
    editor.apply(first.edit())
    editor.apply(first.edit())
    editor.apply(second.edit())
    book = editor.codebook
    assert isinstance(book, GraceCodebook)
    assert len(book.values) == 1
    assert book.radii[0] >= 1000.0
    assert edited_score(editor, case_probe(first)).exact_match
    assert edited_score(editor, case_probe(second)).exact_match


def test_other_answer_near_a_key_splits_both_radii():
    adapter = ToyAdapter()
    editor = make_editor("grace", adapter, eps=1000.0)
    first = wrong_target(adapter, make_case(0))
    other = "C" if first.target != "C" else "D"
    second = type(first)(**{**make_case(1).__dict__, "target": other})
    editor.apply(first.edit())
    editor.apply(second.edit())
    book = editor.codebook
    distance = torch.dist(book.keys[0], book.keys[1]).item()
    assert len(book.values) == 2
    assert book.radii == [distance / 2, distance / 2]
    assert edited_score(editor, case_probe(second)).exact_match


def test_replace_all_also_edits_answer_positions_and_reset_unwraps():
    adapter = ToyAdapter()
    tree = module_tree(adapter.model)
    editor = make_editor("grace", adapter, replacement="replace_all")
    case = wrong_target(adapter, make_case(2))
    editor.apply(case.edit())
    assert isinstance(adapter.get_module(editor.module_name), GraceCodebook)
    assert edited_score(editor, case_probe(case)).exact_match
    editor.reset()
    assert module_tree(adapter.model) == tree
