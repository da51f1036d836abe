"""An organisation's identity key fits its column on every database, even when NFKC expands
the name many-fold, and quotas still count such an organisation (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from contract.limits import FIELD_MAX_CHARS, IDENTITY_KEY_MAX_CHARS
from submissions import Quota, QuotaExceededError, Store, identity_key
from tests.test_store import make_record

WIDE = "\ufdfa" * FIELD_MAX_CHARS["organisation"]  # NFKC: 18 characters each


def test_a_long_key_is_its_hash_and_equal_texts_still_meet() -> None:
    key = identity_key(WIDE)
    assert key.startswith("sha256:") and len(key) <= IDENTITY_KEY_MAX_CHARS
    assert identity_key(" " + WIDE + " ") == key != identity_key(WIDE[:-1])
    assert identity_key("École-Lab") == identity_key("école-lab") == "école-lab"


def test_an_expanding_organisation_is_stored_and_counted(store_url: str) -> None:
    store = Store(store_url)
    try:
        quota = Quota(max_requests=1)
        store.add_request(make_record(0, organisation=WIDE, submitter=WIDE), quota=quota)
        with pytest.raises(QuotaExceededError):
            store.add_request(make_record(1, organisation=WIDE, submitter=WIDE), quota=quota)
        assert store.count_requests() == 1
    finally:
        store.close()
