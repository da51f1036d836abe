"""Tiny, offline-built pieces of a real model family: a BPE tokenizer trained with `tokenizers`,
a ChatML chat template, and small configs and processors for LLaVA-OneVision and Qwen2-VL
sized for 28x28 images. The zoo trains these; tests build random ones."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlavaOnevisionConfig,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    ProcessorMixin,
    Qwen2Config,
    Qwen2VLConfig,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    SiglipVisionConfig,
)

from contract.names import ZOO_ARCHITECTURES

ARCHES = ZOO_ARCHITECTURES
IMAGE_SIZE = 28  # MedMNIST resolution
LLAVA_PATCH = 14  # 2x2 patches per view: LLaVA-OneVision has no token merging

_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}IMAGE"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% if not loop.last %}{{ '\n' }}{% endif %}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# the image placeholder each family's processor expands
_IMAGE_MARKUP = {
    "llava-onevision": "<image>\n",
    "qwen2-vl": "<|vision_start|><|image_pad|><|vision_end|>",
}
SPECIAL_TOKENS = {
    "llava-onevision": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
    "qwen2-vl": [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ],
}


def chat_template(arch: str) -> str:
    """ChatML with the family's image placeholder (one per image item)."""
    return _CHATML.replace("IMAGE", _IMAGE_MARKUP[_check_arch(arch)])


def train_tokenizer(
    arch: str, texts: Iterable[str], vocab_size: int = 4096
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`, with the family's special tokens."""
    return bpe_tokenizer(texts, SPECIAL_TOKENS[_check_arch(arch)], vocab_size=vocab_size)


def bpe_tokenizer(
    texts: Iterable[str],
    special_tokens: list[str],
    *,
    vocab_size: int = 1024,
    eos_token: str = "<|im_end|>",
) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained offline on `texts`; special_tokens[0] is the pad token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos_token,
        pad_token=special_tokens[0],
        additional_special_tokens=[t for t in special_tokens[1:] if t != eos_token],
        padding_side="right",
    )


def tiny_processor(arch: str, tokenizer: PreTrainedTokenizerFast) -> ProcessorMixin:
    """The family's processor, sized so a 28x28 image becomes a handful of vision tokens."""
    template = chat_template(arch)
    if _check_arch(arch) == "llava-onevision":
        size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
        images = LlavaOnevisionImageProcessor(
            size=size, crop_size=size, image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE]]
        )
        videos = LlavaOnevisionVideoProcessor(size=size)
        return LlavaOnevisionProcessor(
            image_processor=images,
            tokenizer=tokenizer,
            video_processor=videos,
            num_image_tokens=(IMAGE_SIZE // LLAVA_PATCH) ** 2,
            vision_feature_select_strategy="full",
            chat_template=template,
            vision_aspect_ratio="anyres_max_1",
        )
    pixels = {"shortest_edge": 56 * 56, "longest_edge": 56 * 56}
    images = Qwen2VLImageProcessor(size=pixels)
    videos = Qwen2VLVideoProcessor(size=pixels)
    return Qwen2VLProcessor(
        image_processor=images, tokenizer=tokenizer, video_processor=videos, chat_template=template
    )


def tiny_config(
    arch: str,
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden: int = 128,
    layers: int = 4,
    vision_hidden: int = 64,
    vision_layers: int = 2,
) -> PretrainedConfig:
    """A small vision transformer plus a small Qwen2 decoder, wired to the tokenizer's ids."""
    vocab = len(tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    text = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.eos_token_id,
    }
    if _check_arch(arch) == "llava-onevision":
        vision = SiglipVisionConfig(
            hidden_size=vision_hidden,
            intermediate_size=vision_hidden * 2,
            num_hidden_layers=vision_layers,
            num_attention_heads=2,
            image_size=IMAGE_SIZE,
            patch_size=LLAVA_PATCH,
        )
        return LlavaOnevisionConfig(
            vision_config=vision,
            text_config=Qwen2Config(**text),
            image_token_index=ids("<image>"),
            video_token_index=ids("<video>"),
            image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE]],
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
            vision_aspect_ratio="anyres_max_1",
            tie_word_embeddings=True,
        )
    head_dim = hidden // text["num_attention_heads"]
    rope = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": _mrope_section(head_dim),
    }
    return Qwen2VLConfig(
        text_config={**text, "rope_parameters": rope},
        vision_config={
            "depth": vision_layers,
            "embed_dim": vision_hidden,
            "hidden_size": hidden,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def _mrope_section(head_dim: int) -> list[int]:
    """Split half the rotary dims over (time, height, width) as Qwen2-VL does (16, 24, 24 of 64)."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def _check_arch(arch: str) -> str:
    if arch not in ARCHES:
        raise ValueError(f"unknown zoo architecture {arch!r}; use one of {list(ARCHES)}")
    return arch
