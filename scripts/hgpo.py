"""Train a policy with HGPO, GiGPO or GRPO: ``python -m scripts.hgpo --config CONFIG``.

    python -m scripts.hgpo --config assets/configs/hgpo_alfworld.yaml \\
        [--set key=value ...] [--run-dir DIR] [--no-resume] [--iterations N]

Re-running the same command resumes from the run's latest checkpoint. The run
folder gets ``metrics.jsonl``, ``metrics.png``, ``checkpoints/iter_*/`` and
``eval/iter_*.json`` reports. ``--print-config`` shows the resolved settings.
"""

from __future__ import annotations

import argparse
import json
import sys

from scripts.cli import command_prog


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_prog("hgpo"), description=__doc__.split("\n")[0])
    p.add_argument(
        "--config", default=None, help="YAML config (see assets/configs/hgpo_*.yaml); default: built-in defaults"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (YAML value)")
    p.add_argument("--run-dir", default=None, help="output folder (overrides run_dir)")
    p.add_argument("--iterations", type=int, default=None, help="total iterations (overrides iterations)")
    p.add_argument(
        "--method", choices=["grpo", "gigpo", "hgpo"], default=None, help="advantage estimator (overrides method)"
    )
    p.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints in the run folder")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent_gym.errors import AgentGymError
    from trainers.hgpo.config import load_config, parse_overrides

    try:
        overrides = parse_overrides(args.set)
        if args.run_dir is not None:
            overrides["run_dir"] = args.run_dir
        if args.iterations is not None:
            overrides["iterations"] = args.iterations
        if args.method is not None:
            overrides["method"] = args.method
        config = load_config(args.config, overrides)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    import agent_gym  # noqa: F401  (registers env ids)
    from trainers.hgpo.trainer import train

    try:
        rows = train(config, resume=not args.no_resume)
    except (AgentGymError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from trainers.distributed import is_main_process

    if not is_main_process():
        return 0  # under accelerate launch the main process reports
    if rows:
        last = rows[-1]
        print(
            f"done: iteration {last['iteration']}, train reward {last['train/avg_reward']:.3f}, "
            f"success {last['train/success_rate']:.2f}; metrics in {config.run_dir}/metrics.jsonl"
        )
    else:
        print(f"nothing to do: {config.run_dir} already has {config.iterations} iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
