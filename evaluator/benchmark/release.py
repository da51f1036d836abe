"""The benchmark this harness builds: its name and version (a light module: no data imports)."""

NAME = "multimededit-mini"
# 2.0.0: rephrases reorder the options, a multiple-choice locality probe, locality pools
# partitioned by split, tiers interleaved so that any prefix covers both
VERSION = "2.0.0"
