"""The config sections HPL and HGPO share, with the same names and meanings in both.

* :class:`EnvConfig` (``env:``): the environment, its ``gym.make`` arguments, the step
  limit and which tasks train and evaluate (a count or a list, chosen by
  :func:`trainers.task_selection.choose_tasks`);
* :class:`PolicyConfig` (``policy:``): the model, its generation backend and sampling,
  and the prompt (``history_window``, ``instruction``);
* :class:`RunConfig`: the top-level keys (``method``, ``run_dir``, ``seed``, ``device``,
  ``report_to``, ``lora``) and the two sections above; :class:`~trainers.hpl.config.HPLConfig`
  and :class:`~trainers.hgpo.config.HGPOConfig` extend it with their own sections.

:data:`SHARED_RENAMES` maps the old spellings of these keys to their names here; the
loader (:func:`trainers.configfile.build_config`) answers an old key with its new name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainers.configfile import setting
from trainers.lora import LoraSettings
from trainers.sharding import VLLMSettings
from trainers.tracking import resolve_report_to

TASK_SELECTIONS = ("stratified", "random", "first")


def _check_tasks(name: str, value: int | list[Any]) -> None:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"env.{name} is an empty list; give task ids/indices, or a count (0: all tasks)")
        bad = [t for t in value if isinstance(t, bool) or not isinstance(t, (int, str))]
        if bad:
            raise ValueError(f"env.{name} must list task ids (strings) or indices (integers), got {bad[0]!r}")
    elif value < 0:
        raise ValueError(f"env.{name} must be >= 0 (0: all tasks) or a list of task ids, got {value}")


@dataclass
class EnvConfig:
    """The environment and its tasks (the same section in HPL and HGPO)."""

    env_id: str = setting(
        "ALFWorld-Text-v0", help="gymnasium id of the environment (python -m scripts.evaluate --list-envs)"
    )
    kwargs: dict[str, Any] = setting(
        factory=dict, help="gym.make arguments for training, e.g. {data_dir: ../shared/data/alfworld, split: train}"
    )
    eval_kwargs: dict[str, Any] = setting(
        factory=dict, help="merged over kwargs for evaluation, e.g. {split: valid_unseen}"
    )
    max_episode_steps: int | None = setting(
        None, help="agent steps per episode: the TimeLimit gym.make builds (null: the env id's registered limit)"
    )
    task_pattern: str = setting(
        "", help="with a count: keep only task ids matching this regex (re.search), e.g. '^pick_and_place_simple'"
    )
    train_tasks: int | list[Any] = setting(
        0, help="training tasks: a count N chosen by task_selection (0: all), or a list of task ids / indices"
    )
    eval_tasks: int | list[Any] = setting(
        20, help="evaluation tasks (of eval_kwargs' split): a count (0: all) or a list of task ids / indices"
    )
    task_selection: str = setting(
        "stratified",
        help="how a count picks tasks: stratified (seeded by the run seed, the same number per task type), "
        "random (seeded), first (the first N sorted ids)",
    )
    num_envs: int = setting(8, help="env instances stepped in parallel (generation is batched across them)")

    def __post_init__(self) -> None:
        if self.task_selection not in TASK_SELECTIONS:
            raise ValueError(f"env.task_selection must be one of {TASK_SELECTIONS}, got {self.task_selection!r}")
        _check_tasks("train_tasks", self.train_tasks)
        _check_tasks("eval_tasks", self.eval_tasks)
        if self.num_envs < 1:
            raise ValueError(f"env.num_envs must be >= 1, got {self.num_envs}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"env.max_episode_steps must be >= 1 or null, got {self.max_episode_steps}")


@dataclass
class PolicyConfig:
    """The model, how it generates, and its prompt (the same section in HPL and HGPO)."""

    model: str = setting("tiny", help="a model folder or hub id; 'tiny': the small random test model")
    backend: str = setting(
        "hf", help="generation backend: hf or vllm (HPL: any trainers.policies backend; HGPO: also vllm_server)"
    )
    dtype: str | None = setting(
        None,
        help="weights dtype: float32, bfloat16, float16 or auto (bfloat16 where supported); null: the checkpoint's",
    )
    backend_kwargs: dict[str, Any] = setting(
        factory=dict,
        help="extra arguments of the generation policy (trainers.policies.make_policy), e.g. with vllm "
        "{max_model_len: 4096, enforce_eager: true}; they win over dtype and the vllm section",
    )
    vllm: VLLMSettings = setting(factory=VLLMSettings, help="backend vllm: the colocated engine(s) (docs/scaling.md)")
    temperature: float = setting(1.0, help="sampling temperature of training rollouts (evaluation is greedy)")
    top_p: float = setting(1.0, help="nucleus sampling of training rollouts")
    max_new_tokens: int = setting(128, help="tokens generated per step at most")
    history_window: int | None = setting(
        None, help="past steps shown in each prompt (null: the whole episode; HGPO: also the context-hash depth K)"
    )
    instruction: str | None = setting(None, help="replaces the env's ReAct instruction (system message) when set")

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("policy.model is empty; give a model folder, a hub id or 'tiny'")
        if self.max_new_tokens < 1:
            raise ValueError(f"policy.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"policy.temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"policy.top_p must be in (0, 1], got {self.top_p}")
        if self.history_window is not None and self.history_window < 0:
            raise ValueError(f"policy.history_window must be >= 0 or null, got {self.history_window}")

    def policy_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the generation policy: ``dtype`` (when set, backends hf and vllm),
        the ``vllm`` section (backend vllm), then ``backend_kwargs`` (which win)."""
        kw: dict[str, Any] = {}
        if self.dtype is not None and self.backend in ("hf", "vllm"):
            kw["dtype"] = self.dtype
        if self.backend == "vllm":
            kw.update(self.vllm.policy_kwargs())
        kw.update(self.backend_kwargs)
        return kw


@dataclass
class RunConfig:
    """The keys every run has (HPLConfig and HGPOConfig extend it)."""

    method: str = setting("", help="the training method")
    run_dir: str = setting("runs/run", help="output folder; rerunning the same command resumes the run there")
    seed: int = setting(0, help="seed of task selection, sampling and training")
    device: str = setting("auto", help="training device: auto (cuda when available, else cpu), cpu, cuda, cuda:N")
    report_to: str = setting(
        "none",
        help="experiment tracking: none, tensorboard, wandb, trackio (comma-separated) or all (the installed ones); "
        "TensorBoard writes to <run_dir>/tracking",
    )
    env: EnvConfig = setting(factory=EnvConfig, help="the environment and its tasks")
    policy: PolicyConfig = setting(factory=PolicyConfig, help="the model, its generation and prompt")
    lora: LoraSettings = setting(factory=LoraSettings, help="LoRA for the training stages (off: full fine-tuning)")

    def __post_init__(self) -> None:
        if not self.device or not (self.device in ("auto", "cpu", "mps") or self.device.startswith("cuda")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not self.run_dir:
            raise ValueError("run_dir is empty; give an output folder")
        resolve_report_to(self.report_to)


#: Old spellings of shared keys (flat HGPO configs, HPL mistakes) -> their names now.
SHARED_RENAMES: dict[str, str] = {
    "env_id": "env.env_id",
    "env_kwargs": "env.kwargs",
    "eval_env_kwargs": "env.eval_kwargs",
    "max_steps": "env.max_episode_steps",
    "max_episode_steps": "env.max_episode_steps",
    "num_envs": "env.num_envs",
    "train_tasks": "env.train_tasks",
    "eval_tasks": "env.eval_tasks",
    "eval_episodes": "env.eval_tasks",
    "env.env_kwargs": "env.kwargs",
    "env.eval_env_kwargs": "env.eval_kwargs",
    "env.max_steps": "env.max_episode_steps",
    "model": "policy.model",
    "backend": "policy.backend",
    "dtype": "policy.dtype",
    "vllm": "policy.vllm",
    "vllm_kwargs": "policy.backend_kwargs",
    "backend_kwargs": "policy.backend_kwargs",
    "policy.vllm_kwargs": "policy.backend_kwargs",
    "temperature": "policy.temperature",
    "top_p": "policy.top_p",
    "max_new_tokens": "policy.max_new_tokens",
    "history_k": "policy.history_window",
    "history_window": "policy.history_window",
    "policy.history_k": "policy.history_window",
    "instruction": "policy.instruction",
}


__all__ = ["SHARED_RENAMES", "TASK_SELECTIONS", "EnvConfig", "PolicyConfig", "RunConfig"]
