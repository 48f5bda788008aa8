"""Time HGPO advantages (K = 4) on a 128 x 50 batch and on 1,000,000 steps.

Run: ``python -m benchmarks.advantages [--repeats N] [--big-steps N] [--big-strings]``.

Batches mimic training: groups of 8 rollouts, 50-step trajectories over a
small state space (so context groups form), rewards at episode ends. Context
hashes come in the two forms :func:`trainers.advantages.compute_advantages`
accepts:

* ``strings``: one list of K+1 32-character hex digests per step, as
  ``wrappers.HistoryWrapper`` produces them (factorised inside the call);
* ``codes``: an ``(n, K+1)`` int64 array of small codes, as the trainer stores
  them (``trainers.advantages.HashCoder`` codes each hash once, when the step
  is collected).

Targets (issue 7): <= 10 ms for 6,400 steps and <= 2 s for 1,000,000 steps.
Timings are wall-clock best-of-N; on a loaded machine they vary a lot, so the
CPU time of the best run is printed too.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from trainers.advantages import compute_advantages

K = 4


def _window_keys(states: np.ndarray, n_states: int) -> np.ndarray:
    """``(E*T, K+1)`` integer keys: level k identifies the last k+1 states (start-padded)."""
    e, t = states.shape
    padded = np.concatenate([np.zeros((e, K), dtype=np.int64), states.astype(np.int64) + 1], axis=1)
    keys = np.zeros((e, t, K + 1), dtype=np.int64)
    acc = np.zeros((e, t), dtype=np.int64)
    for k in range(K + 1):
        acc = acc * (n_states + 1) + padded[:, K - k : K - k + t]
        keys[:, :, k] = acc * (K + 1) + k
    return keys.reshape(e * t, K + 1)


def make_batch(n_episodes: int, steps: int, *, group_size: int = 8, n_states: int = 40, seed: int = 0, strings: bool):
    """``(group_ids, traj_ids, step_ids, rewards, context_hashes)`` for ``n_episodes`` x ``steps``."""
    rng = np.random.default_rng(seed)
    traj = np.repeat(np.arange(n_episodes), steps)
    group = traj // group_size
    step = np.tile(np.arange(steps), n_episodes)
    rewards = np.zeros(n_episodes * steps)
    rewards[steps - 1 :: steps] = rng.integers(0, 2, n_episodes)
    states = rng.integers(0, n_states, size=(n_episodes, steps))
    keys = _window_keys(states, n_states)
    codes = np.unique(keys, return_inverse=True)[1].reshape(keys.shape)  # what HashCoder yields
    if not strings:
        return group, traj, step, rewards, codes
    names = {int(c): hashlib.blake2b(str(int(c)).encode(), digest_size=16).hexdigest() for c in np.unique(codes)}
    hashes = [[names[int(c)] for c in row] for row in codes]
    return group, traj, step, rewards, hashes


def time_call(batch, repeats: int) -> tuple[float, float]:
    """Best wall time and the CPU time of that run."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        compute_advantages("hgpo", *batch, gamma=0.95, alpha=1.0)
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if w < best[0]:
            best = (w, c)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--big-steps", type=int, default=1_000_000)
    parser.add_argument(
        "--big-strings", action="store_true", help="also time 1M steps with hex-string hashes (slow to build)"
    )
    args = parser.parse_args(argv)

    for form in ("strings", "codes"):
        batch = make_batch(128, 50, strings=form == "strings")
        wall, cpu = time_call(batch, args.repeats)
        print(
            f"hgpo K=4, 128 x 50 = 6,400 steps, {form:7s}: {wall * 1e3:7.2f} ms wall (cpu {cpu * 1e3:.2f} ms), target <= 10 ms"
        )

    episodes = max(1, args.big_steps // 50)
    forms = ("codes", "strings") if args.big_strings else ("codes",)
    for form in forms:
        batch = make_batch(episodes, 50, n_states=400, seed=1, strings=form == "strings")
        wall, cpu = time_call(batch, 3)
        print(f"hgpo K=4, {episodes * 50:,} steps, {form:7s}: {wall:7.3f} s wall (cpu {cpu:.3f} s), target <= 2 s")


if __name__ == "__main__":
    main()
