"""Does the HGPO loop learn? A small CPU experiment on a generated corridor task set.

    python -m scripts.experiment_hgpo [--methods hgpo grpo] [--iterations 20] [--out results/experiment_hgpo]

What it does:

1. builds the tiny random test model (``trainers.models.build_tiny_model``);
2. warm-starts it by behaviour cloning a *random* policy on the task set (so
   the model writes ``Thought: ...\\nAction: ...`` with an action drawn roughly
   uniformly from the valid ones; a random-init model never produces a
   parseable action and RL would have no signal);
3. trains one copy per method with the real trainer (:mod:`trainers.hgpo`)
   and logs the sampled-rollout reward/success per iteration;
4. writes ``summary.json`` and ``reward.png`` (mean training reward per
   iteration for each method) to ``--out``.

The task set: corridors of length 1..3 (``corridor-N``): the agent starts at
cell 0, must ``go right`` N times and then ``stop`` (reward 1); ``go left``
moves back (invalid at cell 0), ``stop`` elsewhere ends the episode with
reward 0; 8 steps at most. No invalid-action penalty by default, so the only
reward is success. The environment is the diagnostic ``Corridor-Text-v0``
(:mod:`agent_gym.diagnostic.corridor`, a toy task, not a benchmark) made with
:data:`ENV_KWARGS`. Results are printed and summarised; each run resumes if
interrupted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from agent_gym.fileio import atomic_dir, atomic_path, atomic_write_json

#: the diagnostic corridor env (:mod:`agent_gym.diagnostic.corridor`) ...
ENV_ID = "Corridor-Text-v0"
#: ... with this experiment's task set: lengths 1-3, one task type per length, the
#: position repeated after an invalid action, 8 steps at most (``TimeLimit``).
ENV_KWARGS: dict[str, Any] = {
    "lengths": [1, 2, 3],
    "task_type": "length-{length}",
    "invalid_feedback": "Nothing happens. You are at cell {pos}.",
    "max_episode_steps": 8,
}


def warm_start(model_dir: Path, out_dir: Path, *, history_window: int, steps: int, seed: int, log=print) -> Path:
    """Behaviour-clone a random policy (format + roughly uniform valid actions); returns the model folder."""
    if (out_dir / "config.json").exists():
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.policies import RandomPolicy
    from trainers.rollout import run_episodes, step_messages
    from trainers.sequences import collate, encode_prompt_completion, masked_sequence_logprob
    from wrappers.prompting import PromptConfig

    torch.manual_seed(seed)
    records = run_episodes(
        RandomPolicy(ENV_ID, seed=seed),
        ENV_ID,
        None,
        group_size=24,
        env_kwargs=ENV_KWARGS,
        num_envs=16,
        seed=seed,
        prompt=PromptConfig(history_window=history_window),
        history_k=history_window,
        progress=False,
    )
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    data = []
    for rec in records:
        for s in rec.steps:
            data.append(
                encode_prompt_completion(
                    tok, step_messages(rec, s.index), [{"role": "assistant", "content": s.raw_output}]
                )
            )
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        idx = torch.randint(len(data), (16,), generator=g).tolist()
        batch = collate([data[i] for i in idx], tok.pad_token_id)
        n_tok = batch["loss_mask"].sum().clamp_min(1)
        loss = -masked_sequence_logprob(model, batch).sum() / n_tok
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"warm start step {step}: token NLL {float(loss.detach()):.3f}")
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out_dir


def run(args: argparse.Namespace) -> dict[str, Any]:
    from trainers.hgpo.config import config_from_dict
    from trainers.hgpo.metrics import MetricsLog
    from trainers.hgpo.trainer import train
    from trainers.models import build_tiny_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tiny = build_tiny_model(out / "tiny")
    t0 = time.perf_counter()
    warm = warm_start(tiny, out / "warm", history_window=args.history_window, steps=args.warm_steps, seed=args.seed)
    summary: dict[str, Any] = {"warm_start_s": round(time.perf_counter() - t0, 1), "methods": {}}
    for method in args.methods:
        cfg = config_from_dict(
            {
                "method": method,
                "device": "cpu",
                "env": {"env_id": ENV_ID, "kwargs": dict(ENV_KWARGS), "num_envs": 32},
                "policy": {"model": str(warm), "history_window": args.history_window, "max_new_tokens": 24},
                "advantage": {"invalid_penalty": args.invalid_penalty},
                "rl": {
                    "group_size": args.group_size,
                    "tasks_per_iteration": args.tasks_per_iteration,
                    "iterations": args.iterations,
                    "learning_rate": args.learning_rate,
                    "kl_coef": args.kl_coef,
                    "micro_batch_size": 32,
                    "mini_batch_size": None,
                    "ppo_epochs": 1,
                },
                "save_every": 5,
                "keep_checkpoints": 1,
                "run_dir": str(out / method),
                "seed": args.seed,
                "progress": True,
            }
        )
        t1 = time.perf_counter()
        train(cfg, resume=True)
        rows = MetricsLog(out / method / "metrics.jsonl").read()
        rewards = [r["train/avg_reward"] for r in rows]
        k = max(1, min(5, len(rows) // 2))
        summary["methods"][method] = {
            "iterations": len(rows),
            "train_reward": rewards,
            "train_success": [r["train/success_rate"] for r in rows],
            "invalid_rate": [r["train/invalid_rate"] for r in rows],
            f"reward_first{k}": sum(rewards[:k]) / k,
            f"reward_last{k}": sum(rewards[-k:]) / k,
            "wall_s_this_call": round(time.perf_counter() - t1, 1),
        }
    _plot(summary, out / "reward.png")
    atomic_write_json(out / "summary.json", summary, indent=2)
    return summary


def _plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for method, res in summary["methods"].items():
        ax.plot(range(len(res["train_reward"])), res["train_reward"], marker="o", ms=3, label=method)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean episode reward (sampled rollouts)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.experiment_hgpo", description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=["hgpo", "grpo"], choices=["grpo", "gigpo", "hgpo"])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--tasks-per-iteration", type=int, default=4)
    p.add_argument("--history-window", type=int, default=2, help="K: policy.history_window")
    p.add_argument("--learning-rate", type=float, default=5e-4, help="rl.learning_rate")
    p.add_argument("--invalid-penalty", type=float, default=0.0)
    p.add_argument("--kl-coef", type=float, default=0.0)
    p.add_argument("--warm-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/experiment_hgpo")
    args = p.parse_args(argv)
    summary = run(args)
    for method, res in summary["methods"].items():
        keys = [k for k in res if k.startswith("reward_")]
        print(f"{method}: " + ", ".join(f"{k} {res[k]:.3f}" for k in keys) + f" ({res['iterations']} iterations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
