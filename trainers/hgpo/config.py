"""Configuration of the HGPO/GiGPO/GRPO trainer: sections on the shared base, loaded from YAML.

:class:`HGPOConfig` extends :class:`trainers.config_sections.RunConfig` (``method``,
``run_dir``, ``seed``, ``device``, ``report_to``, ``env``, ``policy``, ``lora``; the same
sections as HPL) with ``advantage`` (the estimator) and ``rl`` (rollout groups and the
PPO-clip optimisation), plus the schedule keys at the top level. ``policy.history_window``
is the grouping depth K as well as the prompt's history window.

``load_config(path, overrides)`` is the one loader of both trainers
(:func:`trainers.configfile.load_config`); ``overrides`` are ``"section.key=value"``
strings (values parsed as YAML), e.g. ``["rl.iterations=3", "method=gigpo"]``. An old
flat key (``lr``, ``env_kwargs``, ``history_k``, ...) is refused with its new name
(:data:`RENAMES`). ``python -m scripts.hgpo --help-config`` lists every key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from trainers import configfile
from trainers.advantages import METHODS, MODES
from trainers.config_sections import SHARED_RENAMES, PolicyConfig, RunConfig
from trainers.configfile import build_config, setting
from trainers.distributed import PRECISIONS

BACKENDS = ("hf", "vllm", "vllm_server")


@dataclass
class HGPOPolicyConfig(PolicyConfig):
    """The policy being trained: model, rollout backend, sampling and prompt."""

    backend: str = setting(
        "hf",
        help="rollout backend: hf (generate with the training model), vllm (a colocated engine per process, "
        "weights synced) or vllm_server (one shared OpenAI-compatible vLLM server, weights pushed to it)",
    )
    history_window: int | None = setting(
        4, help="K: the context-hash depth of the grouping and the prompt's history window (past steps shown)"
    )
    vllm_server_url: str | None = setting(
        None,
        help="backend vllm_server: the server's API root (http://host:8000/v1; started with VLLM_SERVER_DEV_MODE=1)",
    )
    vllm_server_weights_dir: str | None = setting(
        None, help="backend vllm_server: a folder the server can read for weight pushes (null: the system temp folder)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backend not in BACKENDS:
            raise ValueError(f"policy.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "vllm_server" and not self.vllm_server_url:
            raise ValueError(
                "policy.backend 'vllm_server' needs policy.vllm_server_url (e.g. http://127.0.0.1:8000/v1)"
            )
        if self.history_window is None:
            raise ValueError("policy.history_window is K, the grouping depth of HGPO: give an integer >= 0")
        if self.temperature <= 0:
            raise ValueError("policy.temperature must be > 0 for on-policy RL (sampling, not greedy decoding)")


@dataclass
class AdvantageConfig:
    """The advantage estimator (trainers.advantages.compute_advantages); the method is the top-level ``method``."""

    alpha: float = setting(1.0, help="HGPO: level weights w_k = (k + 1 + level_offset) ** alpha")
    gamma: float = setting(0.95, help="discount of the step returns")
    omega: float = setting(
        1.0, help="GiGPO (and HGPO with episode_term): weight of the step term beside the episode term"
    )
    mode: str = setting("mean_std_norm", help=f"group normalisation: {', '.join(MODES)}")
    invalid_penalty: float = setting(0.1, help="reward subtracted for an invalid action")
    level_offset: int = setting(0, help="HGPO: added to the level index in the weights (1: the reference code's)")
    drop_zero: bool = setting(False, help="HGPO: skip levels whose advantage is exactly 0 (true: the reference code)")
    episode_term: bool = setting(False, help="HGPO: add the GRPO episode term and scale the hierarchy by omega")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"advantage.mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"advantage.gamma must be in [0, 1], got {self.gamma}")

    def options(self) -> dict[str, Any]:
        """Keyword options for :func:`trainers.advantages.compute_advantages`."""
        return {
            "gamma": self.gamma,
            "alpha": self.alpha,
            "omega": self.omega,
            "mode": self.mode,
            "invalid_penalty": self.invalid_penalty,
            "level_offset": self.level_offset,
            "drop_zero": self.drop_zero,
            "episode_term": self.episode_term,
        }


@dataclass
class RLConfig:
    """Rollout groups and the PPO-clip optimisation (defaults follow the HGPO paper where it states them)."""

    iterations: int = setting(100, help="training iterations (rollouts + update)")
    group_size: int = setting(8, help="G: rollouts per task (same task and reset seed)")
    tasks_per_iteration: int = setting(2, help="tasks drawn per iteration (seeded by seed and iteration)")
    learning_rate: float = setting(1e-6, help="AdamW learning rate")
    weight_decay: float = setting(0.0, help="AdamW weight decay")
    max_grad_norm: float = setting(1.0, help="clip the global gradient norm")
    clip_ratio_low: float = setting(0.2, help="PPO clip: lower ratio bound 1 - clip_ratio_low")
    clip_ratio_high: float = setting(0.2, help="PPO clip: upper ratio bound 1 + clip_ratio_high")
    kl_coef: float = setting(0.01, help="weight of the k3 KL to the frozen initial model (0: no reference)")
    ppo_epochs: int = setting(1, help="passes over an iteration's samples")
    mini_batch_size: int | None = setting(None, help="step samples per optimizer step (null: all of the iteration)")
    micro_batch_size: int = setting(8, help="step samples per forward/backward (gradient accumulation)")
    max_length: int | None = setting(
        4096, help="tokens per step sample (longer ones are cut, losing completion tokens)"
    )
    skip_zero_advantage: bool = setting(False, help="drop step samples whose advantage is exactly 0 (KL-only samples)")
    gradient_checkpointing: bool = setting(False, help="trade compute for memory in the update (large models)")
    precision: str = setting(
        "auto",
        help="update precision: auto (bf16 autocast on GPUs that support it, else fp32), bf16 (autocast, also on CPU: "
        "faster on CPUs with AVX512-BF16/AMX), fp32; the weights and the optimizer stay in policy.dtype",
    )

    def __post_init__(self) -> None:
        for name in ("group_size", "tasks_per_iteration", "micro_batch_size", "ppo_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"rl.{name} must be >= 1, got {getattr(self, name)}")
        if self.iterations < 0:
            raise ValueError(f"rl.iterations must be >= 0, got {self.iterations}")
        if self.mini_batch_size is not None and self.mini_batch_size < 1:
            raise ValueError(f"rl.mini_batch_size must be >= 1 or null, got {self.mini_batch_size}")
        if self.learning_rate <= 0:
            raise ValueError(f"rl.learning_rate must be > 0, got {self.learning_rate}")
        if self.kl_coef < 0:
            raise ValueError(f"rl.kl_coef must be >= 0, got {self.kl_coef}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"rl.max_length must be >= 1 or null, got {self.max_length}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"rl.precision must be one of {PRECISIONS}, got {self.precision!r}")


_ADVANTAGE_KEYS = ("alpha", "gamma", "omega", "mode", "invalid_penalty", "level_offset", "drop_zero", "episode_term")
_RL_KEYS = (
    "iterations",
    "group_size",
    "tasks_per_iteration",
    "weight_decay",
    "max_grad_norm",
    "clip_ratio_low",
    "clip_ratio_high",
    "kl_coef",
    "ppo_epochs",
    "mini_batch_size",
    "micro_batch_size",
    "max_length",
    "skip_zero_advantage",
    "gradient_checkpointing",
    "precision",
)

#: The flat keys of earlier HGPO configs (and a few misspellings) -> their names now.
RENAMES: dict[str, str] = {
    **SHARED_RENAMES,
    "vllm_server_url": "policy.vllm_server_url",
    "vllm_server_weights_dir": "policy.vllm_server_weights_dir",
    **{k: f"advantage.{k}" for k in _ADVANTAGE_KEYS},
    **{k: f"rl.{k}" for k in _RL_KEYS},
    "lr": "rl.learning_rate",
    "learning_rate": "rl.learning_rate",
    "rl.lr": "rl.learning_rate",
}


@dataclass
class HGPOConfig(RunConfig):
    """All settings of one HGPO/GiGPO/GRPO training run."""

    method: str = setting("hgpo", help=f"advantage estimator: {', '.join(METHODS)}")
    run_dir: str = setting("runs/hgpo", help="the run folder: metrics.jsonl, checkpoints/, eval/ (resumable)")
    policy: HGPOPolicyConfig = setting(factory=HGPOPolicyConfig, help="the policy: model, rollouts and prompt")
    advantage: AdvantageConfig = setting(factory=AdvantageConfig, help="the advantage estimator")
    rl: RLConfig = setting(factory=RLConfig, help="rollout groups and the PPO-clip optimisation")
    use_accelerate: bool = setting(False, help="wrap model and optimizer with accelerate (multi-GPU data parallel)")
    eval_every: int = setting(0, help="iterations between greedy evaluations on env.eval_tasks (0: never)")
    save_every: int = setting(10, help="iterations between checkpoints (the last iteration is always saved)")
    keep_checkpoints: int = setting(2, help="checkpoints kept in <run_dir>/checkpoints")
    progress: bool = setting(True, help="show a progress bar")

    RENAMED: ClassVar[dict[str, str]] = RENAMES

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("eval_every", "save_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")

    @property
    def history_window(self) -> int:
        """K (``policy.history_window``, checked to be set)."""
        assert self.policy.history_window is not None  # HGPOPolicyConfig.__post_init__
        return self.policy.history_window

    def to_dict(self) -> dict[str, Any]:
        return configfile.config_to_dict(self)


def config_from_dict(data: Mapping[str, Any] | None) -> HGPOConfig:
    """Build and validate a config from a (nested) mapping with the shared loader."""
    return build_config(HGPOConfig, data)


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] | Mapping[str, Any] = ()) -> HGPOConfig:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    return configfile.load_config(HGPOConfig, path, overrides, examples="assets/configs/hgpo_*.yaml")


__all__ = [
    "RENAMES",
    "AdvantageConfig",
    "HGPOConfig",
    "HGPOPolicyConfig",
    "RLConfig",
    "config_from_dict",
    "load_config",
]
