"""Process bookkeeping for runs started by ``accelerate launch`` (or ``torchrun``).

A plain ``python`` run is one process and none of this initialises anything. Under
``accelerate launch`` every process runs the same script; these helpers decide which
process writes shared files and make the others wait for it. The process group itself
is set up by accelerate's :class:`~accelerate.PartialState` (gloo on CPU, NCCL on GPUs,
DeepSpeed's own when the launch config asks for DeepSpeed), the same one that
``Accelerator``/``SFTTrainer`` use later.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def world_size() -> int:
    """Number of processes of this run (``WORLD_SIZE`` set by the launcher, else 1)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main_process() -> bool:
    """True in the process of global rank 0 (and in any single-process run)."""
    return int(os.environ.get("RANK", "0")) == 0


def deepspeed_launch() -> bool:
    """True when ``accelerate launch`` was given a DeepSpeed config (``ACCELERATE_USE_DEEPSPEED``).

    Accelerate only turns DeepSpeed on when it is not told ``cpu=True``, so a CPU-only
    run under DeepSpeed must not pass that flag (DeepSpeed picks its CPU accelerator).
    """
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def process_group_backend() -> str | None:
    """The backend to ask accelerate for under DeepSpeed, or ``None`` for its own choice.

    For DeepSpeed on a machine without GPUs accelerate picks no backend (and every
    process thinks it is alone), so that case asks for gloo, the backend of DeepSpeed's
    CPU accelerator.
    """
    import torch

    return "gloo" if deepspeed_launch() and not torch.cuda.is_available() else None


def partial_state():
    """accelerate's process state, set up the way the training stages will use it.

    GPUs: accelerate's defaults (NCCL). No GPU: DeepSpeed over gloo under a DeepSpeed
    launch, otherwise CPU data parallelism (``MULTI_CPU``, gloo), the same state that
    ``Accelerator(cpu=True)`` and ``TrainingArguments(use_cpu=True)`` create.
    """
    import torch
    from accelerate import PartialState

    backend = process_group_backend()
    if backend:
        return PartialState(backend=backend)
    return PartialState() if torch.cuda.is_available() else PartialState(cpu=True)


def barrier() -> None:
    """Wait until every process gets here (a no-op in a single-process run)."""
    if is_distributed():
        partial_state().wait_for_everyone()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block in the main process first, then in the others (e.g. build a shared file once)."""
    if not is_distributed():
        yield
        return
    if not is_main_process():
        barrier()
    yield
    if is_main_process():
        barrier()


#: training precisions of the trainers' ``precision`` settings
PRECISIONS = ("auto", "bf16", "fp32")


def use_bf16(precision: str, device: str, key: str = "precision") -> bool:
    """Whether a training stage on ``device`` runs in bf16 mixed precision.

    ``auto``: on GPUs that support it; ``bf16``: also on CPU (autocast; faster on CPUs with
    AVX512-BF16/AMX); ``fp32``: never. ``key`` names the config key in errors.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"{key} must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    bf16 = precision == "bf16"
    if bf16 and device == "cpu" and deepspeed_launch():
        raise ValueError(
            f"{key} bf16 on CPU does not work under DeepSpeed (transformers refuses it); use {key}: fp32 or auto"
        )
    return bf16
