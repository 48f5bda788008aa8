"""Corridor-Text-v0, the diagnostic env (agent_gym.diagnostic.corridor): API checks, rewards, options, branching."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agent_gym
from agent_gym.diagnostic.corridor import CorridorEnv
from wrappers import restore, snapshot

ENV_ID = "Corridor-Text-v0"


def test_registered_with_a_small_step_limit():
    assert agent_gym.ENV_IDS[ENV_ID] == "agent_gym.diagnostic.corridor:CorridorEnv"
    assert gym.registry[ENV_ID].max_episode_steps == 12
    env = gym.make(ENV_ID)
    try:
        assert isinstance(env.unwrapped, CorridorEnv)
        assert env.unwrapped.max_episode_steps == 12  # the TimeLimit's value, handed to the env
    finally:
        env.close()
    env = gym.make(ENV_ID, max_episode_steps=20)
    try:
        assert env.unwrapped.max_episode_steps == 20 and env.spec.max_episode_steps == 20
    finally:
        env.close()
    assert CorridorEnv().max_episode_steps == 12  # constructed directly: the same registered default
    assert CorridorEnv(max_episode_steps=None).max_episode_steps is None


@pytest.mark.parametrize(
    "make",
    [lambda: gym.make(ENV_ID, max_episode_steps=2), lambda: CorridorEnv(max_episode_steps=2)],
    ids=["gym.make", "raw"],
)
def test_a_step_after_truncation_raises_through_gym_make_as_on_the_raw_env(make):
    env = make()
    try:
        env.reset(options={"task_id": "corridor-4"})
        assert [env.step("go right")[3] for _ in range(2)] == [False, True]
        with pytest.raises(RuntimeError, match="the episode is over"):
            env.step("go right")
        env.reset(options={"task_id": "corridor-4"})  # a reset starts over
        assert env.step("go right")[3] is False
    finally:
        env.close()


def test_no_time_limit_through_gym_make():
    env = gym.make(ENV_ID, max_episode_steps=-1)  # Gymnasium's way to leave the TimeLimit out
    try:
        assert env.unwrapped.max_episode_steps is None
    finally:
        env.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {
            "lengths": (1, 2, 3),
            "task_type": "length-{length}",
            "invalid_feedback": "Nothing happens. You are at cell {pos}.",
        },
    ],
)
def test_check_env(kwargs):
    check_env(CorridorEnv(**kwargs), skip_render_check=True)


def test_check_env_through_gym_make():
    env = gym.make(ENV_ID)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_defaults():
    env = CorridorEnv(expert=True)
    assert env.task_ids == ["corridor-2", "corridor-3", "corridor-4"]
    assert env.max_episode_steps == 12
    obs, info = env.reset(options={"task_id": "corridor-2"})
    assert obs == "Task: reach cell 2 and stop. You are at cell 0."
    for key in agent_gym.COMMON_INFO_KEYS:
        assert key in info
    assert info["task_type"] == "corridor"
    assert info["available_actions"] == ["go right", "stop"]
    assert info["expert_action"] == "go right"


def test_known_action_sequence_rewards_and_termination():
    env = CorridorEnv(expert=True)
    env.reset(options={"task_id": "corridor-2"})
    # (action, obs, reward, terminated, truncated, action_valid, success)
    expected = [
        ("go left", "Nothing happens.", 0.0, False, False, False, False),  # invalid at cell 0
        ("jump", "Nothing happens.", 0.0, False, False, False, False),
        ("go right", "Task: reach cell 2 and stop. You are at cell 1.", 0.0, False, False, True, False),
        (" Go Right ", "Task: reach cell 2 and stop. You are at cell 2.", 0.0, False, False, True, False),
        ("go left", "Task: reach cell 2 and stop. You are at cell 1.", 0.0, False, False, True, False),
        ("go right", "Task: reach cell 2 and stop. You are at cell 2.", 0.0, False, False, True, False),
        ("stop", "You stop.", 1.0, True, False, True, True),
    ]
    for action, *want in expected:
        obs, reward, term, trunc, info = env.step(action)
        assert [obs, reward, term, trunc, info["action_valid"], info["success"]] == want, action
    assert info["available_actions"] == [] and info["expert_action"] is None
    with pytest.raises(RuntimeError, match="reset"):
        env.step("stop")


def test_stop_before_the_end_fails():
    env = CorridorEnv()
    env.reset(options={"task_id": "corridor-3"})
    env.step("go right")
    obs, reward, term, trunc, info = env.step("stop")
    assert (obs, reward, term, trunc, info["success"]) == ("You stop.", 0.0, True, False, False)


def test_expert_always_wins():
    env = CorridorEnv(lengths=(0, 1, 5), expert=True)
    for task_id in env.task_ids:
        _, info = env.reset(options={"task_id": task_id})
        steps = 0
        while True:
            _, reward, term, trunc, info = env.step(info["expert_action"])
            steps += 1
            if term or trunc:
                break
        assert info["success"] and reward == 1.0 and steps == int(task_id.split("-")[1]) + 1


def test_truncation_at_the_step_limit():
    env = gym.make(ENV_ID, max_episode_steps=3)
    try:
        env.reset(options={"task_id": "corridor-4"})
        flags = [env.step("go right")[2:4] for _ in range(3)]
        assert flags == [(False, False), (False, False), (False, True)]
    finally:
        env.close()


def test_options_of_the_hgpo_experiment():
    env = CorridorEnv(
        lengths=[3, 1, 2],
        task_type="length-{length}",
        invalid_feedback="Nothing happens. You are at cell {pos}.",
        max_episode_steps=8,
        data_dir="/ignored",
        split="ignored",
    )
    assert env.task_ids == ["corridor-1", "corridor-2", "corridor-3"] and env.max_episode_steps == 8
    _, info = env.reset(options={"task_id": "corridor-3"})
    assert info["task_type"] == "length-3"
    env.step("go right")
    obs, _, _, _, info = env.step("walk")
    assert obs == "Nothing happens. You are at cell 1." and not info["action_valid"]
    # through gym.make, as the experiment makes it
    env = gym.make(ENV_ID, lengths=[1, 2, 3], task_type="length-{length}", max_episode_steps=8)
    try:
        _, info = env.reset(options={"task_id": 0})
        assert info["task_id"] == "corridor-1" and info["task_type"] == "length-1"
        assert sum(1 for _ in range(8) if not env.step("jump")[3]) == 7  # truncated at step 8
    finally:
        env.close()


@pytest.mark.parametrize(
    "kwargs", [{"lengths": ()}, {"lengths": (-1,)}, {"task_type": "{pos}"}, {"invalid_feedback": "{cell}"}]
)
def test_bad_options_fail_at_construction(kwargs):
    with pytest.raises(ValueError):
        CorridorEnv(**kwargs)


def test_snapshot_restore():
    env = CorridorEnv()
    env.reset(options={"task_id": "corridor-4"})
    env.step("go right")
    state = env.snapshot()
    a = [env.step(act)[:4] for act in ("go right", "go right", "go left", "go right")]
    assert env.pos == 3 and env.elapsed_steps == 5
    obs, info = env.restore(state)
    assert obs == "Task: reach cell 4 and stop. You are at cell 1." and info["available_actions"][0] == "go left"
    assert env.pos == 1 and env.elapsed_steps == 1 and info == env.current_info()
    b = [env.step(act)[:4] for act in ("go right", "go right", "go left", "go right")]
    assert a == b
    # a snapshot of another task restores that task too
    env.reset(options={"task_id": "corridor-2"})
    env.restore(state)
    assert env.current_task_id == "corridor-4" and env.length == 4 and env.pos == 1


def test_snapshot_restore_through_wrappers():
    env = gym.make(ENV_ID, max_episode_steps=4)
    try:
        env.reset(options={"task_id": "corridor-4"})
        env.step("go right")
        state = snapshot(env)
        for _ in range(3):
            env.step("go right")
        obs, info = restore(env, state)
        assert "cell 1" in obs and info["elapsed_steps"] == 1
        trunc = [env.step("go right")[3] for _ in range(3)]
        assert trunc == [False, False, True]  # TimeLimit's counter followed the restore
    finally:
        env.close()
