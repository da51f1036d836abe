"""Load any image-text-to-text model behind one adapter; the tiny zoo models."""

from evaluator.models.adapter import VLMAdapter
from evaluator.models.loading import load_vlm
from evaluator.models.probe import Probe, ProbeScore
from evaluator.models.resolve import ModelResolutionError, ResolvedModel, resolve_model

__all__ = [
    "ModelResolutionError",
    "Probe",
    "ProbeScore",
    "ResolvedModel",
    "VLMAdapter",
    "load_vlm",
    "resolve_model",
]
