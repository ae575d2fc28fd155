"""Expected GPU-hours of a scale's runs, from the scale's own sizes and stated throughput figures.

Nothing here is measured. Each job's work is counted from what it will run (updates, batch size,
the tokens of rows drawn from its own generator at its own lengths, evaluations, the model's size
and layers); time is that work over the throughput `Assumptions` state, for one modern GPU
(A100 / H100 class) in bf16. The small from-scratch presets are bound by kernel launches, not by
FLOPs, so their rates are per architecture; the released checkpoints (phone book) are bound by
FLOPs. `make gpu-check` measures real rates on your GPU: put them in `Assumptions` to redo the
table. `copycot reproduce --scale gpu --dry_run` prints it; docs/GPU.md keeps a copy.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import architecture_of

HUB_VOCAB = 50_280  # the GPT-NeoX tokenizer the released Mamba and Pythia checkpoints share


@dataclass(frozen=True)
class Assumptions:
    """Throughput on one GPU, bf16. Defaults are estimates, not measurements (see the module)."""

    # Training tokens/s (forward + backward + AdamW, batch 64 of rows of 10-300 tokens) of the
    # from-scratch presets (0.1-20 M parameters): Mamba has twice the layers and more kernels.
    train_tokens_per_s: dict = field(
        default_factory=lambda: {"mamba": 150_000.0, "transformer": 400_000.0}
    )
    # One greedy decoding step of a batch, per layer (launch-bound for every size used here).
    decode_step_s_per_layer: dict = field(
        default_factory=lambda: {"mamba": 4e-4, "transformer": 3e-4}
    )
    # FLOP/s a large model reaches (about a third of an A100's bf16 peak): 2 x parameters FLOPs
    # per token forward, 6 x with the backward.
    flops_per_s: float = 1e14
    hub_chars_per_token: float = 3.0  # the BPE tokenizer of the released checkpoints
    eval_batch: int = 64  # copycot evaluate's per_device_eval_batch_size


@dataclass(frozen=True)
class Model:
    architecture: str
    parameters: int
    layers: int
    hub: bool  # a released checkpoint (BPE tokens), not a from-scratch preset (characters)


@functools.cache
def _model(name: str, overrides: str | None) -> Model:
    """Size and layers of `preset:NAME` (with `--config_overrides`) or of a released checkpoint,
    without downloading it: a Hub id names its preset's shape (state-spaces/mamba-1.4b-hf)."""
    from hf_copycot.models import PRESET_PREFIX, PRESETS, count_parameters, preset_config
    from hf_copycot.tokenizer import build_char_tokenizer

    hub = not name.startswith(PRESET_PREFIX)
    preset = name.split("/")[-1].removesuffix("-hf") if hub else name[len(PRESET_PREFIX) :]
    if preset not in PRESETS:
        raise ValueError(f"no preset has the shape of {name!r}: add it to models.PRESETS")
    config = preset_config(preset, build_char_tokenizer())
    if overrides:
        config.update_from_string(overrides)
    if hub:
        config.vocab_size = HUB_VOCAB
    return Model(architecture_of(preset), count_parameters(config), config.num_hidden_layers, hub)


@functools.cache
def _row_chars(
    task: str, lengths: tuple[int, int], params: str | None, use_cot: bool
) -> tuple[float, float, int]:
    """Mean prompt and target characters, and the longest target, of 64 rows the generator makes
    for this job (the target is what generation must produce: CoT and answer, or the answer)."""
    from hf_copycot.tasks import generate

    rows = generate(
        task, 64, seed=0, min_length=lengths[0], max_length=lengths[1], **json.loads(params or "{}")
    )
    targets = [
        (cot if use_cot else "") + answer
        for cot, answer in zip(rows["cot"], rows["answer"], strict=True)
    ]
    prompts = [len(prompt) for prompt in rows["prompt"]]
    return (
        sum(prompts) / len(prompts),
        sum(map(len, targets)) / len(targets),
        max(map(len, targets)),
    )


def _tokens(
    data_args, model: Model, use_cot: bool, assume: Assumptions
) -> tuple[float, float, int]:
    prompt, target, longest = _row_chars(
        data_args.dataset_config,
        (data_args.min_length, data_args.max_length),
        data_args.task_params,
        use_cot,
    )
    if model.hub:
        per = assume.hub_chars_per_token
        return prompt / per, target / per, math.ceil(longest / per)
    return prompt + 1, target + 1, longest + 1  # <s> before the prompt, </s> after the target


def _evaluation_s(
    examples: int, prompt: float, longest: int, model: Model, assume: Assumptions
) -> float:
    """Greedy generation over `examples` prompts in batches: prefill, then one step per token."""
    batches = math.ceil(examples / assume.eval_batch)
    launch = model.layers * assume.decode_step_s_per_layer[model.architecture]
    flops = 2 * model.parameters * assume.eval_batch / assume.flops_per_s
    decode = (longest + 1) * max(launch, flops)
    prefill_rate = 3 * assume.train_tokens_per_s[model.architecture]
    prefill = (
        assume.eval_batch
        * prompt
        * max(1 / prefill_rate, 2 * model.parameters / assume.flops_per_s)
    )
    return batches * (decode + prefill)


def _built_by(job: Job, plan: dict[str, Job]):
    """The ModelArguments that built the model `job` reads: its own, or those of the job whose
    model it reads (evaluations, continued training), followed back to a preset or a Hub id."""
    while job.needs is not None and job.needs in plan:
        job = plan[job.needs]
    return job.args[0]


def job_seconds(job: Job, plan: dict[str, Job], assume: Assumptions | None = None) -> float:
    """Expected seconds of `job` on one GPU; `plan` (key -> job) resolves the model it reads."""
    assume = assume or Assumptions()
    source = _built_by(job, plan)
    model = _model(source.model_name_or_path, source.config_overrides)
    if job.kind == "finetune":
        _, data_args, training = job.args
        prompt, target, longest = _tokens(data_args, model, data_args.use_cot, assume)
        tokens = training.max_steps * training.per_device_train_batch_size * (prompt + target)
        rate = assume.train_tokens_per_s[model.architecture]
        train = tokens * max(1 / rate, 6 * model.parameters / assume.flops_per_s)
        evaluations = (
            math.ceil(training.max_steps / training.eval_steps) if training.eval_steps else 1
        )
        examples = data_args.max_eval_examples or assume.eval_batch
        return train + evaluations * _evaluation_s(examples, prompt, longest, model, assume)
    if job.kind == "evaluate":
        _, data_args, _ = job.args
        prompt, _, longest = _tokens(data_args, model, data_args.use_cot, assume)
        examples = data_args.max_eval_examples or assume.eval_batch
        return _evaluation_s(examples, prompt, longest, model, assume)
    if job.kind == "inference_cost":  # batch 1: a prefill and `new_tokens` steps per context
        (arguments,) = job.args
        step = model.layers * assume.decode_step_s_per_layer[model.architecture]
        return (
            sum(
                context / assume.train_tokens_per_s[model.architecture]
                + arguments.new_tokens * step
                for context in arguments.contexts
            )
            * 4
        )  # a warm-up and best of 3
    raise ValueError(f"unknown job kind {job.kind!r}")


@dataclass
class StudyHours:
    name: str
    runs: int  # runs this study adds (a run two studies share counts in the first)
    finetune_hours: float  # training runs, with their periodic evaluations
    evaluate_hours: float  # evaluation and measurement runs
    longest_hours: float = 0.0  # its longest single run

    @property
    def hours(self) -> float:
        return self.finetune_hours + self.evaluate_hours


def study_hours(studies: Sequence, scale, assume: Assumptions | None = None) -> list[StudyHours]:
    """GPU-hours per study of `scale`; a run shared by several studies counts in the first."""
    per_study = [(study.NAME, study.jobs(scale)) for study in studies]
    plan = {job.key: job for _, jobs in per_study for job in jobs}
    counted: set[str] = set()
    table = []
    for name, jobs in per_study:
        hours: dict[str, float] = defaultdict(float)
        runs, longest = 0, 0.0
        for job in jobs:
            if job.key in counted:
                continue
            counted.add(job.key)
            runs += 1
            kind = "finetune" if job.kind == "finetune" else "evaluate"
            spent = job_seconds(job, plan, assume) / 3600
            hours[kind] += spent
            longest = max(longest, spent)
        table.append(StudyHours(name, runs, hours["finetune"], hours["evaluate"], longest))
    return table


def hours_table(rows: list[StudyHours], gpus: Sequence[int] = (1, 8)) -> str:
    """The markdown table `--dry_run` prints and docs/GPU.md keeps."""
    lines = [
        "| study | runs | training runs, GPU-h | evaluation runs, GPU-h | total GPU-h |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.runs} | {row.finetune_hours:.1f} | {row.evaluate_hours:.1f} "
            f"| {row.hours:.1f} |"
        )
    total = sum(row.hours for row in rows)
    lines.append(
        f"| **all** | {sum(row.runs for row in rows)} | "
        f"{sum(row.finetune_hours for row in rows):.1f} | "
        f"{sum(row.evaluate_hours for row in rows):.1f} | **{total:.1f}** |"
    )
    longest = max((row.longest_hours for row in rows), default=0.0)
    walls = ", ".join(
        f"{max(total / count, longest):.1f} h on {count} GPU{'s' if count > 1 else ''}"
        for count in gpus
    )
    return "\n".join(lines) + (
        f"\n\nTraining runs include their evaluations every `eval_every` updates. Wall clock with "
        f"one run per GPU and perfect packing: {walls} (the longest run: "
        f"{longest * 60:.0f} min)."
    )


def describe_assumptions(assume: Assumptions | None = None) -> str:
    assume = assume or Assumptions()
    train, decode = assume.train_tokens_per_s, assume.decode_step_s_per_layer
    return (
        "Assumed (one A100/H100-class GPU, bf16; not measured): training "
        f"{train['mamba']:,.0f} tokens/s for the Mamba presets and {train['transformer']:,.0f} "
        f"for GPT-NeoX; a greedy decoding step of a batch of {assume.eval_batch} "
        f"{decode['mamba'] * 1e3:.1f} ms (Mamba) / {decode['transformer'] * 1e3:.1f} ms "
        f"(GPT-NeoX) per layer; large checkpoints at {assume.flops_per_s:.0e} FLOP/s; "
        f"{assume.hub_chars_per_token:g} characters per BPE token."
    )
