"""Metrics log (JSONL, one line per iteration) and plots of a run."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_gym.fileio import atomic_path, atomic_write_jsonl

PLOT_PANELS = (
    ("reward", ("train/avg_reward", "eval/avg_reward"), "episode reward"),
    ("success", ("train/success_rate", "eval/success_rate"), "success rate"),
    ("advantage", ("adv/mean", "adv/std", "adv/abs_mean", "adv/zero_frac"), "advantage statistics"),
    ("loss", ("loss/pg", "loss/kl", "loss/clip_frac"), "loss terms"),
)


#: Metric names of older runs -> today's (a resumed run reads its old lines under the new names).
OLD_NAMES = {
    "train/reward_mean": "train/avg_reward",
    "train/final_reward_mean": "train/final_avg_reward",
    "train/steps_mean": "train/avg_steps",
}


class MetricsLog:
    """Append-only JSONL of per-iteration metrics that survives restarts.

    Rows come back with :data:`OLD_NAMES` renamed. ``truncate(after)`` drops lines of iterations > ``after`` (used on resume
    from an older checkpoint); rewrites are atomic.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append({OLD_NAMES.get(k, k): v for k, v in row.items()})
            except json.JSONDecodeError:
                break  # a partial last line from a killed run
        return rows

    def truncate(self, after: int) -> None:
        rows = [r for r in self.read() if int(r.get("iteration", -1)) <= after]
        atomic_write_jsonl(self.path, rows)

    def append(self, row: Mapping[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
            f.flush()
            os.fsync(f.fileno())


def plot_metrics(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str = "") -> Path | None:
    """Write a 2x2 figure (reward, success, advantage stats, loss terms) with the Agg backend."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (_, keys, label) in zip(axes.flat, PLOT_PANELS):
        for key in keys:
            pts = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o" if len(pts) < 30 else None, ms=3, label=key)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


__all__ = ["MetricsLog", "plot_metrics"]
