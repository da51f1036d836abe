"""Layer specs in editor configs: a float is a relative depth, an int an absolute (or, when
negative, from-the-end) decoder layer index; and the projection kinds an editor may name."""

from __future__ import annotations

import math

from contract.limits import LAYER_INDEX_MAX
from evaluator.editors.base import ConfigError

LAYER_HELP = (
    "a float in [0, 1] is relative depth, round(f * (num_layers - 1)); an int is an absolute "
    "index, negative counting from the end"
)
MODULE_KINDS = ("mlp.up", "mlp.gate", "mlp.down", "attn.q", "attn.k", "attn.v", "attn.o")

# an integer layer index is declared within these bounds; the real check is against the model
LAYER_BOUNDS = {"min": -LAYER_INDEX_MAX, "max": LAYER_INDEX_MAX - 1}


def check_layer_spec(name: str, spec: int | float) -> None:
    """A float layer must be a relative depth in [0, 1] (ints are checked against the model)."""
    if isinstance(spec, float) and not (0.0 <= spec <= 1.0 and math.isfinite(spec)):
        raise ConfigError(
            f"field {name!r}: {spec!r} is not a relative depth in [0, 1]; give a float in [0, 1] "
            "or an integer layer index"
        )


def resolve_layer(name: str, spec: int | float, num_layers: int) -> int:
    """The absolute layer index of `spec` for a model with `num_layers` decoder layers."""
    check_layer_spec(name, spec)
    if isinstance(spec, float):
        return round(spec * (num_layers - 1))
    if not -num_layers <= spec < num_layers:
        raise ConfigError(
            f"field {name!r}: layer {spec} does not exist, the model has {num_layers} decoder "
            f"layers; use 0..{num_layers - 1}, a negative index from the end, or a float depth"
        )
    return spec % num_layers
