"""Checkpoints of a run: ``RUN/checkpoints/iter_NNNNNN/`` (model, tokenizer, optimizer, RNG, state).

A checkpoint folder is written under a temporary name and renamed into place
when complete, so every ``iter_*`` folder can be loaded; older ones beyond
``keep`` are deleted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent_gym.fileio import atomic_dir

STATE_FILE = "trainer_state.json"


def checkpoint_dir(run_dir: str | os.PathLike, iteration: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"iter_{iteration:06d}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.glob("iter_*") if p.is_dir() and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def save_checkpoint(
    run_dir: str | os.PathLike,
    iteration: int,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer | None,
    state: Mapping[str, Any],
    keep: int = 2,
    merge: bool = False,
) -> Path:
    """Write ``iter_<iteration>`` atomically and prune old checkpoints; returns its path.

    A LoRA model is saved as its adapter (plus the merged full model in ``merged/`` with ``merge``).
    """
    from trainers.lora import write_model

    final = checkpoint_dir(run_dir, iteration)
    with atomic_dir(final) as tmp:  # hidden name: list_checkpoints never sees a half-written folder
        write_model(model, tokenizer, tmp, merge=merge)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(
            {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
            tmp / "rng.pt",
        )
        (tmp / STATE_FILE).write_text(json.dumps(dict(state, iteration=iteration), indent=2, default=str))
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(ckpt: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(ckpt) / STATE_FILE).read_text())


def load_optimizer_and_rng(ckpt: str | os.PathLike, optimizer: torch.optim.Optimizer | None) -> None:
    """Restore optimizer state (if saved) and the Python/NumPy/torch RNG states."""
    ckpt = Path(ckpt)
    if optimizer is not None and (ckpt / "optimizer.pt").exists():
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=False))
    if (ckpt / "rng.pt").exists():
        rng = torch.load(ckpt / "rng.pt", map_location="cpu", weights_only=False)
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])


__all__ = [
    "checkpoint_dir",
    "latest_checkpoint",
    "list_checkpoints",
    "load_optimizer_and_rng",
    "read_state",
    "save_checkpoint",
]
