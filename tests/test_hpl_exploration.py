"""HPL exploration on the toy corridor env: Monte-Carlo group rewards, pair construction, masks."""

from __future__ import annotations

import pytest

from tests.toy_env import register_toy
from trainers.hpl.exploration import Explorer, monte_carlo_values, split_continuation, state_outcome, walk_expert
from trainers.hpl.segmenters import FixedKSegmenter
from trainers.policies import OraclePolicy
from trainers.policies.base import GenerationParams
from trainers.policies.simple import ScriptedPolicy
from trainers.rollout import LiveEpisode, make_env, run_episodes
from wrappers.prompting import PromptConfig

ENV_ID = "HPLCorridor-v0"
PROMPT = PromptConfig(history_window=None)
PARAMS = GenerationParams(temperature=0.0, max_new_tokens=8)

register_toy(ENV_ID)


class StopPolicy(ScriptedPolicy):
    """Always says ``stop`` (wins only when already at the goal cell)."""

    name = "stop"

    def _choose(self, info):
        return "stop"


class FailOnRollouts(ScriptedPolicy):
    """Oracle, except that rollouts number ``fail`` (counted from its first call at the branch) stop at once.

    A rollout starts whenever the conversation holds exactly ``start_turns`` assistant messages.
    """

    name = "fail-on-rollouts"

    def __init__(self, fail, start_turns):
        super().__init__(ENV_ID)
        self.fail, self.start_turns, self.rollout = set(fail), start_turns, -1
        self._stop_now = False

    def act(self, conversations, infos=None, params=None, *, env_id=None):
        assert len(conversations) == 1  # one target: the hand computation assumes sequential rollouts
        if sum(m["role"] == "assistant" for m in conversations[0]) == self.start_turns:
            self.rollout += 1
        self._stop_now = self.rollout in self.fail
        return super().act(conversations, infos, params, env_id=env_id)

    def _choose(self, info):
        return "stop" if self._stop_now else info["expert_action"]


def _demos(tasks):
    return run_episodes(
        OraclePolicy(ENV_ID), ENV_ID, tasks, env_kwargs={"expert": True}, prompt=PROMPT, num_envs=2, progress=False
    )


def _episode():
    return LiveEpisode(make_env(ENV_ID, {"expert": True}, history_k=0), PROMPT)


def test_monte_carlo_group_reward_matches_hand_computation():
    demo = _demos(["corridor-4"])[0]
    assert [s.action for s in demo.steps] == ["go right"] * 4 + ["stop"] and demo.success
    walk = walk_expert(_episode(), demo)
    # From cell 1 the oracle needs 4 more steps. Rollouts 0 and 2 stop at once (outcome 0, 1 step each),
    # rollouts 1, 3, 4 succeed (outcome 1, 4 steps each): r = 3/5, env steps = 2 * 1 + 3 * 4.
    counters: dict[str, int] = {}
    policy = FailOnRollouts({0, 2}, start_turns=1)
    values = monte_carlo_values([(walk.episode, walk.states[1])], policy, 5, PARAMS, stats=counters)
    assert values == [pytest.approx(0.6)]
    assert counters["env_steps"] == 14
    # a finished state is worth its own outcome, without any rollout
    assert state_outcome(walk.states[-1]) == 1.0
    counters = {}
    assert monte_carlo_values([(walk.episode, walk.states[-1])], StopPolicy(ENV_ID), 5, PARAMS, counters) == [1.0]
    assert counters.get("env_steps", 0) == 0


def test_monte_carlo_batched_across_episodes():
    demos = _demos(["corridor-2", "corridor-3"])
    walks = [walk_expert(_episode(), d) for d in demos]
    counters: dict[str, int] = {}
    targets = [(w.episode, w.states[1]) for w in walks]
    assert monte_carlo_values(targets, StopPolicy(ENV_ID), 3, PARAMS, counters) == [0.0, 0.0]
    assert counters["rounds"] == 3  # 3 rollouts of 1 step each, both targets generated together
    assert monte_carlo_values(targets, OraclePolicy(ENV_ID), 2, PARAMS) == [1.0, 1.0]


def test_split_continuation_shares_prompt_and_starts_with_assistant():
    demo = _demos(["corridor-3"])[0]
    prompt, completion = split_continuation(demo, 1, 3, PROMPT)
    assert prompt[0]["role"] == "system" and prompt[-1]["role"] == "user"
    assert [m["role"] for m in completion] == ["assistant", "user", "assistant"]
    assert completion[0]["content"] == demo.steps[1].raw_output
    assert completion[1]["content"] == demo.steps[2].observation
    assert len(prompt) == 2 + 2 * 1
    with pytest.raises(ValueError):
        split_continuation(demo, 2, 2, PROMPT)


def test_explorer_levels_with_hand_checked_pairs():
    demos = _demos(["corridor-2", "corridor-3"])
    walks = [walk_expert(_episode(), d) for d in demos]
    ex = Explorer(StopPolicy(ENV_ID), PARAMS, PROMPT, mc_rollouts=2)

    traj, recs = ex.trajectory_level(walks)
    assert len(traj) == 2 and not any(r.success for r in recs)
    for pair, w in zip(traj, walks):
        assert pair["reward_chosen"] == 1.0 and pair["reward_rejected"] == 0.0
        assert sum(m["role"] == "assistant" for m in pair["chosen"]) == w.num_steps
        assert [m["role"] for m in pair["rejected"]] == ["assistant"]

    step = ex.step_level(walks)
    # IPR step values (default step_reward="mc"): the expert's step is worth pi_ref's rollouts after it. pi_ref
    # always says "stop", which wins only on the goal cell: the expert step is worth 1 only when it reaches the
    # goal (t = T - 2), and at t = T - 1 pi_ref's "stop" is the expert's own action (no pair).
    assert sorted((p["task_id"], p["start"], p["reward_chosen"], p["reward_rejected"]) for p in step) == [
        ("corridor-2", 1, 1.0, 0.0),
        ("corridor-3", 2, 1.0, 0.0),
    ]
    assert ex.stats["step"].candidates == 7 and ex.stats["step"].pairs == 2  # one per expert step
    # step_reward="outcome": the expert's realised outcome (1.0) against pi_ref's "stop": T - 1 pairs per demo
    by_outcome = Explorer(StopPolicy(ENV_ID), PARAMS, PROMPT, mc_rollouts=2, step_reward="outcome").step_level(walks)
    assert sorted((p["task_id"], p["start"]) for p in by_outcome) == [
        ("corridor-2", 0),
        ("corridor-2", 1),
        ("corridor-3", 0),
        ("corridor-3", 1),
        ("corridor-3", 2),
    ]
    with pytest.raises(ValueError, match="step_reward"):
        Explorer(StopPolicy(ENV_ID), PARAMS, PROMPT, step_reward="oracle")

    segs = [FixedKSegmenter(2).segment(w.record.raw_outputs) for w in walks]
    assert segs == [[(0, 2), (2, 3)], [(0, 2), (2, 4)]]
    group = ex.group_level(walks, segs)
    # corridor-2, (0,2): G_w reaches the goal cell, where pi_ref's "stop" wins (r=1); G_l stops at cell 0 (r=0).
    # corridor-2, (2,3): G_l = "stop" is the expert's own action: identical groups, no pair.
    # corridor-3, (0,2): G_w leaves the agent at cell 2 where "stop" fails (r=0), G_l fails (r=0): no gap.
    # corridor-3, (2,4): G_w wins (r=1), G_l = "stop" at cell 2 (r=0, one step).
    assert [(p["task_id"], p["start"], p["length"], p["reward_chosen"], p["reward_rejected"]) for p in group] == [
        ("corridor-2", 0, 2, 1.0, 0.0),
        ("corridor-3", 2, 2, 1.0, 0.0),
    ]
    assert group[1]["length_rejected"] == 1
    stats = ex.stats["group"]
    assert stats.candidates == 4 and stats.pairs == 2 and stats.env_steps > 0


def test_walk_detects_divergence():
    demo = _demos(["corridor-2"])[0]
    demo.steps[0].observation = "something else"
    with pytest.raises(RuntimeError, match="diverged"):
        walk_expert(_episode(), demo)
