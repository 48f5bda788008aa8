"""SFT of a real model on oracle demonstrations, evaluated greedily on disjoint held-out tasks.

The first stage of the pretrained-model experiment (docs/real-models.md): a seeded split of an
env's tasks into training and held-out tasks, oracle demonstrations of the training tasks, SFT
(full or LoRA) of the model -> pi_ref, and a greedy evaluation of pi_ref (and optionally of the base
model) on the held-out tasks with 95 % Wilson intervals. Each stage's output stays in ``--out`` and
a rerun skips finished stages (the evaluation resumes episode by episode).

    python -m scripts.experiment_real_sft --env InterCodeSQL-v0 \\
        --env-arg data_dir=../shared/data/intercode --model "$(python -m scripts.get_model smollm2)" \\
        --train 200 --heldout 200 --out runs/real_sft_sql
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _kv(text: str) -> tuple[str, Any]:
    key, _, raw = text.partition("=")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.experiment_real_sft", description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, help="environment id, e.g. InterCodeSQL-v0")
    p.add_argument("--env-arg", action="append", type=_kv, default=[], metavar="KEY=VALUE", help="gym.make kwarg")
    p.add_argument("--model", required=True, help="base model folder (e.g. from scripts.get_model)")
    p.add_argument("--out", required=True, help="run folder (resumable)")
    p.add_argument("--train", type=int, default=200, help="training tasks (oracle demonstrations)")
    p.add_argument("--heldout", type=int, default=200, help="held-out evaluation tasks")
    p.add_argument("--seed", type=int, default=0, help="seed of the task split and of SFT")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--micro-batch-size", type=int, default=2)
    p.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: full fine-tuning)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--history-window", type=int, default=4, help="turns of history in prompts (as evaluate)")
    p.add_argument("--backend", default="vllm", choices=["hf", "vllm"], help="evaluation backend")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument(
        "--base-episodes", type=int, default=0, help="also evaluate the base model on this many held-out tasks"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np

    import agent_gym  # noqa: F401  (registers the env ids)
    from agent_gym.core import text_env
    from agent_gym.fileio import atomic_write_text
    from trainers.evaluation import evaluate_policy
    from trainers.hpl.demonstrations import collect_demonstrations, conversation, load_demonstrations
    from trainers.hpl.train import run_sft
    from trainers.lora import LoraSettings
    from trainers.policies import GenerationParams, make_policy
    from trainers.rollout import make_env
    from wrappers.prompting import PromptConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = dict(args.env_arg)
    prompt = PromptConfig(history_window=args.history_window)
    times: dict[str, float] = {}

    # 1. a seeded split of the tasks: held-out first, training tasks disjoint from it
    split_path = out / "split.json"
    if split_path.exists():
        split = json.loads(split_path.read_text())
    else:
        probe = make_env(args.env, kwargs, 0)
        ids = list(text_env(probe).task_ids)
        probe.close()
        if args.train + args.heldout > len(ids):
            print(f"error: {args.env} has {len(ids)} tasks, fewer than --train + --heldout", file=sys.stderr)
            return 2
        order = [ids[i] for i in np.random.default_rng(args.seed).permutation(len(ids))]
        split = {"heldout": order[: args.heldout], "train": order[args.heldout : args.heldout + args.train]}
        atomic_write_text(split_path, json.dumps(split, indent=1))

    # 2. oracle demonstrations of the training tasks
    t0 = time.perf_counter()
    demo_dir = out / "demos"
    if (demo_dir / "expert.jsonl").exists():
        demos = load_demonstrations(demo_dir)
    else:
        demos = collect_demonstrations(
            make_policy("oracle", env_id=args.env),
            args.env,
            split["train"],
            env_kwargs={**kwargs, "expert": True},
            prompt=prompt,
            out_dir=demo_dir,
            num_envs=args.num_envs,
        )
    times["demos_s"] = time.perf_counter() - t0

    # 3. SFT -> pi_ref
    t0 = time.perf_counter()
    pi_ref = out / "pi_ref"
    sft_metrics_path = out / "sft_metrics.json"
    if not sft_metrics_path.exists():
        lora = LoraSettings(enabled=True, r=args.lora_r, alpha=2.0 * args.lora_r) if args.lora_r else LoraSettings()
        _, metrics = run_sft(
            args.model,
            [conversation(r, prompt) for r in demos],
            pi_ref,
            learning_rate=args.lr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            micro_batch_size=args.micro_batch_size,
            seed=args.seed,
            device="cpu",
            precision=args.precision,
            lora=lora,
            max_length=4096,
        )
        atomic_write_text(sft_metrics_path, json.dumps(metrics, indent=1, default=str))
    sft_metrics = json.loads(sft_metrics_path.read_text())
    times["sft_s"] = time.perf_counter() - t0

    # 4. greedy evaluation on the held-out tasks
    rows = []
    runs = [("sft", str(pi_ref), split["heldout"])]
    if args.base_episodes:
        runs.insert(0, ("base", args.model, split["heldout"][: args.base_episodes]))
    for name, model, tasks in runs:
        t0 = time.perf_counter()
        policy = make_policy(args.backend, model=model, **({"device": "cpu"} if args.backend == "hf" else {}))
        try:
            report = evaluate_policy(
                policy,
                args.env,
                env_kwargs=kwargs,
                tasks=tasks,
                prompt=prompt,
                num_envs=args.num_envs,
                params=None if args.max_new_tokens == 128 else GenerationParams(max_new_tokens=args.max_new_tokens),
                out=out / f"eval_{name}.json",
            )
        finally:
            policy.close()
        times[f"eval_{name}_s"] = time.perf_counter() - t0
        lo, hi = report["success_ci95"]
        rows.append(
            f"| {name} | {report['episodes']} | {report['success_rate']:.3f} | [{lo:.3f}, {hi:.3f}] | "
            f"{report['avg_reward']:.3f} | {report['unparseable_rate']:.3f} | {report['avg_steps']:.2f} |"
        )
    lines = [
        f"# SFT on {len(demos)} oracle demonstrations of {args.env}, {len(split['heldout'])} held-out tasks",
        "",
        f"model `{args.model}`; SFT: {sft_metrics.get('steps')} steps, loss {sft_metrics.get('first_loss')} -> "
        f"{sft_metrics.get('last_loss')}, {sft_metrics.get('data/trained_tokens')} trained tokens, "
        f"lora={sft_metrics.get('lora')}, precision {sft_metrics.get('precision')}; greedy evaluation "
        f"({args.backend}), history window {args.history_window}, split seed {args.seed}.",
        "",
        "| policy | episodes | success | 95% Wilson | avg reward | unparseable steps | avg steps |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Stage times (s, this call; 0 for a stage reused from an earlier call): "
        + ", ".join(f"{k} {v:.0f}" for k, v in times.items()),
        "",
    ]
    atomic_write_text(out / "results.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
