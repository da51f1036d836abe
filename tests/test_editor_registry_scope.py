"""Editors registered for a while (evaluator.editors.registry.registered, the `planted_editors`
fixture) are gone afterwards: importing tests/planted_editors.py registers nothing, and no
"planted-" name outlives the test that registered it."""

from __future__ import annotations

import pytest

import tests.planted_editors
from evaluator.editors.registry import EDITORS, editor_names, registered
from tests.planted_editors import PLANTED, NoopEditor

PLANTED_NAMES = sorted(cls.name for cls in PLANTED)


def registry() -> dict[str, type]:
    """Every registered editor (built-ins and plugins loaded) by name."""
    return {name: EDITORS[name] for name in editor_names()}


def planted_in_registry() -> list[str]:
    return [name for name in editor_names() if name.startswith("planted-")]


def test_a_test_with_the_fixture_sees_every_planted_editor(planted_editors):
    assert sorted(planted_editors) == PLANTED_NAMES
    assert planted_in_registry() == PLANTED_NAMES
    assert all(EDITORS[cls.name] is cls for cls in PLANTED)


def test_after_that_test_the_planted_names_are_no_longer_registered():
    # runs after the test above (file order): its fixture's teardown restored the registry
    assert tests.planted_editors.PLANTED  # imported, and still nothing registered
    assert planted_in_registry() == []


def test_registered_restores_the_registry_when_the_block_raises():
    before = registry()
    with pytest.raises(RuntimeError, match="inside"), registered(*PLANTED) as names:
        assert names == [cls.name for cls in PLANTED]
        assert "planted-noop" in editor_names()
        raise RuntimeError("inside")
    assert registry() == before


def test_registered_refuses_a_taken_name_and_leaves_nothing_behind():
    before = registry()

    class Impostor(NoopEditor):
        name = "ft"  # a built-in's name

    with (
        pytest.raises(ValueError, match="'ft' is already registered"),
        registered(NoopEditor, Impostor),
    ):
        pass
    assert registry() == before
    assert planted_in_registry() == []
