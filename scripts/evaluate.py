"""Evaluate a model or a scripted policy on an agent-gym environment.

    python -m scripts.evaluate --env ENV_ID [--split SPLIT] [--data-dir DIR]
        (--model PATH_OR_HF_ID [--backend hf|vllm|openai] | --policy oracle|random)
        [--episodes N] [--seed S] [--out REPORT.json]

Prints a table and writes REPORT.json, REPORT.md, REPORT.png (per-task-type
success) and REPORT.trajectories.jsonl beside it. Re-running the same command
resumes: episodes already in the trajectories file are not played again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scripts.cli import command_prog


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_prog("evaluate"), description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, help="environment id, e.g. ALFWorld-Text-v0, InterCodeSQL-v0, WebShop-Text-v0")
    p.add_argument("--split", default=None, help="task split (default: the env's default)")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default: the env's embedded/default data)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="model folder or Hugging Face id (or the served model name with --backend openai)")
    who.add_argument("--policy", choices=["oracle", "random"], help="a scripted policy instead of a model")
    p.add_argument("--backend", choices=["hf", "vllm", "openai"], default="hf", help="how to run --model (default hf)")
    p.add_argument("--base-url", default=None, help="server URL for --backend openai (default $OPENAI_BASE_URL)")
    p.add_argument("--device", default=None, help="hf backend device (default cuda if available, else cpu)")
    p.add_argument("--episodes", type=int, default=None, help="number of tasks, spread evenly over the split (default: all)")
    p.add_argument("--task-ids", nargs="+", default=None, help="play exactly these task ids (overrides --episodes)")
    p.add_argument("--seed", type=int, default=0, help="reset seed and sampling seed (default 0)")
    p.add_argument("--out", default=None, help="report path (default results/eval/<env>_<policy>.json)")
    p.add_argument("--num-envs", type=int, default=8, help="environments played in parallel (default 8)")
    p.add_argument("--max-steps", type=int, default=None, help="agent steps per episode (default: the env's limit)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--history-window", type=int, default=4, help="turns of history in the prompt (-1: all)")
    p.add_argument("--one-shot", action="store_true", help="add a one-shot example from the oracle on --one-shot-task")
    p.add_argument("--one-shot-task", default="0", help="task id or index for the one-shot example (default 0)")
    p.add_argument("--env-arg", action="append", type=_kv, default=[], metavar="KEY=VALUE", help="extra env kwarg (JSON values)")
    p.add_argument("--no-resume", action="store_true", help="start over even if trajectories exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _default_out(args: argparse.Namespace) -> Path:
    who = args.policy or Path(str(args.model).rstrip("/")).name.replace("/", "_")
    split = f"_{args.split}" if args.split else ""
    return Path("results") / "eval" / f"{args.env}{split}_{who}.json"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import agent_gym  # noqa: F401  (registers env ids)
    from agent_gym.errors import AgentGymError
    from trainers.evaluation import evaluate_policy, report_paths, table
    from trainers.policies import GenerationParams, make_policy
    from trainers.rollout import expert_example
    from wrappers.prompting import PromptConfig

    env_kwargs = dict(args.env_arg)
    if args.split is not None:
        env_kwargs["split"] = args.split
    if args.data_dir is not None:
        env_kwargs["data_dir"] = args.data_dir
    try:
        if args.policy:
            policy = make_policy(args.policy, env_id=args.env, **({"seed": args.seed} if args.policy == "random" else {}))
        elif args.backend == "hf":
            policy = make_policy("hf", model=args.model, device=args.device)
        elif args.backend == "vllm":
            policy = make_policy("vllm", model=args.model)
        else:
            policy = make_policy("openai", model=args.model, base_url=args.base_url)
        one_shot = None
        if args.one_shot:
            task: Any = int(args.one_shot_task) if args.one_shot_task.lstrip("-").isdigit() else args.one_shot_task
            one_shot = expert_example(args.env, env_kwargs, task)
        prompt = PromptConfig(history_window=None if args.history_window < 0 else args.history_window, one_shot=one_shot)
        params = GenerationParams(
            temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
        )
        out = Path(args.out) if args.out else _default_out(args)
        report = evaluate_policy(
            policy,
            args.env,
            env_kwargs={k: v for k, v in env_kwargs.items() if k not in ("split", "data_dir")},
            split=args.split,
            data_dir=args.data_dir,
            episodes=args.episodes,
            tasks=args.task_ids,
            seed=args.seed,
            params=params,
            prompt=prompt,
            num_envs=args.num_envs,
            max_steps=args.max_steps,
            out=out,
            resume=not args.no_resume,
            progress=not args.quiet,
        )
    except (AgentGymError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(report))
    paths = report_paths(out)
    print(f"report: {paths['json']}  (also {paths['md'].name}, {paths['png'].name}, {paths['trajectories'].name})")
    policy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
