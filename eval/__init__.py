"""The `evaluate` metric modules, one folder each (every folder is also a Hub Space).

Installed, these folders are the package data of `hf_copycot.metric_modules` (pyproject.toml maps
that package here), which is where `hf_copycot.metrics` loads them from. The modules themselves
import nothing from hf_copycot: `evaluate.load("eval/<name>")` and the Hub ids work without it.
"""
