"""From task rows to training batches: completion-only labels, EOS, length-grouped padded batches.

A model is trained on `prompt` (no loss) followed by its target (`cot + answer`, or `answer` alone
without chain of thought) and the tokenizer's EOS (loss). Prompt and target are tokenized
separately, exactly as at generation time, where the model sees the prompt's tokens and must
produce the target's: a BPE tokenizer would otherwise merge across the boundary.
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerBase
from transformers.trainer_pt_utils import get_length_grouped_indices

IGNORE_INDEX = -100  # label of tokens that get no loss (prompt, padding)


def targets_of(rows: dict[str, list], use_cot: bool) -> list[str]:
    """What the model must generate after each prompt: `cot + answer`, or `answer` alone."""
    if use_cot:
        return [cot + answer for cot, answer in zip(rows["cot"], rows["answer"], strict=True)]
    return list(rows["answer"])


def tokenize_completions(
    tokenizer: PreTrainedTokenizerBase, prompts: list[str], targets: list[str]
) -> dict[str, list[list[int]]]:
    """input_ids = prompt + target + EOS; labels = -100 over the prompt, the ids elsewhere."""
    prompt_ids = tokenizer(prompts, add_special_tokens=True).input_ids
    target_ids = tokenizer(targets, add_special_tokens=False).input_ids
    eos = [tokenizer.eos_token_id]
    input_ids, labels = [], []
    for prompt, target in zip(prompt_ids, target_ids, strict=True):
        input_ids.append(prompt + target + eos)
        labels.append([IGNORE_INDEX] * len(prompt) + target + eos)
    return {"input_ids": input_ids, "labels": labels}


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
