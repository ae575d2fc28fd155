"""From task rows to training batches: completion-only labels, EOS, length-grouped padded batches.

A model is trained on `prompt` (no loss) followed by its target (`cot + answer`, or `answer` alone
without chain of thought) and the tokenizer's EOS (loss). Prompt and target are tokenized
separately, exactly as at generation time, where the model sees the prompt's tokens and must
produce the target's: a BPE tokenizer would otherwise merge across the boundary. A task that
streams input into the completion (`TaskSpec.completion`) gives it as segments, each tokenized
on its own; the given ones get no loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.utils.data import Sampler
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerBase
from transformers.trainer_pt_utils import get_length_grouped_indices

from hf_copycot import tasks

IGNORE_INDEX = -100  # label of tokens that get no loss (prompt, padding)


Segments = list[tuple[str, bool]]  # (text, given): given text is read by the model, not written


def _spec_of(rows: Mapping[str, Sequence]) -> tasks.TaskSpec | None:
    names = rows.get("task")
    return tasks.SPECS.get(names[0]) if names is not None and len(names) else None


def completions_of(rows: Mapping[str, Sequence], use_cot: bool) -> list[Segments]:
    """What follows each prompt, as (text, given) segments: one written segment (`cot + answer`,
    or `answer` alone) unless the task streams input into it (`TaskSpec.completion`)."""
    spec = _spec_of(rows)
    if spec is None or spec.completion is None:
        if use_cot:
            texts = [cot + answer for cot, answer in zip(rows["cot"], rows["answer"], strict=True)]
        else:
            texts = list(rows["answer"])
        return [[(text, False)] for text in texts]
    return [spec.completion(row, use_cot) for row in tasks.records(rows)]


def targets_of(rows: Mapping[str, Sequence], use_cot: bool) -> list[str]:
    """The whole text after each prompt (given segments included): what a right greedy decode
    produces, and what the metric's predictions look like."""
    return ["".join(text for text, _ in segments) for segments in completions_of(rows, use_cot)]


def tokenize_completions(
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    completions: Sequence[str | Segments],
) -> dict[str, list[list[int]]]:
    """input_ids = prompt + completion + EOS; labels = -100 over the prompt and given segments.

    A completion is a string (all written by the model) or (text, given) segments, each tokenized
    on its own, as evaluation feeds and generates them (one tokenizer call for the whole batch).
    """
    prompt_ids = tokenizer(prompts, add_special_tokens=True).input_ids
    rows = [[(c, False)] if isinstance(c, str) else c for c in completions]
    flat = tokenizer(
        [text for segments in rows for text, _ in segments], add_special_tokens=False
    ).input_ids
    eos = [tokenizer.eos_token_id]
    input_ids, labels, k = [], [], 0
    for prompt, segments in zip(prompt_ids, rows, strict=True):
        ids, target_labels = list(prompt), [IGNORE_INDEX] * len(prompt)
        for _, given in segments:
            ids += flat[k]
            target_labels += [IGNORE_INDEX] * len(flat[k]) if given else flat[k]
            k += 1
        input_ids.append(ids + eos)
        labels.append(target_labels + eos)
    return {"input_ids": input_ids, "labels": labels}


def forced_tokens(tokenizer: PreTrainedTokenizerBase, segments: Segments) -> dict[int, int]:
    """{offset after the prompt: token id} of every given token, for generation to feed."""
    pieces = tokenizer([text for text, _ in segments], add_special_tokens=False).input_ids
    forced, offset = {}, 0
    for (_, given), ids in zip(segments, pieces, strict=True):
        if given:
            forced.update({offset + k: token for k, token in enumerate(ids)})
        offset += len(ids)
    return forced


def completion_collator(
    tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None = None
) -> DataCollatorForSeq2Seq:
    """Right-pads input_ids (pad id), attention_mask (0) and labels (-100) to the batch's longest."""
    tokenizer.padding_side = "right"
    return DataCollatorForSeq2Seq(
        tokenizer,
        padding="longest",
        label_pad_token_id=IGNORE_INDEX,
        pad_to_multiple_of=pad_to_multiple_of,
        return_tensors="pt",
    )


class LengthGroupedEpochSampler(Sampler[int]):
    """transformers' length grouping (shuffle, mega-batches sorted by length), reseeded per epoch.

    Consecutive runs of `batch_size` indices have similar lengths, so batches carry little padding;
    under Accelerate each process takes whole batches, which keeps the grouping. The order is a
    function of (seed, epoch) only, so a resumed run replays it exactly.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:  # called by Accelerate's data loader
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))
