"""The dataset card (README.md) written next to a built benchmark."""

from __future__ import annotations

from contract.names import SPLITS, TASKS
from evaluator.benchmark.vocab import subset

MEDMNIST_CITATION = (
    "Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B. MedMNIST v2 - "
    "A large-scale lightweight benchmark for 2D and 3D biomedical image classification. "
    "Scientific Data 10: 41, 2023."
)


def dataset_card(manifest: dict) -> str:
    """Markdown with a `datasets` YAML header (one config, three splits) for this manifest."""
    flags = [s["flag"] for s in manifest["sources"]]
    licences = sorted({subset(f).licence for f in flags})
    licence_id = "cc-by-nc-4.0" if "CC BY-NC 4.0" in licences else "cc-by-4.0"
    splits = manifest["splits"]
    header = [
        "---",
        f"license: {licence_id}",
        "configs:",
        "- config_name: default",
        "  data_files:",
    ]
    for split in SPLITS:
        header += [f"  - split: {split}", f"    path: {splits[split]['path']}"]
    header += ["task_categories:", "- visual-question-answering", "---", ""]

    lines = [
        f"# {manifest['name']} {manifest['version']}",
        "",
        "A stand-in for the MultiMedEdit knowledge-editing benchmark (Wen et al., arXiv "
        "2508.07022), built from real MedMNIST v2 images (28x28, stored as RGB PNG) by "
        "`python -m evaluator benchmark build` "
        f"(seed {manifest['seed']}, scale {manifest['scale']}). Multiple-choice edit cases: "
        "understanding (one image: modality, organ, finding) and reasoning (2-4 frames; no "
        "single frame determines the answer). The edit target is the correct answer.",
        "",
        "The `hidden` split is the leaderboard's test split: only the evaluator reads it; the "
        "leaderboard publishes its sha256 below.",
        "",
        "## Splits",
        "",
        "| split | from MedMNIST | cases | understanding | reasoning | sha256 (content) |",
        "|---|---|---|---|---|---|",
    ]
    for split in SPLITS:
        e = splits[split]
        by_task = e["by_task"]
        lines.append(
            f"| {split} | {e['medmnist_split']} | {e['cases']} | {by_task['understanding']} | "
            f"{by_task['reasoning']} | `{e['sha256']}` |"
        )
    lines += ["", "Question types per split:", ""]
    for split in SPLITS:
        types = splits[split]["by_question_type"]
        parts = [f"{q} {n}" for t in TASKS for q, n in types[t].items()]
        lines.append(f"- {split}: " + ", ".join(parts))
    lines += [
        "",
        "## Licence and attribution",
        "",
        "Each MedMNIST subset keeps its own licence; the ones used here:",
        "",
        "| subset | licence | source file sha256 |",
        "|---|---|---|",
    ]
    for s in manifest["sources"]:
        lines.append(f"| {s['flag']} | {s['licence']} | `{s['sha256']}` |")
    if "CC BY-NC 4.0" in licences:
        lines += ["", "DermaMNIST is CC BY-NC 4.0: this build may not be used commercially."]
    else:
        lines += ["", "All subsets used are CC BY 4.0 (DermaMNIST, CC BY-NC 4.0, is not used)."]
    lines += [
        "",
        "Cite MedMNIST v2 and each source dataset:",
        "",
        f"- {MEDMNIST_CITATION}",
    ]
    for flag in flags:
        lines.append(f"- {subset(flag).title}: {subset(flag).citation}")
    lines += [
        "",
        "Text-locality prompts come from a curated list of short medical and general facts "
        "written for this project (evaluator/benchmark/data/facts.jsonl).",
        "",
    ]
    return "\n".join(header + lines)
