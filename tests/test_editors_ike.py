"""IKE: facts and retrieved demonstrations in the probe's prefix; the weights never change."""

from __future__ import annotations

from evaluator.editors.ike import format_fact
from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    ToyAdapter,
    case_probe,
    make_case,
    make_editor,
    single_thread_torch,
    state_hashes,
)


def test_prompt_method_prepends_the_new_fact_in_the_papers_template():
    adapter = ToyAdapter()
    editor = make_editor("ike", adapter)
    case = make_case(0, target="C")
    editor.apply(case.edit())
    probe = editor.transform_probe(case_probe(case))
    assert probe.prefix == (
        f"Question: {case.question}\nA. liver\nB. lung\nC. kidney\nD. heart\nAnswer: C"
    )
    assert editor.touched_modules() == []


def test_demonstrations_are_the_most_similar_train_questions():
    adapter = ToyAdapter()
    train = [make_case(10 + i) for i in range(5)]
    editor = make_editor("ike", adapter, train=train, demonstrations=1)
    case = make_case(1, target="D")
    editor.apply(case.edit())
    prefix = editor.transform_probe(case_probe(case)).prefix
    similar = next(c for c in train if c.question.startswith(case.question.split(" case")[0]))
    assert prefix.startswith(format_fact(similar.question, similar.options, similar.answer))
    assert prefix.endswith("Answer: D")


def test_lifelong_retrieves_the_matching_fact_among_many_and_reset_forgets():
    adapter = ToyAdapter()
    hashes = state_hashes(adapter.model)
    editor = make_editor("ike", adapter, max_facts=1)
    cases = [make_case(i, target="ABCD"[i % 4]) for i in range(20)]
    for case in cases:
        editor.apply(case.edit())
    probe = editor.transform_probe(case_probe(cases[13]))
    assert probe.prefix == format_fact(cases[13].question, cases[13].options, cases[13].target)
    editor.reset()
    assert editor.transform_probe(case_probe(cases[13])).prefix == ""
    assert state_hashes(adapter.model) == hashes
