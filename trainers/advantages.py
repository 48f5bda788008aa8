"""Group-relative advantage estimators for multi-turn agents: GRPO, GiGPO and HGPO.

Pure, vectorised NumPy. Every function takes flat per-step arrays (one row per
environment step of one batch) and returns one advantage per row, in the order
the rows were given. Rows are sorted explicitly by (trajectory, step) inside, so
the result never depends on the batch order.

Definitions (``r`` are per-step rewards, minus ``invalid_penalty`` on steps
flagged in ``invalid``):

* step return ``R_t = r_t + gamma * R_{t+1}`` inside each trajectory (rows of a
  trajectory are ordered by their step index; gaps in the indices are ignored);
* episode outcome: the undiscounted sum of a trajectory's rewards;
* ``normalise(x, group)``: ``(x - mean) / (std + eps)`` (``mode="mean_std_norm"``,
  population std) or ``x - mean`` (``mode="mean_norm"``), with mean/std taken over
  the members of the group; a single-member group gives 0.

Methods:

* ``grpo``: every step of a trajectory gets its episode outcome normalised over
  the trajectories of its rollout group (each trajectory counts once).
* ``gigpo``: the GRPO episode term plus ``omega`` times the step term: the step
  return normalised within its anchor-state group (same rollout group, equal
  level-0 context hash = identical current observation).
* ``hgpo``: for every level ``k = 0..K`` the step return normalised within the
  group of steps of the same rollout group with an equal level-``k`` context
  hash; levels whose group has a single member are skipped (and, with
  ``drop_zero=True``, levels whose advantage is exactly 0); the advantage is the
  weighted mean over the remaining levels with ``w_k = (k + 1 + level_offset)**alpha``;
  0 when no level remains. ``episode_term=True`` adds the GRPO episode term and
  scales the hierarchical term by ``omega`` (GiGPO-style composition).

``level_offset=1`` together with ``drop_zero=True`` reproduces the public HGPO
reference code, which counts levels from 1 (its level-k key holds k+1
observations) and drops exactly-zero level advantages.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

METHODS = ("grpo", "gigpo", "hgpo")
MODES = ("mean_std_norm", "mean_norm")


@dataclass(frozen=True)
class AdvantageOptions:
    """All options of :func:`compute_advantages` with their defaults."""

    gamma: float = 0.95
    alpha: float = 1.0
    mode: str = "mean_std_norm"
    omega: float = 1.0
    invalid: Any = None
    invalid_penalty: float = 0.1
    eps: float = 1e-6
    level_offset: int = 0
    drop_zero: bool = False
    episode_term: bool = False
    max_k: int | None = None


_OPTION_NAMES = set(AdvantageOptions.__dataclass_fields__)


# ----------------------------------------------------------------------------- helpers
def sort_order(keys: np.ndarray) -> np.ndarray:
    """A permutation sorting integer ``keys`` (ties in any order).

    When the keys are non-negative and small enough, the row index is packed
    into the low bits and a plain value sort (SIMD in NumPy 2) replaces the
    much slower ``argsort``.
    """
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    shift = max(1, (n - 1).bit_length())
    lo, hi = int(keys.min()), int(keys.max())
    if lo >= 0 and hi.bit_length() + shift <= 62:
        packed = np.sort((keys << shift) | np.arange(n, dtype=np.int64))
        return packed & ((1 << shift) - 1)
    return np.argsort(keys, kind="quicksort")


def dense_codes(keys: np.ndarray) -> np.ndarray:
    """Codes ``0..U-1`` with equal codes exactly for equal integer ``keys`` (ordered like the keys)."""
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = sort_order(keys)
    sk = keys[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sk[1:], sk[:-1], out=new[1:])
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    return inv


def factorize(values: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    """Integer codes ``0..U-1`` for arbitrary hashable values (equal values, equal codes).

    Python objects are coded through their ``hash`` (one C-level pass plus a
    sort); the result is checked against the number of distinct values and a
    dictionary is used instead when two distinct values share a hash, so the
    codes are always exact. Only equality of codes matters to the callers.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        flat = values.reshape(-1)
        if flat.dtype.kind == "u" and flat.size and int(flat.max()) >= 2**63:
            return np.unique(flat, return_inverse=True)[1].reshape(-1).astype(np.int64)
        return dense_codes(flat.astype(np.int64))
    values = values if isinstance(values, list) else list(values)
    try:
        hashed = np.fromiter(map(hash, values), dtype=np.int64, count=len(values))
    except TypeError as exc:
        raise ValueError(f"grouping keys must be hashable (str, int, tuple, ...): {exc}") from exc
    codes = dense_codes(hashed)
    if (int(codes.max()) + 1 if codes.size else 0) == len(set(values)):  # no two distinct values share a hash
        return codes
    table = dict.fromkeys(values)  # hash collision (e.g. hash(-1) == hash(-2)): exact dictionary coding
    for code, key in enumerate(table):
        table[key] = code
    return np.fromiter(map(table.__getitem__, values), dtype=np.int64, count=len(values))


class HashCoder:
    """Turns context hashes into small integer codes as steps are collected (exact, O(1) per hash).

    Trainers that store ``coder.encode(info["context_hashes"])`` per step can pass
    the resulting ``(n, K+1)`` integer array to :func:`compute_advantages`,
    which then never touches Python objects (the fast path for large batches).
    """

    def __init__(self) -> None:
        self._codes: dict[Hashable, int] = {}

    def encode(self, hashes: Sequence[Hashable]) -> list[int]:
        """Codes of one step's hashes (new hashes get the next free code)."""
        codes = self._codes
        return [codes.setdefault(h, len(codes)) for h in hashes]

    def __len__(self) -> int:
        return len(self._codes)


def group_normalize(codes: np.ndarray, values: np.ndarray, mode: str = "mean_std_norm", eps: float = 1e-6):
    """Normalise ``values`` within groups given by integer ``codes``.

    Returns ``(normalised, group_size_per_row)``. Population std; singletons give 0.
    """
    codes = np.asarray(codes, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    counts = np.bincount(codes)
    safe = np.maximum(counts, 1)
    mean = np.bincount(codes, weights=values, minlength=counts.size) / safe
    centred = values - mean[codes]
    if mode == "mean_norm":
        out = centred
    elif mode == "mean_std_norm":
        var = np.bincount(codes, weights=centred * centred, minlength=counts.size) / safe
        out = centred / (np.sqrt(var)[codes] + eps)
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    size = counts[codes]
    out = np.where(size > 1, out, 0.0)  # a lone member has nothing to compare with
    return out, size


def _sorted_positions(traj_codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Permutation that orders rows by (trajectory, step); duplicates are an error."""
    steps = np.asarray(steps, dtype=np.int64)
    s_lo = int(steps.min()) if steps.size else 0
    width = (int(steps.max()) - s_lo + 1) if steps.size else 1
    if traj_codes.size and int(traj_codes.min()) >= 0 and (int(traj_codes.max()) + 1) * width < 2**62:
        order = sort_order(traj_codes * width + (steps - s_lo))
    else:
        order = np.lexsort((steps, traj_codes))
    st, ss = traj_codes[order], steps[order]
    dup = (st[1:] == st[:-1]) & (ss[1:] == ss[:-1])
    if dup.any():
        i = int(order[1:][dup][0])
        raise ValueError(f"duplicate (trajectory, step) pair at row {i}: each step of a trajectory must appear once")
    return order


def discounted_returns(traj_codes: np.ndarray, steps: np.ndarray, rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``R_t = r_t + gamma * R_{t+1}`` within each trajectory (rows in any order).

    The recursion runs over positions inside trajectories (one vectorised update
    per position), so it is exact and costs ``O(rows + longest trajectory)``.
    """
    traj_codes = np.asarray(traj_codes, dtype=np.int64)
    rewards = np.asarray(rewards, dtype=np.float64)
    n = rewards.size
    out = np.zeros(n)
    if n == 0:
        return out
    order = _sorted_positions(traj_codes, np.asarray(steps))
    r = rewards[order]
    lengths = np.bincount(traj_codes)
    lengths_present = lengths[lengths > 0]
    starts = np.concatenate(([0], np.cumsum(lengths_present)[:-1]))
    if gamma == 0:
        ret = r
    elif gamma == 1:
        # suffix sums per trajectory: total minus exclusive prefix
        csum = np.cumsum(r)
        ends = starts + lengths_present - 1
        traj_of_row = np.repeat(np.arange(lengths_present.size), lengths_present)
        ret = csum[ends][traj_of_row] - csum + r
    else:
        ret = r.copy()
        by_len = np.argsort(-lengths_present, kind="stable")
        sorted_len = lengths_present[by_len]
        sorted_start = starts[by_len]
        neg_len = -sorted_len
        for p in range(int(sorted_len[0]) - 2, -1, -1):
            # trajectories longer than p + 1 have a successor at position p + 1
            n_active = int(np.searchsorted(neg_len, -(p + 1), side="left"))
            idx = sorted_start[:n_active] + p
            ret[idx] += gamma * ret[idx + 1]
    out[order] = ret
    return out


# ----------------------------------------------------------------------------- inputs
@dataclass
class _Batch:
    group: np.ndarray  # dense group code per row
    traj: np.ndarray  # dense trajectory code per row
    steps: np.ndarray
    rewards: np.ndarray  # penalised
    n: int


def _as_1d(name: str, values: Any, n: int | None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one entry per step), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but rewards has {n}: give one entry per step")
    return arr


def _prepare(group_ids, traj_ids, step_ids, rewards, invalid, invalid_penalty) -> _Batch:
    rew = _as_1d("rewards", rewards, None).astype(np.float64)
    n = rew.shape[0]
    if not np.all(np.isfinite(rew)):
        raise ValueError("rewards contain NaN or infinite values")
    groups = _as_1d("group_ids", group_ids, n)
    trajs = _as_1d("traj_ids", traj_ids, n)
    steps = _as_1d("step_ids", step_ids, n)
    if steps.dtype.kind not in "iu":
        if steps.dtype.kind == "f" and np.all(np.isfinite(steps)) and np.all(steps == np.round(steps)):
            steps = steps.astype(np.int64)
        else:
            raise ValueError(f"step_ids must be integers, got dtype {steps.dtype}")
    g = factorize(groups if groups.dtype.kind in "iub" else groups.tolist())
    t = factorize(trajs if trajs.dtype.kind in "iub" else trajs.tolist())
    if n:
        # every trajectory must sit inside a single rollout group
        first_group = np.full(int(t.max()) + 1, -1, dtype=np.int64)
        first_group[t[::-1]] = g[::-1]
        bad = first_group[t] != g
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"trajectory {trajs[i]!r} appears in more than one rollout group (row {i}): "
                "all steps of a trajectory must share its group id"
            )
    if invalid is not None:
        inv = _as_1d("invalid", invalid, n).astype(bool)
        rew = rew - float(invalid_penalty) * inv
    return _Batch(group=g, traj=t, steps=steps.astype(np.int64), rewards=rew, n=n)


def _hash_codes(context_hashes: Any, n: int, max_k: int | None) -> np.ndarray:
    """``(n, K+1)`` integer codes of the context hashes (equal hash, equal code)."""
    if context_hashes is None:
        raise ValueError("context_hashes are required for gigpo/hgpo (one list of K+1 hashes per step)")
    if isinstance(context_hashes, np.ndarray) and context_hashes.ndim == 2:
        if context_hashes.shape[0] != n:
            raise ValueError(f"context_hashes has {context_hashes.shape[0]} rows but rewards has {n}")
        arr = context_hashes
        if max_k is not None:
            if max_k + 1 > arr.shape[1]:
                raise ValueError(f"max_k={max_k} needs {max_k + 1} hashes per step but the array has {arr.shape[1]}")
            arr = arr[:, : max_k + 1]
        if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() < 2**40:
            return arr.astype(np.int64, copy=False)  # already small codes (e.g. from HashCoder)
        flat = arr.reshape(-1)
        return factorize(flat if arr.dtype.kind in "iub" else flat.tolist()).reshape(arr.shape)
    rows = list(context_hashes)
    if len(rows) != n:
        raise ValueError(f"context_hashes has {len(rows)} entries but rewards has {n}: give one list per step")
    if n == 0:
        return np.zeros((0, 1 if max_k is None else max_k + 1), dtype=np.int64)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    width = int(lengths.min())
    if width == 0:
        raise ValueError("every step needs at least its level-0 context hash")
    if max_k is not None:
        if max_k + 1 > width:
            raise ValueError(f"max_k={max_k} needs {max_k + 1} hashes per step but some steps have only {width}")
        width = max_k + 1
        if not np.all(lengths == width):
            rows = [tuple(r)[:width] for r in rows]
    elif not np.all(lengths == width):
        raise ValueError(
            f"context_hashes rows differ in length ({width}..{int(lengths.max())}): every step needs K+1 hashes "
            "for the same K (or pass max_k to cut them)"
        )
    return factorize(list(chain.from_iterable(rows))).reshape(n, width)


# ----------------------------------------------------------------------------- estimators
def episode_advantages(batch: _Batch, mode: str, eps: float) -> np.ndarray:
    """GRPO term: each trajectory's outcome normalised over its group's trajectories."""
    if batch.n == 0:
        return np.zeros(0)
    n_traj = int(batch.traj.max()) + 1
    outcome = np.bincount(batch.traj, weights=batch.rewards, minlength=n_traj)
    traj_group = np.zeros(n_traj, dtype=np.int64)
    traj_group[batch.traj] = batch.group
    adv, _ = group_normalize(traj_group, outcome, mode, eps)
    return adv[batch.traj]


def level_advantages(batch: _Batch, codes: np.ndarray, returns: np.ndarray, mode: str, eps: float):
    """Per-level normalised returns and group sizes, each of shape ``(n, K+1)``.

    The group of row ``i`` at level ``k`` is the pair ``(group_i, hash_code_ik)``,
    made dense with one integer sort per level.
    """
    n, n_levels = codes.shape
    n_groups = int(batch.group.max()) + 1
    width = int(codes.max()) + 1
    if n_groups * width >= 2**62:  # keys would overflow int64: densify the hash codes first
        codes = factorize(codes).reshape(n, n_levels)
        width = int(codes.max()) + 1
    adv = np.zeros((n, n_levels))
    size = np.zeros((n, n_levels), dtype=np.int64)
    base = batch.group * width
    for k in range(n_levels):  # one sort per level: cheaper than one sort of all levels together
        dense = dense_codes(base + codes[:, k])
        adv[:, k], size[:, k] = group_normalize(dense, returns, mode, eps)
    return adv, size


def hierarchical_step_term(
    adv: np.ndarray, size: np.ndarray, alpha: float, level_offset: int = 0, drop_zero: bool = False
) -> np.ndarray:
    """Weighted mean over usable levels with ``w_k = (k + 1 + level_offset) ** alpha``."""
    n_levels = adv.shape[1]
    weights = (np.arange(n_levels, dtype=np.float64) + 1.0 + level_offset) ** float(alpha)
    usable = size > 1
    if drop_zero:
        usable &= adv != 0
    w = usable * weights[None, :]
    total = w.sum(axis=1)
    num = (w * adv).sum(axis=1)
    return np.divide(num, total, out=np.zeros_like(num), where=total > 0)


def compute_advantages(
    method: str,
    group_ids: Sequence[Hashable] | np.ndarray,
    traj_ids: Sequence[Hashable] | np.ndarray,
    step_ids: Sequence[int] | np.ndarray,
    rewards: Sequence[float] | np.ndarray,
    context_hashes: Sequence[Sequence[Hashable]] | np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """One advantage per step for ``method`` in ``("grpo", "gigpo", "hgpo")``.

    Args:
        method: ``"grpo"``, ``"gigpo"`` or ``"hgpo"``.
        group_ids: rollout group of each step (the G episodes sharing a task and seed).
        traj_ids: trajectory of each step (a trajectory must stay in one group).
        step_ids: step index of each step inside its trajectory (integers).
        rewards: per-step rewards.
        context_hashes: one sequence of ``K + 1`` hashable values per step (level
            ``k`` = hash of the current observation plus the ``k`` previous turns,
            as produced by :class:`wrappers.HistoryWrapper`), or an ``(n, K+1)``
            array. Not needed for ``grpo``.
        **options: ``gamma`` (0.95), ``alpha`` (1.0), ``mode`` (``"mean_std_norm"``
            or ``"mean_norm"``), ``omega`` (1.0), ``invalid`` (per-step bools),
            ``invalid_penalty`` (0.1, subtracted from flagged steps' rewards),
            ``eps`` (1e-6), ``level_offset`` (0; 1 = reference level indexing),
            ``drop_zero`` (False; True = reference), ``episode_term`` (HGPO only:
            add the GRPO term and scale the hierarchy by ``omega``), ``max_k``
            (use only levels ``0..max_k`` of the hashes).

    Returns:
        ``float64`` array of shape ``(n,)`` aligned with the input rows.
    """
    unknown = set(options) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown advantage option(s) {sorted(unknown)}; known: {sorted(_OPTION_NAMES)}")
    opts = AdvantageOptions(**options)
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if opts.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {opts.mode!r}")
    if not 0.0 <= float(opts.gamma) <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {opts.gamma}")
    batch = _prepare(group_ids, traj_ids, step_ids, rewards, opts.invalid, opts.invalid_penalty)
    if batch.n == 0:
        return np.zeros(0)
    episode = episode_advantages(batch, opts.mode, opts.eps)
    if method == "grpo":
        return episode
    codes = _hash_codes(context_hashes, batch.n, 0 if method == "gigpo" else opts.max_k)
    returns = discounted_returns(batch.traj, batch.steps, batch.rewards, float(opts.gamma))
    if method == "gigpo":
        step, _ = level_advantages(batch, codes[:, :1], returns, opts.mode, opts.eps)
        return episode + opts.omega * step[:, 0]
    adv, size = level_advantages(batch, codes, returns, opts.mode, opts.eps)
    hier = hierarchical_step_term(adv, size, opts.alpha, opts.level_offset, opts.drop_zero)
    if opts.episode_term:
        return episode + opts.omega * hier
    return hier


def level_group_stats(
    group_ids: Sequence[Hashable] | np.ndarray, context_hashes: Sequence[Sequence[Hashable]] | np.ndarray
) -> dict[str, float]:
    """Diagnostics for logging: mean group size and share of steps in a >1 group, per level."""
    g = factorize(np.asarray(group_ids) if np.asarray(group_ids).dtype.kind in "iub" else list(group_ids))
    if g.size == 0:
        return {}
    codes = _hash_codes(context_hashes, g.size, None)
    stats: dict[str, float] = {}
    batch = _Batch(group=g, traj=g, steps=g, rewards=np.zeros(g.size), n=g.size)
    _, size = level_advantages(batch, codes, np.zeros(g.size), "mean_norm", 1e-6)
    for k in range(codes.shape[1]):
        stats[f"level{k}/mean_group_size"] = float(size[:, k].mean())
        stats[f"level{k}/grouped_frac"] = float((size[:, k] > 1).mean())
    return stats
