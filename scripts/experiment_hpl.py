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


def results_table(out: Path, methods: list[str], results: dict) -> str:
    """Markdown: held-out results per method, pi_ref on its training tasks, exploration cost."""
    lines = [
        "| method | held-out success | avg reward | invalid actions | avg steps | optimizer steps | eval tasks |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        r = results[m]
        steps = r["train"].get("optimizer_steps") or r["train"].get("steps")  # composite / SFT (RFT)
        lines.append(
            f"| {m} | {r['success_rate']:.3f} | {r['avg_reward']:.3f} | {r['invalid_action_rate']:.3f} | "
            f"{r['avg_steps']:.1f} | {steps if steps is not None else '-'} | {r['eval_tasks']} |"
        )
    st = json.loads((out / "hpl" / "state.json").read_text())["stages"]
    sft, ex = st.get("sft", {}), st.get("explore", {})
    traj = ex.get("levels", {}).get("traj", {})
    lines += [
        "",
        f"pi_ref (SFT): {sft.get('examples')} demonstrations, {sft.get('steps')} optimizer steps, loss "
        f"{sft.get('first_loss', float('nan')):.3f} -> {sft.get('last_loss', float('nan')):.3f}; sampling at the "
        f"exploration temperature it solved {ex.get('rft_successes')} of the {traj.get('candidates')} training tasks "
        "it explored (trajectory level).",
    ]
    lines += [
        "",
        "Exploration cost (HPL run):",
        "",
        "| level | pairs | candidates | LLM calls | env steps | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for lv, s in ex.get("levels", {}).items():
        lines.append(
            f"| {lv} | {s['pairs']} | {s['candidates']} | {s['llm_calls']} | {s['env_steps']} | {s['seconds']} |"
        )
    cur = st.get("curriculum", {})
    if cur:
        lines += [
            "",
            f"Group pairs per curriculum bucket (rows: length 1-3, columns: reward gap large-small): "
            f"{cur.get('counts')}; pairs per phase {cur.get('pairs_per_phase')}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent_gym.fileio import atomic_write_text
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
        state = run_pipeline(cfg)
        ev = state["stages"].get("evaluate", {})
        results[m] = {
            "success_rate": ev.get("success_rate"),
            "avg_reward": ev.get("avg_reward"),
            "invalid_action_rate": ev.get("invalid_action_rate"),
            "eval_tasks": ev.get("tasks"),
            "avg_steps": ev.get("avg_steps"),
            "train": {
                k: state["stages"].get("train", {}).get(k)
                for k in ("optimizer_steps", "steps", "first_loss", "last_loss")
            },
            # stage times of this method's own run (reused stages excluded), so a resumed run reports the same
            "stage_seconds": {k: v.get("seconds") for k, v in state["stages"].items() if "reused_from" not in v},
        }
        write_json(out / "results.json", results)
    table = results_table(out, methods, results)
    atomic_write_text(out / "results.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
