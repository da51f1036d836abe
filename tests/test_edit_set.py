"""The edit set: the model's errors in split order; limits keep both tiers."""

import pytest

from evaluator.edit_set import choose_edits, proportional_quota
from evaluator.models.probe import ProbeScore
from evaluator.run import RunSpec, run_evaluation
from tests.fake_vlm import FakeAdapter, fake_split

TASKS = ["understanding", "reasoning"] * 10  # interleaved, as the builder writes them


def test_the_edits_are_exactly_the_errors_in_split_order():
    correct = [i % 3 == 0 for i in range(len(TASKS))]
    edits = choose_edits(TASKS, correct)
    assert list(edits.indices) == [i for i, ok in enumerate(correct) if not ok]
    assert edits.errors == {"understanding": 6, "reasoning": 7}
    assert edits.notes == ()


def test_a_limit_keeps_both_tiers_in_proportion_to_their_errors():
    correct = [task == "understanding" and i % 4 == 0 for i, task in enumerate(TASKS)]
    edits = choose_edits(TASKS, correct, limit=6)
    chosen = [TASKS[i] for i in edits.indices]
    assert len(chosen) == 6
    assert chosen.count("understanding") >= 1 and chosen.count("reasoning") >= 1
    assert list(edits.indices) == sorted(edits.indices)


def test_per_tier_takes_the_first_errors_of_each_tier():
    edits = choose_edits(TASKS, [False] * len(TASKS), per_tier=3)
    assert list(edits.indices) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("limit", [1, 2, 5, 13, 100])
def test_the_proportional_quota_sums_to_the_limit_and_never_exceeds_what_exists(limit):
    available = {"understanding": 9, "reasoning": 4}
    quota = proportional_quota(limit, available)
    assert sum(quota.values()) == min(limit, 13)
    assert all(quota[t] <= available[t] for t in available)
    if limit >= 2:
        assert quota["understanding"] and quota["reasoning"]


def test_a_tier_without_errors_gets_a_note_not_a_crash():
    correct = [task == "reasoning" for task in TASKS]
    edits = choose_edits(TASKS, correct)
    assert {TASKS[i] for i in edits.indices} == {"understanding"}
    assert len(edits.notes) == 1 and "no error in the reasoning tier" in edits.notes[0]


def test_a_model_without_errors_is_refused_with_a_clear_error(monkeypatch):
    import evaluator.run as run_module

    right = ProbeScore((1,), (1,), 1.0, True)

    def all_right(adapter, sha256, cases, *, batch_size, stats):
        return [(right,) * 6 for _ in cases]

    monkeypatch.setattr(run_module, "reference_scores", all_right)
    spec = RunSpec(
        model="fake/tiny-vlm",
        revision=None,
        editor="ike",
        config={},
        benchmark="unused",
        split="public",
        setting="single",
    )
    with pytest.raises(ValueError, match="nothing to edit"):
        run_evaluation(spec, adapter=FakeAdapter(), split_data=fake_split(4))
