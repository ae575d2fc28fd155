"""How big each scale's experiments are. One dataclass, three instances: edit here, not in studies.

`cpu` is sized for 15 minutes on 2 cores and `smoke` for well under 3 (the tests run it end to end);
`gpu` is the papers' scale (from-scratch models of a few million parameters, lengths up to 100,
several seeds, and the released Mamba / Pythia checkpoints for the phone book).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


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
    learning_rate: float
    warmup_steps: int
    eval_examples: int  # rows per evaluated split
    # COPY: train on lengths copy_lengths; test = same range, test_long = the next copy_long range.
    copy_lengths: tuple[int, int]
    copy_long: tuple[int, int]
    copy_steps: int
    eval_every: int  # updates between evaluations (the examples-to-learn curve)
    n_max_values: tuple[int, ...]  # examples-to-learn: maximum training length per run
    # Mamba state sweep: (d_model, d_state) pairs, trained like the copy runs.
    state_grid: tuple[tuple[int, int], ...]
    # DP with and without CoT.
    dp_tasks: tuple[DPTask, ...]
    dp_steps: int
    local_dp_windows: tuple[int, ...]  # m evaluated on the local_dp models (>= n: no locality)
    # Phone book: released checkpoints, evaluated few-shot (Jelassi et al.), and book sizes.
    phonebook_models: tuple[str, ...]
    phonebook_entries: tuple[int, ...]
    # Inference cost: prompt lengths (tokens) and new tokens per measurement.
    cost_contexts: tuple[int, ...]
    cost_new_tokens: int

    def with_seeds(self, seeds: int | None) -> Scale:
        return self if seeds is None else replace(self, seeds=seeds)


SMOKE = Scale(
    name="smoke",
    seeds=2,
    mamba="mamba-tiny",
    transformer="pythia-tiny",
    batch_size=16,
    learning_rate=3e-3,
    warmup_steps=5,
    eval_examples=24,
    copy_lengths=(3, 6),
    copy_long=(7, 10),
    copy_steps=40,
    eval_every=20,
    n_max_values=(4, 6),
    state_grid=((64, 4), (64, 16)),
    dp_tasks=(
        DPTask("lis", 3, 5, {"max_value": 10}),  # lis values start at n + 1: 2n <= max_value
        DPTask("local_dp", 3, 5, {"min_value": 0, "max_value": 5}),
    ),
    dp_steps=30,
    local_dp_windows=(1, 8),
    phonebook_models=(),
    phonebook_entries=(),
    cost_contexts=(16, 64),
    cost_new_tokens=8,
)

CPU = Scale(
    name="cpu",
    seeds=2,
    mamba="mamba-tiny",
    transformer="pythia-tiny",
    batch_size=32,
    learning_rate=3e-3,
    warmup_steps=100,
    eval_examples=200,
    copy_lengths=(5, 20),
    copy_long=(21, 40),
    copy_steps=2000,
    eval_every=250,
    n_max_values=(10, 20),
    state_grid=((64, 2), (64, 16), (32, 16)),
    dp_tasks=(
        DPTask("lis", 3, 8, {"max_value": 20}),
        DPTask("local_dp", 3, 8, {"min_value": 0, "max_value": 4}),
    ),
    dp_steps=1500,
    local_dp_windows=(1, 2, 4, 8),
    phonebook_models=(),
    phonebook_entries=(),
    cost_contexts=(64, 256, 1024, 4096),
    cost_new_tokens=32,
)

GPU = Scale(
    name="gpu",
    seeds=3,
    mamba="mamba-base",
    transformer="pythia-base",
    batch_size=64,
    learning_rate=1e-3,
    warmup_steps=500,
    eval_examples=1000,
    copy_lengths=(5, 50),
    copy_long=(51, 100),
    copy_steps=20000,
    eval_every=1000,
    n_max_values=(10, 20, 40, 50),
    state_grid=((64, 16), (128, 16), (256, 4), (256, 16), (256, 64), (512, 16)),
    dp_tasks=(
        DPTask("lis", 5, 50, {}, tokenizer="word"),
        DPTask("ed", 5, 12, {}, tokenizer="word"),
        DPTask("local_dp", 5, 50, {}, tokenizer="word"),
    ),
    dp_steps=20000,
    local_dp_windows=(1, 2, 4, 8, 16, 64),
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

SCALES: dict[str, Scale] = {scale.name: scale for scale in (SMOKE, CPU, GPU)}
