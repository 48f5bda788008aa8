"""HGPO / GiGPO / GRPO: online group RL for multi-turn agents (see ``docs/hgpo.md``).

* :class:`HGPOConfig`, :func:`load_config`: settings (YAML).
* :class:`HGPOTrainer`, :func:`train`: the training loop.
* :func:`trainers.advantages.compute_advantages`: the estimators (pure NumPy).

Importing this package does not import torch/transformers; the trainer does.
"""

from __future__ import annotations

from typing import Any

from trainers.hgpo.config import HGPOConfig, config_from_dict, load_config


def __getattr__(name: str) -> Any:
    if name in ("HGPOTrainer", "train"):
        from trainers.hgpo import trainer

        return getattr(trainer, name)
    raise AttributeError(name)


__all__ = ["HGPOConfig", "HGPOTrainer", "config_from_dict", "load_config", "train"]
