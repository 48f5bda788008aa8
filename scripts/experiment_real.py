"""A pretrained model's learning experiment: SFT -> pi_ref, then the methods, on held-out tasks.

Stages (docs/real-models.md), each kept in ``--out`` so that a rerun skips what is done:

1. a seeded split of an env's tasks into training and held-out tasks;
2. oracle demonstrations of the training tasks (``--env-arg expert_style=schema`` on InterCode-SQL
   for demonstrations that look at the schema first);
3. SFT (full or LoRA) of the model -> pi_ref, and a greedy held-out evaluation with 95 % Wilson
   intervals (optionally of the base model too);
4. with ``--methods``: from that pi_ref, each method of the HPL pipeline (``sft``, ``rft``,
   ``eto``, ``ipr``, ``hpl``...) with the settings of ``--method-config`` (plus ``--set``
   overrides), on the same training tasks (exploration shared, as in ``scripts.experiment_hpl``),
   evaluated greedily on the same held-out tasks. ``results.md`` gets a table with Wilson
   intervals and paired differences against SFT (bootstrap interval, exact McNemar test),
   ``results.png`` a bar plot.

    python -m scripts.experiment_real --env InterCodeSQL-v0 \\
        --env-arg data_dir=../shared/data/intercode --model "$(python -m scripts.get_model smollm2)" \\
        --train 200 --heldout 200 --epochs 2 --lr 1e-4 --precision bf16 \\
        --methods sft,rft,eto,ipr,hpl --out runs/real_sql
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _kv(text: str) -> tuple[str, Any]:
    key, _, raw = text.partition("=")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.experiment_real", description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, help="environment id, e.g. InterCodeSQL-v0")
    p.add_argument("--env-arg", action="append", type=_kv, default=[], metavar="KEY=VALUE", help="gym.make kwarg")
    p.add_argument("--model", required=True, help="base model folder (e.g. from scripts.get_model)")
    p.add_argument("--out", required=True, help="run folder (resumable)")
    p.add_argument("--train", type=int, default=200, help="training tasks (oracle demonstrations)")
    p.add_argument("--heldout", type=int, default=200, help="held-out evaluation tasks")
    p.add_argument("--seed", type=int, default=0, help="seed of the task split and of SFT")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--micro-batch-size", type=int, default=2)
    p.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: full fine-tuning)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--history-window", type=int, default=4, help="turns of history in prompts (as evaluate)")
    p.add_argument("--backend", default="vllm", choices=["hf", "vllm"], help="evaluation backend")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument(
        "--base-episodes", type=int, default=0, help="also evaluate the base model on this many held-out tasks"
    )
    p.add_argument(
        "--methods",
        default="",
        help="comma-separated HPL-pipeline methods to train from pi_ref and evaluate (e.g. sft,rft,eto,ipr,hpl)",
    )
    p.add_argument(
        "--method-config",
        default="assets/configs/real_methods_cpu.yaml",
        help="HPL config of the methods' exploration and training (env, model, split and prompt come from here)",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument(
        "--rl-methods",
        default="",
        help="comma-separated online RL estimators to train from pi_ref with the HGPO trainer (grpo,gigpo,hgpo)",
    )
    p.add_argument(
        "--rl-config",
        default="assets/configs/real_rl_cpu.yaml",
        help="HGPO config of the RL runs (model, env, tasks, history window and seed come from the script)",
    )
    p.add_argument("--rl-seeds", default="0", help="comma-separated seeds of the RL runs")
    p.add_argument(
        "--rl-set",
        dest="rl_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="HGPO config override, e.g. --rl-set rl.iterations=2 (docs/config.md)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np

    import agent_gym  # noqa: F401  (registers the env ids)
    from agent_gym.core import text_env
    from agent_gym.fileio import atomic_write_text
    from trainers.evaluation import evaluate_policy
    from trainers.hpl.demonstrations import collect_demonstrations, conversation, load_demonstrations
    from trainers.hpl.train import run_sft
    from trainers.lora import LoraSettings
    from trainers.policies import GenerationParams, make_policy
    from trainers.rollout import make_env
    from wrappers.prompting import PromptConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = dict(args.env_arg)
    prompt = PromptConfig(history_window=args.history_window)
    times: dict[str, float] = {}

    # 1. a seeded split of the tasks: held-out first, training tasks disjoint from it
    split_path = out / "split.json"
    if split_path.exists():
        split = json.loads(split_path.read_text())
    else:
        probe = make_env(args.env, kwargs, 0)
        ids = list(text_env(probe).task_ids)
        probe.close()
        if args.train + args.heldout > len(ids):
            print(f"error: {args.env} has {len(ids)} tasks, fewer than --train + --heldout", file=sys.stderr)
            return 2
        order = [ids[i] for i in np.random.default_rng(args.seed).permutation(len(ids))]
        split = {"heldout": order[: args.heldout], "train": order[args.heldout : args.heldout + args.train]}
        atomic_write_text(split_path, json.dumps(split, indent=1))

    # 2. oracle demonstrations of the training tasks
    t0 = time.perf_counter()
    demo_dir = out / "demos"
    if (demo_dir / "expert.jsonl").exists():
        demos = load_demonstrations(demo_dir)
    else:
        demos = collect_demonstrations(
            make_policy("oracle", env_id=args.env),
            args.env,
            split["train"],
            env_kwargs={**kwargs, "expert": True},
            prompt=prompt,
            out_dir=demo_dir,
            num_envs=args.num_envs,
        )
    times["demos_s"] = time.perf_counter() - t0

    # 3. SFT -> pi_ref
    t0 = time.perf_counter()
    pi_ref = out / "pi_ref"
    sft_metrics_path = out / "sft_metrics.json"
    if not sft_metrics_path.exists():
        lora = LoraSettings(enabled=True, r=args.lora_r, alpha=2.0 * args.lora_r) if args.lora_r else LoraSettings()
        _, metrics = run_sft(
            args.model,
            [conversation(r, prompt) for r in demos],
            pi_ref,
            learning_rate=args.lr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            micro_batch_size=args.micro_batch_size,
            seed=args.seed,
            device="cpu",
            precision=args.precision,
            lora=lora,
            max_length=4096,
        )
        atomic_write_text(sft_metrics_path, json.dumps(metrics, indent=1, default=str))
    sft_metrics = json.loads(sft_metrics_path.read_text())
    times["sft_s"] = time.perf_counter() - t0

    # 4. greedy evaluation on the held-out tasks
    rows = []
    runs = [("sft", str(pi_ref), split["heldout"])]
    if args.base_episodes:
        runs.insert(0, ("base", args.model, split["heldout"][: args.base_episodes]))
    for name, model, tasks in runs:
        t0 = time.perf_counter()
        policy = make_policy(args.backend, model=model, **({"device": "cpu"} if args.backend == "hf" else {}))
        try:
            report = evaluate_policy(
                policy,
                args.env,
                env_kwargs=kwargs,
                tasks=tasks,
                prompt=prompt,
                num_envs=args.num_envs,
                params=None if args.max_new_tokens == 128 else GenerationParams(max_new_tokens=args.max_new_tokens),
                out=out / f"eval_{name}.json",
            )
        finally:
            policy.close()
        times[f"eval_{name}_s"] = time.perf_counter() - t0
        lo, hi = report["success_ci95"]
        rows.append(
            f"| {name} | {report['episodes']} | {report['success_rate']:.3f} | [{lo:.3f}, {hi:.3f}] | "
            f"{report['avg_reward']:.3f} | {report['unparseable_rate']:.3f} | {report['avg_steps']:.2f} |"
        )
    lines = [
        f"# SFT on {len(demos)} oracle demonstrations of {args.env}, {len(split['heldout'])} held-out tasks",
        "",
        f"model `{args.model}`; SFT: {sft_metrics.get('steps')} steps, loss {sft_metrics.get('first_loss')} -> "
        f"{sft_metrics.get('last_loss')}, {sft_metrics.get('data/trained_tokens')} trained tokens, "
        f"lora={sft_metrics.get('lora')}, precision {sft_metrics.get('precision')}; greedy evaluation "
        f"({args.backend}), history window {args.history_window}, split seed {args.seed}.",
        "",
        "| policy | episodes | success | 95% Wilson | avg reward | unparseable steps | avg steps |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Stage times (s, this call; 0 for a stage reused from an earlier call): "
        + ", ".join(f"{k} {v:.0f}" for k, v in times.items()),
        "",
    ]
    if args.methods or args.rl_methods:
        lines += run_methods(args, out, split, kwargs, demos, sft_metrics)
    atomic_write_text(out / "results.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


#: what each kind of method reuses from the exploring (first preference) method's run
_REUSED = {"sft": ["demos", "sft"], "rft": ["demos", "sft", "explore"]}
_PREFERENCE_REUSED = ["demos", "sft", "explore", "reference"]


def run_methods(
    args: argparse.Namespace,
    out: Path,
    split: dict[str, list[str]],
    env_kwargs: dict[str, Any],
    demos: list,
    sft_metrics: dict[str, Any],
) -> list[str]:
    """Stage 4: each method from pi_ref on the split's tasks; returns the results.md lines."""
    from agent_gym.fileio import atomic_write_text
    from trainers.evaluation import paired_comparison, wilson_interval
    from trainers.hgpo.checkpoint import latest_checkpoint
    from trainers.hpl.config import load_config
    from trainers.hpl.methods import get_method
    from trainers.hpl.pipeline import Pipeline, read_json, read_jsonl, reuse_stages, write_json

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    specs = {m: get_method(m) for m in methods}  # unknown names fail before any work
    # out/ is the run that did the demos and SFT stages: the methods reuse both from it
    state_path = out / "state.json"
    if not state_path.exists():
        stats = {"reused_from": "scripts.experiment_real"}
        write_json(
            state_path,
            {"stages": {"demos": {"done": True, "kept": len(demos), **stats}, "sft": {"done": True, **stats}}},
        )

    # the preference method with the most levels (HPL: all three) explores once for all the others;
    # a method needing a level it did not explore, or another segmenter, explores on its own
    explorers = sorted((m for m in methods if specs[m].kind == "preference"), key=lambda m: -len(specs[m].levels)) or [
        m for m in methods if specs[m].kind == "rft"
    ]
    order = explorers[:1] + [m for m in methods if m not in explorers[:1]]
    methods = list(methods)
    runs = out / "methods"
    base = [
        f"env.env_id={args.env}",
        f"env.kwargs={json.dumps(env_kwargs)}",
        f"policy.model={args.model}",
        f"policy.history_window={args.history_window}",
        f"seed={args.seed}",
        "device=cpu",
        # the split's task lists (env.train_tasks / env.eval_tasks take ids as well as counts)
        f"env.train_tasks={json.dumps(split['train'])}",
        f"env.eval_tasks={json.dumps(split['heldout'])}",
    ]
    results: dict[str, dict[str, Any]] = {}
    for m in order:
        cfg = load_config(args.method_config, base + list(args.overrides) + [f"method={m}", f"run_dir={runs / m}"])
        reuse_stages(out, runs / m, ["demos", "sft"])
        if explorers and m != order[0]:
            reused = _REUSED.get(specs[m].kind, _PREFERENCE_REUSED)
            if specs[m].segmenter == specs[order[0]].segmenter and set(specs[m].levels) <= set(specs[order[0]].levels):
                reuse_stages(runs / order[0], runs / m, [s for s in reused if s not in ("demos", "sft")])
        state = Pipeline(cfg).run_all()
        ev = state["stages"]["evaluate"]
        recs = read_jsonl(runs / m / "eval" / "episodes.jsonl")
        results[m] = {
            "success": {str(r["task_id"]): bool(r["success"]) for r in recs},
            "metrics": ev,
            "train": state["stages"].get("train", {}),
            "stage_seconds": {k: v.get("seconds") for k, v in state["stages"].items() if "reused_from" not in v},
        }
        write_json(out / "methods.json", results)
    for name, run_dir in _rl_runs(args, out, split, env_kwargs):
        # the RL policy goes through the same evaluate stage as the methods (one evaluation path)
        final = latest_checkpoint(run_dir)
        if final is None:
            raise RuntimeError(f"{run_dir} has no checkpoint to evaluate")
        eval_run = runs / name
        reuse_stages(out, eval_run, ["demos"])
        st = read_json(eval_run / "state.json", {"stages": {}})
        if not st["stages"].get("sft", {}).get("done"):
            if (eval_run / "pi_ref").is_symlink():
                (eval_run / "pi_ref").unlink()
            os.symlink(Path(final).resolve(), eval_run / "pi_ref", target_is_directory=True)
            st["stages"]["sft"] = {"done": True, "reused_from": str(final)}
            write_json(eval_run / "state.json", st)
        cfg = load_config(args.method_config, base + list(args.overrides) + ["method=sft", f"run_dir={eval_run}"])
        state = Pipeline(cfg).run_all()
        rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
        results[name] = {
            "success": {
                str(r["task_id"]): bool(r["success"]) for r in read_jsonl(eval_run / "eval" / "episodes.jsonl")
            },
            "metrics": state["stages"]["evaluate"],
            "train": {
                "optimizer_steps": sum(int(r.get("loss/optimizer_steps", 0)) for r in rows),
                "iterations": len(rows),
                "train_success": [r.get("train/success_rate") for r in rows],
            },
            "stage_seconds": {
                "rl": sum(float(r.get("time/iteration_s", 0.0)) for r in rows),
                "evaluate": state["stages"]["evaluate"].get("seconds"),
            },
        }
        if name not in methods:
            methods.append(name)
        write_json(out / "methods.json", results)
    lines = methods_table(methods, results, split["heldout"], wilson_interval, paired_comparison)
    explore = read_json(runs / order[0] / "state.json", {"stages": {}})["stages"].get("explore", {}) if order else {}
    levels = explore.get("levels", {})
    if levels:
        lines += [
            "",
            f"Exploration ({order[0]} run, shared): pi_ref solved {explore.get('rft_successes')} of the training "
            "tasks it played at the sampling temperature; pairs per level: "
            + ", ".join(f"{lv} {s.get('pairs')}" for lv, s in levels.items())
            + ".",
        ]
    lines += [
        "",
        "Stage times (s): "
        + "; ".join(
            f"{m}: " + ", ".join(f"{k} {v:.0f}" for k, v in results[m]["stage_seconds"].items() if v is not None)
            for m in methods
        ),
        "",
    ]
    plot_methods(methods, results, out / "results.png", wilson_interval)
    atomic_write_text(out / "methods.md", "\n".join(lines))
    return lines


def _rl_runs(args: argparse.Namespace, out: Path, split: dict[str, list[str]], env_kwargs: dict[str, Any]):
    """Train each ``--rl-methods`` x ``--rl-seeds`` run from pi_ref (resumable); yields ``(name, run_dir)``."""
    from trainers.hgpo.config import load_config as load_rl_config
    from trainers.hgpo.trainer import train

    rl = [m.strip() for m in args.rl_methods.split(",") if m.strip()]
    seeds = [int(x) for x in str(args.rl_seeds).split(",") if x.strip()]
    # seed-major: a run cut short still has every method at the first seed
    for seed in seeds:
        for m in rl:
            name = f"{m}_s{seed}"
            run_dir = out / "rl" / name
            overrides = [  # values as JSON (valid YAML); --rl-set comes last and wins
                f"policy.model={json.dumps(str((out / 'pi_ref').resolve()))}",
                f"env.env_id={args.env}",
                f"env.kwargs={json.dumps(env_kwargs)}",
                f"env.train_tasks={json.dumps(list(split['train']))}",
                f"policy.history_window={args.history_window}",
                f"seed={seed}",
                f"method={m}",
                f"run_dir={json.dumps(str(run_dir))}",
            ]
            cfg = load_rl_config(args.rl_config, overrides + list(args.rl_overrides))
            log = run_dir / "metrics.jsonl"
            finished = log.exists() and sum(1 for x in log.read_text().splitlines() if x.strip()) >= cfg.rl.iterations
            if not finished:
                train(cfg)
            yield name, run_dir


def methods_table(methods, results, heldout, wilson_interval, paired_comparison) -> list[str]:
    """Markdown rows: each method's held-out success with its Wilson interval and, against
    ``sft`` (when run), the paired difference, its bootstrap interval and McNemar's p."""
    lines = [
        "| method | held-out success | 95% Wilson | avg reward | paired diff vs sft | 95% CI (bootstrap) | "
        "wins/losses vs sft | McNemar p | optimizer steps | train loss first -> last |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref = results.get("sft")
    for m in methods:
        r = results[m]
        won = [r["success"].get(str(t), False) for t in heldout]
        lo, hi = wilson_interval(sum(won), len(won))
        cmp = "| - | - | - | - "
        if ref is not None and m != "sft":
            c = paired_comparison([ref["success"].get(str(t), False) for t in heldout], won)
            cmp = (
                f"| {c['diff']:+.3f} | [{c['diff_ci95'][0]:+.3f}, {c['diff_ci95'][1]:+.3f}] | "
                f"{c['b_only']}/{c['a_only']} | {c['mcnemar_p']:.3f} "
            )
        tr = r["train"]
        steps = tr.get("optimizer_steps") or tr.get("steps") or "-"
        first, last = tr.get("first_loss"), tr.get("last_loss")
        loss = f"{first:.3f} -> {last:.3f}" if isinstance(first, float) and isinstance(last, float) else "-"
        lines.append(
            f"| {m} | {sum(won) / max(len(won), 1):.3f} | [{lo:.3f}, {hi:.3f}] | "
            f"{r['metrics'].get('avg_reward', float('nan')):.3f} {cmp}| {steps} | {loss} |"
        )
    return ["", f"## Methods from pi_ref, {len(heldout)} held-out tasks (greedy)", "", *lines]


def plot_methods(methods, results, path: Path, wilson_interval) -> None:
    """Bar plot of held-out success per method with 95 % Wilson intervals (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agent_gym.fileio import atomic_write_bytes

    rates: list[float] = []
    errs: list[list[float]] = [[], []]
    for m in methods:
        won = list(results[m]["success"].values())
        p = sum(won) / max(len(won), 1)
        lo, hi = wilson_interval(sum(won), len(won))
        rates.append(p)
        errs[0].append(p - lo)
        errs[1].append(hi - p)
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 2, 3.2))
    ax.bar(methods, rates, yerr=errs, capsize=4, color="#4c72b0")
    ax.set_ylabel("held-out success (95% Wilson)")
    ax.set_ylim(0, max(0.05, max(h + e for h, e in zip(rates, errs[1], strict=True)) * 1.15))
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


if __name__ == "__main__":
    sys.exit(main())
