"""Data check: which tasks' gold queries fail (or do not score 1.0) on a backend.

    python -m agent_gym.sql.check --data-dir ../shared/data/intercode --backend mysql

Prints one line per problem task and a summary; exit code 1 when any gold
query fails. ``--submit`` also plays each gold query through the env and checks
that submitting it scores 1.0 (slower; catches nondeterministic results).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from tqdm import tqdm


@dataclass(frozen=True)
class GoldProblem:
    task_id: str
    db: str
    gold: str
    error: str | None  # server message when the gold query fails
    reward: float | None  # submitted-gold reward when it ran but did not score 1.0


def check_gold(env: Any, submit: bool = False, progress: bool = True) -> list[GoldProblem]:
    """Run every task's gold query on ``env``'s backend; list the ones that fail (or score < 1 with ``submit``)."""
    env = getattr(env, "unwrapped", env)
    problems: list[GoldProblem] = []
    for task in tqdm(env.tasks, desc="gold queries", disable=not progress):
        gold = env.gold_result(task)
        if gold.error is not None:
            problems.append(GoldProblem(task.task_id, task.db, task.gold, gold.error, None))
            continue
        if submit:
            env.reset(options={"task_id": task.task_id})
            env.step(task.gold)
            reward = env.step("submit")[1]
            if reward != 1.0:
                problems.append(GoldProblem(task.task_id, task.db, task.gold, None, reward))
    return problems


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agent_gym.sql.check", description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder with ic_spider_dev.json + ic_spider_dbs.sql (default: embedded benchmark)",
    )
    p.add_argument("--split", default="dev")
    p.add_argument("--backend", default="auto", choices=["auto", "mysql", "sqlite"])
    p.add_argument("--submit", action="store_true", help="also submit each gold query through the env")
    p.add_argument("--json", action="store_true", help="print problems as JSON lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent_gym.errors import AgentGymError
    from agent_gym.sql.env import InterCodeSQLEnv

    try:
        env = InterCodeSQLEnv(data_dir=args.data_dir, split=args.split, backend=args.backend)
    except AgentGymError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        problems = check_gold(env, submit=args.submit)
    finally:
        env.close()
    for p in problems:
        if args.json:
            print(json.dumps(asdict(p)))
        else:
            what = f"gold fails: {p.error}" if p.error else f"submitted gold scored {p.reward}"
            print(f"task {p.task_id} ({p.db}): {what}\n    {p.gold}")
    failing = sum(p.error is not None for p in problems)
    print(
        f"{len(env.tasks) - len(problems)} of {len(env.tasks)} tasks OK on backend {env.backend_name}; "
        f"{failing} gold queries fail",
        file=sys.stderr,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
