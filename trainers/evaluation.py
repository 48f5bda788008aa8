"""Evaluate a policy on an environment: run episodes, summarise, write report files.

Used by ``python -m scripts.evaluate`` and by trainers for periodic evaluation
(:func:`evaluate_policy`). Files written for a report ``REPORT.json``:

* ``REPORT.json``: the summary (:func:`summarize`) plus run settings;
* ``REPORT.md``: a Markdown table;
* ``REPORT.png``: bar plot of per-task-type success (matplotlib, Agg backend);
* ``REPORT.trajectories.jsonl``: one :class:`~trainers.rollout.EpisodeRecord` per line
  (resumable: episodes already there are not played again).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from agent_gym.fileio import atomic_path, atomic_write_bytes
from trainers.policies.base import GenerationParams, Policy
from trainers.rollout import EpisodeRecord, read_records, run_episodes
from wrappers.prompting import PromptConfig


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Aggregate metrics: ``episodes``, ``success_rate``, ``avg_reward``, ``avg_steps``,
    ``invalid_action_rate`` (invalid steps / all steps) and ``per_task_type``."""
    n = len(records)
    steps = sum(r.num_steps for r in records)
    by_type: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for r in records:
        by_type[r.task_type or "unknown"].append(r)

    def rate(xs: Sequence[float]) -> float:
        return float(sum(xs) / len(xs)) if xs else 0.0

    return {
        "episodes": n,
        "success_rate": rate([float(r.success) for r in records]),
        "avg_reward": rate([r.reward for r in records]),
        "avg_steps": rate([float(r.num_steps) for r in records]),
        "invalid_action_rate": float(sum(r.invalid_actions for r in records) / steps) if steps else 0.0,
        "unparseable_rate": float(sum(not s.parsed for r in records for s in r.steps) / steps) if steps else 0.0,
        "per_task_type": {
            t: {
                "episodes": len(rs),
                "success_rate": rate([float(r.success) for r in rs]),
                "avg_reward": rate([r.reward for r in rs]),
            }
            for t, rs in sorted(by_type.items())
        },
    }


def select_tasks(task_ids: Sequence[str], episodes: int | None) -> list[str]:
    """``episodes`` tasks spread evenly over the sorted split (all when ``None`` or too many).

    Split ids are sorted and (in ALFWorld) start with the task type, so an even
    spread is a stratified subset.
    """
    ids = list(task_ids)
    if episodes is None or episodes >= len(ids):
        return ids
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    return [ids[(i * len(ids)) // episodes] for i in range(episodes)]


def report_paths(out: str | os.PathLike) -> dict[str, Path]:
    """The files that belong to a report: ``json``, ``md``, ``png``, ``trajectories``, ``config``."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".json" else out
    return {
        "json": stem.with_suffix(".json"),
        "md": stem.with_name(stem.name + ".md"),
        "png": stem.with_name(stem.name + ".png"),
        "trajectories": stem.with_name(stem.name + ".trajectories.jsonl"),
        "config": stem.with_name(stem.name + ".config.json"),
    }


def markdown(report: Mapping[str, Any]) -> str:
    """A Markdown summary of a report."""
    lines = [
        f"# Evaluation: {report['env']} ({report.get('split') or 'default split'})",
        "",
        f"Policy: `{json.dumps(report.get('policy', {}))}`",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in ("episodes", "success_rate", "avg_reward", "avg_steps", "invalid_action_rate"):
        v = report[key]
        lines.append(f"| {key} | {v:.3f} |" if isinstance(v, float) else f"| {key} | {v} |")
    lines += ["", "| task type | episodes | success rate | avg reward |", "|---|---|---|---|"]
    for t, s in report["per_task_type"].items():
        lines.append(f"| {t} | {s['episodes']} | {s['success_rate']:.3f} | {s['avg_reward']:.3f} |")
    return "\n".join(lines) + "\n"


def table(report: Mapping[str, Any]) -> str:
    """A plain-text table for the terminal."""
    width = max([len(t) for t in report["per_task_type"]] + [9])
    rows = [f"{'task type':<{width}}  {'episodes':>8}  {'success':>7}  {'reward':>7}"]
    for t, s in report["per_task_type"].items():
        rows.append(f"{t:<{width}}  {s['episodes']:>8}  {s['success_rate']:>7.3f}  {s['avg_reward']:>7.3f}")
    rows.append(
        f"{'ALL':<{width}}  {report['episodes']:>8}  {report['success_rate']:>7.3f}  {report['avg_reward']:>7.3f}"
        f"   avg steps {report['avg_steps']:.2f}, invalid actions {report['invalid_action_rate']:.3f}"
    )
    return "\n".join(rows)


def plot(report: Mapping[str, Any], path: Path) -> None:
    """Bar plot of per-task-type success rate (Agg backend, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(report["per_task_type"])
    rates = [report["per_task_type"][t]["success_rate"] for t in types]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 + 0.9 * len(types)), 3.6))
    ax.bar(range(len(types)), rates, color="#4C72B0")
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels(types, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(f"{report['env']}: {report['success_rate']:.2f} overall ({report['episodes']} episodes)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def write_report(report: Mapping[str, Any], out: str | os.PathLike) -> dict[str, Path]:
    """Write ``REPORT.json``, ``REPORT.md`` and ``REPORT.png``; returns the paths."""
    paths = report_paths(out)
    atomic_write_bytes(paths["json"], (json.dumps(report, indent=2) + "\n").encode())
    atomic_write_bytes(paths["md"], markdown(report).encode())
    plot(report, paths["png"])
    return paths


def evaluate_policy(
    policy: Policy,
    env_id: str,
    *,
    split: str | None = None,
    data_dir: str | os.PathLike | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    episodes: int | None = None,
    tasks: Sequence[str | int] | None = None,
    seed: int = 0,
    params: GenerationParams | None = None,
    prompt: PromptConfig | None = None,
    num_envs: int = 8,
    max_steps: int | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Play the split (or ``episodes`` evenly spread tasks, or ``tasks``) once each; return the report.

    With ``out`` the report files are written (see the module docstring); an
    existing trajectories file made with different settings raises
    ``ValueError`` unless ``resume=False``.
    """
    kwargs = dict(env_kwargs or {})
    if split is not None:
        kwargs["split"] = split
    if data_dir is not None:
        kwargs["data_dir"] = str(data_dir)
    if policy.name == "oracle":
        kwargs["expert"] = True
    params = params or GenerationParams()
    prompt = prompt or PromptConfig()
    from trainers.rollout import make_env

    probe = make_env(env_id, kwargs, history_k=prompt.history_window or 0)
    try:
        all_ids = list(probe.unwrapped.task_ids)
        chosen = [probe.unwrapped.resolve_task_id(t) for t in tasks] if tasks is not None else select_tasks(all_ids, episodes)
        if not chosen:
            raise ValueError(f"{env_id} has no tasks in this split")
    finally:
        probe.close()
    settings = {
        "env": env_id,
        "split": split,
        "data_dir": None if data_dir is None else str(data_dir),
        "env_kwargs": {k: v for k, v in kwargs.items() if k not in ("split", "data_dir")},
        "policy": policy.describe(),
        "seed": seed,
        "params": {k: v for k, v in params.__dict__.items()},
        "prompt": prompt.to_dict(),
        "max_steps": max_steps,
        "tasks": chosen,
    }
    paths = report_paths(out) if out is not None else None
    if paths is not None:
        if resume and paths["config"].exists() and paths["trajectories"].exists():
            old = json.loads(paths["config"].read_text())
            if json.loads(json.dumps(settings, default=str)) != old:
                raise ValueError(
                    f"{paths['trajectories']} was made with different settings; pass --no-resume "
                    "(resume=False) to start over or choose another --out"
                )
        elif not resume:
            for key in ("trajectories", "config"):
                if paths[key].exists():
                    paths[key].unlink()
        atomic_write_bytes(paths["config"], json.dumps(settings, indent=2, default=str).encode())
    stats: dict[str, int] = {}
    t0 = time.perf_counter()
    records = run_episodes(
        policy,
        env_id,
        chosen,
        env_kwargs=kwargs,
        num_envs=num_envs,
        params=params,
        prompt=prompt,
        seed=seed,
        max_steps=max_steps,
        out_path=None if paths is None else paths["trajectories"],
        resume=resume,
        progress=progress,
        stats=stats,
    )
    elapsed = time.perf_counter() - t0
    report: dict[str, Any] = {"env": env_id, "split": split, **summarize(records)}
    report.update(
        {
            "policy": policy.describe(),
            "seed": seed,
            "data_dir": settings["data_dir"],
            "wall_time_s": round(elapsed, 3),
            "generated_tokens": stats.get("generated_tokens", 0),
            "env_steps": stats.get("env_steps", 0),
            "params": settings["params"],
            "prompt": {k: v for k, v in prompt.to_dict().items() if k != "one_shot"} | {"one_shot": prompt.one_shot is not None},
        }
    )
    if paths is not None:
        report["trajectories"] = paths["trajectories"].name
        write_report(report, paths["json"])
    return report


__all__ = ["evaluate_policy", "markdown", "plot", "read_records", "report_paths", "select_tasks", "summarize", "table", "write_report"]
