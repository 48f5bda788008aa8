"""Speed and memory of ALFWorld-Text-v0 (fast engine) against the stock textworld engine.

    python -m benchmarks.alfworld_env [--data-dir DIR] [--games 4] [--steps 300] [--stock]

Prints: load time per game (cold translation and disk-cached), reset ms, step ms,
steps/s, snapshot/restore microseconds, the cost of replaying a 30-step prefix
(fast and, with ``--stock``, stock), and memory per env instance.
Data: ``--data-dir``, else ``$ALFWORLD_DATA``, else ``../shared/data/alfworld``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _default_root() -> Path:
    if os.environ.get("ALFWORLD_DATA"):
        return Path(os.environ["ALFWORLD_DATA"])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alfworld"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--games", type=int, default=4, help="games to measure load time on")
    parser.add_argument("--steps", type=int, default=300, help="random-walk steps for step timing")
    parser.add_argument("--stock", action="store_true", help="also time the stock engine (slow: ~10 s)")
    args = parser.parse_args()
    root = args.data_dir or _default_root()

    from agent_gym.alfworld import engine as E
    from agent_gym.alfworld.env import ALFWorldTextEnv

    rss0 = _rss_mb()
    env = ALFWorldTextEnv(data_dir=root, split="valid_seen", max_episode_steps=10_000)
    ids = env.task_ids
    rng = random.Random(0)
    picks = sorted(rng.sample(range(len(ids)), args.games))
    print(f"data: {root} ({len(ids)} valid_seen games); measuring on {len(picks)} games")

    # ---- load: cold (fresh translation, no disk cache) vs disk-cached (fresh process state aside)
    cold, cached = [], []
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("AGENT_GYM_CACHE")
        os.environ["AGENT_GYM_CACHE"] = tmp
        try:
            for i in picks:
                path = env.game_file(i)
                t = time.perf_counter()
                E.compile_game(path)
                cold.append(time.perf_counter() - t)
                t = time.perf_counter()
                E.compile_game(path)
                cached.append(time.perf_counter() - t)
        finally:
            if old is None:
                os.environ.pop("AGENT_GYM_CACHE")
            else:
                os.environ["AGENT_GYM_CACHE"] = old
    print(
        f"load (compile) per game: cold {statistics.mean(cold) * 1000:.0f} ms "
        f"(max {max(cold) * 1000:.0f}), disk-cached {statistics.mean(cached) * 1000:.0f} ms"
    )

    # ---- first reset of a task (planner load + initial facts) and repeated reset
    first, again, switch = [], [], []
    for i in picks:
        env.compiled_game(ids[i])  # compiled (cached), not yet played
    for i in picks:
        t = time.perf_counter()
        env.reset(options={"task_id": i})
        first.append(time.perf_counter() - t)
    for i in picks:
        t = time.perf_counter()
        env.reset(options={"task_id": i})
        switch.append(time.perf_counter() - t)
    for _ in range(20):
        t = time.perf_counter()
        env.reset(options={"task_id": picks[-1]})
        again.append(time.perf_counter() - t)
    print(
        f"reset: same task {statistics.median(again) * 1000:.2f} ms, switching to another compiled task "
        f"{statistics.median(switch) * 1000:.1f} ms, first play of a compiled game {statistics.mean(first) * 1000:.0f} ms"
    )

    # ---- steps (random walks, 10% invalid actions), snapshot/restore
    step_times, snaps, restores = [], [], []
    walk = random.Random(1)
    env.reset(options={"task_id": picks[0]})
    n = 0
    while n < args.steps:
        adm = env.engine.admissible_commands
        action = walk.choice(adm) if walk.random() < 0.9 else "jump around"
        t = time.perf_counter()
        _, _, term, trunc, _ = env.step(action)
        step_times.append(time.perf_counter() - t)
        n += 1
        if n % 10 == 0:
            t = time.perf_counter()
            s = env.snapshot()
            snaps.append(time.perf_counter() - t)
            t = time.perf_counter()
            env.restore(s)
            restores.append(time.perf_counter() - t)
        if term or trunc or n % 40 == 0:
            env.reset(options={"task_id": picks[(n // 40) % len(picks)]})
    mean_step = statistics.mean(step_times)
    print(
        f"step: mean {mean_step * 1000:.2f} ms, median {statistics.median(step_times) * 1000:.2f} ms, "
        f"p95 {sorted(step_times)[int(0.95 * len(step_times))] * 1000:.2f} ms -> {1 / mean_step:.0f} steps/s"
    )
    print(
        f"snapshot: {statistics.median(snaps) * 1e6:.0f} us, restore: {statistics.median(restores) * 1e6:.0f} us (median)"
    )

    # ---- replaying a 30-step prefix (what branching without restore would cost)
    env.reset(options={"task_id": picks[0]})
    prefix = []
    walk = random.Random(2)
    for _ in range(30):
        a = walk.choice(env.engine.admissible_commands)
        prefix.append(a)
        if env.step(a)[2]:
            break
    t = time.perf_counter()
    env.reset(options={"task_id": picks[0]})
    for a in prefix:
        env.step(a)
    replay = time.perf_counter() - t
    print(
        f"replay of a {len(prefix)}-step prefix: fast {replay * 1000:.0f} ms "
        f"(vs restore {statistics.median(restores) * 1e6:.0f} us)"
    )

    # ---- memory per env instance
    rss_one = _rss_mb()
    extra = []
    for _ in range(4):
        e = ALFWorldTextEnv(data_dir=root)
        e.reset(options={"task_id": picks[0]})
        extra.append(e)
    rss_more = _rss_mb()
    print(
        f"memory: process after first env {rss_one - rss0:.0f} MB (incl. imports); "
        f"each further env instance {(rss_more - rss_one) / len(extra):.1f} MB"
    )

    if args.stock:
        import textworld
        from textworld.envs.pddl import PddlEnv

        saved = os.environ.get("ALFWORLD_DATA")
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler

        if saved is None:
            os.environ.pop("ALFWORLD_DATA", None)
        stock = AlfredDemangler()(PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True)))
        path = str(env.game_file(picks[0]))
        t = time.perf_counter()
        stock.load(path)
        load = time.perf_counter() - t
        t = time.perf_counter()
        stock.reset()
        reset = time.perf_counter() - t
        t = time.perf_counter()
        for a in prefix[:10]:
            stock.step(a)
        stock_step = (time.perf_counter() - t) / min(10, len(prefix))
        print(
            f"stock engine: load {load:.2f} s, reset {reset:.2f} s, step {stock_step * 1000:.0f} ms, "
            f"replay of the {len(prefix)}-step prefix ~{reset + stock_step * len(prefix):.1f} s"
        )
    env.close()


if __name__ == "__main__":
    main()
