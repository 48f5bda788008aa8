"""Cost of HPL's one-shot exploration per level on real or generated ALFWorld games.

pi_ref is the scripted random policy (no model), so the numbers are the env and
branching cost alone: env steps, branches and seconds per level, and the cost of
a snapshot-restore branch compared with replaying the prefix from reset.

    python -m benchmarks.hpl_exploration --games 4 [--data-dir ../shared/data/alfworld --split valid_seen]
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hpl_exploration")
    p.add_argument("--games", type=int, default=4)
    p.add_argument("--data-dir", default=None, help="ALFWorld root (default: generated games)")
    p.add_argument("--split", default="valid_seen")
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--mc", type=int, default=5, help="Monte-Carlo rollouts per group (M)")
    args = p.parse_args(argv)

    from trainers.hpl.exploration import Explorer, walk_expert
    from trainers.hpl.segmenters import FixedKSegmenter
    from trainers.policies import OraclePolicy, RandomPolicy
    from trainers.policies.base import GenerationParams
    from trainers.rollout import LiveEpisode, make_env, run_episodes, with_step_limit
    from wrappers.prompting import PromptConfig

    env_id = "ALFWorld-Text-v0"
    kw = {"split": args.split, "max_episode_steps": args.max_steps}
    if args.data_dir:
        kw["data_dir"] = args.data_dir
    prompt = PromptConfig(history_window=None)
    tasks = list(range(args.games))
    demos = run_episodes(
        OraclePolicy(env_id),
        env_id,
        tasks,
        env_kwargs={**kw, "expert": True},
        prompt=prompt,
        num_envs=len(tasks),
        max_steps=args.max_steps,
        progress=False,
    )
    demos = [d for d in demos if d.success]
    eps = [LiveEpisode(make_env(env_id, with_step_limit(kw, args.max_steps), history_k=0), prompt) for _ in demos]
    t0 = time.perf_counter()
    walks = [walk_expert(ep, d) for ep, d in zip(eps, demos)]
    walk_s = time.perf_counter() - t0
    ex = Explorer(RandomPolicy(env_id, seed=0), GenerationParams(), prompt, mc_rollouts=args.mc)
    ex.trajectory_level(walks)
    ex.step_level(walks)
    ex.group_level(walks, [FixedKSegmenter(3).segment(w.record.raw_outputs) for w in walks])
    print(
        f"{len(demos)} expert demos, mean {sum(d.num_steps for d in demos) / len(demos):.1f} steps; "
        f"walking them with snapshots: {walk_s:.2f}s"
    )
    print(f"{'level':6s} {'branches':>8s} {'pairs':>6s} {'env steps':>9s} {'seconds':>8s} {'steps/s':>8s}")
    for lv, s in ex.stats.items():
        print(
            f"{lv:6s} {s.branches:8d} {s.pairs:6d} {s.env_steps:9d} {s.seconds:8.2f} {s.env_steps / max(s.seconds, 1e-9):8.1f}"
        )
    # one branch point: restore vs replaying the expert prefix from reset
    w = walks[max(range(len(walks)), key=lambda i: walks[i].num_steps)]
    t = w.num_steps - 1
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        w.episode.restore(w.states[t])
    restore_ms = (time.perf_counter() - t0) / n * 1e3
    t0 = time.perf_counter()
    for _ in range(n):
        w.episode.reset(w.demo.task_id)
        for s in w.demo.steps[:t]:
            w.episode.apply(s.raw_output, forced=True)
    replay_ms = (time.perf_counter() - t0) / n * 1e3
    print(f"reach step {t}: restore {restore_ms:.2f} ms, replay from reset {replay_ms:.1f} ms")
    for ep in eps:
        ep.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
