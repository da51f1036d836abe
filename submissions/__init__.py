"""Write side: the submission record, validation and quotas, and the durable queue/results store."""

from submissions.quotas import Quota, QuotaExceededError
from submissions.record import MODEL_TYPES, SETTINGS, SubmissionRecord
from submissions.store import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    STATES,
    DuplicateRequestError,
    LeaseLostError,
    RequestRow,
    ResultRow,
    Store,
)
from submissions.validation import SubmissionError, SubmissionLimits, submit, validate_submission

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "MODEL_TYPES",
    "PENDING",
    "RUNNING",
    "SETTINGS",
    "STATES",
    "DuplicateRequestError",
    "LeaseLostError",
    "Quota",
    "QuotaExceededError",
    "RequestRow",
    "ResultRow",
    "Store",
    "SubmissionError",
    "SubmissionLimits",
    "SubmissionRecord",
    "submit",
    "validate_submission",
]
