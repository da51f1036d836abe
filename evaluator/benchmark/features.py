"""The case schema as `datasets.Features` (what the parquet files and hub datasets hold)."""

from __future__ import annotations

from datasets import Features, Image, List, Value

from evaluator.benchmark.split_content import (  # noqa: F401  (re-exported)
    ALL_FIELDS,
    IMAGE_FIELDS,
    OPTION_FIELDS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    TEXT_FIELDS,
    canonical_sha256,
)

FEATURES = Features(
    {
        "case_id": Value("string"),
        "task": Value("string"),
        "question_type": Value("string"),
        "images": List(Image()),
        "question": Value("string"),
        "options": List({"letter": Value("string"), "text": Value("string")}),
        "answer": Value("string"),
        "target": Value("string"),
        "rephrase_question": Value("string"),
        "rephrase_images": List(Image()),
        "loc_question": Value("string"),
        "loc_answer": Value("string"),
        "m_loc_images": List(Image()),
        "m_loc_question": Value("string"),
        "m_loc_answer": Value("string"),
        "source": Value("string"),
        "rephrase_options": List({"letter": Value("string"), "text": Value("string")}),
        "mc_loc_images": List(Image()),
        "mc_loc_question": Value("string"),
        "mc_loc_options": List({"letter": Value("string"), "text": Value("string")}),
        "mc_loc_answer": Value("string"),
        "question_spec": Value("string"),
    }
)
