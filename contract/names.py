"""The names every side uses, defined once: settings, task tiers, metrics, model types, splits.

The evaluator computes these, the store keeps them as columns, the board shows them; each of
those imports the name from here.
"""

from __future__ import annotations

SETTINGS = ("single", "lifelong")  # single editing (restore after each edit), lifelong editing
TASKS = ("understanding", "reasoning")  # the benchmark's task tiers
TIERS = ("overall", *TASKS)  # what metrics are reported for: all edits, then each task tier
SPLITS = ("train", "public", "hidden")
# the question types of each task tier, in the order the benchmark builder draws them
UNDERSTANDING_TYPES = ("modality", "organ", "finding")
REASONING_TYPES = (
    "which_frame",
    "count_frames",
    "same_modality",
    "same_organ",
    "compare_grade",
    "odd_modality",
)
QUESTION_TYPES = {"understanding": UNDERSTANDING_TYPES, "reasoning": REASONING_TYPES}
MODEL_TYPES = ("general", "medical")
# the zoo: tiny models of these families, built from configs and trained on the train split
ZOO_ARCHITECTURES = ("llava-onevision", "qwen2-vl")

# per-case metrics the protocols compute (exact match and token views)
BASE_METRICS = (
    "reliability",
    "generality_text",
    "generality_image",
    "locality_text",
    "locality_image",
    "locality_mc",
)
HEADLINE_METRICS = ("reliability", "generality", "locality")
GENERALITY_PARTS = ("generality_text", "generality_image")
LOCALITY_PARTS = ("locality_text", "locality_image", "locality_mc")
# every metric of a result: the headline score (mean of the three headline metrics per case),
# the headline metrics and their parts
METRICS = (
    "score",
    "reliability",
    "generality",
    *GENERALITY_PARTS,
    "locality",
    *LOCALITY_PARTS,
)
# pre-edit: accuracy on the whole split (a property of the model); reliability and generality
# on the edit set (reliability is 0 there by construction: the edits are the model's errors)
PRE_EDIT_METRICS = ("accuracy", "reliability", "generality")
# the probes of a case, in the order the evaluator scores them: the edit prompt itself
# (reliability), its two rephrases (generality: text, image) and the three locality probes
PROBE_KINDS = ("edit", "rephrase", "image_rephrase", "loc_text", "loc_image", "loc_mc")
EDIT_PROBES = PROBE_KINDS[:3]  # the edit and its rephrases: should answer the target after it
LOCALITY_PROBES = PROBE_KINDS[3:]  # unrelated questions: should keep their answer
# the probes answered with an option letter (the others are free text: no letter is recorded)
LETTER_PROBES = ("edit", "rephrase", "image_rephrase", "loc_mc")
