"""The zoo model card: README.md with Hugging Face YAML metadata and the measured numbers."""

from __future__ import annotations

from pathlib import Path

import yaml

_FAMILY_CLASS = {
    "llava-onevision": "LlavaOnevisionForConditionalGeneration",
    "qwen2-vl": "Qwen2VLForConditionalGeneration",
}


def write_model_card(
    path: Path,
    *,
    arch: str,
    num_parameters: int,
    steps: int,
    recipe: str,
    train_seconds: float,
    seed: int,
    benchmark: str,
    accuracy: dict[str, dict[str, float]],
    weights_sha256: str,
) -> None:
    """Write the card; `accuracy` maps "tier/question_type" -> {n, accuracy, chance}."""
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "image-text-to-text",
        "license": "cc-by-4.0",
        "tags": ["multimededit", "knowledge-editing", "medical-vqa", "tiny", arch],
        "num_parameters": num_parameters,
        "training_steps": steps,
        "training_recipe": recipe,
        "training_seconds": round(train_seconds, 1),
        "seed": seed,
        "weights_sha256": weights_sha256,
        "public_accuracy": {k: round(v["accuracy"], 4) for k, v in accuracy.items()},
        "public_chance": {k: round(v["chance"], 4) for k, v in accuracy.items()},
    }
    rows = [
        f"| {key} | {v['n']} | {v['accuracy']:.3f} | {v['chance']:.3f} | "
        f"{v['accuracy'] / v['chance']:.2f}x |"
        for key, v in accuracy.items()
    ]
    body = f"""# mme-tiny-{arch}

A tiny `{_FAMILY_CLASS[arch]}` built from a config (a small vision transformer and a small
Qwen2 decoder) with a byte-level BPE tokenizer trained offline on the benchmark's train text,
then trained on the train split on the CPU (answer letters for every question, rephrase and
rephrase image, plus the text and image locality facts). It exists so the leaderboard's demo
and tests exercise exactly the code path of a full-size model of the same family.

- Parameters: {num_parameters:,}
- Training: {steps} steps, {train_seconds:.1f} s wall (build on the CPU), seed {seed}
- Weights sha256: `{weights_sha256}`
- Evaluated on: {benchmark}

## Pre-edit exact-match accuracy on the public split

Correct option letter under teacher forcing; chance is the mean of 1 / number of options.

| tier/question type | cases | accuracy | chance | vs chance |
|---|---|---|---|---|
{chr(10).join(rows)}

## Use

```python
from evaluator.models import load_vlm
adapter = load_vlm("{path.parent}")
```
"""
    path.write_text(f"---\n{yaml.safe_dump(metadata, sort_keys=False)}---\n\n{body}")
