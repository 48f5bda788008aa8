"""Run the HPL pipeline (or a baseline): ``python -m scripts.hpl --config CONFIG``.

Stages run in order in the config's ``run_dir`` and are skipped when already
done, so rerunning the same command resumes a killed run. Examples::

    python -m scripts.hpl --config assets/configs/hpl_tiny.yaml
    python -m scripts.hpl --config assets/configs/hpl_tiny.yaml --method eto --set run_dir=runs/eto
    python -m scripts.hpl --config assets/configs/hpl_alfworld.yaml --until explore
    python -m scripts.hpl --help-config     # every config key: type, default, meaning (docs/config.md)
    # the whole method on several GPUs: training under DeepSpeed ZeRO-3, rollouts split per process
    accelerate launch --config_file assets/configs/accelerate/zero3.yaml \
        -m scripts.hpl --config assets/configs/hpl_alfworld.yaml

Methods: sft, rft, eto, ipr, hpl, hpl_{fixed_n,fixed_k,uncertainty,semantic},
hpl_no_{traj,step,group}, hpl_{static,length,difficulty} (see trainers/hpl/methods.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from agent_gym.paths import asset_path
from scripts.cli import command_prog

DEFAULT_CONFIG = asset_path("configs", "hpl_tiny.yaml")

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_prog("hpl"), description=__doc__.splitlines()[0])
    p.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="YAML config (default: assets/configs/hpl_tiny.yaml, the CPU demo on generated ALFWorld games)",
    )
    p.add_argument("--method", help="override the config's method")
    p.add_argument("--run-dir", help="override the config's run_dir")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set explore.mc_rollouts=3 (YAML value; repeatable)",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--help-config", action="store_true", help="list every config key (type, default, help) and exit")
    p.add_argument("--until", metavar="STAGE", help="stop after this stage")
    p.add_argument("--redo-from", metavar="STAGE", help="recompute this stage and the ones after it")
    p.add_argument("--list-methods", action="store_true", help="print the methods and exit")
    p.add_argument("--quiet", action="store_true", help="less logging")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from agent_gym.errors import AgentGymError
    from trainers.configfile import config_reference, config_to_dict
    from trainers.hpl.config import HPLConfig, load_config
    from trainers.hpl.methods import METHODS

    if args.help_config:
        print(config_reference(HPLConfig, "Keys of an HPL config (YAML sections; --set section.key=value):"), end="")
        return 0

    if args.list_methods:
        for name, spec in METHODS.items():
            print(f"{name:18s} {spec.kind:10s} levels={','.join(spec.levels) or '-'} curriculum={spec.curriculum}")
        return 0
    overrides = list(args.overrides)
    if args.method:
        overrides.append(f"method={args.method}")
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    try:
        cfg = load_config(args.config, overrides)
        if args.print_config:
            print(json.dumps(config_to_dict(cfg), indent=2))
            return 0
        from trainers.hpl.pipeline import run_pipeline

        state = run_pipeline(cfg, until=args.until, redo_from=args.redo_from)
    except (ValueError, FileNotFoundError, AgentGymError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics = state["stages"].get("evaluate")
    if metrics:
        print(json.dumps({k: metrics[k] for k in ("method", "tasks", "success_rate", "avg_reward") if k in metrics}))
    print(f"run directory: {cfg.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
