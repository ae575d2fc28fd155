"""`copycot reproduce --tune_lr`: pick each architecture's learning rate on in-range validation.

Mamba trains only in a narrow learning-rate window (arXiv 2508.19029), so one rate shared by both
architectures would confound every comparison. For each group of runs ("copy": the copy studies;
"dp": the DP studies, tuned on their first task with CoT) and each preset of the pair, one seed
trains at every rate of the scale's grid, to the gate or the budget; the rate that reaches the
gate from the fewest examples wins (ties and runs that never reach it: the highest final
validation score). Only validation rows are read: the test splits stay untouched. The choice is
written to learning_rates.json in the output folder (the rates in use, this scale's replaced) and,
with every run's numbers, to tune_lr.json beside it; never into the installed package. Studies
read it with `--learning_rates`; adopting it for everyone is a commit of that file over
hf_copycot/reproduce/learning_rates.json.
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.publishing import write_json
from hf_copycot.reproduce.report import markdown_table
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import copy_run, dp_run, examples_to_gate, learned
from hf_copycot.reproduce.scales import LEARNING_RATES, LR_GROUPS, Scale, stored_learning_rates

SEED = 0


def tuning_job(scale: Scale, group: str, model: str, learning_rate: float) -> Job:
    if group == "copy":
        return copy_run(scale, model, SEED, learning_rate=learning_rate)
    return dp_run(scale, scale.dp_tasks[0], model, SEED, True, learning_rate=learning_rate)


def jobs(scale: Scale) -> list[Job]:
    return [
        tuning_job(scale, group, model, rate)
        for group in LR_GROUPS
        for model in scale.pair
        for rate in scale.lr_grid
    ]


def outcome(result: dict, scale: Scale) -> dict:
    """What the choice reads off one tuning run (validation rows only)."""
    return {
        "learned": learned(result, scale),
        "examples_to_gate": examples_to_gate(result, scale),
        "validation": result["results"]["validation"][result["main_score"]],
    }


def best_rate(outcomes: dict[float, dict]) -> float:
    """The rate that reached the gate soonest; else the best final validation score."""

    def rank(rate: float) -> tuple:
        o = outcomes[rate]
        soon = -(o["examples_to_gate"] or float("inf")) if o["learned"] else float("-inf")
        return (o["learned"], soon, o["validation"])

    return max(outcomes, key=rank)


def choose(scale: Scale, lookup) -> dict:
    """group -> preset -> {"chosen": rate, "runs": {rate: outcome}}."""
    choice: dict = {}
    for group in LR_GROUPS:
        for model in scale.pair:
            outcomes = {
                rate: outcome(lookup(tuning_job(scale, group, model, rate)), scale)
                for rate in scale.lr_grid
            }
            choice.setdefault(group, {})[model] = {
                "chosen": best_rate(outcomes),
                "runs": {f"{rate:g}": o for rate, o in outcomes.items()},
            }
    return choice


def write(scale: Scale, choice: dict, out_dir: Path, command: str) -> str:
    """Record the choice for the studies (learning_rates.json) and the runs (tune_lr.json);
    returns a markdown table of every run."""
    stored = stored_learning_rates()
    stored.setdefault("learning_rates", {})[scale.name] = {
        group: {model: entry["chosen"] for model, entry in models.items()}
        for group, models in choice.items()
    }
    stored.setdefault("tuned_with", {})[scale.name] = {
        "command": command,
        "grid": list(scale.lr_grid),
        "gate": scale.gate,
        "seed": SEED,
        "selected_on": "in-range validation: fewest examples to the gate, else the best score",
    }
    write_json(out_dir / LEARNING_RATES.name, stored)
    write_json(out_dir / "tune_lr.json", {"scale": scale.name, "command": command, **choice})
    rows = [
        [
            group,
            model,
            rate,
            f"{o['validation']:.1%}",
            f"{o['examples_to_gate']:,}" if o["examples_to_gate"] else "not reached",
            "**chosen**" if float(rate) == entry["chosen"] else "",
        ]
        for group, models in choice.items()
        for model, entry in models.items()
        for rate, o in entry["runs"].items()
    ]
    return markdown_table(
        ["group", "model", "learning rate", "final validation", "examples to the gate", ""], rows
    )
