"""The contract every side may import: names, limits, paths, the config parser, the form, the
result readers and the request-to-run mapping. Torch-free, and it imports nothing else of this
project (a test checks both)."""
