"""InterCode-SQL's reward: multiset IoU of result rows, scaled by a Kendall tau ordering term.

Rows are compared by their printed form (``str(row)``), as InterCode does. The
IoU counts duplicates (multisets); two empty results score 1. When the rows
both results share give a defined Kendall tau-b between the agent's order and
the gold order, the IoU is multiplied by it and rounded to 2 decimals.

Tau is computed the way InterCode calls ``scipy.stats.kendalltau``: on the two
sequences of shared row *strings* (agent order vs gold order), ranked
lexicographically, tau-b with ties; undefined (NaN) when either sequence has no
untied pair (e.g. a single shared row), in which case the IoU stands.

Deliberate differences from InterCode (documented in ``docs/intercode_sql.md``):
the reward is clipped at 0 (InterCode's can be negative when tau < 0), and with
``order_only_with_order_by=True`` order is scored only when the gold query has
``ORDER BY``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

_ORDER_BY_RE = re.compile(r"\border\s+by\b", re.I)


@dataclass(frozen=True)
class RewardResult:
    """The reward and its parts (``components()`` goes into ``info["reward_components"]``)."""

    reward: float
    iou: float
    kendall_tau: float | None  # None when undefined or not scored
    order_scored: bool
    raw_reward: float  # before clipping at 0 (InterCode's value)

    def components(self) -> dict[str, Any]:
        return asdict(self)


def gold_has_order_by(query: str) -> bool:
    """Whether ``query`` contains ``ORDER BY`` (used by the order-only-with-ORDER-BY option)."""
    return bool(_ORDER_BY_RE.search(query))


def multiset_iou(agent: Sequence[str], gold: Sequence[str]) -> float:
    """Intersection over union of two multisets; 1.0 when both are empty."""
    a, g = Counter(agent), Counter(gold)
    union = sum((a | g).values())
    if union == 0:
        return 1.0
    return sum((a & g).values()) / union


def shared_in_order(rows: Sequence[str], shared: Counter) -> list[str]:
    """The elements of ``rows`` that belong to the multiset ``shared``, in order (each used at most its count)."""
    left = Counter(shared)
    out = []
    for r in rows:
        if left[r] > 0:
            left[r] -= 1
            out.append(r)
    return out


def kendall_tau_b(x: Sequence[Any], y: Sequence[Any]) -> float:
    """Kendall's tau-b of paired sequences (ties handled); ``nan`` when undefined.

    O(n log n): sort by (x, y), count discordant pairs with a merge sort.
    Values only need to be mutually comparable (strings are ranked
    lexicographically, as ``scipy.stats.kendalltau`` does).
    """
    n = len(x)
    if n != len(y):
        raise ValueError("x and y must have the same length")
    if n < 2:
        return math.nan
    rx = _dense_ranks(x)
    ry = _dense_ranks(y)
    pairs = sorted(zip(rx, ry))
    n0 = n * (n - 1) // 2
    ties_x = _tie_pairs([p[0] for p in pairs])
    ties_xy = _tie_pairs(pairs)
    ys = [p[1] for p in pairs]
    discordant = _count_inversions(ys)
    ties_y = _tie_pairs(sorted(ry))
    denom = (n0 - ties_x) * (n0 - ties_y)
    if denom <= 0:
        return math.nan
    concordant_minus_discordant = n0 - ties_x - ties_y + ties_xy - 2 * discordant
    return concordant_minus_discordant / math.sqrt(denom)


def _dense_ranks(values: Sequence[Any]) -> list[int]:
    order = {v: i for i, v in enumerate(sorted(set(values)))}
    return [order[v] for v in values]


def _tie_pairs(sorted_values: Sequence[Any]) -> int:
    total = 0
    run = 1
    for i in range(1, len(sorted_values) + 1):
        if i < len(sorted_values) and sorted_values[i] == sorted_values[i - 1]:
            run += 1
        else:
            total += run * (run - 1) // 2
            run = 1
    return total


def _count_inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (strictly), by iterative merge sort."""
    arr = list(values)
    n = len(arr)
    inversions = 0
    width = 1
    buf = [0] * n
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if arr[i] <= arr[j]:
                    buf[k] = arr[i]
                    i += 1
                else:
                    buf[k] = arr[j]
                    inversions += mid - i
                    j += 1
                k += 1
            while i < mid:
                buf[k] = arr[i]
                i += 1
                k += 1
            while j < hi:
                buf[k] = arr[j]
                j += 1
                k += 1
        arr, buf = buf, arr
        width *= 2
    return inversions


def score(
    agent_rows: Sequence[Any] | None,
    gold_rows: Sequence[Any],
    *,
    order_scored: bool = True,
    clip_negative: bool = True,
) -> RewardResult:
    """Score the agent's last result against the gold result.

    ``agent_rows`` is ``None`` when the last action gave no result set (an
    error, a statement without rows, or no query at all): reward 0.
    ``order_scored=False`` skips the Kendall tau term.
    """
    if agent_rows is None:
        return RewardResult(0.0, 0.0, None, False, 0.0)
    agent = [str(r) for r in agent_rows]
    gold = [str(r) for r in gold_rows]
    iou = multiset_iou(agent, gold)
    reward = iou
    tau: float | None = None
    scored = False
    if agent and gold and order_scored:
        shared = Counter(agent) & Counter(gold)
        if shared:
            t = kendall_tau_b(shared_in_order(agent, shared), shared_in_order(gold, shared))
            if not math.isnan(t):
                tau = t
                scored = True
                reward = round(t * iou, 2)
    raw = float(reward)
    final = max(0.0, raw) if clip_negative else raw
    return RewardResult(float(final), float(iou), tau, scored, raw)
