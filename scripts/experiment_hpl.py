"""Compare SFT, ETO, IPR and HPL (and more) on held-out tasks: ``python -m scripts.experiment_hpl``.

HPL runs first (all stages); the other methods reuse its demonstrations, pi_ref,
exploration data and reference log-probs (symlinked), then train and evaluate
on the same held-out tasks. Every run directory is resumable, so rerunning the
command continues where it stopped. Writes ``results.json`` and ``results.md``
(a table) into ``--out``. Example (CPU, minutes)::

    python -m scripts.experiment_hpl --config assets/configs/hpl_tiny.yaml --out runs/experiment_hpl \\
        --methods sft,eto,ipr,hpl --set env.train_tasks=24 --set env.eval_tasks=12
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REUSED = {"sft": ["demos", "sft"], "rft": ["demos", "sft", "explore"]}
PREFERENCE_REUSED = ["demos", "sft", "explore", "reference"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.experiment_hpl", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="assets/configs/hpl_tiny.yaml")
    p.add_argument("--out", default="runs/experiment_hpl")
    p.add_argument("--methods", default="sft,eto,ipr,hpl", help="comma-separated methods (hpl always runs first)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from trainers.hpl.config import load_config
    from trainers.hpl.methods import get_method
    from trainers.hpl.pipeline import reuse_stages, run_pipeline, write_json

    out = Path(args.out)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        get_method(m)
    order = ["hpl"] + [m for m in methods if m != "hpl"]
    results = {}
    for m in order:
        cfg = load_config(args.config, args.overrides + [f"method={m}", f"run_dir={out / m}"])
        if m != "hpl":
            spec = get_method(m)
            if spec.segmenter is not None:  # other groups: explore again
                stages = ["demos", "sft"]
            else:
                stages = REUSED.get(spec.kind, PREFERENCE_REUSED)
            reuse_stages(out / "hpl", out / m, stages)
        t0 = time.perf_counter()
        state = run_pipeline(cfg)
        ev = state["stages"].get("evaluate", {})
        results[m] = {
            "success_rate": ev.get("success_rate"), "mean_reward": ev.get("mean_reward"),
            "invalid_action_rate": ev.get("invalid_action_rate"), "eval_tasks": ev.get("tasks"),
            "train": {k: state["stages"].get("train", {}).get(k) for k in ("optimizer_steps", "first_loss", "last_loss")},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        write_json(out / "results.json", results)
    hpl_state = json.loads((out / "hpl" / "state.json").read_text())
    lines = ["| method | success | mean reward | invalid actions | eval tasks |", "|---|---|---|---|---|"]
    for m in methods:
        r = results[m]
        lines.append(f"| {m} | {r['success_rate']:.3f} | {r['mean_reward']:.3f} | {r['invalid_action_rate']:.3f} | {r['eval_tasks']} |")
    lines += ["", "Exploration cost (HPL run):", "", "| level | pairs | LLM calls | env steps | seconds |", "|---|---|---|---|---|"]
    for lv, s in hpl_state["stages"]["explore"]["levels"].items():
        lines.append(f"| {lv} | {s['pairs']} | {s['llm_calls']} | {s['env_steps']} | {s['seconds']} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
