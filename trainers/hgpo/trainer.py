"""The online group-RL loop of HGPO (and its bases GRPO and GiGPO).

One iteration:

1. sample ``rl.tasks_per_iteration`` tasks of ``env.train_tasks`` (a NumPy generator
   seeded by ``(seed, iteration)``, so a resumed run draws the same tasks);
2. play ``rl.group_size`` episodes of each with the current policy through
   :func:`trainers.rollout.run_episodes` (prompt history window =
   ``policy.history_window`` = the grouping depth K; the G episodes of a task share
   the reset seed);
3. compute one advantage per step with :func:`trainers.advantages.compute_advantages`;
4. tokenise each step (prompt masked, the step's output trained) with
   :mod:`trainers.sequences` and take PPO-clip steps on the token-mean loss with
   a k3 KL penalty to the frozen initial model, accumulating gradients over
   micro batches;
5. sync weights into the rollout backend (vLLM), log metrics, evaluate and
   checkpoint on schedule.

Old log-probs: when the batch feeds a single optimizer step (``ppo_epochs=1``
and one mini batch) the sampling policy *is* the current model, so the ratio is
1 and the detached current log-probs are used; otherwise they are recomputed
once with a no-grad forward pass before the first update. The backend's
sampled log-probs are not used (they would need the exact generated tokens;
the training sequence is re-rendered through the chat template).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.distributed import use_bf16
from trainers.hgpo.checkpoint import latest_checkpoint, load_optimizer_and_rng, read_state, save_checkpoint
from trainers.hgpo.config import RENAMES, HGPOConfig
from trainers.hgpo.loss import ppo_clip_loss
from trainers.hgpo.metrics import MetricsLog, plot_metrics
from trainers.hgpo.samples import StepSample, build_samples, step_advantages
from trainers.policies.base import GenerationParams, Policy
from trainers.policies.vllm import VLLMPolicy
from trainers.rollout import EpisodeRecord, make_env, run_episodes, with_step_limit
from trainers.sequences import collate, token_logprobs
from wrappers.prompting import PromptConfig

#: Config keys (dotted) that may change between a checkpoint and its resume without a warning.
RESUMABLE_CHANGES = {
    "rl.iterations",
    "progress",
    "eval_every",
    "env.eval_tasks",
    "env.eval_kwargs",
    "save_every",
    "keep_checkpoints",
    "run_dir",
}


def changed_settings(saved: Mapping[str, Any], config: HGPOConfig) -> list[str]:
    """Dotted keys whose value in ``config`` differs from the checkpoint's ``saved`` config.

    A checkpoint of an earlier version holds a flat config (``lr``, ``env_kwargs``, ...): its
    keys are mapped to their new names through :data:`trainers.hgpo.config.RENAMES` first, so
    an old run resumes (its weights and optimizer do not depend on the config's layout).
    """
    from trainers.tracking import flat_config

    before = flat_config({RENAMES.get(k, k): v for k, v in saved.items()})
    now = flat_config(config.to_dict())
    keys = sorted(set(before) | set(now))
    resumable = tuple(RESUMABLE_CHANGES)
    return [
        k for k in keys if before.get(k) != now.get(k) and not any(k == r or k.startswith(r + ".") for r in resumable)
    ]


class HGPOTrainer:
    """Runs :class:`HGPOConfig` end to end; ``train()`` resumes from the run's latest checkpoint.

    Args:
        config: the run's settings (validated).
        resume: continue from ``RUN/checkpoints`` when there is one (else start fresh).
        log: a ``print``-like callable for one-line progress messages.
    """

    def __init__(self, config: HGPOConfig, *, resume: bool = True, log: Callable[[str], None] = print):
        from trainers.lora import load_causal_lm
        from trainers.models import auto_dtype, check_model_source, resolve_device, resolve_model_path
        from trainers.task_selection import choose_tasks

        self.config = config  # validated when it was built (HGPOConfig.__post_init__)
        self.log = log
        self.run_dir = Path(config.run_dir)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % (2**32))

        # environments and tasks first: a wrong env id, missing data or a bad task list fails before
        # any model is loaded
        env = config.env
        env_kwargs = self.env_kwargs()  # the one step limit: gym.make's TimeLimit
        self.envs = [make_env(env.env_id, env_kwargs, config.history_window) for _ in range(env.num_envs)]
        self.train_task_ids = choose_tasks(self.envs[0], env, seed=config.seed)
        self.eval_task_ids: list[str] = []
        if config.eval_every:
            probe = make_env(env.env_id, self.env_kwargs(evaluation=True), config.history_window)
            try:
                self.eval_task_ids = choose_tasks(probe, env, seed=config.seed, evaluation=True)
            finally:
                probe.close()

        self.accelerator = None
        if config.use_accelerate:
            from agent_gym.errors import require

            accelerate = require("accelerate", "train")
            self.accelerator = accelerate.Accelerator(cpu=(config.device == "cpu"))
        device = str(self.accelerator.device) if self.accelerator else resolve_device(config.device)
        dtype = auto_dtype(config.policy.dtype, device)
        if self.accelerator is not None and config.rl.tasks_per_iteration < self.accelerator.num_processes:
            raise ValueError(
                f"rl.tasks_per_iteration ({config.rl.tasks_per_iteration}) must be >= the number of processes "
                f"({self.accelerator.num_processes}): each process plays whole groups"
            )

        self.base_model_path = resolve_model_path(config.policy.model)
        check_model_source(self.base_model_path)
        # the run folder is made only once the settings checked out (no empty folders from typos)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        if not resume and self.is_main:
            _set_aside_old_checkpoints(self.run_dir, self.log)
        ckpt = latest_checkpoint(self.run_dir) if resume else None
        if ckpt is not None:
            changed = changed_settings(read_state(ckpt).get("config", {}), config)
            if changed:
                self.log(f"warning: resuming {ckpt} with changed settings: {', '.join(changed)}")
        lora = config.lora
        if lora.enabled:  # the base's full weights + one trainable adapter (a resume continues the saved one)
            from trainers.lora import add_adapter, resume_adapter

            self.model, self.tokenizer = load_causal_lm(self.base_model_path, dtype=dtype, device=device)
            self.model = (
                resume_adapter(self.model, ckpt)
                if ckpt is not None
                else add_adapter(self.model, lora, self.base_model_path)
            )
        else:
            load_from = str(ckpt) if ckpt is not None else self.base_model_path
            self.model, self.tokenizer = load_causal_lm(load_from, dtype=dtype, device=device)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = next(self.model.parameters()).device
        self.bf16 = use_bf16(config.rl.precision, str(self.device), "rl.precision")
        if config.rl.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
            self.model.config.use_cache = False

        # the KL reference: the initial model. With LoRA it is the same model with the adapter
        # disabled (trainers.lora.reference_mode); otherwise a frozen copy.
        self.ref_model = None
        if config.rl.kl_coef > 0 and not lora.enabled:
            if ckpt is None:
                self.ref_model = copy.deepcopy(self.model)
            else:
                self.ref_model, _ = load_causal_lm(self.base_model_path, dtype=dtype, device=str(self.device))
            self.ref_model.eval()
            self.ref_model.requires_grad_(False)

        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.rl.learning_rate, weight_decay=config.rl.weight_decay)
        self.start_iteration = 0
        if ckpt is not None:
            load_optimizer_and_rng(ckpt, self.optimizer)
            self.start_iteration = int(read_state(ckpt)["iteration"]) + 1
            self.log(f"resuming from {ckpt} at iteration {self.start_iteration}")
        if self.is_main:
            self.metrics.truncate(self.start_iteration - 1)
        if self.accelerator is not None:
            self.model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)

        self.prompt = PromptConfig(history_window=config.history_window, instruction=config.policy.instruction)
        self.policy = self._make_policy()
        from trainers.tracking import Tracker

        self.tracker = Tracker(
            config.report_to, self.run_dir / "tracking", "hgpo", config.to_dict(), is_main=self.is_main
        )

    # ------------------------------------------------------------------ helpers
    def env_kwargs(self, evaluation: bool = False) -> dict[str, Any]:
        """``gym.make`` arguments: ``env.kwargs`` (with ``env.eval_kwargs`` merged over them for
        evaluation) and the step limit ``env.max_episode_steps``."""
        env = self.config.env
        kw = {**env.kwargs, **(env.eval_kwargs if evaluation else {})}
        return with_step_limit(kw, env.max_episode_steps)

    @property
    def is_main(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    @property
    def unwrapped_model(self) -> Any:
        return self.accelerator.unwrap_model(self.model) if self.accelerator else self.model

    def _make_policy(self) -> Policy:
        p = self.config.policy
        if p.backend == "hf":
            from trainers.policies.hf import HFPolicy

            kw = {"batch_size": self.config.env.num_envs, **p.backend_kwargs}
            return HFPolicy(self.unwrapped_model, self.tokenizer, **kw)
        if p.backend == "vllm_server":
            from trainers.vllm_server import VLLMServerPolicy

            assert p.vllm_server_url is not None  # HGPOPolicyConfig.__post_init__ checked it
            server = VLLMServerPolicy(p.vllm_server_url, weights_dir=p.vllm_server_weights_dir, **p.backend_kwargs)
            self._push_weights(server)
            return server
        from trainers.lora import materialize
        from trainers.policies import make_policy

        policy = make_policy(
            "vllm", model=str(materialize(self.base_model_path)), tokenizer=self.tokenizer, **p.policy_kwargs()
        )
        policy.load_weights(self.unwrapped_model)
        return policy

    def _push_weights(self, policy: Policy) -> None:
        """Shared server: the main process pushes the (identical) weights once; the others wait for it."""
        if self.is_main:
            policy.load_weights(self.unwrapped_model)
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()

    def sample_tasks(self, iteration: int) -> list[str]:
        """The tasks of ``iteration`` (deterministic in ``(seed, iteration)``); sharded per process."""
        rng = np.random.default_rng([self.config.seed, iteration])
        n = self.config.rl.tasks_per_iteration
        ids = self.train_task_ids
        picks = rng.choice(len(ids), size=n, replace=n > len(ids))
        tasks = [ids[int(i)] for i in picks]
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            tasks = tasks[self.accelerator.process_index :: self.accelerator.num_processes]
        return tasks

    def generation_params(self, iteration: int) -> GenerationParams:
        c = self.config
        rank = self.accelerator.process_index if self.accelerator else 0
        return GenerationParams(
            temperature=c.policy.temperature,
            top_p=c.policy.top_p,
            max_new_tokens=c.policy.max_new_tokens,
            seed=(c.seed * 1_000_003 + iteration * 1009 + rank * 7919) % (2**31),
        )

    # ------------------------------------------------------------------ one iteration
    def rollout(self, iteration: int) -> list[EpisodeRecord]:
        c = self.config
        tasks = self.sample_tasks(iteration)
        if not tasks:
            return []
        return run_episodes(
            self.policy,
            c.env.env_id,
            tasks,
            group_size=c.rl.group_size,
            params=self.generation_params(iteration),
            prompt=self.prompt,
            history_k=c.history_window,
            seed=c.seed * 100_000 + iteration,
            max_steps=c.env.max_episode_steps,
            progress=False,
            envs=self.envs,
        )

    def _forward_logprobs(
        self, model: Any, samples: Sequence[StepSample]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch = collate([s.encoded for s in samples], self.tokenizer.pad_token_id)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16, enabled=self.bf16):
            lp = token_logprobs(model, batch["input_ids"], batch["attention_mask"])
        return lp.float(), batch

    def update(self, samples: list[StepSample], iteration: int) -> dict[str, float]:
        """PPO-clip epochs over ``samples``; returns loss statistics (token means)."""
        c = self.config.rl
        stats = {"pg": 0.0, "kl": 0.0, "clipped": 0.0, "approx_kl": 0.0, "tokens": 0.0, "grad_norm": 0.0, "steps": 0}
        rng = np.random.default_rng([self.config.seed, iteration, 1])
        n_mb = 1 if c.mini_batch_size is None else math.ceil(len(samples) / c.mini_batch_size)
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            # every process takes part in this gather and in the DDP backwards, also one with no
            # samples (skip_zero_advantage can leave it none): it runs zero-loss micro-steps
            counts = self.accelerator.gather(torch.tensor([n_mb, len(samples)], device=self.device)[None, :])
            if int(counts[:, 1].sum()) == 0:
                return self._loss_metrics(stats)  # no process has samples: all skip the update alike
            n_mb = int(counts[:, 0].max())
        elif not samples:
            return self._loss_metrics(stats)
        multi_step = c.ppo_epochs * n_mb > 1
        self.model.eval()  # no dropout: sampling, old and new log-probs use the same network function
        old: dict[int, torch.Tensor] = {}
        if multi_step:
            with torch.no_grad():
                for chunk in _chunks(list(range(len(samples))), c.micro_batch_size):
                    lp, batch = self._forward_logprobs(self.model, [samples[i] for i in chunk])
                    for row, i in enumerate(chunk):
                        old[i] = lp[row, : len(samples[i].encoded) - 1].detach().cpu()
        for _epoch in range(c.ppo_epochs):
            order = rng.permutation(len(samples))
            for mb in np.array_split(order, n_mb):
                mb_idx = sorted(mb.tolist(), key=lambda i: len(samples[i].encoded))
                denom = float(sum(samples[i].encoded.num_loss_tokens for i in mb_idx)) or 1.0
                micro = _chunks(mb_idx, c.micro_batch_size) or [[]]
                for m, chunk in enumerate(micro):
                    last = m == len(micro) - 1
                    with self._maybe_no_sync(not last):
                        self._micro_step(samples, chunk, old if multi_step else None, denom, stats)
                if self.accelerator is not None:
                    norm = self.accelerator.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
                else:
                    norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
                stats["grad_norm"] = max(stats["grad_norm"], float(norm))
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                stats["steps"] += 1
        return self._loss_metrics(stats)

    def _maybe_no_sync(self, skip_sync: bool):
        import contextlib

        if self.accelerator is not None and skip_sync:
            return self.accelerator.no_sync(self.model)
        return contextlib.nullcontext()

    def _micro_step(self, samples, chunk, old, denom, stats) -> None:
        c = self.config.rl
        if not chunk:  # an empty mini batch on this process (keeps DDP processes in step)
            if samples:
                lp, _ = self._forward_logprobs(self.model, samples[:1])
            else:  # no samples at all on this process: a one-token stand-in
                ids = torch.tensor([[self.tokenizer.pad_token_id] * 2], device=self.device)
                lp = token_logprobs(self.model, ids, torch.ones_like(ids))
            loss = lp.sum() * 0.0
            self._backward(loss)
            return
        lp, batch = self._forward_logprobs(self.model, [samples[i] for i in chunk])
        mask = batch["loss_mask"][:, 1:].float()
        if old is not None:
            old_lp = torch.zeros_like(lp)
            for row, i in enumerate(chunk):
                n = old[i].shape[0]
                old_lp[row, :n] = old[i].to(lp.device)
        else:
            old_lp = lp.detach()
        ref_lp = None
        if self.ref_model is not None:
            with torch.no_grad():
                ref_lp, _ = self._forward_logprobs(self.ref_model, [samples[i] for i in chunk])
        elif c.kl_coef > 0 and self.config.lora.enabled:
            from trainers.lora import reference_mode

            with torch.no_grad(), reference_mode(self.unwrapped_model) as ref:
                ref_lp, _ = self._forward_logprobs(ref, [samples[i] for i in chunk])
        adv = torch.tensor([samples[i].advantage for i in chunk], dtype=lp.dtype, device=lp.device)
        parts = ppo_clip_loss(
            lp,
            old_lp,
            adv,
            mask,
            ref_logp=ref_lp,
            kl_coef=c.kl_coef,
            clip_low=c.clip_ratio_low,
            clip_high=c.clip_ratio_high,
            denom=denom,
        )
        if not torch.isfinite(parts.loss):
            raise FloatingPointError(
                f"non-finite loss {float(parts.loss)}; lower rl.learning_rate or check policy.dtype"
            )
        self._backward(parts.loss)
        stats["pg"] += parts.pg_sum
        stats["kl"] += parts.kl_sum
        stats["clipped"] += parts.clipped_tokens
        stats["approx_kl"] += parts.approx_kl_sum
        stats["tokens"] += parts.tokens

    def _backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is not None:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    @staticmethod
    def _loss_metrics(stats: dict[str, float]) -> dict[str, float]:
        t = max(stats["tokens"], 1.0)
        return {
            "loss/pg": stats["pg"] / t,
            "loss/kl": stats["kl"] / t,
            "loss/clip_frac": stats["clipped"] / t,
            "loss/approx_kl": stats["approx_kl"] / t,
            "loss/tokens": stats["tokens"],
            "loss/grad_norm": stats["grad_norm"],
            "loss/optimizer_steps": stats["steps"],
        }

    def iteration(self, iteration: int) -> dict[str, Any]:
        """Rollout, advantages, update, weight sync; returns the metrics row."""
        c = self.config
        t0 = time.perf_counter()
        records = self.rollout(iteration)
        sleeping = c.policy.backend == "vllm" and c.policy.vllm.enable_sleep_mode
        if sleeping:  # free the engine's GPU memory (weights to CPU, KV cache dropped) for the update
            assert isinstance(self.policy, VLLMPolicy)
            self.policy.llm.sleep(level=1)
        t1 = time.perf_counter()
        adv, group_stats = step_advantages(records, c.method, **c.advantage.options())
        samples, counts = build_samples(
            records, adv, self.tokenizer, max_length=c.rl.max_length, skip_zero_advantage=c.rl.skip_zero_advantage
        )
        loss_stats = self.update(samples, iteration)
        if c.policy.backend == "vllm_server":
            self._push_weights(self.policy)
        if c.policy.backend == "vllm":
            if sleeping:
                assert isinstance(self.policy, VLLMPolicy)
                self.policy.llm.wake_up()
            self.policy.load_weights(self.unwrapped_model)
        t2 = time.perf_counter()
        row: dict[str, Any] = {"iteration": iteration}
        row.update(_rollout_metrics(records))
        row.update(_advantage_metrics(adv))
        row.update({f"groups/{k}": v for k, v in group_stats.items()})
        row.update(loss_stats)
        row.update({f"samples/{k}": v for k, v in counts.items()})
        row["samples/trained"] = len(samples)
        row.update({"time/rollout_s": t1 - t0, "time/update_s": t2 - t1})
        return row

    # ------------------------------------------------------------------ evaluation, checkpoints
    def evaluate(self, iteration: int) -> dict[str, float]:
        """Greedy evaluation through :func:`trainers.evaluation.evaluate_policy` (the code ``scripts.evaluate`` uses)."""
        from trainers.evaluation import evaluate_policy

        c = self.config
        report = evaluate_policy(
            self.policy,
            c.env.env_id,
            env_kwargs=self.env_kwargs(evaluation=True),
            tasks=self.eval_task_ids,
            seed=c.seed,
            params=GenerationParams(temperature=0.0, max_new_tokens=c.policy.max_new_tokens),
            prompt=self.prompt,
            num_envs=c.env.num_envs,
            max_steps=c.env.max_episode_steps,
            out=self.run_dir / "eval" / f"iter_{iteration:06d}.json",
            resume=False,
            progress=False,
        )
        return {
            "eval/success_rate": report["success_rate"],
            "eval/avg_reward": report["avg_reward"],
            "eval/avg_steps": report["avg_steps"],
            "eval/invalid_action_rate": report["invalid_action_rate"],
        }

    def save(self, iteration: int) -> Path | None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
        if not self.is_main:
            return None
        return save_checkpoint(
            self.run_dir,
            iteration,
            self.unwrapped_model,
            self.tokenizer,
            self.optimizer,
            {"config": self.config.to_dict(), "base_model": self.base_model_path},
            keep=self.config.keep_checkpoints,
            merge=self.config.lora.merge,
        )

    def train(self) -> list[dict[str, Any]]:
        """Run iterations ``start_iteration .. iterations-1``; returns their metrics rows."""
        from tqdm.auto import tqdm

        c = self.config
        rows: list[dict[str, Any]] = []
        bar = tqdm(
            range(self.start_iteration, c.rl.iterations),
            desc=f"{c.method} {c.env.env_id}",
            unit="it",
            disable=not (c.progress and self.is_main),
            initial=self.start_iteration,
            total=c.rl.iterations,
        )
        try:
            for it in bar:
                t0 = time.perf_counter()
                row = self.iteration(it)
                if self.accelerator is not None and self.accelerator.num_processes > 1:
                    row = _combine_over_processes(self.accelerator, row)
                last = it == c.rl.iterations - 1
                if c.eval_every and ((it + 1) % c.eval_every == 0 or last):
                    if self.is_main:
                        row.update(self.evaluate(it))
                    if self.accelerator is not None:
                        self.accelerator.wait_for_everyone()
                row["time/iteration_s"] = time.perf_counter() - t0
                if (c.save_every and (it + 1) % c.save_every == 0) or last:
                    self.save(it)
                if self.is_main:
                    self.metrics.append(row)
                    self.tracker.log(row, step=it)
                    plot_metrics(self.metrics.read(), self.run_dir / "metrics.png", f"{c.method} on {c.env.env_id}")
                rows.append(row)
                bar.set_postfix(reward=f"{row['train/avg_reward']:.3f}", succ=f"{row['train/success_rate']:.2f}")
        finally:
            bar.close()
        return rows

    def close(self) -> None:
        self.tracker.close()
        for env in self.envs:
            env.close()
        self.policy.close()


# ---------------------------------------------------------------------- module helpers
def _set_aside_old_checkpoints(run_dir: Path, log: Callable[[str], None]) -> None:
    """A fresh start keeps earlier checkpoints but moves them out of the resume path."""
    old = run_dir / "checkpoints"
    if old.is_dir() and any(old.iterdir()):
        dest = run_dir / f"checkpoints.old-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(old, dest)
        log(f"starting over: earlier checkpoints moved to {dest}")


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _rollout_metrics(records: Sequence[EpisodeRecord]) -> dict[str, float]:
    if not records:
        return {"train/episodes": 0, "train/avg_reward": 0.0, "train/success_rate": 0.0}
    steps = sum(r.num_steps for r in records)
    return {
        "train/episodes": len(records),
        "train/avg_reward": float(np.mean([r.reward for r in records])),
        "train/final_avg_reward": float(np.mean([r.final_reward for r in records])),
        "train/success_rate": float(np.mean([r.success for r in records])),
        "train/avg_steps": float(np.mean([r.num_steps for r in records])),
        "train/invalid_rate": float(sum(r.invalid_actions for r in records) / max(steps, 1)),
        "train/unparseable_rate": float(sum(not s.parsed for r in records for s in r.steps) / max(steps, 1)),
    }


def _advantage_metrics(adv: np.ndarray) -> dict[str, float]:
    if adv.size == 0:
        return {
            "adv/mean": 0.0,
            "adv/std": 0.0,
            "adv/abs_mean": 0.0,
            "adv/zero_frac": 1.0,
            "adv/min": 0.0,
            "adv/max": 0.0,
        }
    return {
        "adv/mean": float(adv.mean()),
        "adv/std": float(adv.std()),
        "adv/abs_mean": float(np.abs(adv).mean()),
        "adv/zero_frac": float((adv == 0).mean()),
        "adv/min": float(adv.min()),
        "adv/max": float(adv.max()),
    }


#: metrics that count things: summed over processes (the others are averaged)
SUMMED_METRICS = ("train/episodes", "loss/tokens")


def _combine_over_processes(accelerator: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Combine one iteration's metrics of every process: counts summed, extremes min/max, the rest averaged."""
    keys = sorted(k for k, v in row.items() if isinstance(v, (int, float)) and k != "iteration")
    vals = torch.tensor([float(row[k]) for k in keys], device=accelerator.device)
    every = accelerator.gather(vals[None, :])  # [processes, keys]
    out = {}
    for j, k in enumerate(keys):
        col = every[:, j]
        if k in SUMMED_METRICS or k.startswith("samples/"):
            out[k] = float(col.sum())
        elif k == "adv/min":
            out[k] = float(col.min())
        elif k == "adv/max":
            out[k] = float(col.max())
        else:
            out[k] = float(col.mean())
    return {**row, **out}


def train(config: HGPOConfig, *, resume: bool = True, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Build a :class:`HGPOTrainer`, train, close; returns the metrics rows of this call."""
    trainer = HGPOTrainer(config, resume=resume, log=log)
    try:
        return trainer.train()
    finally:
        trainer.close()


__all__ = ["HGPOTrainer", "train"]
