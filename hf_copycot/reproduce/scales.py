"""How big each scale's experiments are. One dataclass, three instances: edit here, not in studies.

`cpu` is sized for 20 minutes on 2 cores, `quick` previews it (sized for 5) and `smoke` runs in well
under 3 (the tests run it end to end);
`gpu` mirrors every study at the papers' scale (from-scratch models of a few million parameters,
copy lengths up to 100, Feng et al.'s LIS and ED with one token per number, and the released
Mamba / Pythia checkpoints for the phone book).

The protocol (zoology, MAD, Jelassi et al.): a run trains until its in-range validation score
reaches `gate` (checked every `eval_every` updates on `gate_examples` rows) or its budget of updates
runs out, whichever comes first; the gate is fixed here, before any run. Learning rates are chosen
per architecture on in-range validation only, from `lr_grid`, by `copycot reproduce --tune_lr`,
which writes them to learning_rates.json in its output folder. The committed configuration is
learning_rates.json beside this file (adopted by copying a tuned file over it in a clone);
`copycot reproduce --learning_rates FILE` reads another (`use_learning_rates`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

LEARNING_RATES = Path(__file__).with_name("learning_rates.json")
# The tuned groups: every copy run (and the state sweep) uses the "copy" rate of its
# architecture, every DP run the "dp" rate.
LR_GROUPS = ("copy", "dp")


@dataclass(frozen=True)
class DPTask:
    """One DP task of the CoT study: its lengths and generator parameters at this scale."""

    task: str
    min_length: int
    max_length: int
    params: dict = field(default_factory=dict)
    tokenizer: str = "char"  # the presets' tokenizer: "word" gives a token per number (Feng)


@dataclass(frozen=True)
class Scale:
    name: str
    seeds: int
    mamba: str  # preset of the Mamba side of the parameter-matched pair
    transformer: str  # preset of the GPT-NeoX side
    batch_size: int
    warmup_steps: int
    eval_examples: int  # rows per evaluated split
    # The protocol: train to the gate or the budget; learning rates from lr_grid.
    gate: float  # in-range validation main score from which a run has learned its task
    gate_examples: int  # validation rows the gate reads
    eval_every: int  # updates between gate checks (the resolution of examples-to-gate)
    lr_grid: tuple[float, ...]
    default_learning_rate: float  # before `--tune_lr` has written a rate for a group
    # COPY: train on lengths copy_min to N_max with the budget of updates copy_budgets[N_max] (the
    # largest N_max is the copy study's); every run is scored at each length up to 2 N_max.
    copy_min: int
    copy_budgets: dict[int, int]
    # The copy study's Transformers: `transformer` (RoPE, as Pythia) and its positional-encoding
    # variants (Jelassi et al.: NoPE, Hard-ALiBi), each trained like the Mamba.
    copy_variants: tuple[str, ...]
    # Mamba state sweep: the Mamba preset made shallow by `state_overrides` (the regime where
    # d_state binds, from a recorded pilot: docs/reproduce-cpu/PILOTS.md), each d_state trained
    # on copy over `state_lengths` for `state_budget` updates; the smallest state's runs are then
    # continued for as many again (the control: a plateau more training lifts is not capacity).
    state_overrides: str
    state_sizes: tuple[int, ...]
    state_lengths: tuple[int, int]
    state_budget: int
    # DP with and without CoT: the first task is the streamed m-local DP of the locality study.
    dp_tasks: tuple[DPTask, ...]
    dp_steps: int  # budget
    dp_test_examples: int  # in-range test rows per trained DP model (held out from training)
    dp_windows: tuple[int, ...]  # m reported on the stream_dp models (slices of their test rows)
    # Theorem 5 crossed with state size: the state sweep's shallow Mamba at these d_state values
    # trained with CoT on the stream_dp task like the pair.
    locality_state_sizes: tuple[int, ...]
    # Phone book: released checkpoints, evaluated few-shot (Jelassi et al.), and book sizes.
    phonebook_models: tuple[str, ...]
    phonebook_entries: tuple[int, ...]
    # Inference cost: prompt lengths (tokens) and new tokens per measurement.
    cost_contexts: tuple[int, ...]
    cost_new_tokens: int
    # The scale whose tuned learning rates this one uses (quick: cpu's); default its own.
    rates_of: str | None = None

    def with_seeds(self, seeds: int | None) -> Scale:
        return self if seeds is None else replace(self, seeds=seeds)

    @property
    def pair(self) -> tuple[str, str]:
        """The parameter-matched pair, in the order the report lists it: Transformer, Mamba."""
        return self.transformer, self.mamba

    @property
    def n_max_values(self) -> tuple[int, ...]:
        """Longest training lengths of the copy runs (examples-to-gate compares them)."""
        return tuple(sorted(self.copy_budgets))

    @property
    def copy_lengths(self) -> tuple[int, int]:
        """The copy study's training range: the shortest length to the largest N_max."""
        return self.copy_min, max(self.copy_budgets)

    def learning_rate(self, group: str, model: str) -> float:
        """The tuned rate of `model` (a preset) for `group` ("copy" or "dp") at this scale."""
        return (
            tuned_learning_rates()
            .get(self.rates_of or self.name, {})
            .get(group, {})
            .get(model, self.default_learning_rate)
        )


_in_use = LEARNING_RATES


def use_learning_rates(path: Path | None) -> None:
    """Read learning rates from `path` (a file `--tune_lr` wrote) instead of the committed one."""
    global _in_use
    _in_use = LEARNING_RATES if path is None else Path(path)


def learning_rates_file() -> Path:
    return _in_use


def stored_learning_rates() -> dict:
    """The whole file in use ({"learning_rates": ..., "tuned_with": ...}); {} when absent."""
    return json.loads(_in_use.read_text()) if _in_use.exists() else {}


def tuned_learning_rates() -> dict:
    """scale -> group -> preset -> learning rate, from the file in use."""
    return stored_learning_rates().get("learning_rates", {})


SMOKE = Scale(
    name="smoke",
    seeds=3,
    mamba="mamba-tiny",
    transformer="pythia-tiny",
    batch_size=16,
    warmup_steps=5,
    eval_examples=24,
    gate=0.9,
    gate_examples=16,
    eval_every=20,
    lr_grid=(3e-3, 1e-2),
    default_learning_rate=3e-3,
    copy_min=3,
    copy_budgets={4: 30, 5: 40},
    copy_variants=("pythia-tiny-hard-alibi",),
    state_overrides="num_hidden_layers=2",
    state_sizes=(2, 16),
    state_lengths=(3, 5),
    state_budget=30,
    dp_tasks=(DPTask("stream_dp", 2, 4, {"m_choices": [1, 2]}),),  # mod 2 at n <= 4: 56 problems
    dp_steps=30,
    dp_test_examples=48,
    dp_windows=(1, 2),
    locality_state_sizes=(2,),
    phonebook_models=(),
    phonebook_entries=(),
    cost_contexts=(16, 64),
    cost_new_tokens=8,
)

CPU = Scale(
    name="cpu",
    seeds=3,
    mamba="mamba-tiny",
    transformer="pythia-tiny",
    batch_size=32,
    warmup_steps=100,
    eval_examples=200,
    gate=0.9,
    gate_examples=100,
    # A gate check costs about a third of a second here; every 200 updates (6,400 examples) keeps
    # examples-to-gate far finer than the gaps it measures and 20 minutes within reach.
    eval_every=200,
    lr_grid=(1e-3, 3e-3, 1e-2),
    default_learning_rate=3e-3,
    copy_min=4,
    # 4,000 at N_max 10: Hard-ALiBi reached the gate at 2,700 in its pilot and in 1 of 3 runs
    # with 3,000 (a run stops at the gate, so the budget costs only the runs that need it).
    copy_budgets={6: 1500, 10: 4000},
    copy_variants=("pythia-tiny-nope", "pythia-tiny-hard-alibi"),
    # Pilot (issue 20, width 64): at 4 layers even d_state 1 learns copy 4-10; at 2 layers on
    # copy 4-16 for 2,000 updates d_state 1 copies 5-6 letters and d_state 16 10-12. At 1,600
    # updates (pilot 2026-12-06, 3 seeds) d_state 1 copies 4-5 and d_state 16 7-10: the state
    # binds as much, for a fifth less of the sweep's time (docs/reproduce-cpu/PILOTS.md).
    state_overrides="num_hidden_layers=2",
    state_sizes=(1, 4, 16),  # 2 and 8 too cost 6 runs the 20-minute budget has no room for
    state_lengths=(4, 16),
    state_budget=1600,
    # Parity-like (mod 2): at this size the arithmetic of mod 10 is what the 2-layer Transformer
    # fails to learn in budget, not the lookback the claim is about (docs/reproduce-cpu).
    dp_tasks=(DPTask("stream_dp", 2, 12, {"m_choices": [1, 2, 4, 8], "modulus": 2}),),
    dp_steps=1000,
    dp_test_examples=600,
    dp_windows=(1, 2, 4, 8),
    locality_state_sizes=(1, 16),
    phonebook_models=(),
    phonebook_entries=(),
    cost_contexts=(64, 256, 1024, 4096),
    cost_new_tokens=32,
)

# A preview of the cpu scale, sized for under 5 minutes on 2 cores: the same studies with two
# seeds, the copy study at N_max 6 with Hard-ALiBi as the only variant, a shorter state sweep and
# DP budget (timed 2026-12-06 at 5.0 minutes with 1,000 state and 500 DP updates, 578
# worker-seconds; with 800 and 400, 4.9 minutes). Its verdicts rest on two seeds a side: read
# them as a smoke test of the science, not a result.
QUICK = replace(
    CPU,
    name="quick",
    seeds=2,
    copy_budgets={6: 1500},
    copy_variants=("pythia-tiny-hard-alibi",),
    state_sizes=(1, 16),
    state_lengths=(4, 12),
    state_budget=800,
    dp_steps=400,
    dp_test_examples=300,
    cost_contexts=(64, 256, 1024),
    rates_of="cpu",
)

GPU = Scale(
    name="gpu",
    seeds=3,
    mamba="mamba-base",
    transformer="pythia-base",
    batch_size=64,
    warmup_steps=500,
    eval_examples=1000,
    gate=0.9,
    gate_examples=500,
    eval_every=1000,
    lr_grid=(3e-4, 1e-3, 3e-3),
    default_learning_rate=1e-3,
    copy_min=5,
    copy_budgets={10: 10000, 20: 15000, 40: 20000, 50: 20000},
    copy_variants=("pythia-base-nope", "pythia-base-hard-alibi"),
    state_overrides="num_hidden_layers=4",
    state_sizes=(1, 2, 4, 8, 16, 64),
    state_lengths=(5, 50),
    state_budget=20000,
    dp_tasks=(
        DPTask("stream_dp", 5, 50, {"m_choices": [1, 2, 4, 8, 16, 32]}),
        DPTask("lis", 5, 50, {}, tokenizer="word"),
        DPTask("ed", 5, 12, {}, tokenizer="word"),
    ),
    dp_steps=20000,
    dp_test_examples=2000,
    dp_windows=(1, 2, 4, 8, 16, 32),
    locality_state_sizes=(1, 4, 16, 64),
    phonebook_models=(
        "state-spaces/mamba-130m-hf",
        "EleutherAI/pythia-160m",
        "state-spaces/mamba-370m-hf",
        "EleutherAI/pythia-410m",
        "state-spaces/mamba-1.4b-hf",
        "EleutherAI/pythia-1.4b",
    ),
    phonebook_entries=(20, 40, 80, 160),
    cost_contexts=(256, 1024, 4096, 16384),
    cost_new_tokens=64,
)

SCALES: dict[str, Scale] = {scale.name: scale for scale in (SMOKE, QUICK, CPU, GPU)}
