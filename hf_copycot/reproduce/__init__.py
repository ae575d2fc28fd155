"""`copycot reproduce`: the papers' COPY and CoT claims, answered by one command.

A study is a small declarative file in `studies/` (which runs, which numbers, which plot, which
claim); the runs go through the same `finetune.py` and `copycot evaluate` code a user runs, cached by
a hash of their flags, so a re-run skips what is finished. `scales.py` holds the presets (`smoke`,
`cpu`, `gpu`); `runner.py` schedules the runs over worker processes; `report.py` writes
`results.json`, `report.md` and one PNG per study.
"""
