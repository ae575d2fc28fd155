"""`copycot reproduce`: the papers' COPY and CoT claims, answered by one command.

Three parts. What runs: `runs.py` builds the jobs (they carry the arguments `finetune.py` and
`copycot evaluate` parse, the same dataclasses, and call the same functions a user's command does)
and the runs several readers share; `runner.py` caches them by a hash of those arguments and
schedules them over worker processes or Ray tasks. What it means: one pure module per study in
`studies/` (its jobs, the numbers it computes from their results, its verdict), with
`statistics.py`'s bootstrap and verdict rules and `papers.py`'s quoted numbers. How it reads: one
module per study in `prose/` (plot, table, paragraph) and `report.py` (results.json, report.md).
`scales.py` holds the scales (`smoke`, `quick`, `cpu`, `gpu`); `cli.py` runs them in that order.
"""
