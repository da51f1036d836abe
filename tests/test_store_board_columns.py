"""The board's stored columns hold what real results and models produce, on SQLite and
PostgreSQL: a 7B model's parameter count does not fit PostgreSQL's 32-bit INTEGER."""

from __future__ import annotations

from submissions import Store
from tests.test_store import make_record, result_json


def test_a_large_models_parameter_count_is_stored_and_read(store_url: str) -> None:
    store = Store(store_url)
    try:
        row = store.add_request(make_record(0, num_parameters=7_241_732_096))
        store.claim("w1", 30)
        store.save_result(row.id, "w1", "single", result_json(0.5))
        store.finish(row.id, "w1")
        (record,) = store.board_rows().records()
        assert record["num_parameters"] == 7_241_732_096
    finally:
        store.close()
