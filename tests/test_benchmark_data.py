"""The project's benchmark data tables: facts, templates and the MedMNIST subset table."""

from __future__ import annotations

import string

from evaluator.benchmark.reasoning import REASONING_KINDS
from evaluator.benchmark.vocab import DEFAULT_FLAGS, facts, subsets, templates


def test_at_least_200_distinct_facts_with_answers():
    pairs = facts()
    assert len(pairs) >= 200
    assert len({q for q, _ in pairs}) == len(pairs)
    assert all(q.endswith("?") and a.strip() for q, a in pairs)


def test_every_question_type_has_several_distinct_templates():
    table = templates()
    groups = [table[k] for k in ("modality", "organ", *REASONING_KINDS)]
    groups += list(table["finding"].values())
    for texts in groups:
        assert len(texts) >= 2 and len(set(texts)) == len(texts)


def test_subset_table_covers_the_twelve_2d_subsets_with_medmnist_labels():
    table = subsets()
    assert len(table) == 12 and set(DEFAULT_FLAGS) <= set(table)
    assert table["pneumoniamnist"].labels == ("normal", "pneumonia")
    assert table["breastmnist"].labels == ("malignant", "normal, benign")
    assert table["retinamnist"].ordinal and table["organamnist"].fixed_organ is None
    assert table["dermamnist"].licence == "CC BY-NC 4.0"
    for info in table.values():
        assert info.modality and info.citation
        assert info.md5 is None or set(info.md5) <= set(string.hexdigits.lower())


def test_schema_features_list_every_case_field_in_order():
    from dataclasses import fields

    from evaluator.benchmark.case import Case
    from evaluator.benchmark.features import ALL_FIELDS, FEATURES

    assert tuple(FEATURES) == ALL_FIELDS
    assert set(ALL_FIELDS) == {f.name for f in fields(Case)}
