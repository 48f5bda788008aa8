"""Configuration of the HGPO/GiGPO/GRPO trainer: one flat dataclass, loaded from YAML.

``load_config(path, overrides)`` reads a YAML mapping whose keys are the field
names of :class:`HGPOConfig`; unknown keys and wrong types are reported with
the list of valid keys. ``overrides`` are ``"key=value"`` strings (values parsed
as YAML), e.g. ``["iterations=3", "method=gigpo"]``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainers.advantages import METHODS, MODES
from trainers.configfile import coerce_value, parse_yaml_value, read_yaml_mapping
from trainers.distributed import PRECISIONS
from trainers.lora import LoraSettings
from trainers.sharding import VLLMSettings
from trainers.tracking import resolve_report_to


@dataclass
class HGPOConfig:
    """All settings of one training run (defaults follow the HGPO paper where it states them)."""

    # -- model and backend
    model: str = "tiny"  #: model folder / hub id; "tiny" builds trainers.models.build_tiny_model in the cache
    #: rollout backend: "hf" (generate with the training model), "vllm" (a colocated engine per process,
    #: weights synced) or "vllm_server" (one shared OpenAI-compatible vLLM server, weights pushed to it)
    backend: str = "hf"
    device: str | None = None  #: training device (default: cuda if available, else cpu)
    dtype: str | None = None  #: torch dtype name for loading (default: the checkpoint's)
    #: update precision: "auto" (bf16 autocast on GPUs that support it, else fp32), "bf16" (autocast, also on
    #: CPU: faster on CPUs with AVX512-BF16/AMX), "fp32"; the weights and the optimizer stay in ``dtype``
    precision: str = "auto"
    #: backend "vllm": tensor_parallel_size, data_parallel_size, gpu_memory_utilization, enable_sleep_mode
    #: of the colocated engine (one per process under a launch; trainers.sharding.VLLMSettings, docs/scaling.md)
    vllm: VLLMSettings = field(default_factory=VLLMSettings)
    vllm_kwargs: dict[str, Any] = field(default_factory=dict)  #: extra VLLMPolicy arguments (win over ``vllm``)
    #: backend "vllm_server": the server's API root (``http://host:8000/v1``; started with VLLM_SERVER_DEV_MODE=1)
    vllm_server_url: str | None = None
    #: backend "vllm_server": folder for weight pushes that the server can read (default: the system temp folder)
    vllm_server_weights_dir: str | None = None
    use_accelerate: bool = False  #: wrap model/optimizer with accelerate (multi-GPU data parallel)
    #: LoRA: train an adapter instead of all weights (the KL reference is the same model with the adapter off)
    lora: LoraSettings = field(default_factory=LoraSettings)

    # -- environment
    env_id: str = "ALFWorld-Text-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)  #: gym.make arguments for training
    train_tasks: list[Any] | None = None  #: task ids/indices to train on (None: the whole split)
    max_steps: int | None = None  #: agent steps per episode (None: the env's limit)
    num_envs: int = 8  #: env instances stepped in parallel during rollouts

    # -- advantage estimator
    method: str = "hgpo"  #: "grpo", "gigpo" or "hgpo"
    history_k: int = 4  #: K: context-hash levels and the prompt's history window
    alpha: float = 1.0
    gamma: float = 0.95
    omega: float = 1.0
    mode: str = "mean_std_norm"
    invalid_penalty: float = 0.1
    level_offset: int = 0
    drop_zero: bool = False
    episode_term: bool = False

    # -- rollouts
    group_size: int = 8  #: G rollouts per task (same task and reset seed)
    tasks_per_iteration: int = 2
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128

    # -- optimisation
    iterations: int = 100
    lr: float = 1e-6
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.2
    kl_coef: float = 0.01  #: weight of the k3 KL to the frozen reference (0 disables the reference)
    ppo_epochs: int = 1
    mini_batch_size: int | None = None  #: step samples per optimizer step (None: all of the iteration)
    micro_batch_size: int = 8  #: step samples per forward/backward (gradient accumulation inside a mini batch)
    max_length: int | None = 4096  #: tokens per step sample (longer ones are cut, losing completion tokens)
    skip_zero_advantage: bool = False  #: drop step samples whose advantage is exactly 0 (KL-only samples)
    gradient_checkpointing: bool = False  #: trade compute for memory in the update (large models)

    # -- evaluation, checkpoints, logging
    eval_every: int = 0  #: iterations between evaluations (0: never)
    eval_episodes: int | None = 20
    eval_env_kwargs: dict[str, Any] | None = None  #: default: env_kwargs
    save_every: int = 10
    keep_checkpoints: int = 2
    run_dir: str = "runs/hgpo"
    #: experiment tracking: none, tensorboard, wandb, trackio (comma-separated), or all installed ones;
    #: TensorBoard writes to <run_dir>/tracking/hgpo (trainers.tracking)
    report_to: str = "none"
    seed: int = 0
    progress: bool = True

    def validate(self) -> HGPOConfig:
        """Check values; raises ``ValueError`` naming the field."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.backend not in ("hf", "vllm", "vllm_server"):
            raise ValueError(f"backend must be 'hf', 'vllm' or 'vllm_server', got {self.backend!r}")
        if self.backend == "vllm_server" and not self.vllm_server_url:
            raise ValueError("backend 'vllm_server' needs vllm_server_url (e.g. http://127.0.0.1:8000/v1)")
        positive = ("group_size", "tasks_per_iteration", "max_new_tokens", "micro_batch_size", "ppo_epochs", "num_envs")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if self.history_k < 0:
            raise ValueError(f"history_k must be >= 0, got {self.history_k}")
        if self.mini_batch_size is not None and self.mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1 or null, got {self.mini_batch_size}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {self.kl_coef}")
        resolve_report_to(self.report_to)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 for on-policy RL (sampling, not greedy decoding)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def advantage_options(self) -> dict[str, Any]:
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


FIELDS = {f.name: f for f in dataclasses.fields(HGPOConfig)}


def _check_type(name: str, value: Any) -> Any:
    annotation = str(FIELDS[name].type)
    if annotation.startswith("LoraSettings") and value is not None:
        return LoraSettings.from_value(value, name)
    if annotation.startswith("VLLMSettings") and value is not None:
        return VLLMSettings.from_value(value, name)
    return coerce_value(annotation, value, name)


def config_from_dict(data: Mapping[str, Any]) -> HGPOConfig:
    """Build and validate a config from a mapping of field names."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; valid keys: {', '.join(sorted(FIELDS))}")
    values = {k: _check_type(k, v) for k, v in data.items()}
    return HGPOConfig(**values).validate()


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict (values parsed as YAML: numbers, booleans, lists, null)."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        key, raw = item.split("=", 1)
        out[key.strip()] = parse_yaml_value(raw, f"override {item!r}")
    return out


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] | Mapping[str, Any] = ()) -> HGPOConfig:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data.update(read_yaml_mapping(path, "assets/configs/hgpo_*.yaml"))
    for key, value in (dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)).items():
        *sections, last = key.split(".")  # "lora.enabled=true" sets a key of a mapping field
        node = data
        for part in sections:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {key!r}: {part!r} is not a mapping")
        node[last] = value
    return config_from_dict(data)


__all__ = ["HGPOConfig", "config_from_dict", "load_config", "parse_overrides"]
