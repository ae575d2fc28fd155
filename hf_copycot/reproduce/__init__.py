"""`copycot reproduce`: the papers' COPY and CoT claims, answered by one command.

A study is a small declarative file in `studies/` (which runs, which numbers, which plot, which
claim); its runs carry the arguments `finetune.py` and `copycot evaluate` parse (the same
dataclasses) and call the same functions a user's command does, cached by a hash of those
arguments, so a re-run skips what is finished. `scales.py` holds the scales (`smoke`, `cpu`,
`gpu`); `runner.py` schedules the runs over worker processes; `report.py` writes `results.json`,
`report.md` and one PNG per study.
"""
