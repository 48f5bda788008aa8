"""Golden and property tests of trainers.advantages (GRPO, GiGPO, HGPO).

The golden batch (gamma = 0.5):

* group "a", trajectory "t1": observations A, B; rewards 0, 1 -> returns 0.5, 1; outcome 1
* group "a", trajectory "t2": observations A, C, A, B; rewards 0, 0, 0, 0 -> returns 0; outcome 0
  (it revisits A)
* group "b", trajectory "t3": observations A, B; rewards 0, 1 (alone in its group)

Level-1 hashes are (previous observation, current observation), "^" marking the start.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from trainers.advantages import compute_advantages, discounted_returns, level_group_stats
from wrappers.history import context_hashes as history_hashes

S2 = math.sqrt(2.0)

GROUPS = ["a", "a", "a", "a", "a", "a", "b", "b"]
TRAJS = ["t1", "t1", "t2", "t2", "t2", "t2", "t3", "t3"]
STEPS = [0, 1, 0, 1, 2, 3, 0, 1]
REWARDS = [0, 1, 0, 0, 0, 0, 0, 1]
HASHES = [("A", "^A"), ("B", "AB"), ("A", "^A"), ("C", "AC"), ("A", "CA"), ("B", "AB"), ("A", "^A"), ("B", "AB")]


def adv(method, **kw):
    kw.setdefault("gamma", 0.5)
    return compute_advantages(method, GROUPS, TRAJS, STEPS, REWARDS, HASHES, **kw)


# ----------------------------------------------------------------------------- golden values
def test_returns_golden():
    codes = np.array([0, 0, 1, 1, 1, 1, 2, 2])
    np.testing.assert_allclose(discounted_returns(codes, STEPS, REWARDS, 0.5), [0.5, 1, 0, 0, 0, 0, 0.5, 1])


def test_grpo_golden():
    # each trajectory counts once: group a mean 0.5 (not the step-weighted 1/3)
    np.testing.assert_allclose(adv("grpo", mode="mean_norm"), [0.5, 0.5, -0.5, -0.5, -0.5, -0.5, 0, 0])
    z = 0.5 / (0.5 + 1e-6)
    np.testing.assert_allclose(adv("grpo"), [z, z, -z, -z, -z, -z, 0, 0], rtol=1e-12)


def test_gigpo_golden():
    expected = [0.5 + 1 / 3, 1.0, -0.5 - 1 / 6, -0.5, -0.5 - 1 / 6, -1.0, 0, 0]
    np.testing.assert_allclose(adv("gigpo", mode="mean_norm"), expected, atol=1e-12)
    expected = [1 + S2, 2, -1 - S2 / 2, -1, -1 - S2 / 2, -2, 0, 0]
    np.testing.assert_allclose(adv("gigpo"), expected, rtol=1e-5)
    # omega scales only the step term
    expected = [0.5 + 2 / 3, 1.5, -0.5 - 1 / 3, -0.5, -0.5 - 1 / 3, -1.5, 0, 0]
    np.testing.assert_allclose(adv("gigpo", mode="mean_norm", omega=2.0), expected, atol=1e-12)


def test_hgpo_golden():
    # alpha = 1: w0 = 1, w1 = 2; singleton level-1 groups are skipped
    expected = [5 / 18, 0.5, -2 / 9, 0.0, -1 / 6, -0.5, 0, 0]
    np.testing.assert_allclose(adv("hgpo", mode="mean_norm"), expected, atol=1e-12)
    expected = [(S2 + 2) / 3, 1.0, (-S2 / 2 - 2) / 3, 0.0, -S2 / 2, -1.0, 0, 0]
    np.testing.assert_allclose(adv("hgpo"), expected, rtol=1e-5)
    # reference indexing (levels from 1): w0 = 2, w1 = 3
    expected = [(2 * S2 + 3) / 5, 1.0, (-S2 - 3) / 5, 0.0, -S2 / 2, -1.0, 0, 0]
    np.testing.assert_allclose(adv("hgpo", level_offset=1), expected, rtol=1e-5)
    # episode term composition
    expected = np.array([5 / 18, 0.5, -2 / 9, 0.0, -1 / 6, -0.5, 0, 0]) + [0.5, 0.5, -0.5, -0.5, -0.5, -0.5, 0, 0]
    np.testing.assert_allclose(adv("hgpo", mode="mean_norm", episode_term=True), expected, atol=1e-12)


def test_hgpo_alpha_zero_is_uniform():
    expected = [7 / 24, 0.5, -5 / 24, 0.0, -1 / 6, -0.5, 0, 0]
    np.testing.assert_allclose(adv("hgpo", mode="mean_norm", alpha=0.0), expected, atol=1e-12)


def test_hgpo_large_alpha_concentrates_on_deepest_level():
    out = adv("hgpo", mode="mean_norm", alpha=60.0)
    assert out[0] == pytest.approx(0.25, abs=1e-9)  # level 1 of t1 s0
    assert out[2] == pytest.approx(-0.25, abs=1e-9)
    assert out[4] == pytest.approx(-1 / 6)  # only level 0 usable


def test_hgpo_drop_zero():
    # level-0 group returns [0, .5, 1]: the middle step is 0 at level 0; level-1 group [.5, 1]
    groups = ["g"] * 3
    trajs = ["x", "y", "z"]
    steps = [0, 0, 0]
    rewards = [0.0, 0.5, 1.0]
    hashes = [("S", "p"), ("S", "q"), ("S", "q")]
    kept = compute_advantages("hgpo", groups, trajs, steps, rewards, hashes, mode="mean_norm")
    dropped = compute_advantages("hgpo", groups, trajs, steps, rewards, hashes, mode="mean_norm", drop_zero=True)
    assert kept[1] == pytest.approx((1 * 0.0 + 2 * -0.25) / 3)
    assert dropped[1] == pytest.approx(-0.25)
    assert kept[0] == pytest.approx(-0.5) and dropped[0] == pytest.approx(-0.5)


def test_invalid_penalty_applies_to_that_step():
    # t2 step 1 invalid: reward -0.1 -> t2 outcome -0.1, returns [-0.05, -0.1, 0, 0]
    invalid = [False, False, False, True, False, False, False, False]
    out = adv("grpo", mode="mean_norm", invalid=invalid)
    np.testing.assert_allclose(out[:6], [0.55, 0.55, -0.55, -0.55, -0.55, -0.55])
    out = adv("gigpo", mode="mean_norm", invalid=invalid, invalid_penalty=0.2)
    # t2 returns: [-0.1, -0.2, 0, 0]; anchor A = {t1s0 .5, t2s0 -.1, t2s2 0}, mean 0.4/3
    assert out[2] == pytest.approx(-0.6 + (-0.1 - 0.4 / 3))
    assert out[3] == pytest.approx(-0.6)  # C is a singleton


# ----------------------------------------------------------------------------- properties
def random_batch(seed: int, n_groups: int = 4, n_traj: int = 5, max_len: int = 8, k: int = 3):
    """Random episodes over a small state space (so groups form), hashed like HistoryWrapper."""
    rng = np.random.default_rng(seed)
    rows = defaultdict(list)
    tid = 0
    for g in range(n_groups):
        for _ in range(n_traj):
            length = int(rng.integers(1, max_len + 1))
            obs = [f"s{int(rng.integers(0, 3))}" for _ in range(length)]
            acts = [f"a{int(rng.integers(0, 2))}" for _ in range(length - 1)]
            rew = np.zeros(length)
            if rng.random() < 0.5:
                rew[-1] = float(rng.integers(1, 3))
            for t in range(length):
                rows["group"].append(f"g{g}")
                rows["traj"].append(tid)
                rows["step"].append(t)
                rows["reward"].append(rew[t])
                rows["hash"].append(tuple(history_hashes(obs[: t + 1], acts[:t], k)[0]))
            tid += 1
    return rows


def naive(method, rows, gamma=0.95, alpha=1.0, mode="mean_std_norm", omega=1.0, eps=1e-6, episode_term=False):
    """Straightforward dictionary-based reimplementation used as an oracle."""
    n = len(rows["reward"])
    by_traj = defaultdict(list)
    for i in range(n):
        by_traj[rows["traj"][i]].append(i)
    ret = np.zeros(n)
    outcome = {}
    for t, idx in by_traj.items():
        idx.sort(key=lambda i: rows["step"][i])
        run = 0.0
        for i in reversed(idx):
            run = rows["reward"][i] + gamma * run
            ret[i] = run
        outcome[t] = sum(rows["reward"][i] for i in idx)

    def norm(values):
        values = np.asarray(values, float)
        if len(values) == 1:
            return np.zeros(1)
        c = values - values.mean()
        return c if mode == "mean_norm" else c / (values.std() + eps)

    group_trajs = defaultdict(list)
    for t, idx in by_traj.items():
        group_trajs[rows["group"][idx[0]]].append(t)
    ep = np.zeros(n)
    for ts in group_trajs.values():
        z = norm([outcome[t] for t in ts])
        for t, v in zip(ts, z):
            ep[by_traj[t]] = v
    if method == "grpo":
        return ep
    n_levels = 1 if method == "gigpo" else len(rows["hash"][0])
    per_level = np.zeros((n, n_levels))
    usable = np.zeros((n, n_levels), bool)
    for k in range(n_levels):
        groups = defaultdict(list)
        for i in range(n):
            groups[(rows["group"][i], rows["hash"][i][k])].append(i)
        for members in groups.values():
            per_level[members, k] = norm(ret[members])
            usable[members, k] = len(members) > 1
    if method == "gigpo":
        return ep + omega * per_level[:, 0]
    out = np.zeros(n)
    for i in range(n):
        w = [(k + 1) ** alpha for k in range(n_levels) if usable[i, k]]
        a = [per_level[i, k] for k in range(n_levels) if usable[i, k]]
        out[i] = float(np.dot(w, a) / sum(w)) if w else 0.0
    return ep + omega * out if episode_term else out


def call(method, rows, **kw):
    return compute_advantages(method, rows["group"], rows["traj"], rows["step"], rows["reward"], rows["hash"], **kw)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", ["grpo", "gigpo", "hgpo"])
@pytest.mark.parametrize("mode", ["mean_std_norm", "mean_norm"])
def test_matches_naive_oracle(seed, method, mode):
    rows = random_batch(seed)
    np.testing.assert_allclose(call(method, rows, mode=mode), naive(method, rows, mode=mode), atol=1e-9)


def test_matches_naive_oracle_options():
    rows = random_batch(11)
    for kw in ({"alpha": 0.0}, {"alpha": 3.0, "gamma": 0.5}, {"omega": 0.3, "episode_term": True}, {"gamma": 1.0}):
        np.testing.assert_allclose(call("hgpo", rows, **kw), naive("hgpo", rows, **kw), atol=1e-9)


@pytest.mark.parametrize("method", ["grpo", "gigpo", "hgpo"])
def test_permutation_invariance(method):
    rows = random_batch(5)
    base = call(method, rows)
    rng = np.random.default_rng(0)
    for _ in range(5):
        perm = rng.permutation(len(base))
        shuffled = {key: [vals[i] for i in perm] for key, vals in rows.items()}
        np.testing.assert_allclose(call(method, shuffled), base[perm], atol=1e-12)


def test_k0_hgpo_step_term_equals_gigpo():
    rows = random_batch(7)
    for mode in ("mean_std_norm", "mean_norm"):
        gigpo_step = call("gigpo", rows, mode=mode) - call("grpo", rows, mode=mode)
        np.testing.assert_allclose(call("hgpo", rows, mode=mode, max_k=0), gigpo_step, atol=1e-9)
        np.testing.assert_allclose(
            call("hgpo", rows, mode=mode, max_k=0, episode_term=True, omega=0.7),
            call("gigpo", rows, mode=mode, omega=0.7),
            atol=1e-9,
        )


@pytest.mark.parametrize("method", ["grpo", "gigpo", "hgpo"])
def test_equal_returns_give_zero(method):
    rows = random_batch(3)
    # every trajectory ends with reward 1: outcomes are all 1 and, with gamma = 1, every step return is 1
    ends = {}
    for t, s in zip(rows["traj"], rows["step"]):
        ends[t] = max(ends.get(t, -1), s)
    rows["reward"] = [1.0 if s == ends[t] else 0.0 for t, s in zip(rows["traj"], rows["step"])]
    for mode in ("mean_std_norm", "mean_norm"):
        assert np.all(call(method, rows, gamma=1.0, mode=mode) == 0)
    rows["reward"] = [0.0] * len(rows["reward"])
    assert np.all(call(method, rows) == 0)


@pytest.mark.parametrize("method", ["grpo", "gigpo", "hgpo"])
def test_singletons_give_zero(method):
    # every group has one trajectory, and within it every observation is new
    groups = ["g0", "g0", "g1", "g2", "g2", "g2"]
    trajs = [0, 0, 1, 2, 2, 2]
    steps = [0, 1, 0, 0, 1, 2]
    rewards = [0.0, 1.0, 1.0, 0.0, 0.5, 3.0]
    hashes = [(f"o{i}", f"h{i}") for i in range(6)]
    assert np.all(compute_advantages(method, groups, trajs, steps, rewards, hashes) == 0)


def test_revisited_state_groups_within_one_trajectory():
    # one trajectory in one group revisits S: its two visits form a level-0 group
    out = compute_advantages(
        "hgpo", ["g"] * 3, [0, 0, 0], [0, 1, 2], [0.0, 0.0, 1.0], [("S",), ("T",), ("S",)], gamma=1.0, mode="mean_norm"
    )
    np.testing.assert_allclose(out, [0.0, 0.0, 0.0])  # S visits have returns 1 and 1
    out = compute_advantages(
        "hgpo", ["g"] * 3, [0, 0, 0], [0, 1, 2], [0.0, 1.0, 0.0], [("S",), ("T",), ("S",)], gamma=1.0, mode="mean_norm"
    )
    np.testing.assert_allclose(out, [0.5, 0.0, -0.5])  # S returns 1 and 0


def test_numpy_hash_array_and_int_ids():
    rows = random_batch(2)
    codes = {h: i for i, h in enumerate(dict.fromkeys(x for r in rows["hash"] for x in r))}
    arr = np.array([[codes[x] for x in r] for r in rows["hash"]], dtype=np.int64)
    np.testing.assert_allclose(
        compute_advantages(
            "hgpo", np.array([int(g[1:]) for g in rows["group"]]), rows["traj"], rows["step"], rows["reward"], arr
        ),
        call("hgpo", rows),
        atol=1e-12,
    )


def test_discounted_returns_edge_gammas_and_long_trajectory():
    rng = np.random.default_rng(0)
    r = rng.normal(size=300)
    traj = np.zeros(300, dtype=np.int64)
    steps = np.arange(300)
    for gamma in (0.0, 0.9, 1.0):
        expected = np.zeros(300)
        run = 0.0
        for t in range(299, -1, -1):
            run = r[t] + gamma * run
            expected[t] = run
        np.testing.assert_allclose(discounted_returns(traj, steps, r, gamma), expected, rtol=1e-10, atol=1e-10)


def test_level_group_stats():
    stats = level_group_stats(GROUPS, HASHES)
    assert stats["level0/grouped_frac"] == pytest.approx(5 / 8)
    assert stats["level1/grouped_frac"] == pytest.approx(4 / 8)


def test_empty_batch():
    assert compute_advantages("hgpo", [], [], [], [], []).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "ppo"}, "method must be one of"),
        ({"mode": "zscore"}, "mode must be one of"),
        ({"beta": 1}, "unknown advantage option"),
        ({"rewards": REWARDS[:-1]}, "entries but rewards has"),
        ({"step_ids": [0, 0, 0, 1, 2, 3, 0, 1]}, "duplicate"),
        ({"group_ids": ["a", "b", "a", "a", "a", "a", "b", "b"]}, "more than one rollout group"),
        ({"context_hashes": HASHES[:-1] + [("B",)]}, "differ in length"),
        ({"context_hashes": None}, "context_hashes are required"),
        ({"rewards": [0, float("nan"), 0, 0, 0, 0, 0, 1]}, "NaN"),
        ({"gamma": 1.5}, "gamma must be"),
        ({"max_k": 5}, "max_k=5 needs"),
    ],
)
def test_errors_say_what_is_wrong(kwargs, match):
    args = {
        "method": "hgpo",
        "group_ids": GROUPS,
        "traj_ids": TRAJS,
        "step_ids": STEPS,
        "rewards": REWARDS,
        "context_hashes": HASHES,
    }
    options = {k: v for k, v in kwargs.items() if k not in args}
    args.update({k: v for k, v in kwargs.items() if k in args})
    with pytest.raises((ValueError, TypeError), match=match):
        compute_advantages(**args, **options)


def test_factorize_is_exact_under_hash_collisions():
    from trainers.advantages import factorize

    assert hash(-1) == hash(-2)  # CPython: distinct values, same hash
    codes = factorize([-1, -2, -1, "x"])
    assert codes[0] == codes[2] and len({codes[0], codes[1], codes[3]}) == 3
    # the estimator groups them apart as well
    out = compute_advantages(
        "hgpo", ["g"] * 3, [0, 1, 2], [0, 0, 0], [1.0, 0.0, 0.0], [(-1,), (-2,), (-1,)], mode="mean_norm"
    )
    np.testing.assert_allclose(out, [0.5, 0.0, -0.5])


def test_unhashable_hashes_are_reported():
    with pytest.raises(ValueError, match="hashable"):
        compute_advantages("hgpo", ["g"], [0], [0], [1.0], [([1],)])


def test_dense_codes_and_sort_order_all_paths():
    from trainers.advantages import dense_codes, sort_order

    rng = np.random.default_rng(0)
    for keys in (
        rng.integers(0, 50, 1000),  # packed value sort
        rng.integers(-(2**62), 2**62, 1000),  # negative / huge keys: argsort fallback
        np.array([7]),
        np.zeros(0, dtype=np.int64),
    ):
        order = sort_order(keys)
        assert np.all(np.diff(keys[order]) >= 0)
        codes = dense_codes(keys)
        expected = np.unique(keys, return_inverse=True)[1].reshape(-1)
        np.testing.assert_array_equal(codes, expected)
