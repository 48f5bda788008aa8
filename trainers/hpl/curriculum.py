"""Dual-layer curriculum: 3x3 buckets by group length and reward gap, and training phases.

A group pair goes to bucket ``(i, j)`` (1-based, the paper's ``B_ij``):

* ``i`` from the group length ``L`` with thresholds ``(0, a, b)``: ``0 < L <= a`` -> 1,
  ``a < L <= b`` -> 2, ``L > b`` -> 3 (ALFWorld ``(0, 3, 6)``, WebShop/SQL ``(0, 2, 4)``).
* ``j`` from the reward gap ``dR = r(G_w) - r(G_l)`` with thresholds ``(1.0, h, m)``:
  ``dR >= h`` -> 1 (large gap = easy), ``m <= dR < h`` -> 2, ``dR < m`` -> 3
  (paper: ``(1.0, 0.7, 0.4)``).

Phases of the dual curriculum: phase 1 trains on ``B11``, phase 2 on
``B11 + B12 + B21``, phase 3 on all nine buckets. Ablations: ``static`` (one phase,
all buckets), ``length`` (phases by ``i`` only) and ``difficulty`` (phases by ``j`` only).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

Bucket = tuple[int, int]

LENGTH_THRESHOLDS = {"alfworld": (0, 3, 6), "webshop": (0, 2, 4), "sql": (0, 2, 4)}
GAP_THRESHOLDS = (1.0, 0.7, 0.4)
CURRICULA = ("dual", "static", "length", "difficulty")


def length_thresholds(env_name: str) -> tuple[int, int, int]:
    """The paper's group-length thresholds for ``alfworld``, ``webshop`` or ``sql``."""
    key = env_name.lower()
    for name, value in LENGTH_THRESHOLDS.items():
        if name in key or (name == "sql" and "intercode" in key):
            return value
    raise ValueError(f"no length thresholds for env {env_name!r}; known: {sorted(LENGTH_THRESHOLDS)}")


def bucket_of(
    length: int, gap: float, length_thr: Sequence[float] = (0, 3, 6), gap_thr: Sequence[float] = GAP_THRESHOLDS
) -> Bucket:
    """Bucket ``(i, j)`` of a group pair with group length ``length`` and reward gap ``gap``."""
    if length <= length_thr[0]:
        raise ValueError(f"group length must be > {length_thr[0]}, got {length}")
    i = 1 if length <= length_thr[1] else 2 if length <= length_thr[2] else 3
    eps = 1e-9  # Monte-Carlo rewards are multiples of 1/M: keep 0.7 - 0.0 and 0.4 on the intended side
    j = 1 if gap >= gap_thr[1] - eps else 2 if gap >= gap_thr[2] - eps else 3
    return (i, j)


def assign_buckets(pairs: Iterable[dict], length_thr: Sequence[float]) -> bool:
    """Set each pair's ``bucket`` to :func:`bucket_of` its ``length`` and reward gap; ``True`` if any changed.

    Every level's pairs get one (so all levels share one schema); the curriculum schedules
    only the group pairs by it.
    """
    changed = False
    for p in pairs:
        bucket = list(bucket_of(p["length"], p["reward_chosen"] - p["reward_rejected"], length_thr))
        changed |= p.get("bucket") != bucket
        p["bucket"] = bucket
    return changed


def phase_buckets(curriculum: str = "dual") -> list[set[Bucket]]:
    """The bucket sets of each training phase for a curriculum kind."""
    every = {(i, j) for i in (1, 2, 3) for j in (1, 2, 3)}
    if curriculum == "dual":
        return [{(1, 1)}, {(1, 1), (1, 2), (2, 1)}, every]
    if curriculum == "static":
        return [every]
    if curriculum == "length":
        return [{b for b in every if b[0] <= k} for k in (1, 2, 3)]
    if curriculum == "difficulty":
        return [{b for b in every if b[1] <= k} for k in (1, 2, 3)]
    raise ValueError(f"unknown curriculum {curriculum!r}; choose one of {CURRICULA}")


def select_phase(items: Iterable[dict], phase: int, curriculum: str = "dual") -> list[dict]:
    """Items (dicts with a ``bucket`` key ``[i, j]``) that phase ``phase`` (1-based) trains on."""
    phases = phase_buckets(curriculum)
    if not 1 <= phase <= len(phases):
        raise ValueError(f"curriculum {curriculum!r} has phases 1..{len(phases)}, got {phase}")
    allowed = phases[phase - 1]
    return [it for it in items if tuple(it["bucket"]) in allowed]


def bucket_counts(buckets: Iterable[Sequence[int]]) -> list[list[int]]:
    """3x3 counts; row = length bucket i, column = gap bucket j."""
    counts = [[0] * 3 for _ in range(3)]
    for i, j in buckets:
        counts[int(i) - 1][int(j) - 1] += 1
    return counts


def save_heatmap(counts: Sequence[Sequence[int]], path: str | Path, title: str = "group pairs per bucket") -> Path:
    """Write a PNG heatmap of the 3x3 bucket counts (matplotlib Agg, atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(4, 3.6))
    im = ax.imshow(counts, cmap="Blues")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, str(counts[i][j]), ha="center", va="center", color="black")
    ax.set_xticks(range(3), ["large dR", "mid dR", "small dR"])
    ax.set_yticks(range(3), ["short L", "mid L", "long L"])
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
