"""Exploration throughput with 1 and N processes (``accelerate launch``): LLM calls/s and env steps/s.

The HPL pipeline's ``explore`` stage on the corridor env with the tiny model: demonstrations
and pi_ref are made once, then the stage runs in one process (``python -m scripts.hpl``)
and under ``accelerate launch --multi_gpu --num_processes N`` (CPU processes over gloo, or
one GPU each on a GPU machine), each from a copy of the same run directory. Throughput is
the stage's LLM calls and env steps (explore/stats.json) over its wall time (state.json;
process start and model import are not included). The runs must write the same pairs.

    python -m benchmarks.sharded_exploration [--processes 2] [--tasks 8] [--mc 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from trainers.distributed import launch_command

REPO = Path(__file__).resolve().parents[1]


def _config(run_dir: Path, args) -> dict:
    lengths = list(range(1, args.tasks + 1))
    return {
        "method": "hpl",
        "run_dir": str(run_dir),
        "device": args.device,
        "seed": 0,
        "evaluate": False,
        "env": {
            "env_id": "Corridor-Text-v0",
            "kwargs": {"lengths": lengths},
            "max_episode_steps": args.max_steps,
            "num_envs": args.num_envs,
        },
        "policy": {"model": "tiny", "max_new_tokens": args.max_new_tokens, "history_window": None},
        "sft": {"epochs": 1, "batch_size": 4, "micro_batch_size": 2, "learning_rate": 1e-3},
        "explore": {"mc_rollouts": args.mc, "step_stride": 1, "segmenter": "fixed_k", "segmenter_args": {"k": 2}},
        "dpo": {"batch_size": 4, "micro_batch_size": 2},
    }


def _explore(run_dir: Path, args, processes: int) -> dict:
    cfg_path = run_dir.with_suffix(".yaml")
    cfg_path.write_text(yaml.safe_dump(_config(run_dir, args)))
    script = ["-m", "scripts.hpl", "--config", str(cfg_path), "--until", "explore", "--quiet"]
    if processes == 1:
        cmd = [sys.executable, *script]
    else:
        cmd = launch_command(script, processes=processes)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{processes}-process exploration failed:\n{res.stderr[-4000:]}")
    seconds = json.loads((run_dir / "state.json").read_text())["stages"]["explore"]["seconds"]
    levels = json.loads((run_dir / "explore" / "stats.json").read_text())["levels"]
    calls = sum(v["llm_calls"] for v in levels.values())
    steps = sum(v["env_steps"] for v in levels.values())
    pairs = {lv: (run_dir / "pairs" / f"{lv}.jsonl").read_text() for lv in levels}
    return {"seconds": seconds, "llm_calls": calls, "env_steps": steps, "pairs": pairs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sharded_exploration", description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=2, help="processes of the launch (default 2)")
    p.add_argument("--tasks", type=int, default=8, help="corridor tasks (lengths 1..N), one demonstration each")
    p.add_argument("--num-envs", type=int, default=2, help="envs per exploration chunk (chunks are the work items)")
    p.add_argument("--max-steps", type=int, default=12)
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--mc", type=int, default=2, help="Monte-Carlo rollouts per value")
    p.add_argument("--device", default="cpu")
    p.add_argument("--work-dir", default=None, help="keep the runs here (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.processes < 2:
        p.error("--processes must be >= 2 (the 1-process run is always made)")

    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="sharded_exploration_"))
    work.mkdir(parents=True, exist_ok=True)
    from trainers.hpl.config import config_from_dict
    from trainers.hpl.pipeline import run_pipeline

    base = work / "base"
    if not base.exists():
        run_pipeline(config_from_dict(_config(base, args)), until="sft", log=lambda s: None)
    results = {}
    for n in (1, args.processes):
        run = work / f"p{n}"
        if run.exists():
            shutil.rmtree(run)
        shutil.copytree(base, run)
        results[n] = _explore(run, args, n)
    one, many = results[1], results[args.processes]
    print(
        f"corridor, {args.tasks} tasks, {args.num_envs} envs per chunk, M={args.mc}, tiny model, "
        f"device {args.device}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}, {os.cpu_count()} CPUs seen"
    )
    print(f"{'processes':>9s} {'seconds':>8s} {'LLM calls':>9s} {'calls/s':>8s} {'env steps':>9s} {'steps/s':>8s}")
    for n, r in results.items():
        print(
            f"{n:9d} {r['seconds']:8.1f} {r['llm_calls']:9d} {r['llm_calls'] / r['seconds']:8.1f} "
            f"{r['env_steps']:9d} {r['env_steps'] / r['seconds']:8.1f}"
        )
    print(
        f"speed-up {args.processes} vs 1 process: {one['seconds'] / many['seconds']:.2f}x; "
        f"same pairs: {one['pairs'] == many['pairs']}, same counts: "
        f"{(one['llm_calls'], one['env_steps']) == (many['llm_calls'], many['env_steps'])}"
    )
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
