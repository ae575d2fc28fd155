"""One Accelerator for every entry point, which also works for several processes on a CPU machine.

`accelerate launch --multi_gpu --num_processes 2` (or torchrun) on a machine without GPUs starts the
processes but Accelerate only joins them (gloo, `MULTI_CPU`) when told to use the CPU; otherwise
each process would train alone and they would overwrite each other's output. (`accelerate launch
--cpu --num_processes 2` starts a single process unless mpirun is configured: accelerate#2741.)
"""

from __future__ import annotations

import os

import torch
from accelerate import Accelerator


def has_accelerator_device() -> bool:
    if hasattr(torch, "accelerator"):
        return torch.accelerator.is_available()
    return torch.cuda.is_available()


def launched_on_cpu_processes() -> bool:
    """Several processes launched (WORLD_SIZE > 1) on a machine without an accelerator device."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not has_accelerator_device()


def make_accelerator(**kwargs) -> Accelerator:
    """`Accelerator(**kwargs)`, joined over gloo when several processes run on CPUs."""
    if launched_on_cpu_processes():
        kwargs.setdefault("cpu", True)
    return Accelerator(**kwargs)
