"""The back end: wires the write side (the store) to the evaluator. The queue worker, its
executors (in process, a child process, Ray) and command line, and the first-start bootstrap
(build the benchmark, train the zoo, queue the baselines, run a worker)."""
