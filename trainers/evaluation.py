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
import math
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_gym.core import text_env
from agent_gym.fileio import atomic_path, atomic_write_bytes
from trainers.policies.base import GenerationParams, Policy
from trainers.rollout import EpisodeRecord, read_records, run_episodes
from wrappers.prompting import PromptConfig


def episode_tokens(record: EpisodeRecord) -> int:
    """Tokens generated for an episode: ``meta["generated_tokens"]`` (what the rollout
    counted, across resumed attempts), else the length of the steps' ``token_ids``."""
    if "generated_tokens" in record.meta:
        return int(record.meta["generated_tokens"])
    return sum(len(s.token_ids or ()) for s in record.steps)


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95 % for ``z = 1.96``); ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_comparison(a: Sequence[bool], b: Sequence[bool], resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Compare two policies' successes on the same tasks (``a[i]``, ``b[i]``: task ``i``).

    Returns ``diff`` (success rate of ``b`` minus ``a``), ``diff_ci95`` (paired bootstrap,
    percentile, ``resamples`` draws of the tasks with ``seed``), ``b_only``/``a_only`` (the
    discordant tasks) and ``mcnemar_p`` (exact two-sided McNemar test: a binomial test of the
    discordant tasks). Paired tests separate policies that unpaired intervals cannot.
    """
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same tasks: {len(a)} vs {len(b)} results")
    n = len(a)
    if n == 0:
        raise ValueError("paired comparison of no tasks")
    import numpy as np

    x = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    b_only, a_only = int((x > 0).sum()), int((x < 0).sum())
    k, m = min(b_only, a_only), b_only + a_only
    p = min(1.0, 2.0 * sum(math.comb(m, i) for i in range(k + 1)) / 2.0**m) if m else 1.0
    return {
        "tasks": n,
        "diff": float(x.mean()),
        "diff_ci95": (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))),
        "b_only": b_only,
        "a_only": a_only,
        "mcnemar_p": p,
    }


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Aggregate metrics over all records (resumed ones included).

    ``episodes``, ``success_rate`` (and ``success_ci95``, its 95 % Wilson interval), ``avg_reward``, ``avg_steps``,
    ``invalid_action_rate`` (invalid steps / all steps), ``unparseable_rate``,
    ``errors`` (episodes the env could not play: ``meta["error"]``; they count as
    failures), ``generated_tokens``, ``env_steps`` (agent steps of all episodes),
    ``reused_outputs`` (greedy repeats answered without generating),
    ``ended_by_max_unparseable`` and ``per_task_type``.
    """
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
        "success_ci95": list(wilson_interval(sum(float(r.success) for r in records), n)),
        "avg_reward": rate([r.reward for r in records]),
        "avg_steps": rate([float(r.num_steps) for r in records]),
        "invalid_action_rate": float(sum(r.invalid_actions for r in records) / steps) if steps else 0.0,
        "unparseable_rate": float(sum(not s.parsed for r in records for s in r.steps) / steps) if steps else 0.0,
        "errors": sum("error" in r.meta for r in records),
        "generated_tokens": sum(episode_tokens(r) for r in records),
        "env_steps": steps,
        "reused_outputs": sum(int(r.meta.get("reused_outputs", 0)) for r in records),
        "ended_by_max_unparseable": sum(r.meta.get("ended_by") == "max_unparseable" for r in records),
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


def header_lines(report: Mapping[str, Any]) -> list[str]:
    """What ran: policy, dtype, env backend, prompt variant and one-shot source, stops (one line each)."""
    policy = report.get("policy", {})
    lines = [f"Policy: `{json.dumps(policy)}`"]
    dtype = report.get("dtype") or ("set by the server" if policy.get("backend") == "openai" else "n/a (no model)")
    lines.append(f"dtype: {dtype}")
    if report.get("sql_backend"):
        lines.append(f"SQL backend: {report['sql_backend']}")
    lines.append(f"Prompt: {report.get('prompt_variant', '?')}")
    src = report.get("one_shot_source")
    if src:
        lines.append(f"One-shot example: task {src.get('task_id')!r} of split {src.get('split')!r}")
    stop = (report.get("params") or {}).get("stop")
    lines.append(f"Stop strings: {json.dumps(list(stop)) if stop else 'none'}")
    if report.get("max_unparseable"):
        lines.append(f"Episodes end after {report['max_unparseable']} consecutive unparseable outputs")
    return lines


def markdown(report: Mapping[str, Any]) -> str:
    """A Markdown summary of a report."""
    lines = [f"# Evaluation: {report['env']} ({report.get('split') or 'default split'})", ""]
    for line in header_lines(report):
        lines += [line, ""]
    lines += ["| metric | value |", "|---|---|"]
    keys = (
        "episodes",
        "success_rate",
        "avg_reward",
        "avg_steps",
        "invalid_action_rate",
        "unparseable_rate",
        "errors",
        "generated_tokens",
        "env_steps",
        "reused_outputs",
    )
    for key in keys:
        if key not in report:
            continue
        v = report[key]
        lines.append(f"| {key} | {v:.3f} |" if isinstance(v, float) else f"| {key} | {v} |")
    lines += ["", "| task type | episodes | success rate | avg reward |", "|---|---|---|---|"]
    for t, s in report["per_task_type"].items():
        lines.append(f"| {t} | {s['episodes']} | {s['success_rate']:.3f} | {s['avg_reward']:.3f} |")
    if report.get("error_episodes"):
        lines += ["", "Episodes the environment could not play (counted as failures):", ""]
        lines += [f"* `{e['episode_id']}`: {e['error']}" for e in report["error_episodes"]]
    return "\n".join(lines) + "\n"


def table(report: Mapping[str, Any]) -> str:
    """A plain-text table for the terminal."""
    width = max([len(t) for t in report["per_task_type"]] + [9])
    rows = header_lines(report)
    rows.append(f"{'task type':<{width}}  {'episodes':>8}  {'success':>7}  {'reward':>7}")
    for t, s in report["per_task_type"].items():
        rows.append(f"{t:<{width}}  {s['episodes']:>8}  {s['success_rate']:>7.3f}  {s['avg_reward']:>7.3f}")
    rows.append(
        f"{'ALL':<{width}}  {report['episodes']:>8}  {report['success_rate']:>7.3f}  {report['avg_reward']:>7.3f}"
        f"   avg steps {report['avg_steps']:.2f}, invalid actions {report['invalid_action_rate']:.3f}"
    )
    if report.get("errors"):
        rows.append(f"{report['errors']} episode(s) failed with an environment error (see the report)")
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
    max_unparseable: int | None = None,
    reuse_greedy_repeats: bool = True,
    one_shot_source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Play the split (or ``episodes`` evenly spread tasks, or ``tasks``) once each; return the report.

    ``params`` default: greedy, with the prompt family's stop strings
    (:func:`wrappers.prompting.stop_sequences`). Greedy repeats are answered
    without generating (``reuse_greedy_repeats``, exact; see
    :func:`trainers.rollout.run_episodes`); ``max_unparseable`` is off by default.
    An episode whose env raises a data error (a bad game file, ...) is recorded as
    failed with its error and the run carries on. ``one_shot_source`` (from
    :func:`trainers.rollout.one_shot_example`) is written into the report.

    With ``out`` the report files are written (see the module docstring); an
    existing trajectories file made with different settings raises
    ``ValueError`` unless ``resume=False``. Report totals (``episodes``,
    ``generated_tokens``, ``env_steps``, ...) cover every episode of the file,
    resumed ones included; ``this_run`` holds the counters of this call.
    """
    from wrappers.prompting import prompt_variant, stop_sequences

    kwargs = dict(env_kwargs or {})
    if split is not None:
        kwargs["split"] = split
    if data_dir is not None:
        kwargs["data_dir"] = str(data_dir)
    if policy.name == "oracle":
        kwargs["expert"] = True
    params = params or GenerationParams(stop=stop_sequences(env_id))
    prompt = prompt or PromptConfig()
    from trainers.rollout import make_env

    probe = make_env(env_id, kwargs, history_k=prompt.history_window or 0)
    try:
        all_ids = list(text_env(probe).task_ids)
        chosen = (
            [text_env(probe).resolve_task_id(t) for t in tasks]
            if tasks is not None
            else select_tasks(all_ids, episodes)
        )
        if not chosen:
            raise ValueError(f"{env_id} has no tasks in this split")
        sql_backend = getattr(probe.unwrapped, "backend_name", None)
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
        "max_unparseable": max_unparseable,
        "tasks": chosen,
    }
    paths = report_paths(out) if out is not None else None
    if paths is not None:
        if resume and paths["config"].exists() and paths["trajectories"].exists():
            old = json.loads(paths["config"].read_text())
            new = json.loads(json.dumps(settings, default=str))
            if new != old:
                changed = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
                raise ValueError(
                    f"{paths['trajectories']} was made with different settings ({', '.join(changed)} changed); "
                    "pass --no-resume (resume=False) to start over or choose another --out"
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
        reuse_greedy_repeats=reuse_greedy_repeats,
        max_unparseable=max_unparseable,
        record_errors=True,
    )
    elapsed = time.perf_counter() - t0
    report: dict[str, Any] = {"env": env_id, "split": split, **summarize(records)}
    report.update(
        {
            "policy": policy.describe(),
            "dtype": policy.describe().get("dtype"),
            "sql_backend": sql_backend,
            "prompt_variant": prompt_variant(env_id, prompt),
            "one_shot_source": dict(one_shot_source) if one_shot_source else None,
            "seed": seed,
            "data_dir": settings["data_dir"],
            "max_unparseable": max_unparseable,
            "wall_time_s": round(elapsed, 3),
            "this_run": {
                "wall_time_s": round(elapsed, 3),
                "generated_tokens": stats.get("generated_tokens", 0),
                "env_steps": stats.get("env_steps", 0),
                "llm_calls": stats.get("llm_calls", 0),
            },
            "error_episodes": [
                {"episode_id": r.episode_id, "error": r.meta["error"]} for r in records if "error" in r.meta
            ],
            "params": settings["params"],
            "prompt": {k: v for k, v in prompt.to_dict().items() if k != "one_shot"}
            | {"one_shot": prompt.one_shot is not None},
        }
    )
    if paths is not None:
        report["trajectories"] = paths["trajectories"].name
        write_report(report, paths["json"])
    return report


__all__ = [
    "episode_tokens",
    "evaluate_policy",
    "header_lines",
    "markdown",
    "plot",
    "read_records",
    "report_paths",
    "select_tasks",
    "summarize",
    "table",
    "write_report",
]
