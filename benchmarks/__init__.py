"""The benchmark suite of one optimizer step: `python -m benchmarks --help` (or `bash scripts/bench.sh`).

Modules: `workloads` (shape lists), `algorithms` (each algorithm in every spelling),
`implementations` (one runner per implementation), `system` (allocator priming,
bandwidth probe, machine facts, compile counting), `timing` (one measurement and
the correctness gate), `recompile`, `memory` (peak memory, one subprocess each),
`report` (tables, JSON, plot) and `run` (the command line).
"""
