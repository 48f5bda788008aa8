"""Train a policy with HGPO, GiGPO or GRPO: ``python -m scripts.hgpo --config CONFIG``.

    python -m scripts.hgpo --config assets/configs/hgpo_alfworld.yaml \\
        [--set section.key=value ...] [--run-dir DIR] [--no-resume] [--iterations N]

Re-running the same command resumes from the run's latest checkpoint. The run
folder gets ``metrics.jsonl``, ``metrics.png``, ``checkpoints/iter_*/`` and
``eval/iter_*.json`` reports. ``--print-config`` shows the resolved settings,
``--help-config`` every key with its type, default and meaning (docs/config.md).
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
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set rl.learning_rate=1e-6 (YAML value; repeatable)",
    )
    p.add_argument("--run-dir", default=None, help="output folder (overrides run_dir)")
    p.add_argument("--iterations", type=int, default=None, help="total iterations (overrides rl.iterations)")
    p.add_argument(
        "--method", choices=["grpo", "gigpo", "hgpo"], default=None, help="advantage estimator (overrides method)"
    )
    p.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints in the run folder")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--help-config", action="store_true", help="list every config key (type, default, help) and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent_gym.errors import AgentGymError
    from trainers.configfile import config_reference
    from trainers.hgpo.config import HGPOConfig, load_config

    if args.help_config:
        print(config_reference(HGPOConfig, "Keys of an HGPO config (YAML sections; --set section.key=value):"), end="")
        return 0
    overrides = list(args.set)
    if args.run_dir is not None:
        overrides.append(f"run_dir={args.run_dir}")
    if args.iterations is not None:
        overrides.append(f"rl.iterations={args.iterations}")
    if args.method is not None:
        overrides.append(f"method={args.method}")
    try:
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
        print(f"nothing to do: {config.run_dir} already has {config.rl.iterations} iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
