"""HPL run configuration: one dataclass tree, loaded from YAML with dotted overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_gym.paths import resolve_config
from trainers.configfile import coerce_value, parse_yaml_value, read_yaml_mapping
from trainers.distributed import PRECISIONS
from trainers.lora import LoraSettings
from trainers.sharding import VLLMSettings
from trainers.tracking import resolve_report_to

TASK_SELECTIONS = ("stratified", "random", "first")


@dataclass
class EnvConfig:
    """Which environment and tasks. ``kwargs`` go to ``gym.make`` (``data_dir``, ``split``...)."""

    env_id: str = "ALFWorld-Text-v0"
    kwargs: dict[str, Any] = field(default_factory=dict)
    eval_kwargs: dict[str, Any] = field(default_factory=dict)  # merged over kwargs for evaluation
    max_episode_steps: int | None = None  # None: the env id's registered default (agent_gym.registration)
    task_pattern: str = ""  # keep only task ids matching this regex (re.search), e.g. "^pick_and_place_simple"
    train_tasks: int = 8  # N tasks of the training split, chosen by task_selection (0: all)
    eval_tasks: int = 8  # N tasks of the eval split, chosen by task_selection (0: all)
    #: "stratified": seeded (run seed), the same number from each task type (env.task_type_of);
    #: "random": seeded, ignoring types; "first": the first N sorted ids
    task_selection: str = "stratified"
    num_envs: int = 4  # parallel env instances; generation is batched across them

    def __post_init__(self) -> None:
        if self.task_selection not in TASK_SELECTIONS:
            raise ValueError(f"env.task_selection must be one of {TASK_SELECTIONS}, got {self.task_selection!r}")
        for name in ("train_tasks", "eval_tasks"):
            if getattr(self, name) < 0:
                raise ValueError(f"env.{name} must be >= 0 (0: all tasks), got {getattr(self, name)}")


TINY_KEYS = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "vocab_size", "fit_tokenizer")


@dataclass
class PolicyConfig:
    """The base model and generation settings of pi_ref."""

    model: str = "tiny"  # a HF model folder/name, or "tiny" (trainers.models.build_tiny_model)
    backend: str = "hf"
    temperature: float = 1.0  # exploration sampling; evaluation is greedy
    top_p: float = 1.0
    max_new_tokens: int = 48
    history_window: int | None = None  # prompt history window (None: whole episode)
    instruction: str | None = None  # replaces the env's ReAct instruction (system message) when set
    #: extra arguments of the exploration/evaluation policy (trainers.policies.make_policy), e.g.
    #: {dtype: auto} (bfloat16 where supported) or, with backend vllm, {dtype: auto, max_model_len: 4096,
    #: gpu_memory_utilization: 0.8, enforce_eager: true}
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    #: with model "tiny": its size (hidden_size, num_layers, num_heads, intermediate_size, vocab_size) and
    #: fit_tokenizer (train its BPE tokenizer on the demonstrations too, so task words are single tokens)
    tiny: dict[str, Any] = field(default_factory=dict)
    #: backend "vllm": tensor_parallel_size, data_parallel_size, gpu_memory_utilization, enable_sleep_mode
    #: of the engine(s) that play exploration and evaluation (trainers.sharding.VLLMSettings, docs/scaling.md)
    vllm: VLLMSettings = field(default_factory=VLLMSettings)

    def __post_init__(self) -> None:
        bad = sorted(set(self.tiny) - set(TINY_KEYS))
        if bad:
            raise ValueError(f"unknown policy.tiny keys {bad}; known: {list(TINY_KEYS)}")


SFT_PRECISIONS = PRECISIONS  # trainers.distributed.PRECISIONS


@dataclass
class ExpertConfig:
    """Where D_expert comes from: the env's oracle (default) or a teacher policy."""

    source: str = "oracle"  # "oracle" or "teacher"
    teacher_backend: str = "openai"
    teacher_model: str = ""
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    min_reward: float | None = None  # None: 1.0 for ALFWorld/SQL, > 0.8 for WebShop


@dataclass
class SFTConfig:
    """Behaviour cloning on D_expert (paper: lr 1e-5, cosine, warmup 0.1, 3 epochs, batch 32)."""

    learning_rate: float = 1e-5
    epochs: float = 3.0
    batch_size: int = 32
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    max_length: int = 6000
    micro_batch_size: int = 4  # per-device batch; gradient accumulation makes up batch_size
    rft_epochs: float = 1.0  # RFT: further epochs on D_expert + pi_ref's successes, starting from pi_ref
    #: "auto": bf16 mixed precision on GPUs that support it, fp32 on CPU; "bf16": also on CPU (bf16
    #: autocast, faster on CPUs with AVX512-BF16/AMX, e.g. 1.3 vs 2.0 s/step here); "fp32": never
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in SFT_PRECISIONS:
            raise ValueError(f"sft.precision must be one of {SFT_PRECISIONS}, got {self.precision!r}")


@dataclass
class ExploreConfig:
    """One-shot exploration with pi_ref (no training in between)."""

    mc_rollouts: int = 5  # M: pi_ref rollouts per group reward
    step_rollouts: int = 1  # pi_ref completions per step-level branch (each one a rejected candidate)
    step_reward: str = "mc"  # expert step value: "mc" (M pi_ref rollouts after its action, IPR) or "outcome"
    step_stride: int = 1  # branch at every k-th expert step
    segmenter: str = "fixed_k"  # fixed_n, fixed_k, uncertainty, semantic
    segmenter_args: dict[str, Any] = field(default_factory=dict)  # n, k, percentile, retries
    semantic_model: str = ""  # model for the semantic segmenter ("" : pi_ref itself)
    min_gap: float = 0.0  # keep pairs with reward gap > min_gap
    demos: int = 0  # explore from the first N demonstrations only (0: all); BC still uses every demonstration

    def __post_init__(self) -> None:
        if self.demos < 0:
            raise ValueError(f"explore.demos must be >= 0 (0: all demonstrations), got {self.demos}")
        if self.step_reward not in ("mc", "outcome"):
            raise ValueError(f"explore.step_reward must be 'mc' or 'outcome', got {self.step_reward!r}")


@dataclass
class DPOConfig:
    """The composite objective (paper: beta 0.3, lr 3e-6 ALFWorld / 1e-6 others, 1 epoch, batch 32)."""

    beta: float = 0.3
    learning_rate: float | None = None  # None: per env as in the paper
    epochs: float = 1.0
    batch_size: int = 32
    micro_batch_size: int = 4
    max_length: int = 6000
    weights: dict[str, float] = field(default_factory=dict)  # override the method's {bc, traj, step, group}
    curriculum: str | None = None  # override the method's curriculum
    length_thresholds: list[int] | None = None  # None: the paper's for the env family ((0, 3, 6) for other envs)
    warmup_ratio: float = 0.1
    max_grad_norm: float | None = 1.0  # clip the global gradient norm (as TRL/transformers do); null: no clipping
    #: as sft.precision, for the reference log-probs and the composite objective ("auto": bf16 on GPUs that
    #: support it, fp32 on CPU; "bf16": also on CPU)
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in SFT_PRECISIONS:
            raise ValueError(f"dpo.precision must be one of {SFT_PRECISIONS}, got {self.precision!r}")


@dataclass
class HPLConfig:
    """A whole run. ``method`` picks SFT, RFT, ETO, IPR, HPL or an ablation (see ``trainers.hpl.methods``)."""

    method: str = "hpl"
    run_dir: str = "runs/hpl"
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    #: LoRA for the training stages (SFT/RFT and the composite objective); off: full fine-tuning
    lora: LoraSettings = field(default_factory=LoraSettings)
    #: experiment tracking: none, tensorboard, wandb, trackio (comma-separated), or all installed ones;
    #: TensorBoard writes to <run_dir>/tracking/<stage> (trainers.tracking)
    report_to: str = "none"
    evaluate: bool = True

    def __post_init__(self) -> None:
        resolve_report_to(self.report_to)


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ValueError(f"config section {where or 'top level'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"unknown config key {where + key!r}; known: {sorted(fields)}")
        sub = fields[key].default_factory if fields[key].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub):
            kwargs[key] = _build(sub, value or {}, f"{where}{key}.")
        else:
            kwargs[key] = coerce_value(fields[key].type, value, where + key)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> HPLConfig:
    """Build an :class:`HPLConfig`; unknown keys and wrong types raise ``ValueError`` naming the key.

    Values are coerced by :func:`trainers.configfile.coerce_value` (the same rules as HGPO's
    loader): ``1e-5`` becomes a float, ``dpo.beta: abc`` is refused before any work starts.
    """
    return _build(HPLConfig, data or {}, "")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a config dict."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = parse_yaml_value(value, f"override {item!r}")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> HPLConfig:
    """Read a YAML config (or defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_mapping(resolve_config(path), "assets/configs/hpl_*.yaml")
    apply_overrides(data, list(overrides or []))
    return config_from_dict(data)


def config_to_dict(cfg: HPLConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


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
