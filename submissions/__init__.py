"""Write side: the submission record, validation and quotas, and the durable queue/results store."""

from submissions.quotas import Quota, QuotaExceededError
from submissions.record import MODEL_TYPES, SETTINGS, SubmissionRecord, identity_key
from submissions.store import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    STATES,
    BoardRows,
    DuplicateRequestError,
    LeaseLostError,
    RequestRow,
    ResultRow,
    Store,
)
from submissions.validation import (
    FORM_FIELDS,
    SubmissionError,
    SubmissionLimits,
    form_from_values,
    precheck_form,
    submit,
    validate_submission,
)

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "FORM_FIELDS",
    "MODEL_TYPES",
    "PENDING",
    "RUNNING",
    "SETTINGS",
    "STATES",
    "BoardRows",
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
    "form_from_values",
    "identity_key",
    "precheck_form",
    "submit",
    "validate_submission",
]
