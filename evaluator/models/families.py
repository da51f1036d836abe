"""Where each model family keeps its decoder layers and vision modules: the only place the
adapter knows about families, so that editors never branch on one."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# stable kind -> attribute path inside one decoder layer (Llama/Qwen2/Mistral-style layers)
PROJECTIONS: dict[str, str] = {
    "mlp.up": "mlp.up_proj",
    "mlp.gate": "mlp.gate_proj",
    "mlp.down": "mlp.down_proj",
    "attn.q": "self_attn.q_proj",
    "attn.k": "self_attn.k_proj",
    "attn.v": "self_attn.v_proj",
    "attn.o": "self_attn.o_proj",
}


@dataclass(frozen=True)
class Family:
    """Module layout of one family, as qualified names in `model.named_modules()`."""

    name: str  # for logs only
    layers: str  # the nn.ModuleList of the language model's decoder layers
    vision: tuple[str, ...]  # vision tower and multimodal projector


_LLAVA = ("model.language_model.layers", ("model.vision_tower", "model.multi_modal_projector"))
_QWEN = ("model.language_model.layers", ("model.visual",))
_IDEFICS = ("model.text_model.layers", ("model.vision_model", "model.connector"))

# config.model_type -> family layout
FAMILIES: dict[str, Family] = {
    "llava_onevision": Family("llava-onevision", *_LLAVA),
    "llava": Family("llava", *_LLAVA),
    "llava_next": Family("llava-next", *_LLAVA),
    "qwen2_vl": Family("qwen2-vl", *_QWEN),
    "qwen2_5_vl": Family("qwen2.5-vl", *_QWEN),
    "idefics3": Family("idefics3", *_IDEFICS),
    "smolvlm": Family("smolvlm", *_IDEFICS),
}

_LAYER_CANDIDATES = tuple({f.layers for f in FAMILIES.values()})


def family_for(model: nn.Module) -> Family:
    """The layout of `model`: from the table by model_type, else found by the common layer paths."""
    model_type = getattr(model.config, "model_type", "")
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    names = dict(model.named_modules())
    for layers in _LAYER_CANDIDATES:
        if layers in names:
            vision = tuple(
                n for n in ("model.vision_tower", "model.multi_modal_projector", "model.visual",
                            "model.vision_model", "model.connector") if n in names
            )  # fmt: skip
            return Family(model_type or type(model).__name__, layers, vision)
    raise ValueError(
        f"model type {model_type!r} ({type(model).__name__}) is not in the adapter's family table "
        f"and has none of the known decoder-layer paths {sorted(_LAYER_CANDIDATES)}; add its "
        "layout to evaluator/models/families.py"
    )
