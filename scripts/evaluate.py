"""Evaluate a model or a scripted policy on an agent-gym environment.

    python -m scripts.evaluate --env ENV_ID [--split SPLIT] [--data-dir DIR]
        (--model PATH_OR_HF_ID [--backend hf|vllm|openai] [--dtype auto] | --policy oracle|random)
        [--episodes N] [--seed S] [--out REPORT.json]

Prints a table and writes REPORT.json, REPORT.md, REPORT.png (per-task-type
success) and REPORT.trajectories.jsonl beside it. Re-running the same command
resumes: episodes already in the trajectories file are not played again, and
the steps of episodes in flight (REPORT.trajectories.jsonl.inflight) are
replayed, so a killed run loses at most the steps of one round.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scripts.cli import command_prog
from trainers.models import DTYPE_CHOICES


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
    p.add_argument(
        "--env", required=True, help="environment id, e.g. ALFWorld-Text-v0, InterCodeSQL-v0, WebShop-Text-v0"
    )
    p.add_argument("--split", default=None, help="task split (default: the env's default)")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default: the env's embedded/default data)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="model folder or Hugging Face id (or the served model name with --backend openai)")
    who.add_argument("--policy", choices=["oracle", "random"], help="a scripted policy instead of a model")
    p.add_argument("--backend", choices=["hf", "vllm", "openai"], default="hf", help="how to run --model (default hf)")
    p.add_argument("--base-url", default=None, help="server URL for --backend openai (default $OPENAI_BASE_URL)")
    p.add_argument("--device", default=None, help="hf backend device (default cuda if available, else cpu)")
    p.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="model weights dtype for hf/vllm (default auto: bfloat16 where the device supports it, else float32)",
    )
    eng = p.add_argument_group("vLLM engine (--backend vllm)")
    eng.add_argument(
        "--max-model-len", type=int, default=None, help="context length (default: the model's, at most 8192)"
    )
    eng.add_argument("--gpu-memory-utilization", type=float, default=0.8, help="GPU memory fraction (default 0.8)")
    eng.add_argument(
        "--enforce-eager",
        choices=["auto", "true", "false"],
        default="auto",
        help="skip graph capture (default auto: on without a GPU)",
    )
    eng.add_argument("--engine-logs", action="store_true", help="show vLLM's own logs (default: errors only)")
    api = p.add_argument_group("OpenAI-compatible server (--backend openai)")
    api.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    api.add_argument("--concurrency", type=int, default=8, help="parallel requests (default 8)")
    api.add_argument("--max-retries", type=int, default=3, help="retries on 429/5xx/connection errors (default 3)")
    p.add_argument(
        "--episodes", type=int, default=None, help="number of tasks, spread evenly over the split (default: all)"
    )
    p.add_argument("--task-ids", nargs="+", default=None, help="play exactly these task ids (overrides --episodes)")
    p.add_argument("--seed", type=int, default=0, help="reset seed and sampling seed (default 0)")
    p.add_argument("--out", default=None, help="report path (default results/eval/<env>_<policy>.json)")
    p.add_argument("--num-envs", type=int, default=8, help="environments played in parallel (default 8)")
    p.add_argument("--max-steps", type=int, default=None, help="agent steps per episode (default: the env's limit)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--history-window", type=int, default=4, help="turns of history in the prompt (-1: all)")
    p.add_argument(
        "--stop",
        nargs="+",
        default=None,
        metavar="STR",
        help="stop strings (backslash escapes such as \\n are decoded); default: the prompt family's",
    )
    p.add_argument("--no-stop", action="store_true", help="no stop strings")
    p.add_argument(
        "--max-unparseable",
        type=int,
        default=None,
        metavar="N",
        help="end an episode after N consecutive unparseable outputs (default: off, as published setups)",
    )
    p.add_argument(
        "--no-repeat-reuse",
        action="store_true",
        help="generate even when a greedy prompt repeats (default: reuse its output; exact, saves time)",
    )
    p.add_argument(
        "--one-shot",
        action="store_true",
        help="add a one-shot example: the oracle on a task of the training split, never an evaluated task",
    )
    p.add_argument(
        "--one-shot-split",
        default=None,
        help="split of the one-shot task (default: train if the env has it there, else the evaluated split "
        "without the evaluated tasks)",
    )
    p.add_argument(
        "--one-shot-task",
        default=None,
        help="task id or index in --one-shot-split (default: the first one the oracle solves)",
    )
    p.add_argument(
        "--env-arg", action="append", type=_kv, default=[], metavar="KEY=VALUE", help="extra env kwarg (JSON values)"
    )
    p.add_argument("--no-resume", action="store_true", help="start over even if trajectories exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _default_out(args: argparse.Namespace) -> Path:
    who = args.policy or Path(str(args.model).rstrip("/")).name.replace("/", "_")
    split = f"_{args.split}" if args.split else ""
    return Path("results") / "eval" / f"{args.env}{split}_{who}.json"


def _stops(args: argparse.Namespace) -> tuple[str, ...]:
    from wrappers.prompting import stop_sequences

    if args.no_stop:
        return ()
    if args.stop is not None:
        return tuple(s.encode("latin-1", "backslashreplace").decode("unicode_escape") for s in args.stop)
    return stop_sequences(args.env)


def make_model_policy(args: argparse.Namespace) -> Any:
    """The policy for ``--model`` with the backend settings of the command line."""
    from trainers.policies import make_policy

    if args.backend == "hf":  # HFPolicy resolves the device and "auto" dtype (trainers.models)
        return make_policy("hf", model=args.model, device=args.device, dtype=args.dtype)
    if args.backend == "vllm":
        eager = None if args.enforce_eager == "auto" else args.enforce_eager == "true"
        return make_policy(
            "vllm",
            model=args.model,
            dtype=args.dtype,
            max_model_len=args.max_model_len,
            gpu_memory_utilization=args.gpu_memory_utilization,
            enforce_eager=eager,
            quiet=not args.engine_logs,
        )
    return make_policy(
        "openai",
        model=args.model,
        base_url=args.base_url,
        timeout=args.timeout,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_unparseable is not None and args.max_unparseable < 1:
        print("error: --max-unparseable must be >= 1 (leave it out to keep it off)", file=sys.stderr)
        return 2
    import agent_gym  # noqa: F401  (registers env ids)
    from agent_gym.errors import AgentGymError
    from trainers.evaluation import evaluate_policy, report_paths, table
    from trainers.policies import GenerationParams, make_policy
    from trainers.rollout import one_shot_example
    from wrappers.prompting import PromptConfig

    env_kwargs = dict(args.env_arg)
    if args.split is not None:
        env_kwargs["split"] = args.split
    if args.data_dir is not None:
        env_kwargs["data_dir"] = args.data_dir
    policy = None
    try:
        if args.policy:
            policy = make_policy(
                args.policy, env_id=args.env, **({"seed": args.seed} if args.policy == "random" else {})
            )
        else:
            policy = make_model_policy(args)
        one_shot = source = None
        if args.one_shot:
            from agent_gym.core import text_env
            from trainers.evaluation import select_tasks
            from trainers.rollout import make_env

            probe = make_env(args.env, env_kwargs, 0)
            try:
                base = text_env(probe)
                ids = list(base.task_ids)
                evaluated = (
                    [base.resolve_task_id(t) for t in args.task_ids]
                    if args.task_ids
                    else select_tasks(ids, args.episodes)
                )
            finally:
                probe.close()
            task: Any = args.one_shot_task
            if task is not None and task.lstrip("-").isdigit():
                task = int(task)
            one_shot, source = one_shot_example(
                args.env, env_kwargs, split=args.one_shot_split, task=task, exclude=evaluated
            )
        prompt = PromptConfig(
            history_window=None if args.history_window < 0 else args.history_window, one_shot=one_shot
        )
        params = GenerationParams(
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            stop=_stops(args),
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
            max_unparseable=args.max_unparseable,
            reuse_greedy_repeats=not args.no_repeat_reuse,
            one_shot_source=source,
        )
    except (AgentGymError, ValueError, FileNotFoundError) as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        if policy is not None:
            policy.close()
        return 2
    print(table(report))
    paths = report_paths(out)
    print(f"report: {paths['json']}  (also {paths['md'].name}, {paths['png'].name}, {paths['trajectories'].name})")
    policy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
