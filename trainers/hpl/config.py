"""HPL run configuration: one dataclass tree on the shared base, loaded from YAML with dotted overrides.

:class:`HPLConfig` extends :class:`trainers.config_sections.RunConfig` (``method``, ``run_dir``,
``seed``, ``device``, ``report_to``, ``env``, ``policy``, ``lora``) with the stages' sections
``expert``, ``sft``, ``explore`` and ``dpo``. :func:`load_config` is the one loader of both
trainers (:func:`trainers.configfile.load_config`); ``python -m scripts.hpl --help-config``
lists every key. See docs/config.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from trainers import configfile
from trainers.config_sections import SHARED_RENAMES, PolicyConfig, RunConfig
from trainers.configfile import build_config, setting
from trainers.distributed import PRECISIONS

TINY_KEYS = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "vocab_size", "fit_tokenizer")


@dataclass
class HPLPolicyConfig(PolicyConfig):
    """pi_ref: the base model, its generation (exploration samples, evaluation is greedy) and prompt."""

    tiny: dict[str, Any] = setting(
        factory=dict,
        help="with model 'tiny': its size (hidden_size, num_layers, num_heads, intermediate_size, vocab_size) and "
        "fit_tokenizer (train its BPE tokenizer on the demonstrations too)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = sorted(set(self.tiny) - set(TINY_KEYS))
        if bad:
            raise ValueError(f"unknown policy.tiny keys {bad}; known: {list(TINY_KEYS)}")


SFT_PRECISIONS = PRECISIONS  # trainers.distributed.PRECISIONS
EXPERT_SOURCES = ("oracle", "teacher")


@dataclass
class ExpertConfig:
    """Where D_expert comes from: the env's oracle (default) or a teacher policy."""

    source: str = setting("oracle", help="oracle (the env's expert) or teacher (a policy, filtered by reward)")
    teacher_backend: str = setting("openai", help="source teacher: the trainers.policies backend of the teacher")
    teacher_model: str = setting("", help="source teacher: the teacher's model name")
    teacher_kwargs: dict[str, Any] = setting(factory=dict, help="source teacher: extra arguments of the teacher policy")
    min_reward: float | None = setting(
        None, help="keep a demonstration when its reward >= this (null: 1.0 for ALFWorld/SQL, > 0.8 for WebShop)"
    )

    def __post_init__(self) -> None:
        if self.source not in EXPERT_SOURCES:
            raise ValueError(f"expert.source must be one of {EXPERT_SOURCES}, got {self.source!r}")


@dataclass
class SFTConfig:
    """Behaviour cloning on D_expert (paper: learning rate 1e-5, cosine, warmup 0.1, 3 epochs, batch 32)."""

    learning_rate: float = setting(1e-5, help="peak learning rate")
    epochs: float = setting(3.0, help="epochs over D_expert")
    batch_size: int = setting(32, help="sequences per optimizer step (all processes together)")
    warmup_ratio: float = setting(0.1, help="fraction of the steps with a linear warmup")
    scheduler: str = setting("cosine", help="learning-rate schedule (transformers' lr_scheduler_type)")
    max_length: int = setting(6000, help="tokens per training sequence (longer ones are cut)")
    micro_batch_size: int = setting(4, help="sequences per forward/backward; gradient accumulation makes up batch_size")
    max_grad_norm: float | None = setting(1.0, help="clip the global gradient norm (null: no clipping)")
    rft_epochs: float = setting(1.0, help="RFT: further epochs on D_expert + pi_ref's successes, starting from pi_ref")
    precision: str = setting(
        "auto",
        help="auto (bf16 mixed precision on GPUs that support it, fp32 on CPU), bf16 (also on CPU), fp32",
    )

    def __post_init__(self) -> None:
        if self.precision not in SFT_PRECISIONS:
            raise ValueError(f"sft.precision must be one of {SFT_PRECISIONS}, got {self.precision!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"sft.learning_rate must be > 0, got {self.learning_rate}")
        for name in ("batch_size", "micro_batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"sft.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class ExploreConfig:
    """One-shot exploration with pi_ref (no training in between)."""

    mc_rollouts: int = setting(5, help="M: pi_ref rollouts per Monte-Carlo reward")
    step_rollouts: int = setting(1, help="pi_ref completions per step-level branch (each one a rejected candidate)")
    step_reward: str = setting(
        "mc", help="expert step value: mc (M pi_ref rollouts after its action, as IPR) or outcome"
    )
    step_stride: int = setting(1, help="branch at every k-th expert step")
    segmenter: str = setting("fixed_k", help="group segmenter: fixed_n, fixed_k, uncertainty, semantic")
    segmenter_args: dict[str, Any] = setting(factory=dict, help="segmenter arguments: n, k, percentile, retries")
    semantic_model: str = setting("", help="model of the semantic segmenter ('': pi_ref itself)")
    min_gap: float = setting(0.0, help="keep pairs whose reward gap is > min_gap")
    demos: int = setting(0, help="explore from the first N demonstrations only (0: all); BC uses every one")

    def __post_init__(self) -> None:
        if self.demos < 0:
            raise ValueError(f"explore.demos must be >= 0 (0: all demonstrations), got {self.demos}")
        if self.step_reward not in ("mc", "outcome"):
            raise ValueError(f"explore.step_reward must be 'mc' or 'outcome', got {self.step_reward!r}")
        for name in ("mc_rollouts", "step_rollouts", "step_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"explore.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class DPOConfig:
    """The composite objective (paper: beta 0.3, learning rate 3e-6 ALFWorld / 1e-6 others, 1 epoch, batch 32)."""

    beta: float = setting(0.3, help="DPO temperature of every preference level")
    learning_rate: float | None = setting(None, help="peak learning rate (null: the paper's for the env family)")
    epochs: float = setting(1.0, help="epochs over the pairs")
    batch_size: int = setting(32, help="examples per optimizer step (all processes together)")
    micro_batch_size: int = setting(4, help="examples per forward/backward (also the reference log-prob batch)")
    max_length: int = setting(6000, help="tokens per sequence (longer pairs are dropped)")
    weights: dict[str, float] = setting(factory=dict, help="override the method's loss weights {bc, traj, step, group}")
    curriculum: str | None = setting(None, help="override the method's curriculum (static, length, difficulty, ...)")
    length_thresholds: list[int] | None = setting(
        None, help="group-length bucket thresholds (null: the paper's for the env family)"
    )
    warmup_ratio: float = setting(0.1, help="fraction of the steps with a linear warmup")
    max_grad_norm: float | None = setting(1.0, help="clip the global gradient norm (null: no clipping)")
    precision: str = setting(
        "auto", help="as sft.precision, for the reference log-probs and the composite objective (torch autocast)"
    )

    def __post_init__(self) -> None:
        if self.precision not in SFT_PRECISIONS:
            raise ValueError(f"dpo.precision must be one of {SFT_PRECISIONS}, got {self.precision!r}")
        if self.beta <= 0:
            raise ValueError(f"dpo.beta must be > 0, got {self.beta}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ValueError(f"dpo.learning_rate must be > 0 or null, got {self.learning_rate}")
        for name in ("batch_size", "micro_batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"dpo.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class HPLConfig(RunConfig):
    """A whole HPL run: ``method`` picks SFT, RFT, ETO, IPR, HPL or an ablation (``trainers.hpl.methods``)."""

    method: str = setting("hpl", help="sft, rft, eto, ipr, hpl or an ablation (python -m scripts.hpl --list-methods)")
    run_dir: str = setting("runs/hpl", help="the run folder; each stage's outputs and state.json (resumable)")
    policy: HPLPolicyConfig = setting(factory=HPLPolicyConfig, help="pi_ref: model, generation and prompt")
    expert: ExpertConfig = setting(factory=ExpertConfig, help="where the demonstrations come from")
    sft: SFTConfig = setting(factory=SFTConfig, help="behaviour cloning (the SFT and RFT stages)")
    explore: ExploreConfig = setting(factory=ExploreConfig, help="one-shot exploration with pi_ref")
    dpo: DPOConfig = setting(factory=DPOConfig, help="the composite preference objective")
    evaluate: bool = setting(True, help="run the evaluate stage (greedy episodes on env.eval_tasks)")

    #: old or misplaced keys -> their names (the loader names the new one; docs/config.md)
    RENAMED: ClassVar[dict[str, str]] = {
        **SHARED_RENAMES,
        "sft.lr": "sft.learning_rate",
        "dpo.lr": "dpo.learning_rate",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        from trainers.hpl.methods import get_method

        get_method(self.method)


def config_from_dict(data: Mapping[str, Any] | None) -> HPLConfig:
    """Build an :class:`HPLConfig` with the shared loader (:func:`trainers.configfile.build_config`):
    unknown or renamed keys and wrong types raise ``ValueError`` naming the key."""
    return build_config(HPLConfig, data)


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] | Mapping[str, Any] = ()) -> HPLConfig:
    """Read a YAML config (or the defaults when ``path`` is None) and apply ``a.b=value`` overrides."""
    return configfile.load_config(HPLConfig, path, overrides, examples="assets/configs/hpl_*.yaml")


def env_family(env_id: str) -> str:
    """``alfworld``, ``webshop`` or ``sql`` from an env id."""
    low = env_id.lower()
    if "alfworld" in low:
        return "alfworld"
    if "webshop" in low:
        return "webshop"
    if "sql" in low or "intercode" in low:
        return "sql"
    return "other"


PAPER_DPO_LR = {"alfworld": 3e-6, "webshop": 1e-6, "sql": 1e-6}


def success_threshold(cfg: HPLConfig) -> tuple[float, bool]:
    """``(value, strict)``: a demo is kept when reward >= value (or > value when strict)."""
    if cfg.expert.min_reward is not None:
        return float(cfg.expert.min_reward), False
    if env_family(cfg.env.env_id) == "webshop":
        return 0.8, True
    return 1.0, False
