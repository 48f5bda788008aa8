"""Speed of the ALFWorld generator, oracle and fact reading (prints numbers).

    python -m benchmarks.alfworld_generator [--games 60] [--stock]

``--stock`` also loads one real and one generated game on the stock textworld
engine to time ``live_facts`` and ``next_action`` on a real engine state.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agent_gym.alfworld.facts import parse_problem_facts
from agent_gym.alfworld.generator import generate_game, generate_games
from agent_gym.alfworld.oracle import TASK_TYPES, ALFWorldOracle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=60)
    parser.add_argument("--stock", action="store_true")
    args = parser.parse_args()

    generate_game(0, TASK_TYPES[0])  # warm caches (wheel files, layouts)
    t = time.perf_counter()
    games = [generate_game(i, TASK_TYPES[i % 6]) for i in range(args.games)]
    dt = time.perf_counter() - t
    print(f"generate_game: {dt / args.games * 1e3:.1f} ms/game ({args.games} games)")
    steps = [len(g["walkthrough"]) for g in games]
    print(f"walkthrough length: mean {sum(steps) / len(steps):.2f}, max {max(steps)}")

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        generate_games(Path(tmp), args.games, seed=0, verify="facts", progress=False)
        print(f"generate_games (write, facts-verified): {(time.perf_counter() - t) / args.games * 1e3:.1f} ms/game")

    oracle = ALFWorldOracle(games[5])
    facts = parse_problem_facts(games[5]["pddl_problem"])
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        oracle.plan_kind(facts)
    print(f"oracle plan from {len(facts)} facts: {(time.perf_counter() - t) / n * 1e3:.2f} ms")

    if args.stock:
        from agent_gym.alfworld.facts import live_facts
        from agent_gym.alfworld.gen_stock import StockGame

        sg = StockGame(games[5])
        t = time.perf_counter()
        sg.reset()
        print(f"stock engine reset: {(time.perf_counter() - t) * 1e3:.0f} ms")
        state = sg._env.unwrapped._pddl_state
        live_facts(state)
        t = time.perf_counter()
        for _ in range(n):
            f = live_facts(state)
        print(f"live_facts: {(time.perf_counter() - t) / n * 1e3:.2f} ms ({len(f)} facts)")
        oracle = ALFWorldOracle(sg.game)
        t = time.perf_counter()
        for _ in range(n):
            oracle.next_action(f, sg.admissible)
        print(f"next_action: {(time.perf_counter() - t) / n * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
